"""Inference backends: turn a model into a callable that is ready to be timed.

In eager PyTorch every layer is a separate kernel launch paid for by Python on the host; for small
batches and light layers (depthwise convs, squeeze-excite) the GPU idles between launches, so
latency measures the host rather than the network. Compilers (``torch.compile``, ONNX Runtime,
TensorRT) fuse layers into fewer kernels, and CUDA graphs replay a whole recorded launch sequence
with one call, which removes most of that overhead. A faster backend is only worth timing if it
computes the same function, so :func:`prepare` compares every backend's output with eager fp32 on
the example input *before* anything is timed and refuses outputs outside a per-dtype bound.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import io
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gpuefficient import checks, dtypes
from gpuefficient.device import call_or_oom, resolve_device
from gpuefficient.measure import BACKENDS
from gpuefficient.measure.timer import Measurement, Task, measure

__all__ = ["BACKENDS", "BackendUnavailable", "Prepared", "available_backends", "prepare", "output_error",
           "reference_output", "time_backends", "DEFAULT_RTOL"]

_CUDA_ONLY = ("compile-cudagraphs", "cudagraph", "tensorrt")
_COMPILE_MODES = {"compile": "default", "compile-max-autotune": "max-autotune", "compile-cudagraphs": "reduce-overhead"}
_ONNX_DTYPES = ("fp32", "fp16")  # bf16 ONNX kernels are missing from most ONNX Runtime providers
# Bounds on max|out - ref| / max|ref| against eager fp32. fp32: backends reorder sums and may use
# TF32 (10-bit mantissa, unit roundoff ~5e-4) for convs/matmuls, so a few roundoffs through a deep net
# -> 5e-3. fp16 stores every activation with unit roundoff 2^-11 ~ 4.9e-4, accumulated over tens of
# layers -> 2e-2. bf16 has unit roundoff 2^-8 ~ 3.9e-3 -> 5e-2 (about a dozen roundoffs). A real bug
# (wrong layout, wrong weights, missing layer) gives errors of order 1.
DEFAULT_RTOL = {"fp32": 5e-3, "fp16": 2e-2, "bf16": 5e-2}


class BackendUnavailable(RuntimeError):
    """A backend cannot run here; the message is one line: what is missing and the fallback."""


@dataclass
class Prepared:
    """A model turned into ``fn(x) -> output`` on one backend, checked against eager fp32.

    Backends with static buffers (cudagraph, compile-cudagraphs, tensorrt) return an output that the
    next call overwrites: clone it to keep it. ``example_input`` is what :meth:`run` feeds: for the
    static-buffer backends their own input buffer, so a timed call does no extra copy or cast.
    """

    backend: str
    dtype: str
    device: str
    channels_last: bool
    fn: Callable[[torch.Tensor], torch.Tensor]
    example_input: torch.Tensor
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    details: dict[str, Any] = field(default_factory=dict)   # backend specifics: compile mode, provider, versions

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def run(self) -> torch.Tensor:
        """One inference on the example input: what :meth:`measure` times."""
        return self.fn(self.example_input)

    def task(self, label: str = "", **details) -> Task:
        """The timer's description of :meth:`run`: backend, dtype, input shape, layout, output error."""
        return Task(label=label, backend=self.backend, dtype=self.dtype, input_shape=tuple(self.example_input.shape),
                    memory_format="channels_last" if self.channels_last else "contiguous",
                    details={**self.details, "max_rel_error_vs_eager": self.max_rel_error, **details})

    def measure(self, *, warmup: int = 10, repeats: int = 50, label: str = "", flush_cache: bool = False,
                **details) -> Measurement:
        """Time :meth:`run` on this backend's device (see :func:`gpuefficient.measure.timer.measure`)."""
        return measure(self.run, device=self.device, warmup=warmup, repeats=repeats, flush_cache=flush_cache,
                       task=self.task(label, **details))


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _unavailable(backend: str, dev: torch.device) -> str | None:
    """Why ``backend`` cannot run on ``dev`` (one line with a fallback), or None if it can."""
    has = lambda mod: importlib.util.find_spec(mod) is not None  # noqa: E731
    if backend in _CUDA_ONLY and dev.type != "cuda":
        return f"{backend}: needs a CUDA device, this is {dev.type}; use 'eager' or 'compile'"
    if backend.startswith("compile"):
        if dev.type == "cuda" and not has("triton"):
            return f"{backend}: torch.compile on CUDA needs triton, not installed; use 'eager' or 'cudagraph'"
        if dev.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++")):
            return f"{backend}: torch.compile on the CPU needs a C++ compiler (g++), none found; use 'eager'"
    if backend in ("onnxruntime", "tensorrt"):
        for mod in ("onnx", "onnxscript") + (("onnxruntime",) if backend == "onnxruntime" else ("tensorrt",)):
            if not has(mod):
                return f"{backend}: the {mod} package is not installed; use 'compile' or 'eager'"
    if backend == "onnxruntime" and dev.type == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime: this build has no CUDAExecutionProvider (install onnxruntime-gpu); use 'compile'"
    return None


