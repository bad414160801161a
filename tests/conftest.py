"""Shared fixtures: tiny random models for fast tests."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils.hardware.shapes import shape_config


@pytest.fixture
def tiny_llama_config() -> LlamaConfig:
    """A Llama config small enough to build in milliseconds, with real structure (GQA, tied embeddings)."""
    return shape_config("tiny", vocab_size=320, max_position_embeddings=128)


@pytest.fixture
def tiny_llama_dir(tmp_path, tiny_llama_config) -> str:
    """A tiny random Llama saved as safetensors in a temporary folder, with the offline model's tokenizer."""
    from course_utils.hardware.models import load_tokenizer
    from course_utils.hardware.profiles import OFFLINE_MODEL_ID

    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama_config).save_pretrained(tmp_path / "tiny", safe_serialization=True)
    load_tokenizer(OFFLINE_MODEL_ID).save_pretrained(tmp_path / "tiny")
    return str(tmp_path / "tiny")
