"""The claims check that ends every chapter: a paper's claim, its number, ours, and a verdict."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from gpuefficient import checks

__all__ = ["Claim", "claims_table", "verdict", "ratio_verdict", "noise_verdict", "declines", "VERDICTS"]

VERDICTS = ("holds", "does not hold", "depends", "not tested here")


@dataclass(frozen=True)
class Claim:
    """One claim checked against a measurement or a computation made in the chapter."""

    claim: str
    source: str      # paper and section/table
    paper: str       # the paper's number, as the paper gives it
    ours: str        # our number, with the device or "analytic"
    verdict: str     # one of VERDICTS

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: got {self.verdict!r}, expected one of {VERDICTS}")


def verdict(holds: bool) -> str:
    """``holds``/``does not hold`` from a computed condition."""
    return "holds" if holds else "does not hold"


def ratio_verdict(ratios: Sequence[float]) -> str:
    """The verdict of a speed-up read several times (the rounds of an interleaved A/B, or several
    configurations): ``holds`` when every ratio is above 1, ``does not hold`` when every one is below
    1, ``depends`` when they disagree (a ratio of exactly 1 agrees with neither side)."""
    values = [checks.number("ratios", r, 0, low_open=True) for r in ratios]
    if not values:
        raise ValueError("ratios: got none, expected at least one ratio")
    if min(values) > 1:
        return verdict(True)
    if max(values) < 1:
        return verdict(False)
    return "depends"


def noise_verdict(difference: float, noise: float) -> str:
    """The verdict of "A is at least as good as B" from ``difference`` = A - B and a noise threshold:
    ``holds`` above ``noise``, ``does not hold`` below ``-noise``, ``depends`` within it (the run
    cannot tell)."""
    checks.number("difference", difference)
    checks.number("noise", noise, 0)
    if difference > noise:
        return verdict(True)
    if difference < -noise:
        return verdict(False)
    return "depends"


def declines(values: Sequence[float], margin: float = 0.05) -> bool:
    """Whether a series (e.g. a per-stage rank fraction, shallow to deep) falls: its last value more than
    ``margin`` below its first, and the mean of its second half below that of its first half."""
    values = [checks.number("values", v) for v in values]
    if len(values) < 2:
        raise ValueError(f"values: got {values!r}, expected at least 2 values")
    half = len(values) // 2
    first, second = values[:half], values[half:]
    return values[0] - values[-1] > margin and sum(second) / len(second) < sum(first) / len(first)


def claims_table(claims: list[Claim]):
    """The claims as a pandas DataFrame, one row each, ready to display at the end of a chapter."""
    import pandas as pd

    return pd.DataFrame([c.__dict__ for c in claims]).rename(columns=str.capitalize)
