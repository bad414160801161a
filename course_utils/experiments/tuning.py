"""Every method tuned alike, on the validation prompts (`crlft tune`).

For one data regime, each method of the comparison is trained at every learning rate of the grid with a training
seed that is never used for reporting (:data:`TUNING_SEED`), and its checkpoints along the way are scored on the
validation prompts: one validation learning curve per method and learning rate. The setting chosen for each method
is the (learning rate, step) with the best validation accuracy (ties: fewer steps, then the smaller learning
rate). The held-out prompts are not touched. Each learning rate is one
`course_utils.experiments.ablation.Experiment` (``split="val"``), so every training and evaluation is cached and
resumable as there; the units of all of them share one pool of worker processes.

Results: ``<regime>.json`` (curves, choices, timings, machine, command, code), ``<regime>.md`` and
``<regime>.png`` (the curves) in ``results/validation/`` when asked for.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from course_utils.evaluation.metrics import summarize
from course_utils.evaluation.plots import plot_validation_curves
from course_utils.experiments.ablation import (
    Experiment, ExperimentConfig, _plan, _units, code_fingerprint, execute_in_processes, write_report,
)
from course_utils.hardware.machine import machine_info
from course_utils.method.kto import KTO_BETA

TUNING_SEED = 100  # a training seed for choosing settings only; the reported runs use seeds 0, 1, 2
TUNED_VARIANTS: tuple[str, ...] = ("crlft", "crlft-no-condition", "sft-mix", "sft-expert", "sft-filtered")
LEARNING_RATES: tuple[float, ...] = (1e-3, 2e-3, 4e-3)


def tuning_config(regime: str, learning_rate: float, **settings: Any) -> ExperimentConfig:
    """The validation experiment of one learning rate (`settings`: the other `ExperimentConfig` fields)."""
    settings.setdefault("variants", TUNED_VARIANTS)
    return ExperimentConfig(regime=regime, learning_rate=learning_rate, split="val", seeds=(TUNING_SEED,), **settings)


def run_tuning(base: ExperimentConfig, learning_rates: tuple[float, ...] = LEARNING_RATES,
               work_dir: str | Path | None = None, results_dir: str | Path | None = None, progress: bool = True,
               command: str = "", workers: int = 1) -> dict:
    """Train and score every (variant, learning rate) of `base` (its regime, steps, eval_steps, ...; its seeds and
    split are replaced by :data:`TUNING_SEED` and the validation prompts); return (and, with `results_dir`,
    write) the curves and the chosen settings."""
    if base.regime is None:
        raise ValueError("tuning needs a data regime (ExperimentConfig.regime)")
    start = time.time()
    experiments = [Experiment(replace(base, learning_rate=lr, split="val", seeds=(TUNING_SEED,)), work_dir,
                              progress=False) for lr in learning_rates]
    jobs = []
    for exp in experiments:
        exp.dir.mkdir(parents=True, exist_ok=True)
        (exp.dir / "config.json").write_text(json.dumps(asdict(exp.config), indent=2))
        jobs += [(exp, unit) for unit in _units(_plan(exp.config))]
    bar = tqdm(total=sum(len(unit) for _, unit in jobs), desc="tuning", unit="step") if progress else None
    if workers <= 1:
        for exp, unit in jobs:
            exp.execute(unit, bar)
    else:
        execute_in_processes(jobs, workers, bar)
    if bar is not None:
        bar.close()
    result = tuning_result(experiments)
    result.update(command=command, workers=workers, wall_s=round(time.time() - start, 1), machine=machine_info(),
                  finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if results_dir is not None:
        write_tuning(result, results_dir)
    return result


def tuning_result(experiments: list[Experiment]) -> dict:
    """Curves (variant -> learning rate -> points per step) and the choice per variant, from finished evaluations."""
    config = experiments[0].config
    steps = [*config.eval_steps, config.max_steps]
    curves: dict[str, dict[str, list[dict]]] = {}
    for exp in experiments:
        lr = f"{exp.config.learning_rate:g}"
        for variant in config.variants:
            points = []
            for step in steps:
                name = variant if step == config.max_steps else f"{variant}@{step}"
                runs = exp.runs(name)
                if runs:
                    acc = summarize([r.scores for r in runs]).prompt
                    points.append({"step": step, "mean": acc.mean, "low": acc.low, "high": acc.high})
            curves.setdefault(variant, {})[lr] = points
    chosen = {}
    for variant, by_lr in curves.items():
        candidates = [(p["mean"], -p["step"], -float(lr), lr, p) for lr, points in by_lr.items() for p in points]
        if candidates:
            mean, _, _, lr, point = max(candidates)
            chosen[variant] = {"learning_rate": float(lr), "step": point["step"], "mean": mean}
    timings = {k: v for exp in experiments for k, v in exp.timings().items()}
    return {
        "regime": config.regime, "seed": config.seeds[0], "split": "val", "n_prompts": len(experiments[0].records()),
        "learning_rates": [exp.config.learning_rate for exp in experiments], "steps": steps,
        "conversations_per_step": config.conversations_per_step(), "config": asdict(config),
        "fingerprints": {f"{exp.config.learning_rate:g}": exp.config.fingerprint() for exp in experiments},
        "code": code_fingerprint(), "curves": curves, "chosen": chosen,
        "train_s": round(sum(v for k, v in timings.items() if k.startswith("train:")), 1),
        "eval_s": round(sum(v for k, v in timings.items() if k.startswith("eval:")), 1),
    }


def tuning_markdown(result: dict) -> str:
    """The tuning result as markdown: settings, the choice per variant, every curve point."""
    m = result.get("machine", {})
    lines = [
        f"# Validation curves: the `{result['regime']}` regime",
        "",
        f"Produced by `{result.get('command', 'crlft tune')}` (code {result['code']}), finished "
        f"{result.get('finished', '?')}, wall time {result.get('wall_s', 0) / 60:.1f} min with {result.get('workers', 1)} "
        f"worker process(es) (training {result['train_s'] / 60:.1f} min, scoring {result['eval_s'] / 60:.1f} min, "
        f"summed over processes). Machine: {m.get('cpu', '?')}, {m.get('cpu_cores', '?')} cores, compute dtype "
        f"{m.get('cpu_compute_dtype', '?')}.",
        "",
        f"Training seed {result['seed']} (used for choosing only), {result['conversations_per_step']} conversations per "
        f"optimiser step, {result['n_prompts']} validation prompts (never the held-out ones), greedy decoding."
        + kto_knobs(result["config"]),
        "",
        "## Chosen per method (best validation accuracy; ties: fewer steps, then the smaller learning rate)",
        "",
        "| variant | learning rate | step | validation prompt-level % |",
        "|---|---|---|---|",
        *(f"| {v} | {c['learning_rate']:g} | {c['step']} | {100 * c['mean']:.1f} |" for v, c in result["chosen"].items()),
        "",
        "## Every point (prompt-level %, bootstrap 95 % CI over prompts)",
        "",
        "| variant | learning rate | " + " | ".join(f"step {s}" for s in result["steps"]) + " |",
        "|---|---|" + "---|" * len(result["steps"]),
    ]
    for variant, by_lr in result["curves"].items():
        for lr, points in by_lr.items():
            cells = {p["step"]: f"{100 * p['mean']:.1f} [{100 * p['low']:.0f}, {100 * p['high']:.0f}]" for p in points}
            lines.append(f"| {variant} | {lr} | " + " | ".join(cells.get(s, "-") for s in result["steps"]) + " |")
    return "\n".join(lines) + "\n"


def kto_knobs(config: dict) -> str:
    """KTO's beta and desirable weight of a tuning's config, as a sentence (empty when it tunes no KTO)."""
    if "kto" not in config["variants"]:
        return ""
    beta, weight = config.get("kto_beta"), config.get("kto_desirable_weight")
    return (f" KTO: beta {KTO_BETA if beta is None else beta:g}, desirable_weight "
            f"{'balanced from the data' if weight is None else f'{weight:g}'}.")


def write_tuning(result: dict, results_dir: str | Path) -> dict[str, Path]:
    """Write ``<regime>.json``, ``<regime>.md`` and ``<regime>.png`` into `results_dir`."""
    fig = plot_validation_curves(result["curves"], title=f"{result['regime']} regime: validation accuracy "
                                 f"({result['n_prompts']} prompts, seed {result['seed']})")
    return write_report(results_dir, result["regime"], result, tuning_markdown(result), fig)
