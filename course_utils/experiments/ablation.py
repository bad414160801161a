"""The course's headline experiment (`crlft experiment`): the paper's ablation, measured on the offline
data with code-checked scores.

Variants (one training run each, same data, steps, learning rate and seed; evaluated greedily in NF4
on the held-out prompts, or on the validation prompts with ``split="val"``, where settings are chosen):

| variant | trains | asks at inference |
|---|---|---|
| `base` | nothing (the base model, its own chat template) | - |
| `sft-mix` | plain SFT on the whole mixture | neutral prefix |
| `sft-expert` | plain SFT on the expert slice only | neutral prefix |
| `crlft` | C-RLFT: class prefixes + class weights 1.0 / 0.1 | expert class |
| `crlft-no-weight` | class prefixes, every weight 1 | expert class |
| `crlft-no-condition` | neutral prefix, class weights | neutral prefix |
| `crlft-suboptimal` | (the `crlft` model) | sub-optimal class |
| `kto` | KTO (TRL's `KTOTrainer`): expert answers desirable, sub-optimal undesirable | neutral prefix |

Every variant gets the same number of optimiser steps; `budget()` reports what that means in epochs of each
variant's own data (the expert slice is a tenth of the mixture, so at equal steps it is seen ten times as often).
With ``expert_share`` the training data is regenerated with that share of expert conversations (same size, same
generator seed, so the same entities and the same evaluation prompts): the expert-share sweep
(`course_utils.experiments.sweep`).

Resumable: every training run checkpoints and resumes; every finished evaluation is a JSON file that is
reused. The work folder is keyed by the settings, so changing them never mixes results. Results
(table with means and bootstrap 95 % CIs, per-family breakdown, paired differences, machine, time
taken, the plot, sample answers) go to `results/` (`results_dir`).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from course_utils.data.conditions import Condition
from course_utils.data.labeling import label_by_source
from course_utils.data.loaders import data_dir, load_eval_set, load_train_dataset
from course_utils.data.synth import SynthConfig, generate
from course_utils.evaluation.probe import likelihood_probe
from course_utils.evaluation.metrics import (
    EVAL_MAX_NEW_TOKENS,
    EvalRun,
    Summary,
    answer_kinds,
    bootstrap_ci,
    evaluate_model,
    paired_difference,
    summarize,
    summary_table,
)
from course_utils.data.regimes import regime, regime_dir
from course_utils.inference.generation import load_for_inference, trained_base
from course_utils.paths import runs_dir
from course_utils.evaluation.plots import plot_ablation
from course_utils.hardware.profiles import get_profile
from course_utils.hardware.machine import machine_info
from course_utils.training.run import (
    COURSE_STEPS, METHODS, finished_run, rows_for_method, run_settings, run_training, select_for_method,
)


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: which training run it uses and which condition it asks for."""

    name: str
    method: str | None  # training method (course_utils.training.run.METHODS), None: the base model
    condition: Condition  # asked for at inference (the base model's own template ignores it)
    description: str
    paper: str = ""  # the paper's corresponding row (Table 2, average of three benchmarks; secondary)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("base", None, Condition.NEUTRAL, "base model, no fine-tuning", "-"),
        Variant("sft-mix", "sft", Condition.NEUTRAL, "SFT on the mixture", "-"),
        Variant("sft-expert", "sft-expert", Condition.NEUTRAL, "SFT on the expert slice only", "64.5"),
        Variant("crlft", "crlft", Condition.EXPERT, "C-RLFT, expert condition", "77.3"),
        Variant("crlft-no-weight", "crlft-no-weight", Condition.EXPERT, "C-RLFT without reward weighting", "74.0"),
        Variant("crlft-no-condition", "crlft-no-condition", Condition.NEUTRAL, "C-RLFT without class conditioning",
                "60.5"),
        Variant("crlft-suboptimal", "crlft", Condition.SUBOPTIMAL, "C-RLFT asked for the sub-optimal class", "-"),
        Variant("sft-filtered", "sft-filtered", Condition.NEUTRAL,
                "SFT on the verifier-filtered mixture (a label for every answer)", "-"),
        Variant("kto", "kto", Condition.NEUTRAL, "KTO on the class labels (TRL's KTOTrainer)", "-"),
    )
}


#: The paper's ablation (the default of an experiment); `kto` is lesson 07's alternative, run when named.
ABLATION_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v != "kto")


