"""What the device at hand actually reaches: the best matmul rate per dtype and the copy bandwidth.

Datasheet peaks (:mod:`gpuefficient.analysis.hardware`) assume boost clocks and perfect kernels;
a roofline drawn for the reader's device needs what it reaches. A large square matmul per dtype
gives the compute ceiling (the utilization study measures its V100 the same way) and a large
device-to-device copy the memory ceiling, each timed with :mod:`gpuefficient.measure.timer`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from gpuefficient import checks
from gpuefficient.analysis.hardware import DeviceSpec
from gpuefficient.device import call_or_oom, device_name, resolve_device
from gpuefficient.dtypes import name as dtype_name, to_torch
from gpuefficient.measure.timer import Measurement, Task, measure_within, probe_seconds, random_input

__all__ = ["Ceilings", "measure_ceilings"]

MiB, GiB = 2**20, 2**30


class _Plan(NamedTuple):
    sizes: tuple[int, ...]   # square matmul sizes, ascending
    budget_s: float          # timed seconds per (dtype, size)
    max_call_s: float        # stop growing n once one call would take longer than this
    copy_bytes: int          # copy buffer size (bytes read = bytes written = this)


_PLANS = {
    ("cpu", True): _Plan((512, 1024, 2048), 0.25, 0.5, 64 * MiB),
    ("cpu", False): _Plan((512, 1024, 2048, 4096), 1.0, 3.0, 256 * MiB),
    ("cuda", True): _Plan((2048, 4096), 0.2, 1.0, 256 * MiB),
    ("cuda", False): _Plan((2048, 4096, 8192), 0.5, 1.0, 1 * GiB),
}
_MEASURABLE = ("fp32", "tf32", "fp16", "bf16")
_MIN_MATMUL, _MIN_COPY = 256, 16 * MiB


@dataclass(frozen=True)
class Ceilings:
    """What this device reached: the best matmul rate per dtype and the copy bandwidth.

    ``copy_bandwidth`` counts bytes read + bytes written (2 x buffer size per copy), the way
    datasheet DRAM bandwidth counts traffic in both directions. ``sizes`` lists the matmul sizes
    timed per dtype; ``skipped`` says why a dtype or a size was left out.
    """

    device: str
    kind: str
    matmul_flops: dict[str, float]     # canonical dtype -> FLOP/s (best over sizes)
    copy_bandwidth: float              # bytes/s, read + write
    measurements: tuple[Measurement, ...]
    quick: bool
    sizes: dict[str, list[int]]
    copy_buffer_bytes: int
    budget_s: float
    skipped: dict[str, str]
    seed: int = 0
    sm_count: int = 0
    l2_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary plus one row per underlying measurement (provenance)."""
        return {
            "device": self.device, "kind": self.kind, "matmul_flops": dict(self.matmul_flops),
            "copy_bandwidth": self.copy_bandwidth, "sm_count": self.sm_count, "l2_bytes": self.l2_bytes,
            "quick": self.quick, "sizes": dict(self.sizes), "copy_buffer_bytes": self.copy_buffer_bytes,
            "budget_s": self.budget_s, "skipped": dict(self.skipped), "seed": self.seed,
            "measurements": [m.row() for m in self.measurements],
        }

    def as_device_spec(self) -> DeviceSpec:
        """These numbers as a DeviceSpec, to draw "your device, measured" next to the catalog."""
        nan = float("nan")
        when = self.measurements[0].timestamp if self.measurements else ""
        return DeviceSpec(
            name=f"{self.device} (measured)", kind=self.kind, fp32_flops=self.matmul_flops.get("fp32", nan),
            tensor_flops={k: v for k, v in self.matmul_flops.items() if k != "fp32"}, sparse_tensor_flops={},
            memory_bandwidth=self.copy_bandwidth, l2_bytes=self.l2_bytes, sm_count=self.sm_count,
            source=f"measure_ceilings() on {self.device}, {when}",
            notes=f"Achieved, not peak: best square matmul over sizes {self.sizes}; copy bandwidth counts "
                  "read + write bytes.",
        )

    def __repr__(self) -> str:
        rates = ", ".join(f"{k} {v / 1e12:.3g} TFLOP/s" for k, v in self.matmul_flops.items())
        return f"Ceilings({self.device}: matmul {rates}; copy {self.copy_bandwidth / 1e9:.4g} GB/s read+write)"


