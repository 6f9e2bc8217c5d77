"""Matplotlib figures shared by the chapters: rooflines, layers on a roofline, latency scatter."""
from __future__ import annotations

import numpy as np

__all__ = ["plot_rooflines", "plot_layers", "plot_points", "KIND_COLORS"]

KIND_COLORS = {
    "conv": "tab:blue", "linear": "tab:purple", "norm": "tab:orange", "activation": "tab:red",
    "elementwise": "tab:green", "pool": "tab:brown", "memory": "tab:gray", "other": "black",
}


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.5, 4.8))
    return ax


def plot_rooflines(rooflines, ax=None, intensity_range=(0.05, 3e4), ridge=True, styles=None):
    """Draw each ``Roofline`` log-log (FLOP/s against FLOP/byte), ridge points marked."""
    ax = _axes(ax)
    x = np.logspace(np.log10(intensity_range[0]), np.log10(intensity_range[1]), 400)
    for i, roof in enumerate(rooflines):
        style = {"lw": 1.8, **((styles or {}).get(roof.label, {}))}
        (line,) = ax.plot(x, roof.attainable(x), label=f"{roof.label}: ridge {roof.ridge_point:.0f} FLOP/B", **style)
        if ridge:
            ax.plot([roof.ridge_point], [roof.peak_flops], "o", color=line.get_color(), ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("attainable rate (FLOP/s)")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_layers(report, roofline, ax=None, marker="o", label_prefix="", min_size=6.0, max_size=300.0):
    """Each op of a ``CostReport`` at (intensity, attainable rate), coloured by kind.

    Marker area follows the op's share of the roofline time floor, so memory-bound elementwise
    ops that cost time but few FLOPs stay visible.
    """
    from gpuefficient.analysis.roofline import place_layers

    ax = _axes(ax)
    rows = place_layers(report, roofline)
    if not rows:
        return ax
    times = np.array([r["time_floor_s"] for r in rows], dtype=float)
    sizes = min_size + (max_size - min_size) * np.sqrt(times / times.max())
    for kind in sorted({r["kind"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["kind"] == kind]
        ax.scatter([rows[i]["intensity"] for i in idx], [rows[i]["attainable_flops"] for i in idx],
                   s=sizes[idx], marker=marker, alpha=0.55, color=KIND_COLORS.get(kind, "black"),
                   edgecolors="none", label=f"{label_prefix}{kind}")
    return ax


def plot_points(xs, ys, labels, ax=None, xlabel="", ylabel="", logx=True, logy=True, **scatter):
    """A labelled scatter (e.g. latency against FLOPs, one point per model)."""
    ax = _axes(ax)
    ax.scatter(xs, ys, **{"s": 30, "zorder": 3, **scatter})
    for x, y, text in zip(xs, ys, labels):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    return ax
