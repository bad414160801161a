"""Where the course's folders are, whether a lesson runs from `notebooks/`, the repository root or Colab.

The shipped data travel inside the package (`course_utils.data.loaders`); the folders here belong to a checkout
of the repository. `CRLFT_RUNS_DIR` moves training runs elsewhere, e.g. to a mounted Google Drive on Colab, so
checkpoints and adapters survive a disconnect."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when the package is installed editable
RUNS_ENV = "CRLFT_RUNS_DIR"


def display_path(path: str | Path) -> str:
    """`path` as a person should read it in outputs: relative to the working folder or to the checkout, or under
    `~`; never this machine's absolute layout (it would leak into committed lesson outputs)."""
    resolved = Path(path).expanduser().resolve()
    for base, prefix in ((Path.cwd(), ""), (REPO_ROOT, ""), (Path.home(), "~/")):
        try:
            return prefix + resolved.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return resolved.name


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


def keep_runs_on_google_drive(folder: str = "crlft-runs") -> Path | None:
    """On Colab: mount Google Drive and send every training run there (`CRLFT_RUNS_DIR`), so checkpoints and adapters
    survive a disconnect and a re-run resumes. Elsewhere: does nothing and returns None."""
    import sys

    if "google.colab" not in sys.modules:
        return None
    from google.colab import drive  # type: ignore[import-not-found]

    drive.mount("/content/drive")
    target = Path("/content/drive/MyDrive") / folder
    target.mkdir(parents=True, exist_ok=True)
    os.environ[RUNS_ENV] = str(target)
    return target