def measure_ceilings(device: str | torch.device | None = "auto", dtypes=None, quick: bool | None = None,
                     seed: int = 0) -> Ceilings:
    """Measure the achievable matmul rate per dtype and the copy bandwidth of ``device``.

    Matmul: square n x n @ n x n, FLOPs = 2 n^3, rate from the median time, best over a few sizes
    (a size that runs out of memory is retried smaller). "fp32" runs with TF32 off, "tf32" with it
    on. Copy: ``dst.copy_(src)`` of a large buffer, bandwidth = 2 x buffer bytes / median time.
    ``quick=None`` is quick on the CPU (seconds), full on CUDA; defaults: fp32 and bf16 on the CPU
    (bf16 dropped when over 10x slower than fp32), fp32/tf32/fp16/bf16 on CUDA (tf32 and bf16 from
    compute capability 8.0).
    """
    dev = resolve_device(device)
    quick = checks.flag("quick", quick, allow_none=True)
    quick = dev.type == "cpu" if quick is None else quick
    plan = _PLANS[(dev.type, quick)]
    skipped: dict[str, str] = {}
    if dtypes is None:
        keys, defaulted = _default_dtypes(dev, skipped), True
    else:
        keys, defaulted = _requested_dtypes(dtypes, dev), False

    rates: dict[str, float] = {}
    sizes: dict[str, list[int]] = {}
    rows: list[Measurement] = []
    try:
        for key in keys:
            # the CPU's default bf16 is dropped when absurdly slow (no native bf16 on older CPUs)
            guard = defaulted and dev.type == "cpu" and key != "fp32" and "fp32" in rates
            found, note = _matmul_ceiling(key, plan, dev, seed, rates["fp32"] / 10 if guard else 0.0)
            if note:
                skipped[key] = note
            if found:
                rows += [m for _, m in found]
                sizes[key] = [n for n, _ in found]
                rates[key] = max(2 * n**3 / m.median for n, m in found)
        nbytes, copy_row, note = _copy_ceiling(plan, dev, seed)
        if note:
            skipped["copy"] = note
        rows.append(copy_row)
    finally:
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        sm_count, l2_bytes = props.multi_processor_count, int(getattr(props, "L2_cache_size", 0))
    else:
        sm_count, l2_bytes = torch.get_num_threads(), 0
    return Ceilings(
        device=device_name(dev), kind="gpu" if dev.type == "cuda" else "cpu", matmul_flops=rates,
        copy_bandwidth=2 * nbytes / copy_row.median, measurements=tuple(rows), quick=quick, sizes=sizes,
        copy_buffer_bytes=nbytes, budget_s=plan.budget_s, skipped=skipped, seed=seed,
        sm_count=sm_count, l2_bytes=l2_bytes,
    )


def _default_dtypes(dev: torch.device, skipped: dict[str, str]) -> list[str]:
    if dev.type == "cpu":
        return ["fp32", "bf16"]
    if torch.cuda.get_device_capability(dev)[0] >= 8:
        return list(_MEASURABLE)
    skipped.update(tf32="needs compute capability >= 8.0", bf16="needs compute capability >= 8.0")
    return ["fp32", "fp16"]


def _requested_dtypes(dtypes, dev: torch.device) -> list[str]:
    if isinstance(dtypes, (str, torch.dtype)):
        dtypes = [dtypes]
    keys = list(dict.fromkeys(dtype_name(d) for d in dtypes))
    for key in keys:
        if key not in _MEASURABLE:
            raise ValueError(f"dtypes: got {key!r}, measure_ceilings measures {list(_MEASURABLE)}")
        if key == "tf32" and dev.type != "cuda":
            raise ValueError("dtypes: got 'tf32', which is a CUDA (cuBLAS) mode; on the CPU measure 'fp32'")
    return keys


