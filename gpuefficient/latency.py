"""The timing core: measure a callable's latency the way GPU timing has to be done.

Warm-up first (lazy initialisation, cuDNN autotuning, allocator growth), then repeated samples
timed with CUDA events on a GPU (``perf_counter`` on a CPU), one synchronisation after the last
sample so the timer never waits on the host. Every result is a :class:`Measurement` that carries
its samples, summary statistics (median, GENet's trimmed mean, spread) and the context needed to
reproduce it: device, settings and software versions.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import math
import platform
import shutil
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import torch

__all__ = [
    "Measurement",
    "measure",
    "measure_model",
    "measure_interleaved",
    "round_ratios",
    "resolve_device",
    "device_name",
    "software_versions",
    "random_input",
    "trimmed_mean",
    "gpu_state",
    "is_out_of_memory",
    "SweepPoint",
    "sweep",
]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/a name into a torch.device: CUDA when present, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: got {device!r}, expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: got {device!r}, but no CUDA device is available here (use 'auto' or 'cpu')")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: got {device!r}, expected a CPU or CUDA device")
    return dev


def device_name(device: str | torch.device | None = "auto") -> str:
    """A human-readable name of the device: the GPU's marketing name or the CPU model."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def software_versions() -> dict[str, str]:
    """Versions that change latency: Python, torch, CUDA, cuDNN, timm, the GPU driver."""
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else "none",
        "platform": platform.platform(),
    }
    try:  # the installed version, without paying for importing timm
        versions["timm"] = importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        versions["timm"] = "not installed"
    if torch.cuda.is_available():
        try:
            from torch.cuda import _get_nvml_driver_version  # type: ignore[attr-defined]

            versions["driver"] = str(_get_nvml_driver_version())
        except Exception:  # noqa: BLE001 - optional detail; absent on some builds
            pass
    return versions


def random_input(shape, dtype: torch.dtype = torch.float32, device="auto", seed: int = 0) -> torch.Tensor:
    """A seeded standard-normal tensor: timing on zeros can flatter kernels that skip work."""
    if any(int(s) <= 0 for s in shape):
        raise ValueError(f"shape: got {tuple(shape)}, expected positive sizes")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tuple(int(s) for s in shape), generator=gen, dtype=torch.float32)
    return x.to(device=resolve_device(device), dtype=dtype)


def trimmed_mean(values, proportion: float = 0.1) -> float:
    """Mean after dropping the top and bottom ``proportion`` of samples (GENet, Sec. 4.1: 10%)."""
    if not 0 <= proportion < 0.5:
        raise ValueError(f"proportion: got {proportion}, expected 0 <= proportion < 0.5")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("trimmed_mean of no values")
    cut = int(len(ordered) * proportion)
    kept = ordered[cut : len(ordered) - cut] or ordered
    return sum(kept) / len(kept)


def _quantile(ordered: list[float], q: float) -> float:
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Measurement:
    """Latency samples of one callable plus everything needed to reproduce them.

    ``times_s`` holds one entry per sample, already divided by ``inner`` (calls per sample),
    so every statistic is seconds per call.
    """

    label: str
    times_s: tuple[float, ...]
    warmup: int
    inner: int
    device: str
    timer: str
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    timestamp: str = ""

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

    def to_dict(self, samples: bool = False) -> dict[str, Any]:
        """A flat row (for a DataFrame or JSON): statistics in ms, settings and versions inlined."""
        row = {
            "label": self.label,
            "median_ms": self.median * 1e3,
            "trimmed_mean_ms": self.trimmed_mean * 1e3,
            "iqr_ms": self.iqr * 1e3,
            "min_ms": self.min * 1e3,
            "max_ms": self.max * 1e3,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "inner": self.inner,
            "device": self.device,
            "timer": self.timer,
            "timestamp": self.timestamp,
            **{k: v for k, v in self.settings.items()},
            **{f"version_{k}": v for k, v in self.versions.items()},
        }
        if samples:
            row["times_s"] = list(self.times_s)
        return row

    def __repr__(self) -> str:
        return (
            f"{self.label or 'measurement'}: median {_fmt(self.median)} "
            f"(IQR {_fmt(self.iqr)}, trimmed mean {_fmt(self.trimmed_mean)}, "
            f"n={self.repeats}x{self.inner}, warm-up {self.warmup}) on {self.device} [{self.timer}]"
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        """Inverse of ``asdict``: used to reload stored results."""
        fields = {k: data[k] for k in ("label", "warmup", "inner", "device", "timer")}
        return cls(
            times_s=tuple(data["times_s"]),
            settings=dict(data.get("settings", {})),
            versions=dict(data.get("versions", {})),
            timestamp=data.get("timestamp", ""),
            **fields,
        )

    def as_record(self) -> dict[str, Any]:
        """Everything, nested, for JSON files of results (round-trips with ``from_dict``)."""
        record = asdict(self)
        record["times_s"] = list(self.times_s)
        return record


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.1f} us"


