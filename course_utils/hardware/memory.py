"""Estimate the memory a model needs to load and to fine-tune, before downloading anything.

Three parts, each in bytes: the frozen base weights (fp32 / bf16 / fp16 / 4-bit), the LoRA adapter with its
gradients and optimiser state, and the activations of one micro-batch. The weight estimate is exact up to
small buffers (checked against loaded models in the tests); the activation estimate is a rule of thumb for
decoder-only transformers (Korthikanti et al. 2022), checked on a GPU by `benchmarks/`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PretrainedConfig, PreTrainedModel

from course_utils.hardware.shapes import MODEL_SHAPES, shape_config

BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
_FOUR_BIT = ("nf4", "fp4")
_BLOCK, _BLOCK2 = 64, 256  # bitsandbytes 4-bit blocksize; second-level blocksize of double quantization
OPTIMIZER_BYTES = {"adamw_torch": 8.0, "adamw_8bit": 2.0, "paged_adamw_8bit": 2.0, "sgd": 0.0}
GiB = 2**30


@dataclass(frozen=True)
class ParamCounts:
    """Parameters of a decoder-only model, split by how 4-bit loading treats them."""

    linear: int  # projections inside the transformer blocks (quantized in 4-bit)
    other: int  # embeddings, norms, an untied lm_head (kept in the compute dtype)
    lora_targets: tuple[tuple[int, int, int], ...]  # (in_features, out_features, count) of each linear kind

    @property
    def total(self) -> int:
        """All parameters."""
        return self.linear + self.other


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated bytes for weights, LoRA + optimiser, and activations."""

    weights: float
    lora_and_optimizer: float
    activations: float

    @property
    def total(self) -> float:
        """Sum of the three parts."""
        return self.weights + self.lora_and_optimizer + self.activations

    def as_gib(self) -> dict[str, float]:
        """The parts and total in GiB, rounded to 0.01, for tables."""
        parts = {"weights": self.weights, "lora+optimizer": self.lora_and_optimizer,
                 "activations": self.activations, "total": self.total}
        return {k: round(v / GiB, 2) for k, v in parts.items()}


def count_params(config: PretrainedConfig) -> ParamCounts:
    """Count a Llama/Mistral-style model's parameters from its config alone."""
    h, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    kv = getattr(config, "num_key_value_heads", None) or heads
    q_out, kv_out = heads * head_dim, kv * head_dim
    targets = ((h, q_out, layers), (h, kv_out, 2 * layers), (q_out, h, layers), (h, inter, 2 * layers),
               (inter, h, layers))
    linear = sum(i * o * n for i, o, n in targets)
    embed = config.vocab_size * h
    lm_head = 0 if getattr(config, "tie_word_embeddings", False) else embed
    norms = (2 * layers + 1) * h
    return ParamCounts(linear=linear, other=embed + lm_head + norms, lora_targets=targets)


def weight_bytes(config: PretrainedConfig, precision: str, compute_dtype: torch.dtype = torch.float32,
                 double_quant: bool = True) -> float:
    """Bytes of the loaded base weights in `precision` ("fp32", "bf16", "fp16", "nf4", "fp4")."""
    counts = count_params(config)
    if precision in BYTES_PER_PARAM:
        return counts.total * BYTES_PER_PARAM[precision]
    if precision not in _FOUR_BIT:
        raise ValueError(f"unknown precision {precision!r}")
    blocks = counts.linear / _BLOCK
    scales = blocks * 1 + blocks / _BLOCK2 * 4 if double_quant else blocks * 4  # absmax per block
    other_bytes = counts.other * torch.finfo(compute_dtype).bits / 8
    return counts.linear * 0.5 + scales + other_bytes


def lora_params(config: PretrainedConfig, rank: int) -> int:
    """Trainable parameters of LoRA rank `rank` on every linear layer of the blocks."""
    return sum(rank * (i + o) * n for i, o, n in count_params(config).lora_targets)


