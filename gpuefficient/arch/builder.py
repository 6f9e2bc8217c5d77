"""``build(spec) -> nn.Module``: one generic builder for every stage-based network spec."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gpuefficient.arch.blocks import ConvBnAct, SpaceToDepthConv, make_block
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["Network", "build"]


class Head(nn.Module):
    """Optional 1x1 conv-BN-act, global average pool, dropout, linear classifier."""

    def __init__(self, in_ch: int, channels: int | None, activation: str, num_classes: int, dropout: float):
        super().__init__()
        self.conv = ConvBnAct(in_ch, channels, 1, activation=activation) if channels else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels or in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.flatten(self.pool(self.conv(x)))))


class Network(nn.Module):
    """A network built from a ``NetworkSpec``: ``stem``, ``stages`` (one Sequential each), ``head``.

    Module names read ``stages.<stage>.<block>.<layer>``; stage i's input width is stage i-1's output.
    """

    def __init__(self, spec: NetworkSpec, zero_init_last: bool = False):
        super().__init__()
        self.spec = spec
        self.stem = ConvBnAct(spec.in_channels, spec.stem.out_channels, spec.stem.kernel, spec.stem.stride,
                              activation=spec.stem.activation)
        stages, width = [], spec.stem.out_channels
        for stage in spec.stages:
            stages.append(self._stage(stage, width))
            width = stage.output_channels
        self.stages = nn.Sequential(*stages)
        head = spec.head
        self.head = Head(width, head.channels, head.activation, head.num_classes, head.dropout)
        self.reset_parameters(zero_init_last)

    @staticmethod
    def _stage(stage, width: int) -> nn.Sequential:
        """One stage's blocks from ``width`` input channels; only the first block strides.

        ``space_to_depth`` 1 prepends the 2x2 stride-2 conv (C -> 4C) and runs the blocks 4x wider;
        the first block after it (and the first block of a ``space_to_depth`` 2 stage) keeps its SE
        width (and, for 2, its expansion) relative to the un-widened input, at stride 1. See spec.py.
        """
        blocks, out, stride = [], stage.output_channels, stage.stride
        expansion, se_ratio = stage.expansion, stage.se_ratio
        if stage.space_to_depth == 1:
            blocks.append(SpaceToDepthConv(width, 4 * width, 2, stage.activation, stage.padding))
            width, se_ratio = 4 * width, se_ratio / 4
        elif stage.space_to_depth == 2:
            stride, expansion, se_ratio = 1, expansion / 4, se_ratio / 4
        for index in range(stage.depth):
            if index == 1:  # later blocks: plain stride 1, ratios relative to their own input
                stride, expansion, se_ratio = 1, stage.expansion, stage.se_ratio
            blocks.append(make_block(stage.block, width, out, kernel=stage.block_kernel, stride=stride,
                                     expansion=expansion, se_ratio=se_ratio, activation=stage.activation,
                                     padding=stage.padding))
            width = out
        return nn.Sequential(*blocks)

    def reset_parameters(self, zero_init_last: bool = False) -> None:
        """Kaiming-normal convs (fan-out), unit BN, small-normal classifier: the usual CNN init.

        ``zero_init_last``: every residual block starts as its shortcut (its branch's last BN scale
        is zero; Goyal et al. 2017, timm's and torchvision's option of the same purpose). Deep
        networks then train much faster in a short schedule (the training oracle uses it). Off by
        default: a block whose branch outputs zeros would hide a wrong kernel from an output check.

        A network on the meta device (shapes only) holds no values to initialise: skipped (on meta,
        ``normal_`` runs through Python decompositions, seconds for a large network).
        """
        if all(p.is_meta for p in self.parameters()):
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        if zero_init_last:
            for m in self.modules():
                if hasattr(m, "zero_init_last"):
                    m.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (before the head)."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def build(spec: NetworkSpec | dict[str, Any], zero_init_last: bool = False) -> Network:
    """The ``nn.Module`` of a spec (or of a dict that ``NetworkSpec.from_dict`` accepts); see
    ``Network.reset_parameters`` for ``zero_init_last``."""
    if isinstance(spec, dict):
        spec = NetworkSpec.from_dict(spec)
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec or a dict")
    return Network(spec, zero_init_last)
