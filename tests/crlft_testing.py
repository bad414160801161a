"""Shared fixtures for the trainer tests: a tiny random Llama and small labeled datasets (no hub access)."""

from __future__ import annotations

import functools

import torch
from datasets import Dataset
from transformers import LlamaForCausalLM

from course_utils.hardware.shapes import shape_config


@functools.lru_cache(maxsize=1)
def _base_tokenizer():
    from course_utils.hardware.models import load_tokenizer

    return load_tokenizer("offline/SmolLM2-135M-Instruct")


def tiny_tokenizer():
    """A fresh copy of the offline SmolLM2 tokenizer (local files only)."""
    import copy

    return copy.deepcopy(_base_tokenizer())


def tiny_model(vocab_size: int, seed: int = 0, tied: bool = True) -> LlamaForCausalLM:
    """The tiny shape narrowed to hidden size 32, random weights, fp32, sdpa attention; `tied=False` gives it its own LM head
    (as Mistral-7B and Llama-2 have)."""
    torch.manual_seed(seed)
    config = shape_config("tiny", vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                          max_position_embeddings=256, tie_word_embeddings=tied)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config)


def labeled_dataset(n: int = 8) -> Dataset:
    """`n` short conversations alternating expert/sub-optimal, varied lengths, one with a system prompt."""
    rows = []
    for i in range(n):
        expert = i % 2 == 0
        msgs = []
        if i % 3 == 0:
            msgs.append({"role": "system", "content": "You are terse."})
        msgs.append({"role": "user", "content": f"Add {i} and {i + 3}." + " please" * (i % 4)})
        msgs.append({"role": "assistant", "content": f"{2 * i + 3}" if expert else f"The sum is {2 * i + 4}, I think."})
        if i % 4 == 1:
            msgs.append({"role": "user", "content": "Sure?"})
            msgs.append({"role": "assistant", "content": "Yes."})
        rows.append({"id": f"c{i}", "messages": msgs, "condition": "expert" if expert else "suboptimal",
                     "weight": 1.0 if expert else 0.1})
    return Dataset.from_list(rows)
