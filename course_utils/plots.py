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
    family as a heat map (right). `summaries`: variant -> `course_utils.evaluation.Summary`."""
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


def plot_quantization_error(weights, dequantized: dict, bins: int = 120) -> Figure:
    """Left: histogram of a weight matrix's values; right: histogram of the error each 4-bit format
    makes on it (`dequantized`: format name -> dequantized tensor of the same shape)."""
    w = weights.detach().float().flatten().cpu().numpy()
    fig, (ax_w, ax_e) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax_w.hist(w, bins=bins, color="#4c72b0")
    ax_w.set_title("weight values")
    ax_w.set_yscale("log")
    for name, d in dequantized.items():
        err = d.detach().float().flatten().cpu().numpy() - w
        ax_e.hist(err, bins=bins, histtype="step", label=f"{name} (mean |err| {abs(err).mean():.2e})")
    ax_e.set_title("quantization error (dequantized - original)")
    ax_e.set_yscale("log")
    ax_e.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_losses(log: list[dict], keys: tuple[str, ...] = ("loss", "loss_expert", "loss_suboptimal"),
                      smooth: int = 5, title: str = "") -> Figure:
    """Training curves from a C-RLFT log (`course_utils.training.read_log`): the weighted step loss and the
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
