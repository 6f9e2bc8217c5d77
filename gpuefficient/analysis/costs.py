"""Per-layer cost model of any ``nn.Module``: FLOPs, parameters, bytes moved, arithmetic intensity.

The model runs once on the ``meta`` device under a ``TorchDispatchMode``, so every ATen operation
is seen with its real shapes and dtype but no arithmetic is done (a whole ResNet-50 takes tens of
milliseconds). Each operation becomes one row, attributed to the innermost module that ran it.

Conventions (stated once, used everywhere in the book):

* FLOPs = 2 x multiply-adds for convolutions and matrix products, bias excluded: exactly what
  ``torch.utils.flop_counter`` counts. These are ``matmul_flops``.
* Work that ``flop_counter`` leaves out is counted separately as ``elementwise_flops``:
  batch norm 2 FLOPs per output element (inference-time scale and shift), other normalisations 5,
  activations and elementwise arithmetic 1 per output element (transcendentals are not weighted),
  pooling one per window element, reductions one per input element.
* Bytes are what an unfused execution moves: every operand read once from memory and every
  result written once (no caching between operations, no fusion), at the element size of the
  tensor's dtype; only an op's primary result is counted (no batch-norm statistics or pooling
  indices). Inference engines that fold batch norm into the convolution or fuse the
  activation move less; the latency chapters measure how much that matters.
* Arithmetic intensity = FLOPs / bytes, per row and for the network (all FLOPs / all bytes).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from gpuefficient import checks, dtypes

__all__ = ["LayerCost", "CostReport", "analyze", "BatchTraffic", "batch_traffic"]

# --- how each ATen op is classified and counted -----------------------------------------------

_CONV = {"convolution"}
_MATMUL = {"addmm", "mm", "bmm", "baddbmm"}
_BATCH_NORM = {"native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
               "cudnn_batch_norm", "miopen_batch_norm"}
_OTHER_NORM = {"native_layer_norm", "native_group_norm"}
_ACTIVATIONS = {"relu", "relu_", "hardtanh", "hardtanh_", "silu", "silu_", "sigmoid", "sigmoid_",
                "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_", "gelu", "gelu_", "tanh", "tanh_",
                "leaky_relu", "leaky_relu_", "prelu", "_prelu_kernel", "elu", "elu_", "mish", "mish_",
                "softplus", "clamp", "clamp_", "clamp_min", "clamp_min_", "log_sigmoid_forward", "softmax",
                "_softmax", "_safe_softmax", "_log_softmax", "log_softmax", "threshold"}
_ELEMENTWISE = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "addcmul", "neg", "rsub",
                "maximum", "minimum", "where", "exp", "sqrt", "rsqrt", "pow", "abs"}
_POOL_WINDOW = {"max_pool2d_with_indices", "max_pool2d", "avg_pool2d", "max_pool3d_with_indices"}
_REDUCE = {"mean", "sum", "_adaptive_avg_pool2d", "adaptive_avg_pool2d", "amax", "max", "var_mean"}
_MEMORY = {"cat", "clone", "copy_", "_to_copy", "constant_pad_nd", "pixel_shuffle", "pixel_unshuffle",
           "reflection_pad2d", "replication_pad2d", "stack", "roll", "index", "gather", "flip"}
# Not marked as views by ATen, yet free: they only relabel a tensor's shape (ViT's and Swin's
# attention reshapes go through _unsafe_view).
_FREE_VIEWS = {"_unsafe_view", "_reshape_alias"}
_SKIP = {"empty", "empty_like", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like",
         "empty_strided", "new_empty", "new_zeros", "arange", "detach", "lift_fresh", "_local_scalar_dense",
         "new_empty_strided", "scalar_tensor", "randn", "rand", "normal_", "uniform_", "bernoulli_"}


def _kind(op: str) -> str:
    for kind, names in (("conv", _CONV), ("linear", _MATMUL), ("norm", _BATCH_NORM | _OTHER_NORM),
                        ("activation", _ACTIVATIONS), ("elementwise", _ELEMENTWISE),
                        ("pool", _POOL_WINDOW | _REDUCE), ("memory", _MEMORY)):
        if op in names:
            return kind
    return "other"


def _conv_flops(x: torch.Tensor, w: torch.Tensor, out: torch.Tensor, transposed: bool) -> int:
    """2 x MACs of a (transposed) convolution, the formula of ``torch.utils.flop_counter``."""
    spatial = x.shape[2:] if transposed else out.shape[2:]
    c_out, c_in_per_group, *kernel = w.shape
    return 2 * x.shape[0] * math.prod(spatial) * math.prod(kernel) * c_out * c_in_per_group


def _matmul_flops(op: str, tensors: list[torch.Tensor]) -> int:
    if op in ("addmm", "baddbmm"):
        tensors = tensors[1:]  # drop the bias operand
    a, b = tensors[0], tensors[1]
    batch = a.shape[0] if a.dim() == 3 else 1
    return 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]


def _elementwise_flops(op: str, kind: str, args: tuple, inputs: list[torch.Tensor], out: torch.Tensor) -> int:
    if op in _BATCH_NORM:
        return 2 * out.numel()
    if op in _OTHER_NORM:
        return 5 * out.numel()
    if op in _POOL_WINDOW:
        kernel = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
        kernel = list(kernel) * (2 if len(kernel) == 1 else 1)
        return out.numel() * math.prod(kernel)
    if op in _REDUCE:
        return inputs[0].numel() if inputs else 0
    if kind in ("activation", "elementwise"):
        return out.numel()
    return 0


def _nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# --- result types --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerCost:
    """Cost of one ATen operation, attributed to the innermost module that ran it."""

    name: str            # module path, e.g. "layer1.0.conv1" ("" for the model itself)
    module: str          # the module's class name
    op: str              # ATen op, e.g. "convolution"
    kind: str            # conv | linear | norm | activation | elementwise | pool | memory | other
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    flops: int           # conv/linear: 2 x MACs (flop_counter's count); others: elementwise convention
    params: int          # elements of the parameter/buffer operands (weights, biases, BN statistics)
    input_bytes: int
    weight_bytes: int
    output_bytes: int

    @property
    def bytes(self) -> int:
        return self.input_bytes + self.weight_bytes + self.output_bytes

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved (0 for pure data movement)."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def is_matmul(self) -> bool:
        return self.kind in ("conv", "linear")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes": self.bytes, "intensity": self.intensity}


@dataclass(frozen=True)
class CostReport:
    """Per-layer table and network totals of one model at one input shape and dtype."""

    model: str
    input_shape: tuple[int, ...]
    dtype: str
    params: int
    layers: tuple[LayerCost, ...]

    @property
    def flops(self) -> int:
        """Convolution and matrix-product FLOPs (2 x MACs): equal to ``torch.utils.flop_counter``."""
        return sum(layer.flops for layer in self.layers if layer.is_matmul)

    @property
    def macs(self) -> int:
        return self.flops // 2

    @property
    def elementwise_flops(self) -> int:
        """FLOPs of norms, activations, elementwise ops and pooling (left out by ``flop_counter``)."""
        return sum(layer.flops for layer in self.layers if not layer.is_matmul)

    @property
    def total_flops(self) -> int:
        return self.flops + self.elementwise_flops

    @property
    def bytes(self) -> int:
        return sum(layer.bytes for layer in self.layers)

    @property
    def intensity(self) -> float:
        """Network arithmetic intensity: all FLOPs over all bytes of an unfused execution."""
        return self.total_flops / self.bytes if self.bytes else 0.0

    @property
    def fused_bytes(self) -> int:
        """Bytes if every other op were fused into a conv/linear: only their operands move.

        An optimistic bound of what a fusing compiler can reach (it ignores the extra reads of
        residual shortcuts); the unfused ``bytes`` is the pessimistic one.
        """
        return sum(layer.bytes for layer in self.layers if layer.is_matmul)

    @property
    def fused_intensity(self) -> float:
        return self.total_flops / self.fused_bytes if self.fused_bytes else 0.0

    def by_kind(self) -> dict[str, dict[str, float]]:
        """FLOPs, bytes and share of bytes for each op kind: where the memory traffic goes."""
        totals: dict[str, dict[str, float]] = {}
        for layer in self.layers:
            entry = totals.setdefault(layer.kind, {"ops": 0, "flops": 0, "bytes": 0})
            entry["ops"] += 1
            entry["flops"] += layer.flops
            entry["bytes"] += layer.bytes
        for entry in totals.values():
            entry["bytes_share"] = entry["bytes"] / self.bytes if self.bytes else 0.0
        return totals

    def to_dict(self, layers: bool = True) -> dict[str, Any]:
        data = {
            "model": self.model, "input_shape": list(self.input_shape), "dtype": self.dtype,
            "flops": self.flops, "macs": self.macs, "elementwise_flops": self.elementwise_flops,
            "total_flops": self.total_flops, "params": self.params, "bytes": self.bytes,
            "intensity": self.intensity, "fused_bytes": self.fused_bytes, "fused_intensity": self.fused_intensity,
        }
        if layers:
            data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    def to_dataframe(self):
        """The per-layer table as a pandas DataFrame (one row per op)."""
        import pandas as pd

        return pd.DataFrame([layer.to_dict() for layer in self.layers])

    def __repr__(self) -> str:
        return (f"CostReport({self.model}, input {tuple(self.input_shape)} {self.dtype}: "
                f"{self.macs / 1e9:.3f} GMACs, {self.params / 1e6:.2f} M params, "
                f"{self.bytes / 1e6:.1f} MB moved, intensity {self.intensity:.1f} FLOP/B, "
                f"{len(self.layers)} ops)")


# --- the recorder --------------------------------------------------------------------------------

class _Recorder(TorchDispatchMode):
    """Records every ATen op with its operands, split into activations and weights."""

    def __init__(self, weights: list[torch.Tensor], module_stack: list[tuple[str, str]]):
        super().__init__()
        # Weights are known by id(); every weight (and view of one) is also kept alive here, so that
        # its id cannot be reused by a later activation while recording (ids of freed objects are).
        self._weights = list(weights)
        self.weight_ids = {id(t) for t in self._weights}
        self.module_stack = module_stack
        self.rows: list[LayerCost] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        op = func.overloadpacket.__name__
        in_tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        is_weight = [id(t) in self.weight_ids for t in in_tensors]
        if func.is_view or op in _SKIP or op in _FREE_VIEWS:
            # Views of weights are weights (e.g. the transpose a linear layer makes).
            if any(is_weight):
                views = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
                self._weights += views
                self.weight_ids.update(id(t) for t in views)
            return out
        # Only the primary result counts: auxiliary outputs (batch-norm statistics, pooling
        # indices) are not produced by an inference engine.
        out_tensors = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)][:1]
        acts = [t for t, w in zip(in_tensors, is_weight) if not w]
        weights = [t for t, w in zip(in_tensors, is_weight) if w]
        kind = _kind(op)
        if kind == "conv":
            flops = _conv_flops(args[0], args[1], out_tensors[0], bool(args[6]))
        elif kind == "linear":
            flops = _matmul_flops(op, in_tensors)
        else:
            flops = _elementwise_flops(op, kind, args, acts, out_tensors[0] if out_tensors else None)
        name, module = self.module_stack[-1]
        self.rows.append(LayerCost(
            name=name, module=module, op=op, kind=kind,
            input_shape=tuple(acts[0].shape) if acts else (),
            output_shape=tuple(out_tensors[0].shape) if out_tensors else (),
            flops=int(flops), params=sum(t.numel() for t in weights),
            input_bytes=_nbytes(acts), weight_bytes=_nbytes(weights), output_bytes=_nbytes(out_tensors),
        ))
        return out


def analyze(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 224, 224),
            dtype: str | torch.dtype = torch.float32, name: str | None = None) -> CostReport:
    """Cost table of ``model`` in inference mode for one input of ``input_shape`` and ``dtype``.

    Nothing is computed and the model is not modified: parameters and buffers are replaced by
    ``meta`` tensors of the requested dtype for one forward pass.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: got {type(model).__name__}, expected a torch.nn.Module")
    input_shape = checks.model_input("input_shape", model, input_shape)
    if len(input_shape) < 2:
        raise ValueError(f"input_shape: got {input_shape!r}, expected a batch dimension first, like (1, 3, 224, 224)")
    dtype = dtypes.to_torch(dtype)

    def meta_like(t: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(t, device="meta", dtype=dtype if t.is_floating_point() else t.dtype)

    state = {k: meta_like(v) for k, v in (*model.named_parameters(), *model.named_buffers())}
    stack: list[tuple[str, str]] = [("", type(model).__name__)]
    handles = []
    for path, sub in model.named_modules():
        handles.append(sub.register_forward_pre_hook(
            lambda m, a, _p=path: stack.append((_p, type(m).__name__))))
        handles.append(sub.register_forward_hook(lambda m, a, o: stack.pop() and None))
    was_training = model.training
    model.eval()
    x = torch.empty(tuple(input_shape), device="meta", dtype=dtype)
    recorder = _Recorder(list(state.values()), stack)
    try:
        with torch.no_grad(), recorder:
            functional_call(model, state, (x,))
    except RuntimeError as err:  # a shape the model cannot run (too small an input, a mismatch deeper in)
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ValueError(f"input_shape: got {input_shape}, which {type(model).__name__} cannot run ({first})") from err
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return CostReport(
        model=name or type(model).__name__,
        input_shape=tuple(input_shape),
        dtype=dtypes.name(dtype),
        params=sum(p.numel() for p in model.parameters()),
        layers=tuple(recorder.rows),
    )


# --- intensity as a function of the batch -----------------------------------------------------

@dataclass(frozen=True)
class BatchTraffic:
    """A network's fused traffic as ``weights`` bytes read once per batch plus ``per_image`` bytes of
    activations, and its FLOPs per image: intensity(B) = F B / (W + A B), which saturates at F / A."""

    weights: float
    per_image: float
    flops_per_image: float

    def intensity(self, images):
        """Fused intensity (FLOP/B) at ``images`` per batch (a number or a numpy array)."""
        return self.flops_per_image * images / (self.weights + self.per_image * images)


def batch_traffic(small: CostReport, large: CostReport, images_small: int, images_large: int) -> BatchTraffic:
    """Fit :class:`BatchTraffic` to two cost reports of one network at two batches.

    The cost model's bytes are exactly linear in the batch (weights once, activations per image), so
    two batches give the intercept W and the slope A. The images are passed explicitly because a
    folded network's batch dimension holds ``images / f`` stacked inputs.
    """
    checks.integer("images_small", images_small, 1)
    checks.integer("images_large", images_large, 1)
    if images_large <= images_small:
        raise ValueError(f"images_large: got {images_large}, expected more than images_small ({images_small})")
    per_image = (large.fused_bytes - small.fused_bytes) / (images_large - images_small)
    return BatchTraffic(weights=small.fused_bytes - per_image * images_small, per_image=per_image,
                        flops_per_image=large.total_flops / images_large)
