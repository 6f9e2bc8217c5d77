"""Tests of gpuefficient.analysis.hardware and gpuefficient.measure.ceilings: catalog invariants, name matching, peaks, measured ceilings."""
from __future__ import annotations

import json
import math
import time
from types import SimpleNamespace

import pytest
import torch

from gpuefficient.analysis import hardware
from gpuefficient.analysis.hardware import CATALOG, GENERIC_CPU, catalog_table, detect_device, match_catalog
from gpuefficient.measure import ceilings as ceilings_module
from gpuefficient.measure.ceilings import measure_ceilings

GPUS = [spec for spec in CATALOG.values() if spec.kind == "gpu"]
NO_SPARSITY = {"Volta", "Turing"}  # 2:4 structured sparsity arrived with Ampere


# --- catalog -----------------------------------------------------------------------------------

def test_catalog_has_the_devices_the_book_uses():
    expected = {"V100 SXM2", "T4", "A100 SXM 80GB", "A10", "L4", "L40S", "H100 SXM", "H100 PCIe", "H200",
                "B200", "RTX 4090", GENERIC_CPU}
    assert set(CATALOG) == expected
    assert all(key == spec.name for key, spec in CATALOG.items())


@pytest.mark.parametrize("spec", CATALOG.values(), ids=list(CATALOG))
def test_every_entry_is_positive_and_sourced(spec):
    assert spec.fp32_flops > 0 and math.isfinite(spec.fp32_flops)
    assert spec.memory_bandwidth > 0 and math.isfinite(spec.memory_bandwidth)
    assert spec.l2_bytes > 0 and spec.sm_count > 0
    assert spec.source and spec.notes
    assert all(v > 0 for v in (*spec.tensor_flops.values(), *spec.sparse_tensor_flops.values()))


@pytest.mark.parametrize("spec", GPUS, ids=[s.name for s in GPUS])
def test_gpu_tensor_cores_beat_cuda_cores(spec):
    assert spec.peak_flops("fp16") > spec.fp32_flops


@pytest.mark.parametrize("spec", GPUS, ids=[s.name for s in GPUS])
def test_sparse_figures_are_kept_apart_and_twice_dense(spec):
    if spec.architecture in NO_SPARSITY:
        assert dict(spec.sparse_tensor_flops) == {}
        return
    assert set(spec.sparse_tensor_flops) == set(spec.tensor_flops)
    for key, dense in spec.tensor_flops.items():
        sparse = spec.sparse_tensor_flops[key]
        assert dense <= sparse
        # 1.5 %: the L40S datasheet prints 362.05 | 733 for FP16/BF16
        assert sparse == pytest.approx(2 * dense, rel=0.015), key


