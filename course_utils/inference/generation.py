"""Serving a C-RLFT model: load it in 4 bits (NF4 or FP4) with its LoRA adapter, or merge the adapter
into a full-precision copy and re-quantize it; batched greedy generation under a chosen condition
(expert by default, any class selectable) that stops on the end-of-turn token; streaming output for
`crlft chat` and for a chat cell in a notebook.

A prompt is a list of chat messages without the final assistant answer (the `messages` of the shipped
`eval.jsonl`). The condition (a :class:`~course_utils.data.conditions.Condition`) is passed to the tokenizer's chat
template as `condition=...`; a tokenizer without the conditioned template (the base model's own) ignores it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoTokenizer

from course_utils.method.conditioning import EOT_TOKEN, ensure_pad_token, prepare_for_crlft
from course_utils.data.conditions import Condition, parse_condition
from course_utils.hardware.models import (
    PRECISIONS as MODEL_PRECISIONS,
    SMALL_CHECKPOINT_BYTES,
    load_model_and_tokenizer,
    quiet_progress,
)
from course_utils.patches.token_rows import use_row_sparse_trainable_tokens
from course_utils.training.run import RUN_FILE

MERGE_RECORD = "merged_from.json"  # which adapter weights and base a merged checkpoint was made from

PRECISIONS = tuple(MODEL_PRECISIONS)  # the names `load_model_and_tokenizer` knows

Messages = list[dict[str, str]]


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
def _adapter_tokenizer(adapter_dir: str | Path):
    """The tokenizer saved beside an adapter (it carries the conditioned template and end-of-turn token)."""
    return AutoTokenizer.from_pretrained(str(adapter_dir))


def trained_base(adapter_dir: str | Path) -> str | None:
    """The base model an adapter was trained on, as its training run recorded it (``crlft_run.json``); None for an
    adapter that the course's training did not write."""
    record = Path(adapter_dir) / RUN_FILE
    return json.loads(record.read_text()).get("model_id") if record.exists() else None


def base_for_adapter(adapter_dir: str | Path, model_id: str | None = None) -> str | None:
    """The base to load under an adapter: the one it was trained on. A different `model_id` is an error (an adapter
    on another base is a different, untrained model); without a record, `model_id` (None: the profile's model)."""
    recorded = trained_base(adapter_dir)
    if recorded is not None and model_id is not None and model_id != recorded:
        raise ValueError(f"{adapter_dir}: the adapter was trained on {recorded!r} ({RUN_FILE}), not on {model_id!r}; "
                         "leave the base model out to use the one it was trained on")
    return recorded or model_id


