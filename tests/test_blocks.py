import pytest
import torch
from torch import nn

from gpuefficient.arch.blocks import (ACTIVATIONS, BLOCKS, BlockType, BottleneckBlock, ConvBnAct, FusedMBConv, MBConv,
                                      SpaceToDepthConv, SqueezeExcite, XXBlock, make_activation, make_block)
from gpuefficient.arch.vocabulary import ACTIVATION_NAMES, BLOCK_FIELDS, OPTIONAL_FIELDS
from gpuefficient.arch.builder import build
from gpuefficient.arch.spec import StageSpec


def bl(in_ch, out_ch, kernel, stride, ratio, activation="relu"):
    """GENet's BL block: the full-KxK bottleneck."""
    return BottleneckBlock(in_ch, out_ch, kernel, stride, ratio, activation, depthwise=False)


def dw(in_ch, out_ch, kernel, stride, ratio, activation="relu"):
    """GENet's DW block: the depthwise one."""
    return BottleneckBlock(in_ch, out_ch, kernel, stride, ratio, activation, depthwise=True)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bn(channels: int) -> int:
    return 2 * channels  # weight and bias


def zero_last_bn(block: nn.Module) -> nn.Module:
    """Make the residual branch output zero (its last BN scales by 0, shifts by 0)."""
    nn.init.zeros_(block.branch[-1].bn.weight)
    return block.eval()


