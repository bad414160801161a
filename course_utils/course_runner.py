"""`crlft course`: execute every lesson headless, in order, and print a summary.

Each notebook runs in a fresh kernel with `notebooks/` as its working directory; the executed copies (with
their outputs) land in the output folder, so the committed lessons are never overwritten."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils.paths import notebooks_dir


@dataclass(frozen=True)
class LessonRun:
    """The outcome of executing one notebook."""

    notebook: str
    seconds: float
    ok: bool
    error: str = ""


def lesson_paths(folder: Path) -> list[Path]:
    """The numbered lessons (`NN_*.ipynb`) in `folder`, in course order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def run_lesson(path: Path, output_dir: Path, timeout: int) -> LessonRun:
    """Execute `path` in a fresh kernel and write the executed copy to `output_dir`."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    seconds = time.perf_counter() - start
    output_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output_dir / path.name)
    return LessonRun(path.name, seconds, not error, error)


def run_course(args: argparse.Namespace) -> int:
    """Run the selected lessons and print a summary table; exit status 1 if any failed."""
    paths = lesson_paths(Path(args.notebooks))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in args.only)]
    if not paths:
        print(f"no lessons found in {args.notebooks}")
        return 1
    runs = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        runs.append(run_lesson(path, Path(args.output_dir), args.timeout))
        print(f"  {'ok' if runs[-1].ok else 'FAILED: ' + runs[-1].error} ({runs[-1].seconds:.0f} s)", flush=True)
    print(f"\nSummary ({len(runs)} lessons, executed copies in {args.output_dir}/)")
    for run in runs:
        print(f"  {run.notebook:<36} {'ok' if run.ok else 'FAILED':<7} {run.seconds:7.0f} s")
    print(f"  {'total':<36} {'':<7} {sum(r.seconds for r in runs):7.0f} s")
    return 0 if all(r.ok for r in runs) else 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crlft course`."""
    parser = subparsers.add_parser("course", help="run every lesson headless and print a summary")
    parser.add_argument("--output-dir", default="course_run", help="where executed notebooks are written")
    parser.add_argument("--notebooks", default=str(notebooks_dir()), help="folder holding the lessons")
    parser.add_argument("--only", nargs="*", help="run only lessons whose names start with these prefixes")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.set_defaults(func=run_course)