@dataclass
class ExperimentConfig:
    """Settings of one experiment; everything that changes its numbers is part of its fingerprint."""

    variants: tuple[str, ...] = ABLATION_VARIANTS
    seeds: tuple[int, ...] = (0,)
    max_steps: int = COURSE_STEPS  # the budget: 15 trainings of the 3-seed ablation fit in about 35 min on 2 CPU cores
    learning_rate: float | None = None  # None: the profile's (the cpu profile's was chosen on the validation prompts)
    split: str = "eval"  # "eval": the held-out prompts (reporting); "val": the validation prompts (choosing)
    expert_share: float | None = None  # None: the shipped training data; else regenerated with this expert share
    profile: str | None = None  # None: the profile chosen for this machine (COURSE_PROFILE or detected)
    precision: str = "nf4"
    eval_limit: int | None = 120  # a family-balanced subset (15 per family); None: every prompt of the split
    max_new_tokens: int = EVAL_MAX_NEW_TOKENS
    batch_size: int = 60  # prompts per generate() call: larger batches amortise the 4-bit dequantisation (CPU)
    train_path: str | None = None
    eval_path: str | None = None
    regime: str | None = None  # a data regime (course_utils.data.regimes): its train.jsonl and its eval/val prompts
    grad_accum: int | None = None  # micro-batches per optimiser step (None: the profile's); the loss is normalised
    # over the whole step, so more conversations per step give a steadier expert share per step
    eval_steps: tuple[int, ...] = ()  # also evaluate the checkpoints at these steps (validation learning curves)
    tuned: tuple[tuple[str, float, int], ...] = ()  # (method, learning rate, step) chosen on the validation prompts
    probe: bool = False  # also run the likelihood probe (course_utils.evaluation.probe) on each model, its condition
    # (`crlft tune`): each method trains at its rate and ends at its step, on the schedule of max_steps
    kto_beta: float | None = None  # KTO's beta (None: KTO_BETA, TRL's and the paper's 0.1); KTO runs only
    kto_desirable_weight: float | None = None  # None: balanced from the data (balanced_desirable_weight); KTO only
    n_boot: int = 2000

    def __post_init__(self) -> None:
        self.profile = get_profile(self.profile).name
        if self.split not in ("eval", "val"):
            raise ValueError(f"split must be 'eval' or 'val', not {self.split!r}")
        if self.expert_share is not None and self.train_path is not None:
            raise ValueError("expert_share regenerates the training data: it cannot be combined with train_path")
        if self.expert_share == SynthConfig().expert_share:  # the shipped data: same runs, same cache
            self.expert_share = None
        if self.regime is not None:
            regime(self.regime)  # an unknown name is an error here, not after the first training
            if self.train_path is not None or self.eval_path is not None:
                raise ValueError("regime brings its own data: it cannot be combined with train_path or eval_path")
        self.eval_steps = tuple(sorted(int(s) for s in self.eval_steps))
        self.tuned = tuple(sorted((str(m), float(lr), int(step)) for m, lr, step in self.tuned))
        for method, _, step in self.tuned:
            if not 0 < step <= self.max_steps:
                raise ValueError(f"tuned step {step} of {method!r} must lie in 1..max_steps={self.max_steps}")
        if any(not 0 < s < self.max_steps for s in self.eval_steps):
            raise ValueError(f"eval_steps {self.eval_steps} must lie strictly between 0 and max_steps={self.max_steps}")
        if any(s % self.eval_steps[0] for s in self.eval_steps) or self.max_steps % (self.eval_steps or (1,))[0]:
            raise ValueError(f"eval_steps {self.eval_steps} must be multiples of the first, and max_steps of it too "
                             "(checkpoints are saved every eval_steps[0] steps)")

    def method_settings(self, method: str) -> tuple[float | None, int | None]:
        """(learning rate, step the run ends at) of a method: the tuned ones, else (`learning_rate`, None: the end).
        With `tuned` set, a method that was not tuned is an error (it would run with settings chosen for none)."""
        for name, lr, step in self.tuned:
            if name == method:
                return lr, (step if step < self.max_steps else None)
        if self.tuned:
            raise ValueError(f"method {method!r} has no tuned settings (tuned: {', '.join(m for m, _, _ in self.tuned)})")
        return self.learning_rate, None

    def conversations_per_step(self) -> int:
        """Conversations in one optimiser step: the profile's micro-batch times the accumulation steps."""
        profile = get_profile(self.profile)
        return profile.batch_size * (self.grad_accum or profile.grad_accum)

    def training_overrides(self, method: str | None = None) -> dict[str, Any]:
        """Trainer-configuration overrides the trainings of this experiment get (recorded in each run's settings):
        every method's, plus KTO's own knobs when `method` trains with KTO."""
        overrides: dict[str, Any] = {}
        if method is not None and METHODS[method].trainer == "kto":
            if self.kto_beta is not None:
                overrides["beta"] = self.kto_beta
            if self.kto_desirable_weight is not None:
                overrides["desirable_weight"] = self.kto_desirable_weight
        if self.grad_accum is not None:
            overrides["gradient_accumulation_steps"] = self.grad_accum
        if self.eval_steps:  # keep every checkpoint that is evaluated
            overrides.update(save_steps=self.eval_steps[0], save_total_limit=None)
        return overrides

    def prompts_path(self) -> str | None:
        """The prompt file scored: `eval_path`, the regime's prompts of `split`, or None (the shipped ones)."""
        if self.regime is not None:
            return str(regime_dir(self.regime) / f"{self.split}.jsonl")
        return self.eval_path

    def train_dataset(self):
        """The labeled training conversations: the shipped file, `train_path` or the regime's file, or regenerated at
        `expert_share` (with the regime's design when one is set)."""
        if self.expert_share is None:
            path = regime_dir(self.regime) / "train.jsonl" if self.regime is not None else self.train_path
            return load_train_dataset(path)
        if self.regime is not None:  # the regime's design at another share (same seed: the same entities)
            chosen = regime(self.regime)
            records, _ = generate(replace(chosen.config, expert_share=self.expert_share), chosen.seed)
        else:
            records, _ = generate(SynthConfig(expert_share=self.expert_share))
        return label_by_source(records)

    def fingerprint(self) -> str:
        """Short hash of what affects the numbers: the settings (not the variant list) and the code."""
        d = asdict(self)
        d.pop("variants")
        d.pop("seeds")
        d.pop("n_boot")
        d["code"] = code_fingerprint()
        d["compute_dtype"] = str(get_profile(self.profile).compute_dtype)  # bf16 and fp32 runs never share a folder
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The package version and a hash of every source file of ``course_utils`` and of the shipped data: a cached
    training or evaluation made by other code or data is never reused. Computed once per process (the code it runs)."""
    root = Path(__file__).resolve().parents[1]  # the package
    digest = hashlib.sha1(metadata.version("crlft-course").encode())
    files = [(p.relative_to(root).as_posix(), p) for p in root.rglob("*")
             if p.suffix in (".py", ".jsonl", ".json", ".yaml")]
    shipped = data_dir()  # the shipped data (and the regimes' folders), where they live
    files += [(f"data/{p.relative_to(shipped).as_posix()}", p) for p in shipped.rglob("*") if p.is_file()]
    for name, path in sorted(set(files)):
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


#: Execution order: C-RLFT and its two headline comparisons first, so a partial run is already telling.
RUN_ORDER = ("crlft", "crlft-suboptimal", "sft-mix", "sft-expert", "crlft-no-weight", "crlft-no-condition", "sft-filtered",
             "kto", "base")


def at_step(variant: str) -> tuple[str, int | None]:
    """``"crlft@8"`` -> ``("crlft", 8)`` (the checkpoint at step 8); ``"crlft"`` -> ``("crlft", None)`` (the end)."""
    name, _, step = variant.partition("@")
    return name, int(step) if step else None


def _plan(config: ExperimentConfig) -> list[tuple[str, int | None, str]]:
    """Ordered steps: ("train", seed, method) and ("eval", seed, variant), seed after seed (each seed
    complete before the next starts); the base model is evaluated once, after the first seed. With `eval_steps`,
    each trained variant is also evaluated at those checkpoints (``variant@step``)."""
    steps: list[tuple[str, int | None, str]] = []
    ordered = [v for v in RUN_ORDER if v in config.variants]
    for i, seed in enumerate(config.seeds):
        done_methods: list[str] = []
        for name in ordered:
            if name == "base":
                if i == 0:
                    steps.append(("eval", None, "base"))
                continue
            v = VARIANTS[name]
            if v.method is None:
                continue
            if v.method not in done_methods:
                steps.append(("train", seed, v.method))
                done_methods.append(v.method)
            steps += [("eval", seed, f"{name}@{step}") for step in config.eval_steps]
            steps.append(("eval", seed, name))
    return steps


def _units(plan: list[tuple[str, int | None, str]]) -> list[list[tuple[str, int | None, str]]]:
    """The plan cut into independent units, in plan order: each training with the evaluations of its model, and
    the base model's evaluation alone."""
    units: list[list[tuple[str, int | None, str]]] = []
    of_run: dict[tuple[int | None, str], list] = {}
    for step in plan:
        kind, seed, name = step
        if kind == "train":
            of_run[(seed, name)] = [step]
            units.append(of_run[(seed, name)])
        elif seed is None:
            units.append([step])
        else:
            of_run[(seed, VARIANTS[at_step(name)[0]].method)].append(step)
    return units


