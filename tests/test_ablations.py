"""Ablation variants: equal output shapes, the right blocks, Table 4's counts, bad parameters rejected."""
import dataclasses

import pytest
import torch
from torch import nn

from gpuefficient.design import ablations
from gpuefficient.arch.blocks import FusedMBConv, MBConv
from gpuefficient.analysis.costs import analyze
from gpuefficient.arch.zoo import get, names


def test_stage_shapes_of_efficientnet_b0_and_x_b0():
    b0 = ablations.stage_shapes(get("efficientnet_b0").spec)
    assert [(s["resolution"], s["in_channels"], s["out_channels"]) for s in b0] == [
        (112, 32, 16), (112, 16, 24), (56, 24, 40), (28, 40, 80), (14, 80, 112), (14, 112, 192), (7, 192, 320)]
    x0 = ablations.stage_shapes(get("efficientnet_x_b0_gpu").spec)
    assert [s["resolution"] for s in x0] == [112, 56, 56, 28, 14, 14, 7]  # the 2x2 space-to-depth conv halves
    # the space-to-depth stage outputs 4 x 16 channels (its 2x2 conv makes 32 -> 128, its block 128 -> 64)
    assert [(s["in_channels"], s["out_channels"]) for s in x0[:3]] == [(32, 64), (64, 24), (24, 40)]
    assert ablations.stage_shapes(get("efficientnet_b0").spec, 256)[0]["resolution"] == 128
    with pytest.raises(TypeError, match="expected a NetworkSpec"):
        ablations.stage_shapes({"name": "b0"})
    with pytest.raises(ValueError, match="resolution: got 0"):
        ablations.stage_shapes(get("efficientnet_b0").spec, 0)


def traced_stage_shapes(model, resolution: int) -> list[tuple[int, int, int, int]]:
    """(input channels, input size, output channels, output size) of each stage of ``model``, as a forward pass
    on the meta device sees them."""
    seen = []
    hooks = [stage.register_forward_hook(lambda m, args, out: seen.append(
        (args[0].shape[1], args[0].shape[-1], out.shape[1], out.shape[-1]))) for stage in model.stages]
    try:
        with torch.no_grad():
            assert model(torch.empty(2, 3, resolution, resolution, device="meta")).shape == (2, 1000)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


# X-B1..B6 repeat B0's and B7's stage layout with other multipliers: one architecture each is enough here
ARCHITECTURES = [n for n in names() if not (n.startswith("efficientnet_x_b") and n[len("efficientnet_x_b")] in "123456")]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_stage_shapes_agree_with_the_built_network(name, meta_build):
    """Every zoo network, built on the meta device: each stage's input and output channels are those
    stage_shapes reports, and so is its input size (except after a 'same_static' stage, whose strided
    convs do not pad: GPUNet's 160 -> 79, which stage_shapes, dividing with ceil, does not model).

    Only a stage's first block changes its shape, so each stage is traced with at most two blocks
    (the first and one that must keep the shape): the shapes are the full network's, at a fraction
    of the cost of the deepest members."""
    spec = get(name).spec
    rows = ablations.stage_shapes(spec)
    shallow = dataclasses.replace(spec, stages=tuple(dataclasses.replace(s, depth=min(s.depth, 2))
                                                     for s in spec.stages))
    traced = traced_stage_shapes(meta_build(shallow), spec.resolution)
    assert [(r["in_channels"], r["out_channels"]) for r in rows] == [(t[0], t[2]) for t in traced]
    unpadded = next((i for i, s in enumerate(spec.stages) if s.padding == "same_static"), len(spec.stages))
    assert [r["resolution"] for r in rows[:unpadded + 1]] == [t[1] for t in traced[:unpadded + 1]]


