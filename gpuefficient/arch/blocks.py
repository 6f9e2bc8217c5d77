"""Building blocks of the papers' networks (EfficientNet-X, GPUNet, GENet) as ``nn.Module``s.

Each block class has the signature natural to it; ``BLOCKS`` maps every block name of a spec to
a factory with one uniform signature, so that one builder can assemble any stage. See ``spec.py``
for what ``expansion`` is relative to in each block type.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "BLOCKS", "PADDINGS", "PADDED_BLOCKS", "make_activation", "make_block", "ConvBnAct",
           "SameConv2d", "SqueezeExcite", "MBConv", "FusedMBConv", "SpaceToDepthConv", "XXBlock", "BLBlock", "DWBlock"]

#: How a KxK convolution pads (a stage's ``padding``):
PADDINGS = {
    "symmetric": "k // 2 on every side (PyTorch and timm); output ceil(in / stride) for odd kernels",
    "same": "TensorFlow 'same': output ceil(in / stride), the odd pixel of padding at the bottom/right; "
            "also for even kernels (the EfficientNet-X release)",
    "same_static": "timm's padding='same' as GPUNet's release builds it: k // 2 at stride 1, no padding at all "
                   "at stride > 1 (the dynamic TensorFlow padding is dropped)",
}

# name -> factory taking the channel count (only PReLU uses it: one learned slope per channel)
ACTIVATIONS: dict[str, Callable[[int], nn.Module]] = {
    "relu": lambda channels: nn.ReLU(inplace=True),
    "relu6": lambda channels: nn.ReLU6(inplace=True),
    "silu": lambda channels: nn.SiLU(inplace=True),
    "swish": lambda channels: nn.SiLU(inplace=True),
    "hardswish": lambda channels: nn.Hardswish(inplace=True),
    "gelu": lambda channels: nn.GELU(),
    "sigmoid": lambda channels: nn.Sigmoid(),
    "prelu": lambda channels: nn.PReLU(channels),
    "identity": lambda channels: nn.Identity(),
}


def make_activation(name: str, channels: int) -> nn.Module:
    """The activation called ``name`` for a tensor of ``channels`` channels."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: got {name!r}, expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](channels)


def _width(channels: int, ratio: float) -> int:
    return max(1, round(channels * ratio))


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's 'same' padding, computed from the input size at each call.

    Output ``ceil(in / stride)``; an odd total padding puts the extra pixel at the bottom/right.
    Needed for even kernels (EfficientNet-X's 2x2 convs), which symmetric padding cannot centre.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False):
        super().__init__(in_ch, out_ch, kernel, stride, 0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int, padding: int | str | None) -> nn.Conv2d:
    """A bias-free KxK conv padded as ``padding`` says (an int, a key of ``PADDINGS``, None: symmetric)."""
    if padding == "same":
        return SameConv2d(in_ch, out_ch, kernel, stride, groups)
    if padding == "same_static":
        padding = kernel // 2 if stride == 1 else 0
    elif padding in (None, "symmetric"):
        if kernel % 2 == 0:
            raise ValueError(f"kernel: got {kernel}, an even kernel cannot pad symmetrically; use padding='same'")
        padding = kernel // 2
    elif isinstance(padding, str):
        raise ValueError(f"padding: got {padding!r}, expected an int or one of {sorted(PADDINGS)}")
    return nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=False)


