"""The roofline model and the EfficientNet-X latency model built on it.

Attainable rate = min(peak, intensity x bandwidth) (Williams et al., 2009). The ridge point
peak / bandwidth is what the GPU-utilization study calls the compute-to-memory ratio (CMR): an
operation needs more FLOPs per byte than that to be able to reach the peak. EfficientNet-X
(Li et al., CVPR 2021, Eq. 1) writes latency = W / C = W / (C_ideal x E), where C_ideal is the
roofline's attainable rate at the model's intensity and E the execution efficiency.
"""
from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any, Mapping, NamedTuple

import numpy as np

from gpuefficient import checks

__all__ = ["Roofline", "Work", "latency_model", "execution_efficiency", "conv_work", "dwsep_work", "place_layers",
           "family", "similar_intensity_pairs", "efficiency_gap", "ridge_moves"]


@dataclass(frozen=True)
class Roofline:
    """One device's roofline for one number format: a compute peak and a memory bandwidth."""

    peak_flops: float   # FLOP/s
    bandwidth: float    # bytes/s
    label: str = ""

    def __post_init__(self):
        for name in ("peak_flops", "bandwidth"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: got {value!r}, expected a positive finite number")

    @classmethod
    def from_device(cls, spec, dtype="fp16", label: str | None = None) -> "Roofline":
        """The roofline of a ``hardware.DeviceSpec`` for ``dtype`` (its dense peak)."""
        return cls(spec.peak_flops(dtype), spec.memory_bandwidth, label or f"{spec.name} ({dtype})")

    @property
    def ridge_point(self) -> float:
        """Intensity (FLOP/byte) where the memory slope meets the compute roof: the CMR."""
        return self.peak_flops / self.bandwidth

    def attainable(self, intensity):
        """Best FLOP/s any kernel of this intensity can reach (works on arrays)."""
        return np.minimum(self.peak_flops, _amounts("intensity", intensity) * self.bandwidth)

    def bound(self, intensity) -> str:
        """"compute" at or right of the ridge point, "memory" left of it."""
        return "compute" if float(_amounts("intensity", intensity)) >= self.ridge_point else "memory"

    def time(self, flops, nbytes):
        """Lower bound on execution time: max(compute time, memory time)."""
        return np.maximum(_amounts("flops", flops) / self.peak_flops, _amounts("nbytes", nbytes) / self.bandwidth)


def _amounts(name: str, values) -> np.ndarray:
    """``values`` as a float array of finite amounts >= 0 (work, bytes, intensity): a negative or NaN
    amount would give a time or a rate that looks like a result."""
    array = np.asarray(values, dtype=float)
    bad = array[~(np.isfinite(array) & (array >= 0))]
    if bad.size:
        raise ValueError(f"{name}: got {float(bad.flat[0])!r}, expected finite amounts >= 0")
    return array


def latency_model(flops: float, ideal_rate: float, efficiency: float) -> float:
    """EfficientNet-X Eq. 1: latency = W / (C_ideal x E), in seconds."""
    checks.number("flops", flops, 0)
    checks.number("ideal_rate", ideal_rate, 0, low_open=True)
    checks.number("efficiency", efficiency, 0, 1, low_open=True)
    return flops / (ideal_rate * efficiency)


def execution_efficiency(flops: float, intensity: float, latency_s: float, roofline: Roofline) -> float:
    """E = achieved rate / roofline rate at the model's intensity (EfficientNet-X, Table 3's E)."""
    checks.number("flops", flops, 0)
    checks.number("latency_s", latency_s, 0, low_open=True)
    return (flops / latency_s) / float(roofline.attainable(intensity))


class Work(NamedTuple):
    """FLOPs, bytes and intensity of an operation."""

    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes


def _check_positive(**values):
    for name, value in values.items():
        checks.number(name, value, 0, low_open=True)


def conv_work(n: int, h: int, w: int, c: int, k: int, element_bytes: int = 2) -> Work:
    """EfficientNet-X Eq. 2, a KxK convolution C -> C at stride 1, with explicit units.

    The paper counts multiply-adds over elements: W = NHWC^2K^2 and memory = 2NHWC + C^2K^2
    (input and output activations plus weights). Here FLOPs = 2 x multiply-adds and bytes =
    elements x ``element_bytes``, so I = (2 / element_bytes) x the paper's ratio: equal for FP16.
    """
    _check_positive(n=n, h=h, w=w, c=c, k=k, element_bytes=element_bytes)
    return Work(2 * n * h * w * c * c * k * k, element_bytes * (2 * n * h * w * c + c * c * k * k))


def dwsep_work(n: int, h: int, w: int, c: int, k: int, element_bytes: int = 2) -> Work:
    """EfficientNet-X Eq. 2, a depthwise KxK plus a pointwise C -> C convolution.

    Multiply-adds NHWC(C + K^2); memory 4NHWC + CK^2 + C^2 elements: the depthwise layer reads
    and writes an activation, the pointwise layer reads it back and writes its output.
    """
    _check_positive(n=n, h=h, w=w, c=c, k=k, element_bytes=element_bytes)
    return Work(2 * n * h * w * c * (c + k * k), element_bytes * (4 * n * h * w * c + c * k * k + c * c))


def place_layers(report, roofline: Roofline) -> list[dict[str, Any]]:
    """Each layer of a ``costs.CostReport`` on ``roofline``: attainable rate, bound and time floor."""
    rows = []
    for layer in report.layers:
        if not layer.flops:
            continue  # pure data movement has no point on a FLOP/s axis
        rows.append({
            "name": layer.name, "op": layer.op, "kind": layer.kind,
            "flops": layer.flops, "bytes": layer.bytes, "intensity": layer.intensity,
            "attainable_flops": float(roofline.attainable(layer.intensity)),
            "bound": roofline.bound(layer.intensity),
            "time_floor_s": float(roofline.time(layer.flops, layer.bytes)),
        })
    return rows


def family(name: str) -> str:
    """A network's family from its name: the leading letters ("resnet50" -> "resnet", "regnety_008" ->
    "regnety"), so that pairs of the same design are not counted as different networks."""
    if not isinstance(name, str) or not re.match(r"[A-Za-z]", name):
        raise ValueError(f"name: got {name!r}, expected a network name starting with a letter")
    return re.match(r"[A-Za-z]+", name).group(0).lower()


def similar_intensity_pairs(intensities: Mapping[str, float], tolerance: float = 0.2) -> list[tuple[str, str]]:
    """Pairs of networks of different families whose intensities differ by at most ``tolerance``
    (larger / smaller <= 1 + tolerance): the networks EfficientNet-X compares when it says that similar
    intensity can come with very different execution efficiency E. Chosen from counts, before timing."""
    checks.number("tolerance", tolerance, 0, low_open=True)
    values = {name: float(_amounts(f"intensities[{name!r}]", value)) for name, value in dict(intensities).items()}
    zero = [name for name, value in values.items() if value == 0]
    if zero:
        raise ValueError(f"intensities[{zero[0]!r}]: got 0, expected an intensity > 0 (FLOP/byte)")
    names = sorted(values, key=values.get)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if family(a) != family(b) and values[b] <= values[a] * (1 + tolerance)]


