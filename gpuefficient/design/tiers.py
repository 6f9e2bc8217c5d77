"""Latency tiers of GPUNet's search space: Sobol-sample N networks, predict each one's latency, bin them.

GPUNet (Wang et al., CVPR 2022) Sec. 3.2: the space is sampled with a Sobol sequence, every sample's
latency is predicted from a lookup table of per-layer latencies, and the samples are split into
latency tiers (Fig. 5.B/C); the search then runs inside each tier. :func:`latency_tiers` does the
sampling and binning and reports how evenly Sobol covers the space compared with uniform draws, and
how many table entries the predictions used (hits) or had to measure (misses).

Predicting 100,000 networks by building each one and tracing it (``LatencyTable.predict``) costs tens
of milliseconds per network. :class:`TableLatency` is the fast path: it enumerates a network's units
(stem, each block, head: the table's ``"block"`` granularity) from the spec or straight from the
41-integer encoding, builds each *distinct* unit once on the ``meta`` device for its table key (the
same key ``lut.units`` gives, checked by the tests), and sums the stored medians. For a matrix of
encodings the sum is vectorised: per stage, the distinct (first block, later block) configurations
are found with ``np.unique`` and the stage's latency is first + (layers - 1) x later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from gpuefficient import checks
from gpuefficient.arch import gpunet_space as space
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["TableLatency", "TierReport", "latency_tiers", "tier_bounds", "TierError"]


class TierError(ValueError):
    """A tier request that cannot be met: an empty tier, a bound below the fastest network, bad bounds."""


def _block_key(block: str, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: float, se_ratio: float,
               activation: str, padding: str = "symmetric") -> tuple:
    return ("block", block, int(in_ch), int(out_ch), int(kernel), int(stride), float(expansion), float(se_ratio),
            activation, padding)


def _build_unit(key: tuple, device="meta") -> torch.nn.Module:
    """The module of a unit key, as the builder makes it (``meta``: no memory, for its repr only)."""
    from gpuefficient.arch.blocks import ConvBnAct, make_block
    from gpuefficient.arch.builder import Head

    with torch.device(device):
        if key[0] == "stem":
            _, in_ch, out_ch, kernel, stride, act = key
            return ConvBnAct(in_ch, out_ch, kernel, stride, activation=act)
        if key[0] == "head":
            _, in_ch, channels, act, classes, dropout = key
            return Head(in_ch, channels, act, classes, dropout)
        _, block, in_ch, out_ch, kernel, stride, expansion, se_ratio, act, padding = key
        return make_block(block, in_ch, out_ch, kernel=kernel, stride=stride, expansion=expansion,
                          se_ratio=se_ratio, activation=act, padding=padding)


def spec_unit_keys(spec: NetworkSpec) -> list[tuple[tuple, int, int]]:
    """(unit key, input channels-independent spatial size, count) of ``spec``'s block-granularity units.

    Simplification: stages with ``space_to_depth`` or ``padding='same'`` are not supported (GPUNet's and
    GENet's spaces use neither); such a spec raises ``ValueError``.
    """
    if any(s.space_to_depth or s.padding != "symmetric" for s in spec.stages):
        raise ValueError(f"spec {spec.name!r}: got a space_to_depth or 'same'-padded stage, expected plain "
                         "stages (the fast unit path covers GPUNet's and GENet's spaces; use LatencyTable.predict)")
    size = spec.resolution
    out = [(("stem", spec.in_channels, spec.stem.out_channels, spec.stem.kernel, spec.stem.stride,
             spec.stem.activation), size, 1)]
    size = math.ceil(size / spec.stem.stride)
    width = spec.stem.out_channels
    for s in spec.stages:
        out.append((_block_key(s.block, width, s.out_channels, s.kernel, s.stride, s.expansion, s.se_ratio,
                               s.activation), size, 1))
        size = math.ceil(size / s.stride)
        if s.depth > 1:
            out.append((_block_key(s.block, s.out_channels, s.out_channels, s.kernel, 1, s.expansion, s.se_ratio,
                                   s.activation), size, s.depth - 1))
        width = s.out_channels
    h = spec.head
    out.append((("head", width, h.channels, h.activation, h.num_classes, h.dropout), size, 1))
    return out


class TableLatency:
    """Network latency (ms) from a filled :class:`~gpuefficient.measure.lut.LatencyTable`, without building networks.

    ``fill=True`` measures units the table lacks (through the table, so they are stored); ``False``
    raises :class:`TierError` naming how many are missing. ``hits``/``misses`` count the distinct
    (unit, input shape) entries served from the table / measured for it.
    """

    def __init__(self, table, batch: int = 1, fill: bool = False):
        from gpuefficient.measure.lut import LatencyTable

        if not isinstance(table, LatencyTable):
            raise TypeError(f"table: got {type(table).__name__}, expected a LatencyTable")
        self.table, self.batch, self.fill = table, checks.integer("batch", batch), checks.flag("fill", fill)
        self._stored = table.medians()
        self._configs: dict[tuple, str] = {}  # unit key -> table key_config (a module repr)
        self._known: dict[tuple, float] = {}  # (unit key, in_ch, size) -> seconds
        self.hits = self.misses = 0

    def _config(self, key: tuple) -> str:
        if key not in self._configs:
            from gpuefficient.measure.lut import unit_key_config

            self._configs[key] = unit_key_config(_build_unit(key))
        return self._configs[key]

    def unit_seconds(self, key: tuple, size: int) -> float:
        """Stored median (s) of one unit at ``size`` x ``size`` input (measured first when ``fill``)."""
        memo = (key, size)
        if memo not in self._known:
            in_ch = key[2] if key[0] == "block" else key[1]
            shape = (self.batch, in_ch, size, size)
            table_key = (self._config(key), "x".join(map(str, shape)))
            seconds = self._stored.get(table_key)
            if seconds is None:
                if not self.fill:
                    raise TierError(f"latency table {self.table.path}: no entry for {table_key[0][:70]!r} at "
                                    f"{table_key[1]} in context {self.table.context}; fill the table first "
                                    "(fill=True / --fill measures the missing units)")
                from gpuefficient.measure.lut import Unit

                unit = Unit(key[0], _build_unit(key, "cpu"), shape, table_key[0])
                self.table.fill([unit])
                seconds = self.table.lookup(unit)
                self.misses += 1
            else:
                self.hits += 1
            self._known[memo] = seconds
        return self._known[memo]

    def spec_ms(self, spec: NetworkSpec) -> float:
        """Predicted latency of ``spec`` in milliseconds: the sum of its units' stored medians."""
        return 1e3 * math.fsum(count * self.unit_seconds(key, size) for key, size, count in spec_unit_keys(spec))

    def encodings_ms(self, codes) -> np.ndarray:
        """Predicted latency (ms) of each row of an (n, 41) matrix of GPUNet encodings, vectorised per stage."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2 or codes.shape[1] != len(space.DIGITS):
            raise ValueError(f"codes: got shape {codes.shape}, expected (n, {len(space.DIGITS)}) GPUNet encodings")
        acts = space.ACTIVATION_CODES
        res, width, k1, a1, l1 = (codes[:, i] for i in range(5))
        total = np.zeros(len(codes))

        def add(columns: np.ndarray, keyfun: Callable[[np.ndarray], tuple[tuple, int]], weight=None) -> None:
            used = np.ones(len(columns), bool) if weight is None else np.asarray(weight) > 0  # absent units: no lookup
            if not used.any():
                return
            rows, inverse = np.unique(columns[used], axis=0, return_inverse=True)
            values = np.array([self.unit_seconds(*keyfun(r)) for r in rows])[inverse.ravel()]
            total[used] += values if weight is None else values * np.asarray(weight)[used]

        head_ch = space.HEAD_CHANNELS
        add(np.stack([res, width, k1, a1], 1),
            lambda r: (("stem", 3, int(r[1]), int(r[2]), space.GPUNET_SPACE[0].stride, acts[r[3]]), int(r[0])))
        s1 = space.GPUNET_SPACE[1]
        add(np.stack([res, width, k1, a1], 1),  # stage 1: l1 conv layers at the stem's width, stride 1
            lambda r: (_block_key(s1.block, r[1], r[1], r[2], 1, 1.0, 0.0, acts[r[3]]), int(r[0]) // 2), weight=l1)
        in_w, last_act, down = width.copy(), a1.copy(), 2
        for i, stage in enumerate(space.GPUNET_SPACE[2:]):
            f, k, e, se, a, n = (codes[:, 5 + 6 * i + j] for j in range(6))
            d0, d1 = down, down * stage.stride
            present = n > 0
            first = np.stack([res, in_w, f, k, e, se, a], 1)
            rest = np.stack([res, f, k, e, se, a], 1)
            add(first, lambda r, b=stage.block, s=stage.stride, d=d0: (
                _block_key(b, r[1], r[2], r[3], s, float(r[4]), space.SE_RATIO if r[5] else 0.0, acts[r[6]]),
                int(r[0]) // d), weight=present)
            add(rest, lambda r, b=stage.block, d=d1: (
                _block_key(b, r[1], r[1], r[2], 1, float(r[3]), space.SE_RATIO if r[4] else 0.0, acts[r[5]]),
                int(r[0]) // d), weight=np.maximum(n - 1, 0))
            in_w, last_act = np.where(present, f, in_w), np.where(present, a, last_act)
            down = d1
        add(np.stack([res, in_w, last_act], 1),
            lambda r: (("head", int(r[1]), head_ch, acts[r[2]], 1000, 0.0), int(r[0]) // down))
        return 1e3 * total


def tier_bounds(latencies_ms, *, bounds: Sequence[float] | None = None, quantiles: int | None = None) -> list[float]:
    """The tier edges (ms): ``bounds`` as given (increasing, the first above the fastest network), or the
    ``quantiles``-quantiles of ``latencies_ms``. Tier i holds latencies in [edge_i, edge_{i+1}); the first
    tier starts at the fastest network and the last ends at the slowest (inclusive)."""
    lat = np.asarray(latencies_ms, dtype=float)
    if lat.ndim != 1 or lat.size < 1 or not np.all(np.isfinite(lat)):
        raise ValueError(f"latencies_ms: got shape {lat.shape}, expected a non-empty 1-d array of finite latencies")
    if (bounds is None) == (quantiles is None):
        raise ValueError("tiers: got " + ("both bounds and quantiles" if bounds is not None else "neither bounds "
                         "nor quantiles") + ", expected exactly one of them")
    lo, hi = float(lat.min()), float(lat.max())
    if quantiles is not None:
        q = checks.integer("quantiles", quantiles, 1)
        edges = [lo, *np.quantile(lat, np.arange(1, q) / q).tolist(), hi]
        return edges
    inner = [checks.number("bounds", b) for b in bounds]
    if not inner or any(b2 <= b1 for b1, b2 in zip(inner, inner[1:])):
        raise TierError(f"bounds: got {list(bounds)!r}, expected one or more increasing latencies in ms")
    if inner[0] <= lo:
        raise TierError(f"bounds: the first bound {inner[0]:g} ms is at or below the fastest sampled network "
                        f"({lo:.4g} ms), so the first tier would be empty; expected bounds above {lo:.4g} ms")
    return [lo, *inner, max(hi, inner[-1])]


@dataclass
class TierReport:
    """What :func:`latency_tiers` found: tier edges (ms), sizes, the latencies and encodings, coverage, cache."""

    edges: list[float]
    sizes: list[int]
    latencies_ms: np.ndarray = field(repr=False)
    encodings: np.ndarray = field(repr=False)
    tier_of: np.ndarray = field(repr=False)
    discrepancy: dict[str, float]
    cache_hits: int
    cache_misses: int
    seconds: float
    seed: int

    @property
    def n(self) -> int:
        return int(self.latencies_ms.size)

    def tier(self, index: int) -> tuple[float, float]:
        """(low, high) latency bounds (ms) of tier ``index``."""
        checks.integer("index", index, 0, len(self.sizes) - 1)
        return self.edges[index], self.edges[index + 1]

    def members(self, index: int) -> np.ndarray:
        """The encodings (rows) of tier ``index``."""
        checks.integer("index", index, 0, len(self.sizes) - 1)
        return self.encodings[self.tier_of == index]

    def to_dict(self) -> dict:
        return {"n": self.n, "seed": self.seed, "tiers": [{"low_ms": lo, "high_ms": hi, "size": s}
                                                          for lo, hi, s in zip(self.edges, self.edges[1:], self.sizes)],
                "fastest_ms": float(self.latencies_ms.min()), "slowest_ms": float(self.latencies_ms.max()),
                "discrepancy": self.discrepancy, "cache_hits": self.cache_hits, "cache_misses": self.cache_misses,
                "seconds": self.seconds}


def latency_tiers(n: int, latency: TableLatency | Callable[[np.ndarray], np.ndarray], *,
                  bounds: Sequence[float] | None = None, quantiles: int | None = None, seed: int = 0,
                  resolution: int | None = None, discrepancy_n: int = 256) -> TierReport:
    """Sobol-sample ``n`` GPUNet networks, predict their latency, bin them into tiers.

    ``latency``: a :class:`TableLatency` (its vectorised ``encodings_ms``) or any callable mapping an
    (n, 41) encoding matrix to latencies in ms (e.g. a measurement loop, for small ``n``).
    ``resolution`` fixes every sample's input size. Tiers come from ``bounds`` (ms, increasing) or
    ``quantiles`` (equal-count tiers). ``discrepancy``: the centred L2 discrepancy of the first
    ``discrepancy_n`` Sobol samples' normalised encodings vs as many uniform draws, same seed (a
    subsample: the measure costs O(n^2) memory). An empty tier raises :class:`TierError`.
    """
    import time

    n = checks.integer("n", n, 2)
    start = time.perf_counter()
    codes = np.array([space.encode(u) for u in space.sobol(n, len(space.DIGITS), seed)]) if n <= 2048 \
        else _encode_many(space.sobol(n, len(space.DIGITS), seed))
    if resolution is not None:
        space._check_resolution(resolution)
        codes[:, 0] = resolution
    if isinstance(latency, TableLatency):
        lat = latency.encodings_ms(codes)
        hits, misses = latency.hits, latency.misses
    elif callable(latency):
        lat, hits, misses = np.asarray(latency(codes), dtype=float), 0, 0
    else:
        raise TypeError(f"latency: got {type(latency).__name__}, expected a TableLatency or a callable "
                        "(encodings) -> latencies in ms")
    if lat.shape != (n,):
        raise ValueError(f"latency: returned shape {lat.shape}, expected ({n},) latencies in ms")
    edges = tier_bounds(lat, bounds=bounds, quantiles=quantiles)
    tier_of = np.clip(np.searchsorted(edges, lat, side="right") - 1, 0, len(edges) - 2)
    sizes = np.bincount(tier_of, minlength=len(edges) - 1).tolist()
    empty = [i for i, s in enumerate(sizes) if s == 0]
    if empty:
        i = empty[0]
        raise TierError(f"tier {i} [{edges[i]:.4g}, {edges[i + 1]:.4g}) ms holds none of the {n} sampled networks; "
                        "expected every tier to hold at least one (widen it, or sample more networks)")
    m = checks.integer("discrepancy_n", discrepancy_n, 2)
    m = min(m, n)
    disc = {name: space.centered_discrepancy(np.array([space.normalized_encoding(space.encode(u))
                                                       for u in space.SAMPLERS[name](m, len(space.DIGITS), seed)]))
            for name in ("sobol", "uniform")}
    disc["n"] = m
    return TierReport(edges, sizes, lat, codes, tier_of, disc, hits, misses, time.perf_counter() - start, seed)


def _encode_many(points: np.ndarray) -> np.ndarray:
    """:func:`gpunet_space.encode` of each row, vectorised (digit i takes value floor(u_i * n_i))."""
    out = np.empty(points.shape, dtype=np.int64)
    for i, (_, values) in enumerate(space.DIGITS):
        index = np.minimum((points[:, i] * len(values)).astype(np.int64), len(values) - 1)
        out[:, i] = np.asarray(values)[index]
    return out
