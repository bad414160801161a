"""Hardware profiles: one place that fixes the model and training settings for each kind of machine.

A profile is chosen automatically from the hardware and can be overridden with the environment variable
`COURSE_PROFILE`: no CUDA -> `cpu`; a GPU of up to 16 GiB (a free Colab T4) -> `workshop`, the offline model on the
GPU, so a lesson runs in minutes with no download; a larger GPU -> the largest hub profile that fits its memory.
The `t4` profile (a 1.7B hub model) stays available by name for the full-size experience on a T4.

`workshop` computes in bf16 on Ampere or newer (compute capability >= 8) and in fp16 on older GPUs (the T4 is
7.5): `get_profile` picks the dtype for the GPU it runs on."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

OFFLINE_MODEL_ID = "offline/SmolLM2-135M-Instruct"
PROFILE_ENV = "COURSE_PROFILE"
WORKSHOP_MAX_GB = 16.0  # GPUs up to this memory (GiB) get the workshop profile


@dataclass(frozen=True)
class HardwareProfile:
    """Model, quantization and training settings that fit one kind of hardware."""

    name: str
    description: str
    model_id: str
    min_memory_gb: float  # GPU memory (RAM for `cpu`) the profile needs
    quantization: str  # "nf4" (QLoRA) or "none"
    compute_dtype: torch.dtype
    max_seq_length: int
    batch_size: int
    grad_accum: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float = 0.05
    learning_rate: float = 2e-4
    gradient_checkpointing: bool = True
    optim: str = "paged_adamw_8bit"
    padding_free: bool = True  # batches without padding (one row per step, attention kept inside each conversation)
    gated: bool = False  # the model's licence must be accepted on the hub (and a token used) before download
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def effective_batch_size(self) -> int:
        """Sequences per optimiser step on one device."""
        return self.batch_size * self.grad_accum

    @property
    def is_offline_model(self) -> bool:
        """True when the profile's model ships with the course (no hub needed)."""
        return self.model_id == OFFLINE_MODEL_ID


#: The offline model on a CPU: the settings every lesson and the experiments train with.
CPU_PROFILE = HardwareProfile(
    name="cpu",
    description="Laptop or CI CPU, no GPU; the offline default (no internet needed)",
    model_id=OFFLINE_MODEL_ID,
    min_memory_gb=4,
    quantization="nf4",
    compute_dtype=torch.float32,  # bf16 where the CPU declares native bf16: see `cpu_compute_dtype`
    max_seq_length=256,
    batch_size=8,
    grad_accum=1,
    lora_r=16,
    lora_alpha=32,
    lora_dropout=0.0,  # dropout would copy every LoRA input on every step (measured: benchmarks/cpu_speed.py)
    learning_rate=2e-3,  # chosen on the validation prompts (results/validation/), for C-RLFT and every baseline
    gradient_checkpointing=False,
    optim="adamw_torch",
    notes=("bitsandbytes >= 0.50 runs NF4 on CPU",
           "fp32 compute, or bf16 where the CPU declares native bf16 (AVX512-BF16 or AMX; "
           "`cpu_compute_dtype`, overridden by $CRLFT_CPU_DTYPE)"),
)

PROFILES: dict[str, HardwareProfile] = {
    p.name: p
    for p in (
        CPU_PROFILE,
        replace(  # derived, not copied: a change to the cpu profile's training settings reaches the workshop too
            CPU_PROFILE,
            name="workshop",
            description="Any CUDA GPU up to 16 GB (free Colab T4): the offline model in QLoRA on the GPU, no download",
            min_memory_gb=7,  # memory.estimate_for_profile: about 5.5 GiB (activations of batch 16, no checkpointing)
            compute_dtype=torch.float16,  # bf16 on compute capability >= 8: see `get_profile`
            batch_size=16,
            notes=("the cpu profile's settings with a GPU-sized batch",
                   "fp16 compute below compute capability 8 (T4), bf16 from Ampere on"),
        ),
        HardwareProfile(
            name="t4",
            description="Free Colab T4 (16 GB, no bf16): a 1.7B base model in QLoRA, fp16 compute",
            model_id="HuggingFaceTB/SmolLM2-1.7B",
            min_memory_gb=14,
            quantization="nf4",
            compute_dtype=torch.float16,
            max_seq_length=1024,
            batch_size=4,
            grad_accum=4,
            lora_r=16,
            lora_alpha=32,
            notes=("T4 (compute capability 7.5) has no bf16: fp16 compute",),
        ),
        HardwareProfile(
            name="24gb",
            description="24 GB consumer GPU (RTX 3090/4090): Mistral-7B-v0.1, the base of openchat_3.5",
            model_id="mistralai/Mistral-7B-v0.1",
            min_memory_gb=22,
            quantization="nf4",
            compute_dtype=torch.bfloat16,
            max_seq_length=2048,
            batch_size=2,
            grad_accum=8,
            lora_r=64,
            lora_alpha=16,
            learning_rate=1e-4,
        ),
        HardwareProfile(
            name="a100",
            description="A100/H100 (40-80 GB): Llama-2-13B, the paper's base model",
            model_id="meta-llama/Llama-2-13b-hf",
            min_memory_gb=38,
            quantization="nf4",
            compute_dtype=torch.bfloat16,
            max_seq_length=4096,
            batch_size=2,
            grad_accum=16,
            lora_r=64,
            lora_alpha=16,
            learning_rate=1e-4,
            gated=True,
        ),
    )
}


