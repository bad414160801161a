"""The expert-share sweep (`crlft sweep`): "what if you use only the expert data?", measured.

At each share of expert conversations (same total size, same generator seed, so the same entities and the same
evaluation prompts) it trains SFT on the expert slice, SFT on the whole mixture and C-RLFT with the same budget,
for every seed, and scores them on the same prompts. Each share is one `course_utils.experiments.ablation.Experiment`, so
trainings and evaluations are cached and resumable exactly as there (the shipped share reuses the ablation's runs).
Results: ``sweep.json`` (per share and variant: mean, bootstrap CI, per-seed accuracies; paired differences of
C-RLFT against both SFT variants), ``sweep.md`` and ``sweep.png`` (accuracy against share with CIs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

from course_utils.evaluation.metrics import Summary
from course_utils.experiments.ablation import Experiment, ExperimentConfig, code_fingerprint, write_report
from course_utils.hardware.machine import machine_info
from course_utils.evaluation.plots import plot_sweep

SHARES: tuple[float, ...] = (0.02, 0.05, 0.10, 0.20, 0.40)
SWEEP_VARIANTS: tuple[str, ...] = ("sft-expert", "sft-mix", "crlft")
COMPARISONS: tuple[str, ...] = ("sft-expert", "sft-mix")  # C-RLFT minus each, paired over prompts, seeds pooled


def run_sweep(base: ExperimentConfig, shares: tuple[float, ...] = SHARES, work_dir: str | Path | None = None,
              results_dir: str | Path | None = None, progress: bool = True, command: str = "", note: str = "",
              fresh: bool = False, extend: dict | None = None, workers: int = 1) -> dict:
    """Run (or resume) the sweep with `base`'s settings at each share, in the order given; with `results_dir`, write
    the results (sorted by share) after every share. `fresh=True` redoes every training and evaluation. `extend`
    (an earlier sweep result with the same settings) keeps that result's other shares (see `merge_sweeps`).
    `workers` > 1 runs in parallel processes (see `Experiment.run`)."""
    start = time.time()
    points: dict[str, list[dict]] = {v: [] for v in SWEEP_VARIANTS}
    differences: dict[str, list[dict]] = {f"crlft - {v}": [] for v in COMPARISONS}
    budgets, n_prompts, result = {}, 0, {}
    for share in shares:
        config = replace(base, variants=SWEEP_VARIANTS, expert_share=share)
        exp = Experiment(config, work_dir, progress, fresh)
        summary = exp.run(workers)
        n_prompts = summary["n_prompts"]
        budgets[f"{share:g}"] = summary["budget"]
        for variant in SWEEP_VARIANTS:
            s = Summary.from_dict(summary["summaries"][variant])
            points[variant].append({"share": share, "mean": s.prompt.mean, "low": s.prompt.low, "high": s.prompt.high,
                                    "per_seed": s.per_seed_prompt})
        for other in COMPARISONS:  # the experiment's own paired differences (C-RLFT minus each variant)
            differences[f"crlft - {other}"].append({"share": share, **summary["paired_differences"][f"crlft - {other}"]})
        done = sorted(range(len(points[SWEEP_VARIANTS[0]])), key=lambda i: points[SWEEP_VARIANTS[0]][i]["share"])
        result = {
            "shares": [points[SWEEP_VARIANTS[0]][i]["share"] for i in done],
            "config": {**asdict(base), "variants": list(SWEEP_VARIANTS)}, "split": base.split, "n_prompts": n_prompts,
            "points": {v: [rows[i] for i in done] for v, rows in points.items()},
            "paired_differences": {k: [rows[i] for i in done] for k, rows in differences.items()},
            "budget": budgets, "machine": machine_info(), "wall_s": round(time.time() - start, 1),
            "command": command, "note": note, "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "code": code_fingerprint(), "workers": workers,
        }
        if extend is not None:
            result = merge_sweeps(extend, result)
        if results_dir is not None:  # after every share, so an interrupted sweep leaves what it finished
            write_sweep(result, results_dir)
    return result


SETTINGS_THAT_MUST_MATCH: tuple[str, ...] = ("seeds", "max_steps", "learning_rate", "split", "profile", "precision",
                                             "eval_limit", "max_new_tokens", "batch_size", "train_path", "eval_path",
                                             "n_boot")


def runs_of(result: dict) -> list[dict]:
    """Where each share of a sweep result came from: one entry per `crlft sweep` run (command, time, code, machine)."""
    if result.get("runs"):
        return result["runs"]
    keys = ("command", "note", "finished", "wall_s", "machine", "code")
    return [{"shares": list(result["shares"]), **{k: result.get(k) for k in keys}}]


def merge_sweeps(earlier: dict, later: dict) -> dict:
    """One sweep from two runs with the same settings: every share of `later`, plus the shares of `earlier` that
    `later` did not run. Each run's command, time, code fingerprint and machine stay recorded under ``runs``."""
    for key in SETTINGS_THAT_MUST_MATCH:
        if earlier["config"].get(key) != later["config"].get(key):
            raise ValueError(f"cannot merge sweeps run with different settings: {key} is "
                             f"{earlier['config'].get(key)!r} in the earlier one and {later['config'].get(key)!r} here")
    kept = [i for i, share in enumerate(earlier["shares"]) if share not in later["shares"]]
    rows = sorted([(earlier, i) for i in kept] + [(later, i) for i in range(len(later["shares"]))],
                  key=lambda r: r[0]["shares"][r[1]])
    runs = [{**run, "shares": [s for s in run["shares"] if s not in later["shares"]]} for run in runs_of(earlier)]
    runs = [run for run in runs if run["shares"]] + runs_of(later)
    return {
        **later, "shares": [src["shares"][i] for src, i in rows],
        "points": {v: [src["points"][v][i] for src, i in rows] for v in later["points"]},
        "paired_differences": {k: [src["paired_differences"][k][i] for src, i in rows]
                               for k in later["paired_differences"]},
        "budget": {f"{src['shares'][i]:g}": src["budget"][f"{src['shares'][i]:g}"] for src, i in rows},
        "wall_s": round(sum(run["wall_s"] or 0 for run in runs), 1), "runs": runs,
    }


