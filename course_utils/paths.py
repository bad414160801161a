"""Where the course's folders are, whether a lesson runs from `notebooks/`, the repository root or Colab."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the package is installed editable from the repository


def data_dir() -> Path:
    """The shipped data folder (`data/`)."""
    return REPO_ROOT / "data"


def notebooks_dir() -> Path:
    """The lessons (`notebooks/`)."""
    return REPO_ROOT / "notebooks"


def results_dir() -> Path:
    """Committed results of the heavy experiments (`results/`)."""
    return REPO_ROOT / "results"


def runs_dir() -> Path:
    """Scratch space for training runs made by the lessons (`runs/`, ignored by git)."""
    return REPO_ROOT / "runs"
