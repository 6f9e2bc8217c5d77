"""Compound scaling of a network spec: width, depth and resolution multipliers.

The rounding rules are EfficientNet's, as its release (and EfficientNet-X's, which reuses them)
applies them: every width (stem, each stage, head) is multiplied and rounded to the nearest
multiple of ``divisor`` but never below 90% of the unrounded value; every stage's depth is
``ceil(depth multiplier x base depth)``; the resolution is given, not derived. Compound scaling
(EfficientNet-X Eq. 5) sets the three multipliers from (alpha, beta, gamma) and phi; the search for
those coefficients (LACS) is :mod:`gpuefficient.design.lacs`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

from gpuefficient import checks
from gpuefficient.arch.spec import NetworkSpec, SpecError

__all__ = ["round_filters", "round_repeats", "scale_spec", "MAX_MULTIPLIER", "multipliers", "phi_for_resolution", "compound_scale",
           "flops_growth"]


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """``filters x width`` rounded to a multiple of ``divisor`` (at least ``divisor``), never below 90%."""
    checks.number("width", width, 0, low_open=True)
    checks.integer("divisor", divisor)
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:  # rounding down must not lose more than 10%
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """``ceil(depth x repeats)``: a stage never loses a block."""
    checks.number("depth", depth, 0, low_open=True)
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
    checks.number("depth", depth, 0, low_open=True)
    checks.integer("resolution", resolution)
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


#: The largest depth, width or resolution multiplier compound scaling builds (EfficientNet-X-B7: 5.46x depth).
MAX_MULTIPLIER = 16.0


def multipliers(alpha: float, beta: float, gamma: float, phi: float) -> tuple[float, float, float]:
    """Eq. 5: (depth, width, resolution) multipliers alpha^phi, beta^phi, gamma^phi; each base must be >= 1."""
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        checks.number(name, value, 1)
    checks.number("phi", phi, 0)
    largest = max(alpha, beta, gamma)
    if largest > 1 and phi * math.log(largest) > math.log(MAX_MULTIPLIER):
        limit = math.log(MAX_MULTIPLIER) / math.log(largest)
        raise ValueError(f"phi: got {phi!r}, which multiplies a dimension by {largest:g}^{phi:g}; expected phi <= "
                         f"{limit:.3g} for these bases (multipliers up to {MAX_MULTIPLIER:g}x, already past "
                         "EfficientNet-X-B7's 5.5x depth: anything larger cannot be built on one machine)")
    return alpha ** phi, beta ** phi, gamma ** phi


def phi_for_resolution(resolution: float, base_resolution: float, gamma: float) -> float:
    """The phi at which ``base_resolution x gamma^phi`` equals ``resolution`` (how the release's tuples
    reveal the phi of each family member)."""
    checks.number("resolution", resolution, 0, low_open=True)
    checks.number("base_resolution", base_resolution, 0, low_open=True)
    if gamma <= 1:
        raise ValueError(f"gamma: got {gamma!r}, expected a number > 1 to solve for phi")
    return math.log(resolution / base_resolution) / math.log(gamma)


def compound_scale(spec: NetworkSpec, alpha: float, beta: float, gamma: float, phi: float,
                   name: str | None = None) -> NetworkSpec:
    """``spec`` scaled by Eq. 5 at ``phi``: resolution = base resolution x gamma^phi, rounded (to a
    multiple of the network's stride unless a stage pads TensorFlow-'same', which takes any size)."""
    depth, width, res = multipliers(alpha, beta, gamma, phi)
    step = spec.resolution_step
    resolution = max(step, round(spec.resolution * res / step) * step)
    return scale_spec(spec, width, depth, resolution, name=name or f"{spec.name}_a{alpha:g}_b{beta:g}_g{gamma:g}_phi"
                      f"{phi:.3g}", source=f"{spec.name} compound-scaled: alpha {alpha:g}, beta {beta:g}, gamma "
                      f"{gamma:g}, phi {phi:.4g} (depth x{depth:.3f}, width x{width:.3f}, resolution {resolution})")


def flops_growth(alpha: float, beta: float, gamma: float) -> float:
    """alpha x beta^2 x gamma^2: the FLOPs multiplier per unit of phi (EfficientNet's constraint ~= 2)."""
    multipliers(alpha, beta, gamma, 1.0)
    return alpha * beta ** 2 * gamma ** 2


