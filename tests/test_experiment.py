"""The headline experiment's orchestration: plan order, resumability, fingerprinted work folders and the
results it writes (training and generation replaced by fast fakes; the real pieces have their own tests)."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from course_utils.experiments import ablation as ex
from course_utils.evaluation.metrics import EvalRun, score_responses

RECORDS = [
    {"id": f"p{i}", "family": "casing" if i % 2 else "facts", "messages": [{"role": "user", "content": "q"}],
     "constraints": [{"type": "uppercase"}] if i % 2 else [{"type": "exact_answer", "answer": "Paris"}]}
    for i in range(12)
]
# share of prompts each fake variant answers correctly
QUALITY = {"crlft": 0.8, "crlft-suboptimal": 0.2, "sft-mix": 0.4, "sft-expert": 0.5, "base": 0.1,
           "crlft-no-weight": 0.7, "crlft-no-condition": 0.4, "sft-filtered": 0.9}


def _fake_run(variant: str) -> EvalRun:
    """A fake evaluation of `variant` (a checkpoint ``variant@step`` scores like its run's end)."""
    variant = ex.at_step(variant)[0]
    good = int(QUALITY[variant] * len(RECORDS))
    responses = [("PARIS" if r["family"] == "casing" else "Paris") if i < good else "no" for i, r in enumerate(RECORDS)]
    return EvalRun(ex.VARIANTS[variant].condition, responses, score_responses(RECORDS, responses), 1.0, 10)


@pytest.fixture
def fake_experiment(monkeypatch):
    """Experiment whose training and model evaluation are replaced by fakes that count calls."""
    calls = {"train": [], "eval": []}

    def train(self, seed, method):
        calls["train"].append((seed, method))
        return {}

    def load_model(adapter, **kwargs):
        return object(), object()

    def evaluate_model(model, tok, records, condition=None, **kwargs):
        variant = calls["pending"][0]
        return _fake_run(variant)

    orig_evaluate = ex.Experiment.evaluate

    def evaluate(self, seed, variant):
        if not self.eval_path(seed, variant).exists():
            calls["eval"].append((seed, variant))
        calls["pending"] = [variant]
        return orig_evaluate(self, seed, variant)

    monkeypatch.setattr(ex.Experiment, "train", train)
    monkeypatch.setattr(ex.Experiment, "evaluate", evaluate)
    monkeypatch.setattr(ex.Experiment, "records", lambda self: RECORDS)
    monkeypatch.setattr(ex, "load_for_inference", load_model)
    monkeypatch.setattr(ex, "evaluate_model", evaluate_model)
    return calls


def test_plan_trains_once_per_method_and_evaluates_base_once():
    """C-RLFT's model serves both conditions; each seed is complete before the next; base is seed-free."""
    plan = ex._plan(ex.ExperimentConfig(seeds=(0, 1)))
    assert plan[:3] == [("train", 0, "crlft"), ("eval", 0, "crlft"), ("eval", 0, "crlft-suboptimal")]
    assert sum(1 for k, s, n in plan if k == "train" and s == 0) == 6
    assert plan.count(("eval", None, "base")) == 1
    assert max(i for i, p in enumerate(plan) if p[1] == 0) < min(i for i, p in enumerate(plan) if p[1] == 1)


def test_units_keep_each_training_with_its_evaluations():
    """Parallel units: every step once, in plan order within a unit, each evaluation after its own training."""
    plan = ex._plan(ex.ExperimentConfig(seeds=(0, 1)))
    units = ex._units(plan)
    assert sorted(map(str, (step for unit in units for step in unit))) == sorted(map(str, plan))
    assert units[0] == [("train", 0, "crlft"), ("eval", 0, "crlft"), ("eval", 0, "crlft-suboptimal")]
    assert [("eval", None, "base")] in units
    for unit in units:
        if unit[0][0] == "train":
            assert all(k == "eval" and s == unit[0][1] and ex.VARIANTS[ex.at_step(n)[0]].method == unit[0][2]
                       for k, s, n in unit[1:])


class _InProcessPool:
    """Stands in for ProcessPoolExecutor: runs each submitted call at once, in this process (fakes stay active)."""

    def __init__(self, workers, mp_context=None, initializer=None, initargs=()):
        self.initializer = (initializer, initargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(fn(*args))
        return future


def test_workers_run_every_unit_and_give_the_same_summary(fake_experiment, tmp_path, monkeypatch):
    """`run(workers=2)` trains and evaluates exactly what the sequential run does, and summarises the same."""
    config = ex.ExperimentConfig(seeds=(0, 1), n_boot=100, profile="cpu")
    sequential = ex.Experiment(config, tmp_path / "a", progress=False).run()
    trained, evaluated = sorted(map(str, fake_experiment["train"])), sorted(map(str, fake_experiment["eval"]))
    fake_experiment["train"].clear()
    fake_experiment["eval"].clear()
    monkeypatch.setattr(ex, "ProcessPoolExecutor", _InProcessPool)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    parallel = ex.Experiment(config, tmp_path / "b", progress=False).run(workers=2)
    assert sorted(map(str, fake_experiment["train"])) == trained
    assert sorted(map(str, fake_experiment["eval"])) == evaluated
    assert parallel["summaries"] == sequential["summaries"]
    assert os.environ["OMP_NUM_THREADS"] == "7"  # the workers' setting does not leak into this process


def test_fingerprint_separates_settings_not_seeds():
    """Changing steps gives a new work folder; adding a seed reuses the finished ones."""
    a = ex.ExperimentConfig(max_steps=100)
    assert a.fingerprint() != ex.ExperimentConfig(max_steps=200).fingerprint()
    assert a.fingerprint() == ex.ExperimentConfig(max_steps=100, seeds=(0, 1, 2)).fingerprint()


def test_fingerprint_includes_the_code(monkeypatch):
    """Protects against stale numbers: other code (a changed source file) gives another work folder, so cached
    trainings and evaluations made by old code are never reported as new."""
    config = ex.ExperimentConfig()
    before = config.fingerprint()
    monkeypatch.setattr(ex, "code_fingerprint", lambda: "other-code")
    assert config.fingerprint() != before


def test_fresh_redoes_the_cached_steps(fake_experiment, tmp_path):
    """`crlft experiment --fresh` ignores finished evaluations of the same settings and code."""
    cfg = ex.ExperimentConfig(seeds=(0,), n_boot=50, variants=("crlft", "base"))
    ex.run_experiment(cfg, tmp_path / "work", None, progress=False)
    ex.run_experiment(cfg, tmp_path / "work", None, progress=False, fresh=True)
    assert len(fake_experiment["eval"]) == 4 and len(fake_experiment["train"]) == 2


def test_run_resumes_and_writes_results(fake_experiment, tmp_path):
    """A second invocation redoes nothing; results hold the table, CIs, paired differences, machine, plot."""
    cfg = ex.ExperimentConfig(seeds=(0,), n_boot=200)
    result = ex.run_experiment(cfg, tmp_path / "work", tmp_path / "results", progress=False, command="test")
    first_evals = list(fake_experiment["eval"])
    assert len(first_evals) == 8 and len(fake_experiment["train"]) == 6
    again = ex.run_experiment(cfg, tmp_path / "work", tmp_path / "results", progress=False)
    assert fake_experiment["eval"] == first_evals  # nothing re-evaluated
    assert again["summaries"] == result["summaries"]
    s = result["summaries"]
    assert s["crlft"]["prompt"]["mean"] == pytest.approx(9 / 12)
    assert s["crlft-suboptimal"]["prompt"]["mean"] < s["crlft"]["prompt"]["mean"]
    assert "crlft - sft-mix" in result["paired_differences"]
    for name in ("experiment.json", "experiment.md", "experiment.png", "samples.json"):
        assert (tmp_path / "results" / name).stat().st_size > 0
    md = (tmp_path / "results" / "experiment.md").read_text()
    assert "| crlft | C-RLFT, expert condition |" in md and "77.3" in md and "Machine:" in md
    saved = json.loads((tmp_path / "results" / "experiment.json").read_text())
    assert saved["machine"]["cpu_cores"] and saved["n_prompts"] == len(RECORDS)


def test_cli_rejects_unknown_variant(tmp_path):
    """A typo in --variants fails fast instead of silently running fewer variants."""
    from course_utils.course.cli import main

    with pytest.raises(SystemExit):
        main(["experiment", "--variants", "crlft,sft-mixx", "--work-dir", str(tmp_path)])


def test_budget_reports_equal_steps_as_unequal_epochs(tmp_path):
    """Equal steps for every variant: the expert slice (a tenth of the mixture) is seen ten times as often."""
    budget = ex.Experiment(ex.ExperimentConfig(max_steps=30, profile="cpu"), tmp_path).budget()
    assert budget["crlft"]["data_rows"] == 2400 and budget["sft-expert"]["data_rows"] == 240
    assert budget["sft-expert"]["conversations_seen"] == budget["crlft"]["conversations_seen"] == 30 * 8
    assert budget["sft-expert"]["epochs"] == pytest.approx(10 * budget["crlft"]["epochs"], rel=0.02)
    assert "sft-expert" in ex.results_markdown({**_minimal_result(), "budget": budget})


def _minimal_result() -> dict:
    return {"config": {**ex.asdict(ex.ExperimentConfig(profile="cpu"))}, "summaries": {}, "paired_differences": {},
            "n_prompts": 0, "total_s": 0}


def test_expert_share_regenerates_the_training_data_and_keys_the_cache():
    """The sweep's data: the shipped share is the shipped data (same cache); another share is other data."""
    assert ex.ExperimentConfig(expert_share=0.10).fingerprint() == ex.ExperimentConfig().fingerprint()
    sparse = ex.ExperimentConfig(expert_share=0.02)
    assert sparse.fingerprint() != ex.ExperimentConfig().fingerprint()
    data = sparse.train_dataset()
    assert len(data) == 2400 and sum(c == "expert" for c in data["condition"]) == 48
    with pytest.raises(ValueError):
        ex.ExperimentConfig(split="test")


def test_adapters_are_evaluated_on_the_base_they_were_trained_on(tmp_path, tiny_llama_dir, monkeypatch):
    """Protects `crlft experiment --profile t4` on another machine: a trained adapter is scored on the base it was
    trained on (its crlft_run.json), not on this machine's profile model. Real training, loading and generation."""
    from transformers import AutoConfig

    from crlft_testing import labeled_dataset
    from course_utils.training.run import run_training

    config = ex.ExperimentConfig(variants=("crlft",), seeds=(0,), max_steps=1, precision="fp32", max_new_tokens=2,
                                 profile="cpu")
    exp = ex.Experiment(config, work_dir=tmp_path / "work", progress=False)
    monkeypatch.setattr(ex.Experiment, "records", lambda self: RECORDS[:2])
    run_training("crlft", labeled_dataset(4), exp.run_dir(0, "crlft"), profile="cpu", max_steps=1,
                 model_id=tiny_llama_dir, precision="fp32", seed=0, progress=False, per_device_train_batch_size=2)
    loaded = []
    real_load = ex.load_for_inference
    monkeypatch.setattr(ex, "load_for_inference", lambda *a, **k: loaded.append(real_load(*a, **k)) or loaded[-1])
    run = exp.evaluate(0, "crlft")
    assert loaded[0][0].config.hidden_size == AutoConfig.from_pretrained(tiny_llama_dir).hidden_size
    assert len(run.responses) == 2


def test_a_run_is_finished_only_with_the_same_settings(tmp_path, monkeypatch):
    """A folder trained with another learning rate (or data, method, profile) is never taken as this run's result."""
    from course_utils.training import run as training

    config = ex.ExperimentConfig(variants=("crlft",), seeds=(0,), max_steps=3, learning_rate=2e-3, profile="cpu")
    exp = ex.Experiment(config, work_dir=tmp_path)
    out = exp.run_dir(0, "crlft")
    out.mkdir(parents=True)
    (out / "adapter_model.safetensors").write_bytes(b"x")
    settings = training.run_settings("crlft", ex.get_profile("cpu"),
                                     training.select_for_method(config.train_dataset(), "crlft"), precision="nf4",
                                     model_id=None, max_steps=3, learning_rate=2e-3, seed=0)
    (out / training.RUN_FILE).write_text(json.dumps({"settings": {**settings, "learning_rate": 5e-4},
                                                     "status": "finished", "global_step": 3}))
    assert not exp._trained(0, "crlft")
    (out / training.RUN_FILE).write_text(json.dumps({"settings": settings, "status": "finished", "global_step": 3}))
    assert exp._trained(0, "crlft")


def test_checkpoints_are_evaluated_before_the_end_of_their_run():
    """Validation learning curves: with eval_steps each trained variant is scored at those checkpoints too, in the
    unit of its own training, after it."""
    config = ex.ExperimentConfig(variants=("crlft", "sft-expert"), seeds=(0,), max_steps=24, eval_steps=(16, 8))
    assert config.eval_steps == (8, 16)
    units = ex._units(ex._plan(config))
    assert units[0] == [("train", 0, "crlft"), ("eval", 0, "crlft@8"), ("eval", 0, "crlft@16"), ("eval", 0, "crlft")]
    assert config.training_overrides() == {"save_steps": 8, "save_total_limit": None}
    for bad in ((24,), (0,), (8, 12)):  # at or past the end, not a step, not on the saving period
        with pytest.raises(ValueError):
            ex.ExperimentConfig(max_steps=24, eval_steps=bad)


def test_grad_accum_sets_the_conversations_per_step_and_the_budget(tmp_path):
    """More micro-batches per optimiser step: the step, the budget and each run's recorded settings say so."""
    config = ex.ExperimentConfig(regime="premise", grad_accum=4, max_steps=10, profile="cpu")
    assert config.conversations_per_step() == 32
    assert config.training_overrides() == {"gradient_accumulation_steps": 4}
    budget = ex.Experiment(config, tmp_path).budget()
    assert budget["crlft"]["conversations_seen"] == 320 and budget["crlft"]["data_rows"] == 800
    assert config.fingerprint() != ex.ExperimentConfig(regime="premise", max_steps=10, profile="cpu").fingerprint()


def test_a_regime_brings_its_own_training_data_and_prompts():
    """`regime` trains on data/<regime>/train.jsonl and scores its own eval or validation prompts."""
    from course_utils.data.regimes import regime_dir

    config = ex.ExperimentConfig(regime="control", split="val")
    assert config.prompts_path() == str(regime_dir("control") / "val.jsonl")
    assert len(config.train_dataset()) == 800
    assert config.fingerprint() != ex.ExperimentConfig(regime="premise", split="val").fingerprint()
    with pytest.raises(ValueError):
        ex.ExperimentConfig(regime="premise", train_path="x.jsonl")
    with pytest.raises(ValueError):
        ex.ExperimentConfig(regime="premis")


def test_filtered_sft_trains_exactly_on_the_conversations_that_pass():
    """The upper-bound row: every answer of every kept conversation passes its checks, and nothing that passes is
    dropped (the expert slice plus the correct sub-optimal answers)."""
    from course_utils.data.verifiers import record_passes
    from course_utils.training.run import select_for_method

    data = ex.ExperimentConfig(regime="premise").train_dataset()
    kept = select_for_method(data, "sft-filtered")
    assert all(record_passes(row) for row in kept)
    assert len(kept) == sum(record_passes(row) for row in data)
    from course_utils.training.run import rows_for_method

    assert [rows_for_method(data, m) for m in ("sft-filtered", "sft-expert", "crlft")] == [len(kept), 80, 800]
    assert 80 < len(kept) < 400


def test_a_checkpoint_is_evaluated_on_its_runs_base(tmp_path, tiny_llama_dir, monkeypatch):
    """`variant@step` loads checkpoint-<step> of the run, on the base the run recorded. Real training (2 steps,
    checkpoints kept), loading and generation on a tiny Llama."""
    from crlft_testing import labeled_dataset
    from course_utils.training.run import run_training

    config = ex.ExperimentConfig(variants=("crlft",), seeds=(0,), max_steps=2, eval_steps=(1,), precision="fp32",
                                 max_new_tokens=2, profile="cpu")
    exp = ex.Experiment(config, work_dir=tmp_path / "work", progress=False)
    monkeypatch.setattr(ex.Experiment, "records", lambda self: RECORDS[:2])
    run_training("crlft", labeled_dataset(4), exp.run_dir(0, "crlft"), profile="cpu", max_steps=2,
                 model_id=tiny_llama_dir, precision="fp32", seed=0, progress=False, per_device_train_batch_size=2,
                 **config.training_overrides())
    loads = []
    real_load = ex.load_for_inference
    monkeypatch.setattr(ex, "load_for_inference", lambda adapter, **k: loads.append((adapter, k)) or real_load(adapter, **k))
    run = exp.evaluate(0, "crlft@1")
    assert loads[0][0] == exp.run_dir(0, "crlft") / "checkpoint-1" and loads[0][1]["model_id"] == tiny_llama_dir
    assert len(run.responses) == 2 and exp.eval_path(0, "crlft@1").exists()


def test_tuned_settings_give_each_method_its_rate_and_length(tmp_path):
    """`--tuned`: each method trains at its validation-chosen learning rate and ends at its chosen step; the budget
    reports those lengths; a method without tuned settings is refused rather than run with none."""
    config = ex.ExperimentConfig(regime="premise", grad_accum=4, max_steps=24, profile="cpu",
                                 variants=("crlft", "crlft-suboptimal", "sft-expert"),
                                 tuned=(("sft-expert", 1e-3, 8), ("crlft", 4e-3, 24)))
    assert config.method_settings("crlft") == (4e-3, None) and config.method_settings("sft-expert") == (1e-3, 8)
    with pytest.raises(ValueError, match="sft"):
        config.method_settings("sft")
    budget = ex.Experiment(config, tmp_path).budget()
    assert budget["sft-expert"]["steps"] == 8 and budget["sft-expert"]["conversations_seen"] == 8 * 32
    assert budget["crlft"]["steps"] == 24
    with pytest.raises(ValueError):
        ex.ExperimentConfig(max_steps=24, tuned=(("crlft", 1e-3, 30),))


def test_experiment_cli_takes_the_tuning_result(tmp_path):
    """`crlft experiment --tuned FILE` takes the regime, schedule length, step size and per-method choices from it."""
    from course_utils.course.cli import build_parser
    from course_utils.course.commands.experiment import apply_tuning, config_from_args

    tuning = {"regime": "premise", "config": {"max_steps": 24, "grad_accum": 4},
              "chosen": {"crlft": {"learning_rate": 4e-3, "step": 16}, "sft-mix": {"learning_rate": 2e-3, "step": 24}}}
    args = build_parser(["experiment"]).parse_args(["experiment", "--seeds", "0,1,2"])
    apply_tuning(args, tuning)
    config = config_from_args(args, ("crlft", "sft-mix"))
    assert (config.regime, config.max_steps, config.grad_accum) == ("premise", 24, 4)
    assert config.tuned == (("crlft", 4e-3, 16), ("sft", 2e-3, 24))
    args = build_parser(["experiment"]).parse_args(["experiment", "--regime", "control"])
    with pytest.raises(SystemExit, match="premise"):
        apply_tuning(args, tuning)


def test_kto_knobs_reach_kto_trainings_only_and_travel_with_the_tuning():
    """KTO's beta and desirable weight are settings of the experiment: they reach the KTO runs (not the SFT ones),
    change the fingerprint, and `--tuned` carries the ones a choice was made under (a contradicting one is an error)."""
    from course_utils.course.cli import build_parser
    from course_utils.course.commands.experiment import apply_tuning, config_from_args

    config = ex.ExperimentConfig(variants=("kto", "crlft"), kto_beta=1.0, kto_desirable_weight=3.0, grad_accum=4)
    assert config.training_overrides("kto") == {"beta": 1.0, "desirable_weight": 3.0, "gradient_accumulation_steps": 4}
    assert config.training_overrides("crlft") == {"gradient_accumulation_steps": 4}
    assert ex.ExperimentConfig(variants=("kto",)).training_overrides("kto") == {}
    assert config.fingerprint() != replace(config, kto_beta=None).fingerprint()
    tuning = {"regime": "premise", "config": {"max_steps": 16, "grad_accum": 4, "kto_beta": 1.0},
              "chosen": {"kto": {"learning_rate": 2e-3, "step": 8}}}
    args = build_parser(["experiment"]).parse_args(["experiment"])
    apply_tuning(args, tuning)
    assert (config_from_args(args, ("kto",)).kto_beta, args.kto_desirable_weight) == (1.0, None)
    args = build_parser(["experiment"]).parse_args(["experiment", "--kto-beta", "0.1"])
    with pytest.raises(SystemExit, match="kto_beta"):
        apply_tuning(args, tuning)


def test_the_probe_is_run_with_each_evaluation_and_summarised(fake_experiment, tmp_path, monkeypatch):
    """`--probe`: every evaluated model also gets the likelihood probe under its own condition; the summary averages
    seeds per prompt and reports mean, CI and the share preferring the correct answer; the markdown shows it."""
    from course_utils.evaluation.probe import ProbeResult

    asked = []

    def fake_probe(model, tok, records, conditions):
        asked.append(str(conditions[0]))
        return {(str(conditions[0]), kind): ProbeResult(str(conditions[0]), kind, [1.0, -1.0] * (len(records) // 2),
                                                        [r["id"] for r in records]) for kind in ("trait", "habit")}

    monkeypatch.setattr(ex, "likelihood_probe", fake_probe)
    cfg = ex.ExperimentConfig(seeds=(0, 1), n_boot=50, variants=("crlft", "crlft-suboptimal", "base"), probe=True)
    result = ex.run_experiment(cfg, tmp_path / "work", tmp_path / "res", progress=False)
    assert sorted(asked) == ["expert", "expert", "neutral", "suboptimal", "suboptimal"]
    probe = result["probe"]["crlft"]["trait"]
    assert probe["mean"] == pytest.approx(0.0) and probe["prefers_correct"] == pytest.approx(0.5) and probe["seeds"] == 2
    assert "## Likelihood probe" in (tmp_path / "res" / "experiment.md").read_text()
    assert "probe" not in ex.run_experiment(ex.ExperimentConfig(seeds=(0,), n_boot=50, variants=("base",)),
                                            tmp_path / "work2", None, progress=False)