def sweep_markdown(result: dict) -> str:
    """The sweep as markdown: accuracy per share and variant, then C-RLFT's paired differences."""
    cfg = result["config"]
    lines = [
        "# The expert-share sweep: when does C-RLFT pay?", "",
        *[line for run in runs_of(result) for line in _provenance(run, len(runs_of(result)) > 1)],
        f"Settings: profile `{cfg['profile']}`, {cfg['max_steps']} steps for every variant, learning rate "
        f"{cfg['learning_rate'] or 'profile default'}, seeds {list(cfg['seeds'])}, {result['n_prompts']} "
        f"{'validation' if result['split'] == 'val' else 'held-out'} prompts. Each share regenerates the 2,400 "
        "training conversations with that share of expert ones (same entities, same evaluation prompts).", "",
        "## Prompt-level strict accuracy, % [95 % CI] · each seed's accuracy", "",
        "| expert share | " + " | ".join(SWEEP_VARIANTS) + " |", "|---|" + "---|" * len(SWEEP_VARIANTS),
    ]
    for i, share in enumerate(result["shares"]):
        cells = []
        for v in SWEEP_VARIANTS:
            p = result["points"][v][i]
            seeds = " / ".join(f"{100 * x:.0f}" for x in p["per_seed"])
            cells.append(f"{100 * p['mean']:.1f} [{100 * p['low']:.1f}, {100 * p['high']:.1f}] | {seeds}")
        lines.append(f"| {100 * share:g} % | " + " | ".join(c.replace(" | ", " · ") for c in cells) + " |")
    lines += ["", "## C-RLFT minus each SFT variant, same prompts (paired bootstrap 95 % CI, points, seeds pooled)",
              "", "| expert share | " + " | ".join(result["paired_differences"]) + " | epochs of the expert slice "
              "(SFT-expert) / of the mixture |", "|---|" + "---|" * (len(result["paired_differences"]) + 1)]
    for i, share in enumerate(result["shares"]):
        cells = [f"{100 * d[i]['mean']:+.1f} [{100 * d[i]['low']:+.1f}, {100 * d[i]['high']:+.1f}]"
                 for d in result["paired_differences"].values()]
        budget = result["budget"][f"{share:g}"]
        cells.append(f"{budget['sft-expert']['epochs']:.2f} / {budget['crlft']['epochs']:.2f}")
        lines.append(f"| {100 * share:g} % | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _provenance(run: dict, several: bool) -> list[str]:
    """Markdown lines saying which command produced which shares, when, with which code, on which machine."""
    machine = run.get("machine") or {}
    shares = f"Shares {', '.join(f'{100 * s:g}' for s in run['shares'])} % p" if several else "P"
    lines = [f"{shares}roduced by `{run.get('command') or 'crlft sweep'}`, finished {run.get('finished') or '?'}; wall "
             f"time {(run.get('wall_s') or 0) / 60:.1f} min (cached steps count as 0); code fingerprint "
             f"{run.get('code') or 'not recorded'}. Machine: {machine.get('cpu', '?')}, {machine.get('cpu_cores', '?')} "
             f"cores, {machine.get('gpu', 'no GPU')}.", ""]
    return lines + ([f"Note: {run['note']}", ""] if run.get("note") else [])


def write_sweep(result: dict, results_dir: str | Path) -> dict[str, Path]:
    """Write sweep.json, sweep.md and sweep.png into `results_dir`."""
    fig = plot_sweep(result["points"], title=f"{result['n_prompts']} prompts, seeds {list(result['config']['seeds'])}, "
                                             f"{result['config']['max_steps']} steps each")
    return write_report(results_dir, "sweep", result, sweep_markdown(result), fig)
