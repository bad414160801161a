"""`crlft tune`: the same search for every method, on the validation prompts, with a seed kept for choosing
(training and generation replaced by the experiment tests' fakes; the real pieces have their own tests)."""

from __future__ import annotations

import json
from dataclasses import replace

from course_utils.course.cli import build_parser
from course_utils.experiments import ablation as ex
from course_utils.experiments import tuning
from tests.test_experiment import fake_experiment  # noqa: F401  (fixture)


def test_every_variant_is_trained_at_every_learning_rate_and_scored_along_the_way(fake_experiment, tmp_path):  # noqa: F811
    """One training per (variant, learning rate) with the tuning seed, each scored at every checkpoint and at the
    end on the validation split; curves, choices and files written; never the held-out split."""
    base = ex.ExperimentConfig(regime="premise", variants=("crlft", "sft-expert"), max_steps=4, eval_steps=(2,),
                               n_boot=50, profile="cpu")
    result = tuning.run_tuning(base, (1e-3, 2e-3), work_dir=tmp_path / "work", results_dir=tmp_path / "res",
                               progress=False, command="crlft tune")
    assert sorted(fake_experiment["train"]) == [(tuning.TUNING_SEED, "crlft")] * 2 + [(tuning.TUNING_SEED, "sft-expert")] * 2
    assert len(fake_experiment["eval"]) == 2 * 2 * 2
    assert result["split"] == "val" and result["steps"] == [2, 4]
    assert set(result["curves"]) == {"crlft", "sft-expert"}
    assert [p["step"] for p in result["curves"]["crlft"]["0.001"]] == [2, 4]
    # the fakes score every step and rate alike: the tie goes to fewer steps, then the smaller learning rate
    assert result["chosen"]["crlft"] == {"learning_rate": 1e-3, "step": 2, "mean": result["curves"]["crlft"]["0.001"][0]["mean"]}
    saved = json.loads((tmp_path / "res" / "premise.json").read_text())
    assert saved["chosen"] == result["chosen"] and saved["machine"]["cpu_cores"]
    assert "| crlft | 0.001 | 2 |" in (tmp_path / "res" / "premise.md").read_text()
    assert (tmp_path / "res" / "premise.png").stat().st_size > 0


def test_the_best_validation_point_is_chosen(tmp_path):
    """The choice is the (learning rate, step) with the highest validation accuracy, wherever it lies."""
    from course_utils.evaluation.metrics import EvalRun, score_responses
    from tests.test_experiment import RECORDS

    base = ex.ExperimentConfig(regime="premise", variants=("crlft",), max_steps=4, eval_steps=(2,), n_boot=50,
                               profile="cpu", split="val", seeds=(tuning.TUNING_SEED,))
    exps = [ex.Experiment(replace(base, learning_rate=lr), tmp_path) for lr in (1e-3, 2e-3)]
    for exp in exps:
        exp.records = lambda: RECORDS
        for name in ("crlft@2", "crlft"):
            good = 9 if (exp.config.learning_rate, name) == (2e-3, "crlft") else 3
            answers = [("PARIS" if r["family"] == "casing" else "Paris") if i < good else "no" for i, r in enumerate(RECORDS)]
            path = exp.eval_path(tuning.TUNING_SEED, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(EvalRun("expert", answers, score_responses(RECORDS, answers), 1.0, 1).to_dict()))
    chosen = tuning.tuning_result(exps)["chosen"]["crlft"]
    assert (chosen["learning_rate"], chosen["step"]) == (2e-3, 4) and chosen["mean"] == 9 / 12


def test_tune_needs_a_regime_and_parses_its_grid():
    """`crlft tune` refuses to run without a regime and reads the learning-rate grid it is given."""
    import pytest

    from course_utils.course.commands import tune

    args = build_parser(["tune"]).parse_args(["tune", "--learning-rates", "1e-3,4e-3"])
    with pytest.raises(SystemExit, match="--regime"):
        tune.run(args)
    assert args.learning_rates == "1e-3,4e-3"