#: Every catalog figure as its source prints it, device by device (independent of hardware.py's literals: a
#: change of any one number there fails test_every_catalog_figure_is_its_source_value). Units as the datasheets
#: print them: FP32 and tensor rates in TFLOP/s (INT8 in TOPS), dense | 2:4 sparse per dtype, bandwidth in GB/s,
#: L2 in MB as NVIDIA writes it (binary: MiB), SMs. Where a datasheet prints only the sparse figure (with an
#: asterisk) the dense one is half of it, except where the whitepaper prints the dense figure (H100: 494.7 etc.).
DATASHEET = {
    "V100 SXM2": dict(
        source="NVIDIA Tesla V100 datasheet (2018), SXM2 column: 15.7 TFLOPS FP32, 125 tensor, 900 GB/s; "
               "V100 whitepaper (2017): 80 SMs, 6144 KB L2",
        fp32=15.7, tensor={"fp16": (125, None)}, bandwidth=900, l2_mib=6, sms=80),
    "T4": dict(
        source="NVIDIA T4 datasheet (2019): 8.1 TFLOPS FP32, 65 FP16/FP32 mixed, 130 INT8 TOPS, 320 GB/s; "
               "Turing whitepaper (2018): 40 SMs, 4 MB L2",
        fp32=8.1, tensor={"fp16": (65, None), "int8": (130, None)}, bandwidth=320, l2_mib=4, sms=40),
    "A100 SXM 80GB": dict(
        source="NVIDIA A100 datasheet (2021), 80GB SXM column, dense | sparse: TF32 156 | 312, FP16/BF16 312 | 624, "
               "INT8 624 | 1248, 2,039 GB/s; A100 whitepaper (2020): 108 SMs, 40 MB L2",
        fp32=19.5, tensor={"tf32": (156, 312), "fp16": (312, 624), "bf16": (312, 624), "int8": (624, 1248)},
        bandwidth=2039, l2_mib=40, sms=108),
    "A10": dict(
        source="NVIDIA A10 datasheet (2021), dense | sparse: TF32 62.5 | 125, FP16/BF16 125 | 250, INT8 250 | 500, "
               "600 GB/s; GA102 whitepaper (2020) as configured on the A10: 72 SMs, 6 MB L2",
        fp32=31.2, tensor={"tf32": (62.5, 125), "fp16": (125, 250), "bf16": (125, 250), "int8": (250, 500)},
        bandwidth=600, l2_mib=6, sms=72),
    "L4": dict(
        source="NVIDIA L4 datasheet (2023), sparse (asterisk): TF32 120, FP16/BF16 242, FP8/INT8 485; FP32 30.3, "
               "300 GB/s; 58 SMs and 48 MB L2 from CUDA device properties",
        fp32=30.3, tensor={"tf32": (60, 120), "fp16": (121, 242), "bf16": (121, 242), "fp8": (242.5, 485),
                           "int8": (242.5, 485)}, bandwidth=300, l2_mib=48, sms=58),
    "L40S": dict(
        source="NVIDIA L40S datasheet (2023), dense | sparse: TF32 183 | 366, FP16/BF16 362.05 | 733, FP8/INT8 "
               "733 | 1466, FP32 91.6, 864 GB/s; 18,176 CUDA cores / 128 = 142 SMs; Ada whitepaper: 96 MB L2",
        fp32=91.6, tensor={"tf32": (183, 366), "fp16": (362.05, 733), "bf16": (362.05, 733), "fp8": (733, 1466),
                           "int8": (733, 1466)}, bandwidth=864, l2_mib=96, sms=142),
    "H100 SXM": dict(
        source="NVIDIA H100 whitepaper (2022), SXM5 dense: TF32 494.7, FP16/BF16 989.4, FP8/INT8 1978.9 (the "
               "datasheet's sparse 989 / 1979 / 3958 are twice these); datasheet (2023): FP32 67, 3.35 TB/s; "
               "whitepaper: 132 SMs, 50 MB L2",
        fp32=67, tensor={"tf32": (494.7, 989.4), "fp16": (989.4, 1978.9), "bf16": (989.4, 1978.9),
                         "fp8": (1978.9, 3957.8), "int8": (1978.9, 3957.8)}, bandwidth=3350, l2_mib=50, sms=132),
    "H100 PCIe": dict(
        source="NVIDIA H100 datasheet (2023), PCIe column, sparse (asterisk): TF32 756, FP16/BF16 1513, FP8/INT8 "
               "3026; FP32 51, 2 TB/s; whitepaper (2022): 114 SMs, 50 MB L2",
        fp32=51, tensor={"tf32": (378, 756), "fp16": (756, 1513), "bf16": (756, 1513), "fp8": (1513, 3026),
                         "int8": (1513, 3026)}, bandwidth=2000, l2_mib=50, sms=114),
    "H200": dict(
        source="NVIDIA H200 datasheet (2024), SXM column: the H100 SXM's compute, 4.8 TB/s; SMs and L2 the H100 "
               "SXM's (whitepaper, same die configuration)",
        fp32=67, tensor={"tf32": (494.7, 989.4), "fp16": (989.4, 1978.9), "bf16": (989.4, 1978.9),
                         "fp8": (1978.9, 3957.8), "int8": (1978.9, 3957.8)}, bandwidth=4800, l2_mib=50, sms=132),
    "B200": dict(
        source="NVIDIA HGX B200 datasheet (2024), 8-GPU totals / 8, sparse: TF32 18, FP16/BF16 36, FP8/INT8 72 "
               "PFLOPS; FP32 600 TFLOPS; 64 TB/s. 148 SMs and 126.5 MB L2 from third-party CUDA device queries",
        fp32=600 / 8, tensor={"tf32": (18e3 / 16, 18e3 / 8), "fp16": (36e3 / 16, 36e3 / 8),
                              "bf16": (36e3 / 16, 36e3 / 8), "fp8": (72e3 / 16, 72e3 / 8),
                              "int8": (72e3 / 16, 72e3 / 8)}, bandwidth=64e3 / 8, l2_mib=126.5, sms=148),
    "RTX 4090": dict(
        source="NVIDIA Ada Lovelace whitepaper (2022), appendix, GeForce RTX 4090, dense | sparse: TF32 82.6 | "
               "165.2, FP16/BF16 with FP32 accumulate 165.2 | 330.4, FP8 with FP32 accumulate 330.3 | 660.6, INT8 "
               "660.6 | 1321.2; FP32 82.6; 1008 GB/s; 72 MB L2; 128 SMs",
        fp32=82.6, tensor={"tf32": (82.6, 165.2), "fp16": (165.2, 330.4), "bf16": (165.2, 330.4),
                           "fp8": (330.3, 660.6), "int8": (660.6, 1321.2)}, bandwidth=1008, l2_mib=72, sms=128),
    GENERIC_CPU: dict(
        source="Intel Xeon Platinum 8180 (ARK; Xeon Scalable specification update): 28 cores, 2.3 GHz AVX-512 "
               "all-core turbo, 2 AVX-512 FMA units (64 FP32 FLOP/cycle/core): 4,121.6 GFLOP/s; 6 channels of "
               "DDR4-2666: 127.968 GB/s; 1 MB L2 per core",
        fp32=4.1216, tensor={}, bandwidth=127.968, l2_mib=28, sms=28),
}


