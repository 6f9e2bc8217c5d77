"""Devices as numbers: a catalog of datasheet peaks and a measurement of the device at hand.

A roofline needs two numbers per device and number format: the compute peak (FLOP/s) and the
memory bandwidth (bytes/s). :data:`CATALOG` holds them for the GPUs the book discusses, each
with the document it comes from; :func:`measure_ceilings` measures what the reader's device
actually reaches (a large matmul per dtype, a large device-to-device copy), because datasheet
peaks assume boost clocks and perfect kernels.

Conventions: FLOP/s count a multiply-add as 2 FLOPs; tensor-core figures are DENSE (NVIDIA's
datasheets since Ampere print the 2:4 structured-sparsity figure, twice the dense one, as the
headline: those are kept apart in ``sparse_tensor_flops``); bandwidth is decimal (1 GB/s = 1e9
B/s); cache sizes are binary, as CUDA reports them (NVIDIA's "50 MB" L2 is 50 MiB).
"""
from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import torch

from gpuefficient.latency import Measurement, device_name, measure, random_input, resolve_device

__all__ = [
    "DeviceSpec",
    "CATALOG",
    "GENERIC_CPU",
    "TENSOR_DTYPES",
    "dtype_key",
    "match_catalog",
    "detect_device",
    "Ceilings",
    "measure_ceilings",
    "catalog_table",
]

TENSOR_DTYPES = ("tf32", "fp16", "bf16", "fp8", "int8")
GENERIC_CPU = "generic CPU"
MiB = 2**20
GiB = 2**30
T = 1e12

_DTYPE_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32",
    "tf32": "tf32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp8": "fp8", "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8",
    "int8": "int8",
}
_TORCH_DTYPES = {
    getattr(torch, name): key
    for name, key in (("float32", "fp32"), ("float16", "fp16"), ("bfloat16", "bf16"), ("int8", "int8"),
                      ("float8_e4m3fn", "fp8"), ("float8_e5m2", "fp8"))
    if hasattr(torch, name)
}


def dtype_key(dtype: str | torch.dtype) -> str:
    """Normalise a dtype name or torch dtype to a catalog key: fp32, tf32, fp16, bf16, fp8 or int8."""
    if isinstance(dtype, torch.dtype) and dtype in _TORCH_DTYPES:
        return _TORCH_DTYPES[dtype]
    if isinstance(dtype, str):
        key = _DTYPE_ALIASES.get(dtype.lower().removeprefix("torch."))
        if key:
            return key
    raise ValueError(
        f"dtype: got {dtype!r}, expected one of {sorted(set(_DTYPE_ALIASES.values()))} "
        "(or torch.float32/float16/bfloat16/float8_e4m3fn/float8_e5m2/int8)"
    )


