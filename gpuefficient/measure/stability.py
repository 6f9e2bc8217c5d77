"""Can a measurement be trusted to decide a verdict? Spread, drift of a reference workload, bounded re-takes,
and evidence that is physically impossible.

Readers and CI run the book on busy, shared machines, where one timing can be ten times another of the
same code. These checks turn such evidence into a stated reason (``"unstable measurement: ..."``) that
:func:`gpuefficient.book.claims.judge` reports as ``depends``, instead of a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import torch

from gpuefficient import checks
from gpuefficient.device import resolve_device
from gpuefficient.measure.timer import Measurement, measure_within

__all__ = ["MAX_SPREAD", "MAX_DRIFT", "ATTEMPTS", "relative_spread", "instability", "Taken", "take_stable",
           "Reference", "exceeds"]

# IQR / median above which a measurement is unstable. A quiet machine measures a few per cent (the
# book's GPU runs: under 5%); 25% is what a busy neighbour on a 2-core VM produces (seen in CI).
MAX_SPREAD = 0.25
# Change of the reference workload's median between a chapter's start and end beyond which the
# machine's speed changed under the chapter's measurements.
MAX_DRIFT = 0.25
ATTEMPTS = 3  # takes of one measurement before it is declared unstable


def relative_spread(m: Measurement) -> float:
    """IQR / median of a measurement's samples: 0 for perfectly repeatable timings."""
    if not isinstance(m, Measurement):
        raise ValueError(f"m: got {m!r:.60}, expected a Measurement")
    return m.iqr / m.median if m.median > 0 else float("inf")


def _measurements(result: Any) -> list[Measurement]:
    if isinstance(result, Measurement):
        return [result]
    if isinstance(result, Mapping):
        return [m for m in result.values() if isinstance(m, Measurement)]
    if isinstance(result, Iterable):
        return [m for m in result if isinstance(m, Measurement)]
    raise ValueError(f"result: got {result!r:.60}, expected a Measurement or a collection of them")


def instability(result: Any, max_spread: float = MAX_SPREAD) -> str | None:
    """Why ``result`` (a Measurement, or a dict/list of them) is unstable, or None when every spread is
    at most ``max_spread``."""
    checks.number("max_spread", max_spread, 0, low_open=True)
    measurements = _measurements(result)
    if not measurements:
        raise ValueError("result: holds no Measurement to check")
    worst = max(measurements, key=relative_spread)
    spread = relative_spread(worst)
    if spread <= max_spread:
        return None
    return f"{worst.label or 'measurement'}: IQR {spread:.0%} of the median (limit {max_spread:.0%})"


@dataclass(frozen=True)
class Taken:
    """The last take of a measurement, how many takes it needed, and why it is unstable (None if stable)."""

    result: Any
    attempts: int
    unstable: str | None


def take_stable(take: Callable[[], Any], *, attempts: int = ATTEMPTS, max_spread: float = MAX_SPREAD) -> Taken:
    """Call ``take()`` (returning a Measurement or a dict of them, e.g. ``measure_interleaved``) until its
    spread is within ``max_spread``, at most ``attempts`` times; the last take is kept either way."""
    checks.integer("attempts", attempts)
    if not callable(take):
        raise ValueError(f"take: got {take!r:.60}, expected a callable that returns measurements")
    reason = None
    for attempt in range(1, attempts + 1):
        result = take()
        reason = instability(result, max_spread)
        if reason is None:
            return Taken(result, attempt, None)
    return Taken(result, attempts, f"{reason}, after {attempts} takes")


class Reference:
    """A fixed workload (a matrix product on random data) timed when a chapter starts and again when it
    ends: if its speed changed by more than ``max_drift``, the machine changed under the measurements.

    >>> ref = Reference("cpu", budget_s=0.05)
    >>> ref.unstable() is None or "drift" in ref.unstable()
    True
    """

    def __init__(self, device="auto", budget_s: float = 0.3, max_drift: float = MAX_DRIFT):
        self.device = resolve_device(device)
        self.budget_s = checks.number("budget_s", budget_s, 0, low_open=True)
        self.max_drift = checks.number("max_drift", max_drift, 0, low_open=True)
        n = 2048 if self.device.type == "cuda" else 256
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        generator = torch.Generator().manual_seed(0)
        a = torch.rand(n, n, generator=generator).to(self.device, dtype)
        b = torch.rand(n, n, generator=generator).to(self.device, dtype)
        self._fn = lambda: a @ b
        self.start = self._take()
        self.end: Measurement | None = None

    def _take(self) -> Measurement:
        return measure_within(self._fn, self.budget_s, device=self.device)

    def drift(self) -> float:
        """End median / start median (timing the end the first time it is asked)."""
        if self.end is None:
            self.end = self._take()
        return self.end.median / self.start.median

    def unstable(self) -> str | None:
        """Why the chapter's machine cannot be trusted (drift, or an unstable reference), or None."""
        drift = self.drift()
        if abs(drift - 1) > self.max_drift:
            return (f"reference workload drift: {drift:.2f}x between the chapter's start and end "
                    f"(limit ±{self.max_drift:.0%})")
        return instability([self.start, self.end])


def exceeds(value: float, ceiling: float, what: str, *, tolerance: float = 0.05) -> str | None:
    """Why ``value`` is physically impossible (above ``ceiling``, e.g. a measured bandwidth or peak, by more
    than ``tolerance``), or None: impossible evidence is flagged, never turned into a verdict."""
    value = checks.number("value", value)
    ceiling = checks.number("ceiling", ceiling, 0, low_open=True)
    checks.number("tolerance", tolerance, 0)
    if value > ceiling * (1 + tolerance):
        return f"{what}: {value:.3g} exceeds its measured ceiling {ceiling:.3g}"
    return None