def measure(
    fn: Callable[[], Any],
    *,
    device: str | torch.device | None = "auto",
    warmup: int = 10,
    repeats: int = 50,
    inner: int = 1,
    label: str = "",
    settings: dict[str, Any] | None = None,
    flush_cache: bool = False,
) -> Measurement:
    """Time ``fn()`` on ``device``: ``warmup`` untimed calls, then ``repeats`` samples of ``inner`` calls.

    On CUDA each sample is bracketed by CUDA events recorded on the current stream and the host
    synchronises once after the last sample, so host-side overhead between samples is not timed
    and the GPU queue never drains between calls of one sample. On the CPU each sample is a
    ``perf_counter`` interval. ``fn`` should do the whole unit of work (e.g. ``lambda: model(x)``
    under ``torch.inference_mode()``) on inputs that already live on ``device``.

    ``flush_cache=True`` measures cold caches: before every sample a buffer twice the size of the
    L2 (GPU) or of a typical last-level cache (CPU, 64 MiB) is overwritten, outside the timed
    interval, so weights and activations are re-read from memory. The default is warm caches,
    which is what back-to-back inference sees. On CUDA the GPU's clocks, temperature, power and
    throttle reasons after the samples are recorded (read-only) where NVML or nvidia-smi answers.
    """
    for name, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1), ("inner", inner, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: got {value!r}, expected an integer >= {low}")
    if not callable(fn):
        raise TypeError(f"fn: got {type(fn).__name__}, expected a callable taking no arguments")
    dev = resolve_device(device)

    flush = _cache_flusher(dev) if flush_cache else None
    for _ in range(warmup):
        fn()
    times = _samples(fn, dev, repeats, inner, flush)
    context = {"cache": "cold (flushed before each sample)" if flush_cache else "warm", **(settings or {})}
    return _measurement(label, times, warmup, inner, dev, context)


def measure_interleaved(fns: dict[str, Callable[[], Any]], *, device: str | torch.device | None = "auto",
                        warmup: int = 10, rounds: int = 5, repeats: int = 10,
                        settings: dict[str, Any] | None = None) -> dict[str, Measurement]:
    """Time several callables in alternating rounds: an A/B comparison that drift cannot bias.

    A slow change of the machine (clocks, temperature, a busy neighbour on a shared CPU) biases
    callables timed one after the other; here each is warmed up, then every one of ``rounds``
    rounds takes ``repeats`` samples of each callable in turn (the order rotating), so drift hits
    all of them alike. Each :class:`Measurement` holds its samples round after round
    (``settings["rounds"]``); :func:`round_ratios` compares two of them round by round.
    """
    if not isinstance(fns, dict) or not fns or not all(callable(f) for f in fns.values()):
        raise TypeError(f"fns: got {fns!r:.80}, expected a non-empty dict of label -> callable taking no arguments")
    for name, value, low in (("warmup", warmup, 0), ("rounds", rounds, 1), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: got {value!r}, expected an integer >= {low}")
    dev = resolve_device(device)
    labels = list(fns)
    for label in labels:
        for _ in range(warmup):
            fns[label]()
    times: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:
            times[label] += _samples(fns[label], dev, repeats, 1)
    context = {"cache": "warm", "rounds": rounds, "interleaved_with": labels, **(settings or {})}
    shared = _measurement("", [], warmup, 1, dev, context)  # device state and versions, read once
    return {label: replace(shared, label=label, times_s=tuple(times[label])) for label in labels}


def round_ratios(a: Measurement, b: Measurement) -> list[float]:
    """Per round of :func:`measure_interleaved`: median of ``a`` / median of ``b`` (> 1: ``a`` slower)."""
    rounds = a.settings.get("rounds")
    if not rounds or rounds != b.settings.get("rounds") or a.repeats != b.repeats or a.repeats % rounds:
        raise ValueError(f"a, b: got {a.label!r} and {b.label!r} with rounds {rounds} and "
                         f"{b.settings.get('rounds')}, expected two measurements of one measure_interleaved call")
    k = a.repeats // rounds
    return [statistics.median(a.times_s[i:i + k]) / statistics.median(b.times_s[i:i + k])
            for i in range(0, a.repeats, k)]


def _samples(fn, dev: torch.device, repeats: int, inner: int, flush=None) -> list[float]:
    if dev.type == "cuda":
        return _cuda_samples(fn, dev, repeats, inner, flush)
    return _cpu_samples(fn, repeats, inner, flush)


def _measurement(label: str, times: list[float], warmup: int, inner: int, dev: torch.device,
                 settings: dict[str, Any]) -> Measurement:
    """A Measurement of ``times`` with the device's context: the GPU's state, or the CPU's threads."""
    context = gpu_state(dev) if dev.type == "cuda" else {"threads": torch.get_num_threads()}
    return Measurement(
        label=label,
        times_s=tuple(times),
        warmup=warmup,
        inner=inner,
        device=device_name(dev),
        timer="cuda_event" if dev.type == "cuda" else "perf_counter",
        settings={**context, **settings},
        versions=software_versions(),
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def _cache_flusher(dev: torch.device) -> Callable[[], None]:
    """A function that evicts the caches by overwriting a buffer twice their size."""
    if dev.type == "cuda":
        size = 2 * max(getattr(torch.cuda.get_device_properties(dev), "L2_cache_size", 0), 64 << 20)
    else:
        size = 2 * (64 << 20)
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


def measure_model(model: torch.nn.Module, input_shape, *, dtype: torch.dtype = torch.float32, device="auto",
                  channels_last: bool = False, warmup: int = 10, repeats: int = 50, label: str = "",
                  seed: int = 0) -> Measurement:
    """Eager inference latency of ``model`` on a seeded random batch, settings recorded.

    The model is moved (in place) to ``device`` and ``dtype`` and put in eval mode; timing runs
    under ``torch.inference_mode()``.
    """
    dev = resolve_device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(device=dev, dtype=dtype, memory_format=memory_format)
    x = random_input(input_shape, dtype, dev, seed).contiguous(memory_format=memory_format)
    settings = {"backend": "eager", "dtype": str(dtype).replace("torch.", ""), "batch": int(input_shape[0]),
                "input_shape": "x".join(str(s) for s in input_shape),
                "memory_format": "channels_last" if channels_last else "contiguous"}
    with torch.inference_mode():
        return measure(lambda: model(x), device=dev, warmup=warmup, repeats=repeats,
                       label=label or type(model).__name__, settings=settings)


_SMI_FIELDS = {  # nvidia-smi query field -> our name
    "clocks.sm": "sm_clock_mhz",
    "clocks.mem": "memory_clock_mhz",
    "clocks.max.sm": "max_sm_clock_mhz",
    "temperature.gpu": "temperature_c",
    "power.draw": "power_w",
    "pstate": "pstate",
}


def gpu_state(device: str | torch.device | None = "auto") -> dict[str, Any]:
    """Clocks, temperature, power and active throttle reasons of a CUDA device, read-only.

    A GPU that throttles (power, thermal) or sits at a low clock runs slower than its spec; the
    state recorded with a measurement tells whether it was comparable. Uses ``nvidia-smi`` (a
    query, never a setting); returns ``{"gpu_state": "unavailable: <why>"}`` when it cannot.
    """
    dev = resolve_device(device)
    if dev.type != "cuda":
        return {}
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"gpu_state": "unavailable: nvidia-smi not found"}
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    # Drivers >= 535 call throttle reasons "clocks_event_reasons"; older ones only know the old name.
    for reasons in ("clocks_event_reasons.active", "clocks_throttle_reasons.active"):
        fields = [*_SMI_FIELDS, reasons]
        try:
            out = subprocess.run([smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits",
                                  f"--id={index}"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as err:
            return {"gpu_state": f"unavailable: {err}"}
        if out.returncode == 0:
            return _parse_smi(out.stdout, list(_SMI_FIELDS.values()) + ["throttle_reasons"])
    return {"gpu_state": f"unavailable: nvidia-smi said {out.stdout.strip() or out.stderr.strip()}"[:200]}


def _parse_smi(line: str, names: list[str]) -> dict[str, Any]:
    """One CSV line of nvidia-smi values: numbers become floats, '[N/A]' becomes None."""
    state: dict[str, Any] = {}
    for name, cell in zip(names, (c.strip() for c in line.strip().split(","))):
        try:
            state[name] = float(cell)
        except ValueError:
            state[name] = None if cell in ("[N/A]", "N/A", "[Not Supported]") else cell
    return state


def is_out_of_memory(err: BaseException) -> bool:
    """True for CUDA and CPU allocation failures (which a sweep records and skips)."""
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its parameter value and the measurement, or why it was skipped."""

    value: Any
    measurement: Measurement | None
    skipped: str = ""


def sweep(measure_at: Callable[[Any], Measurement], values, device="auto") -> list[SweepPoint]:
    """``measure_at(v)`` for every value; an out-of-memory error skips that value and goes on.

    Batch sweeps run into the memory limit at the large end; losing every point already measured
    because the last one did not fit would be wasteful, so the failure is recorded instead. Other
    errors propagate. On CUDA the allocator's cache is emptied after a failure.
    """
    dev = resolve_device(device)
    points = []
    for value in values:
        try:
            points.append(SweepPoint(value, measure_at(value)))
        except Exception as err:  # noqa: BLE001 - only memory errors are swallowed, see below
            if not is_out_of_memory(err):
                raise
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            points.append(SweepPoint(value, None, f"out of memory: {str(err).splitlines()[0][:160]}"))
    return points