def load_for_inference(
    adapter_dir: str | Path | None = None,
    model_id: str | None = None,
    precision: str = "nf4",
    merge: bool = False,
    double_quant: bool = True,
    merged_dir: str | Path | None = None,
    compute_dtype: torch.dtype | None = None,
):
    """Load a model ready for `generate`, returning (model, tokenizer).

    - no adapter: the base model (`model_id`, default the profile's model) at `precision`;
    - an adapter is always loaded on the base it was trained on (recorded in its ``crlft_run.json``,
      :func:`base_for_adapter`), whatever profile this machine would pick;
    - adapter, `merge=False`: the base at `precision` (4-bit: NF4/FP4, double quantization optional)
      with the LoRA adapter on top, computed in full precision beside the quantized weights;
    - adapter, `merge=True`: the base in fp32, the adapter merged into its weights, saved to
      `merged_dir` (default `<adapter_dir>/merged`), then re-loaded at `precision`. This is what you
      serve: one plain checkpoint, no adapter overhead.

    The base gets the same C-RLFT preparation as in training (:func:`course_utils.method.conditioning.prepare_for_crlft`),
    so the adapter fits it and generation stops on the end-of-turn token.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if adapter_dir is None:
        model, tokenizer = load_model_and_tokenizer(
            model_id, precision=precision, double_quant=double_quant, compute_dtype=compute_dtype
        )
        model.eval()
        return model, tokenizer

    adapter_dir = Path(adapter_dir)
    model_id = base_for_adapter(adapter_dir, model_id)
    tokenizer = _adapter_tokenizer(adapter_dir)
    if merge:
        merged = Path(merged_dir) if merged_dir else adapter_dir / "merged"
        merge_adapter(adapter_dir, merged, model_id=model_id)
        model, _ = load_model_and_tokenizer(
            str(merged), precision=precision, double_quant=double_quant, compute_dtype=compute_dtype
        )
        model.eval()
        return model, tokenizer

    base, _ = load_model_and_tokenizer(
        model_id, precision=precision, double_quant=double_quant, compute_dtype=compute_dtype
    )
    prepare_for_crlft(base, tokenizer)
    model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
    use_row_sparse_trainable_tokens(model)  # the same outputs without copying the embedding matrix per token
    model.eval()
    return model, tokenizer


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, model_id: str | None = None) -> Path:
    """Merge a LoRA adapter into an fp32 copy of the base model and save it (safetensors + tokenizer).

    Merging into a 4-bit base would round the LoRA update into the 4-bit grid; merging in full
    precision and re-quantizing the result quantizes base and update together, once. An existing merge in
    `out_dir` is reused only if it was made from these very adapter weights on this base (``merged_from.json``);
    otherwise (the adapter was retrained, say) it is made again."""
    out = Path(out_dir)
    model_id = base_for_adapter(adapter_dir, model_id)
    with open(Path(adapter_dir) / "adapter_model.safetensors", "rb") as weights:
        source = {"adapter_sha1": hashlib.file_digest(weights, "sha1").hexdigest(), "model_id": model_id}
    marker = out / MERGE_RECORD
    if marker.exists() and json.loads(marker.read_text()) == source and any(out.glob("*.safetensors")):
        return out
    shutil.rmtree(out, ignore_errors=True)
    tokenizer = _adapter_tokenizer(adapter_dir)
    base, _ = load_model_and_tokenizer(model_id, precision="fp32")
    prepare_for_crlft(base, tokenizer)
    model = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    with quiet_progress(model.get_memory_footprint() < SMALL_CHECKPOINT_BYTES):
        model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    marker.write_text(json.dumps(source, indent=2))
    return out


# --------------------------------------------------------------------------------------------------
# Prompts and generation
# --------------------------------------------------------------------------------------------------
def stop_token_ids(tokenizer) -> list[int]:
    """Token ids that end a turn: `<|end_of_turn|>` when the tokenizer has it, and its eos token."""
    ids: list[int] = []
    vocab = tokenizer.get_vocab()
    if EOT_TOKEN in vocab:
        ids.append(vocab[EOT_TOKEN])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def render_prompt(tokenizer, messages: Messages, condition: Condition | str = Condition.EXPERT) -> str:
    """The prompt text for `messages` under `condition` (expert, suboptimal or neutral), ending with the
    assistant's generation prefix."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                         condition=parse_condition(condition).value)


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def _clean(text: str) -> str:
    return text.split(EOT_TOKEN)[0].strip()


@dataclass
class GenerationStats:
    """What a `generate` call cost: prompts, new tokens produced and wall time."""

    prompts: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    per_prompt_tokens: list[int] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


