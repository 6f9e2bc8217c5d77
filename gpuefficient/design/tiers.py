"""Latency tiers of GPUNet's search space: Sobol-sample N networks, predict each one's latency, bin them.

GPUNet (Wang et al., CVPR 2022) Sec. 3.2: the space is sampled with a Sobol sequence, every sample's
latency is predicted from a lookup table of per-layer latencies, and the samples are split into
latency tiers (Fig. 5.B/C); the search then runs inside each tier. :func:`latency_tiers` does the
sampling and binning and reports how evenly Sobol covers the space compared with uniform draws, and
how many table entries the predictions used (hits) or had to measure (misses).

Predicting 100,000 networks by building each one and tracing it (``LatencyTable.predict``) costs tens
of milliseconds per network. :class:`TableLatency` is the fast path: it enumerates a network's units
(stem, each block, head: the table's ``"block"`` granularity) from the spec or straight from the
41-integer encoding, derives each distinct unit's table key (``lut.unit_key_config``: the text of its
module) and sums the stored medians. Building every distinct block for its key costs ~5 ms and 100,000
networks hold ~13,000 distinct blocks, so an MBConv / Fused-MBConv key is *composed* instead: its
children (the conv-BN-act groups and the SE, few and shared by many blocks) are built once each, on the
``meta`` device, and their texts are joined the way ``nn.Module.__repr__`` nests them. The first block of
each structure (block type, expansion 1 or not, SE or not, skip or not) is also built in full and its
key compared; a mismatch falls back to building every block of that structure (exact, slow) with a
warning. Keys are memoised per process. For a matrix of encodings the sum is vectorised: per stage,
the distinct (first block, later block) configurations are found with ``np.unique`` on packed integer
rows and the stage's latency is first + (layers - 1) x later.
"""
from __future__ import annotations

import math
import time
import warnings
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


def _text(module: torch.nn.Module) -> str:
    """``repr(module)`` whitespace-normalised, as ``lut.unit_key_config`` writes it after the class path."""
    return " ".join(repr(module).split())


def _nest(name: str, children: Sequence[tuple[str, str]]) -> str:
    """The normalised ``nn.Module.__repr__`` of a module called ``name`` without ``extra_repr`` whose
    children (in order) have the given normalised texts: ``Name( (key): child ... )``."""
    return f"{name}( " + " ".join(f"({k}): {c}" for k, c in children) + " )" if children else f"{name}()"


_CHILD_TEXTS: dict[tuple, str] = {}  # ("cba" | "se", constructor args) -> normalised text of the child module


def _child_text(kind: str, *args) -> str:
    """Normalised text of one child of an MBConv / Fused-MBConv, built (on ``meta``) once per process."""
    memo = (kind, *args)
    if memo not in _CHILD_TEXTS:
        from gpuefficient.arch import blocks

        with torch.device("meta"):
            if kind == "cba":
                in_ch, out_ch, kernel, stride, groups, act, padding = args
                module = blocks.ConvBnAct(in_ch, out_ch, kernel, stride, groups=groups, activation=act,
                                          padding=padding)
            else:
                module = blocks._se(*args)
        _CHILD_TEXTS[memo] = _text(module)
    return _CHILD_TEXTS[memo]


def _composed_key(key: tuple) -> str | None:
    """``unit_key_config`` of a block unit's module without building it (its children are built once each
    and memoised), mirroring ``MBConv`` / ``FusedMBConv.__init__``; None for other units (build those)."""
    if key[0] != "block" or key[1] not in ("mbconv", "fused_mbconv"):
        return None
    from gpuefficient.arch import blocks

    _, block, in_ch, out_ch, kernel, stride, expansion, se_ratio, act, padding = key
    if block == "mbconv":
        cls, mid = blocks.MBConv, blocks._width(in_ch, expansion)
        branch = [("cba", in_ch, mid, 1, 1, 1, act, None)] if expansion != 1 else []
        branch += [("cba", mid, mid, kernel, stride, mid, act, padding), ("se", mid, in_ch, se_ratio, act),
                   ("cba", mid, out_ch, 1, 1, 1, "identity", None)]
    else:
        cls = blocks.FusedMBConv
        if expansion == 1:
            branch = [("cba", in_ch, out_ch, kernel, stride, 1, act, padding), ("se", out_ch, in_ch, se_ratio, act)]
        else:
            mid = blocks._width(in_ch, expansion)
            branch = [("cba", in_ch, mid, kernel, stride, 1, act, padding), ("se", mid, in_ch, se_ratio, act),
                      ("cba", mid, out_ch, 1, 1, 1, "identity", None)]
    texts = [(str(i), _child_text(*child)) for i, child in enumerate(branch)]
    return f"{cls.__module__}.{cls.__qualname__}: " + _nest(cls.__name__, [("branch", _nest("Sequential", texts))])


