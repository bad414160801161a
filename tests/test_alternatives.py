"""Tests of `course_utils.experiments.alternatives` and `crlft compare`: rows from several experiments, paired
differences only where the per-prompt verdicts allow them, and no comparison of unlike experiments."""

from __future__ import annotations

import json

import pytest

from course_utils.course.cli import main
from course_utils.experiments.alternatives import compare_regime


def _acc(mean, half=0.05):
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": 4}


def _experiment(path, variants, passed=None, regime="premise", timings=None, paired=None):
    """A results file shaped as `crlft experiment` writes it (only the fields the comparison reads)."""
    result = {
        "config": {"regime": regime, "tuned": [["kto", 5e-4, 8]], "learning_rate": None}, "split": "eval",
        "n_prompts": 4, "fingerprint": "f" * 10, "command": "crlft experiment ...",
        "budget": {"kto": {"steps": 8, "epochs": 0.32}, "crlft": {"steps": 32, "epochs": 1.28}},
        "summaries": {v: {"prompt": _acc(m), "per_seed_prompt": [m, m]} for v, m in variants.items()},
        "paired_differences": paired or {}, "timings_s": timings or {},
        "machine": {"cpu": "test CPU"}, "workers": 2,
    }
    if passed is not None:
        result.update(prompt_ids=["p0", "p1", "p2", "p3"], passed=passed)
    path.write_text(json.dumps(result))
    return path


def test_rows_come_from_their_own_experiment_with_its_cost(tmp_path):
    """Protects the table: each method keeps its source, its chosen learning rate and its measured s per step."""
    central = _experiment(tmp_path / "c.json", {"crlft": 0.5, "sft-expert": 0.6},
                          timings={"train:0:crlft": 320.0, "train:1:crlft": 960.0})
    kto = _experiment(tmp_path / "k.json", {"kto": 0.4}, timings={"train:0:kto": 400.0})
    reg = compare_regime([central, kto])
    assert list(reg["rows"]) == ["crlft", "kto", "sft-expert"]  # the table's order, not the files'
    assert reg["rows"]["kto"]["source"].endswith("k.json") and reg["rows"]["kto"]["learning_rate"] == 5e-4
    assert reg["rows"]["crlft"]["seconds_per_step"] == pytest.approx((320 + 960) / 2 / 32)
    assert reg["rows"]["kto"]["seconds_per_step"] == pytest.approx(400 / 8)


def test_differences_are_paired_only_when_the_verdicts_allow_it(tmp_path):
    """Across files a difference is paired over per-prompt verdicts; without them it is marked unpaired, wider."""
    with_votes = _experiment(tmp_path / "a.json", {"crlft": 0.75}, passed={"crlft": [[1, 1, 1, 0], [1, 1, 1, 0]]})
    kto_votes = _experiment(tmp_path / "b.json", {"kto": 0.25}, passed={"kto": [[1, 0, 0, 0], [1, 0, 0, 0]]})
    d = compare_regime([with_votes, kto_votes])["differences"]["crlft - kto"]
    assert d["paired"] and d["mean"] == pytest.approx(0.5)
    without = _experiment(tmp_path / "c.json", {"crlft": 0.75})
    d = compare_regime([without, kto_votes])["differences"]["crlft - kto"]
    assert not d["paired"] and d["mean"] == pytest.approx(0.5)
    assert d["high"] - d["low"] == pytest.approx(2 * (0.05 ** 2 * 2) ** 0.5)


def test_a_difference_inside_one_experiment_is_its_own_paired_one(tmp_path):
    """Two rows of one file reuse that experiment's paired difference (sign flipped where needed)."""
    paired = {"crlft - sft-filtered": {"mean": -0.2, "low": -0.3, "high": -0.1, "n": 4}}
    central = _experiment(tmp_path / "c.json", {"crlft": 0.5, "sft-filtered": 0.7}, paired=paired)
    d = compare_regime([central])["differences"]["sft-filtered - crlft"]
    assert d["paired"] and (d["mean"], d["low"], d["high"]) == pytest.approx((0.2, 0.1, 0.3))


def test_crlft_is_compared_with_every_sft_method_present(tmp_path):
    """The table answers lesson 06's question too: C-RLFT minus each SFT method whose row is there, and no other."""
    central = _experiment(tmp_path / "c.json", {"crlft": 0.5, "sft-expert": 0.6, "sft-mix": 0.3})
    diffs = compare_regime([central])["differences"]
    assert {"crlft - sft-expert", "crlft - sft-mix"} <= set(diffs) and "crlft - crlft-no-condition" not in diffs
    assert diffs["crlft - sft-mix"]["mean"] == pytest.approx(0.2)


def test_experiments_of_different_regimes_are_refused(tmp_path):
    """Comparing a premise run with a control run would be a silent apples-to-oranges table."""
    a = _experiment(tmp_path / "a.json", {"crlft": 0.5})
    b = _experiment(tmp_path / "b.json", {"kto": 0.5}, regime="control")
    with pytest.raises(ValueError, match="differ in regime"):
        compare_regime([a, b])


def test_compare_command_writes_the_three_files_and_names_a_broken_input(tmp_path, capsys):
    """`crlft compare` end to end: alternatives.{json,md,png}; a file that is not a results file is named."""
    central = _experiment(tmp_path / "c.json", {"crlft": 0.5, "sft-mix": 0.3})
    kto = _experiment(tmp_path / "k.json", {"kto": 0.4})
    out = tmp_path / "out"
    assert main(["compare", "--regime", "premise", str(central), str(kto), "--results-dir", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"alternatives.json", "alternatives.md", "alternatives.png"}
    assert "crlft - kto" in (out / "alternatives.md").read_text()
    (tmp_path / "bad.json").write_text(json.dumps({"summaries": {}}))
    with pytest.raises(SystemExit, match="bad.json.*'config'"):
        main(["compare", "--regime", "premise", str(tmp_path / "bad.json")])
