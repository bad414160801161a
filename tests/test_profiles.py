"""Hardware profiles: auto-detection, the COURSE_PROFILE override and complete settings."""

from __future__ import annotations

import pytest
import torch

from course_utils import profiles
from course_utils.profiles import OFFLINE_MODEL_ID, PROFILES, get_profile


def test_cpu_machine_gets_the_offline_profile(monkeypatch):
    """Without CUDA the course must default to the offline cpu profile, never to a hub model."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "cpu"
    assert get_profile().model_id == OFFLINE_MODEL_ID


@pytest.mark.parametrize("gib,expected", [(15.0, "t4"), (23.6, "24gb"), (79.0, "a100"), (8.0, "cpu")])
def test_gpu_memory_picks_the_largest_fitting_profile(monkeypatch, gib, expected):
    """A GPU's memory decides the profile; too small a GPU falls back to cpu."""
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    class Props:
        total_memory = int(gib * 2**30)

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _: Props())
    assert profiles.detect_profile_name() == expected


def test_environment_variable_overrides_detection(monkeypatch):
    """COURSE_PROFILE wins over detection, and an unknown name is a clear error listing the choices."""
    monkeypatch.setenv("COURSE_PROFILE", "24gb")
    assert get_profile().model_id == "mistralai/Mistral-7B-v0.1"
    monkeypatch.setenv("COURSE_PROFILE", "tpu")
    with pytest.raises(ValueError, match="cpu, t4, 24gb, a100"):
        get_profile()


def test_profiles_fix_every_setting():
    """Each profile states model, quantization, dtype, length, batch, accumulation and LoRA rank; T4 avoids bf16."""
    assert set(PROFILES) == {"cpu", "t4", "24gb", "a100"}
    for p in PROFILES.values():
        assert p.quantization in ("nf4", "none") and p.max_seq_length > 0 and p.lora_r > 0
        assert p.batch_size * p.grad_accum == p.effective_batch_size
    assert PROFILES["t4"].compute_dtype == torch.float16
    assert PROFILES["a100"].model_id == "meta-llama/Llama-2-13b-hf"
