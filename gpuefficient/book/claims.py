"""The claims ledger that ends every chapter, and the one rule that decides each verdict.

A claim row is never typed: the chapter declares, before it measures, what the paper says (``source``,
``paper``) and a numeric :class:`Criterion` derived from it (a quantity, a comparison, a threshold and a
noise margin). :func:`judge` then decides the verdict from the evidence, one value or the rounds of an
interleaved comparison:

- ``holds``: every value clears the threshold by more than the margin;
- ``does not hold``: every value misses it by more than the margin;
- ``depends``: the values disagree (some rounds pass, some fail), or one lies inside the margin, or the
  evidence was flagged as unstable or physically implausible (the reason is given);
- ``not measured here``: the evidence needs something this run does not have (:func:`not_measured`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Sequence

from gpuefficient import checks

__all__ = ["Claim", "Check", "Criterion", "judge", "declared_table", "save_claims", "not_measured", "claims_table", "ledger", "declines", "demote",
           "stability_line",
           "VERDICTS", "BASES", "OPS"]

VERDICTS = ("holds", "does not hold", "depends", "not measured here")
# What a verdict rests on: a timing on this device, a count or formula, a surrogate model (chapter 6's
# accuracy oracle), or nothing yet (not measured here).
BASES = ("measured", "computed", "surrogate", "none")
OPS = (">", ">=", "<", "<=")


@dataclass(frozen=True)
class Criterion:
    """What must be true for a claim to hold, declared before anything is measured.

    A value passes when ``value op threshold`` holds with ``margin`` to spare, fails when the opposite
    holds with ``margin`` to spare, and is inconclusive in between. ``margin`` is the noise margin in the
    quantity's own units (0 for counted or analytic quantities).
    """

    quantity: str
    op: str
    threshold: float
    margin: float = 0.0
    unit: str = ""

    def __post_init__(self):
        if not isinstance(self.quantity, str) or not self.quantity.strip():
            raise ValueError(f"quantity: got {self.quantity!r}, expected a description of what is measured")
        checks.one_of("op", self.op, OPS)
        checks.number("threshold", self.threshold)
        checks.number("margin", self.margin, 0)

    def classify(self, value: float) -> str:
        """``"pass"``, ``"fail"`` or ``"inside"`` (within the noise margin of the threshold)."""
        value = checks.number("value", value)
        upward = self.op in (">", ">=")
        signed = (value - self.threshold) if upward else (self.threshold - value)
        strict = self.op in (">", "<")
        if signed > self.margin or (signed == self.margin and not strict):
            return "pass"
        if signed < -self.margin or (signed == -self.margin and strict and self.margin == 0):
            return "fail"
        return "inside"

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        margin = f" (noise margin ±{_num(self.margin)}{unit})" if self.margin else ""
        return f"{self.quantity} {self.op} {_num(self.threshold)}{unit}{margin}"


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's ledger; build it with :func:`judge` or :func:`not_measured`."""

    claim: str
    source: str      # paper, table or section, and the paper's version where versions differ
    paper: str       # the paper's own number or statement
    criterion: str   # Criterion.describe(): declared before measuring
    evidence: str    # the measured or computed values, with the device or "analytic"
    verdict: str     # one of VERDICTS
    basis: str       # one of BASES
    reason: str = ""  # why "depends" or "not measured here"

    def __post_init__(self):
        checks.one_of("verdict", self.verdict, VERDICTS)
        checks.one_of("basis", self.basis, BASES)
        for name in ("claim", "source", "paper", "criterion"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name}: got an empty text, expected the claim's {name}")
        if self.verdict in ("depends", "not measured here") and not self.reason:
            raise ValueError(f"reason: a {self.verdict!r} verdict needs a reason")


