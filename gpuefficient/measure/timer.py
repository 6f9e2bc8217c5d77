"""The timing core: measure a callable's latency the way GPU timing has to be done.

Warm-up first (lazy initialisation, allocator growth, and cuDNN's autotuning when
``torch.backends.cudnn.benchmark`` is on), then repeated samples timed with CUDA events on a GPU
(``perf_counter`` on a CPU), one synchronisation after the last sample so the timer never waits
on the host, and Python's garbage collector paused during the samples (as ``timeit`` does).
Every result is a :class:`Measurement`: the samples, what was timed (a typed, frozen
:class:`Task`, the counterpart of ``torch.utils.benchmark``'s ``task_spec``), and the context
needed to reproduce it (device, its state, software versions, time).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import gc
import math
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import torch

from gpuefficient import checks, dtypes
from gpuefficient.device import (call_or_oom, device_name, gpu_state, last_level_cache_bytes, resolve_device,
                                 software_versions)

__all__ = ["Task", "Measurement", "measure", "measure_model", "measure_interleaved", "round_ratios",
           "random_input", "trimmed_mean", "SweepPoint", "sweep", "probe_seconds", "measure_within"]

MEMORY_FORMATS = ("contiguous", "channels_last")
CACHE_STATES = ("warm", "cold")


@dataclass(frozen=True)
class Task:
    """What was timed, typed and frozen. ``measure`` fills ``inner``, ``cache`` and ``cudnn_benchmark``;
    ``measure_interleaved`` fills ``rounds`` and ``interleaved_with``.

    ``details`` holds descriptive extras (the model's name, a compile mode, an ONNX provider, a
    matmul size): recorded with the measurement and shown in its row, never read by the package.
    """

    label: str = ""
    backend: str = ""                        # "eager", "compile", ...; "" for a raw op (a matmul, a copy)
    dtype: str = ""                          # canonical name (see gpuefficient.dtypes); "" when not one format
    input_shape: tuple[int, ...] = ()
    memory_format: str = "contiguous"
    cache: str = "warm"                      # "cold": caches flushed before every sample
    inner: int = 1                           # calls per sample: each sample is divided by it
    rounds: int = 1                          # > 1: one of the measurements of one measure_interleaved call
    interleaved_with: tuple[str, ...] = ()
    cudnn_benchmark: bool | None = None      # cuDNN autotuning in force during the samples (None: CPU)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dtype:
            object.__setattr__(self, "dtype", dtypes.name(self.dtype))
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "interleaved_with", tuple(self.interleaved_with))
        checks.one_of("memory_format", self.memory_format, MEMORY_FORMATS)
        checks.one_of("cache", self.cache, CACHE_STATES)
        checks.integer("inner", self.inner)
        checks.integer("rounds", self.rounds)
        clash = sorted(set(self.details) & _ROW_KEYS)
        if clash:
            raise ValueError(f"details: got keys {clash}, which are fields of a measurement row; rename them")
        object.__setattr__(self, "details", dict(self.details))

    @property
    def batch(self) -> int | None:
        return self.input_shape[0] if self.input_shape else None


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class Measurement:
    """Latency samples of one task plus everything needed to reproduce them.

    ``times_s`` holds one entry per sample, already divided by ``task.inner`` (calls per sample),
    so every statistic is seconds per call. ``environment`` is the machine's observed state (the
    CPU's threads, or the GPU's clocks, temperature and throttle reasons).
    """

    task: Task
    times_s: tuple[float, ...]
    warmup: int
    device: str
    timer: str
    environment: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    timestamp: str = ""

    @property
    def label(self) -> str:
        return self.task.label

    @property
    def repeats(self) -> int:
        return len(self.times_s)

    @property
    def median(self) -> float:
        return statistics.median(self.times_s)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times_s)

    @property
    def trimmed_mean(self) -> float:
        return trimmed_mean(self.times_s, 0.1)

    @property
    def std(self) -> float:
        return statistics.stdev(self.times_s) if self.repeats > 1 else 0.0

    @property
    def iqr(self) -> float:
        ordered = sorted(self.times_s)
        return _quantile(ordered, 0.75) - _quantile(ordered, 0.25)

    @property
    def min(self) -> float:
        return min(self.times_s)

    @property
    def max(self) -> float:
        return max(self.times_s)

    def row(self, samples: bool = False) -> dict[str, Any]:
        """A flat row for a DataFrame: statistics in ms, then the task, its details, the environment and
        ``version_*`` columns. Details cannot overwrite a statistic (:class:`Task` refuses such keys)."""
        task = self.task
        row = {
            "label": task.label, "median_ms": self.median * 1e3, "trimmed_mean_ms": self.trimmed_mean * 1e3,
            "iqr_ms": self.iqr * 1e3, "min_ms": self.min * 1e3, "max_ms": self.max * 1e3,
            "repeats": self.repeats, "warmup": self.warmup, "inner": task.inner, "device": self.device,
            "timer": self.timer, "timestamp": self.timestamp, "backend": task.backend, "dtype": task.dtype,
            "batch": task.batch, "input_shape": "x".join(map(str, task.input_shape)),
            "memory_format": task.memory_format, "cache": task.cache, "rounds": task.rounds,
            "cudnn_benchmark": task.cudnn_benchmark,
            **task.details,
            **{k: v for k, v in self.environment.items() if k not in _ROW_KEYS},
            **{f"version_{k}": v for k, v in self.versions.items()},
        }
        if samples:
            row["times_s"] = list(self.times_s)
        return row

    def to_dict(self) -> dict[str, Any]:
        """Everything, nested and JSON-ready; :meth:`from_dict` reads it back to an equal Measurement."""
        data = dataclasses.asdict(self)
        data["task"]["details"] = dict(self.task.details)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Measurement":
        """The inverse of :meth:`to_dict` (also after a JSON round trip)."""
        if not isinstance(data, Mapping) or set(data) != _fields(cls) or not isinstance(data["task"], Mapping):
            raise ValueError(f"data: got keys {sorted(data) if isinstance(data, Mapping) else type(data).__name__}, "
                             f"expected a Measurement.to_dict() with keys {sorted(_fields(cls))}")
        unknown = set(data["task"]) - _fields(Task)
        if unknown:
            raise ValueError(f"data['task']: got unknown keys {sorted(unknown)}, expected {sorted(_fields(Task))}")
        return cls(**{**data, "task": Task(**data["task"]), "times_s": tuple(data["times_s"]),
                      "environment": dict(data["environment"]), "versions": dict(data["versions"])})

    def __repr__(self) -> str:
        return (f"{self.label or 'measurement'}: median {_fmt(self.median)} "
                f"(IQR {_fmt(self.iqr)}, trimmed mean {_fmt(self.trimmed_mean)}, "
                f"n={self.repeats}x{self.task.inner}, warm-up {self.warmup}) on {self.device} [{self.timer}]")


_ROW_KEYS = {"label", "median_ms", "trimmed_mean_ms", "iqr_ms", "min_ms", "max_ms", "repeats", "warmup", "inner",
             "device", "timer", "timestamp", "backend", "dtype", "batch", "input_shape", "memory_format", "cache",
             "rounds", "cudnn_benchmark", "times_s"}


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def _quantile(ordered: list[float], q: float) -> float:
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def random_input(shape, dtype: str | torch.dtype = torch.float32, device="auto", seed: int = 0) -> torch.Tensor:
    """A seeded standard-normal tensor: timing on zeros can flatter kernels that skip work."""
    shape = checks.shape("shape", shape)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float32)
    return x.to(device=resolve_device(device), dtype=dtypes.to_torch(dtype, dtypes.CANONICAL))


def trimmed_mean(values, proportion: float = 0.1) -> float:
    """Mean after dropping the top and bottom ``proportion`` of samples (GENet, Sec. 4.1: 10%)."""
    checks.number("proportion", proportion, 0, 0.5, high_open=True)
    ordered = sorted(values)
    if not ordered:
        raise ValueError("trimmed_mean of no values")
    cut = int(len(ordered) * proportion)
    kept = ordered[cut: len(ordered) - cut] or ordered
    return sum(kept) / len(kept)


def measure(fn: Callable[[], Any], *, device: str | torch.device | None = "auto", warmup: int = 10,
            repeats: int = 50, inner: int = 1, task: Task | None = None, label: str | None = None,
            flush_cache: bool = False, cudnn_benchmark: bool | None = None) -> Measurement:
    """Time ``fn()`` on ``device``: ``warmup`` untimed calls, then ``repeats`` samples of ``inner`` calls.

    On CUDA each sample is bracketed by CUDA events recorded on the current stream and the host
    synchronises once after the last sample, so host-side overhead between samples is not timed
    and the GPU queue never drains between calls of one sample. On the CPU each sample is a
    ``perf_counter`` interval. ``fn`` should do the whole unit of work (e.g. ``lambda: model(x)``
    under ``torch.inference_mode()``) on inputs that already live on ``device``. ``task`` describes
    what is timed (``label`` is a shortcut for ``Task(label=...)``).

    ``flush_cache=True`` measures cold caches: before every sample a buffer twice the size of the
    L2 (GPU) or of the last-level cache (CPU; :func:`~gpuefficient.device.last_level_cache_bytes`) is overwritten, outside the timed
    interval, so weights and activations are re-read from memory. Only the first call of a sample
    would be cold, so it needs ``inner=1``. The default is warm caches, what back-to-back inference
    sees. ``cudnn_benchmark`` (CUDA): None leaves ``torch.backends.cudnn.benchmark`` as it is,
    True/False sets it for this call; the value in force is recorded in the task.
    """
    checks.integer("warmup", warmup, 0)
    checks.integer("repeats", repeats)
    checks.integer("inner", inner)
    if not callable(fn):
        raise TypeError(f"fn: got {type(fn).__name__}, expected a callable taking no arguments")
    if flush_cache and inner != 1:
        raise ValueError(f"inner: got {inner} with flush_cache=True, expected 1 (only the first call of a "
                         "sample would see cold caches)")
    task = _task(task, label)
    dev = resolve_device(device)
    flush = _cache_flusher(dev) if flush_cache else None
    with _cudnn_benchmark(dev, cudnn_benchmark) as tuned:
        for _ in range(warmup):
            fn()
        times = _samples(fn, dev, repeats, inner, flush)
    task = replace(task, inner=inner, cache="cold" if flush_cache else "warm", cudnn_benchmark=tuned)
    return _measurement(task, times, warmup, dev)


def measure_interleaved(fns: dict[str, Callable[[], Any]], *, device: str | torch.device | None = "auto",
                        warmup: int = 10, rounds: int = 5, repeats: int = 10, tasks: dict[str, Task] | None = None,
                        cudnn_benchmark: bool | None = None) -> dict[str, Measurement]:
    """Time several callables in alternating rounds: an A/B comparison that drift cannot bias.

    A slow change of the machine (clocks, temperature, a busy neighbour on a shared CPU) biases
    callables timed one after the other; here each is warmed up, then every one of ``rounds``
    rounds takes ``repeats`` samples of each callable in turn (the order rotating), so drift hits
    all of them alike. Each :class:`Measurement` holds its samples round after round
    (``task.rounds``); :func:`round_ratios` compares two of them round by round. ``tasks``
    optionally describes each callable (its label is the dict key).
    """
    if not isinstance(fns, dict) or not fns or not all(callable(f) for f in fns.values()):
        raise TypeError(f"fns: got {fns!r:.80}, expected a non-empty dict of label -> callable taking no arguments")
    checks.integer("warmup", warmup, 0)
    checks.integer("rounds", rounds)
    checks.integer("repeats", repeats)
    dev = resolve_device(device)
    labels = list(fns)
    times: dict[str, list[float]] = {label: [] for label in labels}
    with _cudnn_benchmark(dev, cudnn_benchmark) as tuned:
        for label in labels:
            for _ in range(warmup):
                fns[label]()
        for r in range(rounds):
            for label in labels[r % len(labels):] + labels[: r % len(labels)]:
                times[label] += _samples(fns[label], dev, repeats, 1)
    shared = _measurement(Task(), [], warmup, dev)  # device state and versions, read once
    out = {}
    for label in labels:
        task = replace((tasks or {}).get(label) or Task(), label=label, rounds=rounds, interleaved_with=labels,
                       cudnn_benchmark=tuned)
        out[label] = replace(shared, task=task, times_s=tuple(times[label]))
    return out


def round_ratios(a: Measurement, b: Measurement) -> list[float]:
    """Per round of :func:`measure_interleaved`: median of ``a`` / median of ``b`` (> 1: ``a`` slower)."""
    rounds = a.task.rounds
    if (rounds < 2 or rounds != b.task.rounds or a.task.interleaved_with != b.task.interleaved_with
            or a.repeats != b.repeats or a.repeats % rounds):
        raise ValueError(f"a, b: got {a.label!r} and {b.label!r} with rounds {rounds} and {b.task.rounds}, "
                         "expected two measurements of one measure_interleaved call with at least 2 rounds")
    k = a.repeats // rounds
    return [statistics.median(a.times_s[i:i + k]) / statistics.median(b.times_s[i:i + k])
            for i in range(0, a.repeats, k)]


def _task(task: Task | None, label: str | None) -> Task:
    if task is not None and not isinstance(task, Task):
        raise TypeError(f"task: got {type(task).__name__}, expected a gpuefficient.measure.timer.Task")
    if task is not None and label is not None:
        raise ValueError("label: give it in the task (Task(label=...)) or alone, not both")
    return task if task is not None else Task(label=label or "")


@contextlib.contextmanager
def _cudnn_benchmark(dev: torch.device, value: bool | None):
    """Set cuDNN autotuning for the block (None: leave it); yields the value in force (None on the CPU)."""
    checks.flag("cudnn_benchmark", value, allow_none=True)
    if dev.type != "cuda":
        yield None
        return
    saved = torch.backends.cudnn.benchmark
    if value is not None:
        torch.backends.cudnn.benchmark = value
    try:
        yield torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = saved


@contextlib.contextmanager
def _gc_paused():
    """No garbage collection inside the timed samples (timeit's rule): a collection would be timed."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _samples(fn, dev: torch.device, repeats: int, inner: int, flush=None) -> list[float]:
    with _gc_paused():
        if dev.type == "cuda":
            return _cuda_samples(fn, dev, repeats, inner, flush)
        return _cpu_samples(fn, repeats, inner, flush)


def _measurement(task: Task, times: list[float], warmup: int, dev: torch.device) -> Measurement:
    """A Measurement of ``times`` with the device's context: the GPU's state, or the CPU's threads."""
    environment = gpu_state(dev) if dev.type == "cuda" else {"threads": torch.get_num_threads()}
    return Measurement(
        task=task, times_s=tuple(times), warmup=warmup, device=device_name(dev),
        timer="cuda_event" if dev.type == "cuda" else "perf_counter", environment=environment,
        versions=software_versions(), timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def _cache_flusher(dev: torch.device) -> Callable[[], None]:
    """A function that evicts the caches by overwriting a buffer twice their size."""
    size = 2 * last_level_cache_bytes(dev)
    buffer = torch.empty(size // 4, dtype=torch.float32, device=dev)
    return lambda: buffer.fill_(1.0)


def _cpu_samples(fn, repeats: int, inner: int, flush=None) -> list[float]:
    times = []
    for _ in range(repeats):
        if flush is not None:
            flush()
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return times


def _cuda_samples(fn, dev: torch.device, repeats: int, inner: int, flush=None) -> list[float]:
    with torch.cuda.device(dev):
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
        torch.cuda.synchronize(dev)  # nothing queued before us is timed
        for start, end in zip(starts, ends):
            if flush is not None:
                flush()  # queued before the start event: not timed
            start.record()
            for _ in range(inner):
                fn()
            end.record()
        torch.cuda.synchronize(dev)
        return [s.elapsed_time(e) / 1e3 / inner for s, e in zip(starts, ends)]


def measure_model(model: torch.nn.Module, input_shape, *, dtype: str | torch.dtype = "fp32", device="auto",
                  channels_last: bool = False, warmup: int = 10, repeats: int = 50, label: str = "",
                  seed: int = 0, cudnn_benchmark: bool | None = True) -> Measurement:
    """Eager inference latency of ``model`` on a seeded random batch, the task recorded.

    The model is moved (in place) to ``device`` and ``dtype`` and put in eval mode; timing runs
    under ``torch.inference_mode()``. On CUDA cuDNN autotuning is on by default (fixed shapes, as
    deployed inference runs them): the warm-up pays for the tuning, the samples do not.
    """
    shape = checks.model_input("input_shape", model, input_shape)
    tdtype = dtypes.to_torch(dtype)
    dev = resolve_device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(device=dev, dtype=tdtype, memory_format=memory_format)
    x = random_input(shape, tdtype, dev, seed).contiguous(memory_format=memory_format)
    task = Task(label=label or type(model).__name__, backend="eager", dtype=tdtype, input_shape=shape,
                memory_format="channels_last" if channels_last else "contiguous")
    with torch.inference_mode():
        return measure(lambda: model(x), device=dev, warmup=warmup, repeats=repeats, task=task,
                       cudnn_benchmark=cudnn_benchmark)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its parameter value and the measurement, or why it was skipped."""

    value: Any
    measurement: Measurement | None
    skipped: str = ""


def sweep(measure_at: Callable[[Any], Measurement], values) -> list[SweepPoint]:
    """``measure_at(v)`` for every value; an out-of-memory error skips that value and goes on.

    Batch sweeps run into the memory limit at the large end; losing every point already measured
    because the last one did not fit would be wasteful, so the failure is recorded instead
    (:func:`gpuefficient.device.call_or_oom`). Other errors propagate.
    """
    points = []
    for value in values:
        m, reason = call_or_oom(measure_at, value)
        points.append(SweepPoint(value, m, reason))
    return points


def probe_seconds(fn: Callable[[], Any], device="auto") -> float:
    """Wall time of one synchronised call, after one untimed call (allocation, handles, kernel choice):
    a cheap estimate that sizes a measurement, never a result."""
    dev = resolve_device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return max(time.perf_counter() - start, 1e-6)


def measure_within(fn: Callable[[], Any], budget_s: float, *, device="auto", task: Task | None = None,
                   max_repeats: int = 100, min_repeats: int = 3) -> Measurement:
    """:func:`measure` with warm-up and repeats sized from one probe call so that the samples take
    about ``budget_s`` (like ``torch.utils.benchmark``'s autorange): warm-up ~20% of the budget."""
    checks.number("budget_s", budget_s, 0, low_open=True)
    probe = probe_seconds(fn, device)
    repeats = int(min(max_repeats, max(min_repeats, budget_s / probe)))
    warmup = int(min(50, max(1, 0.2 * budget_s / probe)))
    return measure(fn, device=device, warmup=warmup, repeats=repeats, task=task)
