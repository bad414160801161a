"""Where the course reads and writes: the checkout's folders in a checkout, never site-packages after a plain
`pip install .`, and never the committed `results/` unless asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils import paths
from course_utils.course import cli
from course_utils.data import loaders


@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    """The package as if in site-packages (no pyproject.toml beside it), run from a fresh working folder (returned)."""
    site = tmp_path / "site-packages"
    site.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(paths, "REPO_ROOT", site)
    monkeypatch.delenv(paths.RUNS_ENV, raising=False)
    monkeypatch.chdir(work)
    return work


def test_checkout_folders_are_the_repositorys():
    """Protects the lessons' reads: in a checkout data/, results/ and notebooks/ are the repository's own."""
    root = Path(__file__).resolve().parents[1]
    assert paths.in_checkout() and paths.REPO_ROOT == root
    assert paths.results_dir() == root / "results" and paths.notebooks_dir() == root / "notebooks"
    assert loaders.data_dir() == root / "data"
    assert all((root / "data" / name).is_file() for name in loaders.SHIPPED_FILES)


def test_installed_package_writes_results_and_runs_in_the_working_folder(installed):
    """Protects site-packages after `pip install .`: results/, runs/ and data output go to the working folder."""
    assert paths.results_dir() == installed / "results"
    assert paths.runs_dir() == installed / "runs"
    assert paths.data_output_dir() == installed / "data"


def test_installed_package_reads_the_data_installed_with_it(installed):
    """Protects `pip install .`: without a checkout the shipped data are read from the wheel's copy."""
    assert loaders.data_dir() == Path(loaders.__file__).resolve().parents[1] / "shipped_data"


def test_installed_package_has_no_notebooks_and_says_so(installed):
    """Protects against a wrong lessons folder: without a checkout `notebooks_dir()` raises a clear error."""
    with pytest.raises(paths.NotACheckoutError, match="need a checkout of the repository"):
        paths.notebooks_dir()


def test_crlft_course_without_checkout_reports_it(installed, capsys):
    """Protects `crlft course` after `pip install .`: it exits 2 saying the lessons need a checkout."""
    assert cli.main(["course"]) == 2
    assert "the lessons need a checkout of the repository" in capsys.readouterr().out


def test_experiment_and_sweep_do_not_overwrite_committed_results_by_default(tmp_path, monkeypatch):
    """Protects committed results/: experiment and sweep write runs/results/ unless --results-dir says otherwise."""
    from course_utils.course.commands import experiment as experiment_command
    from course_utils.experiments import sweep

    written = []
    monkeypatch.setenv(paths.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setattr(experiment_command, "run_experiment", lambda config, work, out, *a, **k: written.append(out))
    monkeypatch.setattr(experiment_command, "results_markdown", lambda result: "")
    monkeypatch.setattr(sweep, "run_sweep", lambda config, shares, work, out, *a, **k: written.append(out))
    monkeypatch.setattr(sweep, "sweep_markdown", lambda result: "")
    assert cli.main(["experiment", "--variants", "crlft"]) == 0
    assert cli.main(["sweep"]) == 0
    assert [Path(p) for p in written] == [tmp_path / "runs" / "results"] * 2
    assert paths.scratch_results_dir() == tmp_path / "runs" / "results" != paths.results_dir()
    written.clear()
    assert cli.main(["experiment", "--variants", "crlft", "--results-dir", "results"]) == 0
    assert cli.main(["sweep", "--results-dir", "results"]) == 0
    assert [Path(p) for p in written] == [Path("results")] * 2
