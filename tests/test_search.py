import numpy as np
import pytest
import torch

from gpuefficient.arch.builder import build
from gpuefficient.arch.gpunet_space import (DIGITS, GPUNET_SPACE, HEAD_CHANNELS, RESOLUTIONS, decode, encode, from_encoding, sample_networks, sobol, to_dict)
from gpuefficient.arch.spec import NetworkSpec


def test_space_is_table_1():
    assert len(GPUNET_SPACE) == 8 and len(DIGITS) == 41  # Table 1: 8 stages; Table 2: 41 digits
    assert [s.block for s in GPUNET_SPACE] == ["conv"] * 2 + ["fused_mbconv"] * 2 + ["mbconv"] * 4
    assert [s.stride for s in GPUNET_SPACE] == [2, 1, 2, 2, 2, 1, 2, 1]
    assert GPUNET_SPACE[0].filters == (24, 32)
    assert GPUNET_SPACE[6].filters == tuple(range(128, 417, 32))
    assert GPUNET_SPACE[7].filters[-1] == 832 and GPUNET_SPACE[7].layers == tuple(range(16))
    assert GPUNET_SPACE[4].expansions == (2, 3, 4, 5, 6) and GPUNET_SPACE[4].layers == tuple(range(1, 11))
    assert RESOLUTIONS == (224, 256, 288, 320, 352, 384, 416, 448, 480, 512)


def test_sobol_points_in_range_distinct_and_seeded():
    points = sobol(64, 41, seed=3)
    assert points.shape == (64, 41) and points.dtype == np.float64
    assert (points >= 0).all() and (points < 1).all()
    assert len({tuple(p) for p in points}) == 64
    np.testing.assert_array_equal(points, sobol(64, 41, seed=3))
    assert not np.array_equal(points, sobol(64, 41, seed=4))
    plain = sobol(8, 2, scramble=False)
    assert plain[0].tolist() == [0.0, 0.0] and plain[1].tolist() == [0.5, 0.5]
    # even cover: each half of every axis gets exactly half the points of a power-of-two sample
    assert ((points < 0.5).sum(axis=0) == 32).all()


@pytest.mark.parametrize("kwargs, match", [({"n": 0, "dim": 2}, "n: got 0"), ({"n": 2, "dim": 0}, "dim: got 0"),
                                           ({"n": 2.5, "dim": 2}, "n: got 2.5"),
                                           ({"n": 2, "dim": 2, "seed": -1}, "seed: got -1")])
def test_sobol_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sobol(**kwargs)


def _check_against_space(spec: NetworkSpec, code: list[int]):
    assert spec.total_stride == 32
    assert spec.stem.stride == 2 and spec.stem.out_channels in (24, 32)
    assert spec.stages[0].block == "conv" and spec.stages[0].out_channels == spec.stem.out_channels
    assert spec.head.channels == HEAD_CHANNELS
    blocks = [s.block for s in spec.stages]
    assert blocks[:3] == ["conv", "fused_mbconv", "fused_mbconv"] and set(blocks[3:]) == {"mbconv"}
    for stage in spec.stages[1:]:
        assert stage.se_ratio in (0.0, 0.25) and 2 <= stage.expansion <= 6 and stage.kernel in (3, 5)
        assert stage.activation in ("relu", "swish")
    assert sum(s.depth for s in spec.stages) == sum(v for (name, _), v in zip(DIGITS, code) if name.endswith("layers"))


def test_decode_yields_specs_that_build_and_run():
    points = [np.zeros(41), np.full(41, 0.999), *sobol(14, 41, seed=1)]
    for i, u in enumerate(points):
        spec = decode(u, resolution=32, num_classes=10)
        _check_against_space(spec, encode(u))
        if i > 2:
            continue  # building is the slow part: the two corners and one interior point are built
        device = "cpu" if i == 0 else "meta"  # the smallest corner runs for real; the others check shapes
        with torch.device(device):
            net = build(spec).eval()
        with torch.inference_mode():
            assert net(torch.randn(1, 3, 32, 32, device=device)).shape == (1, 10)


def test_corners_are_the_extremes_of_the_space():
    low, high = decode(np.zeros(41)), decode(np.full(41, 0.999))
    assert low.resolution == 224 and high.resolution == 512
    assert len(low.stages) == 5 and len(high.stages) == 7  # stages 5 and 7 have 0 layers at the low corner
    assert [s.depth for s in high.stages] == [4, 8, 8, 10, 15, 15, 15]
    assert [s.out_channels for s in high.stages] == [32, 80, 112, 192, 224, 416, 832]
    assert all(s.activation == "relu" and s.kernel == 3 for s in low.stages)
    assert all(s.se_ratio == 0.25 and s.activation == "swish" for s in high.stages[1:])


def test_encoding_is_table_2_and_round_trips():
    u = sobol(1, 41, seed=7)[0]
    code = encode(u)
    assert len(code) == 41 and all(v in values for v, (_, values) in zip(code, DIGITS))
    named = to_dict(code)
    assert named["resolution"] == code[0] and named["stage7.layers"] == code[-1]
    assert from_encoding(code) == decode(u)
    assert encode(np.full(41, 0.5))[0] == 384  # 10 resolutions: 0.5 -> the 6th


def test_sample_networks_reproducible_and_resolution_override():
    first, again = sample_networks(6, seed=2), sample_networks(6, seed=2)
    assert first == again and len({s.to_yaml() for s in first}) == 6
    assert {s.resolution for s in first} <= set(RESOLUTIONS)
    assert sample_networks(6, seed=5) != first
    fixed = sample_networks(6, seed=2, resolution=64)
    assert {s.resolution for s in fixed} == {64}
    assert [s.stages for s in fixed] == [s.stages for s in first]


@pytest.mark.parametrize("u, match", [
    ([0.5] * 40, "expected 41 numbers"),
    ([1.0] + [0.5] * 40, r"u\[0\] \(resolution\): got 1.0, expected a number in \[0, 1\)"),
    ([0.5] * 5 + [-0.1] + [0.5] * 35, r"u\[5\] \(stage2.filters\): got -0.1"),
    ([float("nan")] * 41, r"u\[0\]"),
])
def test_decode_rejects_points_outside_the_unit_cube(u, match):
    with pytest.raises(ValueError, match=match):
        decode(u)


def test_bad_codes_and_resolutions_are_rejected():
    code = encode(np.zeros(41))
    with pytest.raises(ValueError, match=r"code\[1\] \(stage0.filters\): got 16, expected one of \[24, 32\]"):
        from_encoding([code[0], 16, *code[2:]])
    with pytest.raises(ValueError, match="expected 41"):
        from_encoding(code[:-1])
    with pytest.raises(ValueError, match="resolution: got 100, expected a positive multiple of 32"):
        sample_networks(2, resolution=100)
    with pytest.raises(ValueError, match="resolution: got 0"):
        decode(np.zeros(41), resolution=0)
