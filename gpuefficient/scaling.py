"""Compound scaling of a network spec: width, depth and resolution multipliers.

The rounding rules are EfficientNet's, as its release (and EfficientNet-X's, which reuses them)
applies them: every width (stem, each stage, head) is multiplied and rounded to the nearest
multiple of ``divisor`` but never below 90% of the unrounded value; every stage's depth is
``ceil(depth multiplier x base depth)``; the resolution is given, not derived. LACS (the
latency-aware search for the multipliers) builds on this module.
"""
from __future__ import annotations

import dataclasses
import math

from gpuefficient.spec import NetworkSpec, SpecError

__all__ = ["round_filters", "round_repeats", "scale_spec"]


def _positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: got {value!r}, expected a number > 0")


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """``filters x width`` rounded to a multiple of ``divisor`` (at least ``divisor``), never below 90%."""
    _positive("width", width)
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor: got {divisor!r}, expected an integer >= 1")
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:  # rounding down must not lose more than 10%
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """``ceil(depth x repeats)``: a stage never loses a block."""
    _positive("depth", depth)
    return int(math.ceil(depth * repeats))


def scale_spec(spec: NetworkSpec, width: float, depth: float, resolution: int, divisor: int = 8,
               name: str | None = None, source: str | None = None, **head_changes) -> NetworkSpec:
    """``spec`` scaled by ``width`` and ``depth`` at input size ``resolution``.

    Stem, stage and head widths go through ``round_filters``, stage depths through
    ``round_repeats``; everything else (kernels, expansions, SE ratios, activations, strides) is
    kept. ``head_changes`` update the head (e.g. ``dropout=0.3``). Ratios such as SE width that a
    family changes per member are the caller's to replace.
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec")
    _positive("depth", depth)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution: got {resolution!r}, expected an integer >= 1")
    stem = dataclasses.replace(spec.stem, out_channels=round_filters(spec.stem.out_channels, width, divisor))
    stages = tuple(dataclasses.replace(stage, out_channels=round_filters(stage.out_channels, width, divisor),
                                       depth=round_repeats(stage.depth, depth)) for stage in spec.stages)
    head = spec.head
    if head.channels is not None:
        head = dataclasses.replace(head, channels=round_filters(head.channels, width, divisor))
    try:
        head = dataclasses.replace(head, **head_changes)
    except SpecError as err:
        raise err.under("head") from None
    return dataclasses.replace(
        spec, name=name or f"{spec.name}_w{width:g}_d{depth:g}_r{resolution}", stem=stem, stages=stages, head=head,
        resolution=resolution,
        source=source if source is not None else
        f"{spec.name} scaled by width {width:g}, depth {depth:g}, resolution {resolution}")
