"""``build(spec) -> nn.Module``: one generic builder for every stage-based network spec."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gpuefficient.blocks import ConvBnAct, make_block
from gpuefficient.spec import NetworkSpec

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

    def __init__(self, spec: NetworkSpec):
        super().__init__()
        self.spec = spec
        self.stem = ConvBnAct(spec.in_channels, spec.stem.out_channels, spec.stem.kernel, spec.stem.stride,
                              activation=spec.stem.activation)
        stages, width = [], spec.stem.out_channels
        for stage in spec.stages:
            blocks = []
            for index in range(stage.depth):  # only the first block strides
                blocks.append(make_block(stage.block, width, stage.out_channels, stage.kernel,
                                         stage.stride if index == 0 else 1, stage.expansion, stage.se_ratio,
                                         stage.activation))
                width = stage.out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        head = spec.head
        self.head = Head(width, head.channels, head.activation, head.num_classes, head.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convs (fan-out), unit BN, small-normal classifier: the usual CNN init."""
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

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (before the head)."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def build(spec: NetworkSpec | dict[str, Any]) -> Network:
    """The ``nn.Module`` of a spec (or of a dict that ``NetworkSpec.from_dict`` accepts)."""
    if isinstance(spec, dict):
        spec = NetworkSpec.from_dict(spec)
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec or a dict")
    return Network(spec)