def available_backends(device="auto") -> dict[str, str | None]:
    """Every backend name -> None if it can run on ``device``, else the one-line reason it cannot."""
    dev = resolve_device(device)
    return {name: _unavailable(name, dev) for name in BACKENDS}


def output_error(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max |out - ref|, max |out - ref| / max |ref|), compared in fp32 on the CPU."""
    if not isinstance(out, torch.Tensor) or out.shape != ref.shape:
        raise ValueError(f"output: got {getattr(out, 'shape', type(out).__name__)}, expected shape {tuple(ref.shape)}")
    out, ref = out.detach().float().cpu(), ref.detach().float().cpu()
    diff = (out - ref).abs().max().item() if out.numel() else 0.0
    if not torch.isfinite(out).all():
        diff = float("inf")
    scale = ref.abs().max().item() if ref.numel() else 0.0
    return diff, diff / scale if scale > 0 else diff


def reference_output(model: torch.nn.Module, example_input: torch.Tensor, device="auto") -> torch.Tensor:
    """Eager fp32 output of a copy of ``model`` on ``example_input``: what every backend is checked against."""
    dev = resolve_device(device)
    with torch.inference_mode():
        return copy.deepcopy(model).eval().to(dev).float()(example_input.to(dev, torch.float32))


def prepare(model: torch.nn.Module, example_input: torch.Tensor, backend: str = "eager", dtype="fp32", *,
            device="auto", channels_last: bool = False, check: bool = True, rtol: float | None = None,
            workdir=None, reference: torch.Tensor | None = None) -> Prepared:
    """Copy ``model`` and convert it for ``backend``/``dtype`` on ``device``; check its output vs eager fp32.

    The caller's model is never modified. ``rtol`` overrides :data:`DEFAULT_RTOL`; ``workdir`` keeps
    the exported ONNX file (onnxruntime, tensorrt); ``reference`` is the eager fp32 output when the
    caller already has it (:func:`reference_output`). Raises ``ValueError`` for unknown names or an
    output outside the bound, :class:`BackendUnavailable` when the backend cannot run here.
    """
    checks.one_of("backend", backend, BACKENDS)
    tdtype = dtypes.to_torch(dtype)
    name = dtypes.name(tdtype)
    if not isinstance(example_input, torch.Tensor) or example_input.dim() < 1:
        raise TypeError(f"example_input: got {type(example_input).__name__}, expected a batched torch.Tensor")
    checks.model_input("example_input", model, tuple(example_input.shape))
    dev = resolve_device(device)
    reason = _unavailable(backend, dev)
    if reason:
        raise BackendUnavailable(reason)
    onnx_based = backend in ("onnxruntime", "tensorrt")
    if onnx_based and name not in _ONNX_DTYPES:
        raise ValueError(f"dtype: got {name!r} for backend {backend!r}, expected one of {', '.join(_ONNX_DTYPES)}")
    if onnx_based and channels_last:
        raise ValueError(f"channels_last: got True for backend {backend!r}, which chooses its own layout; "
                         "expected False (channels_last applies to the PyTorch backends)")

    model = copy.deepcopy(model).eval().to(dev)
    ref = reference
    if check and ref is None:  # on the very copy that is then converted: a stateful fault shows
        with torch.inference_mode():
            ref = model.float()(example_input.to(dev, torch.float32))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(dtype=tdtype, memory_format=memory_format)
    x = example_input.detach().to(dev, tdtype).contiguous(memory_format=memory_format)

    try:
        with torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext():
            fn, extra, timed_input = _build(backend, model, x, dev, name, workdir)
            out = fn(x) if check else None
    except Exception as err:  # noqa: BLE001 - only a missing kernel is translated, the rest re-raised
        text = str(err)
        if not any(k in text for k in ("not implemented for", "NOT_IMPLEMENTED", "Could not find an implementation")):
            raise
        raise BackendUnavailable(f"{backend}: {name} on {dev.type} is missing an op "
                                 f"({text.strip().splitlines()[0][:200]}); use fp32 or another device") from err
    result = Prepared(backend, name, str(dev), channels_last, fn, x if timed_input is None else timed_input,
                      details=extra)
    if check:
        result.max_abs_error, result.max_rel_error = output_error(out, ref)
        bound = DEFAULT_RTOL[name] if rtol is None else rtol
        if not result.max_rel_error <= bound:
            raise ValueError(f"{backend} {name}: output differs from eager fp32 by max|diff|/max|ref| = "
                             f"{result.max_rel_error:.3g} (max|diff| {result.max_abs_error:.3g}), bound {bound:.3g}")
    return result


def time_backends(model: torch.nn.Module, example_input: torch.Tensor, configs, *, device="auto", warmup: int = 10,
                  repeats: int = 50, label: str = "") -> list[dict]:
    """Prepare and time ``model`` on each ``(backend, dtype, channels_last)`` of ``configs``, in one run.

    One row per config: the measurement's row (``median_ms``, ``iqr_ms``, the task, versions), the
    output error against eager fp32 (computed once for all configs) and ``prepare_s``
    (export/compile time, paid once), or, when the backend cannot run here or runs out of memory,
    ``skipped`` with the one-line reason. Any other failure, a wrong output included, raises: a
    number is never reported for it.
    """
    configs = list(configs)
    for config in configs:
        if not (isinstance(config, (tuple, list)) and len(config) == 3):
            raise ValueError(f"configs: got {config!r}, expected (backend, dtype, channels_last) tuples")
    reference = reference_output(model, example_input, device)
    rows = []
    for backend, dtype, channels_last in configs:
        row = {"model": label, "backend": backend, "dtype": dtypes.name(dtype), "channels_last": bool(channels_last)}
        start = time.perf_counter()

        def timed():
            prepared = prepare(model, example_input, backend, dtype, device=device, channels_last=channels_last,
                               reference=reference)
            prepare_s = time.perf_counter() - start
            m = prepared.measure(warmup=warmup, repeats=repeats, label=f"{label} {backend} {row['dtype']}".strip())
            return {**m.row(), "skipped": "", "prepare_s": prepare_s, "max_rel_error": prepared.max_rel_error}

        try:
            result, reason = call_or_oom(timed)
        except BackendUnavailable as err:
            result, reason = None, str(err)
        rows.append({**row, **result} if result else {**row, "skipped": reason})
    return rows


def _build(backend: str, model, x: torch.Tensor, dev: torch.device, name: str, workdir):
    """(fn, backend details, the static input buffer that a timed call should feed, or None) for a model
    already in the target dtype, layout and device."""
    if backend == "eager":
        return _under(torch.inference_mode, model), {}, None
    if backend.startswith("compile"):
        mode = _COMPILE_MODES[backend]
        # no_grad rather than inference_mode: the grad mode torch.compile traces and guards under.
        return _under(torch.no_grad, torch.compile(model, mode=mode, dynamic=False)), {"mode": mode}, None
    if backend == "cudagraph":
        fn, static_x = _cuda_graph(model, x)
        return fn, {"mode": "torch.cuda.graph"}, static_x
    with contextlib.ExitStack() as stack:
        folder = workdir if workdir is not None else stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(folder, exist_ok=True)
        if backend == "onnxruntime":
            return (*_onnxruntime(model, x, folder, dev), None)
        return _tensorrt(model, x, folder, name)


def _under(context, model) -> Callable[[torch.Tensor], torch.Tensor]:
    def fn(x: torch.Tensor) -> torch.Tensor:
        with context():
            return model(x)
    return fn


def _cuda_graph(model, x: torch.Tensor):
    """Record one forward into a CUDA graph: (fn, its static input). A call with another tensor copies it
    into the static input first; a call with the static input itself just replays."""
    static_x = x.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():  # warm-up off the capture: cuDNN/allocator set-up
        for _ in range(3):
            model(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        static_y = model(static_x)

    def fn(inp: torch.Tensor) -> torch.Tensor:
        if inp is not static_x:
            static_x.copy_(inp)
        graph.replay()
        return static_y
    return fn, static_x


def _export_onnx(model, x: torch.Tensor, folder) -> str:
    """Export with the fixed example shape; the exporter's progress chatter is swallowed."""
    path = os.path.join(os.fspath(folder), f"model_{dtypes.name(x.dtype)}.onnx")
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, (x,), path, dynamo=True, input_names=["input"], output_names=["output"])
    return path


