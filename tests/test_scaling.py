import pytest

from gpuefficient.scaling import round_filters, round_repeats, scale_spec
from gpuefficient.spec import NetworkSpec, SpecError


@pytest.mark.parametrize("filters, width, expected", [
    (32, 1.0, 32), (16, 1.0, 16), (32, 1.1, 32), (16, 1.13, 24),  # 18.08 -> 16 would lose > 10%: 24
    (1280, 1.63, 2088), (40, 1.05, 40), (320, 2.58, 824), (3, 1.0, 8)])  # never below the divisor
def test_round_filters_is_efficientnets_rule(filters, width, expected):
    assert round_filters(filters, width) == expected
    assert round_filters(filters, width) >= 0.9 * filters * width


def test_round_repeats_is_a_ceiling():
    assert [round_repeats(r, 1.09) for r in (1, 2, 3, 4)] == [2, 3, 4, 5]
    assert round_repeats(4, 1.0) == 4 and round_repeats(3, 5.46) == 17


@pytest.mark.parametrize("call, text", [
    (lambda: round_filters(32, 0), "width: got 0"), (lambda: round_repeats(2, -1.0), "depth: got -1.0"),
    (lambda: round_filters(32, 1.0, divisor=0), "divisor: got 0"),
    (lambda: scale_spec(SPEC, 1.0, 1.0, 0), "resolution: got 0")])
def test_bad_multipliers(call, text):
    with pytest.raises(ValueError, match=text):
        call()


SPEC = NetworkSpec.from_dict({
    "name": "t", "stem": {"out_channels": 32}, "resolution": 64, "head": {"channels": 1280},
    "stages": [{"block": "mbconv", "depth": 1, "out_channels": 16, "expansion": 1.0, "se_ratio": 0.25},
               {"block": "mbconv", "depth": 2, "out_channels": 24, "stride": 2, "expansion": 6.0}]})


def test_scale_spec_scales_stem_stages_head_and_resolution_only():
    scaled = scale_spec(SPEC, 1.13, 1.24, 240, dropout=0.3)
    assert scaled.stem.out_channels == 40 and scaled.head.channels == 1448 and scaled.head.dropout == 0.3
    assert [(s.out_channels, s.depth) for s in scaled.stages] == [(24, 2), (32, 3)]
    assert scaled.resolution == 240 and scaled.name == "t_w1.13_d1.24_r240"
    assert [(s.kernel, s.expansion, s.se_ratio, s.stride) for s in scaled.stages] == [
        (s.kernel, s.expansion, s.se_ratio, s.stride) for s in SPEC.stages]
    assert scale_spec(SPEC, 1.0, 1.0, 64).stages == SPEC.stages
    with pytest.raises(SpecError, match="resolution: got 237"):  # symmetric padding: multiples of the stride
        scale_spec(SPEC, 1.13, 1.24, 237)
    with pytest.raises(TypeError, match="expected a NetworkSpec"):
        scale_spec(SPEC.to_dict(), 1.0, 1.0, 64)
