"""Singular-value rank analysis of convolution kernels (GENet, Lin et al., Sec. 3.3 and Fig. 4).

GENet's design principle: BL and DW blocks are low-rank approximations of a full (XX)
convolution, and trained kernels of deep stages have faster-decaying singular values than shallow
ones, so full convolutions belong early and bottleneck/depthwise blocks late. This module makes
that measurable for any model.

A kernel of shape (c_out, c_in / groups, k, k) becomes a matrix as the paper does:

* an ordinary convolution (groups = 1): (c_out, c_in k^2);
* a grouped convolution: each group's (c_out / g, c_in / g k^2) block separately; the kernel's
  spectrum is the union of the groups' singular values (the matrix is block-diagonal);
* a depthwise convolution (c_in per group = 1): the (c_out, k^2) bank of filters, whose rank is at
  most k^2: it says how many distinct spatial patterns the filters use;
* a 1x1 convolution or a linear layer: its (c_out, c_in) weight as is (k = 1).

Spectra are normalised as in GENet Fig. 4: largest singular value 1, index i at x = i / c_out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["kernel_matrices", "singular_values", "Spectrum", "spectrum", "effective_rank", "stable_rank",
           "energy_rank", "marchenko_pastur_spectrum", "conv_layers", "stage_convs", "stage_spectra",
           "load_checkpoint", "suggest_block"]


def kernel_matrices(weight: torch.Tensor, groups: int = 1) -> list[torch.Tensor]:
    """The matrices whose singular values describe a conv/linear weight (see module docstring)."""
    if not isinstance(weight, torch.Tensor) or weight.dim() not in (2, 4):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight: got {shape}, expected a 4-d conv kernel (c_out, c_in/groups, k, k) or a 2-d matrix")
    w = weight.detach().to(torch.float64).cpu()
    if not torch.isfinite(w).all():
        bad = int((~torch.isfinite(w)).sum())
        raise ValueError(f"weight: got {bad} NaN or infinite value(s) in a {tuple(w.shape)} kernel, expected finite "
                         "weights (a diverged training run or a corrupt checkpoint)")
    if w.dim() == 2:
        return [w]
    c_out = w.shape[0]
    if not isinstance(groups, int) or groups < 1 or c_out % groups:
        raise ValueError(f"groups: got {groups!r}, expected a positive divisor of c_out={c_out}")
    flat = w.reshape(c_out, -1)
    if w.shape[1] == 1 and groups > 1:  # depthwise: one k x k filter per channel, stacked
        return [flat]
    return list(flat.chunk(groups, dim=0)) if groups > 1 else [flat]


def singular_values(weight: torch.Tensor, groups: int = 1) -> np.ndarray:
    """All singular values of the kernel's matrices, in descending order (unnormalised)."""
    values = [torch.linalg.svdvals(m).numpy() for m in kernel_matrices(weight, groups)]
    return np.sort(np.concatenate(values))[::-1]


def effective_rank(values) -> float:
    """exp(entropy of s_i / sum s): Roy and Vetterli's effective rank (1 .. number of values)."""
    s = np.asarray(values, dtype=float)
    s = s[s > 0]
    if not s.size:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def stable_rank(values) -> float:
    """||W||_F^2 / ||W||_2^2 = sum s_i^2 / s_max^2: a rank that small singular values barely move."""
    s = np.asarray(values, dtype=float)
    return float((s**2).sum() / s.max() ** 2) if s.size and s.max() > 0 else 0.0