def _onnxruntime(model, x: torch.Tensor, folder, dev: torch.device):
    import numpy as np
    import onnxruntime as ort

    path = _export_onnx(model, x, folder)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if dev.type == "cpu":
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        def fn(inp: torch.Tensor) -> torch.Tensor:  # .numpy() shares memory with the tensor: no copy
            return torch.from_numpy(session.run(["output"], {"input": inp.detach().contiguous().numpy()})[0])
    else:
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        session = ort.InferenceSession(path, options, providers=[("CUDAExecutionProvider", {"device_id": index})])
        with torch.inference_mode():
            out = torch.empty_like(model(x), memory_format=torch.contiguous_format)
        np_dtype = np.float16 if x.dtype == torch.float16 else np.float32
        binding = session.io_binding()
        binding.bind_output("output", "cuda", index, np_dtype, tuple(out.shape), out.data_ptr())

        def fn(inp: torch.Tensor) -> torch.Tensor:
            inp = inp.contiguous()
            # ORT runs on its own stream (torch's default stream handle 0 is rejected as a user stream)
            # and synchronises at the end of every run, so waiting for torch's queue first costs little.
            torch.cuda.current_stream(dev).synchronize()
            binding.bind_input("input", "cuda", index, np_dtype, tuple(inp.shape), inp.data_ptr())
            session.run_with_iobinding(binding)
            return out
    return fn, {"provider": session.get_providers()[0], "onnxruntime_version": ort.__version__}


