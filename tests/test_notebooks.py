"""Lesson conventions that CI's nbval run cannot see for itself."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.course import colab

LESSONS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_nbval_markers_stand_alone(path):
    """nbval only honours a marker alone on its line: '# NBVAL_IGNORE_OUTPUT (why)' silently compares the output."""
    for cell in nbformat.read(path, as_version=4).cells:
        for line in cell.source.splitlines():
            if "NBVAL_" in line and line.strip().startswith("#"):
                assert re.fullmatch(r"\s*#\s*NBVAL_[A-Z_]+\s*", line), f"{path.name}: {line!r}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_has_the_course_conventions(path):
    """Each lesson opens with a Colab badge, objectives and a runtime table, installs on Colab only, has exercises."""
    cells = nbformat.read(path, as_version=4).cells
    intro = cells[0].source
    assert colab.badge_markdown(path.name) in intro  # derived from pyproject.toml: URL and version
    assert "Learning objectives" in intro and "| `cpu`" in intro
    assert cells[1].source == colab.install_cell_source()  # the one install cell, as scripts/sync_notebooks.py writes it
    assert any("Exercises" in c.source for c in cells if c.cell_type == "markdown")
    assert any("Solution" in c.source for c in cells), "exercises need solutions"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_is_committed_with_outputs(path):
    """Lessons are committed with the outputs of a real run, so readers see results before running anything."""
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    never_ran = [c.source.splitlines()[0] for c in code if not c.get("execution_count")]
    assert not never_ran, f"{path.name}: cells without outputs of a run: {never_ran}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_follows_the_chosen_profile(path):
    """Every lesson runs the profile chosen for the machine (COURSE_PROFILE or detected); none hard-codes one, or a
    T4 would train a different model in each lesson."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            assert not re.search(r"""profile\s*=\s*["']|get_profile\(\s*["']|COURSE_PROFILE\s*=""", cell.source), (
                f"{path.name}: {cell.source.splitlines()[0]}")


def _sources(name: str) -> str:
    path = LESSONS[0].parent / name
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def test_lessons_03_and_04_show_the_condition_knob_on_one_run():
    """Lesson 03 trains with LESSON03_RUN on lesson03_data() (as `crlft catch-up` does), lesson 04 reuses it, and
    both compare the expert and the sub-optimal condition of that one model on held-out prompts of its regime."""
    lesson03, lesson04 = _sources("03_crlft_qlora.ipynb"), _sources("04_quantized_inference.ipynb")
    for source in (lesson03, lesson04):
        assert "lesson03_data()" in source and "**LESSON03_RUN" in source
        assert 'regime_dir(LESSON03_REGIME) / "eval.jsonl"' in source
    assert "compare_conditions(" in lesson03 and "ConditionComparison.from_runs(" in lesson04
    assert "limit=48)" in lesson03 and "likelihood_probe(" in lesson03  # at least 40 held-out prompts, and the probe