class ConvBnAct(nn.Sequential):
    """KxK convolution (no bias; symmetric padding unless given, see ``PADDINGS``) + batch norm + activation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 activation: str = "relu", padding: int | str | None = None):
        super().__init__()
        self.conv = _conv(in_ch, out_ch, kernel, stride, groups, padding)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = make_activation(activation, out_ch)


class SqueezeExcite(nn.Module):
    """Channel attention: pool, 1x1 reduce, activate, 1x1 expand, gate, rescale the input.

    Hu et al. (SENet) as used in EfficientNet's MBConv and GPUNet's search space.
    """

    def __init__(self, channels: int, se_channels: int, activation: str = "relu", gate: str = "sigmoid"):
        super().__init__()
        self.reduce = nn.Conv2d(channels, se_channels, 1)
        self.act = make_activation(activation, se_channels)
        self.expand = nn.Conv2d(se_channels, channels, 1)
        self.gate = make_activation(gate, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))


def _se(channels: int, in_ch: int, se_ratio: float, activation: str) -> nn.Module:
    """SE on ``channels`` of width ``int(in_ch * se_ratio)`` (EfficientNet/GPUNet convention), or none."""
    return SqueezeExcite(channels, max(1, int(in_ch * se_ratio)), activation) if se_ratio else nn.Identity()


def _zero_last_norm(branch: nn.Module) -> None:
    """Zero the scale of ``branch``'s last BatchNorm, so the block starts as its shortcut alone."""
    norms = [m for m in branch.modules() if isinstance(m, nn.BatchNorm2d)]
    if norms:
        nn.init.zeros_(norms[-1].weight)


class _InvertedResidual(nn.Module):
    """Adds the input to ``branch``'s output when stride and width allow (EfficientNet: no projection)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, branch: list[nn.Module]):
        super().__init__()
        self.branch = nn.Sequential(*branch)
        self.has_skip = stride == 1 and in_ch == out_ch

    def zero_init_last(self) -> None:
        """Start as the identity (Goyal et al. 2017); a block without a skip keeps its branch's init."""
        if self.has_skip:
            _zero_last_norm(self.branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        return out + x if self.has_skip else out


class MBConv(_InvertedResidual):
    """Inverted bottleneck: 1x1 expand (none at expansion 1), KxK depthwise, SE, linear 1x1 project.

    MobileNetV2 / EfficientNet (Tan and Le 2019), the baseline block of EfficientNet-X and GPUNet.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float,
                 se_ratio: float = 0.0, activation: str = "relu", padding: str = "symmetric"):
        mid = _width(in_ch, expansion)
        expand = [ConvBnAct(in_ch, mid, 1, activation=activation)] if expansion != 1 else []
        super().__init__(in_ch, out_ch, stride, [
            *expand,
            ConvBnAct(mid, mid, kernel, stride, groups=mid, activation=activation, padding=padding),
            _se(mid, in_ch, se_ratio, activation),
            ConvBnAct(mid, out_ch, 1, activation="identity")])


class FusedMBConv(_InvertedResidual):
    """Fused MBConv: one full KxK conv replaces the 1x1 expand and the depthwise KxK; SE; linear 1x1 project.

    EfficientNet-X Sec. 3.2 (and EfficientNetV2); at expansion 1 it is a single KxK conv-BN-act.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float,
                 se_ratio: float = 0.0, activation: str = "relu", padding: str = "symmetric"):
        if expansion == 1:
            branch = [ConvBnAct(in_ch, out_ch, kernel, stride, activation=activation, padding=padding),
                      _se(out_ch, in_ch, se_ratio, activation)]
        else:
            mid = _width(in_ch, expansion)
            branch = [ConvBnAct(in_ch, mid, kernel, stride, activation=activation, padding=padding),
                      _se(mid, in_ch, se_ratio, activation),
                      ConvBnAct(mid, out_ch, 1, activation="identity")]
        super().__init__(in_ch, out_ch, stride, branch)


class SpaceToDepthConv(ConvBnAct):
    """Trainable space-to-depth: an n x n conv with stride n + BN + act, H x W x C -> H/n x W/n x C'.

    EfficientNet-X Sec. 3.1: a convolution (high intensity, and it learns) instead of a memory-copy
    reshape; typically C' = C n^2. ``padding``: "symmetric" pads nothing (the input must divide by n);
    "same" pads the bottom/right up to a multiple of n, as TensorFlow does (EfficientNet-X release).
    """

    def __init__(self, in_ch: int, out_ch: int, block_size: int, activation: str = "relu",
                 padding: str = "symmetric"):
        super().__init__(in_ch, out_ch, block_size, block_size, activation=activation,
                         padding="same" if padding == "same" else 0)


