"""Helpers for the crlft-course notebooks: data, the C-RLFT core (conditioning, tokenization, trainer), models and
hardware profiles, inference, evaluation and plots. Notebooks stay narrative; the logic lives here."""

import warnings
from importlib import metadata

__version__ = metadata.version("crlft-course")  # one source: pyproject.toml

# peft (0.21) still calls transformers' deprecated `is_gradient_checkpointing` on every model it wraps; the notice is
# addressed to peft's maintainers, not to students, and would otherwise open every training cell.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
