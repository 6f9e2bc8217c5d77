"""GENet's block profiling networks (Lin et al., Sec. 3.2, Fig. 3), timed with the timing core.

Five XX blocks or ten BL/DW blocks (stride 1, kernel 3, all of one width) cover the same
receptive field, so their latencies compare the block types at equal "visual region". In GENet
the width of a DW block is that of its depthwise layer; here ``width`` is every block's output
width and ``ratio`` GENet's r relative to it (BL r <= 1, DW r >= 1), as in ``spec.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from gpuefficient import checks
from gpuefficient.arch.blocks import make_block
from gpuefficient.measure.timer import Measurement, measure_model

__all__ = ["profiling_network", "profile_blocks", "BLOCKS_PER_NETWORK"]

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