def activation_bytes(config: PretrainedConfig, seq_len: int, batch: int, compute_dtype: torch.dtype,
                     gradient_checkpointing: bool) -> float:
    """Activations kept for the backward pass of one micro-batch, plus fp32 logits for the loss.

    Per layer, s*b*h*34 bytes at 16 bits (flash/SDPA attention: no s^2 term); with gradient checkpointing only
    each layer's input is kept, plus one layer recomputed at a time."""
    h, layers = config.hidden_size, config.num_hidden_layers
    scale = torch.finfo(compute_dtype).bits / 16
    tokens = seq_len * batch
    per_layer = tokens * h * 34 * scale
    kept = tokens * h * 2 * scale * layers + per_layer if gradient_checkpointing else per_layer * layers
    # logits in the compute dtype, their fp32 upcast, log-softmax and the fp32 gradient: about 16 bytes each
    logits = tokens * config.vocab_size * 16
    return kept + logits


def estimate_memory(config: PretrainedConfig, *, precision: str = "nf4", compute_dtype: torch.dtype = torch.bfloat16,
                    lora_rank: int = 16, seq_len: int = 2048, batch: int = 1, gradient_checkpointing: bool = True,
                    optimizer: str = "paged_adamw_8bit", double_quant: bool = True) -> MemoryEstimate:
    """Estimate weights, LoRA (fp32 weights + grads) with optimiser state, and activations for QLoRA/LoRA training.

    For 4-bit training the weights include the fp32 upcast of embeddings, norms and lm_head that peft applies."""
    trainable = lora_params(config, lora_rank) if lora_rank else 0
    weights = weight_bytes(config, precision, compute_dtype, double_quant)
    if precision in _FOUR_BIT:  # peft's prepare_model_for_kbit_training upcasts the unquantized weights to fp32
        weights += count_params(config).other * (4 - torch.finfo(compute_dtype).bits / 8)
    return MemoryEstimate(
        weights=weights,
        lora_and_optimizer=trainable * (4 + 4 + OPTIMIZER_BYTES[optimizer]),
        activations=activation_bytes(config, seq_len, batch, compute_dtype, gradient_checkpointing) if seq_len else 0,
    )


def measured_weight_bytes(model: PreTrainedModel) -> int:
    """What a loaded model's weights really occupy: parameters, buffers and 4-bit quantization states."""
    total = model.get_memory_footprint()
    for module in model.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is None:
            continue
        total += state.absmax.numel() * state.absmax.element_size() + state.code.numel() * state.code.element_size()
        if state.nested:
            total += sum(t.numel() * t.element_size() for t in (state.state2.absmax, state.state2.code))
    return total


def model_config(model_id: str) -> PretrainedConfig:
    """The architecture config of `model_id`: from the offline cache, or the published shape of a profile model."""
    from transformers import AutoConfig

    from course_utils.hardware.models import resolve_model_path

    if model_id in MODEL_SHAPES:
        return shape_config(MODEL_SHAPES[model_id])
    return AutoConfig.from_pretrained(resolve_model_path(model_id))


def estimate_for_profile(profile) -> MemoryEstimate:  # profile: course_utils.hardware.profiles.HardwareProfile
    """QLoRA training memory of a profile's model with the profile's own settings, on one device."""
    return estimate_memory(model_config(profile.model_id), precision=profile.quantization if profile.quantization
                           != "none" else "bf16", compute_dtype=profile.compute_dtype, lora_rank=profile.lora_r,
                           seq_len=profile.max_seq_length, batch=profile.batch_size,
                           gradient_checkpointing=profile.gradient_checkpointing, optimizer=profile.optim)


def profiles_that_fit(memory_gib: float, headroom: float = 0.9, bf16: bool = True) -> list[str]:
    """GPU profiles whose estimated training memory fits in `memory_gib` of GPU memory (keeping 10 % headroom).

    `bf16=False` (a T4, compute capability < 8) leaves out the profiles that compute in bf16 (`24gb`, `a100`),
    whatever their memory; `workshop` switches to fp16 there by itself."""
    from course_utils.hardware.profiles import PROFILES

    return [p.name for p in PROFILES.values()
            if p.name != "cpu" and (bf16 or p.compute_dtype != torch.bfloat16)
            and estimate_for_profile(p).total <= memory_gib * GiB * headroom]
