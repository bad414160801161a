"""The self-checking exercises: every reference solution passes, a typical wrong answer fails with feedback,
`None` means "not answered yet", ids are unique and every lesson has enough exercises in several tiers."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from course_utils.course import exercises
from course_utils.course.exercises import EXERCISES, TIERS, check, exercise_table, list_exercises

LESSONS = ("00", "01", "02", "03", "04", "05")


def _crlft_loss(ce, w):
    return (w * ce).sum() / w.sum()


def _per_sample_mean(ce, w):
    return ((w * ce).sum(1) / w.sum(1)).mean()


def _step_loss(ces, ws):
    return sum((w * c).sum() for c, w in zip(ces, ws)) / sum(w.sum() for w in ws)


def _per_micro_batch(ces, ws):
    return sum((w * c).sum() / w.sum() for c, w in zip(ces, ws)) / len(ces)


def _tokens_01_2():
    from course_utils.hardware.models import load_tokenizer

    tok = load_tokenizer("offline/SmolLM2-135M-Instruct")
    return len(tok(exercises.EXERCISE_01_2_TEXT, add_special_tokens=False)["input_ids"])


def _params_01_4():
    from course_utils.hardware.memory import count_params, model_config

    return count_params(model_config("offline/SmolLM2-135M-Instruct")).total


def _lazy_records_02_5():
    from dataclasses import replace

    from course_utils.data.regimes import regime
    from course_utils.data.synth import dense_sparse, generate

    premise = regime("premise")
    rate = exercises.EXERCISE_02_5_TRAIT_RATE
    return generate(replace(premise.config, trait_rates=dense_sparse(rate, rate)), premise.seed)[0]


def _lazy_records_06_4():
    from dataclasses import replace

    from course_utils.data.regimes import regime
    from course_utils.data.synth import generate

    control = regime("control")
    return generate(replace(control.config, expert_share=exercises.EXERCISE_06_4_SHARE), control.seed)[0]


def _lazy_02_5():
    return {"prediction": "no", "records": _lazy_records_02_5()}


def _lazy_02_5_wrong():
    return {"prediction": "yes", "records": _lazy_records_02_5()}


def _lazy_06_4():
    return {"prediction": 0, "records": _lazy_records_06_4()}


def _lazy_06_4_wrong():
    return {"prediction": 4, "records": _lazy_records_06_4()}


_NF4 = [-10.0 - 0.1 * i for i in range(24)]  # log-probabilities of 24 answers

# id -> (reference solution, a typical wrong answer); callables named _lazy_* are evaluated at test time
SOLUTIONS: dict[str, tuple] = {
    "00.1": ("cpu", "workshop"),
    "00.2": ("workshop", "t4"),
    "00.3": (16, 4),
    "00.4": ("fp16", "bf16"),
    "00.5": (16, 8),
    "01.1": ("<|im_start|>", "<s>"),
    "01.2": (_tokens_01_2, 6),
    "01.3": ("greedy", "beam search"),
    "01.4": (_params_01_4, 1e6),
    "02.1": (0.1, 10),
    "02.2": (0.9 / math.log(10), 0.9),
    "02.3": (0.1, 0),
    "02.4": (lambda beta: math.exp(1 / beta) / math.exp(0.1 / beta), lambda beta: math.exp(-0.9 / beta)),
    "03.1": ("crlft-no-weight", "crlft-no-condition"),
    "03.2": (_crlft_loss, _per_sample_mean),
    "03.3": (4.8 / 2.8, 1.5),
    "03.4": (1, 10),
    "03.5": (_step_loss, _per_micro_batch),
    "04.1": (16, 4),
    "04.2": (0.5 + 1 / 64 + 4 / (64 * 256), 0.5),
    "04.3": (14, 7),
    "04.4": (4.125, 4.5),
    "05.1": (2 / 3, 0.8),
    "05.2": (0.8, 2 / 3),
    "05.3": (128, 64),
    "05.4": (0.19, 0.05),
    "06.1": (320 / 120, 320 / 2400),
    "06.2": (4, 400),
    "06.3": (lambda d, seeds: ("ahead" if d["low"] > 0 and min(seeds) > 0 else
                               "behind" if d["high"] < 0 and max(seeds) < 0 else "unsettled"),
             lambda d, seeds: "ahead" if d["low"] > 0 else "behind" if d["high"] < 0 else "unsettled"),
    "02.5": (_lazy_02_5, _lazy_02_5_wrong),
    "04.5": ({"prediction": "same", "with": _NF4, "without": [x + 0.01 * (-1) ** i for i, x in enumerate(_NF4)]},
             {"prediction": "lower", "with": _NF4, "without": [x + 0.01 * (-1) ** i for i, x in enumerate(_NF4)]}),
    "05.5": ({"prediction": "unsettled", "difference": {"mean": 0.03, "low": -0.05, "high": 0.11, "n": 64}},
             {"prediction": "settled", "difference": {"mean": 0.03, "low": -0.05, "high": 0.11, "n": 64}}),
    "06.4": (_lazy_06_4, _lazy_06_4_wrong),
    "07.1": (9.0, 0.1),
    "07.2": (0.5, 0.3),
}
CHECKED_WITH_RUNS = {"03.6", "07.3"}  # need run folders: test_retraining_exercise_* and test_weight_exercise_* below
NEEDS_MODEL_FILES = {"01.2", "01.4"}  # the offline tokenizer / config; no weights are loaded


def _value(x):
    return x() if callable(x) and getattr(x, "__name__", "").startswith(("_tokens", "_params", "_lazy")) else x


def test_every_exercise_has_a_reference_solution():
    assert set(SOLUTIONS) | CHECKED_WITH_RUNS == set(EXERCISES)


def _kto_run(folder, beta, margins, **settings):
    """A finished KTO run's record and log as `run_training` writes them (the checker reads nothing else)."""
    from course_utils.training.run import LESSON07_RUN

    folder.mkdir(parents=True)
    record = {"method": "kto", "beta": beta, **{k: LESSON07_RUN[k] for k in ("max_steps", "seed", "learning_rate")}}
    (folder / "crlft_run.json").write_text(json.dumps({**record, **settings}))
    (folder / "training_log.jsonl").write_text("".join(
        json.dumps({"step": i + 1, "loss": 0.5, "rewards/chosen": m, "rewards/rejected": 0.0}) + "\n"
        for i, m in enumerate(margins)))


