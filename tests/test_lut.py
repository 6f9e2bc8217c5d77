import json
import math
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gpuefficient.arch.blocks import ConvBnAct, SqueezeExcite
from gpuefficient.arch.builder import build
from gpuefficient.measure.timer import Measurement, Task
from gpuefficient.measure.lut import (LatencyTable, LUTError, backend_timer, compare, unit_key_config, units, versions_hash)
from gpuefficient.analysis.predictors import evaluate, fit_correction, held_out_metrics, kendall_tau_b

SPEC = {"name": "tiny", "stem": {"out_channels": 8}, "resolution": 32,
        "stages": [{"block": "mbconv", "depth": 3, "out_channels": 16, "stride": 2, "expansion": 2.0,
                    "se_ratio": 0.25},
                   {"block": "fused_mbconv", "depth": 1, "out_channels": 24, "stride": 2, "expansion": 2.0}],
        "head": {"channels": 32, "num_classes": 10}}
SHAPE = (1, 3, 32, 32)


@pytest.fixture
def net():
    return build(SPEC).eval()


class FakeTimer:
    """Deterministic: latency = 1 us + 1 ns per parameter; counts its calls; can fail at call ``fail_at``."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, module, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated crash")
        t = 1e-6 + 1e-9 * sum(p.numel() for p in module.parameters()) + 1e-12 * x.numel()
        return Measurement(Task(label=type(module).__name__), (1.2 * t, t, 0.9 * t), 0, "fake", "fake")


def test_block_units_are_stem_blocks_head_with_traced_shapes(net):
    found = units(net, SHAPE, "block")
    assert [u.name for u in found] == ["stem", "stages.0.0", "stages.0.1", "stages.0.2", "stages.1.0", "head"]
    assert [u.input_shape for u in found] == [(1, 3, 32, 32), (1, 8, 16, 16), (1, 16, 8, 8), (1, 16, 8, 8),
                                              (1, 16, 8, 8), (1, 24, 4, 4)]
    assert found[1].module is net.stages[0][0]


def test_layer_units_cover_every_conv_group_once(net):
    found = units(net, SHAPE, "layer")
    names = [u.name for u in found]
    expected = [n for n, m in net.named_modules() if isinstance(m, (ConvBnAct, SqueezeExcite))
                and not n.startswith("head.")] + ["head"]
    assert sorted(names) == sorted(expected) and len(set(names)) == len(names)
    assert not any(a != b and b.startswith(a + ".") for a in names for b in names)  # no unit inside another
    by_name = {u.name: u for u in found}
    assert by_name["stem"].input_shape == SHAPE
    assert by_name["stages.0.0.branch.0"].input_shape == (1, 8, 16, 16)  # 1x1 expand of the first block
    assert by_name["stages.0.0.branch.2"].input_shape == (1, 16, 8, 8)  # SE after the strided depthwise
    assert by_name["head"].input_shape == (1, 24, 4, 4)


def test_other_models_fall_back_to_leaves_with_parameters():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 5))
    found = units(model, (2, 3, 8, 8), "block")
    assert [(u.name, u.input_shape) for u in found] == [("0", (2, 3, 8, 8)), ("1", (2, 4, 8, 8)), ("4", (2, 256))]


def test_units_rejects_bad_arguments(net):
    with pytest.raises(ValueError, match="granularity: got 'op'"):
        units(net, SHAPE, "op")
    with pytest.raises(ValueError, match="input_shape: got"):
        units(net, (1, 3, 0, 32))


def test_identical_layers_share_a_key_and_one_entry(net, tmp_path):
    found = units(net, SHAPE, "block")
    b1, b2 = found[2], found[3]  # stages.0.1 and stages.0.2: same config, same input
    assert b1.key_config == b2.key_config and b1.input_shape == b2.input_shape
    assert found[1].key_config != b1.key_config  # the strided first block differs
    assert unit_key_config(ConvBnAct(4, 8, 3)) == unit_key_config(ConvBnAct(4, 8, 3))
    assert unit_key_config(ConvBnAct(4, 8, 3)) != unit_key_config(ConvBnAct(4, 8, 5))
    timer = FakeTimer()
    with LatencyTable(tmp_path / "t.sqlite", timer=timer, device="cpu") as table:
        assert table.fill(found) == 5 and timer.calls == 5 and len(table) == 5
        assert table.lookup(b1) == table.lookup(b2)


def test_predict_is_the_sum_of_entries_and_fills_only_misses(net, tmp_path):
    timer = FakeTimer()
    with LatencyTable(tmp_path / "t.sqlite", timer=timer, device="cpu") as table:
        for granularity in ("block", "layer"):
            pred = table.predict(net, SHAPE, granularity)
            found = units(net, SHAPE, granularity)
            assert [r["name"] for r in pred.rows] == [u.name for u in found]
            assert pred.total_s == pytest.approx(sum(table.lookup(u) for u in found), rel=1e-12)
            assert pred.total_s == pytest.approx(pred.to_frame()["latency_s"].sum(), rel=1e-12)
        calls = timer.calls
        table.predict(net, SHAPE, "layer")
        assert timer.calls == calls  # all hits now


def test_one_module_at_two_input_shapes_is_two_entries(tmp_path):
    """The key holds the input shape: the same layer on a larger input is measured and stored on its own."""
    conv = nn.Sequential(nn.Conv2d(3, 4, 3))
    small, large = units(conv, (1, 3, 8, 8))[0], units(conv, (4, 3, 16, 16))[0]
    assert small.key_config == large.key_config and small.input_shape != large.input_shape
    timer = FakeTimer()
    with LatencyTable(tmp_path / "t.sqlite", timer=timer, device="cpu") as table:
        assert table.fill([small, large]) == 2 and len(table) == 2 and timer.calls == 2
        assert table.lookup(large) > table.lookup(small)  # 1 ps per input element: 3,072 vs 192 elements
        assert table.lookup(large) - table.lookup(small) == pytest.approx((3072 - 192) * 1e-12)


def test_store_round_trips_across_reopen(net, tmp_path):
    path = tmp_path / "sub" / "t.sqlite"
    found = units(net, SHAPE, "block")
    with LatencyTable(path, timer=FakeTimer(), device="cpu") as table:
        table.fill(found)
        before = [table.lookup(u) for u in found]
    with LatencyTable(path, timer=FakeTimer(fail_at=1), device="cpu") as table:
        assert [table.lookup(u) for u in found] == before and len(table) == 5
        assert table.fill(found) == 0
        frame = table.entries()
        assert set(frame.columns) >= {"key_config", "input_shape", "dtype", "backend", "device", "versions",
                                      "median_s", "trimmed_mean_s", "iqr_s", "repeats", "timestamp", "measurement"}
        assert (frame["versions"] == versions_hash()).all() and (frame["repeats"] == 3).all()
        record = Measurement.from_dict(json.loads(frame["measurement"][0]))
        assert record.median in set(before)
    with LatencyTable(path, dtype="fp16", timer=FakeTimer(), device="cpu") as other:  # another context
        assert other.lookup(found[0]) is None
    with LatencyTable(path, backend="trt", timer=FakeTimer(), device="cpu") as other:
        assert other.lookup(found[0]) is None


def test_corrupt_or_foreign_files_are_reported_not_reused(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LUTError, match=r"garbage\.sqlite.*delete the file"):
        LatencyTable(garbage, timer=FakeTimer(), device="cpu")
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE latency (a TEXT, b REAL)")
    conn.close()
    with pytest.raises(LUTError, match=r"foreign\.sqlite: schema mismatch"):
        LatencyTable(foreign, timer=FakeTimer(), device="cpu")


def test_crash_mid_fill_keeps_only_complete_entries_and_resumes(net, tmp_path):
    path = tmp_path / "t.sqlite"
    found = units(net, SHAPE, "layer")
    with LatencyTable(path, timer=FakeTimer(fail_at=3), device="cpu") as table:
        with pytest.raises(RuntimeError, match="simulated crash"):
            table.fill(found)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT * FROM latency").fetchall()
    conn.close()
    assert len(rows) == 2 and all(value is not None for row in rows for value in row)
    assert all(json.loads(row[-1])["times_s"] for row in rows)
    timer = FakeTimer()
    with LatencyTable(path, timer=timer, device="cpu") as table:
        distinct = len({(u.key_config, u.input_shape) for u in found})
        assert table.fill(found) == distinct - 2 and len(table) == distinct


def test_default_timer_measures_eager_latency(tmp_path):
    model = nn.Sequential(ConvBnAct(3, 8, 3), ConvBnAct(8, 8, 3))
    with LatencyTable(tmp_path / "t.sqlite", device="cpu", warmup=1, repeats=3) as table:
        pred = table.predict(model, (1, 3, 8, 8), "layer")
        assert len(pred.rows) == 4 and pred.total_s > 0  # conv and BN of each group
        assert (table.entries()["repeats"] == 3).all()


def test_table_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="dtype: got 'fp64'"):
        LatencyTable(tmp_path / "t.sqlite", dtype="fp64")
    with pytest.raises(ValueError, match="backend: got 'trt', expected one of \\['eager'"):
        LatencyTable(tmp_path / "t.sqlite", backend="trt")
    with LatencyTable(tmp_path / "t.sqlite", timer=lambda m, x: 1.0, device="cpu") as table:
        with pytest.raises(TypeError, match="expected a Measurement"):
            table.fill(units(nn.Sequential(nn.Linear(2, 2)), (1, 2)))


def test_kendall_tau_b_hand_computed():
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # C=5, D=1
    # pairs: 4 concordant, 0 discordant, one tie in x only, one tie in y only -> 4 / sqrt(5 * 5)
    assert kendall_tau_b([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))
    # a pair tied in both rankings is a tie in each: 2 concordant / sqrt((3 - 1) x (3 - 1)) = 1
    assert kendall_tau_b([1, 1, 2], [5, 5, 7]) == pytest.approx(1.0)
    # 6 pairs: (0,1) tied in both, (2,3) tied in x only, the other 4 concordant -> 4 / sqrt((6 - 2) x (6 - 1))
    assert kendall_tau_b([1, 1, 2, 2], [1, 1, 3, 2]) == pytest.approx(4 / math.sqrt(20))
    assert kendall_tau_b([1, 1, 2, 2], [1, 1, 2, 3]) == pytest.approx(4 / math.sqrt(20))


def kendall_tau_b_by_sign_matrices(x, y):
    """tau-b from its definition as a correlation of pairwise signs (Kendall 1945): sum sgn(dx) sgn(dy) over
    sqrt(sum sgn(dx)^2 x sum sgn(dy)^2), over all ordered pairs; written with numpy, not with pair counters."""
    import numpy as np

    sx, sy = (np.sign(np.subtract.outer(v, v)) for v in (np.asarray(x, float), np.asarray(y, float)))
    denominator = math.sqrt((sx * sx).sum() * (sy * sy).sum())
    return (sx * sy).sum() / denominator if denominator else math.nan


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=12))
def test_kendall_tau_b_is_the_correlation_of_pairwise_signs(pairs):
    """Against the definition on small integer rankings, which are full of ties (and joint ties)."""
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    ours, reference = kendall_tau_b(x, y), kendall_tau_b_by_sign_matrices(x, y)
    assert (math.isnan(ours) and math.isnan(reference)) or ours == pytest.approx(reference, abs=1e-12)
    if len(set(x)) > 1:
        assert kendall_tau_b(x, x) == pytest.approx(1.0) and kendall_tau_b(x, [-v for v in x]) == pytest.approx(-1.0)
    assert (math.isnan(ours) and math.isnan(kendall_tau_b(y, x))) or kendall_tau_b(y, x) == pytest.approx(ours)


def test_evaluate_hand_computed():
    measured = [100e-6, 200e-6, 300e-6, 400e-6]
    predicted = [110e-6, 190e-6, 300e-6, 280e-6]  # +10%, -5%, 0%, -30%
    result = evaluate(predicted, measured)
    assert result["n"] == 4
    assert result["rmspe_pct"] == pytest.approx(math.sqrt((100 + 25 + 0 + 900) / 4))
    assert result["within"] == 0.75  # +10% counts as within
    assert result["bias_us"] == pytest.approx((10 - 10 + 0 - 120) / 4)
    assert result["kendall_tau"] == pytest.approx(4 / 6)


@pytest.mark.parametrize("predicted, measured, match", [
    ([1.0, 2.0], [1.0], "got lengths 2 and 1"),
    ([1.0], [1.0], "at least 2"),
    ([1.0, -2.0], [1.0, 2.0], "predicted_s: got -2.0"),
    ([1.0, 2.0], [0.0, 2.0], "measured_s: got 0.0"),
    ([1.0, float("inf")], [1.0, 2.0], "predicted_s: got inf"),
])
def test_evaluate_rejects_bad_inputs(predicted, measured, match):
    with pytest.raises(ValueError, match=match):
        evaluate(predicted, measured)


def test_backend_timer_checks_output_then_times(tmp_path):
    model = nn.Sequential(ConvBnAct(3, 8, 3)).eval()
    with LatencyTable(tmp_path / "t.sqlite", backend="onnxruntime", device="cpu", warmup=1, repeats=3) as table:
        pred = table.predict(model, (1, 3, 8, 8), "block")
        assert len(pred.rows) == 2 and pred.total_s > 0  # not a builder Network: leaves with parameters
        record = json.loads(table.entries()["measurement"].iloc[0])
        assert record["task"]["backend"] == "onnxruntime"
        assert record["task"]["details"]["max_rel_error_vs_eager"] < 5e-3
    with pytest.raises(ValueError, match="backend: got 'tensor-rt'"):
        backend_timer("tensor-rt")


def test_compare_gives_both_granularities_and_the_measurement(net, tmp_path):
    with LatencyTable(tmp_path / "t.sqlite", timer=FakeTimer(), device="cpu") as table:
        frame = compare(table, {"tiny": (net, SHAPE), "tiny-b2": (net, (2, 3, 32, 32))})
        assert list(frame.network) == ["tiny", "tiny-b2"]
        assert (frame.units_block == 6).all() and (frame.units_layer > frame.units_block).all()
        # the fake timer's latency is affine in parameters and input size: block sum > whole network,
        # since every unit pays the 1 us constant once
        assert (frame.predicted_block_s > frame.measured_s).all()
        assert (frame.predicted_layer_s > frame.predicted_block_s).all()
        with pytest.raises(ValueError, match="granularities: got 'op'"):
            compare(table, {"tiny": (net, SHAPE)}, ["op"])


def test_fit_correction_recovers_a_line_and_rejects_bad_input():
    predicted = [100e-6, 250e-6, 400e-6, 900e-6]
    measured = [0.8 * p - 20e-6 for p in predicted]  # sum over-estimates: proportional + constant
    scale, offset = fit_correction(predicted, measured)
    assert scale == pytest.approx(0.8) and offset == pytest.approx(-20e-6)
    corrected = [scale * p + offset for p in predicted]
    assert evaluate(corrected, measured)["rmspe_pct"] < 1e-6
    with pytest.raises(ValueError, match="measured_s: got 0.0"):
        fit_correction([1.0, 2.0], [0.0, 1.0])


def test_held_out_metrics_fit_on_the_first_rows_and_judge_the_rest():
    import pandas as pd

    measured = [1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3]
    frame = pd.DataFrame({"measured_s": measured,
                          "predicted_layer_s": [m / 0.8 + 20e-6 for m in measured],  # an exact line
                          "predicted_block_s": [m * 1.05 for m in measured]})
    rows, corrected = held_out_metrics(frame, calibration=3)
    by = {(r["unit"], r["predictor"]): r for r in rows}
    assert set(by) == {(g, p) for g in ("layer", "block") for p in ("raw sum", "calibrated")}
    assert all(r["n"] == 3 and r["calibrated_on"] == 3 for r in rows)
    assert by[("layer", "raw sum")]["rmspe_pct"] > 20 and by[("layer", "calibrated")]["rmspe_pct"] < 1e-6
    assert by[("block", "raw sum")]["rmspe_pct"] == pytest.approx(5.0)
    assert list(corrected["layer"]) == pytest.approx(measured)
    with pytest.raises(ValueError, match="calibration: got 5, expected an integer from 2 to 4"):
        held_out_metrics(frame, calibration=5)


def test_kendall_tau_noise_is_the_spread_of_tau_between_unrelated_rankings():
    import numpy as np

    from gpuefficient.analysis.predictors import kendall_tau_noise

    rng = np.random.default_rng(0)
    taus = [kendall_tau_b(list(range(12)), list(rng.permutation(12))) for _ in range(2000)]
    assert kendall_tau_noise(12) == pytest.approx(np.std(taus), rel=0.06)
    assert kendall_tau_b(np.array([True, False, True]), np.array([1, 0, 1])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n: got 1"):
        kendall_tau_noise(1)
