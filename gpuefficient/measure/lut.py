"""A GPUNet-style latency lookup table: time each distinct unit once, predict networks by summing.

GPUNet Sec. 3.2: the search space holds ~10^30 networks but only ~10^4 distinct layers, so each
(layer config, input shape) is benchmarked once, stored, and a network's latency is the sum over
its layers. The paper finds this over-estimates the end-to-end latency by ~75 us on average:
timed in isolation every unit pays its own launch and synchronisation overhead, and misses the
fusion (and skipped launches) that the compiler performs across layers in a whole network. Two
granularities. ``"block"`` (stem, each block, head) is the paper's unit (:data:`PAPER_UNIT`): GPUNet's
"layers" are the rows its Table 1 counts under #Layers, one convolution in stages 0-1 and one IRB or
Fused-IRB in stages 2-7 (a stage holds up to 15 of them), ~10^4 distinct configurations. ``"layer"``
here is finer than the paper's: every conv-BN-act group, squeeze-excite and the head, so an IRB is three
or four units; it is the book's own variant, which misses the fusion inside a block. :func:`compare` puts predictions next to end-to-end measurements;
:mod:`gpuefficient.analysis.predictors` scores them.

Entries live in SQLite, one transaction per entry, so a crash mid-fill never leaves half an entry
and a long fill resumes where it stopped; a corrupt or foreign file is reported, never reused.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch
from torch import nn

from gpuefficient import checks, dtypes
from gpuefficient.arch.blocks import ConvBnAct, SqueezeExcite
from gpuefficient.arch.builder import Network
from gpuefficient.device import device_name, resolve_device, software_versions
from gpuefficient.measure.timer import Measurement, Task, measure, random_input

__all__ = ["LUTError", "Unit", "Prediction", "LatencyTable", "units", "unit_key_config", "versions_hash",
           "eager_timer", "backend_timer", "compare", "GRANULARITIES", "PAPER_UNIT"]

GRANULARITIES = ("layer", "block")
#: The granularity GPUNet's table uses (its "layer": one conv layer or one IRB / Fused-IRB).
PAPER_UNIT = "block"
Timer = Callable[[nn.Module, torch.Tensor], Measurement]


class LUTError(RuntimeError):
    """A lookup-table file that cannot be trusted (corrupt, or not a table of this schema)."""


@dataclass(frozen=True)
class Unit:
    """A piece of a network timed in isolation: its module path, module, input shape and config key."""

    name: str
    module: nn.Module = field(repr=False, compare=False)
    input_shape: tuple[int, ...]
    key_config: str


def unit_key_config(module: nn.Module) -> str:
    """Class + repr (the constructor arguments of it and its children), whitespace-normalised: two
    identically configured modules get the same string wherever they sit in a network."""
    return f"{type(module).__module__}.{type(module).__qualname__}: {' '.join(repr(module).split())}"


def _unit_names(model: nn.Module, granularity: str) -> list[str]:
    if isinstance(model, Network):
        if granularity == "block":
            blocks = [f"stages.{i}.{j}" for i, stage in enumerate(model.stages) for j in range(len(stage))]
            return ["stem", *blocks, "head"]
        return [name for name, m in model.named_modules()  # conv groups and SE never nest in each other
                if name == "head" or (isinstance(m, (ConvBnAct, SqueezeExcite)) and not name.startswith("head."))]
    return [name for name, m in model.named_modules()  # any other model: leaves with parameters
            if name and not list(m.children()) and any(True for _ in m.parameters(recurse=False))]


def _trace_input_shapes(model: nn.Module, names: list[str], input_shape: tuple[int, ...]) -> dict[str, tuple]:
    """Input shape of each named submodule in one forward pass (meta device; a real zero tensor if that fails)."""
    shapes: dict[str, tuple] = {}

    def recorder(name: str):
        def hook(module, args) -> None:  # returns None: the inputs go on unchanged
            if args and isinstance(args[0], torch.Tensor):
                shapes.setdefault(name, tuple(args[0].shape))
        return hook

    def run(twin: nn.Module, x: torch.Tensor) -> None:  # a throwaway copy: its hooks need no removal
        modules = dict(twin.named_modules())
        for name in names:
            modules[name].register_forward_pre_hook(recorder(name))
        with torch.no_grad():
            twin(x)

    try:  # shapes only: no memory, no compute (the first meta op in a process costs ~4 s of imports)
        run(copy.deepcopy(model).eval().to("meta"), torch.empty(input_shape, device="meta"))
    except Exception:  # noqa: BLE001 - an op without a meta kernel: trace for real instead
        shapes.clear()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        run(copy.deepcopy(model).eval(), torch.zeros(input_shape, device=device))
    return shapes


def units(model: nn.Module, input_shape: Sequence[int], granularity: str = "layer") -> list[Unit]:
    """The units of ``model`` at ``input_shape`` (with batch), in execution order of their first call.

    ``"layer"``: for a builder ``Network`` the ConvBnAct groups, SqueezeExcite modules and the head
    (residual additions fall between units and are not counted); ``"block"``: stem, every block
    of every stage, head. Any other model: its leaf modules with parameters, at both granularities.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity: got {granularity!r}, expected one of {list(GRANULARITIES)}")
    shape = checks.model_input("input_shape", model, input_shape)
    names = _unit_names(model, granularity)
    shapes = _trace_input_shapes(model, names, shape)
    modules = dict(model.named_modules())  # below: execution order; modules never called are left out
    return [Unit(n, modules[n], shapes[n], unit_key_config(modules[n])) for n in shapes if n in names]


