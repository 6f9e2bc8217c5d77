"""The package functions chapters 1 and 2 decide their claims with: similar-intensity pairs and the E gap
(EfficientNet-X), ridge moves, per-round Kendall tau (GENet Fig. 2), equal-size block latency (GENet
Fig. 3), and choosing a lookup-table predictor on one split and judging it on another (GPUNet Fig. 4)."""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from gpuefficient.analysis import predictors, roofline
from gpuefficient.measure import block_profile, lut
from gpuefficient.measure.timer import Measurement, Task, measure_interleaved


def test_similar_intensity_pairs_cross_families_within_tolerance_only():
    intensities = {"resnet50": 19.3, "regnety_040": 17.9, "resnet18": 31.1, "efficientnet_b0": 3.8,
                   "mobilenetv2_100": 3.6, "efficientnet_b2": 4.3}
    pairs = roofline.similar_intensity_pairs(intensities, tolerance=0.2)
    assert set(pairs) == {("regnety_040", "resnet50"), ("mobilenetv2_100", "efficientnet_b0"),
                          ("mobilenetv2_100", "efficientnet_b2")}   # b0/b2: one family; r18/r50: 1.6x apart
    assert roofline.similar_intensity_pairs(intensities, tolerance=0.06) == [("mobilenetv2_100", "efficientnet_b0")]
    # the edge: exactly 1 + tolerance apart is similar, a hair beyond is not
    assert roofline.similar_intensity_pairs({"a1": 10.0, "b1": 12.0}, 0.2) == [("a1", "b1")]
    assert roofline.similar_intensity_pairs({"a1": 10.0, "b1": 12.001}, 0.2) == []


@pytest.mark.parametrize("bad, match", [({"a": -1.0, "b": 2.0}, "intensities"), ({"a": 0.0, "b": 2.0}, "got 0"),
                                        ({"1x": 1.0, "b": 1.0}, "name: got '1x'")])
def test_similar_intensity_pairs_refuses_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        roofline.similar_intensity_pairs(bad)


def test_efficiency_gap_is_the_largest_ratio_over_pairs():
    e = {"a": 0.5, "b": 0.25, "c": 0.4, "d": 0.45}
    assert roofline.efficiency_gap(e, [("a", "b"), ("c", "d")]) == pytest.approx(2.0)
    assert roofline.efficiency_gap(e, [("d", "c")]) == pytest.approx(0.45 / 0.4)
    with pytest.raises(ValueError, match="'z' has no efficiency"):
        roofline.efficiency_gap(e, [("a", "z")])
    with pytest.raises(ValueError, match="pairs: got none"):
        roofline.efficiency_gap(e, [])


def test_ridge_moves_in_release_order():
    moves = roofline.ridge_moves({"V100": 139.0, "H100": 295.0, "B200": 281.0})
    assert [(a, b) for a, b, _ in moves] == [("V100", "H100"), ("H100", "B200")]
    assert moves[0][2] > 1 > moves[1][2]
    with pytest.raises(ValueError, match="at least 2"):
        roofline.ridge_moves({"V100": 139.0})


def _interleaved(medians_by_round: dict[str, list[float]], k: int = 3) -> dict[str, Measurement]:
    """Fake measure_interleaved output: varied samples around each round's median."""
    out = {}
    labels = list(medians_by_round)
    for label, medians in medians_by_round.items():
        times = [m * f for m in medians for f in (0.9, 1.0, 1.3)[:k]]
        task = Task(label=label, rounds=len(medians), interleaved_with=labels)
        out[label] = Measurement(task=task, times_s=tuple(times), warmup=0, device="cpu", timer="perf_counter")
    return out


def test_tau_by_round_follows_each_round_ranking():
    measured = _interleaved({"a": [1.0, 1.0, 3.0], "b": [2.0, 2.0, 2.0], "c": [3.0, 3.0, 1.0]})
    taus = predictors.tau_by_round({"a": 1.0, "b": 2.0, "c": 3.0}, measured)
    assert taus == pytest.approx([1.0, 1.0, -1.0])
    assert predictors.round_medians(measured["a"]) == pytest.approx([1.0, 1.0, 3.0])  # median, not mean (1.07)
    with pytest.raises(ValueError, match="at least 3 networks"):
        predictors.tau_by_round({"a": 1.0, "b": 2.0}, measured)