def _trt_build_plan(trt, dtype: str) -> tuple[str, int, list]:
    """(dtype to export the ONNX in, network creation flags, builder flags) for this TensorRT.

    TensorRT 10 builds fp16 from an fp32 ONNX when ``BuilderFlag.FP16`` is set. TensorRT 11 removed
    that flag: networks are strongly typed, so the ONNX itself must be fp16.
    """
    if dtype == "fp16" and hasattr(trt.BuilderFlag, "FP16"):
        return "fp32", 0, [trt.BuilderFlag.FP16]
    strongly = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    # Setting STRONGLY_TYPED is required for a typed fp16 graph on 10.x and ignored on 11.x.
    flags = 1 << int(strongly) if (strongly is not None and dtype == "fp16") else 0
    return dtype, flags, []


def _tensorrt(model, x: torch.Tensor, folder, dtype: str):
    import tensorrt as trt

    onnx_dtype, network_flags, builder_flags = _trt_build_plan(trt, dtype)
    export_dtype = dtypes.to_torch(onnx_dtype)
    path = _export_onnx(model.to(export_dtype), x.to(export_dtype), folder)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(path):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"tensorrt: could not parse the exported ONNX: {errors[:300]}")
    config = builder.create_builder_config()
    for flag in builder_flags:
        config.set_flag(flag)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("tensorrt: engine build failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    context = engine.create_execution_context()
    pairs = (("FLOAT", torch.float32), ("HALF", torch.float16), ("BF16", torch.bfloat16))
    to_torch = {getattr(trt.DataType, n): d for n, d in pairs if hasattr(trt.DataType, n)}
    buffers: dict[str, torch.Tensor] = {}
    for i in range(engine.num_io_tensors):
        tensor = engine.get_tensor_name(i)
        shape = tuple(engine.get_tensor_shape(tensor))
        buffers[tensor] = torch.empty(shape, dtype=to_torch[engine.get_tensor_dtype(tensor)], device=x.device)
        if engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT:
            context.set_input_shape(tensor, shape)
        context.set_tensor_address(tensor, buffers[tensor].data_ptr())
    static_in, static_out = buffers["input"], buffers["output"]
    # TensorRT runs on a stream of its own (on torch's default stream it adds synchronisations of its
    # own and warns so); the stream waits for torch's queue, and torch's queue waits for the engine,
    # so CUDA events recorded on torch's current stream bracket the engine's work exactly.
    stream = torch.cuda.Stream(device=x.device)

    def fn(inp: torch.Tensor) -> torch.Tensor:
        if inp is not static_in:
            static_in.copy_(inp)  # casts fp16 -> fp32 on TensorRT 10's weakly typed fp16 path
        caller = torch.cuda.current_stream(x.device)
        stream.wait_stream(caller)
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("tensorrt: execute_async_v3 failed")
        caller.wait_stream(stream)
        return static_out
    fn.keepalive = (engine, context, buffers, stream)  # the context needs its engine; TensorRT reads the buffers
    static_in.copy_(x)  # the timed input: already in the engine's dtype, so a timed call casts nothing
    return fn, {"tensorrt_version": trt.__version__, "tensorrt_onnx_dtype": onnx_dtype,
                "onnx_version": _version("onnx")}, static_in


# --- Grids of models x batches x backend configurations (chapters 2 and 5) ---------------------------------------

__all__ += ["config_label", "time_grid", "skipped_configs", "pick_timed"]


def config_label(backend: str, dtype, channels_last: bool) -> str:
    """A configuration as the book's tables name it: ``eager fp16 NHWC``, ``compile fp32``."""
    return f"{backend} {dtypes.name(dtype)}" + (" NHWC" if channels_last else "")


def time_grid(models, batches, configs, *, device="auto", warmup: int = 10, repeats: int = 50, resolution=None,
              seed: int = 0) -> list[dict]:
    """Time every model at every batch on every ``(backend, dtype, channels_last)`` of ``configs``.

    ``models`` are names (:func:`gpuefficient.arch.models.create_model`, built one at a time and
    dropped after use) or a dict of name -> module. Each runs at ``resolution``: an int for all, a
    function of the name, or None for :func:`gpuefficient.arch.models.input_resolution` (the zoo's or
    the original paper's, else 224), on a seeded random fp32 batch that :func:`time_backends` casts per
    config. Rows are :func:`time_backends`'s plus ``batch``, ``resolution`` and ``config``
    (:func:`config_label`); a config that cannot run here has ``skipped`` set to the reason
    (:func:`skipped_configs` lists them), every other row ``skipped == ""``.
    """
    from gpuefficient.arch.models import create_model, input_resolution
    from gpuefficient.measure.timer import random_input

    batches = [checks.integer("batches", b) for b in batches]
    configs = list(configs)
    named = models if isinstance(models, dict) else {name: None for name in models}
    if not named or not batches:
        raise ValueError(f"models, batches: got {list(named)} and {batches}, expected at least one of each")
    rows = []
    for name, module in named.items():
        res = (resolution(name) if callable(resolution) else resolution) or input_resolution(name)
        checks.integer("resolution", res)
        model = module if module is not None else create_model(name)
        for b in batches:
            x = random_input((b, 3, res, res), torch.float32, device, seed)
            for r in time_backends(model, x, configs, device=device, warmup=warmup, repeats=repeats, label=name):
                rows.append({**r, "batch": b, "resolution": res,
                             "config": config_label(r["backend"], r["dtype"], r["channels_last"])})
        del model, x
    return rows


def skipped_configs(rows: list[dict]) -> dict[str, str]:
    """Each configuration that was skipped in ``rows`` (of :func:`time_grid`) -> the first reason given."""
    out: dict[str, str] = {}
    for r in rows:
        if r.get("skipped"):
            out.setdefault(r.get("config") or config_label(r["backend"], r["dtype"], r["channels_last"]), r["skipped"])
    return out


def pick_timed(rows: list[dict], model: str, batch: int, prefer) -> tuple[float, str]:
    """(median ms, config) of ``model`` at ``batch`` in the first configuration of ``prefer`` (labels as
    :func:`config_label` writes them) that ran in ``rows`` (of :func:`time_grid`); (nan, "none ran") when
    none did."""
    ran = {r["config"]: r["median_ms"] for r in rows
           if not r.get("skipped") and r.get("model") == model and r.get("batch") == batch}
    for config in prefer:
        if config in ran:
            return ran[config], config
    return float("nan"), "none ran"
