"""The expert-share sweep's orchestration and results (training and generation replaced by fakes)."""

from __future__ import annotations

import json

import pytest

from course_utils.experiments import ablation as ex
from course_utils.experiments import sweep
from course_utils.course.cli import build_parser
from tests.test_experiment import fake_experiment  # noqa: F401  (fixture)


def test_sweep_trains_three_variants_per_share_and_writes_results(fake_experiment, tmp_path):  # noqa: F811
    """Every share trains SFT-expert, SFT-mix and C-RLFT per seed; results are sorted by share and paired."""
    base = ex.ExperimentConfig(seeds=(0, 1), n_boot=100, profile="cpu")
    result = sweep.run_sweep(base, shares=(0.4, 0.02), work_dir=tmp_path / "work", results_dir=tmp_path / "res",
                             progress=False, command="crlft sweep")
    assert len(fake_experiment["train"]) == 2 * 2 * 3
    assert result["shares"] == [0.02, 0.4]
    assert [p["share"] for p in result["points"]["crlft"]] == [0.02, 0.4]
    assert len(result["points"]["crlft"][0]["per_seed"]) == 2
    assert set(result["paired_differences"]) == {"crlft - sft-expert", "crlft - sft-mix"}
    assert result["budget"]["0.02"]["sft-expert"]["data_rows"] == 48
    md = (tmp_path / "res" / "sweep.md").read_text()
    assert "| 2 % |" in md and "| 40 % |" in md
    assert json.loads((tmp_path / "res" / "sweep.json").read_text())["shares"] == [0.02, 0.4]
    assert (tmp_path / "res" / "sweep.png").stat().st_size > 0


def test_sweep_cli_parses_shares():
    args = build_parser(["sweep"]).parse_args(["sweep", "--shares", "0.02,0.4", "--seeds", "0,1"])
    assert args.shares == "0.02,0.4" and args.seeds == "0,1"


def test_command_line_defaults_are_the_experiments_defaults():
    """`crlft experiment` and `crlft sweep` without options run ExperimentConfig's settings (learning rate chosen
    on the validation prompts, 120 prompts), not the profile's learning rate and every prompt."""
    from course_utils.course.commands.experiment import config_from_args

    for command in ("experiment", "sweep"):
        args = build_parser([command]).parse_args([command])
        config = config_from_args(args, ("crlft",))
        assert config.learning_rate == ex.ExperimentConfig.learning_rate
        assert config.eval_limit == ex.ExperimentConfig.eval_limit and config.max_steps == ex.ExperimentConfig.max_steps
    args = build_parser(["experiment"]).parse_args(["experiment", "--eval-limit", "0"])
    assert config_from_args(args, ("crlft",)).eval_limit is None


def test_extending_a_sweep_keeps_the_other_shares_and_records_each_run(fake_experiment, tmp_path):  # noqa: F811
    """A later run at some shares replaces those and keeps the earlier run's other shares, each with its provenance;
    runs with different settings do not merge."""
    base = ex.ExperimentConfig(seeds=(0,), n_boot=100, profile="cpu")
    first = sweep.run_sweep(base, shares=(0.02, 0.4), work_dir=tmp_path / "w", progress=False, command="first")
    second = sweep.run_sweep(base, shares=(0.4, 0.1), work_dir=tmp_path / "w", results_dir=tmp_path / "res",
                             progress=False, command="second", extend=first)
    assert second["shares"] == [0.02, 0.1, 0.4]
    assert [p["share"] for p in second["points"]["sft-mix"]] == [0.02, 0.1, 0.4]
    assert [d["share"] for d in second["paired_differences"]["crlft - sft-mix"]] == [0.02, 0.1, 0.4]
    assert set(second["budget"]) == {"0.02", "0.1", "0.4"}
    assert [(r["command"], r["shares"]) for r in second["runs"]] == [("first", [0.02]), ("second", [0.1, 0.4])]
    md = (tmp_path / "res" / "sweep.md").read_text()
    assert "Shares 2 % produced by `first`" in md and "Shares 10, 40 % produced by `second`" in md
    other = sweep.run_sweep(ex.ExperimentConfig(seeds=(0,), n_boot=100, profile="cpu", max_steps=7), shares=(0.1,),
                            work_dir=tmp_path / "w", progress=False)
    with pytest.raises(ValueError, match="max_steps"):
        sweep.merge_sweeps(first, other)
