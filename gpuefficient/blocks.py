"""Building blocks of the papers' networks, each an ``nn.Module`` with a uniform constructor.

Every block takes ``(in_ch, out_ch, kernel, stride, expansion, se_ratio, activation)`` so that
one builder can assemble any stage from a spec; see ``spec.py`` for what ``expansion`` is
relative to in each block type.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "BLOCKS", "make_activation", "make_block", "ConvBnAct", "SqueezeExcite", "MBConv",
           "FusedMBConv", "SpaceToDepthConv", "XXBlock", "BLBlock", "DWBlock"]

ACTIVATIONS: dict[str, Callable[[int], nn.Module]] = {
    "relu": lambda c: nn.ReLU(inplace=True),
    "relu6": lambda c: nn.ReLU6(inplace=True),
    "silu": lambda c: nn.SiLU(inplace=True),
    "swish": lambda c: nn.SiLU(inplace=True),
    "hardswish": lambda c: nn.Hardswish(inplace=True),
    "gelu": lambda c: nn.GELU(),
    "sigmoid": lambda c: nn.Sigmoid(),
    "prelu": lambda c: nn.PReLU(c),
    "identity": lambda c: nn.Identity(),
}


def make_activation(name: str, channels: int) -> nn.Module:
    """The activation called ``name`` (``prelu`` learns one slope per channel)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: got {name!r}, expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name](channels)


def _mid(width: int, ratio: float) -> int:
    return max(1, round(width * ratio))


class ConvBnAct(nn.Sequential):
    """KxK convolution (no bias, same padding) + batch norm + activation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 activation: str = "relu", padding: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2 if padding is None else padding,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = make_activation(activation, out_ch)


class SqueezeExcite(nn.Module):
    """Channel attention: pool, reduce, activate, expand, sigmoid gate (Hu et al.; EfficientNet's SE)."""

    def __init__(self, channels: int, se_channels: int, activation: str = "relu"):
        super().__init__()
        self.reduce = nn.Conv2d(channels, se_channels, 1)
        self.act = make_activation(activation, se_channels)
        self.expand = nn.Conv2d(se_channels, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))
        return x * scale


def _se(channels: int, in_ch: int, se_ratio: float, activation: str) -> nn.Module:
    """SE on ``channels`` with width ``in_ch * se_ratio`` (EfficientNet/GPUNet convention), or none."""
    return SqueezeExcite(channels, max(1, int(in_ch * se_ratio)), activation) if se_ratio else nn.Identity()


class _Residual(nn.Module):
    """Adds the input to the branch's output when shapes allow (EfficientNet: no projection)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        return out + x if self.has_skip else out


class MBConv(_Residual):
    """Inverted bottleneck: 1x1 expand, KxK depthwise, SE, 1x1 project (MobileNetV2, EfficientNet)."""

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=6.0, se_ratio=0.0, activation="silu"):
        super().__init__(in_ch, out_ch, stride)
        mid = _mid(in_ch, expansion)
        layers = [ConvBnAct(in_ch, mid, 1, activation=activation)] if mid != in_ch else []
        layers += [ConvBnAct(mid, mid, kernel, stride, groups=mid, activation=activation),
                   _se(mid, in_ch, se_ratio, activation),
                   ConvBnAct(mid, out_ch, 1, activation="identity")]
        self.branch = nn.Sequential(*layers)


class FusedMBConv(_Residual):
    """Fused MBConv: the 1x1 expand and KxK depthwise become one KxK conv (EfficientNet-X Sec. 3.2).

    With expansion 1 it is a single KxK conv-BN-act from input to output (EfficientNetV2).
    """

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=6.0, se_ratio=0.0, activation="silu"):
        super().__init__(in_ch, out_ch, stride)
        mid = _mid(in_ch, expansion)
        if mid == in_ch:
            layers = [ConvBnAct(in_ch, out_ch, kernel, stride, activation=activation),
                      _se(out_ch, in_ch, se_ratio, activation)]
        else:
            layers = [ConvBnAct(in_ch, mid, kernel, stride, activation=activation),
                      _se(mid, in_ch, se_ratio, activation),
                      ConvBnAct(mid, out_ch, 1, activation="identity")]
        self.branch = nn.Sequential(*layers)


class SpaceToDepthConv(ConvBnAct):
    """Trainable space-to-depth: an n x n conv with stride n (EfficientNet-X Sec. 3.1).

    It turns H x W x C into H/n x W/n x C' (typically C' = C n^2) as a convolution, which GPUs and
    TPUs run at high intensity, instead of a memory-copy reshape.
    """

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=1.0, se_ratio=0.0, activation="relu"):
        super().__init__(in_ch, out_ch, kernel, stride, activation=activation, padding=0)


class _GENetBlock(nn.Module):
    """GENet's residual wrapper (Sec. 3.1, Fig. 1): identity, or a strided 1x1 conv-BN projection
    when the shape changes; the activation follows the addition, as in ResNet."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, activation: str, branch: list[nn.Module]):
        super().__init__()
        self.branch = nn.Sequential(*branch)
        self.shortcut = (nn.Identity() if stride == 1 and in_ch == out_ch
                         else ConvBnAct(in_ch, out_ch, 1, stride, activation="identity"))
        self.act = make_activation(activation, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.branch(x) + self.shortcut(x))


class XXBlock(_GENetBlock):
    """GENet XX block: two full KxK convolutions (the ResNet basic block); the first strides."""

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=1.0, se_ratio=0.0, activation="relu"):
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, out_ch, kernel, stride, activation=activation),
            ConvBnAct(out_ch, out_ch, kernel, activation="identity")])


class BLBlock(_GENetBlock):
    """GENet BL block: 1x1 to r x out, full KxK (strided), 1x1 to out; r <= 1 is a bottleneck."""

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=0.25, se_ratio=0.0, activation="relu"):
        mid = _mid(out_ch, expansion)
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, mid, 1, activation=activation),
            ConvBnAct(mid, mid, kernel, stride, activation=activation),
            ConvBnAct(mid, out_ch, 1, activation="identity")])


class DWBlock(_GENetBlock):
    """GENet DW block: 1x1 to r x out, depthwise KxK (strided), 1x1 to out; r >= 1 inverts the bottleneck."""

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=3.0, se_ratio=0.0, activation="relu"):
        mid = _mid(out_ch, expansion)
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, mid, 1, activation=activation),
            ConvBnAct(mid, mid, kernel, stride, groups=mid, activation=activation),
            ConvBnAct(mid, out_ch, 1, activation="identity")])


class _PlainConv(ConvBnAct):
    """A plain conv-BN-act layer as a stage block (no residual)."""

    def __init__(self, in_ch, out_ch, kernel, stride, expansion=1.0, se_ratio=0.0, activation="relu"):
        super().__init__(in_ch, out_ch, kernel, stride, activation=activation)


BLOCKS: dict[str, type[nn.Module]] = {
    "conv": _PlainConv, "mbconv": MBConv, "fused_mbconv": FusedMBConv, "space_to_depth": SpaceToDepthConv,
    "xx": XXBlock, "bl": BLBlock, "dw": DWBlock,
}


def make_block(block: str, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float = 1.0,
               se_ratio: float = 0.0, activation: str = "relu") -> nn.Module:
    """One block of type ``block`` (a key of ``BLOCKS``) with the uniform signature."""
    if block not in BLOCKS:
        raise ValueError(f"block: got {block!r}, expected one of {sorted(BLOCKS)}")
    return BLOCKS[block](in_ch, out_ch, kernel, stride, expansion, se_ratio, activation)