def test_round_medians_refuses_a_plain_measurement():
    m = Measurement(task=Task(label="x"), times_s=(1.0, 2.0), warmup=0, device="cpu", timer="perf_counter")
    with pytest.raises(ValueError, match="at least 2 rounds"):
        predictors.round_medians(m)


def test_tau_by_round_on_a_real_interleaved_call():
    sizes = {"small": 10_000, "mid": 200_000, "large": 2_000_000}
    arrays = {k: np.ones(n) for k, n in sizes.items()}
    measured = measure_interleaved({k: (lambda a=a: a.sum()) for k, a in arrays.items()}, device="cpu",
                                   warmup=1, rounds=2, repeats=3)
    taus = predictors.tau_by_round(sizes, measured)
    assert len(taus) == 2 and all(-1 <= t <= 1 for t in taus)


def _lut_frame(n=12, seed=0):
    rng = np.random.default_rng(seed)
    measured = rng.uniform(1e-3, 5e-3, n)
    return pd.DataFrame({"measured_s": measured,
                         "predicted_block_s": measured * 1.3 + 1e-4,           # off by a line: calibration fixes it
                         "predicted_layer_s": measured * rng.uniform(0.6, 1.6, n)})  # noisy: nothing fixes it


def test_select_and_test_chooses_on_validation_and_reports_the_test_rows():
    frame = _lut_frame()
    best, rows = predictors.select_and_test(frame, calibration=4, validation=4)
    assert (best["unit"], best["predictor"]) == ("block", "calibrated")
    assert best["n"] == 4 and best["test_rmspe_pct"] == best["rmspe_pct"] < 1
    assert len(rows) == 4 and {r["n"] for r in rows} == {4}
    # judged on the test rows only: corrupting a validation row changes the choice's validation error,
    # never its test error
    spoiled = frame.copy()
    spoiled.loc[5, "measured_s"] *= 3
    again, _ = predictors.select_and_test(spoiled, 4, 4)
    assert again["test_rmspe_pct"] == pytest.approx(best["test_rmspe_pct"])
    assert again["validation_rmspe_pct"] > best["validation_rmspe_pct"]


def test_select_and_test_needs_two_test_rows():
    with pytest.raises(ValueError, match="validation"):
        predictors.select_and_test(_lut_frame(8), calibration=4, validation=3)


def test_latency_at_size_interpolates_log_log_without_extrapolating():
    assert block_profile.latency_at_size([1e4, 1e6], [1.0, 100.0], 1e5) == pytest.approx(10.0)  # not 50.5 (linear)
    assert block_profile.latency_at_size([1e6, 1e4], [100.0, 1.0], 1e4) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="size: got 2e\\+06"):
        block_profile.latency_at_size([1e4, 1e6], [1.0, 100.0], 2e6)


def test_equal_size_ratios_compare_at_the_reference_sizes():
    rows = [{"block": "xx r=1", "params": 1e5, "latency": 2.0},
            {"block": "xx r=1", "params": 1e7, "latency": 50.0},
            {"block": "dw r=3", "params": 1e4, "latency": 1.0},
            {"block": "dw r=3", "params": 1e6, "latency": 9.0}]
    out = block_profile.equal_size_ratios(rows)
    assert len(out) == 1 and out[0]["block"] == "dw r=3" and out[0]["params"] == 1e5  # 1e7 out of dw's range
    assert out[0]["ratio"] == pytest.approx(3.0 / 2.0)
    with pytest.raises(ValueError, match="reference: got 'bl r=1'"):
        block_profile.equal_size_ratios(rows, reference="bl r=1")


def test_profile_interleaved_times_every_block_and_width_in_one_call():
    measured, rows = block_profile.profile_interleaved([8, 16], 8, [("xx", 1.0), ("dw", 3.0)], device="cpu",
                                                       warmup=1, rounds=2, repeats=2, depth_scale=0.2)
    assert sorted(measured) == sorted(r["label"] for r in rows) and len(rows) == 4
    assert all(m.task.rounds == 2 and len(m.task.interleaved_with) == 4 for m in measured.values())
    xx8, xx16 = (next(r for r in rows if r["label"] == f"xx r=1 w={w}") for w in (8, 16))
    assert xx16["params"] > 3 * xx8["params"] and xx8["depth"] == 1


def test_the_paper_unit_is_the_block():
    assert lut.PAPER_UNIT == "block" and lut.PAPER_UNIT in lut.GRANULARITIES
