import pytest

from gpuefficient.arch.scaling import round_filters, round_repeats, scale_spec
from gpuefficient.design import lacs
from gpuefficient.arch.spec import NetworkSpec, SpecError


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


# --- compound scaling and LACS -------------------------------------------------------------------

import math  # noqa: E402

from gpuefficient.arch import scaling  # noqa: E402
from gpuefficient.arch.zoo import EFFICIENTNET_X_RELEASED, get# noqa: E402


def test_multipliers_are_eq5_and_reject_bases_below_one():
    assert scaling.multipliers(1.2, 1.1, 1.15, 2) == pytest.approx((1.44, 1.21, 1.3225))
    assert scaling.multipliers(1.29, 1.16, 1.07, 0) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="beta: got 0.9, expected a finite number >= 1"):
        scaling.multipliers(1.2, 0.9, 1.1, 1)
    with pytest.raises(ValueError, match="phi: got -1"):
        scaling.multipliers(1.2, 1.1, 1.1, -1)


@pytest.mark.parametrize("index", range(1, 8))
def test_released_gpu_family_follows_the_lacs_gpu_coefficients(index):
    """The release's GPU tuples (width, depth, resolution) are Table 2's GPU (1.29, 1.16, 1.07) at the phi
    their resolution implies, within 3%: the coefficients and the family agree."""
    width, depth, resolution = EFFICIENTNET_X_RELEASED["gpu"][index][:3]
    phi = scaling.phi_for_resolution(resolution, 224, 1.07)
    d, w, _ = scaling.multipliers(*lacs.COEFFICIENTS["lacs-gpu"], phi)
    assert d == pytest.approx(depth, rel=0.03) and w == pytest.approx(width, rel=0.035)
    assert 224 * 1.07 ** phi == pytest.approx(resolution)  # phi_for_resolution inverts Eq. 5's resolution


def test_compound_scale_rounds_resolution_to_what_the_network_accepts():
    b0 = get("efficientnet_b0").spec  # symmetric padding: multiples of 32
    scaled = scaling.compound_scale(b0, 1.2, 1.1, 1.15, 1.0)
    assert scaled.resolution == 256 and scaled.resolution % 32 == 0  # 224 x 1.15 = 257.6 -> 256
    assert sum(s.depth for s in scaled.stages) > sum(s.depth for s in b0.stages)
    x0 = get("efficientnet_x_b0_gpu").spec  # TensorFlow 'same' padding: any size
    assert scaling.compound_scale(x0, 1.29, 1.16, 1.07, 0.326).resolution == 229
    assert scaling.compound_scale(x0, 1.29, 1.16, 1.07, 0).stages == x0.stages


def test_reward_and_flops_growth():
    assert lacs.reward(0.8, 2e-3, 2e-3) == pytest.approx(0.8)
    assert lacs.reward(0.8, 4e-3, 2e-3) == pytest.approx(0.8 * 2 ** -0.09)
    assert lacs.reward(0.8, 1e-3, 2e-3) > 0.8  # under the target pays a little
    assert scaling.flops_growth(*lacs.COEFFICIENTS["accuracy-only"]) == pytest.approx(1.92, abs=0.01)
    with pytest.raises(ValueError, match="latency: got 0"):
        lacs.reward(0.8, 0, 1.0)


def test_solve_phi_bisects_a_monotone_latency():
    calls = []

    def latency(phi):
        calls.append(phi)
        return 1e-3 * 2 ** phi

    phi, lat = lacs.solve_phi(latency, 4e-3, tolerance=0.001)
    assert phi == pytest.approx(2.0, abs=0.01) and lat == pytest.approx(4e-3, rel=0.001) and len(calls) < 25
    with pytest.raises(ValueError, match="base model .* already takes"):
        lacs.solve_phi(latency, 0.5e-3)
    with pytest.raises(ValueError, match="raise phi_max"):
        lacs.solve_phi(latency, 1.0, phi_max=4)


def test_grid_with_a_flops_budget_keeps_efficientnets_choice():
    found = lacs.grid([1.1, 1.2, 1.3], [1.05, 1.1, 1.2], [1.1, 1.15, 1.3], flops_budget=2.0)
    assert (1.2, 1.1, 1.15) in found and all(abs(scaling.flops_growth(*c) / 2 - 1) <= 0.1 for c in found)
    assert len(lacs.grid([1.1, 1.2], [1.1], [1.1])) == 2
    with pytest.raises(ValueError, match="no \\(alpha, beta, gamma\\) left"):
        lacs.grid([1.0], [1.0], [1.0], flops_budget=2.0)


