"""Where the course's folders are, whether a lesson runs from `notebooks/`, the repository root or Colab.

In a checkout (an editable install, or the package run from the repository) the folders are the checkout's:
`data/`, `notebooks/`, `results/`, `runs/`. After a plain `pip install .` the package lives in site-packages,
which is no place to write: results and runs then go to the working folder, the shipped data are read from the
installed copy (`course_utils.data.loaders`), and the lessons need a checkout. `CRLFT_RUNS_DIR` moves training
runs elsewhere, e.g. to a mounted Google Drive on Colab, so checkpoints and adapters survive a disconnect."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when the package is installed editable
RUNS_ENV = "CRLFT_RUNS_DIR"


class NotACheckoutError(RuntimeError):
    """Raised for what only a checkout of the repository has (the lessons) when the package runs without one."""


def in_checkout() -> bool:
    """Whether the package runs from a checkout of the repository (editable install or on the path), not from a
    plain `pip install .` into site-packages."""
    return (REPO_ROOT / "pyproject.toml").is_file()


def checkout_or_cwd() -> Path:
    """The checkout when the package runs from one, else the working folder: the base of every folder written."""
    return REPO_ROOT if in_checkout() else Path.cwd()


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
    """The lessons (`notebooks/` of the checkout). Raises `NotACheckoutError` after a plain `pip install .`:
    the lessons are not part of the package."""
    if not in_checkout():
        raise NotACheckoutError(
            f"the lessons need a checkout of the repository: this course_utils is installed in "
            f"{REPO_ROOT}, which has no notebooks/. Clone the repository and run from it "
            f"(pip install -e .), or pass the folder of the lessons explicitly."
        )
    return REPO_ROOT / "notebooks"


def results_dir() -> Path:
    """Committed results of the heavy experiments (`results/` of the checkout), which the lessons read; after a
    plain `pip install .`, `results/` in the working folder. `crlft experiment`/`crlft sweep` write here only
    when asked to (`--results-dir results`)."""
    return checkout_or_cwd() / "results"


def data_output_dir() -> Path:
    """Where `crlft data synth` writes by default: `data/` of the checkout (the shipped files, which the
    generator reproduces byte for byte); after a plain `pip install .`, `data/` in the working folder."""
    return checkout_or_cwd() / "data"


def scratch_results_dir() -> Path:
    """Where `crlft experiment` and `crlft sweep` write their results unless told otherwise: `results/` under the
    runs folder, so a quick trial never overwrites the committed `results/`."""
    return runs_dir() / "results"


def runs_dir() -> Path:
    """Training runs and cached evaluations: `$CRLFT_RUNS_DIR`, else `runs/` of the checkout (ignored by git),
    else `runs/` in the working directory (a plain `pip install`)."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser()
    return checkout_or_cwd() / "runs"


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