def _num(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _summary(values: list[float], unit: str, what: str) -> str:
    unit = f" {unit}" if unit else ""
    if len(values) == 1:
        return f"{_num(values[0])}{unit}"
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return f"median {_num(median)}{unit} over {len(values)} {what} (range {_num(ordered[0])} to {_num(ordered[-1])})"


def judge(claim: str, *, source: str, paper: str, criterion: Criterion, values, note: str = "",
          basis: str = "measured", unstable: str | None = None, implausible: str | None = None) -> Claim:
    """Decide ``claim`` from ``values`` (one number, or the rounds of an interleaved comparison) against the
    ``criterion`` declared before measuring.

    ``note`` says where the evidence comes from (device, setting); ``unstable`` or ``implausible``, when
    given, is why the measurement cannot be trusted: the verdict is then ``depends`` with that reason
    whatever the values say, because noise must not become a verdict.
    """
    if not isinstance(criterion, Criterion):
        raise ValueError(f"criterion: got {criterion!r}, expected a Criterion")
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    values = [checks.number("values", v) for v in values]
    if not values:
        raise ValueError("values: got none, expected at least one measured or computed value")
    if any(math.isnan(v) for v in values):
        raise ValueError(f"values: got {values!r}, expected numbers (a NaN is a failed measurement)")
    # several measured values are the rounds of an interleaved comparison; computed ones are cases
    what = "rounds" if basis == "measured" else "values"
    evidence = f"{criterion.quantity} = {_summary(values, criterion.unit, what)}" + (f"; {note}" if note else "")
    outcomes = [criterion.classify(v) for v in values]
    passed, failed = outcomes.count("pass"), outcomes.count("fail")
    reason = ""
    if unstable or implausible:
        verdict = "depends"
        reason = f"unstable measurement: {unstable}" if unstable else f"implausible evidence: {implausible}"
    elif passed == len(values):
        verdict = "holds"
    elif failed == len(values):
        verdict = "does not hold"
    else:
        verdict = "depends"
        if len(values) == 1:
            reason = "inside the noise margin"
        else:
            reason = f"{what} disagree: {passed} of {len(values)} pass, {failed} fail"
            inside = len(values) - passed - failed
            reason += f", {inside} inside the noise margin" if inside else ""
    return Claim(claim, source, paper, criterion.describe(), evidence, verdict, basis, reason)


def not_measured(claim: str, *, source: str, paper: str, criterion: Criterion | str, reason: str) -> Claim:
    """A row whose evidence this run cannot produce (e.g. "needs TensorRT INT8"), with the reason."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"reason: got {reason!r}, expected why the claim is not measured here")
    text = criterion.describe() if isinstance(criterion, Criterion) else str(criterion)
    return Claim(claim, source, paper, text, "none", "not measured here", "none", reason)


@dataclass(frozen=True)
class Check:
    """A claim declared before anything is measured: what the paper says and what will count as holding.

    A chapter lists its checks near the top (:func:`declared_table` shows them) and, once it has the
    evidence, calls :meth:`judge` or :meth:`not_measured` on each, so no criterion is chosen after the fact.
    """

    claim: str
    source: str
    paper: str
    criterion: Criterion
    basis: str = "measured"

    def __post_init__(self):
        if not isinstance(self.criterion, Criterion):
            raise ValueError(f"criterion: got {self.criterion!r}, expected a Criterion")
        checks.one_of("basis", self.basis, BASES[:-1])

    def judge(self, values, note: str = "", *, unstable: str | None = None, implausible: str | None = None,
              basis: str | None = None) -> Claim:
        """:func:`judge` with this declaration (``basis`` overrides the declared one, e.g. "surrogate")."""
        return judge(self.claim, source=self.source, paper=self.paper, criterion=self.criterion, values=values,
                     note=note, basis=basis or self.basis, unstable=unstable, implausible=implausible)

    def not_measured(self, reason: str) -> Claim:
        return not_measured(self.claim, source=self.source, paper=self.paper, criterion=self.criterion,
                            reason=reason)


def declared_table(declared):
    """The checks a chapter declares before measuring (a list or a dict of :class:`Check`), as a table."""
    import pandas as pd

    items = list(declared.values()) if isinstance(declared, dict) else list(declared)
    for c in items:
        if not isinstance(c, Check):
            raise ValueError(f"declared: got {c!r:.60}, expected Check declarations")
    return pd.DataFrame([{"Claim": c.claim, "Source": c.source, "Paper": c.paper,
                          "Holds when": c.criterion.describe(), "Basis": c.basis} for c in items])


def declines(values: Sequence[float]) -> float:
    """How much a series (e.g. a per-stage rank fraction, shallow to deep) falls: the smaller of (first
    value - last value) and (mean of the first half - mean of the second half). Positive when both agree
    that it falls; feed it to a Criterion such as ``Criterion("decline", ">", 0.05)``."""
    values = [checks.number("values", v) for v in values]
    if len(values) < 2:
        raise ValueError(f"values: got {values!r}, expected at least 2 values")
    half = len(values) // 2
    first, second = values[:half], values[half:]
    return min(values[0] - values[-1], sum(first) / len(first) - sum(second) / len(second))


def claims_table(claims: list[Claim]):
    """The claims as a pandas DataFrame, one row each, criterion and evidence next to the verdict."""
    import pandas as pd

    for c in claims:
        if not isinstance(c, Claim):
            raise ValueError(f"claims: got {c!r}, expected Claim rows from judge() or not_measured()")
    columns = ["claim", "source", "paper", "criterion", "evidence", "verdict", "basis", "reason"]
    return pd.DataFrame([asdict(c) for c in claims], columns=columns).rename(columns=str.capitalize)


def ledger(claims: list[Claim]) -> dict[str, int]:
    """Rows per verdict (every verdict listed, zeros included): the chapter's and the book's summary."""
    counts = {v: 0 for v in VERDICTS}
    for c in claims:
        counts[c.verdict] += 1
    return counts


def demote(claims: list[Claim], unstable: str | None) -> list[Claim]:
    """The claims again, with every measured verdict turned into ``depends`` when the chapter's machine was
    unstable (``unstable``: why, e.g. the reference workload's drift); unchanged when ``unstable`` is None."""
    if unstable is None:
        return list(claims)
    return [replace(c, verdict="depends", reason=f"unstable measurement: {unstable}")
            if c.basis == "measured" and c.verdict in ("holds", "does not hold") else c for c in claims]


def stability_line(claims: list[Claim], drift: float | None = None, max_drift: float | None = None) -> str:
    """The one line a chapter shows at its top: whether noise decided any of its measured verdicts.

    ``drift`` (the reference workload's end / start) is quoted; beyond ``max_drift`` (the reference's own
    limit) the run is never called stable, even when no verdict was there for the drift to decide."""
    unstable = [c for c in claims if c.reason.startswith("unstable measurement")]
    drift_text = f" (reference workload drift {drift:.2f}x)" if drift is not None else ""
    if not unstable:
        if drift is not None and max_drift is not None and abs(drift - 1) > max_drift:  # nothing it could decide
            return (f"The machine's speed changed during this run{drift_text}, beyond the ±{max_drift:.0%} limit; "
                    "no measured verdict was a 'holds' or 'does not hold' for it to decide, so none was withheld.")
        return f"Measurements were stable in this run{drift_text}: no verdict was withheld for noise."
    return (f"Unstable measurements in this run{drift_text}: {len(unstable)} of {len(claims)} verdicts are "
            f"'depends' for that reason, first: {unstable[0].reason.removeprefix('unstable measurement: ')}.")


def save_claims(claims: list[Claim], chapter: str, results_dir, device="auto", settings: dict | None = None):
    """Save a chapter's ledger as the result set ``claims-<device>`` (nothing when ``results_dir`` is None);
    the book's ledger and the closing notes count verdicts from these files."""
    if not results_dir:
        return None
    from gpuefficient.book.results import provenance, save_results

    meta = provenance(device, settings)
    return save_results(results_dir, chapter, f"claims-{meta['device']}", [asdict(c) for c in claims], meta)
