"""The expert-share sweep (`crlft sweep`): "what if you use only the expert data?", measured.

At each share of expert conversations (same total size, same generator seed, so the same entities and the same
evaluation prompts) it trains SFT on the expert slice, SFT on the whole mixture and C-RLFT with the same budget,
for every seed, and scores them on the same prompts. Each share is one `course_utils.experiment.Experiment`, so
trainings and evaluations are cached and resumable exactly as there (the shipped share reuses the ablation's runs).
Results: ``sweep.json`` (per share and variant: mean, bootstrap CI, per-seed accuracies; paired differences of
C-RLFT against both SFT variants), ``sweep.md`` and ``sweep.png`` (accuracy against share with CIs).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib.pyplot as plt

from course_utils.evaluation import Summary
from course_utils.experiment import Experiment, ExperimentConfig, machine_info
from course_utils.plots import plot_sweep

SHARES: tuple[float, ...] = (0.02, 0.05, 0.10, 0.20, 0.40)
SWEEP_VARIANTS: tuple[str, ...] = ("sft-expert", "sft-mix", "crlft")
COMPARISONS: tuple[str, ...] = ("sft-expert", "sft-mix")  # C-RLFT minus each, paired over prompts, seeds pooled


def run_sweep(base: ExperimentConfig, shares: tuple[float, ...] = SHARES, work_dir: str | Path | None = None,
              results_dir: str | Path | None = None, progress: bool = True, command: str = "", note: str = "",
              fresh: bool = False) -> dict:
    """Run (or resume) the sweep with `base`'s settings at each share, in the order given; with `results_dir`, write
    the results (sorted by share) after every share. `fresh=True` redoes every training and evaluation."""
    start = time.time()
    points: dict[str, list[dict]] = {v: [] for v in SWEEP_VARIANTS}
    differences: dict[str, list[dict]] = {f"crlft - {v}": [] for v in COMPARISONS}
    budgets, n_prompts, result = {}, 0, {}
    for share in shares:
        config = replace(base, variants=SWEEP_VARIANTS, expert_share=share)
        exp = Experiment(config, work_dir, progress, fresh)
        summary = exp.run()
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
        }
        if results_dir is not None:  # after every share, so an interrupted sweep leaves what it finished
            write_sweep(result, results_dir)
    return result


def sweep_markdown(result: dict) -> str:
    """The sweep as markdown: accuracy per share and variant, then C-RLFT's paired differences."""
    cfg = result["config"]
    lines = [
        "# The expert-share sweep: when does C-RLFT pay?", "",
        f"Produced by `{result.get('command') or 'crlft sweep'}`, finished {result.get('finished', '?')}; wall time "
        f"{result['wall_s'] / 60:.1f} min (cached steps count as 0). Machine: {result['machine'].get('cpu', '?')}, "
        f"{result['machine'].get('cpu_cores', '?')} cores, {result['machine'].get('gpu', 'no GPU')}.", "",
        *([f"Note: {result['note']}", ""] if result.get("note") else []),
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


def write_sweep(result: dict, results_dir: str | Path) -> dict[str, Path]:
    """Write sweep.json, sweep.md and sweep.png into `results_dir`."""
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "sweep.json", "md": out / "sweep.md", "png": out / "sweep.png"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["md"].write_text(sweep_markdown(result))
    fig = plot_sweep(result["points"], title=f"{result['n_prompts']} prompts, seeds {list(result['config']['seeds'])}, "
                                             f"{result['config']['max_steps']} steps each")
    fig.savefig(paths["png"], dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths
