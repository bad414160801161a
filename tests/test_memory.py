"""The memory estimator: weights must match measured footprints within 5 % in every precision."""

from __future__ import annotations

import pytest
import torch

from course_utils.hardware.memory import count_params, estimate_memory, lora_params, measured_weight_bytes, weight_bytes
from course_utils.hardware.models import load_model_and_tokenizer
from course_utils.hardware.profiles import get_profile

PRECISIONS = ["fp32", "bf16", "nf4", "fp4"]


@pytest.fixture(scope="module")
def offline_footprints() -> dict[str, tuple[float, float]]:
    """(estimated, measured) weight bytes of the real offline model in each precision."""
    result = {}
    compute_dtype = get_profile("cpu").compute_dtype  # 4-bit models keep their other weights in it
    for precision in PRECISIONS:
        model, _ = load_model_and_tokenizer(precision=precision, profile="cpu")
        result[precision] = (weight_bytes(model.config, precision, compute_dtype), measured_weight_bytes(model))
    return result


@pytest.mark.parametrize("precision", PRECISIONS)
def test_weight_estimate_matches_the_offline_model(offline_footprints, precision):
    """Issue 2's promise: the weight estimate is within 5 % of the loaded offline model, in every precision."""
    estimated, measured = offline_footprints[precision]
    assert abs(estimated - measured) / measured < 0.05


def test_param_count_matches_a_built_model(tiny_llama_config):
    """Counting from the config agrees exactly with the parameters of a model built from it."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(tiny_llama_config)
    assert count_params(tiny_llama_config).total == sum(p.numel() for p in model.parameters())


def test_lora_count_matches_peft(tiny_llama_config):
    """LoRA parameters on all linear layers agree with what peft actually creates."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    model = get_peft_model(LlamaForCausalLM(tiny_llama_config), LoraConfig(r=8, target_modules="all-linear"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_params(tiny_llama_config, 8) == trainable


def test_seven_b_nf4_weights_are_the_known_figure(mistral_config):
    """Mistral-7B loaded in NF4 takes about 3.8 GiB (embeddings and lm_head stay in bf16)."""
    assert 3.6 < weight_bytes(mistral_config, "nf4", torch.bfloat16) / 2**30 < 4.1


def test_gradient_checkpointing_shrinks_activations(mistral_config):
    """Checkpointing keeps one tensor per layer instead of ~17: the estimate must reflect it."""
    with_ckpt = estimate_memory(mistral_config, seq_len=2048, batch=1, gradient_checkpointing=True)
    without = estimate_memory(mistral_config, seq_len=2048, batch=1, gradient_checkpointing=False)
    assert with_ckpt.activations < without.activations / 4


def test_estimate_matches_the_recorded_gpu_measurement(mistral_config):
    """The QLoRA estimate stays within 10 % of the peak VRAM measured on a GPU (benchmarks/results/train_gpu.json)."""
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).resolve().parents[1] / "benchmarks/results/train_gpu.json").read_text())
    for run in record["runs"]:
        estimate = estimate_memory(mistral_config, precision="nf4", compute_dtype=torch.bfloat16,
                                   lora_rank=record["lora_r"], seq_len=record["seq_len"], batch=record["batch"],
                                   gradient_checkpointing=True, optimizer="paged_adamw_8bit")
        assert abs(estimate.total / 2**30 - run["peak_gib"]) / run["peak_gib"] < 0.10, run


@pytest.fixture
def mistral_config():
    """Mistral-7B-v0.1's architecture (random weights are never needed)."""
    from course_utils.hardware.shapes import shape_config

    return shape_config("mistral-7b")


def test_a_card_without_bf16_is_not_offered_bf16_profiles():
    """Protects T4 users: the 24gb and a100 profiles compute in bf16, which a T4 lacks, so they never 'fit' it."""
    from course_utils.hardware.memory import profiles_that_fit

    on_t4 = profiles_that_fit(15, bf16=False)
    assert "workshop" in on_t4 and "24gb" not in on_t4 and "a100" not in on_t4
    assert "24gb" in profiles_that_fit(24)