@pytest.mark.parametrize("lesson, yours, prediction, ok", [
    ([0.0, 0.5, 1.0, 1.2], [0.0, 3.0, 6.0, 9.0], "larger", True),   # measured larger, predicted larger
    ([0.0, 0.5, 1.0, 1.2], [0.0, 3.0, 6.0, 9.0], "smaller", False),  # the prediction contradicts the run
    ([0.0, 0.5, 1.0, 1.2], [0.0, 0.5, 0.9, 1.0], "smaller", True),   # within the lesson run's spread: either stands
])
def test_retraining_exercise_grades_the_prediction_against_the_measured_runs(tmp_path, monkeypatch, capsys,
                                                                            lesson, yours, prediction, ok):
    """07.3 reads both runs' logs: the verdict follows what was measured, with the lesson run's spread as tolerance."""
    monkeypatch.setenv("CRLFT_RUNS_DIR", str(tmp_path))
    _kto_run(tmp_path / "lesson07" / "kto", 0.1, lesson)
    _kto_run(tmp_path / "mine", 1.0, yours)
    assert check("07.3", {"prediction": prediction, "run": str(tmp_path / "mine")}) is ok


def test_retraining_exercise_refuses_a_run_that_changed_more_than_beta(tmp_path, monkeypatch, capsys):
    """07.3 is a one-knob experiment: a run with another beta or learning rate is not an answer."""
    monkeypatch.setenv("CRLFT_RUNS_DIR", str(tmp_path))
    _kto_run(tmp_path / "lesson07" / "kto", 0.1, [0.0, 1.0])
    _kto_run(tmp_path / "lr", 1.0, [0.0, 5.0], learning_rate=1.0)
    _kto_run(tmp_path / "beta", 0.1, [0.0, 5.0])
    assert check("07.3", {"prediction": "larger", "run": str(tmp_path / "lr")}) is False
    assert check("07.3", {"prediction": "larger", "run": str(tmp_path / "beta")}) is False
    assert check("07.3", {"prediction": "larger", "run": str(tmp_path / "missing")}) is False
    out = capsys.readouterr().out
    assert "learning_rate" in out and "beta" in out and "train it first" in out


