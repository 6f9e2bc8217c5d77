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


@pytest.mark.parametrize("key, dtype, dense", [
    ("A100 SXM 80GB", "fp16", 312e12), ("A100 SXM 80GB", "tf32", 156e12),
    ("H100 SXM", "fp16", 989.4e12), ("H100 SXM", "tf32", 494.7e12), ("H100 SXM", "fp8", 1978.9e12),
    ("H100 PCIe", "bf16", 756e12), ("L4", "fp16", 121e12), ("L40S", "fp8", 733e12),
    ("B200", "bf16", 2.25e15), ("RTX 4090", "fp16", 165.2e12), ("T4", "int8", 130e12),
])
def test_dense_not_the_sparse_headline(key, dtype, dense):
    assert CATALOG[key].peak_flops(dtype) == pytest.approx(dense)


def test_ridge_points_match_the_papers():
    # H100 SXM: 989.4 TFLOP/s / 3.35 TB/s; V100: the utilization study's FP16 CMR of 139
    assert CATALOG["H100 SXM"].ridge_point("fp16") == pytest.approx(989.4e12 / 3.35e12, rel=1e-6)
    assert CATALOG["H100 SXM"].ridge_point(torch.float16) == pytest.approx(295.3, abs=0.1)
    assert round(CATALOG["V100 SXM2"].ridge_point("fp16")) == 139
    assert CATALOG["H200"].ridge_point("fp16") < CATALOG["H100 SXM"].ridge_point("fp16")


def test_generic_cpu_is_derived_from_its_parts():
    cpu = CATALOG[GENERIC_CPU]
    assert cpu.kind == "cpu"
    assert cpu.fp32_flops == pytest.approx(28 * (2 * 16 * 2) * 2.3e9)
    assert cpu.memory_bandwidth == pytest.approx(6 * 2666e6 * 8)
    assert "measure_ceilings" in cpu.notes


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
