"""What machine a figure was measured on: the one collector behind every recorded result (experiments, sweeps,
benchmarks, `crlft doctor`), so every record names the CPU, its bf16 support and the compute dtype the same way."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from course_utils.hardware.profiles import NATIVE_BF16_FLAGS, cpu_compute_dtype, cpu_flags


def cpu_model() -> str:
    """The CPU's model name (Linux `/proc/cpuinfo`), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model, its native bf16 flags and the `cpu` profile's compute dtype, cores, threads, RAM, load, GPU and
    the library versions."""
    import psutil

    info: dict[str, Any] = {
        "platform": platform.platform(), "cpu": cpu_model(), "cpu_cores": os.cpu_count(),
        "cpu_native_bf16": sorted(cpu_flags() & set(NATIVE_BF16_FLAGS)),
        "cpu_compute_dtype": str(cpu_compute_dtype()).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        # other jobs on the machine slow every timing down: the 1-minute load average says how busy it was
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(), "torch": torch.__version__,
    }
    for lib in ("transformers", "peft", "trl", "bitsandbytes"):
        try:
            info[lib] = __import__(lib).__version__
        except ImportError:
            pass
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"], info["gpu_memory_gb"] = p.name, round(p.total_memory / 2**30, 1)
        info["gpu_compute_capability"] = f"{p.major}.{p.minor}"
    return info