def _matmul_ceiling(key: str, plan: _Plan, dev: torch.device, seed: int, slow_below: float):
    """(n, measurement) pairs of one dtype over growing sizes, and a note on any size skipped (or None)."""
    if slow_below:
        rate = _probe_rate(key, _MIN_MATMUL, dev, seed)
        if rate < slow_below:
            return [], f"skipped: {rate / 1e9:.3g} GFLOP/s at n={_MIN_MATMUL}, over 10x slower than fp32"
    found: list[tuple[int, Measurement]] = []
    queue = list(plan.sizes)
    while queue:
        n = queue.pop(0)
        m, _ = call_or_oom(_time_matmul, key, n, dev, plan, seed)
        if m is None:
            if found or n // 2 < _MIN_MATMUL:
                return found, f"out of memory at n={n}"
            queue = [n // 2]
            continue
        found.append((n, m))
        if queue and m.median * (queue[0] / n) ** 3 > plan.max_call_s:
            return found, f"stopped before n={queue[0]}: one call would take over {plan.max_call_s} s"
    return found, None


def _operands(key: str, n: int, dev: torch.device, seed: int):
    dtype = to_torch(key, _MEASURABLE)
    a = random_input((n, n), dtype, dev, seed)
    b = random_input((n, n), dtype, dev, seed + 1)
    return a, b, torch.empty((n, n), dtype=dtype, device=dev)


def _probe_rate(key: str, n: int, dev: torch.device, seed: int) -> float:
    """FLOP/s of one warm n x n matmul: a cheap check before committing to a full measurement."""
    a, b, c = _operands(key, n, dev, seed)
    return 2 * n**3 / probe_seconds(lambda: torch.mm(a, b, out=c), dev)


def _time_matmul(key: str, n: int, dev: torch.device, plan: _Plan, seed: int) -> Measurement:
    a, b, c = _operands(key, n, dev, seed)
    details: dict[str, Any] = {"op": "matmul", "n": n, "flops": 2 * n**3}
    mode = contextlib.nullcontext()
    if a.dtype == torch.float32:
        details["fp32_precision"] = "tf32" if key == "tf32" else "ieee"
        mode = _fp32_matmul_mode(dev, tf32=key == "tf32")
    task = Task(label=f"matmul {key} n={n}", dtype=key, input_shape=(n, n), details=details)
    with mode:
        return measure_within(lambda: torch.mm(a, b, out=c), plan.budget_s, device=dev, task=task)


def _copy_ceiling(plan: _Plan, dev: torch.device, seed: int):
    """(buffer bytes, the copy measurement, a note if the planned size was halved on out-of-memory)."""
    nbytes, note = plan.copy_bytes, None
    while True:
        m, _ = call_or_oom(_time_copy, nbytes, dev, plan, seed)
        if m is not None:
            return nbytes, m, note
        if nbytes // 2 < _MIN_COPY:
            raise ValueError(f"device {dev}: out of memory even for a {_MIN_COPY // MiB} MiB copy buffer")
        nbytes, note = nbytes // 2, f"out of memory at {nbytes // MiB} MiB: halved"


def _time_copy(nbytes: int, dev: torch.device, plan: _Plan, seed: int) -> Measurement:
    src = random_input((nbytes // 4,), torch.float32, dev, seed)
    dst = torch.empty_like(src)
    task = Task(label=f"copy {nbytes // MiB} MiB", dtype="fp32", input_shape=(nbytes // 4,),
                details={"op": "copy", "bytes_moved": 2 * nbytes})
    return measure_within(lambda: dst.copy_(src), plan.budget_s, device=dev, task=task)


@contextlib.contextmanager
def _fp32_matmul_mode(dev: torch.device, tf32: bool):
    """Pin fp32 matmuls to IEEE or TF32 on ``dev``'s backend, restoring the caller's setting exactly.

    From torch 2.9 the kernels read ``torch.backends.<backend>.matmul.fp32_precision``; setting the
    legacy ``allow_tf32`` instead can leave a "mix of legacy and new APIs" state in which
    ``torch.get_float32_matmul_precision()`` raises, so the legacy flag is used only on older torch.
    """
    knob = torch.backends.cuda.matmul if dev.type == "cuda" else getattr(torch.backends.mkldnn, "matmul", None)
    try:
        saved = knob.fp32_precision if knob is not None else None
    except AttributeError:  # torch < 2.9
        saved = None
    if saved is not None:
        knob.fp32_precision = "tf32" if tf32 else "ieee"
        try:
            yield
        finally:
            knob.fp32_precision = saved
    elif dev.type == "cuda":
        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved
    else:
        saved = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(saved)