def energy_rank(values, fraction: float = 0.95) -> int:
    """The fewest singular values that keep ``fraction`` of the energy sum s_i^2."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: got {fraction!r}, expected 0 < fraction <= 1")
    s = np.sort(np.asarray(values, dtype=float))[::-1]
    energy = np.cumsum(s**2)
    if not s.size or energy[-1] == 0:
        return 0
    return int(np.searchsorted(energy, fraction * energy[-1] * (1 - 1e-12)) + 1)


@dataclass(frozen=True)
class Spectrum:
    """Normalised spectrum and rank summaries of one kernel."""

    name: str
    shape: tuple[int, ...]
    groups: int
    values: np.ndarray  # descending, divided by the largest

    @property
    def c_out(self) -> int:
        return self.shape[0]

    @property
    def x(self) -> np.ndarray:
        """GENet's x-axis: index i / c_out."""
        return np.arange(1, len(self.values) + 1) / self.c_out

    def summary(self) -> dict[str, Any]:
        """Effective, stable and energy ranks, absolute and as a fraction of the possible rank."""
        full = len(self.values)
        out = {"name": self.name, "shape": "x".join(map(str, self.shape)), "groups": self.groups,
               "max_rank": full, "effective_rank": effective_rank(self.values),
               "stable_rank": stable_rank(self.values)}
        for p in (0.90, 0.95, 0.99):
            out[f"rank{round(p * 100)}"] = energy_rank(self.values, p)
        for key in ("effective_rank", "stable_rank", "rank90", "rank95", "rank99"):
            out[f"{key}_fraction"] = out[key] / full if full else 0.0
        return out


def spectrum(weight: torch.Tensor, groups: int = 1, name: str = "") -> Spectrum:
    """The normalised spectrum of a conv/linear weight."""
    try:
        s = singular_values(weight, groups)
    except ValueError as err:
        raise (ValueError(f"{name}: {err}") if name else err) from None
    if not s.size or s[0] == 0:
        raise ValueError(f"weight {name or ''}: all singular values are zero (an all-zero kernel has no spectrum)")
    return Spectrum(name, tuple(weight.shape), groups, s / s[0])


