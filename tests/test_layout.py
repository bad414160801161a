"""The package layout: one subpackage per pipeline stage, and the import contract that keeps the stages in order."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy under test, ahead of the installed package
    return subprocess.run(LINT + ["--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True)


def test_the_pipeline_contract_holds():
    """No stage imports a later one (data -> method -> hardware -> training -> inference -> evaluation -> ...)."""
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_contract_fails_when_a_lower_stage_imports_a_higher_one(tmp_path):
    """The contract is not vacuous: one upward import (data -> evaluation) breaks it."""
    shutil.copytree(REPO / "course_utils", tmp_path / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    schema = tmp_path / "course_utils" / "data" / "schema.py"
    schema.write_text(schema.read_text() + "\nfrom course_utils.evaluation.metrics import summarize  # upward\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "course_utils.data.schema -> course_utils.evaluation.metrics" in result.stdout


def test_no_flat_module_beside_the_stages():
    """Only the entry point, the version and the folder helpers sit at the package's top level."""
    flat = sorted(p.name for p in (REPO / "course_utils").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "paths.py"]