@pytest.mark.parametrize("block", sorted(BLOCKS))
@pytest.mark.parametrize("stride", [1, 2])
def test_every_block_shape(block, stride):
    if block == "space_to_depth":
        stride *= 2  # n x n, stride n >= 2: try n = 2 and n = 4
    expansion = {"mbconv": 4.0, "fused_mbconv": 4.0, "bl": 0.25, "dw": 3.0}.get(block, 1.0)
    se = 0.25 if block in ("mbconv", "fused_mbconv") else 0.0
    kernel = stride if block == "space_to_depth" else 3
    module = make_block(block, 16, 32, kernel, stride, expansion, se, "relu").eval()
    out = module(torch.randn(2, 16, 16, 16))
    assert out.shape == (2, 32, 16 // stride, 16 // stride)


def test_space_to_depth_is_an_n_by_n_stride_n_conv():
    conv = SpaceToDepthConv(8, 8 * 16, 4).conv
    assert conv.kernel_size == (4, 4) and conv.stride == (4, 4) and conv.padding == (0, 0)
    assert SpaceToDepthConv(8, 128, 4)(torch.randn(1, 8, 12, 12)).shape == (1, 128, 3, 3)


def test_inverted_residuals_skip_only_at_stride_1_and_equal_width():
    assert MBConv(16, 16, 3, 1, 4).has_skip and not MBConv(16, 24, 3, 1, 4).has_skip
    assert not MBConv(16, 16, 3, 2, 4).has_skip and FusedMBConv(16, 16, 3, 1, 1).has_skip
    assert not FusedMBConv(16, 16, 3, 2, 4).has_skip
    for block in (MBConv(16, 16, 3, 1, 4), FusedMBConv(16, 16, 3, 1, 4)):  # linear bottleneck: no act on project
        assert isinstance(block.branch[-1].act, nn.Identity)
    x = torch.randn(1, 16, 8, 8)
    assert torch.allclose(zero_last_bn(MBConv(16, 16, 3, 1, 4))(x), x)  # identity skip, no activation after it
    assert torch.allclose(zero_last_bn(FusedMBConv(16, 24, 3, 1, 4))(x), torch.zeros(1, 24, 8, 8))


def test_genet_blocks_are_always_residual_with_projection_when_shape_changes():
    assert isinstance(XXBlock(16, 16, 3, 1).shortcut, nn.Identity)
    assert isinstance(XXBlock(16, 32, 3, 1).shortcut.conv, nn.Conv2d)  # width changes: projection
    proj = dw(16, 16, 3, 2, 3.0).shortcut  # stride changes: strided 1x1 conv-BN, no activation
    assert proj.conv.stride == (2, 2) and proj.conv.kernel_size == (1, 1) and isinstance(proj.act, nn.Identity)
    # the activation follows the addition: a zero branch leaves act(x), not x
    x = torch.randn(1, 16, 8, 8)
    assert torch.allclose(zero_last_bn(XXBlock(16, 16, 3, 1))(x), torch.relu(x))
    assert torch.allclose(zero_last_bn(bl(16, 16, 3, 1, 0.5, "hardswish"))(x), nn.functional.hardswish(x))


def test_genet_last_branch_conv_has_no_activation_and_downsampling_is_at_first_k_gt_1_conv():
    for block in (bl(16, 32, 3, 2, 0.25), dw(16, 32, 3, 2, 3.0), XXBlock(16, 32, 3, 2)):
        convs = [layer.conv for layer in block.branch]
        strides = [conv.stride[0] for conv in convs]
        first_spatial = next(i for i, conv in enumerate(convs) if conv.kernel_size[0] > 1)
        assert strides[first_spatial] == 2 and strides.count(2) == 1
        assert isinstance(block.branch[-1].act, nn.Identity)
        assert all(isinstance(layer.act, nn.ReLU) for layer in block.branch[:-1])


def test_parameter_counts_match_hand_formulas():
    c_in, c_out, k = 16, 32, 3
    projection = c_in * c_out + bn(c_out)
    assert n_params(XXBlock(c_in, c_out, k, 1)) == (c_in * c_out * k * k + bn(c_out)
                                                   + c_out * c_out * k * k + bn(c_out) + projection)
    mid = 8  # 0.25 x 32
    assert n_params(bl(c_in, c_out, k, 1, 0.25)) == (c_in * mid + bn(mid) + mid * mid * k * k + bn(mid)
                                                         + mid * c_out + bn(c_out) + projection)
    mid = 96  # 3 x 32
    assert n_params(dw(c_in, c_out, k, 1, 3.0)) == (c_in * mid + bn(mid) + mid * k * k + bn(mid)
                                                        + mid * c_out + bn(c_out) + projection)
    mid, se = 64, 4  # 4 x 16 expanded; SE width int(16 x 0.25) from the input channels
    assert n_params(MBConv(c_in, c_out, k, 1, 4.0, 0.25)) == (c_in * mid + bn(mid) + mid * k * k + bn(mid)
                                                             + (mid * se + se) + (se * mid + mid)
                                                             + mid * c_out + bn(c_out))
    assert n_params(MBConv(c_in, c_out, k, 1, 1.0)) == c_in * k * k + bn(c_in) + c_in * c_out + bn(c_out)
    assert n_params(FusedMBConv(c_in, c_out, k, 1, 4.0)) == c_in * mid * k * k + bn(mid) + mid * c_out + bn(c_out)
    assert n_params(FusedMBConv(c_in, c_out, k, 1, 1.0)) == c_in * c_out * k * k + bn(c_out)
    assert n_params(SpaceToDepthConv(32, 128, 2)) == 32 * 128 * 2 * 2 + bn(128)
    assert n_params(ConvBnAct(8, 16, 3, activation="prelu")) == 8 * 16 * 9 + bn(16) + 16  # one slope per channel


def test_squeeze_excite_width_from_input_channels_and_gate():
    se = MBConv(24, 24, 3, 1, 6.0, 0.25).branch[2]
    assert isinstance(se, SqueezeExcite) and se.reduce.in_channels == 144 and se.reduce.out_channels == 6
    assert isinstance(MBConv(24, 24, 3, 1, 6.0).branch[2], nn.Identity)
    x = torch.randn(2, 8, 4, 4)
    gate = SqueezeExcite(8, 2, gate="identity")
    with torch.no_grad():
        gate.expand.weight.zero_()
        gate.expand.bias.fill_(0.5)
        assert torch.allclose(gate(x), 0.5 * x)
        assert torch.allclose(SqueezeExcite(8, 2).requires_grad_(False)(torch.zeros_like(x)), torch.zeros_like(x))


def test_genet_ratios_are_relative_to_output_width():
    assert bl(128, 256, 3, 1, 0.25).branch[1].conv.in_channels == 64
    depthwise = dw(64, 128, 3, 1, 3.0).branch[1].conv
    assert depthwise.in_channels == depthwise.out_channels == depthwise.groups == 384


def test_bl_and_dw_differ_only_in_the_depthwise_flag():
    full, depthwise = bl(16, 32, 3, 2, 2.0), dw(16, 32, 3, 2, 2.0)
    assert type(full) is type(depthwise) is BottleneckBlock and not full.depthwise and depthwise.depthwise
    assert full.branch[1].conv.groups == 1 and depthwise.branch[1].conv.groups == 64
    for a, b in zip(full.modules(), depthwise.modules()):  # same layers, same shapes but the middle conv's
        assert type(a) is type(b)
    assert not make_block("bl", 16, 32, 3, 2, 0.25).depthwise and make_block("dw", 16, 32, 3, 2, 3.0).depthwise
    with pytest.raises(ValueError, match="depthwise: got 1, expected True or False"):
        BottleneckBlock(16, 32, 3, 1, 1.0, depthwise=1)


def test_mbconv_expansion_is_relative_to_input_channels():
    block = MBConv(16, 32, 3, 2, 6.0)
    assert block.branch[0].conv.out_channels == 96 and block.branch[1].conv.groups == 96
    assert FusedMBConv(16, 32, 3, 2, 6.0).branch[0].conv.out_channels == 96


def conv_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-adds of the block's main-path convolutions (SE excluded) on an input of ``shape``."""
    macs = []
    hooks = [m.register_forward_hook(lambda m, args, out: macs.append(
        out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]))
        for m in module.modules() if isinstance(m, nn.Conv2d)]
    module.eval()(torch.randn(shape))
    for hook in hooks:
        hook.remove()
    return sum(macs)