def detect_profile_name() -> str:
    """Pick a profile from the hardware: `cpu` without CUDA (or on a GPU too small even for `workshop`),
    `workshop` on a GPU of up to `WORKSHOP_MAX_GB`, else the largest hub profile that fits the first GPU's memory."""
    if not torch.cuda.is_available():
        return "cpu"
    total_gb = torch.cuda.get_device_properties(0).total_memory / 2**30
    if total_gb <= WORKSHOP_MAX_GB:
        return "workshop" if total_gb >= PROFILES["workshop"].min_memory_gb else "cpu"
    fitting = [p for p in PROFILES.values() if not p.is_offline_model and p.min_memory_gb <= total_gb]
    return max(fitting, key=lambda p: p.min_memory_gb).name


CPU_DTYPE_ENV = "CRLFT_CPU_DTYPE"  # "bf16" or "fp32": overrides what the CPU declares
CPU_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU flags of native bf16 matrix instructions


def cpu_flags() -> set[str]:
    """The instruction-set flags this CPU declares (Linux `/proc/cpuinfo`; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _forced_dtype(variable: str, choices: dict[str, torch.dtype]) -> torch.dtype | None:
    """The dtype an environment variable forces (case-insensitive), None when unset; a name outside `choices` is an
    error naming the variable."""
    forced = os.environ.get(variable, "").strip().lower()
    if forced and forced not in choices:
        raise ValueError(f"{variable}={forced!r}: choose one of {', '.join(choices)}")
    return choices[forced] if forced else None


def cpu_compute_dtype() -> torch.dtype:
    """The `cpu` profile's compute dtype: `$CRLFT_CPU_DTYPE` ("bf16" or "fp32") when set, else bf16 where the CPU
    declares native bf16 instructions (AVX512-BF16 or AMX-BF16: an Intel Xeon of 2020 or later), else fp32. Without
    them bf16 is emulated and far slower (about 1 GFLOP/s against 130 in fp32 on a 2-core AMD EPYC). Decided from
    the declared flags, never by timing, so every process on one machine makes the same choice."""
    forced = _forced_dtype(CPU_DTYPE_ENV, CPU_DTYPES)
    if forced is not None:
        return forced
    return torch.bfloat16 if cpu_flags() & set(NATIVE_BF16_FLAGS) else torch.float32


GPU_DTYPE_ENV = "CRLFT_GPU_DTYPE"  # "fp16" or "bf16": the `workshop` profile's compute dtype on this GPU, forced
GPU_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def gpu_compute_dtype() -> torch.dtype:
    """The `workshop` profile's compute dtype on this GPU: `$CRLFT_GPU_DTYPE` when set (fp16 on an Ampere GPU runs
    what a T4 runs), else bf16 from compute capability 8 (Ampere) on, fp16 below (the T4 is 7.5)."""
    forced = _forced_dtype(GPU_DTYPE_ENV, GPU_DTYPES)
    if forced is not None:
        return forced
    return torch.bfloat16 if torch.cuda.get_device_properties(0).major >= 8 else torch.float16


def _for_this_machine(profile: HardwareProfile) -> HardwareProfile:
    """The profile with this machine's compute dtype: `workshop` in `gpu_compute_dtype()` (the compute capability
    decides, not `torch.cuda.is_bf16_supported()`, which reports True on a T4 with emulated bf16); `cpu` in
    `cpu_compute_dtype()`; other profiles as they are."""
    if profile.name == "workshop" and torch.cuda.is_available():
        return replace(profile, compute_dtype=gpu_compute_dtype())
    if profile.name == "cpu":
        return replace(profile, compute_dtype=cpu_compute_dtype())
    return profile


def get_profile(name: str | None = None) -> HardwareProfile:
    """The profile called `name`, else `$COURSE_PROFILE`, else the auto-detected one."""
    chosen = name or os.environ.get(PROFILE_ENV) or detect_profile_name()
    try:
        return _for_this_machine(PROFILES[chosen])
    except KeyError:
        raise ValueError(
            f"Unknown profile {chosen!r} (from {'argument' if name else PROFILE_ENV}); "
            f"choose one of: {', '.join(PROFILES)}"
        ) from None