def test_the_datasheet_table_covers_the_catalog():
    assert set(DATASHEET) == set(CATALOG)


@pytest.mark.parametrize("name", list(DATASHEET))
def test_every_catalog_figure_is_its_source_value(name):
    spec, sheet = CATALOG[name], DATASHEET[name]
    close = lambda value: pytest.approx(value, rel=1e-9)  # noqa: E731
    assert spec.fp32_flops == close(sheet["fp32"] * 1e12)
    assert dict(spec.tensor_flops) == {k: close(dense * 1e12) for k, (dense, _) in sheet["tensor"].items()}
    assert dict(spec.sparse_tensor_flops) == {k: close(sparse * 1e12) for k, (_, sparse) in sheet["tensor"].items()
                                              if sparse is not None}
    assert spec.memory_bandwidth == close(sheet["bandwidth"] * 1e9)
    assert spec.l2_bytes == int(sheet["l2_mib"] * 2**20) and spec.sm_count == sheet["sms"]
    assert spec.source  # the entry names its documents; DATASHEET's source says where each figure above is printed


def test_ridge_points_match_the_papers():
    # H100 SXM: 989.4 TFLOP/s / 3.35 TB/s; V100: the utilization study's FP16 CMR of 139
    assert CATALOG["H100 SXM"].ridge_point("fp16") == pytest.approx(989.4e12 / 3.35e12, rel=1e-6)
    assert CATALOG["H100 SXM"].ridge_point(torch.float16) == pytest.approx(295.3, abs=0.1)
    assert round(CATALOG["V100 SXM2"].ridge_point("fp16")) == 139
    assert CATALOG["H200"].ridge_point("fp16") < CATALOG["H100 SXM"].ridge_point("fp16")


def test_generic_cpu_says_how_to_measure_the_real_one():
    cpu = CATALOG[GENERIC_CPU]
    assert cpu.kind == "cpu" and cpu.tensor_flops == {} and "measure_ceilings" in cpu.notes


def test_catalog_entries_are_read_only():
    with pytest.raises(TypeError):
        CATALOG["H100 SXM"].tensor_flops["fp16"] = 1.0
    with pytest.raises(AttributeError):
        CATALOG["H100 SXM"].memory_bandwidth = 1.0


def test_bad_tensor_key_rejected():
    with pytest.raises(ValueError, match="fp64"):
        hardware.DeviceSpec("x", "gpu", 1.0, {"fp64": 1.0}, {}, 1.0, 1, 1, "s")


# --- peak_flops ----------------------------------------------------------------------------------

def test_peak_flops_accepts_torch_dtypes_and_names():
    h100 = CATALOG["H100 SXM"]
    assert h100.peak_flops(torch.float32) == h100.peak_flops("fp32") == h100.fp32_flops
    assert h100.peak_flops("tf32") == h100.tensor_flops["tf32"] != h100.fp32_flops
    assert h100.peak_flops(torch.float16) == h100.peak_flops("half") == h100.peak_flops("FP16") == 989.4e12
    assert h100.peak_flops(torch.bfloat16) == h100.peak_flops("bfloat16")
    assert h100.peak_flops(torch.float8_e4m3fn) == h100.peak_flops("fp8")
    assert h100.peak_flops(torch.int8) == h100.tensor_flops["int8"]


@pytest.mark.parametrize("bad", ["fp64", torch.float64, "int4", 16])
def test_peak_flops_names_an_unknown_dtype(bad):
    with pytest.raises(ValueError, match="dtype: got") as err:
        CATALOG["A100 SXM 80GB"].peak_flops(bad)
    assert repr(bad) in str(err.value)


