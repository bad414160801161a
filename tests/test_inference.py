"""Inference helpers: conditioned prompts, batched generation that stops on the end-of-turn token,
streaming, adapter loading vs merging, 4-bit loading and `crlft chat` (tiny random models)."""

from __future__ import annotations

import io
import sys

import pytest
import torch
from crlft_testing import tiny_model, tiny_tokenizer

from course_utils.inference import generation as inference
from course_utils.method.conditioning import EOT_TOKEN, prepare_tokenizer, resize_embeddings_mean

PROMPTS = [
    [{"role": "user", "content": "Add 2 and 3."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sort: 3, 1, 2. Reply with numbers."}],
    [{"role": "user", "content": "Hi"}],
]


@pytest.fixture(scope="module")
def prepared():
    """A prepared (conditioned template + end-of-turn token) tokenizer and a tiny model sized for it."""
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    model = tiny_model(len(tok)).eval()
    return model, tok


class _ScriptedModel(torch.nn.Module):
    """Stands in for a model: `generate` appends a fixed continuation and records its kwargs."""

    def __init__(self, continuation: list[int]):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.continuation = continuation
        self.kwargs: dict = {}

    def generate(self, input_ids, attention_mask=None, **kwargs):
        self.kwargs = kwargs
        tail = torch.tensor(self.continuation).expand(input_ids.shape[0], -1)
        return torch.cat([input_ids, tail], dim=1)


def test_condition_reaches_the_template(prepared):
    """The chosen class is written into the role prefixes; expert is the default."""
    _, tok = prepared
    msgs = PROMPTS[0]
    assert inference.render_prompt(tok, msgs).endswith("GPT4 Correct Assistant:")
    sub = inference.render_prompt(tok, msgs, condition="suboptimal")
    assert "GPT3 User: Add 2 and 3." in sub and sub.endswith("GPT3 Assistant:")
    assert inference.render_prompt(tok, msgs, condition="none").endswith(EOT_TOKEN + "Assistant:")


def test_generation_stops_at_end_of_turn_and_strips_it(prepared):
    """Answers end at <|end_of_turn|>: it is a stop id and nothing after it leaks into the text."""
    _, tok = prepared
    eot = tok.convert_tokens_to_ids(EOT_TOKEN)
    words = tok(" five", add_special_tokens=False)["input_ids"]
    junk = tok(" junk", add_special_tokens=False)["input_ids"]
    model = _ScriptedModel(words + [eot] + junk)
    side = tok.padding_side
    stats = inference.GenerationStats()
    out = inference.generate(model, tok, PROMPTS, max_new_tokens=8, stats=stats)
    assert out == ["five"] * 3
    assert eot in model.kwargs["eos_token_id"] and model.kwargs["do_sample"] is False
    assert stats.new_tokens == 3 * (len(words) + 1)
    assert tok.padding_side == side


def test_batched_generation_keeps_prompt_order(prepared):
    """Sorting by length and left padding must not reorder or change greedy answers."""
    model, tok = prepared
    one = inference.generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=1)
    batched = inference.generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=3)
    assert one == batched
    assert len(one) == 3


def test_stream_matches_batch_generation(prepared):
    """Streaming yields the same greedy text as `generate` for the same conversation."""
    model, tok = prepared
    streamed = "".join(inference.stream_generate(model, tok, PROMPTS[1], max_new_tokens=6)).strip()
    assert streamed == inference.generate(model, tok, [PROMPTS[1]], max_new_tokens=6)[0]


def test_chat_session_keeps_history(prepared):
    """A notebook chat streams to its output and records both turns; reset keeps the system prompt."""
    model, tok = prepared
    buf = io.StringIO()
    chat = inference.ChatSession(model, tok, system="Be brief.", max_new_tokens=4, out=buf)
    answer = chat.say("Hello")
    assert buf.getvalue().strip() == answer
    assert [m["role"] for m in chat.history] == ["system", "user", "assistant"]
    chat.reset()
    assert chat.history == [{"role": "system", "content": "Be brief."}]


