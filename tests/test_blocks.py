import pytest
import torch
from torch import nn

from gpuefficient.blocks import (BLOCKS, BLBlock, DWBlock, FusedMBConv, MBConv, SpaceToDepthConv, XXBlock,
                                 make_activation, make_block)
from gpuefficient.builder import build
from gpuefficient.costs import analyze


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bn(c: int) -> int:
    return 2 * c


@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_block_shape(block, stride):
    if block == "space_to_depth":
        stride = 2
    expansion = {"mbconv": 4.0, "fused_mbconv": 4.0, "bl": 0.25, "dw": 3.0}.get(block, 1.0)
    se = 0.25 if block in ("mbconv", "fused_mbconv") else 0.0
    kernel = 2 if block == "space_to_depth" else 3
    module = make_block(block, 16, 32, kernel, stride, expansion, se, "relu").eval()
    out = module(torch.randn(2, 16, 16, 16))
    assert out.shape == (2, 32, 16 // stride, 16 // stride)


def test_residuals_present_exactly_where_specified():
    x = torch.randn(1, 16, 8, 8)
    assert MBConv(16, 16, 3, 1, 4).has_skip and not MBConv(16, 24, 3, 1, 4).has_skip
    assert not FusedMBConv(16, 16, 3, 2, 4).has_skip
    assert isinstance(XXBlock(16, 16, 3, 1).shortcut, nn.Identity)
    assert isinstance(XXBlock(16, 32, 3, 1).shortcut[0], nn.Conv2d)  # projection when width changes
    proj = DWBlock(16, 16, 3, 2).shortcut
    assert proj.conv.stride == (2, 2) and proj.conv.kernel_size == (1, 1)
    # an identity residual: zeroing the branch's last BN leaves act(x)
    block = XXBlock(16, 16, 3, 1).eval()
    nn.init.zeros_(block.branch[-1].bn.weight)
    assert torch.allclose(block(x), torch.relu(x))


def test_parameter_counts_match_hand_formulas():
    c_in, c_out, k = 16, 32, 3
    assert n_params(XXBlock(c_in, c_out, k, 1)) == (c_in * c_out * 9 + bn(c_out) + c_out * c_out * 9 + bn(c_out)
                                                   + c_in * c_out + bn(c_out))
    mid = 8  # 0.25 x 32
    assert n_params(BLBlock(c_in, c_out, k, 1, 0.25)) == (c_in * mid + bn(mid) + mid * mid * 9 + bn(mid)
                                                         + mid * c_out + bn(c_out) + c_in * c_out + bn(c_out))
    mid = 96  # 3 x 32
    assert n_params(DWBlock(c_in, c_out, k, 1, 3.0)) == (c_in * mid + bn(mid) + mid * 9 + bn(mid)
                                                        + mid * c_out + bn(c_out) + c_in * c_out + bn(c_out))
    mid, se = 64, 4  # 4 x 16 expanded; SE width int(16 x 0.25)
    assert n_params(MBConv(c_in, c_out, k, 1, 4.0, 0.25)) == (c_in * mid + bn(mid) + mid * 9 + bn(mid)
                                                             + (mid * se + se) + (se * mid + mid)
                                                             + mid * c_out + bn(c_out))
    assert n_params(FusedMBConv(c_in, c_out, k, 1, 4.0)) == c_in * mid * 9 + bn(mid) + mid * c_out + bn(c_out)
    assert n_params(SpaceToDepthConv(32, 128, 2, 2)) == 32 * 128 * 4 + bn(128)


def test_genet_ratios_are_relative_to_output_width():
    assert BLBlock(128, 256, 3, 1, 0.25).branch[0].conv.out_channels == 64
    assert DWBlock(64, 128, 3, 1, 3.0).branch[1].conv.out_channels == 384
    assert DWBlock(64, 128, 3, 1, 3.0).branch[1].conv.groups == 384


def test_fused_mbconv_has_more_flops_than_mbconv_at_equal_shape():
    shape = (1, 32, 28, 28)
    plain, fused = analyze(MBConv(32, 32, 3, 1, 4.0), shape), analyze(FusedMBConv(32, 32, 3, 1, 4.0), shape)
    # 3x3 full conv 32->128 + 1x1 back vs 1x1 + depthwise + 1x1: (9*32*128 + 128*32) / (2*32*128 + 9*128)
    assert fused.flops / plain.flops == pytest.approx(40960 / 9344) and fused.intensity > plain.intensity


def test_every_block_type_in_one_network():
    spec = {"name": "all", "stem": {"out_channels": 8}, "resolution": 64, "head": {"channels": None, "num_classes": 3},
            "stages": [{"block": "space_to_depth", "depth": 1, "out_channels": 32, "stride": 2, "kernel": 2},
                       {"block": "conv", "depth": 1, "out_channels": 32},
                       {"block": "xx", "depth": 2, "out_channels": 32},
                       {"block": "fused_mbconv", "depth": 1, "out_channels": 40, "expansion": 4, "se_ratio": 0.25},
                       {"block": "mbconv", "depth": 2, "out_channels": 48, "stride": 2, "expansion": 6,
                        "activation": "silu", "se_ratio": 0.25},
                       {"block": "bl", "depth": 1, "out_channels": 64, "stride": 2, "expansion": 0.25},
                       {"block": "dw", "depth": 2, "out_channels": 64, "expansion": 3, "activation": "prelu"}]}
    torch.manual_seed(0)
    model = build(spec).eval()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    torch.manual_seed(0)
    assert torch.equal(build(spec).eval()(torch.zeros(1, 3, 64, 64)), model(torch.zeros(1, 3, 64, 64)))
    assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 64, 4, 4)


def test_bad_block_and_activation_names():
    with pytest.raises(ValueError, match="block: got 'resnet', expected one of"):
        make_block("resnet", 8, 8, 3, 1)
    with pytest.raises(ValueError, match="activation: got 'tanhh'"):
        make_activation("tanhh", 8)
