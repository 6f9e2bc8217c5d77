"""How well a latency predictor matches measurements: RMSPE, bias, share within a tolerance, Kendall's tau,
and a held-out linear calibration (GPUNet Sec. 3.2 judges its lookup table by these).

Plain statistics on (predicted, measured) pairs, in seconds; they know nothing of how either was
obtained, so they serve a lookup table, a roofline estimate or a FLOPs proxy alike.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from gpuefficient import checks


__all__ = ["evaluate", "kendall_tau_b", "kendall_tau_noise", "fit_correction", "held_out_metrics", "round_medians", "tau_by_round",
           "select_and_test"]


def _pairs(predicted_s: Sequence[float], measured_s: Sequence[float]) -> tuple[list[float], list[float]]:
    """Both sequences as floats: equal lengths of at least 2, finite latencies > 0."""
    predicted, measured = [float(v) for v in predicted_s], [float(v) for v in measured_s]
    if len(predicted) != len(measured) or len(predicted) < 2:
        raise ValueError(f"predicted_s and measured_s: got lengths {len(predicted)} and {len(measured)}, "
                         "expected equal lengths of at least 2")
    for name, values in (("predicted_s", predicted), ("measured_s", measured)):
        bad = [v for v in values if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"{name}: got {bad[0]!r}, expected finite latencies > 0 (seconds)")
    return predicted, measured


def fit_correction(predicted_s: Sequence[float], measured_s: Sequence[float]) -> tuple[float, float]:
    """(scale, offset_s) so that ``scale x predicted + offset_s`` best matches ``measured_s`` in relative error.

    A sum of isolated units is off by a roughly constant overhead per network (GPUNet: +75 us) and
    a roughly proportional share (caches, fusion); a line fitted on calibration networks, by least
    squares weighted by 1 / measured^2, removes both. Apply it to held-out networks only.
    """
    p, m = (np.asarray(v) for v in _pairs(predicted_s, measured_s))
    design = np.column_stack([p / m, 1 / m])  # rows divided by m: relative residuals
    (scale, offset), *_ = np.linalg.lstsq(design, np.ones_like(m), rcond=None)
    return float(scale), float(offset)


def held_out_metrics(frame, calibration: int | None = None) -> tuple[list[dict], dict]:
    """Error metrics of a predictions frame on held-out networks, raw and after :func:`fit_correction`.

    ``frame`` (a pandas DataFrame, e.g. from ``gpuefficient.measure.lut.compare``) has a
    ``measured_s`` column and one ``predicted_<unit>_s`` column per predictor. The first
    ``calibration`` rows (default: half) fit the line per predictor; the metrics are computed on
    the rest only. Returns (one metrics row per unit and predictor, the corrected prediction of
    every network per unit, in seconds, as pandas Series).
    """
    n = len(frame)
    calibration = n // 2 if calibration is None else calibration
    if n < 4:
        raise ValueError(f"frame: got {n} networks, expected at least 4 (2 to fit on, 2 held out)")
    checks.integer("calibration", calibration, 2, n - 2)  # fit on these, judge the rest (at least 2)
    units = [m[1] for m in (re.fullmatch(r"predicted_(.+)_s", str(c)) for c in frame.columns) if m]
    if not units or "measured_s" not in frame:
        raise ValueError(f"frame: got columns {list(frame.columns)}, expected measured_s and predicted_<unit>_s")
    calib, held = frame.iloc[:calibration], frame.iloc[calibration:]
    rows, corrected = [], {}
    for g in units:
        scale, offset = fit_correction(calib[f"predicted_{g}_s"], calib.measured_s)
        corrected[g] = scale * frame[f"predicted_{g}_s"] + offset
        for predictor, pred, a, b in (("raw sum", held[f"predicted_{g}_s"], 1.0, 0.0),
                                      ("calibrated", corrected[g].iloc[calibration:], scale, offset)):
            rows.append({"unit": g, "predictor": predictor, **evaluate(pred, held.measured_s), "scale": a,
                         "offset_us": b * 1e6, "calibrated_on": calibration})
    return rows, corrected


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b rank correlation (ties in either ranking handled); nan when undefined."""
    if len(x) != len(y):
        raise ValueError(f"x and y: got lengths {len(x)} and {len(y)}, expected equal lengths")
    x, y = [float(v) for v in x], [float(v) for v in y]  # numpy bools cannot be subtracted
    concordant = discordant = tied_x = tied_y = pairs = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = (x[i] > x[j]) - (x[i] < x[j]), (y[i] > y[j]) - (y[i] < y[j])
            pairs, tied_x, tied_y = pairs + 1, tied_x + (dx == 0), tied_y + (dy == 0)
            concordant, discordant = concordant + (dx * dy > 0), discordant + (dx * dy < 0)
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else math.nan


