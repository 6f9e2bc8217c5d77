import numpy as np
import pytest
import torch
from torch import nn

from gpuefficient.measure.timer import Measurement, Task
from gpuefficient.analysis.rank import (effective_rank, energy_rank, kernel_matrices, load_checkpoint, marchenko_pastur_spectrum, singular_values, spectrum, stable_rank, stage_convs, stage_spectra, suggest_block)


def low_rank_kernel(c_out, c_in, k, rank, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(c_out, rank, generator=g, dtype=torch.float64)
    b = torch.randn(rank, c_in * k * k, generator=g, dtype=torch.float64)
    return (a @ b).reshape(c_out, c_in, k, k)


def test_known_rank_and_spectrum():
    w = low_rank_kernel(32, 8, 3, rank=5)
    s = singular_values(w)
    assert s.shape == (32,) and np.all(np.diff(s) <= 1e-9)
    assert (s > 1e-8 * s[0]).sum() == 5
    spec = spectrum(w, name="w")
    assert spec.values[0] == 1.0 and spec.x[-1] == 1.0 and spec.x[0] == pytest.approx(1 / 32)
    summary = spec.summary()
    assert summary["rank99"] <= 5 and summary["max_rank"] == 32 and summary["rank95_fraction"] <= 5 / 32


def test_rank_measures_on_exact_spectra():
    flat = np.ones(10)
    assert effective_rank(flat) == pytest.approx(10) and stable_rank(flat) == pytest.approx(10)
    assert energy_rank(flat, 0.95) == 10 and energy_rank(flat, 0.5) == 5
    single = np.array([3.0, 0, 0])
    assert effective_rank(single) == pytest.approx(1) and stable_rank(single) == 1 and energy_rank(single) == 1
    decaying = np.array([2.0, 1.0])  # energies 4 and 1: 80% in the first
    assert energy_rank(decaying, 0.8) == 1 and energy_rank(decaying, 0.81) == 2
    assert stable_rank(decaying) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="fraction: got 0"):
        energy_rank(flat, 0)


def test_grouped_depthwise_and_pointwise_matrices():
    grouped = torch.randn(8, 2, 3, 3)  # c_in = 8, groups = 4
    mats = kernel_matrices(grouped, groups=4)
    assert [tuple(m.shape) for m in mats] == [(2, 18)] * 4
    assert singular_values(grouped, 4).shape == (8,)
    depthwise = torch.randn(16, 1, 3, 3)
    (bank,) = kernel_matrices(depthwise, groups=16)
    assert bank.shape == (16, 9) and singular_values(depthwise, 16).shape == (9,)
    (pointwise,) = kernel_matrices(torch.randn(12, 7, 1, 1))
    assert pointwise.shape == (12, 7)
    with pytest.raises(ValueError, match="groups: got 3, expected a positive divisor of c_out=8"):
        kernel_matrices(grouped, groups=3)
    with pytest.raises(ValueError, match=r"weight: got \(3,\)"):
        kernel_matrices(torch.randn(3))
    with pytest.raises(ValueError, match="all singular values are zero"):
        spectrum(torch.zeros(4, 4, 3, 3))


def test_rank_fractions_are_of_the_possible_rank_not_of_c_out():
    """A depthwise bank of 16 filters of 3x3 has at most 9 singular values: a fraction of 1 means all 9 used."""
    g = torch.Generator().manual_seed(0)
    full = spectrum(torch.randn(16, 1, 3, 3, generator=g, dtype=torch.float64), groups=16).summary()
    assert full["max_rank"] == 9 and full["rank99"] == 9 and full["rank99_fraction"] == 1.0
    assert full["effective_rank_fraction"] == pytest.approx(full["effective_rank"] / 9)
    rank2 = torch.randn(16, 2, generator=g, dtype=torch.float64) @ torch.randn(2, 9, generator=g, dtype=torch.float64)
    low = spectrum(rank2.reshape(16, 1, 3, 3), groups=16).summary()
    assert low["rank99"] <= 2 and low["rank99_fraction"] == pytest.approx(low["rank99"] / 9)
    wide = spectrum(torch.randn(4, 8, 3, 3, generator=g)).summary()  # 4 x 72: at most 4, c_out
    assert wide["max_rank"] == 4 and wide["rank99_fraction"] == 1.0


