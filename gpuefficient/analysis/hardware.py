"""Devices as numbers: a catalog of datasheet peaks and a measurement of the device at hand.

A roofline needs two numbers per device and number format: the compute peak (FLOP/s) and the
memory bandwidth (bytes/s). :data:`CATALOG` holds them for the GPUs the book discusses, each
with the document it comes from. What the reader's device actually reaches (datasheet peaks
assume boost clocks and perfect kernels) is measured by ``gpuefficient.measure.ceilings``.

Conventions: FLOP/s count a multiply-add as 2 FLOPs; tensor-core figures are DENSE (NVIDIA's
datasheets since Ampere print the 2:4 structured-sparsity figure, twice the dense one, as the
headline: those are kept apart in ``sparse_tensor_flops``); bandwidth is decimal (1 GB/s = 1e9
B/s); cache sizes are binary, as CUDA reports them (NVIDIA's "50 MB" L2 is 50 MiB).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from gpuefficient import dtypes
from gpuefficient.device import nvidia_driver_present, resolve_device

if TYPE_CHECKING:
    import torch

__all__ = [
    "DeviceSpec",
    "CATALOG",
    "GENERIC_CPU",
    "TENSOR_DTYPES",
    "match_catalog",
    "detect_device",
    "catalog_table",
]

TENSOR_DTYPES = ("tf32", "fp16", "bf16", "fp8", "int8")
GENERIC_CPU = "generic CPU"
MiB = 2**20
T = 1e12

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
        key = dtypes.name(dtype)
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
    its peaks are NaN and its notes point to :func:`gpuefficient.measure.ceilings.measure_ceilings`.
    Without an NVIDIA driver "auto" is the CPU, decided without importing torch.
    """
    if device == "cpu" or (device in (None, "auto") and not nvidia_driver_present()):
        return CATALOG[GENERIC_CPU]
    dev = resolve_device(device)
    if dev.type == "cpu":
        return CATALOG[GENERIC_CPU]
    import torch

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