def test_lacs_search_meets_the_target_and_ranks_by_reward():
    base = get("efficientnet_x_b0_gpu").spec
    latency = _toy_latency

    def accuracy(spec):  # a stand-in preferring resolution: the search must still meet the latency target
        return 0.7 + 0.01 * math.log(spec.resolution) + 0.001 * sum(s.depth for s in spec.stages)

    target = 2 * latency(base)
    rows = lacs.lacs_search(base, [(1.29, 1.16, 1.07), (1.0, 1.0, 1.0), (1.2, 1.1, 1.15)], latency, accuracy,
                               target)
    assert len(rows) == 3 and rows[0]["reward"] >= rows[1]["reward"]
    assert rows[2]["gamma"] == 1.0 and "reaches only" in rows[2]["skipped"]  # unscaled: never meets the target
    for row in rows[:2]:
        assert row["skipped"] == ""
        assert row["latency_s"] == pytest.approx(target, rel=0.03) and row["phi"] > 0
        assert row["spec"].resolution == row["resolution"]


def _toy_latency(spec):
    """A deterministic stand-in for a measurement that grows with depth, width and resolution like MACs do:
    1 ps per (pixel x block x width^2), plus 10 us per block. Closed form: instant, unlike a cost analysis."""
    blocks = sum(s.depth for s in spec.stages)
    return 1e-12 * spec.resolution ** 2 * sum(s.depth * s.out_channels ** 2 for s in spec.stages) + 1e-5 * blocks


def test_family_by_phi_and_by_latency_target():
    base = get("efficientnet_x_b0_gpu").spec
    by_phi = lacs.family(base, 1.29, 1.16, 1.07, phis=[2, 0, 1])
    assert [r["phi"] for r in by_phi] == [0, 1, 2] and by_phi[0]["spec"] == scaling.compound_scale(base, 1.29, 1.16,
                                                                                                   1.07, 0)
    assert by_phi[2]["depth"] == pytest.approx(1.29 ** 2) and by_phi[2]["resolution"] == round(224 * 1.07 ** 2)
    assert "latency_s" not in by_phi[0]
    base_s = _toy_latency(base)
    by_target = lacs.family(base, 1.29, 1.16, 1.07, targets=[2 * base_s, 4 * base_s], latency=_toy_latency,
                               tolerance=0.03)
    for row, factor in zip(by_target, (2, 4)):
        assert row["target_s"] == factor * base_s
        # each member lands next to its own target (latency steps with phi: depths and widths are rounded)
        assert abs(row["latency_s"] / (factor * base_s) - 1) <= 0.1
    assert by_target[0]["phi"] < by_target[1]["phi"]
    with pytest.raises(ValueError, match="exactly one of phis"):
        lacs.family(base, 1.29, 1.16, 1.07)
    with pytest.raises(ValueError, match="targets need latency"):
        lacs.family(base, 1.29, 1.16, 1.07, targets=[1.0])


def test_family_by_target_survives_a_noisy_latency():
    """Chapter 6 on a busy machine: the base is measured once as the first target, then re-measured 20%
    slower by noise. The member that cannot meet its target is a row saying why, never an exception."""
    import random

    base = get("efficientnet_x_b0_gpu").spec
    base_s = _toy_latency(base)
    rng = random.Random(0)
    noisy = lambda spec: _toy_latency(spec) * (1.2 if spec.fingerprint() == base.fingerprint() else  # noqa: E731
                                                rng.uniform(0.9, 1.1))
    rows = lacs.family(base, 1.29, 1.16, 1.07, targets=[base_s, 3 * base_s], latency=noisy)
    met, missed = rows
    assert met["skipped"] == "" and met["target_s"] == 3 * base_s and met["phi"] > 0
    assert missed["target_s"] == base_s and "already takes" in missed["skipped"] and math.isnan(missed["phi"])
    assert missed["spec"] is None and set(met) == set(missed)  # one frame, whatever was met


def test_lacs_search_with_every_candidate_skipped_still_has_every_column():
    base = get("efficientnet_x_b0_gpu").spec
    rows = lacs.lacs_search(base, [(1.0, 1.0, 1.0)], _toy_latency, lambda spec: 0.7, 10 * _toy_latency(base))
    assert len(rows) == 1 and "reaches only" in rows[0]["skipped"]
    assert {"spec", "latency_s", "accuracy", "reward", "phi", "depth", "resolution"} <= set(rows[0])


def test_table_latency_predicts_from_a_lookup_table(tmp_path, tiny_spec):
    from gpuefficient.measure.timer import Measurement, Task
    from gpuefficient.measure.lut import LatencyTable

    def timer(module, x):  # deterministic: 1 us + 1 ns per parameter
        t = 1e-6 + 1e-9 * sum(p.numel() for p in module.parameters())
        return Measurement(Task(label="fake"), (t, 1.1 * t, 0.8 * t), 0, "fake", "fake")

    tiny = tiny_spec
    with LatencyTable(tmp_path / "t.sqlite", timer=timer, device="cpu") as table:
        latency = lacs.table_latency(table, batch=2)
        first = latency(tiny)
        stored = len(table)
        assert first > 0 and stored > 0 and latency(tiny) == first and len(table) == stored  # looked up, not re-timed
        deeper = scaling.scale_spec(tiny, 1.0, 3.0, 32)
        assert latency(deeper) > first
    with pytest.raises(ValueError, match="batch: got 0"):
        lacs.table_latency(table, batch=0)