def efficiency_gap(efficiency: Mapping[str, float], pairs) -> float:
    """The largest ratio higher E / lower E over ``pairs`` (from :func:`similar_intensity_pairs`)."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs: got none, expected at least one (a, b) pair of networks")
    gaps = []
    for a, b in pairs:
        missing = [n for n in (a, b) if n not in efficiency]
        if missing:
            raise ValueError(f"pairs: {missing[0]!r} has no efficiency, expected one of {sorted(efficiency)}")
        ea, eb = (checks.number(f"efficiency[{n!r}]", efficiency[n], 0, low_open=True) for n in (a, b))
        gaps.append(max(ea, eb) / min(ea, eb))
    return max(gaps)


def ridge_moves(ridges: Mapping[str, float]) -> list[tuple[str, str, float]]:
    """(older, newer, newer / older ridge point) for consecutive devices of ``ridges`` (given in release
    order): > 1 where the ridge moved right, so prose about "each generation" can be generated, not typed."""
    items = [(name, float(_amounts(f"ridges[{name!r}]", value))) for name, value in dict(ridges).items()]
    if len(items) < 2:
        raise ValueError(f"ridges: got {len(items)} device(s), expected at least 2 in release order")
    if any(value == 0 for _, value in items):
        raise ValueError(f"ridges: got {dict(items)}, expected ridge points > 0")
    return [(a, b, vb / va) for (a, va), (b, vb) in zip(items, items[1:])]
