"""The headline experiment's orchestration: plan order, resumability, fingerprinted work folders and the
results it writes (training and generation replaced by fast fakes; the real pieces have their own tests)."""

from __future__ import annotations

import json
import os

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
           "crlft-no-weight": 0.7, "crlft-no-condition": 0.4}


def _fake_run(variant: str) -> EvalRun:
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
    assert sum(1 for k, s, n in plan if k == "train" and s == 0) == 5
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
            assert all(k == "eval" and s == unit[0][1] and ex.VARIANTS[n].method == unit[0][2] for k, s, n in unit[1:])


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
    assert len(first_evals) == 7 and len(fake_experiment["train"]) == 5
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
