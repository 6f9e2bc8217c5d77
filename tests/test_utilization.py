"""Utilization (analysis.utilization) and throughput at the largest batch (measure.throughput)."""
import math
import time

import pytest
import torch
from torch import nn

from gpuefficient.analysis.costs import analyze
from gpuefficient.analysis.hardware import CATALOG, GENERIC_CPU
from gpuefficient.analysis.utilization import (classify_intensity, flops_per_image, peak_flops, ridge_point,
                                               utilization, utilization_of)
from gpuefficient.measure.throughput import (estimate_memory_bytes, find_max_batch, max_batch, measure_throughput,
                                             utilization_report)
from gpuefficient.papers import V100_FP16_ACHIEVABLE_TFLOPS, V100_FP16_CMR, utilization_survey_rows

V100 = CATALOG["V100 SXM2"]


# --- utilization ------------------------------------------------------------------------------

def test_resnet50_reproduces_the_papers_utilization_from_our_flop_count():
    """Our cost model's FLOPs x the paper's throughput / its 100 TFLOP/s peak = its 71.34% (within 1%)."""
    import timm

    row = next(r for r in utilization_survey_rows() if r["model"] == "resnet50")
    with torch.device("meta"):
        net = timm.create_model("resnet50")
    report = analyze(net, (8, 3, 224, 224), "fp16")
    value = utilization(row["throughput"], flops_per_image(report), V100_FP16_ACHIEVABLE_TFLOPS * 1e12)
    assert value == pytest.approx(row["utilization"], rel=0.01)
    assert flops_per_image(report) == analyze(net, (1, 3, 224, 224), "fp16").flops  # per image, not per batch


def test_the_catalog_v100_ridge_is_the_papers_cmr():
    ridge, source = ridge_point(V100, "fp16")
    assert round(ridge) == V100_FP16_CMR and "V100" in source


def test_classification_against_the_ridge():
    assert classify_intensity(140.0, V100, "fp16").bound == "compute"
    assert classify_intensity(138.0, V100, "fp16").bound == "memory"
    assert classify_intensity(V100.ridge_point("fp16"), V100, "fp16").bound == "memory"  # Eq. 1 is strict
    bound = classify_intensity(69.4, 138.8)
    assert bound.ratio == pytest.approx(0.5) and bound.ridge_source == "given"


def test_classifying_a_report_uses_its_dtype_and_fused_intensity():
    net = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
    report = analyze(net, (2, 16, 32, 32), "fp16")
    fused, unfused = classify_intensity(report, V100), classify_intensity(report, V100, which="unfused")
    assert fused.intensity == report.fused_intensity > unfused.intensity == report.intensity
    assert fused.ridge == V100.ridge_point("fp16")
    with pytest.raises(ValueError, match="'fp32'.*'fp16'"):
        classify_intensity(report, V100, dtype="fp32")


class FakeCeilings:
    """What measure.ceilings.Ceilings offers the analysis layer: as_device_spec()."""

    def as_device_spec(self):
        from gpuefficient.analysis.hardware import DeviceSpec

        return DeviceSpec(name="fake (measured)", kind="gpu", fp32_flops=10e12, tensor_flops={"fp16": 80e12},
                          sparse_tensor_flops={}, memory_bandwidth=800e9, l2_bytes=0, sm_count=0, source="test")


def test_measured_ceilings_give_peak_and_ridge():
    assert peak_flops(FakeCeilings(), "fp16")[0] == 80e12
    assert ridge_point(FakeCeilings(), "fp16")[0] == pytest.approx(100.0)
    net = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1))
    report = analyze(net, (4, 8, 16, 16), "fp16")
    result = utilization_of(report, 1000.0, V100, peak=FakeCeilings())
    assert result.peak_flops == 80e12 and result.bound.ridge == pytest.approx(V100.ridge_point("fp16"))
    conv_flops = 2 * (16 * 16) * 8 * 8 * 9  # 2 x MACs of one 3x3 conv at 16x16, 8 -> 8 channels, per image
    assert result.utilization == pytest.approx(1000.0 * conv_flops / 80e12)
    assert result.to_dict()["bound"] == "memory"


@pytest.mark.parametrize("args, match", [
    ((0.0, 1e9, 1e14), "throughput: got 0.0"), ((-5, 1e9, 1e14), "throughput: got -5"),
    ((10.0, 1e9, 0), "peak: got 0"), ((10.0, 1e9, -1.0), "peak: got -1.0"),
    ((10.0, float("nan"), 1e14), "flops_per_image"),
])
def test_utilization_errors(args, match):
    with pytest.raises(ValueError, match=match):
        utilization(*args)


def test_unknown_peak_is_an_error():
    from dataclasses import replace

    unknown = replace(V100, tensor_flops={"fp16": math.nan})
    with pytest.raises(ValueError, match="peak"):
        peak_flops(unknown, "fp16")
    with pytest.raises(ValueError, match="peak: got -3"):
        peak_flops(-3.0)