def test_fused_mbconv_trades_depthwise_for_a_full_conv():
    shape = (1, 32, 28, 28)
    plain, fused = conv_macs(MBConv(32, 32, 3, 1, 4.0), shape), conv_macs(FusedMBConv(32, 32, 3, 1, 4.0), shape)
    # per pixel: 1x1 32->128 + depthwise 3x3 on 128 + 1x1 128->32, vs full 3x3 32->128 + 1x1 128->32
    assert plain == 28 * 28 * (32 * 128 + 9 * 128 + 128 * 32) and fused == 28 * 28 * (9 * 32 * 128 + 128 * 32)


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
    assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 64, 4, 4)
    assert [type(stage[0]).__name__ for stage in model.stages] == [
        "SpaceToDepthConv", "ConvBnAct", "XXBlock", "FusedMBConv", "MBConv", "BottleneckBlock", "BottleneckBlock"]
    assert [model.stages[i][0].depthwise for i in (5, 6)] == [False, True]
    assert model.stages[4][0].branch[1].conv.stride == (2, 2) and model.stages[4][1].branch[1].conv.stride == (1, 1)
    torch.manual_seed(0)
    assert torch.equal(build(spec).eval()(torch.zeros(1, 3, 64, 64)), model(torch.zeros(1, 3, 64, 64)))


def test_zero_init_last_starts_every_residual_block_as_its_shortcut():
    spec = {"name": "res", "stem": {"out_channels": 8}, "resolution": 32, "head": {"channels": None},
            "stages": [{"block": "mbconv", "depth": 2, "out_channels": 16, "stride": 2, "expansion": 4,
                        "se_ratio": 0.25},
                       {"block": "fused_mbconv", "depth": 2, "out_channels": 16, "expansion": 1.0},
                       {"block": "xx", "depth": 2, "out_channels": 24, "stride": 2}]}
    torch.manual_seed(0)
    model = build(spec, zero_init_last=True).eval()
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        for block in [*model.stages[0], *model.stages[1]]:
            out = block(x)
            if block.has_skip:
                assert torch.equal(out, x)  # the branch adds exact zeros
            else:  # the stride-2 MBConv has no skip: zeroing its branch would zero the network
                assert out.abs().sum() > 0 and block.branch[-1].bn.weight.eq(1).all()
            x = out
        for block in model.stages[2]:
            assert torch.equal(block(x), block.act(block.shortcut(x)))
            x = block(x)
    plain = build(spec)
    assert all(m.weight.eq(1).all() for m in plain.modules() if isinstance(m, nn.BatchNorm2d))  # off by default


def test_network_init_and_module_names():
    spec = {"name": "n", "stem": {"out_channels": 8}, "resolution": 32, "head": {"channels": 16, "num_classes": 10},
            "stages": [{"block": "xx", "depth": 1, "out_channels": 8}, {"block": "bl", "depth": 2,
                                                                         "out_channels": 16, "stride": 2,
                                                                         "expansion": 0.5}]}
    torch.manual_seed(1)
    model = build(spec)
    names = dict(model.named_modules())
    assert {"stem.conv", "stages.1.1.branch.1.conv", "stages.1.0.shortcut.conv", "head.conv.conv", "head.pool",
            "head.flatten", "head.dropout", "head.fc"} <= set(names)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in bns)
    assert model.head.fc.weight.std().item() == pytest.approx(0.01, rel=0.2) and not model.head.fc.bias.any()
    conv = names["stages.1.1.branch.1.conv"]  # kaiming fan_out: std = sqrt(2 / (out * k * k))
    assert conv.weight.std().item() == pytest.approx((2 / (8 * 9)) ** 0.5, rel=0.2)


def test_activation_registry():
    assert {"relu", "relu6", "silu", "swish", "hardswish", "gelu", "sigmoid", "prelu", "identity"} <= set(ACTIVATIONS)
    assert make_activation("prelu", 12).weight.shape == (12,)
    assert isinstance(make_activation("swish", 4), nn.SiLU)


