"""Matplotlib figures shared by the chapters: rooflines, layers on a roofline, latency scatter, Pareto frontiers."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["plot_rooflines", "plot_layers", "plot_layer_grid", "layer_explorer", "plot_points", "plot_frontier",
           "KIND_COLORS", "BOOK_STYLE", "use_book_style"]

KIND_COLORS = {
    "conv": "tab:blue", "linear": "tab:purple", "norm": "tab:orange", "activation": "tab:red",
    "elementwise": "tab:green", "pool": "tab:brown", "memory": "tab:gray", "other": "black",
}


#: Matplotlib defaults for a page about 750 px wide: a default figure fills it at 100 dpi and its text is
#: as large as the page's small print (a figure wider than the page is scaled down, and its text with it).
BOOK_STYLE = {
    "figure.figsize": (7.5, 4.5), "figure.dpi": 100, "font.size": 10.5, "axes.titlesize": 11,
    "axes.labelsize": 10.5, "legend.fontsize": 9, "xtick.labelsize": 9.5, "ytick.labelsize": 9.5,
    "legend.framealpha": 0.85,
}


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` (``runtime.setup`` does, for every chapter)."""
    import matplotlib

    matplotlib.rcParams.update(BOOK_STYLE)


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


def plot_layer_grid(reports: Sequence, roofline, intensity_range=(0.05, 3e3)):
    """One panel per ``CostReport``, side by side: its ops on ``roofline`` (:func:`plot_layers`), one
    shared legend of op kinds. Returns the figure."""
    import matplotlib.pyplot as plt

    reports = list(reports)
    if not reports:
        raise ValueError("reports: got none, expected at least one CostReport")
    # two panels a row: four side by side would be scaled to half size on the page, legends unreadable
    cols = min(2, len(reports))
    rows = -(-len(reports) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7.5, 3.6 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, report in zip(axes.flat, reports):
        plot_rooflines([roofline], ax=ax, intensity_range=intensity_range)
        plot_layers(report, roofline, ax=ax)
        ax.set_title(f"{report.model}, batch {report.input_shape[0]}: I = {report.intensity:.1f}", fontsize=10)
    for ax in axes.flat[len(reports):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, bbox_to_anchor=(0.5, -0.04))
    dtypes = ", ".join(dict.fromkeys(r.dtype for r in reports))
    fig.suptitle(f"Per-op placement, {dtypes}, on the {roofline.label} roofline (analytic, unfused bytes)")
    return fig


def layer_explorer(models: Mapping, devices: Mapping, batches=(1, 2, 4, 8, 16, 32, 64, 128, 256),
                   dtypes=("fp16", "bf16", "fp32"), batch: int = 8, device: str | None = None, resolution: int = 224):
    """Widgets that redraw :func:`plot_layer_grid` for ``models`` (name -> module) when the batch, dtype or
    device roofline (``devices``: name -> ``DeviceSpec``) changes. Nothing is drawn until a control
    changes, so a headless run never waits on the output area. Needs ipywidgets and a live kernel."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from gpuefficient.analysis.costs import analyze
    from gpuefficient.analysis.roofline import Roofline

    controls = {"batch": widgets.SelectionSlider(description="batch", options=list(batches), value=batch),
                "dtype": widgets.Dropdown(description="dtype", options=list(dtypes), value=dtypes[0]),
                "device": widgets.Dropdown(description="roofline", options=list(devices),
                                           value=device or next(iter(devices)))}
    area = widgets.Output()

    def redraw(_change=None):
        b, dtype, name = (controls[k].value for k in ("batch", "dtype", "device"))
        roof = Roofline.from_device(devices[name], dtype, f"{name} {dtype}")
        reports = [analyze(m, (b, 3, resolution, resolution), dtype, name=n) for n, m in models.items()]
        with area:
            area.clear_output(wait=True)
            plot_layer_grid(reports, roof)
            plt.show()

    for control in controls.values():
        control.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values())), area])
    box.redraw = redraw   # for a caller (or a test) that wants a drawing now
    return box


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


def plot_frontier(xs, ys, ax=None, directions=("max", "max"), labels=None, highlight=(), xlabel="", ylabel="",
                  logx=False, **scatter):
    """Every point, its 2-D Pareto frontier joined by a black line (the utilization study's Fig. 1), and the
    names of the frontier's members and of ``highlight``. Returns the frontier's indices."""
    from gpuefficient.analysis.pareto import pareto_front

    ax = _axes(ax)
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    front = pareto_front(np.c_[xs, ys], list(directions))
    ax.scatter(xs, ys, **{"s": 18, "alpha": 0.6, "zorder": 2, **scatter})
    order = front[np.argsort(xs[front])]
    ax.plot(xs[order], ys[order], "k-", lw=1, zorder=3)
    ax.scatter(xs[front], ys[front], s=30, facecolors="none", edgecolors="k", zorder=4)
    if labels is not None:
        for i in sorted(set(front.tolist()) | {i for i, text in enumerate(labels) if text in highlight}):
            ax.annotate(labels[i], (xs[i], ys[i]), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        fontweight="bold" if labels[i] in highlight else "normal")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return front
