"""What the package silences on import, and only that."""

from __future__ import annotations

import subprocess
import sys


def _stderr(code: str) -> str:
    """What a fresh Python process running `code` writes to stderr."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr


def test_bitsandbytes_kernels_notice_is_dropped_at_its_logger():
    """bitsandbytes' 'kernels-community' warning (AVX512-BF16 CPUs only) never reaches a lesson's stderr; its other
    warnings still do."""
    code = (
        "import logging, course_utils\n"
        "log = logging.getLogger('bitsandbytes.backends.cpu.ops')\n"
        "log.warning('Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please ...', 'x')\n"
        "log.warning('another bitsandbytes warning')\n"
    )
    stderr = _stderr(code)
    assert "kernels-community" not in stderr
    assert "another bitsandbytes warning" in stderr


def test_loading_a_4bit_layer_prints_nothing_on_stderr():
    """Importing the course, then running a real 4-bit layer on this CPU, writes nothing to stderr."""
    code = (
        "import course_utils, torch, bitsandbytes as bnb\n"
        "layer = bnb.nn.Linear4bit(64, 32, bias=False, compute_dtype=torch.bfloat16, quant_type='nf4')\n"
        "layer.load_state_dict({'weight': torch.randn(32, 64)}); layer = layer.to('cpu')\n"
        "layer(torch.randn(1, 64, dtype=torch.bfloat16))\n"
    )
    assert _stderr(code) == ""


def test_quiet_progress_hides_transformers_and_datasets_bars_and_restores_them():
    """`quiet_progress(True)` hides both libraries' bars (model loading; TRL's tokenization maps) inside the block
    only; `quiet_progress(False)` leaves them alone."""
    import datasets
    from transformers.utils import logging as hf_logging

    from course_utils.hardware.models import quiet_progress

    with quiet_progress(True):
        assert not hf_logging.is_progress_bar_enabled() and not datasets.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled() and datasets.is_progress_bar_enabled()
    with quiet_progress(False):
        assert hf_logging.is_progress_bar_enabled() and datasets.is_progress_bar_enabled()
