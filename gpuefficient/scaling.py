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
from typing import Callable, Sequence

from gpuefficient.spec import NetworkSpec, SpecError

__all__ = ["round_filters", "round_repeats", "scale_spec", "COEFFICIENTS", "REWARD_EXPONENT", "multipliers",
           "phi_for_resolution", "compound_scale", "flops_growth", "reward", "solve_phi", "family", "table_latency", "grid",
           "lacs_search"]


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


# --- Compound scaling and LACS (EfficientNet-X Sec. 4, Eq. 4-5, Table 2) ------------------------------

#: EfficientNet-X Table 2 (as reported): (alpha, beta, gamma) for depth, width, resolution.
COEFFICIENTS = {"accuracy-only": (1.2, 1.1, 1.15), "lacs-gpu": (1.29, 1.16, 1.07), "lacs-tpu": (1.29, 1.14, 1.08)}
#: The exponent of the multi-objective reward ACC x (LAT / T)^w that EfficientNet-X uses (Sec. 5.2).
REWARD_EXPONENT = -0.09


def multipliers(alpha: float, beta: float, gamma: float, phi: float) -> tuple[float, float, float]:
    """Eq. 5: (depth, width, resolution) multipliers alpha^phi, beta^phi, gamma^phi; each base must be >= 1."""
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
            raise ValueError(f"{name}: got {value!r}, expected a number >= 1 (Eq. 5)")
    if isinstance(phi, bool) or not isinstance(phi, (int, float)) or not math.isfinite(phi) or phi < 0:
        raise ValueError(f"phi: got {phi!r}, expected a number >= 0")
    return alpha ** phi, beta ** phi, gamma ** phi


def phi_for_resolution(resolution: float, base_resolution: float, gamma: float) -> float:
    """The phi at which ``base_resolution x gamma^phi`` equals ``resolution`` (how the release's tuples
    reveal the phi of each family member)."""
    _positive("resolution", resolution)
    _positive("base_resolution", base_resolution)
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


def reward(accuracy: float, latency: float, target: float, w: float = REWARD_EXPONENT) -> float:
    """EfficientNet-X's multi-objective ACC x (LAT / T)^w: above the target, latency costs reward."""
    for name, value in (("accuracy", accuracy), ("latency", latency), ("target", target)):
        _positive(name, value)
    return accuracy * (latency / target) ** w


def solve_phi(latency_at: Callable[[float], float], target: float, phi_max: float = 8.0, tolerance: float = 0.01,
              max_steps: int = 20) -> tuple[float, float]:
    """The phi whose latency meets ``target`` (Eq. 4's constraint), by bisection: (phi, its latency).

    ``latency_at(phi)`` measures (or predicts) the scaled model's latency and must grow with phi.
    Stops when within ``tolerance`` (relative) of the target, else returns the closest phi seen in
    ``max_steps`` (latency is a step function of phi: depths and widths are rounded). Raises when
    even phi = 0 is too slow or ``phi_max`` is too fast for the target.
    """
    _positive("target", target)
    low, high = 0.0, float(phi_max)
    at_low, at_high = latency_at(low), latency_at(high)
    if at_low > target * (1 + tolerance):
        raise ValueError(f"target: got {target:.4g}, but the base model (phi 0) already takes {at_low:.4g}")
    if at_high < target * (1 - tolerance):
        raise ValueError(f"target: got {target:.4g}, but phi_max {phi_max:g} reaches only {at_high:.4g}; raise phi_max")
    best = (low, at_low) if abs(at_low - target) < abs(at_high - target) else (high, at_high)
    for _ in range(max_steps):
        if abs(best[1] / target - 1) <= tolerance:
            break
        mid = (low + high) / 2
        at_mid = latency_at(mid)
        if abs(at_mid - target) < abs(best[1] - target):
            best = (mid, at_mid)
        low, high = (mid, high) if at_mid < target else (low, mid)
    return best


def _scaled_to_target(base: NetworkSpec, coefficients: tuple[float, float, float], latency: Callable, target: float,
                      phi_max: float, tolerance: float) -> tuple[float, float, NetworkSpec]:
    """(phi, latency, spec) of ``base`` compound-scaled by ``coefficients`` to meet ``target`` (:func:`solve_phi`)."""
    phi, lat = solve_phi(lambda p: latency(compound_scale(base, *coefficients, p)), target, phi_max, tolerance)
    return phi, lat, compound_scale(base, *coefficients, phi)