def marchenko_pastur_spectrum(rows: int, cols: int) -> np.ndarray:
    """Expected normalised singular values (descending) of a rows x cols i.i.d. Gaussian matrix.

    Quantiles of the Marchenko-Pastur law with ratio min/max, divided by its upper edge: what
    random initialisation gives in the large-matrix limit (the baseline every trained spectrum is
    compared with).
    """
    m, n = min(rows, cols), max(rows, cols)
    ratio = m / n
    lo, hi = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
    grid = np.linspace(lo, hi, 20001)
    density = np.sqrt(np.clip((hi - grid) * (grid - lo), 0, None)) / (2 * math.pi * ratio * np.maximum(grid, 1e-12))
    cdf = np.concatenate([[0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
    cdf /= cdf[-1]
    probabilities = (np.arange(m) + 0.5) / m
    eigen = np.interp(probabilities, cdf, grid)
    return np.sqrt(eigen[::-1]) / math.sqrt(hi)


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every Conv2d of ``model`` with its name, in module order."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not layers:
        raise ValueError(f"model: {type(model).__name__} has no Conv2d layers to analyse")
    return layers


def stage_convs(model: nn.Module, input_shape=(1, 3, 224, 224)) -> list[list[str]]:
    """Names of the convolutions of each stage, in execution order.

    A stage is a run of layers at one output resolution (stages change where the network
    downsamples), found from one shape-only pass of the cost model; the stem's first convolution
    and resolutions with no spatial (k > 1) convolution are left out, as GENet does.
    """
    from gpuefficient.analysis.costs import analyze

    convs = dict(conv_layers(model))
    report = analyze(model, input_shape)
    stages: dict[tuple[int, ...], list[str]] = {}
    first = True
    for row in report.layers:
        if row.kind != "conv" or row.name not in convs:
            continue
        if first:
            first = False
            continue
        stride = convs[row.name].stride
        if max(stride) > 1 and tuple(row.output_shape[2:]) == tuple(row.input_shape[2:]):
            raise ValueError(f"input_shape: got {tuple(input_shape)}, at which the feature map is already "
                             f"{'x'.join(map(str, row.input_shape[2:]))} when {row.name} downsamples again: stages "
                             "(runs of one resolution) cannot be told apart; use a larger input (e.g. 224)")
        names = stages.setdefault(tuple(row.output_shape[2:]), [])
        if row.name not in names:
            names.append(row.name)
    found = [names for names in stages.values() if any(convs[n].kernel_size[0] > 1 for n in names)]
    if not found:
        raise ValueError(f"model: {type(model).__name__} has no spatial (k > 1) convolution after its first one: "
                         "no stage to analyse (GENet's analysis is for CNNs, not for patch-embedding transformers)")
    return found


def stage_spectra(model: nn.Module, input_shape=(1, 3, 224, 224), every_conv: bool = False) -> list[dict[str, Any]]:
    """Per stage, the spectrum of its last spatial (k > 1) convolution, as GENet Fig. 4 does.

    With ``every_conv`` each convolution of each stage is included. Rows carry the stage index,
    the layer name, the ``Spectrum`` and its summary.
    """
    convs = dict(conv_layers(model))
    rows = []
    for index, names in enumerate(stage_convs(model, input_shape)):
        spatial = [n for n in names if convs[n].kernel_size[0] > 1]
        for name in (names if every_conv else spatial[-1:]):
            conv = convs[name]
            spec = spectrum(conv.weight, conv.groups, name)
            rows.append({"stage": index + 1, "layer": name, "kernel": conv.kernel_size[0],
                         "spectrum": spec, **spec.summary()})
    return rows


def load_checkpoint(model: nn.Module, path) -> nn.Module:
    """Load a local state dict (``weights_only=True``: no code runs) into ``model``, strictly."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights: got {str(path)!r}, expected an existing checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means an unreadable file
        raise ValueError(f"weights: {path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights: {path} holds a {type(state).__name__}, expected a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"weights: {path} does not match {type(model).__name__}: {str(err)[:500]}") from err
    return model


def suggest_block(summary: dict[str, Any], width: int, resolution: int, latencies: dict | None = None,
                  full_rank_fraction: float = 0.5) -> dict[str, Any]:
    """GENet's rule made explicit: a block type and ratio for a stage from its measured spectrum.

    A stage whose kernel needs more than ``full_rank_fraction`` of its singular values to keep 95%
    of the energy is treated as full rank: an XX block. Otherwise a low-rank block can carry it: BL
    with the smallest r in {0.25, 0.5, 0.75} that keeps that rank (r x width >= rank95), or DW with
    r = 3 (GENet's choice). ``latencies`` (from ``block_profile.profile_blocks`` at this stage's
    width and resolution, keyed by (block, r)) decides between them: the low-rank block is chosen
    only if it is measured faster than XX.
    """
    fraction = summary["rank95_fraction"]
    out = {"width": width, "resolution": resolution, "rank95_fraction": fraction}
    if fraction > full_rank_fraction:
        return {**out, "suggestion": "xx", "ratio": 1.0, "why": f"rank95 {fraction:.0%} of width > "
                f"{full_rank_fraction:.0%}: near full rank"}
    bl_ratio = next(r for r in (0.25, 0.5, 0.75, 1.0) if r >= fraction)
    candidates = [("bl", bl_ratio), ("dw", 3.0)]
    if not latencies:
        return {**out, "suggestion": "bl", "ratio": bl_ratio, "why": "low rank; no latencies measured"}
    missing = [c for c in [("xx", 1.0), *candidates] if c not in latencies]
    if missing:
        raise ValueError(f"latencies: missing {missing}; expected keys ('xx', 1.0), {candidates}")
    xx = latencies[("xx", 1.0)].median
    best = min(candidates, key=lambda c: latencies[c].median)
    speedup = xx / latencies[best].median
    if speedup <= 1:
        return {**out, "suggestion": "xx", "ratio": 1.0, "why": f"low rank, but XX is measured fastest "
                f"({1 / speedup:.2f}x faster than {best[0]} r={best[1]:g})"}
    return {**out, "suggestion": best[0], "ratio": best[1],
            "why": f"low rank; {best[0]} r={best[1]:g} measured {speedup:.2f}x faster than XX"}
