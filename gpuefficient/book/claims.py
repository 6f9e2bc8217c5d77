"""The claims check that ends every chapter: a paper's claim, its number, ours, and a verdict."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Claim", "claims_table", "verdict", "VERDICTS"]

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


def claims_table(claims: list[Claim]):
    """The claims as a pandas DataFrame, one row each, ready to display at the end of a chapter."""
    import pandas as pd

    return pd.DataFrame([c.__dict__ for c in claims]).rename(columns=str.capitalize)