def versions_hash() -> str:
    """A short stable hash of this machine's software versions that change latency (``platform`` left out)."""
    stable = {k: v for k, v in software_versions().items() if k != "platform"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:12]


def eager_timer(warmup: int = 5, repeats: int = 20) -> Timer:
    """``timer(module, x)``: eager latency of ``module(x)`` under ``inference_mode`` (latency.measure)."""
    def timer(module: nn.Module, x: torch.Tensor) -> Measurement:
        task = Task(label=type(module).__name__, backend="eager", dtype=x.dtype, input_shape=x.shape)
        with torch.inference_mode():
            return measure(lambda: module(x), device=x.device, warmup=warmup, repeats=repeats, task=task)
    return timer


def backend_timer(backend: str, warmup: int = 5, repeats: int = 20) -> Timer:
    """``timer(module, x)`` on any backend of :mod:`gpuefficient.measure.backends` (output checked, then timed).

    The module is prepared in ``x``'s dtype; compiling backends pay their compilation once per
    distinct unit, outside the timed samples. Backends with static buffers are timed as they run.
    """
    from gpuefficient.measure.backends import BACKENDS, prepare

    checks.one_of("backend", backend, BACKENDS)

    def timer(module: nn.Module, x: torch.Tensor) -> Measurement:
        prepared = prepare(module, x, backend, x.dtype, device=x.device)
        return prepared.measure(warmup=warmup, repeats=repeats, label=type(module).__name__)
    return timer


_COLUMNS = (("key_config", "TEXT"), ("input_shape", "TEXT"), ("dtype", "TEXT"), ("backend", "TEXT"),
            ("device", "TEXT"), ("versions", "TEXT"), ("median_s", "REAL"), ("trimmed_mean_s", "REAL"),
            ("iqr_s", "REAL"), ("repeats", "INTEGER"), ("timestamp", "TEXT"), ("measurement", "TEXT"))
_KEY = ("key_config", "input_shape", "dtype", "backend", "device", "versions")
_SCHEMA = (f"CREATE TABLE IF NOT EXISTS latency ({', '.join(f'{n} {t} NOT NULL' for n, t in _COLUMNS)}, "
           f"PRIMARY KEY ({', '.join(_KEY)}))")


_MAX_UNIT_S = 3600.0  # one unit of a network taking an hour is not a latency but a corrupted entry
_PLAUSIBLE = f"median_s > 0 AND median_s < {_MAX_UNIT_S} AND trimmed_mean_s > 0 AND iqr_s >= 0"


def _store_problem(conn: sqlite3.Connection) -> str | None:
    """Why the open file cannot be used as a latency table, or None (intact, and empty or ours)."""
    if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
        return "the SQLite integrity check failed"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and tables != {"latency"}:
        return f"not a latency table (tables {sorted(tables)})"
    columns = tuple((r[1], r[2]) for r in conn.execute("PRAGMA table_info(latency)"))
    if tables and columns != _COLUMNS:
        return f"schema mismatch (columns {[c for c, _ in columns]})"
    if not tables:
        return None
    bad = conn.execute(f"SELECT key_config, input_shape, backend, median_s, iqr_s FROM latency WHERE NOT "
                       f"({_PLAUSIBLE})").fetchall()
    if bad:
        shown = "; ".join(f"{k[:60]!r} @ {shape} ({backend}): median {median!r} s, IQR {iqr!r} s"
                          for k, shape, backend, median, iqr in bad[:3])
        return (f"{len(bad)} entr{'y has' if len(bad) == 1 else 'ies have'} implausible latencies (expected "
                f"0 < median < {_MAX_UNIT_S:g} s and IQR >= 0), e.g. {shown}")
    return None