@torch.inference_mode()
def generate(
    model,
    tokenizer,
    prompts: Sequence[Messages],
    condition: Condition | str = Condition.EXPERT,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    do_sample: bool = False,
    temperature: float = 0.7,
    progress: bool = False,
    stats: GenerationStats | None = None,
) -> list[str]:
    """Answer each prompt (a message list) and return the answers in order.

    Greedy by default; prompts are sorted by length and left-padded in batches of `batch_size`;
    each answer stops at the end-of-turn token (or eos) and is returned without it.
    """
    texts = [render_prompt(tokenizer, m, condition) for m in prompts]
    ensure_pad_token(tokenizer)
    old_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    eos = stop_token_ids(tokenizer)
    device = _model_device(model)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers: list[str] = [""] * len(texts)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"generate ({condition})", leave=False)
    start = time.perf_counter()
    try:
        for idx in batches:
            enc = tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            gen_kwargs = dict(
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
            if do_sample:
                gen_kwargs["temperature"] = temperature
            else:
                gen_kwargs.update(temperature=None, top_p=None, top_k=None)
            out = model.generate(**enc, **gen_kwargs)
            new = out[:, enc["input_ids"].shape[1] :]
            for row, i in zip(new, idx):
                n = _count_new_tokens(row.tolist(), eos, tokenizer.pad_token_id)
                answers[i] = _clean(tokenizer.decode(row[:n], skip_special_tokens=True))
                if stats is not None:
                    stats.per_prompt_tokens.append(n)
                    stats.new_tokens += n
    finally:
        tokenizer.padding_side = old_side
    if stats is not None:
        stats.prompts += len(texts)
        stats.seconds += time.perf_counter() - start
    return answers


def _count_new_tokens(ids: list[int], eos: list[int], pad: int | None) -> int:
    """Tokens generated up to and including the first stop token (padding after it not counted)."""
    for n, t in enumerate(ids):
        if t in eos:
            return n + 1
    return len(ids)


def stream_generate(
    model,
    tokenizer,
    messages: Messages,
    condition: Condition | str = Condition.EXPERT,
    max_new_tokens: int = 128,
    do_sample: bool = False,
    temperature: float = 0.7,
) -> Iterator[str]:
    """Yield the answer to one conversation piece by piece as it is generated (greedy by default)."""
    from transformers import TextIteratorStreamer

    text = render_prompt(tokenizer, messages, condition)
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(_model_device(model))
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    gen_kwargs = dict(
        **enc,
        streamer=streamer,
        max_new_tokens=max_new_tokens,
        do_sample=do_sample,
        eos_token_id=stop_token_ids(tokenizer),
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    if do_sample:
        gen_kwargs["temperature"] = temperature
    else:
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(**gen_kwargs)
        except BaseException as exc:  # surfaced in the caller's thread below
            errors.append(exc)
            streamer.on_finalized_text("", stream_end=True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for piece in streamer:
        if EOT_TOKEN in piece:
            piece = piece.split(EOT_TOKEN)[0]
        if piece:
            yield piece
    thread.join()
    if errors:
        raise errors[0]


class ChatSession:
    """A conversation with a model: keeps the history, streams each answer to `out` (stdout by default).

    In a notebook: `chat = ChatSession(model, tok)`, then `chat.say("...")` in a cell of its own;
    `chat.condition = "suboptimal"` switches the condition, `chat.reset()` starts over.
    """

    def __init__(
        self,
        model,
        tokenizer,
        condition: Condition | str = Condition.EXPERT,
        system: str | None = None,
        max_new_tokens: int = 128,
        out=None,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.condition, self.system, self.max_new_tokens = condition, system, max_new_tokens
        self.out = out
        self.history: Messages = []
        self.reset()

    def reset(self) -> None:
        """Forget the conversation (keeps the system prompt)."""
        self.history = [{"role": "system", "content": self.system}] if self.system else []

    def say(self, text: str) -> str:
        """Send one user message, stream the answer as it comes, and return it."""
        out = self.out if self.out is not None else sys.stdout
        self.history.append({"role": "user", "content": text})
        parts: list[str] = []
        for piece in stream_generate(
            self.model, self.tokenizer, self.history, self.condition, self.max_new_tokens
        ):
            parts.append(piece)
            out.write(piece)
            out.flush()
        out.write("\n")
        answer = "".join(parts).strip()
        self.history.append({"role": "assistant", "content": answer})
        return answer
