"""Where the course's folders are, whether a lesson runs from `notebooks/`, the repository root or Colab.

The shipped data travel inside the package (`course_utils.data.loaders`); the folders here belong to a checkout
of the repository. `CRLFT_RUNS_DIR` moves training runs elsewhere, e.g. to a mounted Google Drive on Colab, so
checkpoints and adapters survive a disconnect."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when the package is installed editable
RUNS_ENV = "CRLFT_RUNS_DIR"


def notebooks_dir() -> Path:
    """The lessons (`notebooks/`)."""
    return REPO_ROOT / "notebooks"


def results_dir() -> Path:
    """Committed results of the heavy experiments (`results/`)."""
    return REPO_ROOT / "results"


def runs_dir() -> Path:
    """Training runs and cached evaluations: `$CRLFT_RUNS_DIR`, else `runs/` of the checkout (ignored by git),
    else `runs/` in the working directory (a plain `pip install`)."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    return REPO_ROOT / "runs" if (REPO_ROOT / "pyproject.toml").exists() else Path.cwd() / "runs"
