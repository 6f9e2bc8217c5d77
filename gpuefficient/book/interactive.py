"""Figures that stay interactive in the static book: every state is drawn once, a slider picks one.

A kernel-driven widget (``plotting.layer_explorer``) redraws on demand, but on the rendered page its
controls are dead. Here Python draws every state of a figure beforehand and embeds them all; the
slider only switches which traces are visible, in the reader's browser, with no kernel and no
network (plotly.js comes from the book's own ``_static`` folder, see ``gpuefficient.book.sphinx_plotly``).
Plotly rather than hand-written JavaScript: it is the maintained library for exactly this (sliders,
hover, zoom, log axes) and its Python package carries the matching plotly.js, so the two never drift.
"""
from __future__ import annotations

import json
from typing import Mapping, Sequence

__all__ = ["slider_figure", "layers_by_batch", "Interactive", "show"]

#: The MIME type of a Plotly figure, rendered natively by JupyterLab (the plotly wheel ships its renderer).
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def slider_figure(states: Mapping[str, Sequence], fixed: Sequence = (), *, active: int = 0, prefix: str = "",
                  titles: Mapping[str, str] | None = None, figure=None):
    """A Plotly figure that shows one state at a time, chosen with a slider.

    ``states``: slider label -> the traces drawn in that state (Plotly traces or dicts); ``fixed``:
    traces drawn in every state (a roofline, a ridge line); ``titles``: label -> the figure's title in
    that state; ``figure``: a figure to add to (e.g. from ``make_subplots``; traces then carry their own
    ``xaxis``/``yaxis``). Every state's traces are in the figure; a slider step makes its own visible.
    """
    import plotly.graph_objects as go

    if not states:
        raise ValueError("states: got none, expected at least one slider state (label -> traces)")
    labels = list(states)
    empty = [label for label in labels if not list(states[label])]
    if empty:
        raise ValueError(f"states: {empty[0]!r} has no traces, expected at least one per state")
    if not 0 <= active < len(labels):
        raise ValueError(f"active: got {active}, expected an index of the {len(labels)} states (0..{len(labels) - 1})")
    unknown = set(titles or {}) - set(labels)
    if unknown:
        raise ValueError(f"titles: {sorted(unknown)} are not states, expected some of {labels}")
    fig = figure if figure is not None else go.Figure()
    for trace in fixed:
        fig.add_trace(trace)
    owner = [None] * len(fig.data)  # None: drawn in every state
    for i, label in enumerate(labels):
        for trace in states[label]:
            fig.add_trace(trace)
            fig.data[-1].visible = i == active
            owner.append(i)
    steps = []
    for i, label in enumerate(labels):
        visible = [o is None or o == i for o in owner]
        layout = {"title.text": titles[label]} if titles and label in titles else {}
        steps.append({"label": str(label), "method": "update", "args": [{"visible": visible}, layout]})
    if titles and labels[active] in titles:
        fig.update_layout(title_text=titles[labels[active]])
    fig.update_layout(sliders=[{"active": active, "currentvalue": {"prefix": prefix}, "pad": {"t": 50},
                                "steps": steps}])
    return fig


