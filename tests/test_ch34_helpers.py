"""Chapters 3 and 4's helpers: interleaved variant timing, activation op counts, the early/late contrast of
fused MBConv, duplicate factor variants, GENet's DW choices and latency per parameter."""
import math

import pytest
import torch
from torch import nn

from gpuefficient.analysis import rank
from gpuefficient.arch import zoo
from gpuefficient.design import ablations
from gpuefficient.measure.timer import Measurement, Task


def _interleaved(per_round: dict[str, list[float]], repeats: int = 3) -> dict[str, Measurement]:
    """Fake measurements of one interleaved call: each round's samples vary around the given median."""
    labels = list(per_round)
    out = {}
    for label, medians in per_round.items():
        times = tuple(m * f for m in medians for f in (0.9, 1.0, 1.3)[:repeats])
        task = Task(label=label, rounds=len(medians), interleaved_with=labels)
        out[label] = Measurement(task=task, times_s=times, warmup=1, device="cpu", timer="perf_counter")
    return out


def test_activation_ops_counts_the_decomposition():
    assert ablations.activation_ops("relu") == ["relu"]
    swish = ablations.activation_ops("swish")
    assert sorted(swish) == ["mul", "sigmoid"]          # x * sigmoid(x), no cast or view counted
    assert len(ablations.activation_ops("hardswish")) > len(swish)
    with pytest.raises(ValueError, match="nope"):
        ablations.activation_ops("nope")


def test_early_late_contrast_needs_early_wins_and_late_losses():
    wins_early_loses_late = {1: [1.5, 1.2], 2: [1.5, 1.2], 4: [0.5, 0.8]}
    assert ablations.early_late_contrast(wins_early_loses_late, [1, 2], [4]) == pytest.approx([1.5, 1.2])
    # fused wins everywhere: the late stages do not lose, so the claim cannot pass
    everywhere = {1: [1.5, 1.5], 4: [1.25, 1.25]}
    assert ablations.early_late_contrast(everywhere, [1], [4]) == pytest.approx([0.8, 0.8])
    # geometric, not arithmetic, mean: 4x and 1/4x cancel
    assert ablations.early_late_contrast({1: [4.0], 2: [0.25], 4: [0.5]}, [1, 2], [4]) == pytest.approx([1.0])


@pytest.mark.parametrize("speedups, early, late, match", [
    ({1: [1.0], 4: [1.0]}, [1], [1, 4], "disjoint"),
    ({1: [1.0], 4: [1.0]}, [], [4], "non-empty"),
    ({1: [1.0]}, [1], [4], r"no rounds for stages \[4\]"),
    ({1: [1.0, 1.0], 4: [1.0]}, [1], [4], "round counts"),
    ({1: [1.0], 4: [-1.0]}, [1], [4], "speed-up"),
])
def test_early_late_contrast_refuses_bad_input(speedups, early, late, match):
    with pytest.raises(ValueError, match=match):
        ablations.early_late_contrast(speedups, early, late)


def test_duplicates_finds_unchanged_networks():
    b0 = zoo.get("efficientnet_b0").spec
    variants = {**ablations.factor_variants(b0, "expansion", (2, 6)), **ablations.factor_variants(b0, "se", (0.0, 0.25)),
                **ablations.factor_variants(b0, "activation", ("swish",))}
    same = ablations.duplicates(variants)
    assert same == {"expansion=2": "expansion=2", "expansion=6": "expansion=6", "se=0.0": "se=0.0",
                    "se=0.25": "expansion=6", "activation=swish": "expansion=6"}
    with pytest.raises(ValueError, match="expected a NetworkSpec"):
        ablations.duplicates({"a": nn.ReLU()})


def test_time_interleaved_times_each_variant_on_its_input():
    variants = {"small": nn.Conv2d(3, 3, 1), "big": nn.Conv2d(3, 3, 3, padding=1)}
    out = ablations.time_interleaved(variants, {"small": (1, 3, 8, 8), "big": (1, 3, 32, 32)}, device="cpu",
                                     warmup=1, rounds=2, repeats=2)
    assert set(out) == {"small", "big"}
    assert all(m.task.rounds == 2 and m.repeats == 4 and m.task.interleaved_with == ("small", "big")
               for m in out.values())
    with pytest.raises(ValueError, match=r"no shape for \['big'\]"):
        ablations.time_interleaved(variants, {"small": (1, 3, 8, 8)}, device="cpu")
    with pytest.raises(ValueError, match="config: got 'eager'"):
        ablations.time_interleaved(variants, (1, 3, 8, 8), "eager", device="cpu")
    with pytest.raises(ValueError, match="non-empty dict"):
        ablations.time_interleaved({}, (1, 3, 8, 8), device="cpu")


def test_activation_variants_add_a_real_copy():
    variants = ablations.activation_variants(["relu", "swish"], 4)
    assert list(variants) == ["relu", "swish", "copy"]
    x = torch.randn(1, 4, 2, 2)
    y = variants["copy"](x)
    assert torch.equal(x, y) and y.data_ptr() != x.data_ptr()
    assert "copy" not in ablations.activation_variants(["relu"], 4, copy=False)
    with pytest.raises(ValueError, match="got none"):
        ablations.activation_variants([], 4)


def test_dw_choice_variants_differ_only_in_kernel_and_ratio():
    v = ablations.dw_choice_variants(8, kernels=(3, 5), ratios=(3, 6), depth=2)
    assert list(v) == ["k=3 r=3", "k=3 r=6", "k=5 r=3", "k=5 r=6"]
    convs = lambda net: [m for m in net.modules() if isinstance(m, nn.Conv2d)]  # noqa: E731
    depthwise = [c for c in convs(v["k=5 r=6"]) if c.groups > 1]
    assert len(depthwise) == 2 and all(c.kernel_size == (5, 5) and c.out_channels == 48 for c in depthwise)
    assert all(c.kernel_size == (3, 3) and c.out_channels == 24 for c in convs(v["k=3 r=3"]) if c.groups > 1)
    x = torch.randn(1, 8, 6, 6)
    assert all(net(x).shape == x.shape for net in v.values())
    with pytest.raises(ValueError, match="kernels: got 4"):
        ablations.dw_choice_variants(8, kernels=(4,))
    with pytest.raises(ValueError, match="ratios"):
        ablations.dw_choice_variants(8, ratios=(0,))


def test_per_param_rounds_scales_round_ratios_by_parameters():
    m = _interleaved({"xx": [1.0, 2.0], "bl": [0.5, 0.5]})
    out = ablations.per_param_rounds(m, {"xx": 100, "bl": 25}, "xx")
    # bl: half (then a quarter of) xx's time for a quarter of its parameters: 2x (1x) the time per parameter
    assert list(out) == ["bl"] and out["bl"] == pytest.approx([2.0, 1.0])
    with pytest.raises(ValueError, match="reference: got 'dw'"):
        ablations.per_param_rounds(m, {"xx": 1, "bl": 1}, "dw")
    with pytest.raises(ValueError, match="expected a positive count"):
        ablations.per_param_rounds(m, {"xx": 100, "bl": 0}, "xx")
    assert math.isfinite(out["bl"][0])