def _open_store(path: Path) -> sqlite3.Connection:
    """Connect, check the file and create the table; a corrupt or foreign file raises ``LUTError``."""
    if path.is_dir():
        raise LUTError(f"latency table {path}: is a folder; expected a file path such as {path / 'latency.sqlite'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LUTError(f"latency table {path}: cannot create its folder ({err.strerror or err})") from err
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise LUTError(f"latency table {path}: not readable and writable by this user; copy it or fix its permissions")
    try:
        conn = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as err:
        raise LUTError(f"latency table {path}: cannot be opened ({err})") from err
    try:
        problem = _store_problem(conn)
        if problem is None:
            with conn:
                conn.execute(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")  # take the write lock once: a read-only place fails here, before
            conn.rollback()                  # any unit is measured, not after the first measurement
    except sqlite3.OperationalError as err:
        problem = f"cannot be written ({err})"
    except sqlite3.DatabaseError as err:
        problem = f"corrupt or not an SQLite file ({err})"
    if problem:
        conn.close()
        raise LUTError(f"latency table {path}: {problem}; delete the file (its entries are lost) and fill it again")
    return conn


@dataclass(frozen=True)
class Prediction:
    """A network's predicted latency: ``total_s`` and one row per unit (name, key, shape, latency)."""

    total_s: float
    rows: tuple[dict, ...]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows))