def layers_by_batch(reports: Mapping[tuple[str, int], object], roofline, intensity_range=(0.05, 3e3)):
    """Every op of each network on ``roofline``, one panel per network, a slider over the batch.

    ``reports``: (network, batch) -> ``costs.CostReport``, every network at the same batches. The
    offline counterpart of ``plotting.layer_explorer``: moving the slider shows weight-heavy layers
    climbing toward the ridge point as the batch grows while elementwise ops and depthwise
    convolutions stay on the memory slope. Marker area follows an op's share of the time floor, colours
    its kind (``plotting.KIND_COLORS``); each step's title gives the share of memory-bound ops.
    """
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from matplotlib.colors import to_hex

    from gpuefficient.analysis.roofline import place_layers
    from gpuefficient.book.plotting import KIND_COLORS

    colors = {kind: to_hex(color) for kind, color in KIND_COLORS.items()}   # CSS colours, as matplotlib's figures

    if not reports:
        raise ValueError("reports: got none, expected (network, batch) -> CostReport")
    networks = list(dict.fromkeys(name for name, _ in reports))
    batches = sorted({batch for _, batch in reports})
    missing = [(n, b) for n in networks for b in batches if (n, b) not in reports]
    if missing:
        raise ValueError(f"reports: no report for {missing[0]}, expected every network at every batch {batches}")
    fig = make_subplots(rows=1, cols=len(networks), shared_yaxes=True, subplot_titles=networks,
                        horizontal_spacing=0.02)
    x = np.logspace(np.log10(intensity_range[0]), np.log10(intensity_range[1]), 200)
    fixed = [go.Scatter(x=x, y=roofline.attainable(x), mode="lines", line={"color": "black", "width": 1.5},
                        name=roofline.label, showlegend=col == 1, hoverinfo="skip",
                        xaxis=f"x{col if col > 1 else ''}", yaxis=f"y{col if col > 1 else ''}")
             for col in range(1, len(networks) + 1)]
    kinds = sorted({layer.kind for report in reports.values() for layer in report.layers if layer.flops})
    fixed += [go.Scatter(x=[None], y=[None], mode="markers", marker={"color": colors.get(kind, "#000000")},
                         name=kind) for kind in kinds]   # legend entries only
    states, titles = {}, {}
    for batch in batches:
        traces, bounds = [], []
        for col, name in enumerate(networks, start=1):
            rows = place_layers(reports[(name, batch)], roofline)
            bounds += [r["bound"] for r in rows]
            times = np.array([r["time_floor_s"] for r in rows], dtype=float)
            sizes = 4 + 16 * np.sqrt(times / times.max()) if len(rows) else []
            traces.append(go.Scatter(
                x=[r["intensity"] for r in rows], y=[r["attainable_flops"] for r in rows], mode="markers",
                marker={"size": sizes, "color": [colors.get(r["kind"], "#000000") for r in rows], "opacity": 0.6},
                text=[f"{r['name']} ({r['kind']})" for r in rows], showlegend=False,
                hovertemplate="%{text}<br>I = %{x:.3g} FLOP/B<extra></extra>", name=f"{name} batch {batch}",
                xaxis=f"x{col if col > 1 else ''}", yaxis=f"y{col if col > 1 else ''}"))
        states[str(batch)] = traces
        share = bounds.count("memory") / len(bounds) if bounds else 0.0
        titles[str(batch)] = f"Batch {batch}: {share:.0%} of the ops are memory-bound on the {roofline.label} roofline"
    fig = slider_figure(states, fixed, active=0, prefix="batch ", titles=titles, figure=fig)
    fig.update_xaxes(type="log", title_text="FLOP/B", tickangle=0, dtick=2,
                     range=[np.log10(intensity_range[0]), np.log10(intensity_range[1])])   # one scale for all panels
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text="attainable (FLOP/s)", col=1)
    fig.update_layout(height=480, margin={"l": 60, "r": 20, "t": 80, "b": 40}, font={"size": 12},
                      legend={"x": 1.01, "y": 1, "font": {"size": 11}})
    return fig


class Interactive:
    """A Plotly figure for display: the static book renders its HTML (plotly.js from the book's
    ``_static``), JupyterLab its Plotly JSON (its own renderer), a terminal one line."""

    def __init__(self, figure):
        self.figure = figure

    def html(self) -> str:
        """The figure as a ``<div>`` and the script that draws it, without plotly.js itself."""
        return self.figure.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})

    def _repr_mimebundle_(self, include=None, exclude=None):
        steps = sum(len(s.steps) for s in self.figure.layout.sliders)
        text = f"<interactive figure: {len(self.figure.data)} traces, a slider of {steps} steps>"
        return {"text/html": self.html(), PLOTLY_MIME: json.loads(self.figure.to_json()), "text/plain": text}


def show(figure) -> Interactive:
    """Wrap ``figure`` for display as the last expression of a notebook cell."""
    if not hasattr(figure, "to_html"):
        raise TypeError(f"figure: got {type(figure).__name__}, expected a plotly Figure")
    return Interactive(figure)