class _GENetBlock(nn.Module):
    """GENet's residual wrapper: ``act(branch(x) + shortcut(x))``.

    GENet Sec. 3.1, Fig. 1(c): the shortcut is the identity, or a 1x1 conv-BN with the stride when
    the shape changes; the activation follows the addition, as in ResNet.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, activation: str, branch: list[nn.Module]):
        super().__init__()
        self.branch = nn.Sequential(*branch)
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch
                         else ConvBnAct(in_ch, out_ch, 1, stride, activation="identity"))
        self.act = make_activation(activation, out_ch)

    def zero_init_last(self) -> None:
        """Start as the shortcut alone (Goyal et al. 2017): the branch's last BN scale is zero."""
        _zero_last_norm(self.branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


class XXBlock(_GENetBlock):
    """GENet XX block: two full KxK convs (the ResNet basic block); the first one strides.

    GENet Sec. 3.1, Fig. 1(b).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, activation: str = "relu"):
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, out_ch, kernel, stride, activation=activation),
            ConvBnAct(out_ch, out_ch, kernel, activation="identity")])


class BLBlock(_GENetBlock):
    """GENet BL block: 1x1 to ``ratio`` x out, full KxK (strided), 1x1 to out; ratio <= 1 is a bottleneck.

    GENet Sec. 3.1, Fig. 1(b); down-sampling at the first k > 1 conv.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, ratio: float, activation: str = "relu"):
        mid = _width(out_ch, ratio)
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, mid, 1, activation=activation),
            ConvBnAct(mid, mid, kernel, stride, activation=activation),
            ConvBnAct(mid, out_ch, 1, activation="identity")])


class DWBlock(_GENetBlock):
    """GENet DW block: 1x1 to ``ratio`` x out, depthwise KxK (strided), 1x1 to out; ratio >= 1 is inverted.

    GENet Sec. 3.1, Fig. 1(b); down-sampling at the first k > 1 conv.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, ratio: float, activation: str = "relu"):
        mid = _width(out_ch, ratio)
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, mid, 1, activation=activation),
            ConvBnAct(mid, mid, kernel, stride, groups=mid, activation=activation),
            ConvBnAct(mid, out_ch, 1, activation="identity")])


# Spec block name -> factory(in_ch, out_ch, kernel, stride, expansion, se_ratio, activation, padding).
# Arguments a block does not use are dropped here; StageSpec rejects non-default values for them
# (the GENet blocks pad symmetrically only).
BLOCKS: dict[str, Callable[..., nn.Module]] = {
    "conv": lambda i, o, kernel, stride, expansion, se, act, padding="symmetric": ConvBnAct(
        i, o, kernel, stride, activation=act, padding=padding),
    "mbconv": MBConv,
    "fused_mbconv": FusedMBConv,
    "space_to_depth": lambda i, o, kernel, stride, expansion, se, act, padding="symmetric": SpaceToDepthConv(
        i, o, stride, act, padding),
    "xx": lambda i, o, kernel, stride, expansion, se, act: XXBlock(i, o, kernel, stride, act),
    "bl": lambda i, o, kernel, stride, expansion, se, act: BLBlock(i, o, kernel, stride, expansion, act),
    "dw": lambda i, o, kernel, stride, expansion, se, act: DWBlock(i, o, kernel, stride, expansion, act),
}
PADDED_BLOCKS = ("conv", "mbconv", "fused_mbconv", "space_to_depth")  # blocks that take a ``padding``


def make_block(block: str, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float = 1.0,
               se_ratio: float = 0.0, activation: str = "relu", padding: str = "symmetric") -> nn.Module:
    """One block of type ``block`` (a key of ``BLOCKS``), from a stage's fields."""
    if block not in BLOCKS:
        raise ValueError(f"block: got {block!r}, expected one of {sorted(BLOCKS)}")
    if padding != "symmetric":
        if block not in PADDED_BLOCKS:
            raise ValueError(f"padding: got {padding!r}, {block} blocks pad symmetrically only")
        return BLOCKS[block](in_ch, out_ch, kernel, stride, expansion, se_ratio, activation, padding=padding)
    return BLOCKS[block](in_ch, out_ch, kernel, stride, expansion, se_ratio, activation)