def test_peak_flops_names_the_missing_key_and_the_available_ones():
    with pytest.raises(ValueError) as err:
        CATALOG["V100 SXM2"].peak_flops(torch.bfloat16)
    message = str(err.value)
    assert "bf16" in message and "V100 SXM2" in message and "fp16" in message


# --- name matching ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, key", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA A10", "A10"),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
    ("NVIDIA L4", "L4"),
    ("NVIDIA L40S", "L40S"),
    ("Tesla V100-SXM2-32GB", "V100 SXM2"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla T4", "T4"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("NVIDIA H200", "H200"),
    ("NVIDIA B200", "B200"),
])
def test_match_catalog(name, key):
    assert match_catalog(name) == key


@pytest.mark.parametrize("name", [
    "NVIDIA A10G",                       # AWS variant, different clocks
    "NVIDIA L40",                        # not the L40S
    "NVIDIA H100 NVL",
    "NVIDIA H200 NVL",
    "NVIDIA GH200 480GB",                # contains "H200"
    "NVIDIA GB200",                      # contains "B200"
    "NVIDIA A100-SXM4-40GB",             # 1555 GB/s, not the 80 GB entry
    "NVIDIA A100 80GB PCIe",
    "Tesla V100-PCIE-16GB",
    "Tesla V100S-PCIE-32GB",
    "NVIDIA GeForce RTX 4090 D",
    "NVIDIA GeForce RTX 4090 Laptop GPU",
    "NVIDIA A100-SXM4-80GB MIG 1g.10gb",
    "NVIDIA GeForce RTX 3090",
    "NVIDIA T400",
])
def test_match_catalog_refuses_lookalikes(name):
    assert match_catalog(name) is None


# --- detect_device ------------------------------------------------------------------------------

def test_detect_device_on_cpu_is_the_generic_cpu():
    assert detect_device("cpu") is CATALOG[GENERIC_CPU]


def _fake_cuda(monkeypatch, name, sms):
    props = SimpleNamespace(name=name, multi_processor_count=sms, L2_cache_size=50 * 2**20, major=9, minor=0)
    monkeypatch.setattr(hardware, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)


def test_detect_device_maps_a_catalog_gpu(monkeypatch):
    _fake_cuda(monkeypatch, "NVIDIA H100 80GB HBM3", 132)
    assert detect_device("cuda") is CATALOG["H100 SXM"]


@pytest.mark.parametrize("name, sms", [("NVIDIA RTX PRO 6000 Blackwell", 188), ("NVIDIA H100 80GB HBM3", 16)])
def test_detect_device_unknown_or_sliced_gpu_gets_nan_peaks(monkeypatch, name, sms):
    _fake_cuda(monkeypatch, name, sms)
    spec = detect_device("cuda")
    assert spec.name == name and spec.sm_count == sms and spec.l2_bytes == 50 * 2**20
    assert math.isnan(spec.peak_flops("fp16")) and math.isnan(spec.memory_bandwidth)
    assert "measure_ceilings()" in spec.notes


# --- measured ceilings --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cpu_ceilings():
    from gpuefficient.device import software_versions

    software_versions()  # one-time cost (imports timm), not the measurement's
    precision = torch.get_float32_matmul_precision()
    start = time.perf_counter()
    result = measure_ceilings("cpu")
    elapsed = time.perf_counter() - start
    assert torch.get_float32_matmul_precision() == precision  # fp32 precision pin undone
    return result, elapsed


def test_measure_ceilings_cpu_quick(cpu_ceilings):
    ceilings, elapsed = cpu_ceilings
    assert elapsed < 10, f"quick mode took {elapsed:.1f} s"
    assert ceilings.kind == "cpu" and ceilings.quick is True
    fp32 = ceilings.matmul_flops["fp32"]
    assert 1e9 < fp32 < 10e12
    assert all(math.isfinite(v) and v > 0 for v in ceilings.matmul_flops.values())
    assert 1e8 < ceilings.copy_bandwidth < 1e13
    assert {m.task.details["op"] for m in ceilings.measurements} == {"matmul", "copy"}
    best = max(m.task.details["flops"] / m.median for m in ceilings.measurements if m.task.details["op"] == "matmul"
               and m.task.dtype == "fp32")
    assert fp32 == best


