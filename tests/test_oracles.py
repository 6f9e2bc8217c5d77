"""Accuracy oracles: the surrogate fits what it is given, the training oracle really trains and caches."""
import math

import pytest

from gpuefficient.arch import scaling
from gpuefficient.design.oracles import SurrogateOracle, TrainingOracle, published_points, scale_factors
from gpuefficient.arch.spec import NetworkSpec
from gpuefficient.arch.zoo import get

from conftest import TINY_SPEC as TINY


def test_scale_factors_of_a_compound_scaled_spec():
    scaled = scaling.scale_spec(TINY, 2.0, 2.0, 64)
    depth, width, res = scale_factors(scaled, TINY)
    assert (depth, width, res) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="got 7 stages, expected 2"):
        scale_factors(get("efficientnet_b0").spec, TINY)


def test_published_points_pair_the_release_with_table3():
    points = published_points("gpu")
    assert len(points) == 8 and points[0] == (1.0, 1.0, 1.0, pytest.approx(0.773))
    assert points[7][:3] == (5.46, 2.58, pytest.approx(350 / 224)) and points[7][3] == pytest.approx(0.847)
    with pytest.raises(ValueError, match="platform: got 'npu'"):
        published_points("npu")


def test_surrogate_recovers_an_exact_log_linear_law():
    law = lambda d, w, r: 0.7 + 0.02 * math.log(d) + 0.01 * math.log(w) + 0.03 * math.log(r)  # noqa: E731
    points = [(d, w, r, law(d, w, r)) for d, w, r in [(1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2), (2, 2, 2)]]
    oracle = SurrogateOracle.fit(TINY, points)
    assert oracle.coefficients == pytest.approx((0.7, 0.02, 0.01, 0.03))
    assert oracle(scaling.scale_spec(TINY, 2.0, 2.0, 64)) == pytest.approx(law(2, 2, 2))
    default = SurrogateOracle.fit(get("efficientnet_x_b0_gpu").spec)
    assert default(get("efficientnet_x_b0_gpu").spec) == pytest.approx(0.773, abs=0.02)  # B0 -> B1 is steep
    assert default.coefficients[1] > 0 and default.coefficients[3] > 0  # depth and resolution help
    assert "surrogate" in default.source
    with pytest.raises(ValueError, match="at least 4 rows"):
        SurrogateOracle.fit(TINY, points[:3])
    with pytest.raises(ValueError, match="accuracies in \\(0, 1\\]"):
        SurrogateOracle.fit(TINY, [(1, 1, 1, 77.3)] * 4)


def test_training_oracle_trains_once_per_spec_and_scales_the_input():
    oracle = TrainingOracle(input_scale=0.5, train_samples=64, test_samples=32, batch_size=32, device="cpu")
    assert oracle.resolution(TINY) == 16  # 32 x 0.5, at least 16
    accuracy = oracle(TINY)
    assert 0.0 <= accuracy <= 1.0 and len(oracle.cache) == 1
    entry = next(iter(oracle.cache.values()))
    assert entry["resolution"] == 16 and entry["train_seconds"] > 0 and math.isfinite(entry["final_train_loss"])
    assert oracle(TINY) == accuracy and len(oracle.cache) == 1  # cached, not retrained
    again = TrainingOracle(input_scale=0.5, train_samples=64, test_samples=32, batch_size=32, device="cpu")
    assert again(TINY) == accuracy  # seeded: weights, data and order
    for bad in ({"input_scale": 0}, {"width_scale": 1.5}, {"width_scale": True}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))}: got"):
            TrainingOracle(**bad)
    with pytest.raises(TypeError, match="expected a NetworkSpec"):
        oracle({"name": "tiny"})


def test_training_proxy_keeps_relative_width_and_depth():
    base = get("efficientnet_x_b0_gpu").spec
    half = TrainingOracle(width_scale=0.5, num_classes=6)
    proxy = half.proxy(base)
    assert proxy.resolution == 40 and proxy.head.num_classes == 6  # 224 x 0.18
    assert [s.out_channels for s in proxy.stages] == [s.out_channels // 2 for s in base.stages]  # exactly halved
    assert proxy.stem.out_channels == 16 and proxy.head.channels == 640
    assert [s.depth for s in proxy.stages] == [s.depth for s in base.stages]
    wider = scaling.compound_scale(base, 1.29, 1.16, 1.07, 1.0)
    assert half.proxy(wider).stages[-1].out_channels / proxy.stages[-1].out_channels == pytest.approx(
        wider.stages[-1].out_channels / base.stages[-1].out_channels, rel=0.05)
    genet = get("genet_light").spec  # widths such as 13 are not multiples of 4: width_scale 1 keeps them
    assert [s.out_channels for s in TrainingOracle().proxy(genet).stages] == [s.out_channels for s in genet.stages]


def test_training_oracle_learns_the_procedural_task():
    """A small MBConv net at 32 px, 3 epochs of 1,000 images (~4 s of CPU): far above the 1/6 chance level
    (measured 0.39, 0.41 and 0.48 for seeds 0-2)."""
    spec = NetworkSpec.from_dict({
        "name": "small", "stem": {"out_channels": 16}, "resolution": 64, "head": {"channels": 64},
        "stages": [{"block": "fused_mbconv", "depth": 2, "out_channels": 16, "expansion": 1.0},
                   {"block": "mbconv", "depth": 2, "out_channels": 32, "stride": 2, "expansion": 4}]})
    oracle = TrainingOracle(input_scale=0.5, train_samples=1000, test_samples=300, epochs=3, lr=0.1, device="cpu")
    assert oracle(spec) > 0.30