def test_block_registry_is_a_contract_on_stage_fields():
    """Every entry names the StageSpec fields it takes; its factory accepts exactly those by keyword."""
    import dataclasses
    import inspect

    defaults = {f.name: f.default for f in dataclasses.fields(StageSpec)}
    for name, entry in BLOCKS.items():
        assert isinstance(entry, BlockType) and entry.name == name
        assert {"kernel", "stride", "activation"} <= set(entry.takes) <= set(defaults)
        params = inspect.signature(entry.factory).parameters
        assert {"in_ch", "out_ch", *entry.takes} <= set(params), name
        assert bool(entry.expansion_meaning) == ("expansion" in entry.takes)
    # a stage whose block does not take a field keeps StageSpec's default for it
    assert {field: default for field, (default, _) in OPTIONAL_FIELDS.items()} == {
        field: defaults[field] for field in OPTIONAL_FIELDS}
    from gpuefficient.arch import vocabulary

    assert vocabulary.PADDED_BLOCKS == ("conv", "mbconv", "fused_mbconv", "space_to_depth")
    assert vocabulary.SE_BLOCKS == ("mbconv", "fused_mbconv")
    assert sorted(vocabulary.EXPANSION_MEANING) == ["bl", "dw", "fused_mbconv", "mbconv"]
    with pytest.raises(ValueError, match="takes: got"):
        BlockType("bad", ConvBnAct, ("kernel", "stride", "activation", "groups"))


def test_make_block_rejects_fields_the_block_does_not_take():
    with pytest.raises(ValueError, match="expansion: got 4.0, xx blocks have no expansion"):
        make_block("xx", 8, 8, 3, 1, expansion=4.0)
    with pytest.raises(ValueError, match="se_ratio: got 0.25, bl blocks have no squeeze-excite"):
        make_block("bl", 8, 8, 3, 1, expansion=0.5, se_ratio=0.25)
    with pytest.raises(ValueError, match=r"kernel: got 3, expected kernel == stride \(2\) for space_to_depth"):
        make_block("space_to_depth", 8, 32, 3, 2)
    with pytest.raises(TypeError, match="groups: not a field conv blocks take"):
        BLOCKS["conv"].build(8, 8, kernel=3, stride=1, activation="relu", groups=8)
    conv = BLOCKS["conv"].build(8, 16, kernel=3, stride=2, activation="relu", expansion=1.0, se_ratio=0.0)
    assert isinstance(conv, ConvBnAct) and conv.conv.stride == (2, 2) and conv.conv.out_channels == 16


def test_bad_block_and_activation_names():
    with pytest.raises(ValueError, match="block: got 'resnet', expected one of"):
        make_block("resnet", 8, 8, 3, 1)
    with pytest.raises(ValueError, match="activation: got 'tanhh'"):
        make_activation("tanhh", 8)


def test_same_padding_follows_tensorflow():
    from gpuefficient.arch.blocks import SameConv2d

    conv = SameConv2d(1, 1, 2, 2)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 5, 5)
    out = conv(x)  # ceil(5 / 2) = 3; the padding row/column goes at the bottom/right
    assert out.shape == (1, 1, 3, 3) and out[0, 0, 0, 0] == 4 and out[0, 0, 2, 2] == 1
    assert SameConv2d(4, 4, 2, 1, groups=4)(torch.randn(1, 4, 7, 7)).shape == (1, 4, 7, 7)
    assert SpaceToDepthConv(8, 32, 2, padding="same")(torch.randn(1, 8, 7, 7)).shape == (1, 32, 4, 4)
    assert ConvBnAct(8, 8, 3, 2, padding="same_static").conv.padding == (0, 0)
    assert ConvBnAct(8, 8, 3, 1, padding="same_static").conv.padding == (1, 1)
    with pytest.raises(ValueError, match="even kernel cannot pad symmetrically"):
        ConvBnAct(8, 8, 2)
    with pytest.raises(ValueError, match="padding: got 'same', xx blocks pad symmetrically only"):
        make_block("xx", 8, 8, 3, 1, padding="same")


def test_the_modules_cover_the_vocabulary_exactly():
    """Specs are checked against the torch-free vocabulary; every name there must build, and nothing else."""
    assert tuple(ACTIVATIONS) == ACTIVATION_NAMES
    assert list(BLOCKS) == list(BLOCK_FIELDS)
    assert all(BLOCKS[n].takes == BLOCK_FIELDS[n][0] and BLOCKS[n].expansion_meaning == BLOCK_FIELDS[n][1]
               for n in BLOCKS)
