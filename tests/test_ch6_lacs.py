"""Chapter 6's claim helpers in design.lacs: each criterion's evidence can come out either way."""
import math

import pytest

from gpuefficient.arch import scaling
from gpuefficient.arch.zoo import get
from gpuefficient.design import lacs
from gpuefficient.papers import EFFICIENTNET_X_TABLE5, EFFICIENTNET_X_TABLE6


def test_solve_phi_brackets_from_below_and_never_times_phi_max_for_a_near_target():
    calls = []

    def latency(phi):
        calls.append(phi)
        return 1e-3 * 2 ** phi

    phi, lat = lacs.solve_phi(latency, 1.5e-3, phi_max=8.0, tolerance=0.01)
    assert lat == pytest.approx(1.5e-3, rel=0.01) and phi == pytest.approx(math.log2(1.5), abs=0.02)
    assert max(calls) <= 1.0  # the bracket stopped at phi 1 (2 ms), far below phi_max 8 (256 ms)
    phi, lat = lacs.solve_phi(latency, 200e-3, phi_max=8.0, tolerance=0.01)
    assert phi == pytest.approx(math.log2(200), abs=0.02) and max(calls) == 8.0
    with pytest.raises(ValueError, match="reaches only"):
        lacs.solve_phi(latency, 1.0, phi_max=8.0)
    with pytest.raises(ValueError, match="phi_max: got 0"):
        lacs.solve_phi(latency, 1e-3, phi_max=0)


def test_phi_for_macs_meets_a_flops_target_for_each_family(tiny_spec):
    base = tiny_spec
    from gpuefficient.arch.models import spec_costs

    target = spec_costs(scaling.compound_scale(base, 1.2, 1.1, 1.15, 1.0)).macs
    phi, macs = lacs.phi_for_macs(base, 1.29, 1.16, 1.07, target, phi_max=4.0, tolerance=0.03)
    # MACs step with phi (depths are rounded up), so the closest step, some per cent off, is what it finds
    assert macs == pytest.approx(target, rel=0.3) and 0.3 < phi < 3.0
    assert spec_costs(scaling.compound_scale(base, 1.29, 1.16, 1.07, phi)).macs == macs
    far = [spec_costs(scaling.compound_scale(base, 1.29, 1.16, 1.07, p)).macs for p in (phi / 2, phi * 1.5)]
    assert all(abs(m - target) >= abs(macs - target) for m in far)
    with pytest.raises(ValueError, match="macs: got -1"):
        lacs.phi_for_macs(base, 1.29, 1.16, 1.07, -1)


def test_reward_margin_is_what_landing_within_the_tolerance_moves():
    assert lacs.reward_margin(0.05) == pytest.approx(0.009)
    # two candidates landing at target x (1 - tol) and x (1 + tol) differ in reward by about that much
    gap = lacs.reward(0.8, 0.95, 1.0) / lacs.reward(0.8, 1.05, 1.0) - 1
    assert gap == pytest.approx(lacs.reward_margin(0.05), rel=0.05)
    with pytest.raises(ValueError, match="tolerance: got 0"):
        lacs.reward_margin(0)


def test_dimension_gap_reproduces_table5_and_can_fail():
    (_, small), (_, large) = EFFICIENTNET_X_TABLE5["X-B1 level"], EFFICIENTNET_X_TABLE5["X-B7 level"]
    assert lacs.dimension_gap(small, large) == pytest.approx(18 / 350)  # resolution 368 vs 350 is the larger gap
    assert lacs.dimension_gap(small, large) <= 0.06
    assert lacs.dimension_gap((23, 240), (23, 240)) == 0
    assert lacs.dimension_gap((30, 240), (23, 240)) == pytest.approx(7 / 23)  # depth alone can fail it
    with pytest.raises(ValueError, match="direct: got"):
        lacs.dimension_gap((23, 240), (23,))


def test_deeper_lower_fraction_on_table6_and_when_one_member_breaks_it():
    members = [f"X-B{i}" for i in range(1, 8)]
    single = [EFFICIENTNET_X_TABLE6[m][0] for m in members]
    for column in (1, 2):  # LACS on GPU, on TPU
        assert lacs.deeper_lower_fraction([EFFICIENTNET_X_TABLE6[m][column] for m in members], single) == 1.0
    broken = [EFFICIENTNET_X_TABLE6[m][1] for m in members]
    broken[3] = (broken[3][0], 400)  # X-B4 at a higher resolution than single-objective's 380
    assert lacs.deeper_lower_fraction(broken, single) == pytest.approx(6 / 7)
    shallower = [(d - 10, r) for d, r in (EFFICIENTNET_X_TABLE6[m][1] for m in members)]
    assert lacs.deeper_lower_fraction(shallower, single) < 1.0
    with pytest.raises(ValueError, match="same non-zero number"):
        lacs.deeper_lower_fraction(single[:3], single)


def _row(a, b, g, reward, skipped=""):
    return {"alpha": a, "beta": b, "gamma": g, "reward": reward, "skipped": skipped}


def test_depth_preference_signs_the_reward_advantage_by_alpha_over_gamma():
    single = (1.2, 1.1, 1.15)
    deeper_wins = [_row(1.29, 1.16, 1.07, 0.81), _row(1.2, 1.1, 1.15, 0.80)]
    assert lacs.depth_preference(deeper_wins, single) == pytest.approx(0.81 / 0.80 - 1)
    shallower_wins = [_row(1.2, 1.1, 1.3, 0.82), _row(1.2, 1.1, 1.15, 0.80)]
    assert lacs.depth_preference(shallower_wins, single) == pytest.approx(-(0.82 / 0.80 - 1))
    same = [_row(1.2, 1.1, 1.15, 0.80), _row(1.29, 1.16, 1.07, 0.79)]
    assert lacs.depth_preference(same, single) == 0
    # a skipped candidate is never the best, however it is ordered
    assert lacs.depth_preference([_row(1.4, 1.1, 1.07, math.nan, "too slow")] + same, single) == 0
    with pytest.raises(ValueError, match="reference: got"):
        lacs.depth_preference(deeper_wins, (1.3, 1.1, 1.1))