def kendall_tau_noise(n: int) -> float:
    """Standard deviation of Kendall's tau between two unrelated rankings of ``n`` items (no ties):
    sqrt(2 (2n + 5) / (9 n (n - 1))). Twice it is the margin a correlation must clear to be told from
    chance at about 95%, known from ``n`` alone, so a chapter can declare it before measuring."""
    n = checks.integer("n", n, 2)
    return math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))


def evaluate(predicted_s: Sequence[float], measured_s: Sequence[float], tolerance: float = 0.10) -> dict:
    """How well predicted latencies match measured ones (seconds, one pair per network).

    ``rmspe_pct``: root-mean-square percentage error; ``within``: share of networks with
    |error| <= ``tolerance`` of the measurement; ``bias_us``: mean(predicted - measured) in us
    (GPUNet reports +75 us); ``kendall_tau``: tau-b of the two rankings (what a search needs); ``n``.
    """
    predicted, measured = _pairs(predicted_s, measured_s)
    errors, n = [(p - m) / m for p, m in zip(predicted, measured)], len(predicted)
    return {"n": n, "rmspe_pct": 100 * math.sqrt(math.fsum(e * e for e in errors) / n),
            "within": sum(abs(e) <= tolerance + 1e-12 for e in errors) / n,
            "bias_us": 1e6 * math.fsum(p - m for p, m in zip(predicted, measured)) / n,
            "kendall_tau": kendall_tau_b(predicted, measured)}


def round_medians(m) -> list[float]:
    """The median of each round of an interleaved measurement (``measure_interleaved``), in seconds."""
    rounds = getattr(getattr(m, "task", None), "rounds", 0)
    if not rounds or rounds < 2 or m.repeats % rounds:
        raise ValueError(f"m: got {getattr(m, 'label', m)!r} with rounds {rounds}, expected a measurement of "
                         "measure_interleaved with at least 2 rounds")
    k = m.repeats // rounds
    return [float(np.median(m.times_s[i:i + k])) for i in range(0, m.repeats, k)]


def tau_by_round(counts, measured) -> list[float]:
    """Kendall's tau-b between a count per network (FLOPs, parameters) and its latency, once per round
    of one interleaved measurement: rounds that disagree show the ranking is not settled by the timing.

    ``counts``: name -> count; ``measured``: name -> Measurement of one ``measure_interleaved`` call.
    """
    names = list(counts)
    missing = [n for n in names if n not in measured]
    if missing or len(names) < 3:
        raise ValueError(f"counts: got {names}, expected at least 3 networks, each in measured "
                         f"(missing: {missing})")
    per_round = [round_medians(measured[n]) for n in names]
    if len({len(r) for r in per_round}) != 1:
        raise ValueError("measured: the measurements have different numbers of rounds, expected one interleaved call")
    x = [checks.number(f"counts[{n!r}]", counts[n]) for n in names]
    return [kendall_tau_b(x, [r[i] for r in per_round]) for i in range(len(per_round[0]))]


def select_and_test(frame, calibration: int, validation: int) -> tuple[dict, list[dict]]:
    """Choose the best predictor on one set of networks and judge it on another it was not chosen on.

    Rows ``[0, calibration)`` fit each unit's line (:func:`fit_correction`); rows
    ``[calibration, calibration + validation)`` choose the (unit, raw or calibrated) predictor with the
    lowest RMSPE; the remaining rows (at least 2) test it. Returns (the chosen predictor's test metrics
    with its validation RMSPE, every predictor's validation and test metrics).
    """
    n = len(frame)
    checks.integer("calibration", calibration, 2, n - 4)
    checks.integer("validation", validation, 2, n - calibration - 2)
    fit_val, _ = held_out_metrics(frame.iloc[:calibration + validation], calibration)
    fit_test, _ = held_out_metrics(_without_validation(frame, calibration, validation), calibration)
    rows = [{**test, "validation_rmspe_pct": val["rmspe_pct"], "test_rmspe_pct": test["rmspe_pct"]}
            for val, test in zip(fit_val, fit_test)]
    best = min(rows, key=lambda r: r["validation_rmspe_pct"])
    return best, rows


def _without_validation(frame, calibration: int, validation: int):
    """The calibration rows followed by the test rows (the validation rows left out)."""
    return frame.iloc[list(range(calibration)) + list(range(calibration + validation, len(frame)))]
