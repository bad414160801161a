"""C-RLFT beside what a practitioner would try instead on the same labels (`crlft compare`, lesson 07).

It trains nothing: it reads finished experiments (``crlft experiment`` results files) of each data regime, the
central one (C-RLFT, SFT on the expert slice and on the mixture, weighted SFT, filtered SFT, the base) and the one
that trained KTO (``--variants kto``), and puts every method side by side with what it needs from the data and what
a step of it costs:

| variant | labels it uses | per training step |
|---|---|---|
| `crlft` | the source class of each conversation: a condition and a weight | one forward and backward pass |
| `kto` | the source class as desirable / undesirable | the same, plus three forward passes without gradients |
| `crlft-no-condition` | the source class as a weight only | one forward and backward pass |
| `sft-expert` | the source class, to drop the sub-optimal data | one forward and backward pass |
| `sft-mix` | none | one forward and backward pass |
| `sft-filtered` | a verifier's verdict on every answer (C-RLFT has no such label) | one forward and backward pass |

A difference between two variants of the same experiment is paired (same prompts, seeds pooled per prompt); between
experiments it is paired too when both results files hold their per-prompt verdicts (``passed``, written since
lesson 07 exists) on the same prompts, and otherwise *unpaired*: the two intervals combined as if independent,
wider than a paired one, and marked so.

Results: ``alternatives.json``, ``alternatives.md`` and ``alternatives.png`` (``results/`` when asked for).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from course_utils.evaluation.metrics import bootstrap_ci
from course_utils.experiments.ablation import VARIANTS, code_fingerprint, _write_atomically
from course_utils.hardware.machine import machine_info
from course_utils.paths import display_path

#: The variants compared, in table order, with the labels each one needs.
LABELS: dict[str, str] = {
    "crlft": "source class per conversation (condition + weight)",
    "kto": "source class per conversation (desirable / undesirable)",
    "crlft-no-condition": "source class per conversation (weight only)",
    "sft-expert": "source class per conversation (to keep the expert slice)",
    "sft-mix": "none",
    "sft-filtered": "a verifier's verdict on every answer (C-RLFT does not have it)",
    "base": "- (no training)",
}

#: The differences reported: the headline question first, then KTO against each SFT method, then C-RLFT against
#: the SFT methods (lesson 06's comparisons, so that one table answers "which method, for these labels").
DIFFERENCES: tuple[tuple[str, str], ...] = (
    ("crlft", "kto"), ("kto", "sft-expert"), ("kto", "sft-mix"), ("kto", "crlft-no-condition"),
    ("sft-filtered", "kto"), ("sft-filtered", "crlft"),
    ("crlft", "sft-expert"), ("crlft", "crlft-no-condition"), ("crlft", "sft-mix"),
)


def _load(path: str | Path) -> dict:
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable experiment results file ({err})") from err
    for key in ("summaries", "config", "budget", "timings_s"):
        if key not in result:
            raise ValueError(f"{path}: field {key!r} missing: not a `crlft experiment` results file")
    return result


def _seconds_per_step(result: dict, method: str) -> float | None:
    """Mean training seconds per optimiser step of `method` over the experiment's seeds (its timings)."""
    steps = result["budget"].get(method, {}).get("steps")
    times = [s for k, s in result["timings_s"].items() if k.startswith("train:") and k.endswith(f":{method}")]
    return sum(times) / len(times) / steps if times and steps else None


def _difference(names: tuple[str, str], a: dict, b: dict, paired: Mapping[str, dict], n_boot: int = 2000) -> dict:
    """A minus B in prompt-level accuracy: the experiment's own paired difference when both come from one file,
    paired over the prompts both hold verdicts for, else unpaired."""
    if a["source"] == b["source"]:
        for key, sign in ((f"{names[0]} - {names[1]}", 1), (f"{names[1]} - {names[0]}", -1)):
            if key in paired:
                d = paired[key]
                low, high = sorted((sign * d["low"], sign * d["high"]))
                return {"mean": sign * d["mean"], "low": low, "high": high, "paired": True}
    if a.get("passed") and b.get("passed") and a["prompt_ids"] == b["prompt_ids"]:
        pooled = [np.mean(np.asarray(v["passed"], dtype=float), axis=0) for v in (a, b)]
        d = pooled[0] - pooled[1]
        low, high = bootstrap_ci(d, n_boot)
        return {"mean": float(d.mean()), "low": low, "high": high, "paired": True}
    sa, sb = a["summary"]["prompt"], b["summary"]["prompt"]
    half = math.hypot((sa["high"] - sa["low"]) / 2, (sb["high"] - sb["low"]) / 2)
    mean = sa["mean"] - sb["mean"]
    return {"mean": mean, "low": mean - half, "high": mean + half, "paired": False}


