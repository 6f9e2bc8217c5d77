import numpy as np
import pytest
from torch import nn

from gpuefficient.analysis.costs import analyze
from gpuefficient.analysis.roofline import (Roofline, conv_work, dwsep_work, execution_efficiency, latency_model, place_layers)

V100 = Roofline(125e12, 900e9, "V100 fp16")


def test_ridge_point_and_attainable_rate():
    assert V100.ridge_point == pytest.approx(138.9, abs=0.1)  # the utilization study's CMR of 139
    assert V100.attainable(10) == pytest.approx(9e12)
    assert V100.attainable(1e4) == pytest.approx(125e12)
    np.testing.assert_allclose(V100.attainable([1, 1000]), [0.9e12, 125e12])
    assert V100.bound(50) == "memory" and V100.bound(200) == "compute"


def test_bound_switches_exactly_at_the_ridge_point():
    """A roofline whose ridge is exactly 100 FLOP/B: at or right of it compute-bound, left of it memory-bound,
    however close (the attainable rate reaches the peak exactly there)."""
    square = Roofline(100e12, 1e12)
    assert square.ridge_point == 100.0
    assert [square.bound(i) for i in (99.0, 99.999, 100.0, 100.001, 101.0, 110.0, 150.0)] == \
        ["memory"] * 2 + ["compute"] * 5
    assert square.attainable(100.0) == 100e12 and square.attainable(99.0) == 99e12


def test_time_floor_is_the_larger_of_compute_and_memory_time():
    assert V100.time(125e12, 1) == pytest.approx(1.0)
    assert V100.time(1, 900e9) == pytest.approx(1.0)
    # both terms of one size: the floor is the larger one, not their sum (overlapped compute and memory)
    assert V100.time(125e12, 900e9) == pytest.approx(1.0)
    assert V100.time(250e12, 450e9) == pytest.approx(2.0) and V100.time(62.5e12, 1800e9) == pytest.approx(2.0)
    np.testing.assert_allclose(V100.time([125e12, 62.5e12], [450e9, 900e9]), [1.0, 1.0])


def test_latency_model_eq1_and_efficiency_round_trip():
    flops, intensity = 8e9, 50.0
    ideal = float(V100.attainable(intensity))
    latency = latency_model(flops, ideal, 0.5)
    assert latency == pytest.approx(flops / (0.5 * 45e12))
    assert execution_efficiency(flops, intensity, latency, V100) == pytest.approx(0.5)


def test_eq2_matches_the_paper_in_fp16_and_a_real_conv():
    """Eq. 2 against the paper's ratio for one layer, worked by hand, and against the cost model of a real
    convolution (a separate count: FLOPs as flop_counter counts them, bytes from the tensors' sizes)."""
    n, h, w, c, k = 1, 14, 14, 64, 3
    # the paper's W / memory: 7,225,344 multiply-adds over 2 x 25,088 activations + 36,864 weights = 61,952
    assert conv_work(n, h, w, c, k, element_bytes=2).intensity == pytest.approx(7_225_344 / 61_952)
    assert conv_work(n, h, w, c, k, element_bytes=4).intensity == pytest.approx(7_225_344 / 61_952 / 2)
    report = analyze(nn.Conv2d(c, c, k, padding=1, bias=False), (n, c, h, w), "fp16")
    work = conv_work(n, h, w, c, k)
    assert report.layers[0].flops == work.flops and report.layers[0].bytes == work.bytes


def test_depthwise_separable_has_fewer_flops_and_lower_intensity():
    full, dws = conv_work(8, 28, 28, 128, 3), dwsep_work(8, 28, 28, 128, 3)
    assert dws.flops < full.flops / 5
    assert dws.intensity < full.intensity / 2
    # the same pair of layers through the cost model: depthwise then pointwise, unfused
    pair = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1, groups=128, bias=False), nn.Conv2d(128, 128, 1, bias=False))
    report = analyze(pair, (8, 128, 28, 28), "fp16")
    assert (report.flops, report.bytes) == (dws.flops, dws.bytes)


def test_place_layers_skips_pure_data_movement():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten())
    rows = place_layers(analyze(model, (2, 3, 16, 16)), V100)
    assert [r["kind"] for r in rows] == ["conv", "activation"]
    assert all(r["attainable_flops"] <= V100.peak_flops for r in rows)
    assert rows[1]["bound"] == "memory"


@pytest.mark.parametrize("kwargs, message", [
    (dict(peak_flops=0, bandwidth=1), "peak_flops: got 0"),
    (dict(peak_flops=1, bandwidth=float("nan")), "bandwidth: got nan"),
])
def test_bad_roofline(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Roofline(**kwargs)


def test_bad_model_inputs():
    with pytest.raises(ValueError, match="efficiency: got 1.5"):
        latency_model(1, 1, 1.5)
    with pytest.raises(ValueError, match="c: got 0"):
        conv_work(1, 1, 1, 0, 3)
    with pytest.raises(ValueError, match="latency_s: got -1"):
        execution_efficiency(1, 1, -1, V100)
