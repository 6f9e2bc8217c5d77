"""FoldedCNNs (Kosaian et al. 2021), as the utilization study describes them (Sec. 3.3).

A FoldedCNN with parameter ``f`` infers over N / f inputs of C x f channels, each ``f`` images
stacked along the channels, with every layer ``sqrt(f)`` times wider and ``f`` output heads (one
classifier of f x classes outputs). A dense convolution then does about the same FLOPs per image
(f x the work per input, f x fewer inputs) while every activation per image is sqrt(f) times
smaller, so arithmetic intensity grows by about sqrt(f). Exceptions, by construction: the stem
(its input channels grow by f, its outputs by sqrt(f)) and the classifier do sqrt(f) times more
FLOPs per image, depthwise convolutions sqrt(f) times fewer.

Supported: networks described by a :class:`~gpuefficient.arch.spec.NetworkSpec` (the zoo and
anything the builder builds), where every width is data; widths go through EfficientNet's rounding
(:func:`gpuefficient.arch.scaling.round_filters`), exact for sqrt(f) x a multiple of 8. Built timm
modules are refused: their widths live in constructor code, not in data this function can rewrite.
Folded networks must be retrained; the study leaves accuracy aside and so does this module.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import torch
from torch import nn

from gpuefficient import checks
from gpuefficient.arch.builder import Network, build
from gpuefficient.arch.scaling import scale_spec
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["check_fold", "fold_spec", "fold", "fold_inputs", "unfold_outputs", "FoldedNetwork"]


def check_fold(f) -> int:
    """``f`` if it is a perfect square > 1 (4, 9, 16, ...): the widths grow by sqrt(f)."""
    if isinstance(f, bool) or not isinstance(f, numbers.Integral) or f < 2 or math.isqrt(f) ** 2 != f:
        raise ValueError(f"f: got {f!r}, expected a perfect square > 1 (4, 9, 16, ...): folding widens every "
                         "layer by sqrt(f)")
    return int(f)


def fold_spec(spec: NetworkSpec, f: int) -> NetworkSpec:
    """The FoldedCNN of ``spec``: input channels x f, every width x sqrt(f) (rounded), f x classes."""
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec")
    f = check_fold(f)
    root = math.isqrt(f)
    wide = scale_spec(spec, width=float(root), depth=1.0, resolution=spec.resolution,
                      num_classes=spec.head.num_classes * f)
    return dataclasses.replace(wide, name=f"{spec.name}_fold{f}", in_channels=spec.in_channels * f,
                               source=f"{spec.name} folded with f = {f} (FoldedCNNs, Kosaian et al. 2021): "
                                      f"{f} images stacked along channels, widths x {root}, {f} heads")


def fold_inputs(x: torch.Tensor, f: int) -> torch.Tensor:
    """(N, C, H, W) -> (N / f, f x C, H, W): images n*f .. n*f + f - 1 stacked along channels (a view)."""
    f = check_fold(f)
    if x.dim() != 4 or x.shape[0] % f:
        raise ValueError(f"x: got shape {tuple(x.shape)}, expected (N, C, H, W) with N a multiple of f = {f}")
    n, c, h, w = x.shape
    return x.reshape(n // f, f * c, h, w)


def unfold_outputs(logits: torch.Tensor, f: int) -> torch.Tensor:
    """(N / f, f x classes) -> (N, classes): head i of folded input n answers for image n*f + i."""
    f = check_fold(f)
    if logits.dim() != 2 or logits.shape[1] % f:
        raise ValueError(f"logits: got shape {tuple(logits.shape)}, expected (N / f, f x classes) with f = {f}")
    return logits.reshape(logits.shape[0] * f, logits.shape[1] // f)


class FoldedNetwork(nn.Module):
    """A folded network that takes and returns ordinary batches: (N, C, H, W) images -> (N, classes).

    Folding inputs and unfolding outputs are views (no copies), so training and evaluation code
    written for the unfolded network works unchanged. ``network`` is the folded network itself:
    cost and time it on folded inputs of shape (N / f, C x f, H, W).
    """

    def __init__(self, network: nn.Module, f: int):
        super().__init__()
        self.network = network
        self.f = check_fold(f)

    def forward_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N / f, f, classes): the f heads' outputs per folded input."""
        logits = self.network(fold_inputs(x, self.f))
        return logits.reshape(logits.shape[0], self.f, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unfold_outputs(self.network(fold_inputs(x, self.f)), self.f)


def fold(spec_or_model: NetworkSpec | nn.Module, f: int):
    """Fold a spec (returns the folded :class:`NetworkSpec`) or a network built from one (returns a
    freshly initialised :class:`FoldedNetwork`, to be trained). Anything else is refused."""
    if isinstance(spec_or_model, NetworkSpec):
        return fold_spec(spec_or_model, f)
    if isinstance(spec_or_model, Network):
        return FoldedNetwork(build(fold_spec(spec_or_model.spec, f)), f)
    kind = type(spec_or_model).__name__
    origin = type(spec_or_model).__module__.split(".")[0]
    raise ValueError(f"spec_or_model: got a {kind} (from {origin}); folding is supported for a NetworkSpec or a "
                     "network built from one (gpuefficient.arch.builder.build, the zoo), whose widths are data. "
                     "timm and other built modules are not: their widths are fixed in constructor code (write the "
                     "network as a NetworkSpec to fold it)")
