"""Latency-aware compound scaling (LACS, EfficientNet-X Sec. 4, Eq. 4, Table 2).

EfficientNet searched (alpha, beta, gamma) under a FLOPs constraint; EfficientNet-X searches them
for the best accuracy at a *latency* target, scoring each candidate with the reward
ACC x (LAT / T)^w. For every candidate the family's phi is solved so the scaled network meets the
target (:func:`solve_phi`), latency measured on the device or predicted from a lookup table
(:func:`table_latency`, :func:`measured_latency`), accuracy from any oracle
(:mod:`gpuefficient.design.oracles`).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from gpuefficient import checks
from gpuefficient.arch.scaling import compound_scale, flops_growth, multipliers
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["COEFFICIENTS", "REWARD_EXPONENT", "reward", "solve_phi", "family", "table_latency", "measured_latency",
           "MeasuredLatency", "grid", "lacs_search", "phi_for_macs", "reward_margin", "dimension_gap",
           "deeper_lower_fraction", "depth_preference"]

#: EfficientNet-X Table 2 as the CVPR 2021 version reports it: (alpha, beta, gamma) for depth, width, resolution.
#: The arXiv version with appendices prints other LACS values (GPU (1.28, 1.17, 1.07), TPU (1.25, 1.17, 1.09));
#: both are in ``gpuefficient.papers.EFFICIENTNET_X_TABLE2``. The release's GPU family follows these (CVPR) ones.
COEFFICIENTS = {"accuracy-only": (1.2, 1.1, 1.15), "lacs-gpu": (1.29, 1.16, 1.07), "lacs-tpu": (1.29, 1.14, 1.08)}
#: The exponent of the multi-objective reward ACC x (LAT / T)^w that EfficientNet-X uses (Sec. 5.2).
REWARD_EXPONENT = -0.09


def reward(accuracy: float, latency: float, target: float, w: float = REWARD_EXPONENT) -> float:
    """EfficientNet-X's multi-objective ACC x (LAT / T)^w: above the target, latency costs reward."""
    for name, value in (("accuracy", accuracy), ("latency", latency), ("target", target)):
        checks.number(name, value, 0, low_open=True)
    return accuracy * (latency / target) ** w


