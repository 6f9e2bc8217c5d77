"""Throughput at the largest batch that fits, and the utilization report built on it.

The utilization study (Kosaian & Phanishayee, Sec. 3.1) runs every CNN "at the maximum batch size
that it can fit within the GPU's memory" and reports images/s there. :func:`find_max_batch` finds
that batch by doubling, then bisecting between the last size that fit and the first that did not;
every attempt goes through :func:`gpuefficient.device.call_or_oom` (the package's one out-of-memory
policy), and the result records every probe and why the search stopped.

On a CPU running out of memory cannot be caught (the operating system kills the process), so a
CPU search needs a ``memory_budget`` in bytes: a batch is only run when the cost model's estimate
of its memory (:func:`estimate_memory_bytes`) fits in the budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from gpuefficient import checks, dtypes
from gpuefficient.analysis.costs import analyze
from gpuefficient.device import call_or_oom, device_name, resolve_device
from gpuefficient.measure.timer import Measurement, measure_model, random_input

__all__ = ["BatchProbe", "MaxBatch", "find_max_batch", "estimate_memory_bytes", "max_batch", "Throughput",
           "measure_throughput", "UtilizationReport", "utilization_report"]

MEMORY_ESTIMATES = ("all", "peak_op")


@dataclass(frozen=True)
class BatchProbe:
    """One attempted batch size: whether it fit, and why not when it did not."""

    batch: int
    fits: bool
    reason: str = ""


@dataclass(frozen=True)
class MaxBatch:
    """The largest batch that fit (0: none did), the smallest that did not (None: the limit was reached
    first), why the search stopped there, and every probe in the order tried."""

    batch: int
    stopped_at: int | None
    reason: str
    probes: tuple[BatchProbe, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "stopped_at": self.stopped_at, "reason": self.reason,
                "probes": [vars(p).copy() for p in self.probes]}


def find_max_batch(attempt: Callable[[int], Any], limit: int = 4096, start: int = 1) -> MaxBatch:
    """The largest batch in [start, limit] for which ``attempt(batch)`` does not run out of memory.

    ``attempt`` runs one batch; an out-of-memory error (CUDA, or a ``MemoryError``) marks the batch as
    not fitting, and so does a non-empty string returned by it (a budget that says no); other errors
    propagate. Sizes double from ``start`` until one fails or ``limit`` is reached, then bisection
    narrows the gap to one. Assumes that a batch fitting implies every smaller one fits.
    """
    if not callable(attempt):
        raise TypeError(f"attempt: got {type(attempt).__name__}, expected a callable taking a batch size")
    limit = checks.integer("limit", limit)
    start = checks.integer("start", start, 1, limit)
    probes: list[BatchProbe] = []

    def fits(batch: int) -> bool:
        result, reason = call_or_oom(attempt, batch)
        if not reason and isinstance(result, str) and result:
            reason = result
        probes.append(BatchProbe(batch, not reason, reason))
        return not reason

    good, bad, batch = 0, None, start
    while True:
        if not fits(batch):
            bad = batch
            break
        good = batch
        if batch == limit:
            break
        batch = min(2 * batch, limit)
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    if bad is None:
        reason = f"reached the limit of {limit}"
    else:
        reason = next(p.reason for p in probes if p.batch == bad)
    return MaxBatch(good, bad, reason, tuple(probes))


def _memory_terms(model: nn.Module, shape: tuple[int, ...], dtype, estimate: str) -> tuple[int, int]:
    """(bytes independent of the batch, bytes per image) of the cost model's estimate: one analysis."""
    checks.one_of("estimate", estimate, MEMORY_ESTIMATES)
    report = analyze(model, (1, *shape), dtype)
    weights = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    if estimate == "all":
        per_image = report.layers[0].input_bytes + sum(layer.output_bytes for layer in report.layers)
    else:
        per_image = max(layer.input_bytes + layer.output_bytes for layer in report.layers)
    return weights * dtypes.to_torch(dtype).itemsize, per_image


def estimate_memory_bytes(model: nn.Module, input_shape, batch: int, dtype="fp32", estimate: str = "all") -> int:
    """Bytes inference at ``batch`` needs, from the cost model: weights + batch x activation bytes per image.

    ``input_shape`` is one image's (C, H, W). ``estimate="all"`` counts every op's output as alive
    at once (an upper bound for inference: what a training step keeps for its backward pass), so a
    budget checked with it is never exceeded; ``"peak_op"`` counts only the largest single op's
    input + output (a lower bound: shortcuts and the allocator add to it).
    """
    shape = checks.shape("input_shape", input_shape, 3, "(3, 224, 224)")
    batch = checks.integer("batch", batch)
    fixed, per_image = _memory_terms(model, shape, dtype, estimate)
    return int(fixed + batch * per_image)


