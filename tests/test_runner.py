"""The headless lesson runner behind `crlft course`: every failure becomes a failed lesson in the summary."""

from __future__ import annotations

import nbformat
import pytest

from course_utils.course.runner import run_lesson


def _notebook(tmp_path, source: str):
    path = tmp_path / "01_demo.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("source, timeout, error", [
    ("raise ValueError('broken cell')", 60, "ValueError"),
    ("import time; time.sleep(30)", 2, "CellTimeoutError"),
    ("import os; os._exit(1)", 60, "DeadKernelError"),
])
def test_a_failing_lesson_is_reported_not_raised(tmp_path, source, timeout, error):
    """A cell error, a cell timeout and a dead kernel each end one lesson as failed (with the reason), instead of
    aborting `crlft course` before its summary."""
    run = run_lesson(_notebook(tmp_path, source), tmp_path / "out", timeout)
    assert not run.ok and error in run.error
    assert (tmp_path / "out" / "01_demo.ipynb").exists()


def test_a_lesson_runs_quietly_and_leaves_no_files(tmp_path, capfd, monkeypatch):
    """A lesson's kernel prints no transport warning and leaves no socket files in the working folder."""
    monkeypatch.chdir(tmp_path)
    run = run_lesson(_notebook(tmp_path, "print(6 * 7)"), tmp_path / "out", 60)
    assert run.ok
    assert "without encryption" not in capfd.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_demo.ipynb", "out"]