def solve_phi(latency_at: Callable[[float], float], target: float, phi_max: float = 8.0, tolerance: float = 0.01,
              max_steps: int = 10) -> tuple[float, float]:
    """The phi whose latency meets ``target`` (Eq. 4's constraint), by bracketing then bisection: (phi, its latency).

    ``latency_at(phi)`` measures (or predicts) the scaled model's latency and must grow with phi.
    The upper bracket grows from ``phi_max / 8`` by doubling up to ``phi_max``, so a target near the
    base never pays for timing the largest network. Stops when within ``tolerance`` (relative) of
    the target, else returns the closest phi seen in ``max_steps`` bisection steps (latency is a step
    function of phi: depths and widths are rounded; 10 steps resolve phi to phi_max / 8192, and bound
    what a noisy machine, whose timings jump, can cost a search). Raises when even phi = 0 is too slow or ``phi_max`` is too
    fast for the target.
    """
    checks.number("target", target, 0, low_open=True)
    checks.number("phi_max", phi_max, 0, low_open=True)
    low, at_low = 0.0, latency_at(0.0)
    if at_low > target * (1 + tolerance):
        raise ValueError(f"target: got {target:.4g}, but the base model (phi 0) already takes {at_low:.4g}")
    best = (low, at_low)
    high = phi_max / 8
    while True:  # bracket: double the upper phi until it reaches the target or phi_max
        at_high = latency_at(high)
        if abs(at_high - target) < abs(best[1] - target):
            best = (high, at_high)
        if at_high >= target * (1 - tolerance) or high >= phi_max:
            break
        low, at_low, high = high, at_high, min(2 * high, phi_max)
    if at_high < target * (1 - tolerance):
        raise ValueError(f"target: got {target:.4g}, but phi_max {phi_max:g} reaches only {at_high:.4g}; raise phi_max")
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
    ``latency`` is given (and ``target_s`` and ``skipped`` for targets). Code whose inputs are
    measurements must not fail on their noise: a target the family cannot meet within ``phi_max``
    (e.g. the base model's own latency, re-measured slower) is a row with ``skipped`` saying why and
    NaN numbers, after the members, never an exception.
    """
    if (phis is None) == (targets is None):
        raise ValueError("family: expected exactly one of phis (a list of phi) or targets (latencies in seconds)")
    if targets is not None and latency is None:
        raise ValueError("family: targets need latency(spec) -> seconds, measured or from a lookup table")
    rows, missed = [], []
    if phis is not None:
        for phi in phis:
            spec = compound_scale(base, alpha, beta, gamma, phi)
            rows.append({"phi": phi, "spec": spec, **({"latency_s": latency(spec)} if latency else {})})
    else:
        for target in targets:
            try:
                phi, lat, spec = _scaled_to_target(base, (alpha, beta, gamma), latency, target, phi_max, tolerance)
            except ValueError as err:  # a target the family cannot meet, often a measured one met by noise:
                missed.append({"phi": math.nan, "spec": None, "latency_s": math.nan, "target_s": target,
                               "depth": math.nan, "width": math.nan, "resolution": math.nan, "skipped": str(err)})
                continue
            rows.append({"phi": phi, "spec": spec, "latency_s": lat, "target_s": target, "skipped": ""})
    for row in rows:
        depth, width, _ = multipliers(alpha, beta, gamma, row["phi"])
        row.update(depth=depth, width=width, resolution=row["spec"].resolution)
    return sorted(rows, key=lambda r: r["phi"]) + missed


def table_latency(table, batch: int = 1, granularity: str = "block") -> Callable[[NetworkSpec], float]:
    """``latency(spec)`` predicted by a :class:`gpuefficient.measure.lut.LatencyTable` (GPUNet's way): the sum
    of the spec's units at ``batch``, each measured once and then looked up; for :func:`family`,
    :func:`solve_phi` and :func:`lacs_search` where timing every candidate end to end is too slow."""
    from gpuefficient.arch.builder import build

    checks.integer("batch", batch)

    def latency(spec: NetworkSpec) -> float:
        return table.predict(build(spec), (batch, 3, spec.resolution, spec.resolution), granularity).total_s

    return latency


class MeasuredLatency:
    """``latency(spec)`` measured on the device (:func:`measured_latency`), each architecture once.

    Calling it builds the spec, times it at ``(batch, 3, resolution, resolution)`` with
    :func:`gpuefficient.measure.timer.measure_model` and returns the median in seconds; the
    :class:`~gpuefficient.measure.timer.Measurement` is kept in :attr:`measurements` under
    ``spec.fingerprint()``, so a spec met again (a bisection revisits phis, several searches share
    candidates, two names for one network) costs nothing. ``longer`` multiplies warm-up and repeats
    for a network that anchors others (a latency target), on its first measurement only.
    ``len()`` is the number of networks timed.
    """

    def __init__(self, batch: int = 1, device="auto", dtype="fp32", *, warmup: int = 10, repeats: int = 50,
                 channels_last: bool = False):
        self.batch = checks.integer("batch", batch)
        self.warmup = checks.integer("warmup", warmup, 0)
        self.repeats = checks.integer("repeats", repeats)
        self.device, self.dtype, self.channels_last = device, dtype, bool(channels_last)
        self.measurements: dict = {}

    def __call__(self, spec: NetworkSpec, longer: int = 1) -> float:
        from gpuefficient.arch.builder import build
        from gpuefficient.measure.timer import measure_model

        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec")
        checks.integer("longer", longer)
        key = spec.fingerprint()
        if key not in self.measurements:
            self.measurements[key] = measure_model(
                build(spec), (self.batch, 3, spec.resolution, spec.resolution), dtype=self.dtype, device=self.device,
                channels_last=self.channels_last, warmup=longer * self.warmup, repeats=longer * self.repeats,
                label=spec.name)
        return self.measurements[key].median

    def __len__(self) -> int:
        return len(self.measurements)


def measured_latency(batch: int = 1, device="auto", dtype="fp32", *, warmup: int = 10, repeats: int = 50,
                     channels_last: bool = False) -> MeasuredLatency:
    """``latency(spec)`` measured end to end on ``device`` at ``batch`` (the median, seconds), each
    architecture timed once and cached by ``spec.fingerprint()``: the measured counterpart of
    :func:`table_latency`, for :func:`family`, :func:`solve_phi` and :func:`lacs_search`."""
    return MeasuredLatency(batch, device, dtype, warmup=warmup, repeats=repeats, channels_last=channels_last)


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
            skipped.append({"alpha": alpha, "beta": beta, "gamma": gamma, "phi": math.nan, "latency_s": math.nan,
                            "accuracy": math.nan, "reward": math.nan, "depth": math.nan, "resolution": math.nan,
                            "flops_growth": flops_growth(alpha, beta, gamma), "skipped": str(err), "spec": None})
            continue  # same columns as a measured row: a table of only skipped candidates still has them
        acc = accuracy(spec)
        rows.append({"alpha": alpha, "beta": beta, "gamma": gamma, "phi": phi, "latency_s": lat,
                     "accuracy": acc, "reward": reward(acc, lat, target, w),
                     "depth": sum(s.depth for s in spec.stages), "resolution": spec.resolution,
                     "flops_growth": flops_growth(alpha, beta, gamma), "skipped": "", "spec": spec})
    return sorted(rows, key=lambda r: -r["reward"]) + skipped


def phi_for_macs(base: NetworkSpec, alpha: float, beta: float, gamma: float, macs: float, phi_max: float = 8.0,
                 tolerance: float = 0.01) -> tuple[float, float]:
    """The phi at which ``base`` compound-scaled by (alpha, beta, gamma) counts ``macs`` multiply-adds per
    image (within ``tolerance``): (phi, its MACs). Two families compared at one phi differ in FLOPs; solved
    to one FLOPs target they can be compared at equal FLOPs. MACs are counted on the meta device."""
    from gpuefficient.arch.models import spec_costs

    checks.number("macs", macs, 0, low_open=True)
    return solve_phi(lambda phi: float(spec_costs(compound_scale(base, alpha, beta, gamma, phi)).macs), macs,
                     phi_max, tolerance)


def reward_margin(tolerance: float, w: float = REWARD_EXPONENT) -> float:
    """The relative reward difference that landing anywhere within ``tolerance`` of the latency target can
    make by itself: two candidates may land on opposite sides, each moving its reward by |w| x tolerance.
    Reward gaps below this say nothing about the coefficients."""
    checks.number("tolerance", tolerance, 0, 1, low_open=True, high_open=True)
    checks.number("w", w)
    return 2 * abs(w) * tolerance


def _pair(name: str, value) -> tuple[float, float]:
    try:
        depth, resolution = (checks.number(name, v, 0, low_open=True) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: got {value!r}, expected a (depth, resolution) pair of positive numbers") from err
    return depth, resolution


def dimension_gap(transferred, direct) -> float:
    """Largest relative difference of (depth, resolution) between a family member built with coefficients
    searched at a small target (``transferred``) and one searched at its own level (``direct``), relative to
    the direct one: EfficientNet-X Table 5's check ((75, 368) vs (79, 350): 5.1%, "within 6%")."""
    t, d = _pair("transferred", transferred), _pair("direct", direct)
    return max(abs(a - b) / b for a, b in zip(t, d))


def deeper_lower_fraction(lacs_members: Sequence, single_members: Sequence) -> float:
    """Share of members where LACS's (depth, resolution) is at least as deep and at most the resolution of
    single-objective scaling's member at the same level (EfficientNet-X Table 6's pattern): 1.0 when every
    member is deeper-or-equal and lower-or-equal resolution."""
    if len(lacs_members) != len(single_members) or not lacs_members:
        raise ValueError(f"members: got {len(lacs_members)} LACS and {len(single_members)} single-objective "
                         "members, expected the same non-zero number (one per family level)")
    pairs = [(_pair("lacs_members", a), _pair("single_members", b)) for a, b in zip(lacs_members, single_members)]
    return sum(a[0] >= b[0] and a[1] <= b[1] for a, b in pairs) / len(pairs)


def depth_preference(rows: Sequence[dict], reference: tuple[float, float, float]) -> float:
    """How strongly a search prefers growing depth faster than resolution, against ``reference`` (the
    accuracy-only pick's (alpha, beta, gamma), scored in the same search): the best row's relative reward
    advantage over the reference, signed + when the best row's alpha/gamma exceeds the reference's, - when
    it is below, 0 when they pick the same. Compare its size with :func:`reward_margin`."""
    met = [r for r in rows if not r.get("skipped")]
    if not met:
        raise ValueError("rows: no candidate met the target, expected lacs_search rows with at least one met")
    ref = [r for r in met if (r["alpha"], r["beta"], r["gamma"]) == tuple(reference)]
    if not ref:
        raise ValueError(f"reference: got {tuple(reference)!r}, expected the coefficients of a candidate that "
                         "met the target in these rows")
    best = max(met, key=lambda r: r["reward"])
    ratio, ref_ratio = best["alpha"] / best["gamma"], reference[0] / reference[2]
    sign = (ratio > ref_ratio) - (ratio < ref_ratio)
    return sign * (best["reward"] / ref[0]["reward"] - 1)
