"""Helpers for the crlft-course notebooks: models and hardware profiles, data, the C-RLFT trainer,
inference, evaluation and plots. Notebooks stay narrative; the logic lives here."""

__version__ = "0.1.0"
