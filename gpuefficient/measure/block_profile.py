"""GENet's block profiling networks (Lin et al., Sec. 3.2, Fig. 3), timed with the timing core.

Five XX blocks or ten BL/DW blocks (stride 1, kernel 3, all of one width) cover the same
receptive field, so their latencies compare the block types at equal "visual region". In GENet
the width of a DW block is that of its depthwise layer; here ``width`` is every block's output
width and ``ratio`` GENet's r relative to it (BL r <= 1, DW r >= 1), as in ``spec.py``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gpuefficient import checks, dtypes as _dtypes
from gpuefficient.arch.blocks import make_block
from gpuefficient.device import resolve_device
from gpuefficient.measure.timer import Measurement, measure_interleaved, measure_model, random_input

__all__ = ["profiling_network", "profile_blocks", "profile_interleaved", "latency_at_size", "equal_size_ratios",
           "BLOCKS_PER_NETWORK"]

BLOCKS_PER_NETWORK = {"xx": 5, "bl": 10, "dw": 10}


def profiling_network(block: str, width: int, ratio: float = 1.0, depth: int | None = None) -> nn.Sequential:
    """``depth`` (default: GENet's 5 or 10) stride-1, k=3 blocks of one type at one width."""
    checks.one_of("block", block, sorted(BLOCKS_PER_NETWORK))
    checks.integer("width", width)
    depth = depth or BLOCKS_PER_NETWORK[block]
    expansion = 1.0 if block == "xx" else ratio  # XX blocks have no ratio
    return nn.Sequential(*(make_block(block, width, width, kernel=3, stride=1, expansion=expansion)
                           for _ in range(depth)))


def profile_blocks(width: int, resolution: int, configs=(("xx", 1.0), ("bl", 0.25), ("dw", 3.0)), batch: int = 1,
                   dtype: torch.dtype = torch.float32, device="auto", warmup: int = 5, repeats: int = 20,
                   depth_scale: float = 1.0) -> dict[tuple[str, float], Measurement]:
    """Latency of each (block, ratio) profiling network on a (batch, width, resolution^2) input.

    ``depth_scale`` < 1 shrinks every network by the same factor (quick mode) so ratios stay fair.
    """
    results = {}
    for block, ratio in configs:
        depth = max(1, round(BLOCKS_PER_NETWORK[block] * depth_scale))
        net = profiling_network(block, width, ratio, depth)
        results[(block, ratio)] = measure_model(
            net, (batch, width, resolution, resolution), dtype=dtype, device=device, warmup=warmup, repeats=repeats,
            label=f"{block} r={ratio:g} x{depth} w={width} @{resolution}")
    return results


def config_label(block: str, ratio: float) -> str:
    return f"{block} r={ratio:g}"


def profile_interleaved(widths, resolution: int, configs, *, batch: int = 1, dtype="fp32", device="auto",
                        warmup: int = 2, rounds: int = 3, repeats: int = 3, depth_scale: float = 1.0):
    """Every (block, ratio) profiling network at every width, timed in alternating rounds
    (``measure_interleaved``), so that drift cannot favour one block type.

    Returns (label -> Measurement, one row per network: block, width, depth, params and its label);
    labels read ``"xx r=1 w=64"``.
    """
    checks.number("depth_scale", depth_scale, 0, 1, low_open=True)
    dev, tdtype = resolve_device(device), _dtypes.to_torch(dtype)
    fns, rows = {}, []
    for width in widths:
        checks.integer("widths", width)
        x = random_input((batch, width, resolution, resolution), tdtype, dev)
        for block, ratio in configs:
            depth = max(1, round(BLOCKS_PER_NETWORK[block] * depth_scale))
            net = profiling_network(block, width, ratio, depth).eval().to(dev, tdtype)
            label = f"{config_label(block, ratio)} w={width}"
            fns[label] = (lambda net=net, x=x: net(x))
            rows.append({"block": config_label(block, ratio), "width": width, "depth": depth, "label": label,
                         "params": sum(p.numel() for p in net.parameters())})
    with torch.inference_mode():
        measured = measure_interleaved(fns, device=dev, warmup=warmup, rounds=rounds, repeats=repeats)
    return measured, rows


def latency_at_size(params, latencies, size: float) -> float:
    """A block type's latency at model size ``size``, interpolated on log-log axes between its measured
    (params, latency) points; no extrapolation: a size outside their range raises ValueError."""
    points = sorted(zip((float(p) for p in params), (float(t) for t in latencies)))
    if len(points) < 2 or any(not (p > 0 and t > 0) for p, t in points):
        raise ValueError(f"params, latencies: got {points}, expected at least 2 points with values > 0")
    size = checks.number("size", size, 0, low_open=True)
    if not points[0][0] <= size <= points[-1][0]:
        raise ValueError(f"size: got {size:g}, expected a size within the measured {points[0][0]:g}..{points[-1][0]:g}")
    for (p0, t0), (p1, t1) in zip(points, points[1:]):
        if p0 <= size <= p1:
            if p1 == p0:
                return t0
            w = (math.log(size) - math.log(p0)) / (math.log(p1) - math.log(p0))
            return math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0)))
    raise AssertionError("unreachable")


def equal_size_ratios(rows, reference: str = "xx r=1") -> list[dict]:
    """GENet Fig. 3(c)(d) read at equal model size: for every other block type and every ``reference``
    network whose size lies within that type's measured sizes, the other type's latency at that size over
    the reference's latency (> 1: the reference is faster at equal size).

    ``rows``: dicts with ``block``, ``params`` and ``latency`` (one per profiling network).
    """
    by_block: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        by_block.setdefault(r["block"], []).append((float(r["params"]), float(r["latency"])))
    if reference not in by_block:
        raise ValueError(f"reference: got {reference!r}, expected one of {sorted(by_block)}")
    out = []
    for block, points in by_block.items():
        if block == reference or len(points) < 2:
            continue
        sizes = [p for p, _ in points]
        for size, latency in by_block[reference]:
            if min(sizes) <= size <= max(sizes):
                other = latency_at_size(sizes, [t for _, t in points], size)
                out.append({"block": block, "params": size, "ratio": other / latency})
    return out
