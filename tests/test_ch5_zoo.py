"""Chapter 5's package pieces: checked known gaps, resolution labels, GPUNet's baselines, sampler coverage."""
import dataclasses

import numpy as np
import pytest

from gpuefficient.arch import gpunet_space as space
from gpuefficient.arch import zoo
from gpuefficient.arch.zoo import ZOO, KnownGap, get
from gpuefficient.papers import GPUNET_TABLE3


# --- known gaps: expected ratio, tolerance and reason, checked ------------------------------------------

def test_known_gap_needs_its_reason():
    with pytest.raises(ValueError, match="reason: got ''"):
        KnownGap(1.2, 0.001, "")
    with pytest.raises(ValueError, match="reason: got None"):
        KnownGap(1.2, 0.001, None)
    with pytest.raises(TypeError):
        KnownGap(1.2)  # ratio alone is not a documented gap
    gap = KnownGap(1.2, 0.01, "why")
    assert gap.holds(1.209) and gap.holds(1.191) and not gap.holds(1.2101) and not gap.holds(1.1899)


def test_every_documented_gap_carries_a_reason_and_is_shown():
    row = zoo.paper_comparison("efficientnet_x_b2_gpu")
    gap = get("efficientnet_x_b2_gpu").known_gaps["macs"]
    assert gap.reason and gap.tolerance > 0
    assert row["macs_status"] == "known gap" and row["macs_gap"].startswith(f"{gap.ratio:g} ± {gap.tolerance:g}: ")
    assert gap.reason in row["macs_gap"]
    assert zoo.paper_comparison("genet_light")["macs_gap"] == ""


def test_unexplained_gaps_counts_a_gap_that_moved(monkeypatch):
    rows = [zoo.paper_comparison(n) for n in ("genet_light", "efficientnet_x_b2_gpu")]
    assert zoo.unexplained_gaps(rows) == 0
    entry = get("efficientnet_x_b2_gpu")
    moved = {k: dataclasses.replace(g, ratio=g.ratio + 0.01) for k, g in entry.known_gaps.items()}
    monkeypatch.setitem(ZOO, entry.name, dataclasses.replace(entry, known_gaps=moved))
    rows = [zoo.paper_comparison(n) for n in ("genet_light", "efficientnet_x_b2_gpu")]
    assert zoo.unexplained_gaps(rows) == 2  # params and MACs: both expected ratios moved
    with pytest.raises(ValueError, match="expected paper_comparison"):
        zoo.unexplained_gaps([])
    with pytest.raises(ValueError, match="expected paper_comparison"):
        zoo.unexplained_gaps([{"name": "x"}])


# --- resolutions: the paper's or the release's, labelled ----------------------------------------------

def test_efficientnet_x_resolutions_are_labelled_by_source():
    for platform in ("gpu", "tpu"):
        assert get(f"efficientnet_x_b0_{platform}").paper["resolution_source"].startswith("paper")
        for i in range(1, 8):
            label = get(f"efficientnet_x_b{i}_{platform}").paper["resolution_source"]
            assert label.startswith("release") and f"-b{i}:" in label, label
    # B2 GPU: release 237 px, arXiv Table 6 (LACS on GPU) 241 px: both named
    label = get("efficientnet_x_b2_gpu").paper["resolution_source"]
    assert "237" in label and "241" in label
    assert all(zoo.paper_comparison(n)["resolution_source"] for n in ("genet_large", "gpunet_0", "efficientnet_b0"))


# --- GPUNet Table 3's EfficientNet-X baselines ------------------------------------------------------------

@pytest.mark.parametrize("index, resolution", [(2, 260), (3, 300)])
def test_gpunet_baselines_are_the_single_objective_members(index, resolution):
    """GPUNet's EfficientNetX-B2/B3-GPU: the paper's counts, which the LACS GPU members do not have."""
    name = f"efficientnet_x_b{index}_single"
    row = zoo.paper_comparison(name)
    _, _, params_m, gflops, _ = GPUNET_TABLE3[f"EfficientNetX-B{index}-GPU"]
    assert row["resolution"] == resolution
    assert row["params_status"] == row["macs_status"] == "within"
    assert row["params_ours"] == pytest.approx(params_m * 1e6, rel=0.02)
    assert row["macs_ours"] == pytest.approx(gflops * 1e9, rel=0.02)
    lacs = zoo.paper_comparison(f"efficientnet_x_b{index}_gpu")
    assert abs(lacs["macs_ours"] / (gflops * 1e9) - 1) > 0.02 or abs(lacs["params_ours"] / (params_m * 1e6) - 1) > 0.02


# --- Sobol vs uniform coverage (GPUNet Fig. 5) ------------------------------------------------------------

def test_centered_discrepancy_known_values():
    assert space.centered_discrepancy([[0.5]]) == pytest.approx(1 / 12)
    # one point at a corner of [0, 1]: (13/12) - 2 (1 + 1/4 - 1/8) + (1 + 1/4 + 1/4) = 1/3
    assert space.centered_discrepancy([[0.0]]) == pytest.approx(1 / 3)
    even = np.array([[(i + 0.5) / 8, (j + 0.5) / 8] for i in range(8) for j in range(8)])
    clustered = even * 0.5
    assert space.centered_discrepancy(even) < space.centered_discrepancy(clustered)


def test_centered_discrepancy_equals_scipys():
    qmc = pytest.importorskip("scipy.stats.qmc")
    x = np.random.default_rng(1).random((40, 5))
    assert space.centered_discrepancy(x) == pytest.approx(qmc.discrepancy(x, method="CD"))


def test_centered_discrepancy_rejects_bad_points():
    with pytest.raises(ValueError, match=r"points: got shape \(3,\)"):
        space.centered_discrepancy([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="outside"):
        space.centered_discrepancy([[0.1, 1.5]])


def test_normalized_encoding_puts_each_digit_at_its_cell_centre():
    low = [values[0] for _, values in space.DIGITS]
    high = [values[-1] for _, values in space.DIGITS]
    lo, hi = space.normalized_encoding(low), space.normalized_encoding(high)
    n = np.array([len(values) for _, values in space.DIGITS])
    assert np.allclose(lo, 0.5 / n) and np.allclose(hi, 1 - 0.5 / n)
    assert space.normalized_encoding(space.encode([0.3] * len(space.DIGITS)))[0] == pytest.approx(
        (int(0.3 * len(space.RESOLUTIONS)) + 0.5) / len(space.RESOLUTIONS))
    with pytest.raises(ValueError, match=r"code\[0\] \(resolution\): got 100"):
        space.normalized_encoding([100] + high[1:])


def test_uniform_sampler_and_coverage():
    a, b = space.uniform(50, 41, seed=3), space.uniform(50, 41, seed=3)
    assert a.shape == (50, 41) and np.array_equal(a, b) and (a >= 0).all() and (a < 1).all()
    assert not np.array_equal(a, space.uniform(50, 41, seed=4))
    sobol = space.coverage_discrepancy("sobol", 128, seed=0)
    uniform = space.coverage_discrepancy("uniform", 128, seed=0)
    assert sobol < uniform  # Fig. 5's point, on the encodings of the networks drawn
    with pytest.raises(ValueError, match="sampler: got 'halton'"):
        space.coverage_discrepancy("halton", 16)
    with pytest.raises(ValueError, match="n: got 1"):
        space.coverage_discrepancy("sobol", 1)