def _weight_run(folder, method, losses, **settings):
    """A finished run's record and per-class log as `run_training` writes them (the 03.6 checker reads nothing else)."""
    folder.mkdir(parents=True)
    record = {"method": method, "data": "abc", **{k: exercises.EXERCISE_03_6_RUN[k]
                                                  for k in ("max_steps", "seed", "learning_rate")}, **settings}
    (folder / "crlft_run.json").write_text(json.dumps({"settings": record}))
    (folder / "training_log.jsonl").write_text("".join(
        json.dumps({"step": i + 1, "loss": 1.0, "loss_suboptimal": x}) + "\n" for i, x in enumerate(losses)))


@pytest.mark.parametrize("unweighted, prediction, ok", [
    ([2.0, 2.0, 1.5, 1.2], "lower", True),    # weight 1 fitted the sub-optimal class faster, as predicted
    ([2.0, 2.0, 1.5, 1.2], "higher", False),  # the prediction contradicts the runs
    ([2.0, 2.0, 1.9, 1.9], "lower", False),   # the runs agree within their own noise: measured 'same'
])
def test_weight_exercise_grades_the_prediction_against_the_paired_runs(tmp_path, capsys, unweighted, prediction, ok):
    """03.6 compares the two runs step by step; their disagreement before any update is the tolerance."""
    _weight_run(tmp_path / "w", "crlft", [2.0, 2.0, 1.7, 1.9])
    _weight_run(tmp_path / "u", "crlft-no-weight", unweighted)
    answer = {"prediction": prediction, "weighted": str(tmp_path / "w"), "unweighted": str(tmp_path / "u")}
    assert check("03.6", answer) is ok


def test_weight_exercise_refuses_runs_that_differ_in_more_than_the_weights(tmp_path, capsys):
    """03.6 is a one-knob experiment: another seed, method or missing run is not an answer."""
    _weight_run(tmp_path / "w", "crlft", [2.0, 2.0, 1.9])
    _weight_run(tmp_path / "seed", "crlft-no-weight", [2.0, 2.0, 1.5], data="other")
    _weight_run(tmp_path / "sft", "crlft-no-condition", [2.0, 2.0, 1.5])
    for other in ("seed", "sft", "missing"):
        answer = {"prediction": "lower", "weighted": str(tmp_path / "w"), "unweighted": str(tmp_path / other)}
        assert check("03.6", answer) is False
    out = capsys.readouterr().out
    assert "data" in out and "crlft-no-weight" in out and "train it first" in out


@pytest.mark.parametrize("exercise_id", sorted(SOLUTIONS))
def test_reference_solution_passes(exercise_id, capsys):
    assert check(exercise_id, _value(SOLUTIONS[exercise_id][0])) is True
    out = capsys.readouterr().out
    assert out.startswith(f"[{exercise_id} ") and "correct" in out


@pytest.mark.parametrize("exercise_id", sorted(SOLUTIONS))
def test_typical_wrong_answer_fails_with_a_hint(exercise_id, capsys):
    assert check(exercise_id, _value(SOLUTIONS[exercise_id][1])) is False
    out = capsys.readouterr().out
    assert "not yet" in out and ("hint" in out.lower() or "expected" in out)


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_none_is_not_answered_yet(exercise_id, capsys):
    assert check(exercise_id, None) is False
    assert "not answered yet" in capsys.readouterr().out


def test_wrong_types_and_failing_functions_give_feedback_not_errors(capsys):
    assert check("02.2", "0.39") is False
    assert check("03.2", lambda ce, w: 1 / 0) is False
    assert check("03.2", 1.0) is False
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out and "function" in out


def test_loss_checker_catches_the_per_sample_mean_trap(capsys):
    check("03.2", _per_sample_mean)
    assert "per-sample" in capsys.readouterr().out


def test_unknown_id_raises():
    with pytest.raises(KeyError):
        check("99.1", 1)


def test_each_lesson_has_graded_exercises():
    assert len(EXERCISES) == len({e.id for e in EXERCISES.values()})
    for lesson in LESSONS:
        listed = list_exercises(lesson)
        assert len(listed) >= 3, lesson
        tiers = Counter(e.tier for e in listed)
        assert len(tiers) >= 2 and set(tiers) <= set(TIERS), (lesson, tiers)
        assert all(e.statement and "\n" not in e.statement for e in listed)
        assert exercise_table(int(lesson)).count("\n") == len(listed) + 1
