"""Hardware profiles: auto-detection, the COURSE_PROFILE override and complete settings."""

from __future__ import annotations

import pytest
import torch

from course_utils.hardware import profiles
from course_utils.hardware.profiles import OFFLINE_MODEL_ID, PROFILES, get_profile


def test_cpu_machine_gets_the_offline_profile(monkeypatch):
    """Without CUDA the course must default to the offline cpu profile, never to a hub model."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "cpu"
    assert get_profile().model_id == OFFLINE_MODEL_ID


def fake_gpu(monkeypatch, gib: float, capability: tuple[int, int]) -> None:
    """Make torch report one CUDA GPU with `gib` GiB of memory and compute capability `capability`."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    class Props:
        total_memory = int(gib * 2**30)
        major, minor = capability

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _: Props())


@pytest.mark.parametrize("gib,expected", [(15.0, "workshop"), (8.0, "workshop"), (23.6, "24gb"), (79.0, "a100"),
                                          (4.0, "cpu")])
def test_gpu_memory_picks_the_profile(monkeypatch, gib, expected):
    """Up to 16 GiB the workshop profile, above it the largest fitting hub profile; too small a GPU falls back to cpu."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    fake_gpu(monkeypatch, gib, (8, 0))
    assert profiles.detect_profile_name() == expected


def test_environment_variable_overrides_detection(monkeypatch):
    """COURSE_PROFILE wins over detection, and an unknown name is a clear error listing the choices."""
    monkeypatch.setenv("COURSE_PROFILE", "24gb")
    assert get_profile().model_id == "mistralai/Mistral-7B-v0.1"
    monkeypatch.setenv("COURSE_PROFILE", "tpu")
    with pytest.raises(ValueError, match="cpu, workshop, t4, 24gb, a100"):
        get_profile()


def test_profiles_fix_every_setting():
    """Each profile states model, quantization, dtype, length, batch, accumulation and LoRA rank; T4 avoids bf16."""
    assert set(PROFILES) == {"cpu", "workshop", "t4", "24gb", "a100"}
    for p in PROFILES.values():
        assert p.quantization in ("nf4", "none") and p.max_seq_length > 0 and p.lora_r > 0
        assert p.batch_size * p.grad_accum == p.effective_batch_size
    assert PROFILES["t4"].compute_dtype == torch.float16
    assert PROFILES["a100"].model_id == "meta-llama/Llama-2-13b-hf"
    assert [p.name for p in PROFILES.values() if p.gated] == ["a100"]  # Llama 2 is gated, Mistral-7B-v0.1 is not


def test_t4_gets_the_workshop_profile_in_fp16(monkeypatch):
    """A 15 GiB capability-7.5 card (a T4, which emulates bf16) gets the offline model on the GPU in fp16."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    fake_gpu(monkeypatch, 15.0, (7, 5))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *_, **__: True)  # what torch reports on a T4
    profile = get_profile()
    assert (profile.name, profile.model_id, profile.compute_dtype) == ("workshop", OFFLINE_MODEL_ID, torch.float16)
    assert profile.quantization == "nf4" and not profile.gated
    cpu = PROFILES["cpu"]
    assert (profile.max_seq_length, profile.lora_r, profile.optim) == (cpu.max_seq_length, cpu.lora_r, cpu.optim)
    assert profile.batch_size > cpu.batch_size


def test_large_gpu_keeps_its_profile(monkeypatch):
    """An 80 GiB capability-9.0 card keeps the a100 profile, unchanged."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    fake_gpu(monkeypatch, 80.0, (9, 0))
    assert get_profile() == PROFILES["a100"]


def test_workshop_by_name_on_ampere_computes_in_bf16(monkeypatch):
    """Asked for by name on a capability-8.0 card, the workshop profile computes in bf16."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    fake_gpu(monkeypatch, 40.0, (8, 0))
    assert get_profile("workshop").compute_dtype == torch.bfloat16
    assert PROFILES["workshop"].compute_dtype == torch.float16  # the table itself is untouched


def test_workshop_dtype_can_be_forced_to_what_a_t4_runs(monkeypatch):
    """`CRLFT_GPU_DTYPE=fp16` on an Ampere card runs the T4's path (the GPU check uses it); a typo is an error."""
    from course_utils.hardware import profiles

    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    fake_gpu(monkeypatch, 80.0, (9, 0))
    monkeypatch.setenv(profiles.GPU_DTYPE_ENV, "fp16")
    assert get_profile("workshop").compute_dtype == torch.float16
    monkeypatch.setenv(profiles.GPU_DTYPE_ENV, "fp32")
    with pytest.raises(ValueError, match="CRLFT_GPU_DTYPE"):
        get_profile("workshop")


def test_cpu_profile_computes_in_bf16_only_where_the_cpu_declares_native_bf16(monkeypatch):
    """Protects CPUs without native bf16 (bf16 matmuls emulated, ~100x slower on an AVX2 EPYC) and keeps the choice
    the same in every process on one machine: it follows the declared CPU flags, not a timing."""
    from course_utils.hardware import profiles

    monkeypatch.setattr(profiles.torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(profiles.CPU_DTYPE_ENV, raising=False)
    monkeypatch.setattr(profiles, "cpu_flags", lambda: {"avx2", "fma"})
    assert profiles.get_profile("cpu").compute_dtype == torch.float32
    monkeypatch.setattr(profiles, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert profiles.get_profile("cpu").compute_dtype == torch.bfloat16
    monkeypatch.setattr(profiles, "cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert profiles.get_profile("cpu").compute_dtype == torch.bfloat16
    assert profiles.get_profile("cpu").padding_free


def test_cpu_dtype_can_be_forced_either_way(monkeypatch):
    """`CRLFT_CPU_DTYPE` overrides the declared flags (to reproduce another CPU's runs); a typo is an error."""
    from course_utils.hardware import profiles

    monkeypatch.setattr(profiles.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(profiles, "cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setenv(profiles.CPU_DTYPE_ENV, "fp32")
    assert profiles.get_profile("cpu").compute_dtype == torch.float32
    monkeypatch.setattr(profiles, "cpu_flags", lambda: set())
    monkeypatch.setenv(profiles.CPU_DTYPE_ENV, "BF16")
    assert profiles.get_profile("cpu").compute_dtype == torch.bfloat16
    monkeypatch.setenv(profiles.CPU_DTYPE_ENV, "fp16")
    with pytest.raises(ValueError, match="CRLFT_CPU_DTYPE"):
        profiles.get_profile("cpu")