@pytest.fixture(scope="module")
def base_and_adapter(tmp_path_factory):
    """A tiny base checkpoint (base tokenizer) and a LoRA adapter trained on top of its resized vocab."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("adapter")
    from transformers import LlamaForCausalLM

    from course_utils.hardware.shapes import shape_config

    base_tok = tiny_tokenizer()
    torch.manual_seed(1)
    # hidden 64 / intermediate 128: bitsandbytes' CPU 4-bit kernels need blocks of at least 64
    base = LlamaForCausalLM(shape_config("tiny", vocab_size=len(base_tok), max_position_embeddings=256))
    base.save_pretrained(root / "base", safe_serialization=True)
    base_tok.save_pretrained(root / "base")
    tok = tiny_tokenizer()
    prepare_tokenizer(tok)
    resize_embeddings_mean(base, tok)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, cfg)
    peft_model.save_pretrained(root / "adapter")
    tok.save_pretrained(root / "adapter")
    return str(root / "base"), str(root / "adapter")


def _logits(model, tok):
    enc = tok(inference.render_prompt(tok, PROMPTS[0]), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        return model(**enc).logits[0, -1].float()


def test_adapter_and_merged_model_agree(base_and_adapter, tmp_path):
    """Merging the adapter into fp32 weights gives the same model as base + adapter."""
    base_dir, adapter_dir = base_and_adapter
    with_adapter, tok = inference.load_for_inference(adapter_dir, model_id=base_dir, precision="fp32")
    merged, tok2 = inference.load_for_inference(
        adapter_dir, model_id=base_dir, precision="fp32", merge=True, merged_dir=tmp_path / "merged"
    )
    assert (tmp_path / "merged" / "config.json").exists()
    assert EOT_TOKEN in tok2.get_vocab()
    torch.testing.assert_close(_logits(with_adapter, tok), _logits(merged, tok2), atol=1e-4, rtol=1e-4)


def test_a_retrained_adapter_is_merged_again(base_and_adapter, tmp_path):
    """An existing merge is reused only for the very adapter weights it was made from: after retraining (here: other
    weights saved in the adapter's folder) the merged checkpoint is made again, not served stale."""
    import shutil

    from safetensors.torch import load_file, save_file

    base_dir, adapter_src = base_and_adapter
    adapter_dir = tmp_path / "adapter"
    shutil.copytree(adapter_src, adapter_dir)
    first, _ = inference.load_for_inference(adapter_dir, model_id=base_dir, precision="fp32", merge=True)
    weights = load_file(adapter_dir / "adapter_model.safetensors")
    save_file({k: v * 3 if "lora_B" in k else v for k, v in weights.items()}, adapter_dir / "adapter_model.safetensors")
    retrained, tok = inference.load_for_inference(adapter_dir, model_id=base_dir, precision="fp32")
    merged, tok2 = inference.load_for_inference(adapter_dir, model_id=base_dir, precision="fp32", merge=True)
    assert not torch.allclose(_logits(first, tok), _logits(retrained, tok), atol=1e-3)
    torch.testing.assert_close(_logits(retrained, tok), _logits(merged, tok2), atol=1e-4, rtol=1e-4)


def test_an_adapter_refuses_another_base(base_and_adapter, tmp_path):
    """An adapter whose run recorded its base is never loaded on another one (it would be an untrained model)."""
    import json
    import shutil

    base_dir, adapter_src = base_and_adapter
    adapter_dir = tmp_path / "adapter"
    shutil.copytree(adapter_src, adapter_dir)
    (adapter_dir / "crlft_run.json").write_text(json.dumps({"model_id": base_dir}))
    assert inference.base_for_adapter(adapter_dir) == base_dir
    with pytest.raises(ValueError, match="trained on"):
        inference.load_for_inference(adapter_dir, model_id="HuggingFaceTB/SmolLM2-1.7B", precision="fp32")


@pytest.mark.parametrize("precision", ["nf4", "fp4"])
def test_four_bit_adapter_loads_and_generates(base_and_adapter, precision):
    """The adapter runs on a 4-bit (NF4/FP4) base on CPU and its logits stay near full precision."""
    base_dir, adapter_dir = base_and_adapter
    q_model, tok = inference.load_for_inference(adapter_dir, model_id=base_dir, precision=precision)
    assert any("Linear4bit" in type(m).__name__ for m in q_model.modules())
    full, _ = inference.load_for_inference(adapter_dir, model_id=base_dir, precision="fp32")
    a, b = _logits(q_model, tok), _logits(full, tok)
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.9
    assert len(inference.generate(q_model, tok, PROMPTS[:2], max_new_tokens=3)) == 2


def test_chat_command_reads_stdin(base_and_adapter, monkeypatch, capsys):
    """`crlft chat` answers each stdin line and understands /condition and /quit."""
    from course_utils.course.cli import main

    base_dir, adapter_dir = base_and_adapter
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello\n/condition suboptimal\nHi again\n/quit\nnever\n"))
    rc = main(["chat", "--adapter", adapter_dir, "--model", base_dir, "--precision", "fp32", "--max-new-tokens", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "condition = suboptimal" in out
    assert len([line for line in out.splitlines() if line.strip()]) >= 2


def test_generation_benchmark_runs_on_a_random_shape():
    """benchmarks/generation_bench.py builds random 4-bit shapes without the hub and reports speed and memory."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "generation_bench.py"
    spec = importlib.util.spec_from_file_location("generation_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.bench("tiny", "cpu", ("fp32", "nf4"), (1, 2), prompt_tokens=8, new_tokens=2, progress=False)
    rows = {(r["precision"], r["batch"]): r for r in result["rows"]}
    assert set(rows) == {("fp32", 1), ("fp32", 2), ("nf4", 1), ("nf4", 2)}
    assert all(r["tokens_per_s"] > 0 for r in rows.values())
    assert rows[("nf4", 1)]["weights_mb"] < rows[("fp32", 1)]["weights_mb"]
    assert result["machine"]["cpu_cores"] and "| nf4 | 2 |" in bench.markdown(result)


def test_chat_command_condition_none_renders_the_neutral_prefix(prepared, monkeypatch, capsys):
    """Protects chatting with the SFT baselines: `crlft chat --condition none` asks with the neutral prefix
    (plain `User:`/`Assistant:`, as they were trained), through the command's own code path."""
    from course_utils.course.cli import main
    from course_utils.course.commands import chat

    model, tok = prepared
    rendered = []
    real_render = inference.render_prompt
    monkeypatch.setattr(chat, "load_for_inference", lambda *a, **k: (model, tok))
    monkeypatch.setattr(inference, "render_prompt", lambda *a, **k: rendered.append(real_render(*a, **k)) or rendered[-1])
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\n/condition suboptimal\nHi\n"))
    assert main(["chat", "--condition", "none", "--max-new-tokens", "2"]) == 0
    assert rendered[0].endswith(f"User: Hi{EOT_TOKEN}Assistant:") and "GPT" not in rendered[0]
    assert "GPT3 User: Hi" in rendered[1]
    with pytest.raises(SystemExit):
        main(["chat", "--condition", "expret"])