class LatencyTable:
    """Persistent per-unit latencies for one (backend, dtype, device, software versions) context.

    ``timer(module, x) -> Measurement`` gets ``module`` in eval mode on the table's device and
    dtype and a seeded random ``x`` there; the default times ``backend`` (:func:`eager_timer` or
    :func:`backend_timer`). A backend name the package does not know needs its own ``timer``.
    """

    def __init__(self, path: str | Path, *, backend: str = "eager", dtype: str = "fp32", device="auto",
                 timer: Timer | None = None, warmup: int = 5, repeats: int = 20, seed: int = 0):
        dtype = dtypes.name(dtypes.to_torch(dtype))  # canonical: "float16" and "fp16" share one table context
        if not isinstance(backend, str) or not backend:
            raise ValueError(f"backend: got {backend!r}, expected a backend name such as 'eager'")
        if timer is not None and not callable(timer):
            raise TypeError(f"timer: got {type(timer).__name__}, expected a callable (module, input) -> Measurement")
        self.path, self.backend, self.dtype, self.seed = Path(path), backend, dtype, seed
        self._torch_dtype = dtypes.to_torch(dtype)
        self.device = resolve_device(device)
        self.context = {"dtype": dtype, "backend": backend, "device": device_name(self.device),
                        "versions": versions_hash()}
        if timer is None:  # a custom backend name needs its own timer; a known one gets backend_timer
            timer = eager_timer(warmup, repeats) if backend == "eager" else backend_timer(backend, warmup, repeats)
        self.timer = timer
        self._conn = _open_store(self.path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "LatencyTable":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def key(self, unit: Unit) -> tuple[str, ...]:
        """(key_config, input_shape, dtype, backend, device, versions): the table's primary key."""
        return (unit.key_config, "x".join(map(str, unit.input_shape)), *self.context.values())

    def lookup(self, unit: Unit) -> float | None:
        """The stored median latency (s) of ``unit`` in this context, or None when not measured yet."""
        row = self._conn.execute(f"SELECT median_s, {_PLAUSIBLE} FROM latency WHERE "
                                 f"{' AND '.join(f'{k} = ?' for k in _KEY)}", self.key(unit)).fetchone()
        if row is not None and not row[1]:
            raise LUTError(f"latency table {self.path}: the entry of {unit.name} ({unit.key_config[:60]!r} @ "
                           f"{'x'.join(map(str, unit.input_shape))}) holds an implausible median of {row[0]!r} s; "
                           "delete the file (its entries are lost) and fill it again")
        return None if row is None else row[0]

    def medians(self) -> dict[tuple[str, str], float]:
        """Every stored median (s) of this table's context as {(key_config, input_shape "1x3x224x224"): s}:
        one query, for callers that predict many networks (``design.tiers.TableLatency``)."""
        where = " AND ".join(f"{k} = ?" for k in _KEY[2:])
        rows = self._conn.execute(f"SELECT key_config, input_shape, median_s, {_PLAUSIBLE} FROM latency WHERE {where}",
                                  tuple(self.context.values())).fetchall()
        bad = next((r for r in rows if not r[3]), None)
        if bad is not None:
            raise LUTError(f"latency table {self.path}: the entry of {bad[0][:60]!r} @ {bad[1]} holds an implausible "
                           f"median of {bad[2]!r} s; delete the file (its entries are lost) and fill it again")
        return {(r[0], r[1]): r[2] for r in rows}

    def fill(self, units_: Iterable[Unit]) -> int:
        """Measure the units not in the table yet (each distinct key once); returns how many were measured."""
        return self._latencies(units_)[1]

    def _latencies(self, units_: Iterable[Unit]) -> tuple[list[float], int]:
        """Each unit's stored median (s), measuring and storing the misses first; and how many were measured."""
        latencies, known, measured = [], {}, 0
        for unit in units_:
            key = self.key(unit)
            if key not in known:
                known[key] = self.lookup(unit)
                if known[key] is None:
                    m = self._measure(unit)
                    row = (*key, m.median, m.trimmed_mean, m.iqr, m.repeats, m.timestamp,
                           json.dumps(m.to_dict(), sort_keys=True))
                    with self._conn:  # one transaction per entry: all of it is written, or nothing
                        inserted = self._conn.execute(
                            f"INSERT OR IGNORE INTO latency VALUES ({', '.join('?' * len(_COLUMNS))})", row).rowcount
                    # another writer may have stored the unit meanwhile: its entry wins, and only what this
                    # writer stored counts as measured by it
                    known[key], measured = self.lookup(unit), measured + inserted
            latencies.append(known[key])
        return latencies, measured

    def _measure(self, unit: Unit) -> Measurement:
        module = copy.deepcopy(unit.module).eval().to(device=self.device, dtype=self._torch_dtype)
        x = random_input(unit.input_shape, self._torch_dtype, self.device, self.seed)
        result = self.timer(module, x)
        if not isinstance(result, Measurement):
            raise TypeError(f"timer: returned {type(result).__name__} for {unit.name}, expected a Measurement")
        if not (0 < result.median < _MAX_UNIT_S and all(math.isfinite(t) for t in result.times_s)):
            raise ValueError(f"timer: returned a median of {result.median!r} s for {unit.name}, expected a finite "
                             f"latency between 0 and {_MAX_UNIT_S:g} s (nothing was stored)")
        return result

    def measure_network(self, model: nn.Module, input_shape: Sequence[int]) -> Measurement:
        """End-to-end latency of ``model`` with this table's timer, dtype and device (nothing stored)."""
        return self._measure(Unit(type(model).__name__, model, tuple(input_shape), unit_key_config(model)))

    def predict(self, model: nn.Module, input_shape: Sequence[int], granularity: str = "block") -> Prediction:
        """Sum of the units' stored latencies, measuring the misses first."""
        return self.predict_units(units(model, input_shape, granularity))

    def predict_units(self, found: Sequence[Unit]) -> Prediction:
        """:meth:`predict` for units already traced by :func:`units`."""
        latencies, _ = self._latencies(found)
        rows = tuple({"name": u.name, "input_shape": u.input_shape, "latency_s": latency, "key_config": u.key_config}
                     for u, latency in zip(found, latencies))
        return Prediction(math.fsum(r["latency_s"] for r in rows), rows)

    def __len__(self) -> int:
        """Entries in the file, all contexts."""
        return self._conn.execute("SELECT COUNT(*) FROM latency").fetchone()[0]

    def entries(self) -> pd.DataFrame:
        """Every entry of the file (all contexts) with its full Measurement JSON."""
        return pd.read_sql_query("SELECT * FROM latency ORDER BY timestamp", self._conn)


def compare(table: LatencyTable, networks: dict[str, tuple[nn.Module, Sequence[int]]],
            granularities: Sequence[str] = GRANULARITIES) -> pd.DataFrame:
    """Predicted (per granularity) and measured end-to-end latency of each network, one row each.

    ``networks``: name -> (model, input shape with batch). Columns: ``measured_s``, ``measured_iqr_s``,
    and per granularity ``predicted_<g>_s`` and ``units_<g>`` (how many units were summed).
    """
    for g in granularities:
        if g not in GRANULARITIES:
            raise ValueError(f"granularities: got {g!r}, expected items of {list(GRANULARITIES)}")
    rows = []
    for name, (model, shape) in networks.items():
        row = {"network": name, "input_shape": tuple(shape)}
        for g in granularities:
            prediction = table.predict(model, shape, g)
            row[f"predicted_{g}_s"], row[f"units_{g}"] = prediction.total_s, len(prediction.rows)
        m = table.measure_network(model, shape)
        rows.append({**row, "measured_s": m.median, "measured_iqr_s": m.iqr})
    return pd.DataFrame(rows)