def _execute_unit(config: ExperimentConfig, folder: Path, steps: list[tuple[str, int | None, str]]) -> None:
    """One unit of the plan, in a worker process (`Experiment.run` with workers > 1), in the parent's folder (a
    worker that recomputed the code fingerprint would pick another folder if the code were edited meanwhile)."""
    Experiment(config, folder=folder, progress=False).execute(steps)


def _write_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` through a temporary file (an interrupted write never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def execute_in_processes(jobs: list[tuple["Experiment", list[tuple[str, int | None, str]]]], workers: int,
                         bar: Any = None) -> None:
    """Run units of the plans of one or more experiments (``(experiment, unit)`` pairs, in order) in `workers` fresh
    processes, each with its share of the CPU threads: one pool for all of them, so no worker idles between
    experiments."""
    threads = max(1, torch.get_num_threads() // workers)
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # inherited by the workers (OpenMP reads it at start)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=torch.set_num_threads, initargs=(threads,)) as pool:
            pending = {pool.submit(_execute_unit, exp.config, exp.dir, unit): unit for exp, unit in jobs}
            for future in as_completed(pending):
                future.result()  # a failed unit raises here, with the worker's traceback
                if bar is not None:
                    bar.update(len(pending[future]))
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


class Experiment:
    """Runs (or resumes) the plan and summarises it. `work_dir` holds runs and evaluations."""

    def __init__(self, config: ExperimentConfig, work_dir: str | Path | None = None, progress: bool = True,
                 fresh: bool = False, folder: str | Path | None = None):
        """`folder`: the exact work folder (default: `work_dir` / the settings' fingerprint)."""
        self.config = config
        root = Path(work_dir) if work_dir else runs_dir() / "experiment"
        self.dir = Path(folder) if folder else root / config.fingerprint()
        if fresh and self.dir.exists():  # asked for: every training and evaluation of these settings is redone
            shutil.rmtree(self.dir)
        self.progress = progress
        self._records: list[dict] | None = None
        self._train_dataset = None

    # ---- paths ----
    def run_dir(self, seed: int, method: str) -> Path:
        return self.dir / f"seed{seed}" / method

    def eval_path(self, seed: int | None, variant: str) -> Path:
        return self.dir / ("base" if seed is None else f"seed{seed}") / f"eval-{variant}.json"

    def probe_path(self, seed: int | None, variant: str) -> Path:
        return self.eval_path(seed, variant).with_suffix(".probe.json")

    def records(self) -> list[dict]:
        """The held-out prompts this experiment scores."""
        if self._records is None:
            self._records = load_eval_set(self.config.prompts_path(), limit=self.config.eval_limit,
                                          split=self.config.split)
        return self._records

    def train_dataset(self):
        """The training conversations (`ExperimentConfig.train_dataset`), built once per experiment: the check for
        a finished run and every training use the same copy."""
        if self._train_dataset is None:
            self._train_dataset = self.config.train_dataset()
        return self._train_dataset

    def _trained(self, seed: int, method: str) -> bool:
        """Whether this run is finished with exactly this experiment's settings and data (`finished_run`)."""
        learning_rate, stop_at = self.config.method_settings(method)
        settings = run_settings(method, get_profile(self.config.profile),
                                select_for_method(self.train_dataset(), method),
                                precision=self.config.precision, model_id=None, max_steps=self.config.max_steps,
                                learning_rate=learning_rate, seed=seed,
                                config_overrides=self.config.training_overrides(method), stop_at=stop_at)
        return finished_run(self.run_dir(seed, method), settings)

    # ---- steps ----
    def train(self, seed: int, method: str) -> dict:
        """Train (or resume) one run; returns its timing record."""
        out = self.run_dir(seed, method)
        if self._trained(seed, method):
            return json.loads((out / "crlft_run.json").read_text())
        learning_rate, stop_at = self.config.method_settings(method)
        result = run_training(
            method, dataset=self.train_dataset(), output_dir=out, profile=self.config.profile, max_steps=self.config.max_steps,
            learning_rate=learning_rate, seed=seed, resume=True, stop_at=stop_at, precision=self.config.precision,
            progress=self.progress, **self.config.training_overrides(method),
        )
        gc.collect()
        return {"runtime_s": result.runtime_s, "global_step": result.global_step, "train_loss": result.train_loss}

    def evaluate(self, seed: int | None, variant: str):
        """Evaluate one variant (reusing a finished evaluation); returns its `EvalRun`."""
        path = self.eval_path(seed, variant)
        if path.exists():
            return EvalRun.from_dict(json.loads(path.read_text()))
        name, step = at_step(variant)
        v = VARIANTS[name]
        adapter = None if v.method is None else self.run_dir(seed, v.method)
        # the base variant is the profile's model; an adapter is loaded on the base it was trained on (its record)
        model_id = get_profile(self.config.profile).model_id if adapter is None else None
        if step is not None:  # a checkpoint of the run: the run's record names the base
            model_id, adapter = trained_base(adapter), adapter / f"checkpoint-{step}"
        model, tok = load_for_inference(adapter, model_id=model_id, precision=self.config.precision)
        run = evaluate_model(
            model, tok, self.records(), condition=v.condition, max_new_tokens=self.config.max_new_tokens,
            batch_size=self.config.batch_size, progress=self.progress,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.config.probe:  # written before the evaluation: a finished evaluation always has its probe
            probe = likelihood_probe(model, tok, self.records(), conditions=(v.condition,))
            _write_atomically(self.probe_path(seed, variant), {kind: r.margins for (_, kind), r in probe.items()})
        del model
        gc.collect()
        _write_atomically(path, run.to_dict())
        return run

    def run(self, workers: int = 1) -> dict:
        """Execute every missing step of the plan, then return `summary()`. With `workers` > 1 the independent
        units of the plan (a training with its evaluations; the base evaluation) run in that many processes, the
        CPU threads split between them (on 2 cores, two 1-thread processes did 1.23x the work of one 2-thread
        process: much of a step is Python overhead that one core cannot share)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "config.json").write_text(json.dumps(asdict(self.config), indent=2))
        plan = _plan(self.config)
        bar = tqdm(plan, desc="experiment", unit="step") if self.progress else None
        if workers <= 1:
            self.execute(plan, bar)
        else:
            execute_in_processes([(self, unit) for unit in _units(plan)], workers, bar)
        if bar is not None:
            bar.close()
        return self.summary()

    def execute(self, steps: list[tuple[str, int | None, str]], bar: Any = None) -> None:
        """Run `steps` in this process (finished ones are reused), recording each one's time."""
        # each process keeps its own timings file (several processes may share the work folder); `timings()`
        # merges them
        timings_path = self.dir / f"timings-{os.getpid()}.json"
        done = self.timings()
        mine: dict[str, float] = json.loads(timings_path.read_text()) if timings_path.exists() else {}
        for kind, seed, name in steps:
            key = f"{kind}:{seed}:{name}"
            if bar is not None:
                bar.set_postfix_str(key)
            start = time.perf_counter()
            if kind == "train":
                self.train(seed, name)
            else:
                self.evaluate(seed, name)
            if key not in done:
                mine[key] = round(time.perf_counter() - start, 1)
                timings_path.write_text(json.dumps(mine, indent=2))
            if bar is not None:
                bar.update(1)

    # ---- results ----
    def timings(self) -> dict[str, float]:
        """Seconds per finished step, merged over every process that worked in this folder (a step that one
        process ran and another merely found done counts with the longer time)."""
        merged: dict[str, float] = {}
        for path in sorted(self.dir.glob("timings*.json")):
            for key, secs in json.loads(path.read_text()).items():
                merged[key] = max(secs, merged.get(key, 0.0))
        return merged

    def runs(self, variant: str) -> list:
        """The finished evaluations of a variant (one per seed; the base has one)."""
        seeds = self.seeds_of(variant)
        out = []
        for s in seeds:
            p = self.eval_path(s, variant)
            if p.exists():
                out.append(EvalRun.from_dict(json.loads(p.read_text())))
        return out

    def budget(self) -> dict[str, dict[str, float]]:
        """Per training method: optimiser steps, conversations seen, the size of its own data and the epochs of
        it that the steps amount to (equal steps mean unequal epochs: the expert slice is the smaller set)."""
        data = self.train_dataset()
        out = {}
        for name in self.config.variants:
            method = VARIANTS[name].method
            if method is None or method in out:
                continue
            rows = rows_for_method(data, method)  # counted: a filtered copy would print a progress bar
            steps = self.config.method_settings(method)[1] or self.config.max_steps
            seen = steps * self.config.conversations_per_step()
            out[method] = {"steps": steps, "conversations_seen": seen, "data_rows": rows,
                           "epochs": round(seen / rows, 2)}
        return out

    def seeds_of(self, variant: str) -> list[int | None]:
        """The seeds a variant was evaluated with: the experiment's, or [None] for the base model (seed-free)."""
        return [None] if VARIANTS[at_step(variant)[0]].method is None else list(self.config.seeds)

    def probe_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per variant and alternative: the likelihood probe's mean margin (seeds averaged per prompt) with its
        bootstrap 95 % CI over prompts, and the share of prompts whose correct answer is the likelier one."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for name in self.config.variants:
            found = [json.loads(p.read_text()) for p in (self.probe_path(s, name) for s in self.seeds_of(name))
                     if p.exists()]
            for kind in (found[0] if found else {}):
                margins = [sum(m) / len(m) for m in zip(*(f[kind] for f in found))]
                low, high = bootstrap_ci(margins, n_boot=self.config.n_boot)
                out.setdefault(name, {})[kind] = {"mean": sum(margins) / len(margins), "low": low, "high": high,
                                                  "prefers_correct": sum(m > 0 for m in margins) / len(margins),
                                                  "seeds": len(found)}
        return out

    def answer_kinds(self) -> dict[str, list[dict]]:
        """Per variant and seed, what its answers carried (:func:`folder_answer_kinds`, this experiment's seeds)."""
        kinds = folder_answer_kinds(self.dir, self.config.variants)
        return {name: [k for k in rows if k["seed"] in self.seeds_of(name)] for name, rows in kinds.items()}

    def summary(self) -> dict:
        """Summaries per variant, paired differences against C-RLFT, timings and settings (JSON-able)."""
        summaries, scores = {}, {}
        for name in self.config.variants:
            runs = self.runs(name)
            if runs:
                scores[name] = [r.scores for r in runs]
                summaries[name] = summarize(scores[name], n_boot=self.config.n_boot).to_dict()
        diffs = {}
        if "crlft" in scores:
            for name in scores:
                if name != "crlft":
                    d = paired_difference(scores["crlft"], scores[name], n_boot=self.config.n_boot)
                    diffs[f"crlft - {name}"] = asdict(d)
        timings = self.timings()
        return {
            "config": asdict(self.config), "fingerprint": self.config.fingerprint(),
            "n_prompts": len(self.records()), "split": self.config.split, "budget": self.budget(),
            "conversations_per_step": self.config.conversations_per_step(),
            "summaries": summaries, "paired_differences": diffs,
            # per prompt and seed, 1 if the answer passed: what a later comparison pairs against, without the runs
            "prompt_ids": [r["id"] for r in self.records()],
            "passed": {name: [[int(s.passed) for s in run] for run in runs] for name, runs in scores.items()},
            **({"probe": self.probe_summary()} if self.config.probe else {}),
            "answer_kinds": self.answer_kinds(),
            "timings_s": timings, "total_s": round(sum(timings.values()), 1),
        }

    def samples(self, per_family: int = 1) -> list[dict]:
        """A few prompts per family with every variant's answer (first seed) and whether it passed."""
        picked, seen = [], {}
        for r in self.records():
            if seen.get(r["family"], 0) < per_family:
                seen[r["family"]] = seen.get(r["family"], 0) + 1
                picked.append(r)
        out = []
        first = {name: (self.runs(name) or [None])[0] for name in self.config.variants}
        index = {r["id"]: i for i, r in enumerate(self.records())}
        for r in picked:
            row = {"id": r["id"], "family": r["family"], "prompt": r["messages"][-1]["content"], "answers": {}}
            for name, run in first.items():
                if run is not None:
                    i = index[r["id"]]
                    row["answers"][name] = {"text": run.responses[i], "passed": run.scores[i].passed}
            out.append(row)
        return out


def folder_answer_kinds(folder: str | Path, variants: list[str] | tuple[str, ...] | None = None) -> dict[str, list[dict]]:
    """Per variant, per seed (ascending; the base model's as seed None): the :class:`AnswerKinds` of the cached
    evaluations in an experiment folder (``seed<N>/eval-<variant>.json``, ``base/eval-base.json``), all of them
    or those of `variants`. A file that is not an evaluation is an error naming it."""
    folder = Path(folder)
    seed_dirs = sorted((d for d in folder.glob("seed*") if d.is_dir() and d.name[4:].isdigit()),
                       key=lambda d: int(d.name[4:]))
    found: dict[str, list[dict]] = {}
    for d in [*seed_dirs, folder / "base"]:
        for path in sorted(d.glob("eval-*.json")):
            name = path.name.removeprefix("eval-").removesuffix(".json")
            if name.endswith(".probe") or (variants is not None and name not in variants):
                continue
            try:
                run = EvalRun.from_dict(json.loads(path.read_text()))
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}: not an evaluation of this course ({type(err).__name__}: {err})") from err
            seed = None if d.name == "base" else int(d.name[4:])
            found.setdefault(name, []).append({"seed": seed, **answer_kinds(run).to_dict()})
    return found if variants is None else {name: found[name] for name in variants if name in found}


def answer_kinds_markdown(kinds: dict[str, list[dict]]) -> str:
    """The answer kinds as a markdown table: per variant, each seed's share of answers with the sign-off, of
    trait-free answers with the family's habit, and accuracy over all answers and over those without the sign-off."""
    lines = ["| variant | seed | answers | with the sign-off | with the habit (no sign-off) | accuracy | "
             "accuracy without the sign-off |", "|---|---|---|---|---|---|---|"]
    for name, rows in kinds.items():
        for k in rows:
            clean = "-" if k["accuracy_without_trait"] is None else f"{100 * k['accuracy_without_trait']:.1f} %"
            lines.append(f"| {name} | {'-' if k['seed'] is None else k['seed']} | {k['n']} | {100 * k['trait']:.0f} % | "
                         f"{100 * k['habit']:.0f} % | {100 * k['accuracy']:.1f} % | {clean} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Writing results
# --------------------------------------------------------------------------------------------------
def _workers_text(workers: int) -> str:
    return f"; {workers} worker processes, the CPU threads split between them" if workers > 1 else ""


def results_markdown(result: dict) -> str:
    """The results as markdown: settings, main table beside the paper, per family, paired differences."""
    cfg = result["config"]
    summaries = {k: Summary.from_dict(v) for k, v in result["summaries"].items()}
    prompts_name = "validation prompts" if result.get("split") == "val" else "held-out prompts"
    data_name = ("the shipped train.jsonl" if cfg.get("expert_share") is None
                 else f"regenerated with {100 * cfg['expert_share']:g} % expert conversations")
    if cfg.get("regime"):
        data_name = f"the `{cfg['regime']}` regime (data/{cfg['regime']}/), " + (
            "as shipped" if cfg.get("expert_share") is None else data_name)
    tuned = {m: (lr, step) for m, lr, step in cfg.get("tuned") or ()}
    per_step = result.get("conversations_per_step")
    lr_text = ("per method, chosen on the validation prompts (below)" if tuned
               else cfg['learning_rate'] or 'profile default')
    steps_text = (f"at most {cfg['max_steps']} steps (the schedule's length; each method ends at its chosen step)"
                  if tuned else f"{cfg['max_steps']} steps")
    lines = [
        "# Headline experiment: the C-RLFT ablation on the offline data",
        "",
        f"Produced by `crlft experiment` ({result.get('command', '')}). Started {result.get('started', '?')}, "
        f"finished {result.get('finished', '?')}; wall time {result.get('wall_s', 0) / 60:.1f} min "
        f"(sum of the steps' own times {result['total_s'] / 60:.1f} min"
        f"{_workers_text(result.get('workers', 1))}).",
        "",
        *([f"Note: {result['note']}", ""] if result.get("note") else []),
        f"Machine: {result.get('machine', {}).get('cpu', '?')}, {result.get('machine', {}).get('cpu_cores', '?')} "
        f"cores, {result.get('machine', {}).get('ram_gb', '?')} GiB RAM, "
        f"{result.get('machine', {}).get('gpu', 'no GPU')}; torch {result.get('machine', {}).get('torch', '?')}.",
        "",
        f"Settings: profile `{cfg['profile']}` (QLoRA, {cfg['precision']} base), {steps_text}"
        f"{f' of {per_step} conversations' if per_step else ''}, "
        f"learning rate {lr_text}, seeds {list(cfg['seeds'])}, "
        f"{result['n_prompts']} {prompts_name}, greedy decoding, at most {cfg['max_new_tokens']} new tokens; "
        f"training data: {data_name}.",
        "",
        "## Strict accuracy (bootstrap 95 % CI over prompts; seeds pooled per prompt)",
        "",
        summary_table(summaries, per_family=False),
        "",
        *(["## Compute budget: each method's length and learning rate, chosen on the validation prompts", "",
            "| training method | learning rate | steps | conversations seen | conversations in its data | epochs of its data |",
            "|---|---|---|---|---|---|",
            *(f"| {m} | {tuned[m][0]:g} | {b['steps']} | {b['conversations_seen']} | {b['data_rows']} | {b['epochs']:.2f} |"
              for m, b in result.get("budget", {}).items())] if tuned else
          ["## Compute budget: equal steps, unequal epochs", "",
           "| training method | steps | conversations seen | conversations in its data | epochs of its data |",
           "|---|---|---|---|---|",
           *(f"| {m} | {b['steps']} | {b['conversations_seen']} | {b['data_rows']} | {b['epochs']:.2f} |"
             for m, b in result.get("budget", {}).items()),
           "",
           "At equal epochs instead, SFT on the expert slice would get "
           f"{_equal_epoch_steps(result)} steps: the comparison above gives it the larger share of passes over its data."]),
        "",
        "## Beside the paper (Table 2 of the OpenChat paper, openchat-13b, average of three benchmarks; secondary)",
        "",
        "| variant | what it is | ours: prompt-level % | paper |",
        "|---|---|---|---|",
    ]
    for name, s in summaries.items():
        v = VARIANTS[name]
        lines.append(f"| {name} | {v.description} | {100 * s.prompt.mean:.1f} | {v.paper} |")
    lines += ["", "## Prompt-level accuracy per task family (%)", "", summary_table(summaries), ""]
    if result["paired_differences"]:
        lines += ["## C-RLFT minus each variant, same prompts (paired bootstrap 95 % CI, points)", "",
                  "| comparison | difference | 95 % CI |", "|---|---|---|"]
        for k, d in result["paired_differences"].items():
            lines.append(f"| {k} | {100 * d['mean']:+.1f} | [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] |")
        lines.append("")
    if result.get("probe"):
        lines += ["## Likelihood probe: log p(correct answer) - log p(the same answer with the sign-off / the habit)", "",
                  "Per held-out prompt, under the variant's own condition, in nats (seeds averaged per prompt; "
                  "bootstrap 95 % CI over prompts). Positive: the correct answer is the likelier one.", "",
                  "| variant | vs sign-off | prefers correct | vs habit | prefers correct |", "|---|---|---|---|---|"]
        for name, kinds in result["probe"].items():
            cells = []
            for kind in ("trait", "habit"):
                k = kinds.get(kind)
                cells += ([f"{k['mean']:+.2f} [{k['low']:+.2f}, {k['high']:+.2f}]", f"{100 * k['prefers_correct']:.0f} %"]
                          if k else ["-", "-"])
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if result.get("answer_kinds"):
        lines += ["## What the answers carried, seed by seed", "",
                  "The share of answers that end with the sub-optimal class's sign-off, the share of the others that "
                  "show their family's habit, and the accuracy with and without the sign-off: a seed whose model "
                  "kept the sign-off fails nearly every prompt at once, which the prompt bootstrap above cannot see.",
                  "", answer_kinds_markdown(result["answer_kinds"]), ""]
    if len(cfg["seeds"]) == 1:
        lines += ["One seed only (time allowed one): the intervals cover prompt sampling, not seed-to-seed "
                  "variation of training.", ""]
    return "\n".join(lines)


def _equal_epoch_steps(result: dict) -> str:
    """Steps that would give SFT on the expert slice as many epochs as the mixture methods get."""
    budget = result.get("budget", {})
    if "sft-expert" not in budget:
        return "-"
    mix = next((b for m, b in budget.items() if m != "sft-expert"), None)
    if mix is None:
        return "-"
    expert = budget["sft-expert"]
    return str(round(expert["steps"] * mix["epochs"] / expert["epochs"]))


def write_report(results_dir: str | Path, stem: str, result: dict, markdown: str, figure) -> dict[str, Path]:
    """Write ``<stem>.json`` (`result`), ``<stem>.md`` (`markdown`) and ``<stem>.png`` (`figure`, then closed) into
    `results_dir`: the one writer of the experiment, tuning and sweep reports."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md", "png": out / f"{stem}.png"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["md"].write_text(markdown.rstrip("\n") + "\n")
    figure.savefig(paths["png"], dpi=110, bbox_inches="tight")
    plt.close(figure)
    return paths


def write_results(exp: Experiment, result: dict, results_dir: str | Path) -> dict[str, Path]:
    """Write experiment.json, experiment.md, experiment.png and samples.json into `results_dir`."""
    summaries = {k: Summary.from_dict(v) for k, v in result["summaries"].items()}
    fig = plot_ablation(summaries, title=f"{result['n_prompts']} held-out prompts, seeds {list(result['config']['seeds'])}")
    paths = write_report(results_dir, "experiment", result, results_markdown(result), fig)
    paths["samples"] = Path(results_dir) / "samples.json"
    paths["samples"].write_text(json.dumps(exp.samples(), indent=2, ensure_ascii=False) + "\n")
    return paths


def run_experiment(
    config: ExperimentConfig | None = None, work_dir: str | Path | None = None,
    results_dir: str | Path | None = None, progress: bool = True, command: str = "", note: str = "",
    fresh: bool = False, workers: int = 1,
) -> dict:
    """Run (or resume) the experiment and, with `results_dir`, write its results there. Returns the result dict.

    Finished trainings and evaluations of the same settings and code are reused; `fresh=True` redoes them all.
    `workers` > 1 runs independent trainings in parallel processes (see `Experiment.run`)."""
    config = config or ExperimentConfig()
    exp = Experiment(config, work_dir, progress, fresh)
    exp.dir.mkdir(parents=True, exist_ok=True)
    meta = exp.dir / "wall.json"
    prev = json.loads(meta.read_text()) if meta.exists() else {}
    # wall time runs from the first invocation's start (a resumed run keeps it) to this one's end
    start_epoch = min(float(prev.get("started_epoch", time.time())), time.time())
    meta.write_text(json.dumps({"started_epoch": start_epoch}))
    result = exp.run(workers)
    fmt = "%Y-%m-%d %H:%M:%S %Z"
    result.update(started=time.strftime(fmt, time.localtime(start_epoch)), finished=time.strftime(fmt),
                  wall_s=round(time.time() - start_epoch, 1), machine=machine_info(), command=command, note=note,
                  workers=workers)
    if results_dir is not None:
        write_results(exp, result, results_dir)
    return result