def family(base: NetworkSpec, alpha: float, beta: float, gamma: float, *, phis: Sequence[float] | None = None,
           targets: Sequence[float] | None = None, latency: Callable | None = None, phi_max: float = 8.0,
           tolerance: float = 0.03) -> list[dict]:
    """A model family from one (alpha, beta, gamma): one row per member, smallest first.

    Either ``phis`` (EfficientNet's way: phi = 0, 1, 2, ...) or latency ``targets`` in seconds
    (EfficientNet-X's way: each member's phi solved by :func:`solve_phi` against ``latency(spec)``,
    measured or predicted from a lookup table, see :func:`table_latency`). Rows hold ``phi``,
    ``spec``, its depth and width multipliers and input resolution, and ``latency_s`` when
    ``latency`` is given (and ``target_s`` for targets).
    """
    if (phis is None) == (targets is None):
        raise ValueError("family: expected exactly one of phis (a list of phi) or targets (latencies in seconds)")
    if targets is not None and latency is None:
        raise ValueError("family: targets need latency(spec) -> seconds, measured or from a lookup table")
    rows = []
    if phis is not None:
        for phi in phis:
            spec = compound_scale(base, alpha, beta, gamma, phi)
            rows.append({"phi": phi, "spec": spec, **({"latency_s": latency(spec)} if latency else {})})
    else:
        for target in targets:
            phi, lat, spec = _scaled_to_target(base, (alpha, beta, gamma), latency, target, phi_max, tolerance)
            rows.append({"phi": phi, "spec": spec, "latency_s": lat, "target_s": target})
    for row in rows:
        depth, width, _ = multipliers(alpha, beta, gamma, row["phi"])
        row.update(depth=depth, width=width, resolution=row["spec"].resolution)
    return sorted(rows, key=lambda r: r["phi"])


def table_latency(table, batch: int = 1, granularity: str = "block") -> Callable[[NetworkSpec], float]:
    """``latency(spec)`` predicted by a :class:`gpuefficient.lut.LatencyTable` (GPUNet's way): the sum
    of the spec's units at ``batch``, each measured once and then looked up; for :func:`family`,
    :func:`solve_phi` and :func:`lacs_search` where timing every candidate end to end is too slow."""
    from gpuefficient.builder import build

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: got {batch!r}, expected an integer >= 1")

    def latency(spec: NetworkSpec) -> float:
        return table.predict(build(spec), (batch, 3, spec.resolution, spec.resolution), granularity).total_s

    return latency


def grid(alphas: Sequence[float], betas: Sequence[float], gammas: Sequence[float],
         flops_budget: float | None = None, tolerance: float = 0.1) -> list[tuple[float, float, float]]:
    """Every (alpha, beta, gamma) of the grid; with ``flops_budget`` only those whose alpha x beta^2 x
    gamma^2 is within ``tolerance`` (relative) of it (EfficientNet's single-objective search: 2)."""
    out = [(a, b, g) for a in alphas for b in betas for g in gammas]
    if flops_budget is not None:
        out = [c for c in out if abs(flops_growth(*c) / flops_budget - 1) <= tolerance]
    if not out:
        raise ValueError(f"grid: no (alpha, beta, gamma) left (flops_budget {flops_budget}, tolerance {tolerance})")
    return out


def lacs_search(base: NetworkSpec, candidates: Sequence[tuple[float, float, float]], latency: Callable,
                accuracy: Callable, target: float, w: float = REWARD_EXPONENT, phi_max: float = 8.0,
                tolerance: float = 0.03) -> list[dict]:
    """Latency-aware compound scaling (Eq. 4): for each (alpha, beta, gamma), scale ``base`` until
    ``latency(spec)`` meets ``target``, then score ``accuracy(spec)`` with :func:`reward`.

    ``latency(spec) -> seconds`` measures on the device or predicts from a lookup table;
    ``accuracy(spec) -> float`` is any oracle (short training, the user's own runs, a surrogate).
    Rows are sorted best reward first; a candidate that cannot meet the target within ``phi_max``
    is kept as a row with ``skipped`` (the reason) and no reward, last.
    """
    if not isinstance(base, NetworkSpec):
        raise TypeError(f"base: got {type(base).__name__}, expected a NetworkSpec")
    rows, skipped = [], []
    for alpha, beta, gamma in candidates:
        try:
            phi, lat, spec = _scaled_to_target(base, (alpha, beta, gamma), latency, target, phi_max, tolerance)
        except ValueError as err:
            skipped.append({"alpha": alpha, "beta": beta, "gamma": gamma, "skipped": str(err), "reward": math.nan})
            continue
        acc = accuracy(spec)
        rows.append({"alpha": alpha, "beta": beta, "gamma": gamma, "phi": phi, "latency_s": lat,
                     "accuracy": acc, "reward": reward(acc, lat, target, w),
                     "depth": sum(s.depth for s in spec.stages), "resolution": spec.resolution,
                     "flops_growth": flops_growth(alpha, beta, gamma), "skipped": "", "spec": spec})
    return sorted(rows, key=lambda r: -r["reward"]) + skipped