def test_marchenko_pastur_matches_a_random_matrix():
    torch.manual_seed(0)
    rows, cols = 256, 1152
    s = singular_values(torch.randn(rows, cols))
    expected = marchenko_pastur_spectrum(rows, cols)
    assert expected.shape == (rows,) and expected[0] <= 1
    np.testing.assert_allclose(s / s[0], expected / expected[0], atol=0.03)


def test_stage_spectra_of_resnet18_follow_the_paper():
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False)
    stages = stage_convs(model, (1, 3, 64, 64))
    assert len(stages) == 4 and stages[0][0] == "layer1.0.conv1"
    rows = stage_spectra(model, (1, 3, 64, 64))
    assert [r["layer"] for r in rows] == ["layer1.1.conv2", "layer2.1.conv2", "layer3.1.conv2", "layer4.1.conv2"]
    assert [r["spectrum"].c_out for r in rows] == [64, 128, 256, 512]
    # every conv of each stage, 1x1 shortcuts included (on resnet10t: resnet18's 512-wide float64 SVDs cost ~3 s)
    every = stage_spectra(timm.create_model("resnet10t", pretrained=False), (1, 3, 64, 64), every_conv=True)
    assert len(every) == 13 and {"layer2.0.downsample.1", "layer4.0.conv2"} <= {r["layer"] for r in every}


def test_model_without_convs_is_rejected():
    with pytest.raises(ValueError, match="has no Conv2d layers"):
        stage_spectra(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), (1, 3, 4, 4))


def test_checkpoints_load_strictly(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    torch.save(model.state_dict(), tmp_path / "ok.pt")
    fresh = nn.Sequential(nn.Conv2d(3, 4, 3))
    load_checkpoint(fresh, tmp_path / "ok.pt")
    assert torch.equal(fresh[0].weight, model[0].weight)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "wrapped.pt")
    load_checkpoint(fresh, tmp_path / "wrapped.pt")
    with pytest.raises(ValueError, match="does not match Sequential"):
        load_checkpoint(nn.Sequential(nn.Conv2d(3, 8, 3)), tmp_path / "ok.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(fresh, tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="expected an existing checkpoint file"):
        load_checkpoint(fresh, tmp_path / "missing.pt")


def fake(ms: float) -> Measurement:
    return Measurement(Task(label="x"), (0.9 * ms / 1e3, ms / 1e3, 1.3 * ms / 1e3), 0, "cpu", "perf_counter")


def test_suggest_block_rule():
    full = {"rank95_fraction": 0.8}
    assert suggest_block(full, 64, 56)["suggestion"] == "xx"
    low = {"rank95_fraction": 0.3}
    lat = {("xx", 1.0): fake(10), ("bl", 0.5): fake(4), ("dw", 3.0): fake(6)}
    pick = suggest_block(low, 256, 14, lat)
    assert (pick["suggestion"], pick["ratio"]) == ("bl", 0.5) and "2.50x faster" in pick["why"]
    slow = {("xx", 1.0): fake(1), ("bl", 0.5): fake(4), ("dw", 3.0): fake(6)}
    assert suggest_block(low, 256, 14, slow)["suggestion"] == "xx"
    with pytest.raises(ValueError, match="latencies: missing"):
        suggest_block(low, 256, 14, {("xx", 1.0): fake(1)})


@pytest.mark.parametrize("fraction, ratio", [(0.1, 0.25), (0.25, 0.25), (0.26, 0.5), (0.5, 0.5)])
def test_suggest_block_takes_the_smallest_bl_ratio_that_keeps_the_rank(fraction, ratio):
    """r x width >= rank95: a ratio equal to the rank fraction keeps the rank, so it is the one taken."""
    pick = suggest_block({"rank95_fraction": fraction}, 64, 28)
    assert (pick["suggestion"], pick["ratio"]) == ("bl", ratio)