@pytest.mark.parametrize("stride, expansion", [(1, 1.0), (2, 6.0)])
def test_mbconv_variants_share_input_and_output_shapes(stride, expansion):
    variants = ablations.mbconv_variants(16, 24, 3, stride, expansion, 0.25, "swish")
    assert isinstance(variants["mbconv"], MBConv) and isinstance(variants["fused_mbconv"], FusedMBConv)
    shapes = ablations.output_shapes(variants, (2, 16, 32, 32))
    assert set(shapes.values()) == {(2, 24, 32 // stride, 32 // stride)}
    flops = {k: analyze(v, (1, 16, 32, 32)).flops for k, v in variants.items()}
    assert flops["fused_mbconv"] > flops["mbconv"]  # the fused block trades FLOPs for intensity


def test_space_to_depth_variants_are_equal_shape_and_the_copy_moves_data_only():
    variants = ablations.space_to_depth_variants(8)
    assert set(ablations.output_shapes(variants, (1, 8, 16, 16)).values()) == {(1, 32, 8, 8)}
    x = torch.randn(1, 8, 16, 16)
    assert torch.equal(variants["pixel_unshuffle (copy)"](x), nn.functional.pixel_unshuffle(x, 2))
    assert analyze(variants["pixel_unshuffle (copy)"], (1, 8, 16, 16)).flops == 0
    with pytest.raises(ValueError, match="channels: got 0"):
        ablations.space_to_depth_variants(0)


def test_standalone_activations_do_not_work_in_place_and_traffic_is_counted():
    for name in ablations.STANDALONE_ACTIVATIONS:
        module = ablations.standalone_activation(name, 4)
        x = torch.randn(1, 4, 3, 3)
        before = x.clone()
        module(x)
        assert torch.equal(x, before), name
    m, rate = ablations.activation_traffic("relu", (1, 4, 8, 8), device="cpu", warmup=1, repeats=3)
    assert m.repeats == 3 and rate == pytest.approx(2 * 4 * 256 / m.median)
    with pytest.raises(ValueError, match="activation: got 'mish'"):
        ablations.standalone_activation("mish", 4)
    with pytest.raises(ValueError, match=r"shape: got \(4, 8\)"):
        ablations.activation_traffic("relu", (4, 8), device="cpu")


def test_with_activation_and_factor_variants():
    b0 = get("efficientnet_b0").spec
    relu = ablations.with_activation(b0, "relu")
    assert {s.activation for s in relu.stages} == {"relu"} and relu.stem.activation == relu.head.activation == "relu"
    with pytest.raises(ValueError, match="got 2 names, expected 1 or 7"):
        ablations.with_activation(b0, ["relu", "swish"])
    mixed = ablations.with_activation(b0, ("relu",) * 6 + ("swish",))  # stem: the first stage's, head: the last's
    assert (mixed.stem.activation, mixed.head.activation, mixed.name) == ("relu", "swish", "efficientnet_b0_mixed")
    kernels = ablations.factor_variants(b0, "kernel", (3, 7))
    assert [s.kernel for s in kernels["kernel=7"].stages] == [7] * 7
    expansions = ablations.factor_variants(b0, "expansion", (2,))["expansion=2"]
    assert [s.expansion for s in expansions.stages] == [1.0] + [2.0] * 6  # the expansion-1 stage keeps it
    assert ablations.factor_variants(b0, "resolution", (160,))["resolution=160"].resolution == 160
    assert {s.se_ratio for s in ablations.factor_variants(b0, "se", (0.0,))["se=0.0"].stages} == {0.0}
    with pytest.raises(ValueError, match="factor: got 'depth'"):
        ablations.factor_variants(b0, "depth")


def test_table4_steps_match_the_paper_counts(meta_build):
    """EfficientNet-X Table 4 (as reported): params 5.3 / 7.2 / 7.6 / 7.6 M, MACs 0.39 / 0.47 / 0.91 / 0.91 G."""
    paper = {"EfficientNet-B0": (5.3e6, 0.39e9), "+SpaceToDepth": (7.2e6, 0.47e9), "+Fused Conv": (7.6e6, 0.91e9),
             "+Activation (X-B0 GPU)": (7.6e6, 0.91e9), "+Activation (X-B0 TPU)": (7.6e6, 0.91e9)}
    specs = ablations.table4_specs()
    assert list(specs) == list(paper)
    for name, spec in specs.items():
        report = analyze(meta_build(spec), (1, 3, 224, 224))
        params, macs = paper[name]
        assert report.params == pytest.approx(params, rel=0.02), name
        assert report.macs == pytest.approx(macs, rel=0.035), name  # +SpaceToDepth: 0.456 vs 0.47 (rounded)
    assert {s.block for s in specs["+SpaceToDepth"].stages} == {"mbconv"}
    assert {s.activation for s in specs["+Fused Conv"].stages} == {"swish"}


def test_compare_refuses_unequal_outputs_and_reports_costs_with_times():
    variants = ablations.mbconv_variants(8, 8, 3, 1, 2.0)
    rows = ablations.compare(variants, (1, 8, 16, 16), [("eager", "fp32", False)], device="cpu", warmup=1,
                             repeats=3)
    assert [r["variant"] for r in rows] == ["mbconv", "fused_mbconv"]
    assert all(r["median_ms"] > 0 and r["flops"] > 0 and r["intensity"] > 0 for r in rows)
    with pytest.raises(ValueError, match="output shapes differ"):
        ablations.compare({"a": nn.Conv2d(8, 8, 3), "b": nn.Conv2d(8, 8, 3, padding=1)}, (1, 8, 16, 16),
                          [("eager", "fp32", False)], device="cpu")
    with pytest.raises(ValueError, match="variants: got none"):
        ablations.compare({}, (1, 8, 16, 16), [("eager", "fp32", False)])


def test_compare_builds_specs_and_times_every_variant_on_one_input(tiny_spec, monkeypatch):
    inputs = []
    real = ablations.time_backends

    def spy(module, x, *args, **kwargs):
        inputs.append(x)
        return real(module, x, *args, **kwargs)

    monkeypatch.setattr(ablations, "time_backends", spy)
    variants = {"relu": tiny_spec, "hardswish": ablations.with_activation(tiny_spec, "hardswish")}
    rows = ablations.compare(variants, (1, 3, 32, 32), [("eager", "fp32", False)], device="cpu", warmup=1, repeats=2)
    assert [r["variant"] for r in rows] == ["relu", "hardswish"] and rows[0]["params"] == rows[1]["params"]
    assert len(inputs) == 2 and inputs[0] is inputs[1]  # one seeded input, not one per variant
