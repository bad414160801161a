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
