"""GPU utilization of a network, and whether its arithmetic intensity clears the device's ridge point.

Kosaian & Phanishayee, *A Study on the Intersection of GPU Utilization and CNN Inference*:

* Sec. 3.1: utilization = throughput (images/s) x FLOPs per image / the device's peak *achievable*
  FLOP/s (a large Tensor-Core matmul on their V100: 100 TFLOP/s in FP16, not the datasheet's 125).
  The paper's FLOPs are 2 x multiply-adds: its ResNet-50 reaches 71.34 TFLOP/s at 8722.5 images/s,
  8.18 GFLOPs per image = 2 x 4.1 GMACs (``tests/test_papers_utilization.py`` checks it against our
  cost model). Here FLOPs per image are the cost model's ``flops`` (convolutions and matrix
  products, 2 x MACs, what ``torch.utils.flop_counter`` and the paper count), divided by the batch.
* Sec. 2.1, Eq. 1: a network can only reach the peak when its arithmetic intensity exceeds the
  device's compute-to-memory ratio (CMR, the roofline's ridge point, peak / bandwidth). The paper
  draws the V100's FP16 CMR (139) from the datasheet; the ridge here comes from the catalog
  (:mod:`gpuefficient.analysis.hardware`) or from measured ceilings (anything with
  ``as_device_spec()``, such as ``gpuefficient.measure.ceilings.Ceilings``). The paper assumes
  non-linear layers are fused into the preceding linear layer, so the default intensity is the cost
  model's ``fused_intensity``; ``intensity="unfused"`` takes the pessimistic one.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from gpuefficient import checks, dtypes
from gpuefficient.analysis.costs import CostReport
from gpuefficient.analysis.hardware import DeviceSpec

__all__ = ["flops_per_image", "peak_flops", "ridge_point", "utilization", "Bound", "classify_intensity",
           "UtilizationResult", "utilization_of"]

INTENSITIES = ("fused", "unfused")


def flops_per_image(report: CostReport) -> float:
    """Convolution and matrix-product FLOPs (2 x MACs) of one image: the report's total / its batch."""
    if not isinstance(report, CostReport):
        raise TypeError(f"report: got {type(report).__name__}, expected a gpuefficient.analysis.costs.CostReport")
    return report.flops / report.input_shape[0]


def _as_spec(device) -> DeviceSpec:
    if isinstance(device, DeviceSpec):
        return device
    if hasattr(device, "as_device_spec"):  # measured ceilings (gpuefficient.measure.ceilings.Ceilings)
        return device.as_device_spec()
    raise TypeError(f"device: got {type(device).__name__}, expected a hardware.DeviceSpec (the catalog), measured "
                    "Ceilings, or a number of FLOP/s")


def peak_flops(device, dtype="fp16") -> tuple[float, str]:
    """``(FLOP/s, where it comes from)``: a positive number as given, a catalog ``DeviceSpec``'s dense
    peak for ``dtype``, or the best matmul rate that measured ceilings reached for ``dtype``."""
    if isinstance(device, (int, float)) and not isinstance(device, bool):
        value = checks.number("peak", device, 0, low_open=True)
        return value, "given"
    spec = _as_spec(device)
    value = spec.peak_flops(dtype)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"peak: {spec.name} has {value!r} FLOP/s for {dtypes.name(dtype)}, expected a positive "
                         "number (measure the device's ceilings for this dtype)")
    return value, f"{spec.name} {dtypes.name(dtype)}: {spec.source}"


def ridge_point(device, dtype="fp16") -> tuple[float, str]:
    """``(FLOP/byte, where it comes from)``: the device's CMR (peak / bandwidth) for ``dtype``, from the
    catalog or from measured ceilings, or a positive number as given."""
    if isinstance(device, (int, float)) and not isinstance(device, bool):
        return checks.number("ridge", device, 0, low_open=True), "given"
    spec = _as_spec(device)
    value = spec.ridge_point(dtype)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"ridge: {spec.name} gives {value!r} FLOP/byte for {dtypes.name(dtype)}, expected a "
                         "positive number (its peak or its bandwidth is unknown)")
    return value, f"{spec.name} {dtypes.name(dtype)}: {spec.source}"