def max_batch(model: nn.Module, input_shape, dtype="fp32", device="auto", memory_budget: int | None = None,
              limit: int = 4096, estimate: str = "all") -> MaxBatch:
    """The largest inference batch of ``model`` at one image's ``input_shape`` (C, H, W) on ``device``.

    Each probe runs one forward pass under ``torch.inference_mode()`` on a random batch. With
    ``memory_budget`` (bytes; required on a CPU) a batch whose estimated memory exceeds it is not run
    and counts as not fitting, its reason naming both numbers.
    """
    shape = checks.shape("input_shape", input_shape, 3, "(3, 224, 224)")
    dev = resolve_device(device)
    if memory_budget is None and dev.type == "cpu":
        raise ValueError("memory_budget: got None on the CPU, expected a number of bytes (running out of CPU memory "
                         "cannot be caught: the operating system kills the process)")
    if memory_budget is not None:
        memory_budget = checks.integer("memory_budget", memory_budget)
        fixed, per_image = _memory_terms(model, shape, dtype, estimate)
    tdtype = dtypes.to_torch(dtype)
    model = model.eval().to(device=dev, dtype=tdtype)

    def attempt(batch: int):
        if memory_budget is not None:
            needed = fixed + batch * per_image
            if needed > memory_budget:
                return (f"memory budget: batch {batch} needs ~{needed / 2**20:.1f} MiB ({estimate} estimate), over the "
                        f"budget of {memory_budget / 2**20:.1f} MiB")
        x = random_input((batch, *shape), tdtype, dev)
        with torch.inference_mode():
            model(x)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return ""

    return find_max_batch(attempt, limit)


@dataclass(frozen=True)
class Throughput:
    """Images per second at one batch, from the timer's median."""

    batch: int
    measurement: Measurement

    @property
    def images_per_s(self) -> float:
        return self.batch / self.measurement.median


def measure_throughput(model: nn.Module, input_shape, batch: int, dtype="fp32", device="auto", warmup: int = 5,
                       repeats: int = 20, label: str = "") -> Throughput:
    """Images/s of eager inference at ``batch`` images of one image's ``input_shape`` (C, H, W):
    ``batch`` / the median batch latency of :func:`gpuefficient.measure.timer.measure_model`."""
    shape = checks.shape("input_shape", input_shape, 3, "(3, 224, 224)")
    batch = checks.integer("batch", batch)
    m = measure_model(model, (batch, *shape), dtype=dtype, device=device, warmup=warmup, repeats=repeats,
                      label=label or type(model).__name__)
    return Throughput(batch, m)


@dataclass(frozen=True)
class UtilizationReport:
    """What :func:`utilization_report` found: the utilization result, how the batch was chosen, the timing."""

    result: Any                       # gpuefficient.analysis.utilization.UtilizationResult
    throughput: Throughput
    max_batch: MaxBatch | None        # None when the batch was given
    device: str
    reference: str                    # "measured" or "catalog": where peak and ridge come from

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "device": self.device, "reference": self.reference,
                "median_s": self.throughput.measurement.median,
                "max_batch": self.max_batch.to_dict() if self.max_batch else None}

    def __str__(self) -> str:
        r = self.result
        return (f"{r.model} on {self.device}, batch {r.batch}: {r.throughput:,.0f} images/s x "
                f"{r.flops_per_image / 1e9:.3g} GFLOPs = {r.achieved_flops / 1e12:.3g} TFLOP/s, "
                f"{r.utilization:.1%} of {r.peak_flops / 1e12:.3g} ({self.reference}); intensity "
                f"{r.bound.intensity:.0f} vs ridge {r.bound.ridge:.0f} FLOP/B: {r.bound.bound}-bound")


def utilization_report(model_name: str, batch: int | str = "max", device="auto", dtype: str | None = None,
                       resolution: int | None = None, reference="measured", memory_budget: int | None = None,
                       limit: int = 4096, warmup: int = 5, repeats: int = 20) -> UtilizationReport:
    """GPU utilization of a zoo or timm network, the way the utilization study measures it (Sec. 3.1).

    ``batch``: "max" (the largest that fits, :func:`max_batch`; on a CPU with ``memory_budget``) or a
    number. ``dtype`` defaults to fp16 on CUDA (the paper's setting) and fp32 on a CPU. ``reference``
    says where the peak and the ridge point come from: "measured" (the device's ceilings, quick: the
    paper's *achievable* peak), "catalog" (datasheet peaks), or a ``DeviceSpec``/``Ceilings`` given.
    Meant for the command line (``utilization``) and the chapter; eager PyTorch, not TensorRT.
    """
    from gpuefficient.analysis.hardware import detect_device
    from gpuefficient.analysis.utilization import utilization_of
    from gpuefficient.arch.models import create_model, input_resolution

    dev = resolve_device(device)
    dtype = dtypes.name(dtype if dtype is not None else ("fp16" if dev.type == "cuda" else "fp32"))
    resolution = checks.integer("resolution", resolution) if resolution is not None else input_resolution(model_name)
    if isinstance(batch, str):
        checks.one_of("batch", batch, ["max"])
    else:
        batch = checks.integer("batch", batch)
    if isinstance(reference, str):
        checks.one_of("reference", reference, ["measured", "catalog"])
    model = create_model(model_name)
    shape = (checks.model_input("input_shape", model, (1, 3, resolution, resolution))[1], resolution, resolution)
    if reference == "measured":
        from gpuefficient.measure.ceilings import measure_ceilings

        spec, label = measure_ceilings(dev, dtypes=[dtype], quick=True).as_device_spec(), "measured"
    elif reference == "catalog":
        spec, label = detect_device(dev), "catalog"
    else:
        spec, label = reference, getattr(reference, "name", type(reference).__name__)
    found = None
    if batch == "max":
        found = max_batch(model, shape, dtype, dev, memory_budget, limit)
        if found.batch == 0:
            raise ValueError(f"batch: not even batch 1 of {model_name} fits on {device_name(dev)} ({found.reason})")
        batch = found.batch
    tput = measure_throughput(model, shape, batch, dtype, dev, warmup, repeats, model_name)
    report = analyze(model, (batch, *shape), dtype, name=model_name)
    result = utilization_of(report, tput.images_per_s, spec)
    return UtilizationReport(result, tput, found, device_name(dev), label)
