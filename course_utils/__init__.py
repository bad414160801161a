"""Helpers for the crlft-course notebooks, one subpackage per pipeline stage, each importing only from the stages
before it (the contract in `pyproject.toml`, checked by the tests):

`paths` (folders) -> `patches` (speed patches) -> `data` -> `method` (C-RLFT) -> `hardware` (profiles, loading) ->
`training` -> `inference` -> `evaluation` -> `experiments` -> `course` (commands and course plumbing).

Notebooks stay narrative; the logic lives here."""

import logging
import warnings
from importlib import metadata

__version__ = metadata.version("crlft-course")  # one source: pyproject.toml

# peft (0.21) still calls transformers' deprecated `is_gradient_checkpointing` on every model it wraps; the notice is
# addressed to peft's maintainers, not to students, and would otherwise open every training cell.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)


class _DropMessage(logging.Filter):
    """Drops one library log message, named by its start, from one logger."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


# bitsandbytes (0.50) on a CPU with AVX512-BF16 tries the optional `kernels` package, which downloads a kernel from
# the hub, and logs a warning when it is absent; its own built-in CPU kernel is used instead and gives the same
# results. Filtered here, once, at its logger: otherwise it lands on stderr in whichever cell first runs a 4-bit
# layer, and only on such CPUs. Installing `kernels` is not an option offline.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    _DropMessage("Failed to load CPU gemm_4bit_forward from kernels-community"))
