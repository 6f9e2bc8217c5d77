"""The verdict rule: each of the four outcomes from synthetic evidence, the threshold itself, the noise
margin, unstable and implausible evidence, and the table/ledger the chapters show."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from gpuefficient.book.claims import (Check, Claim, Criterion, declared_table, save_claims, VERDICTS, claims_table, declines, demote, judge, ledger,
                                      not_measured, stability_line)

ROW = dict(source="Paper, Table 1 (arXiv v2)", paper="1.5x")
SPEEDUP = Criterion("speed-up", ">=", 1.2, margin=0.05, unit="x")


def decide(values, criterion=SPEEDUP, **kw):
    return judge("A is faster than B", criterion=criterion, values=values, **ROW, **kw)


@pytest.mark.parametrize("values, expected", [
    ([1.3, 1.4, 1.26], "holds"),
    ([1.0, 1.1, 1.14], "does not hold"),
    ([1.3, 1.1, 1.3], "depends"),              # rounds disagree
    ([1.22], "depends"),                        # inside the noise margin
    ([1.16], "depends"), ([1.1499], "does not hold"),
    (np.array([1.3, 1.5], dtype=np.float32), "holds"),
    (1.31, "holds")])
def test_each_outcome_from_synthetic_rounds(values, expected):
    claim = decide(values)
    assert claim.verdict == expected
    assert (claim.reason != "") == (expected == "depends")


def test_the_threshold_itself_without_margin():
    at = 2.0
    assert decide(at, Criterion("x", ">=", 2.0)).verdict == "holds"
    assert decide(at, Criterion("x", ">", 2.0)).verdict == "does not hold"
    assert decide(at, Criterion("x", "<=", 2.0)).verdict == "holds"
    assert decide(at, Criterion("x", "<", 2.0)).verdict == "does not hold"
    assert decide(1.999, Criterion("x", "<", 2.0)).verdict == "holds"
    assert decide(2.001, Criterion("x", "<=", 2.0)).verdict == "does not hold"


def test_the_margin_edges():
    c = Criterion("x", ">=", 1.0, margin=0.25)      # binary-exact numbers: the edges themselves
    assert [decide(v, c).verdict for v in (1.25, 1.2499, 0.75, 0.7499)] == ["holds", "depends", "depends",
                                                                           "does not hold"]
    strict = Criterion("x", ">", 1.0, margin=0.25)
    assert [decide(v, strict).verdict for v in (1.25, 1.2501, 0.75)] == ["depends", "holds", "depends"]


def test_downward_criterion_with_margin():
    c = Criterion("|ours - paper|", "<", 1.0, margin=0.1)
    assert [decide(v, c).verdict for v in (0.5, 0.95, 1.05, 1.2)] == ["holds", "depends", "depends", "does not hold"]


def test_reasons_name_the_rounds():
    claim = decide([1.3, 1.0, 1.22, 1.3])
    assert claim.reason == "rounds disagree: 2 of 4 pass, 1 fail, 1 inside the noise margin"
    assert decide([1.22]).reason == "inside the noise margin"


def test_evidence_and_criterion_are_computed_from_the_values():
    claim = decide([1.3, 1.5, 1.4], note="on cpu")
    assert claim.criterion == "speed-up >= 1.2 x (noise margin ±0.05 x)"
    assert claim.evidence == "speed-up = median 1.4 x over 3 rounds (range 1.3 to 1.5); on cpu"
    assert decide([1.3, 1.5]).evidence.startswith("speed-up = median 1.4 x over 2 rounds")
    computed = decide([1.3, 1.0], basis="computed")
    assert "over 2 values" in computed.evidence and computed.reason.startswith("values disagree: 1 of 2 pass")


def test_unstable_or_implausible_evidence_is_never_a_verdict():
    for kw in ({"unstable": "IQR 80% of the median"}, {"implausible": "120% of copy bandwidth"}):
        claim = decide([2.0, 2.1], **kw)
        assert claim.verdict == "depends" and next(iter(kw.values())) in claim.reason


def test_not_measured_needs_a_reason():
    claim = not_measured("INT8 speed-up", criterion=SPEEDUP, reason="needs TensorRT INT8", **ROW)
    assert claim.verdict == "not measured here" and claim.basis == "none" and claim.reason == "needs TensorRT INT8"
    with pytest.raises(ValueError, match="reason: got ''"):
        not_measured("c", criterion="x", reason="", **ROW)


@pytest.mark.parametrize("kwargs, match", [
    (dict(criterion="speed-up > 1"), "criterion: got 'speed-up > 1'"),
    (dict(criterion=SPEEDUP, values=[]), "values: got none"),
    (dict(criterion=SPEEDUP, values=[1.0, math.nan]), "values: got"),
    (dict(criterion=SPEEDUP, values=["1.2"]), "values: got '1.2'"),
    (dict(criterion=SPEEDUP, values=[1.2], basis="guessed"), "basis: got 'guessed'")])
def test_judge_refuses_bad_evidence(kwargs, match):
    kwargs.setdefault("values", [1.3])
    with pytest.raises(ValueError, match=re.escape(match)):
        judge("c", **ROW, **kwargs)


@pytest.mark.parametrize("args, match", [
    (("", ">", 1), "quantity: got ''"), (("x", "=>", 1), "op: got '=>'"),
    (("x", ">", math.nan), "threshold: got nan"), (("x", ">", 1, -0.1), "margin: got -0.1")])
def test_criterion_refuses_bad_declarations(args, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        Criterion(*args)


def test_claim_rows_refuse_typed_verdicts_and_missing_reasons():
    with pytest.raises(ValueError, match="verdict: got 'maybe'"):
        Claim("c", "s", "p", "k", "e", "maybe", "measured")
    with pytest.raises(ValueError, match="reason"):
        Claim("c", "s", "p", "k", "e", "depends", "measured")


def test_table_shows_criterion_and_evidence_next_to_the_verdict_and_the_ledger_counts():
    claims = [decide([1.3]), decide([1.0]), decide([1.22]),
              not_measured("c", criterion=SPEEDUP, reason="needs a GPU", **ROW)]
    table = claims_table(claims)
    assert list(table.columns) == ["Claim", "Source", "Paper", "Criterion", "Evidence", "Verdict", "Basis", "Reason"]
    assert ledger(claims) == {"holds": 1, "does not hold": 1, "depends": 1, "not measured here": 1}
    assert list(ledger([])) == list(VERDICTS)
    with pytest.raises(ValueError, match="expected Claim rows"):
        claims_table([("c", "holds")])


def test_demote_turns_measured_verdicts_into_depends_only():
    computed = decide([1.3], basis="computed")
    measured = [decide([1.3]), decide([1.0])]
    out = demote([computed, *measured], "reference workload drift: 1.8x")
    assert [c.verdict for c in out] == ["holds", "depends", "depends"]
    assert out[1].reason == "unstable measurement: reference workload drift: 1.8x"
    assert demote(measured, None) == measured
    assert stability_line(out, drift=1.8).startswith("Unstable measurements in this run (reference workload "
                                                     "drift 1.80x): 2 of 3 verdicts")
    assert stability_line(measured).startswith("Measurements were stable")
    assert stability_line(measured, drift=1.2, max_drift=0.25).startswith("Measurements were stable")
    # the machine drifted but no verdict was demoted (nothing measured held or failed): not called stable
    assert stability_line([computed], drift=0.65, max_drift=0.25).startswith("The machine's speed changed during this run "
                                                             "(reference workload drift 0.65x), beyond the ±25%")


@pytest.mark.parametrize("values, falls", [
    ([0.9, 0.8, 0.6, 0.4], True), ([0.9, 0.9, 0.9, 0.86], True), ([0.5, 0.2, 0.9, 0.4], False),
    ([0.4, 0.5, 0.6, 0.7], False), ([0.8, 0.7, 0.65], True)])
def test_declines_is_positive_only_when_both_measures_agree(values, falls):
    assert (declines(values) > 0) is falls


def test_declines_value_and_length():
    assert declines([0.9, 0.8, 0.6, 0.4]) == pytest.approx(min(0.9 - 0.4, 0.85 - 0.5))
    assert declines([0.5, 0.2, 0.9, 0.4]) == pytest.approx(min(0.1, 0.35 - 0.65))
    with pytest.raises(ValueError, match="at least 2"):
        declines([0.5])


def test_no_chapter_types_a_verdict():
    """Every verdict in the notebooks comes from judge()/not_measured(): no literal verdict strings passed
    around, no Claim(...) built by hand and no removed helpers."""
    for path in sorted(Path(__file__).parents[1].joinpath("notebooks").glob("*.md")):
        code = "\n".join(block for i, block in enumerate(path.read_text().split("```")) if i % 2
                         and block.startswith("{code-cell}"))
        for pattern in (r"\bClaim\(", r"\bverdict\(", r"ratio_verdict", r"noise_verdict",
                        r"""["'](holds|does not hold|depends|not tested here|not measured here)["']"""):
            assert not re.search(pattern, code), f"{path.name}: {pattern} in a code cell"


def test_check_declares_before_judging_and_saves(tmp_path):
    check = Check("A is faster", "Paper, Fig. 2", "2x", Criterion("speed-up", ">", 1.0), basis="computed")
    assert check.judge([1.5]).verdict == "holds" and check.judge([1.5]).basis == "computed"
    assert check.judge([1.5], basis="surrogate").basis == "surrogate"
    assert check.not_measured("needs TensorRT").verdict == "not measured here"
    table = declared_table({"a": check})
    assert table.iloc[0]["Holds when"] == "speed-up > 1" and list(table.columns)[-1] == "Basis"
    with pytest.raises(ValueError, match="criterion: got 'x > 1'"):
        Check("c", "s", "p", "x > 1")
    path = save_claims([check.judge([0.5])], "Roofline", tmp_path, device="cpu")
    saved = json.loads(path.read_text())
    assert saved["records"][0]["verdict"] == "does not hold" and saved["name"].startswith("claims-")
    assert save_claims([], "Roofline", None) is None
