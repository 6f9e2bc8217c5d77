"""Backends: each prepared callable computes what eager fp32 computes, or says why it cannot run."""
import importlib.util
import types

import pytest
import torch
from torch import nn

from gpuefficient.measure import backends
from gpuefficient.measure.backends import (BackendUnavailable, Prepared, available_backends, output_error, prepare, time_backends)

CPU_ONLY = not torch.cuda.is_available()
needs_cpu = pytest.mark.skipif(not CPU_ONLY, reason="checks behaviour on a machine without CUDA")


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 10))
    with torch.no_grad():  # non-trivial BN statistics, so a skipped BN would show
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


class Drifting(nn.Module):
    """Adds the number of calls so far: the checked call can never match the reference call."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.conv(x) + self.calls


class NoHalf(nn.Module):
    """Fails in fp16 the way a CPU kernel without a Half implementation does."""

    def __init__(self, message='"slow_conv2d_cpu" not implemented for \'Half\'\nmore detail'):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.message = message

    def forward(self, x):
        if x.dtype == torch.float16:
            raise RuntimeError(self.message)
        return self.conv(x)


@pytest.fixture
def x():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def reference(model, x):
    with torch.inference_mode():
        return model(x)


@pytest.mark.parametrize("dtype,channels_last", [("fp32", False), ("fp32", True), ("bf16", False),
                                                 ("bf16", True)])
def test_eager_matches_reference(x, dtype, channels_last):
    model = tiny_net()
    p = prepare(model, x, "eager", dtype, device="cpu", channels_last=channels_last)
    assert isinstance(p, Prepared)
    ref = reference(model, x)
    assert p.example_input.dtype == {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    assert p.example_input.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert (p.backend, p.dtype, p.channels_last, p.details) == ("eager", dtype, channels_last, {})
    task = p.task("tiny")
    assert (task.backend, task.dtype, task.input_shape) == ("eager", dtype, tuple(x.shape))
    assert task.memory_format == ("channels_last" if channels_last else "contiguous")
    out = p.run()
    assert out.dtype == p.example_input.dtype
    bound = 1e-5 if dtype == "fp32" else 5e-2
    assert output_error(out, ref)[1] < bound
    assert p.max_rel_error < bound
    if dtype == "bf16":
        assert p.max_abs_error > 0  # the check really compared against fp32
    assert torch.equal(p(p.example_input), out)


def test_fp16_on_cpu_runs_or_says_why(x):
    try:
        p = prepare(tiny_net(), x, "eager", "fp16", device="cpu")
    except BackendUnavailable as err:
        assert "fp16" in str(err) and "\n" not in str(err)
    else:
        assert p.max_rel_error < backends.DEFAULT_RTOL["fp16"]


def test_missing_half_kernel_is_one_clear_line(x):
    message = r"^eager: fp16 on cpu is missing an op .*slow_conv2d_cpu.*use fp32"
    with pytest.raises(BackendUnavailable, match=message) as err:
        prepare(NoHalf(), x, "eager", "fp16", device="cpu")
    assert "\n" not in str(err.value)
    with pytest.raises(RuntimeError, match="boom"):  # other errors are not disguised as missing ops
        prepare(NoHalf("boom"), x, "eager", "fp16", device="cpu")


def test_callers_model_is_untouched(x):
    model = tiny_net().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prepare(model, x, "eager", "bf16", device="cpu", channels_last=True)
    assert model.training
    for k, v in model.state_dict().items():
        assert v.dtype == before[k].dtype and torch.equal(v, before[k]), k
    assert model[0].weight.is_contiguous()  # not converted to channels_last


@pytest.mark.parametrize("kwargs,bad", [({"backend": "fastest"}, "fastest"), ({"dtype": "int8"}, "int8"),
                                        ({"dtype": torch.float64}, "float64")])
def test_unknown_names_rejected(x, kwargs, bad):
    with pytest.raises(ValueError, match=bad) as err:
        prepare(tiny_net(), x, **{"backend": "eager", "dtype": "fp32", "device": "cpu", **kwargs})
    assert "eager" in str(err.value) or "fp32" in str(err.value)  # lists the valid values


def test_onnx_backends_reject_bf16_and_channels_last(x):
    with pytest.raises(ValueError, match="bf16"):
        prepare(tiny_net(), x, "onnxruntime", "bf16", device="cpu")
    with pytest.raises(ValueError, match="channels_last"):
        prepare(tiny_net(), x, "onnxruntime", "fp32", device="cpu", channels_last=True)


@needs_cpu
@pytest.mark.parametrize("backend", ["cudagraph", "compile-cudagraphs", "tensorrt"])
def test_cuda_only_backends_unavailable_on_cpu(x, backend):
    with pytest.raises(BackendUnavailable, match=backend) as err:
        prepare(tiny_net(), x, backend, device="cpu")
    assert "CUDA" in str(err.value) and "use '" in str(err.value) and "\n" not in str(err.value)


@needs_cpu
def test_available_backends_on_cpu():
    avail = available_backends("cpu")
    assert avail["eager"] is None
    for name in ("cudagraph", "compile-cudagraphs", "tensorrt"):
        assert isinstance(avail[name], str) and "CUDA" in avail[name]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnxscript"):
        assert avail["onnxruntime"] is None


def test_tensorrt_missing_is_reported(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorrt" else real(name, *a))
    reason = backends._unavailable("tensorrt", torch.device("cuda"))
    assert reason == "tensorrt: the tensorrt package is not installed; use 'compile' or 'eager'"


def test_trt_build_plan_for_tensorrt_10_and_11():
    trt10 = types.SimpleNamespace(BuilderFlag=types.SimpleNamespace(FP16="fp16flag", TF32="tf32"),
                                  NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=1))
    trt11 = types.SimpleNamespace(BuilderFlag=types.SimpleNamespace(TF32="tf32"),
                                  NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=1))
    assert backends._trt_build_plan(trt10, "fp16") == ("fp32", 0, ["fp16flag"])
    assert backends._trt_build_plan(trt10, "fp32") == ("fp32", 0, [])
    assert backends._trt_build_plan(trt11, "fp16") == ("fp16", 2, [])
    assert backends._trt_build_plan(trt11, "fp32") == ("fp32", 0, [])


def test_onnxruntime_cpu_matches_eager(x, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = tiny_net()
    p = prepare(model, x, "onnxruntime", "fp32", device="cpu", workdir=tmp_path)
    assert (tmp_path / "model_fp32.onnx").exists()
    assert p.details["provider"] == "CPUExecutionProvider" and p.details["onnxruntime_version"]
    assert p.max_rel_error < 1e-5
    half = prepare(model, x, "onnxruntime", "fp16", device="cpu")
    assert half.run().dtype == torch.float16 and 0 < half.max_rel_error < backends.DEFAULT_RTOL["fp16"]
    other = torch.randn_like(x)  # a new input, not only the example it was checked on
    assert output_error(p(other), reference(model, other))[1] < 1e-5


def test_output_check_rejects_a_wrong_backend(x):
    with pytest.raises(ValueError, match=r"eager fp32: output differs .* bound 0\.005"):
        prepare(Drifting(), x, "eager", device="cpu")
    p = prepare(Drifting(), x, "eager", device="cpu", check=False)
    assert p.max_abs_error is None and p.max_rel_error is None


def test_tight_bound_rejects_bf16(x):
    with pytest.raises(ValueError, match=r"eager bf16: .*bound 1e-07"):
        prepare(tiny_net(), x, "eager", "bf16", device="cpu", rtol=1e-7)


def test_output_error():
    ref = torch.tensor([1.0, -4.0])
    assert output_error(ref + torch.tensor([0.0, 0.4]), ref) == pytest.approx((0.4, 0.1))
    assert output_error(torch.tensor([1.0, float("nan")]), ref)[1] == float("inf")
    with pytest.raises(ValueError, match="shape"):
        output_error(torch.zeros(3), ref)


@pytest.mark.slow  # the first inductor compilation of a process takes ~20-25 s on 2 cores
def test_compile_cpu_matches_eager(x):
    if available_backends("cpu")["compile"] is not None:
        pytest.skip(available_backends("cpu")["compile"])
    model = tiny_net()
    p = prepare(model, x, "compile", device="cpu")
    assert p.details["mode"] == "default"
    assert p.max_rel_error < 1e-4
    assert output_error(p.run(), reference(model, x))[1] < 1e-4


@needs_cpu
def test_time_backends_times_what_runs_and_records_why_others_skip(x):
    model = tiny_net()
    rows = time_backends(model, x, [("eager", "fp32", False), ("eager", "fp32", True), ("cudagraph", "fp16", False)],
                         device="cpu", warmup=1, repeats=3, label="net")
    assert [r["backend"] for r in rows] == ["eager", "eager", "cudagraph"]
    assert [r["channels_last"] for r in rows] == [False, True, False]
    for row in rows[:2]:
        assert row["skipped"] == "" and row["median_ms"] > 0 and row["repeats"] == 3
        assert row["max_rel_error"] < 5e-3 and row["prepare_s"] >= 0 and row["model"] == "net"
    assert "needs a CUDA device" in rows[2]["skipped"] and "median_ms" not in rows[2]
    with pytest.raises(ValueError, match="configs: got 'eager'"):
        time_backends(model, x, ["eager"], device="cpu")
    with pytest.raises(ValueError, match="backend: got 'tvm'"):
        time_backends(model, x, [("tvm", "fp32", False)], device="cpu")