def utilization(throughput: float, flops_per_image: float, peak: float) -> float:
    """Fraction of ``peak`` FLOP/s sustained: ``throughput`` images/s x ``flops_per_image`` / ``peak``.

    Above 1 means the peak was not the device's achievable one (or the FLOPs are overcounted): it is
    returned, not clipped, so that such an inconsistency shows.
    """
    throughput = checks.number("throughput", throughput, 0, low_open=True)
    flops = checks.number("flops_per_image", flops_per_image, 0, low_open=True)
    peak = checks.number("peak", peak, 0, low_open=True)
    return throughput * flops / peak


@dataclass(frozen=True)
class Bound:
    """A network's intensity against a ridge point: ``compute`` when above (it can reach the peak),
    ``memory`` when at or below (Eq. 1 needs strictly more FLOPs per byte than the CMR)."""

    intensity: float
    ridge: float
    ridge_source: str

    @property
    def ratio(self) -> float:
        return self.intensity / self.ridge

    @property
    def bound(self) -> str:
        return "compute" if self.intensity > self.ridge else "memory"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "bound": self.bound}


def classify_intensity(intensity: float | CostReport, device, dtype=None, which: str = "fused") -> Bound:
    """``intensity`` (FLOP/byte, or a cost report's) against ``device``'s ridge point for ``dtype``.

    With a report, ``dtype`` defaults to the report's own (bytes depend on it: compare like with
    like) and ``which`` picks the fused or the unfused intensity.
    """
    checks.one_of("which", which, INTENSITIES)
    if isinstance(intensity, CostReport):
        report = intensity
        if dtype is not None and dtypes.name(dtype) != report.dtype:
            raise ValueError(f"dtype: got {dtypes.name(dtype)!r}, but the report was made in {report.dtype!r}; "
                             "analyze the model in the dtype you compare with")
        dtype = report.dtype
        intensity = report.fused_intensity if which == "fused" else report.intensity
    value = checks.number("intensity", intensity, 0, low_open=True)
    ridge, source = ridge_point(device, dtype or "fp16")
    return Bound(value, ridge, source)


@dataclass(frozen=True)
class UtilizationResult:
    """Utilization of one network at one batch, with the numbers it comes from."""

    model: str
    batch: int
    throughput: float          # images/s
    flops_per_image: float     # 2 x MACs
    peak_flops: float          # FLOP/s, the denominator
    peak_source: str
    bound: Bound

    @property
    def achieved_flops(self) -> float:
        return self.throughput * self.flops_per_image

    @property
    def utilization(self) -> float:
        return utilization(self.throughput, self.flops_per_image, self.peak_flops)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "bound"}
        b = self.bound
        return {**data, "achieved_flops": self.achieved_flops, "utilization": self.utilization,
                "intensity": b.intensity, "ridge": b.ridge, "ridge_source": b.ridge_source,
                "intensity_over_ridge": b.ratio, "bound": b.bound}


def utilization_of(report: CostReport, throughput: float, device, peak=None,
                   which: str = "fused") -> UtilizationResult:
    """Utilization and intensity class of the network ``report`` describes, at ``throughput`` images/s.

    ``peak`` (the denominator) defaults to ``device``'s; pass measured ceilings or a number to use the
    *achievable* peak the paper uses, while the ridge still comes from ``device``.
    """
    flops = flops_per_image(report)
    value, source = peak_flops(device if peak is None else peak, report.dtype)
    utilization(throughput, flops, value)  # checks throughput > 0 now, not when first read
    return UtilizationResult(model=report.model, batch=report.input_shape[0], throughput=throughput,
                             flops_per_image=flops, peak_flops=value, peak_source=source,
                             bound=classify_intensity(report, device, which=which))