_KEY_CONFIGS: dict[tuple, str] = {}  # unit key -> table key_config, per process (the code cannot change meanwhile)
_COMPOSABLE: dict[tuple, bool] = {}  # block structure -> whether its composed key matched the built module's


def _structure(key: tuple) -> tuple:
    _, block, in_ch, out_ch, kernel, stride, expansion, se_ratio, act, padding = key
    return block, expansion == 1, se_ratio > 0, stride == 1 and in_ch == out_ch, padding


def unit_key_config(key: tuple) -> str:
    """The table's ``key_config`` of a unit key (``("stem", ...)``, ``("block", ...)``, ``("head", ...)``):
    exactly ``lut.unit_key_config`` of the module the builder makes, composed without building for
    MBConv / Fused-MBConv blocks (see the module docstring), memoised per process."""
    if key not in _KEY_CONFIGS:
        from gpuefficient.measure.lut import unit_key_config as module_key

        composed = _composed_key(key)
        if composed is not None:
            structure = _structure(key)
            if structure not in _COMPOSABLE:  # once per structure: check the composition against a real build
                _COMPOSABLE[structure] = composed == module_key(_build_unit(key))
                if not _COMPOSABLE[structure]:
                    warnings.warn(f"design.tiers: the composed table key of {structure} blocks differs from the "
                                  "built module's (blocks.py changed?); building every such block instead (slow)",
                                  RuntimeWarning, stacklevel=2)
            if not _COMPOSABLE[structure]:
                composed = None
        _KEY_CONFIGS[key] = composed if composed is not None else module_key(_build_unit(key))
    return _KEY_CONFIGS[key]


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
    (unit, input shape) entries served from the table / measured for it. ``timings`` adds up the
    seconds spent deriving unit keys (``keys_s``), looking them up (``lookups_s``) and finding the
    distinct units and summing (``vectorised_s``) in :meth:`encodings_ms`.
    """

    def __init__(self, table, batch: int = 1, fill: bool = False):
        from gpuefficient.measure.lut import LatencyTable

        if not isinstance(table, LatencyTable):
            raise TypeError(f"table: got {type(table).__name__}, expected a LatencyTable")
        self.table, self.batch, self.fill = table, checks.integer("batch", batch), checks.flag("fill", fill)
        self._stored = table.medians()
        self._configs: dict[tuple, str] = {}  # unit key -> table key_config (a module's text)
        self._known: dict[tuple, float] = {}  # (unit key, size) -> seconds
        self.hits = self.misses = 0
        self.timings = {"keys_s": 0.0, "lookups_s": 0.0, "vectorised_s": 0.0}

    def _config(self, key: tuple) -> str:
        if key not in self._configs:
            start = time.perf_counter()
            self._configs[key] = unit_key_config(key)
            self.timings["keys_s"] += time.perf_counter() - start
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
        start, before = time.perf_counter(), self.timings["keys_s"]
        units_s = 0.0
        acts = space.ACTIVATION_CODES
        res, width, k1, a1, l1 = (codes[:, i] for i in range(5))
        total = np.zeros(len(codes))

        def add(columns: list[np.ndarray], keyfun: Callable[[tuple], tuple[tuple, int]], weight=None) -> None:
            nonlocal units_s
            used = np.ones(len(codes), bool) if weight is None else np.asarray(weight) > 0  # absent units: no lookup
            if not used.any():
                return
            rows, inverse = _unique_rows(np.stack(columns, 1)[used])
            t0 = time.perf_counter()
            values = np.array([self.unit_seconds(*keyfun(r)) for r in rows.tolist()])[inverse]
            units_s += time.perf_counter() - t0
            total[used] += values if weight is None else values * np.asarray(weight)[used]

        head_ch = space.HEAD_CHANNELS
        add([res, width, k1, a1],
            lambda r: (("stem", 3, r[1], r[2], space.GPUNET_SPACE[0].stride, acts[r[3]]), r[0]))
        s1 = space.GPUNET_SPACE[1]
        add([res, width, k1, a1],  # stage 1: l1 conv layers at the stem's width, stride 1
            lambda r: (_block_key(s1.block, r[1], r[1], r[2], 1, 1.0, 0.0, acts[r[3]]), r[0] // 2), weight=l1)
        in_w, last_act, down = width.copy(), a1.copy(), 2
        for i, stage in enumerate(space.GPUNET_SPACE[2:]):
            f, k, e, se, a, n = (codes[:, 5 + 6 * i + j] for j in range(6))
            d0, d1 = down, down * stage.stride
            present = n > 0
            add([res, in_w, f, k, e, se, a], lambda r, b=stage.block, s=stage.stride, d=d0: (
                _block_key(b, r[1], r[2], r[3], s, float(r[4]), space.SE_RATIO if r[5] else 0.0, acts[r[6]]),
                r[0] // d), weight=present)
            add([res, f, k, e, se, a], lambda r, b=stage.block, d=d1: (
                _block_key(b, r[1], r[1], r[2], 1, float(r[3]), space.SE_RATIO if r[4] else 0.0, acts[r[5]]),
                r[0] // d), weight=np.maximum(n - 1, 0))
            in_w, last_act = np.where(present, f, in_w), np.where(present, a, last_act)
            down = d1
        add([res, in_w, last_act], lambda r: (("head", r[1], head_ch, acts[r[2]], 1000, 0.0), r[0] // down))
        keys_s = self.timings["keys_s"] - before
        self.timings["lookups_s"] += units_s - keys_s
        self.timings["vectorised_s"] += time.perf_counter() - start - units_s
        return 1e3 * total


def _unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(matrix, axis=0, return_inverse=True)`` for small non-negative integer columns, fast: each
    column is replaced by its value's rank, the ranks packed into one int64 per row, and those made unique."""
    packed, span = np.zeros(len(matrix), dtype=np.int64), 1
    for j in range(matrix.shape[1]):
        values, rank = np.unique(matrix[:, j], return_inverse=True)
        span *= len(values)
        if span >= 2 ** 62:  # the packed rows would overflow int64: the general (slower) way
            rows, inverse = np.unique(matrix, axis=0, return_inverse=True)
            return rows, inverse.ravel()
        packed = packed * len(values) + rank.ravel()
    _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
    return matrix[first], inverse.ravel()


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
    #: seconds per step: sampling, decoding (Sobol points to encodings), prediction (for a TableLatency split
    #: into keys, lookups and vectorised), binning, discrepancy
    timings: dict[str, float] = field(default_factory=dict)

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
                "seconds": self.seconds, "timings": self.timings}


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
    n = checks.integer("n", n, 2)
    start = time.perf_counter()
    points = space.sobol(n, len(space.DIGITS), seed)
    timings = {"sampling_s": time.perf_counter() - start}
    codes = np.array([space.encode(u) for u in points]) if n <= 2048 else _encode_many(points)
    if resolution is not None:
        space._check_resolution(resolution)
        codes[:, 0] = resolution
    timings["decoding_s"] = time.perf_counter() - start - timings["sampling_s"]
    mark = time.perf_counter()
    if isinstance(latency, TableLatency):
        before = dict(latency.timings)
        lat = latency.encodings_ms(codes)
        hits, misses = latency.hits, latency.misses
        timings.update({f"predict_{k}": v - before[k] for k, v in latency.timings.items()})
    elif callable(latency):
        lat, hits, misses = np.asarray(latency(codes), dtype=float), 0, 0
    else:
        raise TypeError(f"latency: got {type(latency).__name__}, expected a TableLatency or a callable "
                        "(encodings) -> latencies in ms")
    if lat.shape != (n,):
        raise ValueError(f"latency: returned shape {lat.shape}, expected ({n},) latencies in ms")
    timings["predict_s"], mark = time.perf_counter() - mark, time.perf_counter()
    edges = tier_bounds(lat, bounds=bounds, quantiles=quantiles)
    tier_of = np.clip(np.searchsorted(edges, lat, side="right") - 1, 0, len(edges) - 2)
    sizes = np.bincount(tier_of, minlength=len(edges) - 1).tolist()
    empty = [i for i, s in enumerate(sizes) if s == 0]
    if empty:
        i = empty[0]
        raise TierError(f"tier {i} [{edges[i]:.4g}, {edges[i + 1]:.4g}) ms holds none of the {n} sampled networks; "
                        "expected every tier to hold at least one (widen it, or sample more networks)")
    timings["binning_s"], mark = time.perf_counter() - mark, time.perf_counter()
    m = checks.integer("discrepancy_n", discrepancy_n, 2)
    m = min(m, n)
    disc = {name: space.centered_discrepancy(np.array([space.normalized_encoding(space.encode(u))
                                                       for u in space.SAMPLERS[name](m, len(space.DIGITS), seed)]))
            for name in ("sobol", "uniform")}
    disc["n"] = m
    timings["discrepancy_s"] = time.perf_counter() - mark
    return TierReport(edges, sizes, lat, codes, tier_of, disc, hits, misses, time.perf_counter() - start, seed,
                      timings)


def _encode_many(points: np.ndarray) -> np.ndarray:
    """:func:`gpunet_space.encode` of each row, vectorised (digit i takes value floor(u_i * n_i))."""
    out = np.empty(points.shape, dtype=np.int64)
    for i, (_, values) in enumerate(space.DIGITS):
        index = np.minimum((points[:, i] * len(values)).astype(np.int64), len(values) - 1)
        out[:, i] = np.asarray(values)[index]
    return out
