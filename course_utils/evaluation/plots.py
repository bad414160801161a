"""Plots the lessons show. Each function draws one figure with matplotlib and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def plot_precision_comparison(memory_mib: dict[str, float], tokens_per_s: dict[str, float], title: str = "") -> Figure:
    """Two bar charts side by side: weight memory (MiB) and generation speed (new tokens/s) per precision."""
    fig, (ax_mem, ax_speed) = plt.subplots(1, 2, figsize=(9, 3.2))
    names = list(memory_mib)
    ax_mem.bar(names, [memory_mib[n] for n in names], color="#4c72b0")
    ax_mem.set_ylabel("weights (MiB)")
    ax_mem.set_title("memory footprint")
    ax_speed.bar(names, [tokens_per_s[n] for n in names], color="#dd8452")
    ax_speed.set_ylabel("new tokens / s")
    ax_speed.set_title("generation speed")
    for ax, values in ((ax_mem, memory_mib), (ax_speed, tokens_per_s)):
        for i, n in enumerate(names):
            ax.annotate(f"{values[n]:.0f}", (i, values[n]), ha="center", va="bottom")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ablation(summaries: dict, title: str = "") -> Figure:
    """The ablation: prompt-level strict accuracy per variant with 95 % CI bars (left) and per task
    family as a heat map (right). `summaries`: variant -> `course_utils.evaluation.metrics.Summary`."""
    import numpy as np

    names = list(summaries)
    fig, (ax, ax_fam) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    means = [100 * summaries[n].prompt.mean for n in names]
    err = [[m - 100 * summaries[n].prompt.low for m, n in zip(means, names)],
           [100 * summaries[n].prompt.high - m for m, n in zip(means, names)]]
    colors = ["#55a868" if n == "crlft" else "#c44e52" if n == "crlft-suboptimal" else "#8c8c8c" if n == "base"
              else "#4c72b0" for n in names]
    ax.barh(names, means, xerr=err, color=colors, capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel("prompt-level strict accuracy (%)")
    ax.set_xlim(0, 100)
    for i, m in enumerate(means):
        ax.annotate(f"{m:.1f}", (m, i), xytext=(4, -10), textcoords="offset points", fontsize=8)
    families = sorted({f for n in names for f in summaries[n].per_family})
    grid = np.array([[100 * summaries[n].per_family[f]["prompt"].mean if f in summaries[n].per_family else np.nan
                      for f in families] for n in names])
    im = ax_fam.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax_fam.set_xticks(range(len(families)), families, rotation=45, ha="right")
    ax_fam.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(families)):
            if not np.isnan(grid[i, j]):
                ax_fam.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if grid[i, j] < 60 else "black")
    fig.colorbar(im, ax=ax_fam, label="%")
    ax_fam.set_title("per task family")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_alternatives(points: dict[str, dict[str, dict]], title: str = "") -> Figure:
    """One panel per data regime: each variant's prompt-level accuracy with its 95 % CI. `points`: regime ->
    variant -> {"mean", "low", "high"} (fractions). C-RLFT green, KTO orange, the upper bound hatched."""
    fig, axes = plt.subplots(1, len(points), figsize=(5.5 * len(points), 3.6), squeeze=False, sharex=True)
    for ax, (regime, rows) in zip(axes[0], points.items()):
        names = list(rows)
        means = [100 * rows[n]["mean"] for n in names]
        err = [[m - 100 * rows[n]["low"] for m, n in zip(means, names)],
               [100 * rows[n]["high"] - m for m, n in zip(means, names)]]
        colors = ["#55a868" if n == "crlft" else "#dd8452" if n == "kto" else "#8c8c8c" if n == "base"
                  else "#4c72b0" for n in names]
        bars = ax.barh(names, means, xerr=err, color=colors, capsize=3)
        for bar, n in zip(bars, names):
            if n == "sft-filtered":
                bar.set_hatch("//")
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("prompt-level strict accuracy (%)")
        ax.set_title(f"{regime} regime")
        for i, m in enumerate(means):
            ax.annotate(f"{m:.1f}", (m, i), xytext=(4, -10), textcoords="offset points", fontsize=8)
    fig.suptitle(title + "\ngreen: C-RLFT; orange: KTO; hatched: filtered SFT, which uses a label per answer")
    fig.tight_layout()
    return fig


def plot_sweep(points: dict[str, list[dict]], title: str = "") -> Figure:
    """Prompt-level accuracy against the share of expert data, one line per variant with 95 % CI bars and each
    seed's accuracy as a dot. `points`: variant -> [{"share", "mean", "low", "high", "per_seed"}, ...]."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {"crlft": "#55a868", "sft-expert": "#dd8452", "sft-mix": "#4c72b0"}
    for k, (name, rows) in enumerate(points.items()):
        x = [100 * r["share"] * (1 + 0.04 * (k - 1)) for r in rows]  # a small offset keeps the bars apart
        mean = [100 * r["mean"] for r in rows]
        err = [[m - 100 * r["low"] for m, r in zip(mean, rows)], [100 * r["high"] - m for m, r in zip(mean, rows)]]
        color = colors.get(name)
        ax.errorbar(x, mean, yerr=err, marker="o", capsize=3, label=name, color=color)
        for xi, r in zip(x, rows):
            ax.scatter([xi] * len(r["per_seed"]), [100 * v for v in r["per_seed"]], s=8, color=color, alpha=0.4)
    ax.set_xscale("log")
    shares = [100 * r["share"] for r in next(iter(points.values()))]
    ax.set_xticks(shares, [f"{s:g} %" for s in shares])
    ax.minorticks_off()
    ax.set_xlabel("expert conversations in the training data (share, log scale)")
    ax.set_ylabel("prompt-level strict accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_validation_curves(curves: dict[str, dict[str, list[dict]]], title: str = "") -> Figure:
    """Validation accuracy against training step, one panel per variant and one line per learning rate, with 95 %
    CI bars. `curves`: variant -> learning rate (text) -> [{"step", "mean", "low", "high"}, ...]."""
    fig, axes = plt.subplots(1, len(curves), figsize=(2.6 * len(curves) + 0.6, 3.2), sharey=True, squeeze=False)
    for ax, (variant, by_lr) in zip(axes[0], curves.items()):
        for k, (lr, points) in enumerate(by_lr.items()):
            x = [p["step"] + 0.3 * (k - 1) for p in points]  # a small offset keeps the bars apart
            mean = [100 * p["mean"] for p in points]
            err = [[m - 100 * p["low"] for m, p in zip(mean, points)], [100 * p["high"] - m for m, p in zip(mean, points)]]
            ax.errorbar(x, mean, yerr=err, marker="o", capsize=2, label=f"lr {lr}")
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("optimiser step")
        ax.set_ylim(0, 100)
    axes[0][0].set_ylabel("validation prompt-level accuracy (%)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_quantization_error(weights, dequantized: dict, bins: int = 120, levels: dict | None = None,
                            blocksize: int = 64) -> Figure:
    """Left: the weights divided by their block's absmax (what a 4-bit code must represent), with each format's 16
    levels as vertical lines (`levels`: format name -> its 16 values in [-1, 1]); right: histogram of the error each
    4-bit format makes (`dequantized`: format name -> dequantized tensor of the same shape)."""
    w = weights.detach().float().flatten().cpu()
    blocks = w[: w.numel() // blocksize * blocksize].reshape(-1, blocksize)
    scaled = (blocks / blocks.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)).flatten().numpy()
    fig, (ax_w, ax_e) = plt.subplots(1, 2, figsize=(11, 3.4))
    ax_w.hist(scaled, bins=bins, color="#4c72b0", alpha=0.8)
    for (name, values), style in zip((levels or {}).items(), ("-", "--", ":")):
        for k, value in enumerate(values):
            ax_w.axvline(value, color="black" if style == "-" else "#c44e52", linestyle=style, linewidth=0.8,
                         label=f"the 16 {name} levels" if k == 0 else None)
    ax_w.set_title(f"weights / their block's absmax (blocks of {blocksize})")
    ax_w.set_xlabel("scaled weight value")
    ax_w.set_ylabel("number of weights (log scale)")
    ax_w.set_yscale("log")
    if levels:
        ax_w.legend(fontsize=8, loc="upper left")
    w = w.numpy()
    for name, d in dequantized.items():
        err = d.detach().float().flatten().cpu().numpy() - w
        ax_e.hist(err, bins=bins, histtype="step", label=f"{name} (mean |err| {abs(err).mean():.2e})")
    ax_e.set_title("quantization error")
    ax_e.set_xlabel("dequantized - original weight")
    ax_e.set_ylabel("number of weights (log scale)")
    ax_e.set_yscale("log")
    ax_e.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_losses(log: list[dict], keys: tuple[str, ...] = ("loss", "loss_expert", "loss_suboptimal"),
                      smooth: int = 5, title: str = "") -> Figure:
    """Training curves from a C-RLFT log (`course_utils.training.run.read_log`): the weighted step loss and the
    unweighted token cross-entropy of each data class, raw (faint) and as a running mean over `smooth` logs."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = {"loss": "step loss sum(w*CE)/sum(w)", "loss_expert": "expert tokens (CE)",
              "loss_suboptimal": "sub-optimal tokens (CE)"}
    for key in keys:
        points = [(h["step"], h[key]) for h in log if key in h]
        if not points:
            continue
        steps, values = zip(*points)
        line, = ax.plot(steps, values, alpha=0.25)
        means = [sum(values[max(0, i - smooth + 1):i + 1]) / len(values[max(0, i - smooth + 1):i + 1])
                 for i in range(len(values))]
        ax.plot(steps, means, color=line.get_color(), label=labels.get(key, key))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_token_weights(rows: dict[str, list[tuple[str, float]]], width: float = 15.0,
                       colors: dict[float, str] | None = None) -> Figure:
    """The conditioned template token by token, one block per condition: each token in a box coloured by its loss
    weight (grey = 0, no loss; green = 1.0; orange = 0.1). `rows` maps a label to `(token text, weight)` pairs, as
    `course_utils.method.tokenization.token_weights` gives them. A PNG, so it survives GitHub's notebook renderer."""
    colors = colors or {0.0: "#e6e6e6", 1.0: "#7fc97f", 0.1: "#fdb462"}
    char, height, gap = 0.085, 0.5, 0.05  # inches per character, per line, between boxes
    lines: list[tuple[str, list[tuple[float, str, float]]]] = []
    for label, pairs in rows.items():
        x, line = 0.0, []
        for text, weight in pairs:
            shown = text.replace("\n", "\u21b5") or " "
            box = char * len(shown) + 0.12
            if x + box > width and line:
                lines.append((label, line))
                label, x, line = "", 0.0, []
            line.append((x, shown, weight))
            x += box + gap
        lines.append((label, line))
    fig, ax = plt.subplots(figsize=(width + 1.6, height * len(lines) + 0.7))
    for row, (label, line) in enumerate(lines):
        y = -row * height
        ax.text(-0.15, y, label, ha="right", va="center", fontsize=10, fontweight="bold")
        for x, shown, weight in line:
            face = colors.get(round(weight, 3), "#80b1d3")
            ax.text(x, y, shown, va="center", ha="left", family="monospace", fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.15", facecolor=face, edgecolor="#999999"))
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="#999999") for c in colors.values()]
    ax.legend(handles, [f"weight {w:g}" + (" (no loss)" if w == 0 else "") for w in colors], loc="upper center",
              bbox_to_anchor=(0.5, 0.0), ncol=len(colors), frameon=False)
    ax.set_xlim(-1.6, width)
    ax.set_ylim(-height * (len(lines) - 0.5), height * 0.6)
    ax.axis("off")
    fig.tight_layout()
    return fig