def test_ceilings_serialise_and_become_a_device_spec(cpu_ceilings):
    ceilings, _ = cpu_ceilings
    data = json.loads(json.dumps(ceilings.to_dict()))
    assert data["matmul_flops"]["fp32"] == ceilings.matmul_flops["fp32"]
    assert len(data["measurements"]) == len(ceilings.measurements)
    spec = ceilings.as_device_spec()
    assert spec.peak_flops(torch.float32) == ceilings.matmul_flops["fp32"]
    assert spec.ridge_point("fp32") == pytest.approx(ceilings.matmul_flops["fp32"] / ceilings.copy_bandwidth)
    rows = catalog_table([*CATALOG.values(), spec])
    assert rows[-1]["name"].endswith("(measured)") and rows[-1]["bandwidth_gbs"] > 0


@pytest.mark.parametrize("dtypes", [["tf32"], ["int8"], ["fp64"]])
def test_measure_ceilings_rejects_unmeasurable_dtypes(dtypes):
    with pytest.raises(ValueError, match="dtype"):
        measure_ceilings("cpu", dtypes=dtypes)


def test_measure_ceilings_rejects_bad_quick():
    with pytest.raises(ValueError, match="quick"):
        measure_ceilings("cpu", quick="yes")


def test_out_of_memory_retries_a_smaller_size(monkeypatch):
    tiny = ceilings_module._Plan(sizes=(512, 1024), budget_s=0.02, max_call_s=1.0, copy_bytes=16 * 2**20)
    monkeypatch.setitem(ceilings_module._PLANS, ("cpu", True), tiny)
    real = ceilings_module._time_matmul

    def short_of_memory(key, n, *args):
        if n >= 512:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(key, n, *args)

    monkeypatch.setattr(ceilings_module, "_time_matmul", short_of_memory)
    ceilings = measure_ceilings("cpu", dtypes=[torch.float32], quick=True)
    assert ceilings.sizes == {"fp32": [256]}
    assert ceilings.matmul_flops["fp32"] > 0


def test_default_cpu_bf16_dropped_when_absurdly_slow(monkeypatch):
    tiny = ceilings_module._Plan(sizes=(256,), budget_s=0.02, max_call_s=1.0, copy_bytes=16 * 2**20)
    monkeypatch.setitem(ceilings_module._PLANS, ("cpu", True), tiny)
    monkeypatch.setattr(ceilings_module, "_probe_rate", lambda *args: 1e6)  # 1 MFLOP/s
    ceilings = measure_ceilings("cpu")
    assert set(ceilings.matmul_flops) == {"fp32"}
    assert "10x slower" in ceilings.skipped["bf16"]


def test_growth_stops_before_a_call_would_take_too_long(monkeypatch):
    tiny = ceilings_module._Plan(sizes=(256, 4096), budget_s=0.02, max_call_s=1e-6, copy_bytes=16 * 2**20)
    monkeypatch.setitem(ceilings_module._PLANS, ("cpu", True), tiny)
    ceilings = measure_ceilings("cpu", dtypes="fp16")  # explicit: measured even where slow
    assert ceilings.sizes == {"fp16": [256]}
    assert "stopped before n=4096" in ceilings.skipped["fp16"]


def test_fp32_mode_pins_and_restores_cuda_precision():
    """The CUDA TF32 switch is plain state: testable without a GPU."""
    matmul = torch.backends.cuda.matmul
    if not hasattr(torch.backends, "fp32_precision"):
        pytest.skip("torch < 2.9: legacy allow_tf32 only")
    before = torch.get_float32_matmul_precision()
    for user_setting in ("high", "highest"):
        torch.set_float32_matmul_precision(user_setting)
        saved = matmul.fp32_precision
        for tf32 in (True, False):
            with ceilings_module._fp32_matmul_mode(torch.device("cuda"), tf32=tf32):
                assert matmul.fp32_precision == ("tf32" if tf32 else "ieee")
            assert matmul.fp32_precision == saved
            assert torch.get_float32_matmul_precision() == user_setting  # no "mixed API" error
    torch.set_float32_matmul_precision(before)


# --- table --------------------------------------------------------------------------------------

def test_catalog_table_rows():
    rows = catalog_table()
    assert [r["name"] for r in rows] == list(CATALOG)
    assert len({tuple(r) for r in rows}) == 1  # same columns in every row
    h100 = next(r for r in rows if r["name"] == "H100 SXM")
    assert h100["fp16_tflops"] == pytest.approx(989.4) and h100["bandwidth_gbs"] == pytest.approx(3350)
    assert h100["ridge_fp16"] == pytest.approx(295.3, abs=0.1) and h100["l2_mib"] == 50 and h100["sms"] == 132
    v100 = next(r for r in rows if r["name"] == "V100 SXM2")
    assert math.isnan(v100["tf32_tflops"]) and v100["source"]