@dataclass(frozen=True)
class DeviceSpec:
    """Peak rates, bandwidth and sizes of one device, each number traceable to ``source``.

    ``tensor_flops`` are dense matrix-unit rates by dtype key (int8 in OP/s); ``fp32_flops`` is the
    plain FP32 (CUDA-core / vector) rate. NaN means unknown (a GPU not in the catalog).
    """

    name: str
    kind: str                                  # "gpu" or "cpu"
    fp32_flops: float                          # FLOP/s, no tensor cores
    tensor_flops: Mapping[str, float]          # dense FLOP/s by dtype key
    sparse_tensor_flops: Mapping[str, float]   # 2:4 structured sparsity; empty if none
    memory_bandwidth: float                    # bytes/s
    l2_bytes: int                              # 0 = unknown
    sm_count: int                              # SMs (cores on a CPU); 0 = unknown
    source: str
    notes: str = ""
    architecture: str = ""

    def __post_init__(self):
        if self.kind not in ("gpu", "cpu"):
            raise ValueError(f"kind: got {self.kind!r}, expected 'gpu' or 'cpu'")
        for attr in ("tensor_flops", "sparse_tensor_flops"):
            table = dict(getattr(self, attr))
            bad = sorted(set(table) - set(TENSOR_DTYPES))
            if bad:
                raise ValueError(f"{attr}: got keys {bad}, expected keys among {list(TENSOR_DTYPES)}")
            # read-only: CATALOG is shared by every chapter
            object.__setattr__(self, attr, MappingProxyType(table))

    def peak_flops(self, dtype: str | torch.dtype) -> float:
        """Dense peak for ``dtype`` (FLOP/s; OP/s for int8): fp32 means CUDA cores, "tf32" tensor cores."""
        key = dtype_key(dtype)
        if key == "fp32":
            return self.fp32_flops
        if key not in self.tensor_flops:
            raise ValueError(
                f"dtype: got {dtype!r} ({key!r}), but {self.name} has no {key} figure; "
                f"available: {['fp32', *self.tensor_flops]}"
            )
        return self.tensor_flops[key]

    def ridge_point(self, dtype: str | torch.dtype) -> float:
        """Peak / bandwidth in FLOP/byte: the roofline's ridge, the utilization study's CMR."""
        return self.peak_flops(dtype) / self.memory_bandwidth

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready fields (the mappings copied to dicts)."""
        return {
            "name": self.name, "kind": self.kind, "architecture": self.architecture,
            "fp32_flops": self.fp32_flops,
            "tensor_flops": dict(self.tensor_flops), "sparse_tensor_flops": dict(self.sparse_tensor_flops),
            "memory_bandwidth": self.memory_bandwidth, "l2_bytes": self.l2_bytes, "sm_count": self.sm_count,
            "source": self.source, "notes": self.notes,
        }


def _gpu(name, arch, fp32, dense, sparse, bandwidth, l2_mib, sms, source, notes) -> DeviceSpec:
    """Catalog entry from datasheet units: TFLOP/s, GB/s and MiB."""
    return DeviceSpec(
        name=name, kind="gpu", architecture=arch, fp32_flops=fp32 * T,
        tensor_flops={k: v * T for k, v in dense.items()},
        sparse_tensor_flops={k: v * T for k, v in sparse.items()},
        memory_bandwidth=bandwidth * 1e9, l2_bytes=int(l2_mib * MiB), sm_count=sms, source=source, notes=notes,
    )


_H100_SXM_DENSE = {"tf32": 494.7, "fp16": 989.4, "bf16": 989.4, "fp8": 1978.9, "int8": 1978.9}
_H100_SXM_SPARSE = {"tf32": 989.4, "fp16": 1978.9, "bf16": 1978.9, "fp8": 3957.8, "int8": 3957.8}
_SPARSE_HEADLINE = "The datasheet's headline tensor figures are 2:4-sparse (asterisk); dense = half, stored here. "

# The nominal CPU: the 28-core Skylake-SP Xeon whose roofline EfficientNet-X (Li et al. 2021,
# Fig. 2) draws next to the GPU and TPU.
_XEON_CORES = 28
_XEON_AVX512_ALL_CORE_HZ = 2.3e9      # Platinum 8180 AVX-512 all-core turbo (Xeon Scalable spec update)
_XEON_FLOP_PER_CYCLE = 2 * 16 * 2     # 2 AVX-512 FMA units x 16 fp32 lanes x 2 FLOP per FMA
_XEON_BANDWIDTH = 6 * 2666e6 * 8      # 6 channels x DDR4-2666 (MT/s) x 8 bytes per transfer

CATALOG: dict[str, DeviceSpec] = {
    spec.name: spec
    for spec in (
        _gpu("V100 SXM2", "Volta", 15.7, {"fp16": 125}, {}, 900, 6, 80,
             "NVIDIA Tesla V100 GPU Accelerator datasheet (2018); NVIDIA Tesla V100 GPU Architecture whitepaper (2017)",
             "Tensor figure is FP16 multiply with FP32 accumulate at the 1530 MHz boost clock. Volta has no "
             "TF32/BF16/FP8/INT8 tensor-core modes (INT8 runs on CUDA cores via DP4A) and no structured sparsity."),
        _gpu("T4", "Turing", 8.1, {"fp16": 65, "int8": 130}, {}, 320, 4, 40,
             "NVIDIA T4 Tensor Core GPU datasheet (2019); NVIDIA Turing GPU Architecture whitepaper (2018)",
             "FP16 is mixed precision (FP32 accumulate); figures at the 1590 MHz boost clock, which the 70 W "
             "limit rarely sustains under a long matmul, so measured rates fall well short. "
             "No TF32/BF16, no sparsity."),
        _gpu("A100 SXM 80GB", "Ampere", 19.5,
             {"tf32": 156, "fp16": 312, "bf16": 312, "int8": 624},
             {"tf32": 312, "fp16": 624, "bf16": 624, "int8": 1248}, 2039, 40, 108,
             "NVIDIA A100 Tensor Core GPU datasheet (2021); NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020)",
             "Datasheet prints dense | sparse (asterisk) side by side. 1410 MHz boost. Bandwidth is the 80 GB "
             "SXM4 model's (the 40 GB model has 1555 GB/s and is not matched to this entry)."),
        _gpu("A10", "Ampere", 31.2,
             {"tf32": 62.5, "fp16": 125, "bf16": 125, "int8": 250},
             {"tf32": 125, "fp16": 250, "bf16": 250, "int8": 500}, 600, 6, 72,
             "NVIDIA A10 Tensor Core GPU datasheet (2021); NVIDIA Ampere GA102 GPU Architecture whitepaper (2020)",
             "Datasheet prints dense | sparse (asterisk). SM count and L2 are GA102's as configured on the A10 "
             "(whitepaper), not datasheet figures. 150 W: sustained clocks can sit below the 1695 MHz boost."),
        _gpu("L4", "Ada Lovelace", 30.3,
             {"tf32": 60, "fp16": 121, "bf16": 121, "fp8": 242.5, "int8": 242.5},
             {"tf32": 120, "fp16": 242, "bf16": 242, "fp8": 485, "int8": 485}, 300, 48, 58,
             "NVIDIA L4 Tensor Core GPU datasheet (2023)",
             _SPARSE_HEADLINE + "SMs (58) and L2 (48 MiB) are not in the datasheet: CUDA device properties as "
             "commonly reported (less certain). 72 W: sustained clocks are often below the 2040 MHz boost."),
        _gpu("L40S", "Ada Lovelace", 91.6,
             {"tf32": 183, "fp16": 362.05, "bf16": 362.05, "fp8": 733, "int8": 733},
             {"tf32": 366, "fp16": 733, "bf16": 733, "fp8": 1466, "int8": 1466}, 864, 96, 142,
             "NVIDIA L40S GPU datasheet (2023); NVIDIA Ada Lovelace GPU Architecture whitepaper (2022)",
             "Datasheet prints dense | sparse; its FP16/BF16 pair (362.05 | 733, FP32 accumulate) is not exactly "
             "2x as printed. SMs = 18,176 CUDA cores / 128; L2 96 MiB (full AD102) is not in the datasheet."),
        _gpu("H100 SXM", "Hopper", 67, _H100_SXM_DENSE, _H100_SXM_SPARSE, 3350, 50, 132,
             "NVIDIA H100 Tensor Core GPU datasheet (2023); NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022)",
             _SPARSE_HEADLINE + "Dense values from the whitepaper (TF32 494.7, FP16/BF16 989.4, FP8/INT8 1978.9). "
             "FP32 67 TFLOPS implies the 1980 MHz max boost; the tensor figures imply ~1830 MHz."),
        _gpu("H100 PCIe", "Hopper", 51,
             {"tf32": 378, "fp16": 756, "bf16": 756, "fp8": 1513, "int8": 1513},
             {"tf32": 756, "fp16": 1513, "bf16": 1513, "fp8": 3026, "int8": 3026}, 2000, 50, 114,
             "NVIDIA H100 Tensor Core GPU datasheet (2023); NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022)",
             _SPARSE_HEADLINE + "80 GB HBM2e at 2.0 TB/s, 350 W; SMs and L2 from the whitepaper."),
        _gpu("H200", "Hopper", 67, _H100_SXM_DENSE, _H100_SXM_SPARSE, 4800, 50, 132,
             "NVIDIA H200 Tensor Core GPU datasheet (2024); NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022)",
             _SPARSE_HEADLINE + "The SXM H200: same GH100 compute as the H100 SXM with 141 GB HBM3e at 4.8 TB/s. "
             "SMs and L2 are not in the H200 datasheet: the H100 SXM's (same die configuration)."),
        _gpu("B200", "Blackwell", 75,
             {"tf32": 1125, "fp16": 2250, "bf16": 2250, "fp8": 4500, "int8": 4500},
             {"tf32": 2250, "fp16": 4500, "bf16": 4500, "fp8": 9000, "int8": 9000}, 8000, 126.5, 148,
             "NVIDIA HGX B200 datasheet (2024), per GPU = 8-GPU system figure / 8",
             _SPARSE_HEADLINE + "System totals: FP32 600 TFLOPS, TF32 18, FP16/BF16 36, FP8 and INT8 72 PFLOPS "
             "sparse, 64 TB/s (FP4 not stored). SMs (148) and L2 (126.5 MiB) are NOT in the datasheet: third-party "
             "CUDA device queries, which also report a 7680-bit bus (~7.7 TB/s, not 8). Depends on the 1000 W config."),
        _gpu("RTX 4090", "Ada Lovelace", 82.6,
             {"tf32": 82.6, "fp16": 165.2, "bf16": 165.2, "fp8": 330.3, "int8": 660.6},
             {"tf32": 165.2, "fp16": 330.4, "bf16": 330.4, "fp8": 660.6, "int8": 1321.2}, 1008, 72, 128,
             "NVIDIA Ada Lovelace GPU Architecture whitepaper (2022), appendix table for the GeForce RTX 4090",
             "GeForce runs tensor ops with FP32 accumulate at half rate: FP16/BF16 stored with FP32 accumulate "
             "(165.2, what PyTorch uses); FP16 accumulate would be 330.3. FP8 stored with FP32 accumulate (330.3; "
             "660.6 with FP16 accumulate): uncertain, the whitepaper's first printing lists 660.6 for both. "
             "2520 MHz boost."),
        DeviceSpec(
            name=GENERIC_CPU, kind="cpu", architecture="Skylake-SP",
            fp32_flops=_XEON_CORES * _XEON_FLOP_PER_CYCLE * _XEON_AVX512_ALL_CORE_HZ,
            tensor_flops={}, sparse_tensor_flops={},
            memory_bandwidth=_XEON_BANDWIDTH, l2_bytes=_XEON_CORES * MiB, sm_count=_XEON_CORES,
            source="Intel Xeon Platinum 8180 (2017): Intel ARK and Xeon Scalable processor specification update",
            notes="A nominal model of one 28-core Xeon Platinum 8180 socket (the CPU of EfficientNet-X Fig. 2): "
                  "28 cores x 64 FP32 FLOP/cycle (2 AVX-512 FMA units x 16 lanes x 2) x 2.3 GHz AVX-512 all-core "
                  "turbo; 6 x DDR4-2666 x 8 B. sm_count holds cores; l2_bytes is 1 MiB per core (L3: 38.5 MB). "
                  "No matrix units modelled. The book measures the reader's own CPU with measure_ceilings().",
        ),
    )
}

# Catalog key <- device name as torch.cuda.get_device_name() prints it. Matching is by whole
# words, so "A10" is not "A100", "L4" not "L40S", "H200" not "GH200". Variants whose clocks or
# bandwidth differ from the entry (PCIe V100, 40 GB A100, H100/H200 NVL, RTX 4090 D, laptops,
# MIG slices) are excluded: an unknown GPU is better than wrong numbers.
_MATCH_RULES: tuple[tuple[str, str, str | None], ...] = (
    ("H100 PCIe", r"\bH100\b.*\b(PCIe|HBM2e)\b", r"\bNVL\b"),
    ("H100 SXM", r"\bH100\b", r"\b(PCIe|HBM2e|NVL)\b"),
    ("H200", r"\bH200\b", r"\bNVL\b"),
    ("B200", r"\bB200\b", None),
    ("A100 SXM 80GB", r"\bA100\b.*\b80\s?GB\b", r"\bPCIe\b"),
    ("A10", r"\bA10\b", None),
    ("L40S", r"\bL40S\b", None),
    ("L4", r"\bL4\b", None),
    ("V100 SXM2", r"\bV100\b", r"PCIE|FHHL"),
    ("T4", r"\bT4\b", None),
    ("RTX 4090", r"\bRTX\s?4090\b", r"\b4090\s?D\b|Laptop|Mobile"),
)


def match_catalog(name: str) -> str | None:
    """The CATALOG key for a CUDA device name ("NVIDIA H100 80GB HBM3" -> "H100 SXM"), else None."""
    if not isinstance(name, str):
        raise TypeError(f"name: got {type(name).__name__}, expected the device name as a string")
    if re.search(r"\bMIG\b", name, re.IGNORECASE):
        return None  # a slice: a fraction of the SMs and of the bandwidth
    for key, pattern, exclude in _MATCH_RULES:
        if re.search(pattern, name, re.IGNORECASE) and not (exclude and re.search(exclude, name, re.IGNORECASE)):
            return key
    return None


def detect_device(device: str | torch.device | None = "auto") -> DeviceSpec:
    """The catalog entry of ``device`` (the generic CPU on a CPU); unknown GPUs get NaN peaks.

    An unknown GPU's spec carries what torch reports (name, SMs, L2) so plots can still label it;
    its peaks are NaN and its notes point to :func:`measure_ceilings`.
    """
    dev = resolve_device(device)
    if dev.type == "cpu":
        return CATALOG[GENERIC_CPU]
    props = torch.cuda.get_device_properties(dev)
    key = match_catalog(props.name)
    if key is None:
        return _spec_from_torch(props, "not in catalog")
    spec = CATALOG[key]
    if props.multi_processor_count != spec.sm_count:
        return _spec_from_torch(props, f"name matches catalog entry {key!r} but torch reports "
                                       f"{props.multi_processor_count} SMs, not {spec.sm_count} (MIG slice or variant)")
    return spec


def _spec_from_torch(props, reason: str) -> DeviceSpec:
    nan = float("nan")
    return DeviceSpec(
        name=props.name, kind="gpu", fp32_flops=nan, tensor_flops={k: nan for k in TENSOR_DTYPES},
        sparse_tensor_flops={}, memory_bandwidth=nan, l2_bytes=int(getattr(props, "L2_cache_size", 0)),
        sm_count=props.multi_processor_count, architecture=f"sm_{props.major}{props.minor}",
        source="torch.cuda.get_device_properties (no datasheet figures)",
        notes=f"{reason}: peaks and bandwidth unknown (NaN); use measure_ceilings() for measured ones.",
    )


# ---------------------------------------------------------------------------------------------
# Measured ceilings
# ---------------------------------------------------------------------------------------------

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
_OOM = (torch.cuda.OutOfMemoryError, MemoryError)


@dataclass(frozen=True)
class Ceilings:
    """What this device reached: the best matmul rate per dtype and the copy bandwidth.

    ``copy_bandwidth`` counts bytes read + bytes written (2 x buffer size per copy), the way
    datasheet DRAM bandwidth counts traffic in both directions.
    """

    device: str
    kind: str
    matmul_flops: dict[str, float]     # dtype key -> FLOP/s (best over sizes)
    copy_bandwidth: float              # bytes/s, read + write
    measurements: tuple[Measurement, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    sm_count: int = 0
    l2_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary plus one row per underlying measurement (provenance)."""
        return {
            "device": self.device, "kind": self.kind, "matmul_flops": dict(self.matmul_flops),
            "copy_bandwidth": self.copy_bandwidth, "sm_count": self.sm_count, "l2_bytes": self.l2_bytes,
            "settings": dict(self.settings), "measurements": [m.to_dict() for m in self.measurements],
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
            notes="Achieved, not peak: best square matmul over sizes " + str(self.settings.get("sizes", {}))
                  + "; copy bandwidth counts read + write bytes.",
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
    if quick is not None and not isinstance(quick, bool):
        raise ValueError(f"quick: got {quick!r}, expected None, True or False")
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
                rows += found
                sizes[key] = [m.settings["n"] for m in found]
                rates[key] = max(m.settings["flops"] / m.median for m in found)
        copy_row, note = _copy_ceiling(plan, dev, seed)
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
        copy_bandwidth=copy_row.settings["bytes_moved"] / copy_row.median, measurements=tuple(rows),
        settings={"quick": quick, "sizes": sizes, "copy_buffer_bytes": copy_row.settings["buffer_bytes"],
                  "budget_s": plan.budget_s, "skipped": skipped, "seed": seed},
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
    keys = list(dict.fromkeys(dtype_key(d) for d in dtypes))
    for key in keys:
        if key not in _MEASURABLE:
            raise ValueError(f"dtypes: got {key!r}, measure_ceilings measures {list(_MEASURABLE)}")
        if key == "tf32" and dev.type != "cuda":
            raise ValueError("dtypes: got 'tf32', which is a CUDA (cuBLAS) mode; on the CPU measure 'fp32'")
    return keys


def _matmul_ceiling(key: str, plan: _Plan, dev: torch.device, seed: int, slow_below: float):
    """Measurements of one dtype over growing sizes, and a note on any size skipped (or None)."""
    if slow_below:
        rate = _probe_rate(key, _MIN_MATMUL, dev, seed)
        if rate < slow_below:
            return [], f"skipped: {rate / 1e9:.3g} GFLOP/s at n={_MIN_MATMUL}, over 10x slower than fp32"
    found: list[Measurement] = []
    queue = list(plan.sizes)
    while queue:
        n = queue.pop(0)
        m = _or_none_on_oom(_time_matmul, key, n, dev, plan, seed)
        if m is None:
            if found or n // 2 < _MIN_MATMUL:
                return found, f"out of memory at n={n}"
            queue = [n // 2]
            continue
        found.append(m)
        if queue and m.median * (queue[0] / n) ** 3 > plan.max_call_s:
            return found, f"stopped before n={queue[0]}: one call would take over {plan.max_call_s} s"
    return found, None


_MATMUL_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _operands(key: str, n: int, dev: torch.device, seed: int):
    dtype = _MATMUL_DTYPES[key]
    a = random_input((n, n), dtype, dev, seed)
    b = random_input((n, n), dtype, dev, seed + 1)
    return a, b, torch.empty((n, n), dtype=dtype, device=dev)


def _probe_rate(key: str, n: int, dev: torch.device, seed: int) -> float:
    """FLOP/s of one warm n x n matmul: a cheap check before committing to a full measurement."""
    a, b, c = _operands(key, n, dev, seed)
    return 2 * n**3 / _seconds_per_call(lambda: torch.mm(a, b, out=c), dev)


def _time_matmul(key: str, n: int, dev: torch.device, plan: _Plan, seed: int) -> Measurement:
    a, b, c = _operands(key, n, dev, seed)
    settings = {"op": "matmul", "dtype": key, "n": n, "flops": 2 * n**3}
    mode = contextlib.nullcontext()
    if a.dtype == torch.float32:
        settings["fp32_precision"] = "tf32" if key == "tf32" else "ieee"
        mode = _fp32_matmul_mode(dev, tf32=key == "tf32")
    with mode:
        return _timed(lambda: torch.mm(a, b, out=c), dev, plan, f"matmul {key} n={n}", settings)


def _copy_ceiling(plan: _Plan, dev: torch.device, seed: int):
    """The copy measurement at the planned size (halved on out-of-memory) and a note if halved."""
    nbytes, note = plan.copy_bytes, None
    while True:
        m = _or_none_on_oom(_time_copy, nbytes, dev, plan, seed)
        if m is not None:
            return m, note
        if nbytes // 2 < _MIN_COPY:
            raise ValueError(f"device {dev}: out of memory even for a {_MIN_COPY // MiB} MiB copy buffer")
        nbytes, note = nbytes // 2, f"out of memory at {nbytes // MiB} MiB: halved"


def _time_copy(nbytes: int, dev: torch.device, plan: _Plan, seed: int) -> Measurement:
    src = random_input((nbytes // 4,), torch.float32, dev, seed)
    dst = torch.empty_like(src)
    settings = {"op": "copy", "buffer_bytes": nbytes, "bytes_moved": 2 * nbytes}
    return _timed(lambda: dst.copy_(src), dev, plan, f"copy {nbytes // MiB} MiB", settings)


def _seconds_per_call(fn, dev: torch.device) -> float:
    """Wall time of one synchronised call, after one untimed call (allocation, handles, kernel choice)."""
    fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    start = time.perf_counter()
    fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return max(time.perf_counter() - start, 1e-6)


def _or_none_on_oom(fn, *args):
    """``fn(*args)``, or None when the device ran out of memory (its cache emptied afterwards)."""
    try:
        return fn(*args)
    except _OOM:
        pass
    # outside the except block: the traceback, and the tensors its frames hold, are gone now
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return None


def _timed(fn, dev: torch.device, plan: _Plan, label: str, settings: dict) -> Measurement:
    """Size warm-up and repeats from one probe call so each row costs about ``plan.budget_s``."""
    probe = _seconds_per_call(fn, dev)
    repeats = int(min(100, max(3, plan.budget_s / probe)))
    warmup = int(min(50, max(1, 0.2 * plan.budget_s / probe)))
    return measure(fn, device=dev, warmup=warmup, repeats=repeats, label=label, settings=settings)


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


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------

def catalog_table(specs=None) -> list[dict[str, Any]]:
    """One row per device (dense TFLOP/s, GB/s, MiB, fp16 ridge point, source); NaN where absent.

    ``specs`` defaults to every CATALOG entry; pass e.g. ``[*CATALOG.values(), ceilings.as_device_spec()]``
    to add the measured device. Rows load straight into ``pandas.DataFrame``.
    """
    nan = float("nan")
    rows = []
    for spec in CATALOG.values() if specs is None else specs:
        tensor = {k: spec.tensor_flops.get(k, nan) / T for k in TENSOR_DTYPES}
        rows.append({
            "name": spec.name,
            "kind": spec.kind,
            "fp32_tflops": spec.fp32_flops / T,
            **{f"{k}_{'tops' if k == 'int8' else 'tflops'}": v for k, v in tensor.items()},
            "bandwidth_gbs": spec.memory_bandwidth / 1e9,
            "l2_mib": spec.l2_bytes / MiB if spec.l2_bytes else nan,
            "sms": spec.sm_count,
            "ridge_fp16": spec.ridge_point("fp16") if "fp16" in spec.tensor_flops else nan,
            "source": spec.source,
        })
    return rows