# --- the largest batch ---------------------------------------------------------------------------

def oom_above(threshold, calls=None, message="CUDA out of memory. Tried to allocate 2.00 GiB"):
    def attempt(batch):
        if calls is not None:
            calls.append(batch)
        if batch > threshold:
            raise torch.cuda.OutOfMemoryError(message)
    return attempt


@pytest.mark.parametrize("threshold", [1, 2, 3, 7, 8, 9, 100, 127, 128, 129, 1000, 4095])
def test_find_max_batch_finds_the_threshold(threshold):
    calls = []
    found = find_max_batch(oom_above(threshold, calls), limit=4096)
    assert found.batch == threshold and found.stopped_at == threshold + 1
    assert found.reason.startswith("out of memory: CUDA out of memory")
    assert [p.batch for p in found.probes] == calls
    assert all(p.fits == (p.batch <= threshold) for p in found.probes)
    assert len(calls) <= 2 * math.ceil(math.log2(threshold + 1)) + 2  # doubling + bisection, not a scan


def test_find_max_batch_stops_at_the_limit_and_records_it():
    found = find_max_batch(oom_above(10**6), limit=300)
    assert (found.batch, found.stopped_at) == (300, None) and "limit of 300" in found.reason
    assert [p.batch for p in found.probes] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_nothing_fits_and_a_larger_start_bisects_down():
    assert find_max_batch(oom_above(0)).batch == 0
    assert find_max_batch(oom_above(5), start=64).batch == 5


def test_other_errors_propagate_and_budget_strings_count_as_not_fitting():
    def broken(batch):
        raise RuntimeError("shape mismatch")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        find_max_batch(broken)
    found = find_max_batch(lambda b: "budget says no" if b > 40 else "", limit=1000)
    assert (found.batch, found.reason) == (40, "budget says no")


def tiny_net():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 4))


def test_memory_estimate_counts_weights_and_every_output():
    net = tiny_net()
    weights = (8 * 3 * 9 + 8) + (4 * 8 + 4)
    # per image: the input, then conv, relu, pool, (flatten is a view), linear outputs
    per_image = 3 * 8 * 8 + 8 * 8 * 8 + 8 * 8 * 8 + 8 + 4
    assert estimate_memory_bytes(net, (3, 8, 8), 5) == 4 * (weights + 5 * per_image)
    assert estimate_memory_bytes(net, (3, 8, 8), 5, "fp16") == 2 * (weights + 5 * per_image)
    assert estimate_memory_bytes(net, (3, 8, 8), 5, estimate="peak_op") == 4 * (weights + 5 * (2 * 8 * 8 * 8))


def test_max_batch_on_the_cpu_keeps_within_the_budget():
    net = tiny_net()
    one, two = estimate_memory_bytes(net, (3, 8, 8), 1), estimate_memory_bytes(net, (3, 8, 8), 2)
    per_image, fixed = two - one, one - (two - one)
    budget = fixed + 37 * per_image + per_image // 2
    found = max_batch(net, (3, 8, 8), device="cpu", memory_budget=budget, limit=1000)
    assert found.batch == 37 and found.stopped_at == 38 and "memory budget: batch 38" in found.reason
    with pytest.raises(ValueError, match="memory_budget: got None on the CPU"):
        max_batch(net, (3, 8, 8), device="cpu")


class Sleeper(nn.Module):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return x


def test_throughput_is_batch_over_the_median_latency():
    tput = measure_throughput(Sleeper(0.01), (3, 4, 4), 32, device="cpu", warmup=1, repeats=5)
    assert tput.images_per_s == pytest.approx(32 / tput.measurement.median)
    assert tput.images_per_s <= 32 / 0.01  # each batch sleeps 10 ms: no faster than that
    assert tput.measurement.task.input_shape == (32, 3, 4, 4)


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared, busy CPU two threads spin against each other (30x slower)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def test_utilization_report_on_a_timm_model(one_thread):
    spec = CATALOG[GENERIC_CPU]
    rep = utilization_report("mobilenetv3_small_050", batch="max", device="cpu", resolution=32, reference=spec,
                             memory_budget=16 * 2**20, limit=16, warmup=1, repeats=3)
    assert rep.max_batch is not None and rep.result.batch == rep.max_batch.batch >= 1
    r = rep.result
    with torch.device("meta"):
        import timm
        macs = analyze(timm.create_model("mobilenetv3_small_050"), (1, 3, 32, 32)).macs
    assert r.flops_per_image == 2 * macs
    assert r.utilization == pytest.approx(r.throughput * 2 * macs / spec.fp32_flops)
    assert "mobilenetv3_small_050" in str(rep) and rep.to_dict()["max_batch"]["batch"] == r.batch
    with pytest.raises(ValueError, match="batch: got 'largest'"):
        utilization_report("resnet18", batch="largest", device="cpu")