def compare_regime(paths: Sequence[str | Path]) -> dict:
    """One regime's rows and differences from its experiments' results files (a variant is taken from the first
    file that holds it; every file must come from the same regime and held-out prompts)."""
    experiments = [(Path(p), _load(p)) for p in paths]
    regimes = {r["config"].get("regime") for _, r in experiments}
    prompts = {(r["split"], r["n_prompts"]) for _, r in experiments}
    if len(regimes) != 1 or len(prompts) != 1:
        raise ValueError(f"{', '.join(str(p) for p, _ in experiments)}: these experiments differ in regime "
                         f"{sorted(map(str, regimes))} or prompts {sorted(prompts)}; compare only like with like")
    rows: dict[str, dict] = {}
    paired = {display_path(path): result.get("paired_differences", {}) for path, result in experiments}
    for path, result in experiments:
        for name, summary in result["summaries"].items():
            if name not in LABELS or name in rows:
                continue
            method = VARIANTS[name].method
            rows[name] = {
                "summary": summary, "labels": LABELS[name], "source": display_path(path),
                "fingerprint": result.get("fingerprint"), "command": result.get("command", ""),
                "budget": result["budget"].get(method) if method else None,
                "learning_rate": next((lr for m, lr, _ in result["config"].get("tuned") or () if m == method),
                                      result["config"].get("learning_rate")),
                "seconds_per_step": _seconds_per_step(result, method) if method else None,
                "probe_trait": (result.get("probe") or {}).get(name, {}).get("trait"),
                "passed": (result.get("passed") or {}).get(name), "prompt_ids": result.get("prompt_ids"),
                "machine": result.get("machine", {}).get("cpu"), "workers": result.get("workers", 1),
            }
    rows = {name: rows[name] for name in LABELS if name in rows}
    diffs = {f"{a} - {b}": _difference((a, b), rows[a], rows[b], paired[rows[a]["source"]])
             for a, b in DIFFERENCES if a in rows and b in rows}
    for row in rows.values():
        row.pop("passed"), row.pop("prompt_ids")
    (split, n_prompts), = prompts
    return {"regime": regimes.pop(), "split": split, "n_prompts": n_prompts, "rows": rows, "differences": diffs}


def compare(regimes: Mapping[str, Sequence[str | Path]], command: str = "") -> dict:
    """Every regime's comparison (`compare_regime`), with what produced it."""
    return {"regimes": {name: compare_regime(paths) for name, paths in regimes.items()}, "command": command,
            "code": code_fingerprint(), "machine": machine_info(), "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _pct(d: Mapping[str, float]) -> str:
    return f"{100 * d['mean']:.1f} [{100 * d['low']:.1f}, {100 * d['high']:.1f}]"


def alternatives_markdown(result: dict) -> str:
    """The comparison as markdown: per regime, the methods with their labels, accuracy, seeds, budget and cost,
    then the differences."""
    lines = ["# C-RLFT beside the alternatives on the same labels", "",
             f"Produced by `{result['command'] or 'crlft compare'}` (code {result['code']}), finished "
             f"{result['finished']}. It trains nothing: each row comes from the experiment named in its `from` "
             "column (command, code fingerprint, machine and times are in that file).", ""]
    for name, reg in result["regimes"].items():
        lines += [f"## The `{name}` regime ({reg['n_prompts']} {'held-out' if reg['split'] == 'eval' else reg['split']} "
                  "prompts, greedy decoding)", "",
                  "| variant | labels it uses | prompt-level % [95 % CI] | per seed | steps (epochs of its data) | "
                  "learning rate | s per step | probe vs sign-off (nats) | from |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for variant, row in reg["rows"].items():
            s, b, p = row["summary"], row["budget"], row["probe_trait"]
            seeds = " / ".join(f"{100 * v:.1f}" for v in s.get("per_seed_prompt", [])) or "-"
            budget = f"{b['steps']} ({b['epochs']:.2f})" if b else "-"
            cost = f"{row['seconds_per_step']:.0f}" if row["seconds_per_step"] else "-"
            probe = f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]" if p else "-"
            lr = f"{row['learning_rate']:g}" if row["learning_rate"] else "-"
            cost += f" ({row['workers']} proc.)" if row["seconds_per_step"] else ""
            lines.append(f"| {variant} | {row['labels']} | {_pct(s['prompt'])} | {seeds} | {budget} | {lr} | {cost} | "
                         f"{probe} | {row['source']} ({row['fingerprint']}) |")
        lines += ["", "| difference | points [95 % CI] | kind |", "|---|---|---|"]
        for key, d in reg["differences"].items():
            lines.append(f"| {key} | {100 * d['mean']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] | "
                         f"{'paired' if d['paired'] else 'unpaired (intervals combined; wider than paired)'} |")
        lines += ["", "Seconds per step are each experiment's own wall times per training step, with the number of worker "
                  "processes that shared the machine's cores in that experiment: compare them across files only with "
                  "that in mind (`benchmarks/kto_cost.py` times KTO and C-RLFT in one process, like for like)."]
        lines.append("")
    return "\n".join(lines)


def write_alternatives(result: dict, out_dir: str | Path) -> Path:
    """Write ``alternatives.json``, ``.md`` and ``.png`` into `out_dir`; returns the folder."""
    from course_utils.evaluation.plots import plot_alternatives

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(out / "alternatives.json", result)
    (out / "alternatives.md").write_text(alternatives_markdown(result))
    points = {regime: {v: row["summary"]["prompt"] for v, row in reg["rows"].items()}
              for regime, reg in result["regimes"].items()}
    fig = plot_alternatives(points, "C-RLFT beside the alternatives (prompt-level strict accuracy, 95 % CI)")
    fig.savefig(out / "alternatives.png", dpi=110)
    return out

