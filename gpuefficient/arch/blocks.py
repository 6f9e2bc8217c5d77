"""Building blocks of the papers' networks (EfficientNet-X, GPUNet, GENet) as ``nn.Module``s.

Each block class has the signature natural to it; ``BLOCKS`` maps every block name of a spec to a
``BlockType``, which says which ``StageSpec`` fields the block takes and builds it from them by
keyword, so that one builder can assemble any stage. See ``spec.py`` for what ``expansion`` is
relative to in each block type.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gpuefficient import checks
from gpuefficient.arch.vocabulary import BLOCK_FIELDS, OPTIONAL_FIELDS, PADDINGS

__all__ = ["ACTIVATIONS", "BLOCKS", "BlockType", "make_activation", "make_block", "ConvBnAct", "SameConv2d",
           "SqueezeExcite", "MBConv", "FusedMBConv", "SpaceToDepthConv", "XXBlock", "BottleneckBlock"]

# name -> factory taking the channel count (only PReLU uses it: one learned slope per channel)
ACTIVATIONS: dict[str, Callable[[int], nn.Module]] = {  # one factory per name of vocabulary.ACTIVATION_NAMES
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
    checks.one_of("activation", name, sorted(ACTIVATIONS))
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


class BottleneckBlock(_GENetBlock):
    """GENet's BL and DW blocks: 1x1 to ``ratio`` x out, KxK (strided), 1x1 to out.

    GENet Sec. 3.1, Fig. 1(b); down-sampling at the first k > 1 conv. The two differ only in the
    KxK conv: full in the BL block (``depthwise=False``; ratio <= 1 is a bottleneck), depthwise in
    the DW block (``depthwise=True``; ratio >= 1 is an inverted bottleneck).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, ratio: float, activation: str = "relu",
                 depthwise: bool = False):
        depthwise = checks.flag("depthwise", depthwise)
        mid = _width(out_ch, ratio)
        super().__init__(in_ch, out_ch, stride, activation, [
            ConvBnAct(in_ch, mid, 1, activation=activation),
            ConvBnAct(mid, mid, kernel, stride, groups=mid if depthwise else 1, activation=activation),
            ConvBnAct(mid, out_ch, 1, activation="identity")])
        self.depthwise = depthwise


# --- the block registry: what a stage's ``block`` name builds ---------------------------------------

@dataclass(frozen=True)
class BlockType:
    """One entry of ``BLOCKS``: how a stage's block is built from the stage's fields.

    ``factory`` is called with keywords only: ``in_ch``, ``out_ch`` and one keyword per field named
    in ``takes`` (names of ``StageSpec`` fields, with the stage's value for its block). Every block
    takes ``kernel``, ``stride`` and ``activation``; a field of ``OPTIONAL_FIELDS`` that a block does
    not take must stay at its default. ``expansion_meaning`` says what the stage's expansion is
    relative to (empty when the block takes none; see ``spec.py``).
    """

    name: str
    factory: Callable[..., nn.Module]
    takes: tuple[str, ...]
    expansion_meaning: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.takes) - {"kernel", "stride", "activation", *OPTIONAL_FIELDS}
        if unknown or not {"kernel", "stride", "activation"} <= set(self.takes):
            raise ValueError(f"takes: got {self.takes!r}, expected kernel, stride, activation and any of "
                             f"{list(OPTIONAL_FIELDS)}")
        if ("expansion" in self.takes) != bool(self.expansion_meaning):
            raise ValueError(f"expansion_meaning: got {self.expansion_meaning!r}, expected a meaning exactly when "
                             "the block takes an expansion")

    def build(self, in_ch: int, out_ch: int, **fields) -> nn.Module:
        """The block from ``in_ch`` to ``out_ch`` channels; ``fields`` are a stage's (by ``StageSpec`` name)."""
        for name, value in fields.items():
            if name in self.takes:
                continue
            if name not in OPTIONAL_FIELDS:
                raise TypeError(f"{name}: not a field {self.name} blocks take (they take {list(self.takes)})")
            default, meaning = OPTIONAL_FIELDS[name]
            if value != default:
                raise ValueError(f"{name}: got {value!r}, {self.name} blocks {meaning}")
        return self.factory(in_ch=in_ch, out_ch=out_ch, **{name: fields[name] for name in self.takes if name in fields})


def _space_to_depth(in_ch: int, out_ch: int, kernel: int, stride: int, activation: str = "relu",
                    padding: str = "symmetric") -> SpaceToDepthConv:
    """The n x n, stride n conv of a ``space_to_depth`` stage (n is the stage's stride and kernel)."""
    if kernel != stride:
        raise ValueError(f"kernel: got {kernel!r}, expected kernel == stride ({stride}) for space_to_depth")
    return SpaceToDepthConv(in_ch, out_ch, stride, activation, padding)


def _bl(in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float, activation: str = "relu"):
    """GENet's BL block: the stage's expansion is its r."""
    return BottleneckBlock(in_ch, out_ch, kernel, stride, expansion, activation, depthwise=False)


def _dw(in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float, activation: str = "relu"):
    """GENet's DW block: the stage's expansion is its r."""
    return BottleneckBlock(in_ch, out_ch, kernel, stride, expansion, activation, depthwise=True)


#: Spec block name -> its ``BlockType`` (see there for the contract): the factories of the names and
#: fields that ``vocabulary.BLOCK_FIELDS`` declares.
_FACTORIES = {"conv": ConvBnAct, "mbconv": MBConv, "fused_mbconv": FusedMBConv, "space_to_depth": _space_to_depth,
              "xx": XXBlock, "bl": _bl, "dw": _dw}
BLOCKS: dict[str, BlockType] = {name: BlockType(name, factory=_FACTORIES[name], takes=takes, expansion_meaning=meaning)
                                for name, (takes, meaning) in BLOCK_FIELDS.items()}


def make_block(block: str, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float = 1.0,
               se_ratio: float = 0.0, activation: str = "relu", padding: str = "symmetric") -> nn.Module:
    """One block of type ``block`` (a key of ``BLOCKS``), from a stage's fields (see ``BlockType.build``)."""
    checks.one_of("block", block, sorted(BLOCKS))
    return BLOCKS[block].build(in_ch, out_ch, kernel=kernel, stride=stride, expansion=expansion, se_ratio=se_ratio,
                               activation=activation, padding=padding)
