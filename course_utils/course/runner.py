"""`crlft course`: execute every lesson headless, in order, and print a summary.

Each notebook runs in a fresh kernel with `notebooks/` as its working directory; the executed copies (with
their outputs) land in the output folder, so the committed lessons are never overwritten."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


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
    """Execute `path` in a fresh kernel and write the executed copy to `output_dir`.

    The kernel application logs only its errors: at its default level ipykernel warns, once per lesson, that a
    local kernel talks to its client over loopback TCP without encryption. (Local IPC sockets, which avoid the
    warning, lost the kernel's heartbeat here: a cell timeout or a dead kernel was no longer noticed.)"""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    error = _execute(client)
    seconds = time.perf_counter() - start
    output_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output_dir / path.name)
    return LessonRun(path.name, seconds, not error, error)


def _execute(client: NotebookClient) -> str:
    """Run every cell; the reason it stopped, or "" when all ran."""
    error = ""
    try:
        client.execute()
    except CellExecutionError as exc:  # a cell raised: its last line names the error
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    except (CellTimeoutError, DeadKernelError) as exc:  # a cell ran past the timeout, or the kernel died (memory)
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    except Exception as exc:  # anything else (a kernel that never started, say) fails this lesson, not the course
        error = f"{type(exc).__name__}: {exc}"
    return error
