"""The variants that chapter 4 compares: fused vs unfused MBConv, activations, space-to-depth, GPUNet's
latency factors and EfficientNet-X's Table 4 steps, each built so that the compared variants take
the same input and give outputs of the same shape.

EfficientNet-X (Li et al., Sec. 3.1-3.3): fused MBConv raises intensity but also FLOPs, so it wins
or loses by shape; activations are memory-bound and cost what the software fails to fuse; a 2x2
stride-2 convolution does space-to-depth better than a copy. GPUNet (Wang et al., Sec. 3.1.1,
Fig. 3): expansion, kernel, SE, resolution and activation move latency. :func:`compare` measures
any such set of variants on the backends of :mod:`gpuefficient.measure.backends` next to their costs.
"""
from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn

from gpuefficient import checks
from gpuefficient.measure.backends import prepare, time_backends
from gpuefficient.arch.blocks import ConvBnAct, FusedMBConv, MBConv, SpaceToDepthConv, make_activation
from gpuefficient.arch.builder import build
from gpuefficient.analysis.costs import analyze
from gpuefficient.dtypes import to_torch
from gpuefficient.measure.timer import Measurement, Task, measure, measure_interleaved, random_input, round_ratios
from gpuefficient.device import resolve_device
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["STANDALONE_ACTIVATIONS", "stage_shapes", "mbconv_variants", "space_to_depth_variants",
           "standalone_activation", "activation_traffic", "with_activation", "factor_variants", "table4_specs",
           "compare", "output_shapes", "time_interleaved", "activation_variants", "activation_ops",
           "early_late_contrast", "duplicates", "dw_choice_variants", "per_param_rounds"]

#: The activations chapter 4 times (GPUNet Fig. 3, EfficientNet-X Sec. 3.3); "swish" is SiLU.
STANDALONE_ACTIVATIONS = ("relu", "relu6", "swish", "hardswish", "gelu", "sigmoid", "prelu")


def stage_shapes(spec: NetworkSpec, resolution: int | None = None) -> list[dict]:
    """Per stage of ``spec``: its input resolution and channels, the channels it outputs and the block
    settings of its first block.

    The shapes an ablation should use: EfficientNet-B0's stages at 224 px run from 112x112x32 to
    7x7x320, and a block's speed depends on exactly these numbers. The channels are those of the
    built network: a ``space_to_depth: 1`` stage outputs 4 x its ``out_channels``
    (``StageSpec.output_channels``).
    """
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec")
    res = checks.integer("resolution", spec.resolution if resolution is None else resolution)
    size, width, rows = math.ceil(res / spec.stem.stride), spec.stem.out_channels, []
    for i, stage in enumerate(spec.stages):
        rows.append({"stage": i, "resolution": size, "in_channels": width, "out_channels": stage.output_channels,
                     "kernel": stage.kernel, "stride": stage.stride, "expansion": stage.expansion,
                     "se_ratio": stage.se_ratio, "depth": stage.depth, "block": stage.block})
        size, width = math.ceil(size / stage.effective_stride), stage.output_channels
    return rows


def mbconv_variants(in_channels: int, out_channels: int, kernel: int, stride: int, expansion: float,
                    se_ratio: float = 0.0, activation: str = "relu") -> dict[str, nn.Module]:
    """MBConv (1x1 expand, kxk depthwise, 1x1 project) and fused MBConv (kxk expand, 1x1 project) alike."""
    args = (in_channels, out_channels, kernel, stride, expansion, se_ratio, activation)
    return {"mbconv": MBConv(*args).eval(), "fused_mbconv": FusedMBConv(*args).eval()}


def space_to_depth_variants(channels: int, activation: str = "relu") -> dict[str, nn.Module]:
    """Three ways from HxWxC to H/2xW/2x4C (EfficientNet-X Sec. 3.1): a trainable 2x2 stride-2 conv,
    a pure reshape (``pixel_unshuffle``, a memory copy) and a 3x3 stride-2 conv of equal output shape."""
    checks.integer("channels", channels)
    return {"conv2x2_s2 (space-to-depth)": SpaceToDepthConv(channels, 4 * channels, 2, activation).eval(),
            "pixel_unshuffle (copy)": nn.PixelUnshuffle(2),
            "conv3x3_s2": ConvBnAct(channels, 4 * channels, 3, 2, activation=activation).eval()}


def standalone_activation(name: str, channels: int) -> nn.Module:
    """The activation ``name`` as a module that does not work in place (a timed loop must not feed
    its own output back, which would drift towards zeros or denormals)."""
    module = make_activation(name, channels)
    if hasattr(module, "inplace"):
        module.inplace = False
    return module.eval()


def activation_traffic(name: str, shape, dtype="fp32", device="auto", warmup: int = 10, repeats: int = 50):
    """Time ``name`` alone on a random tensor of ``shape``: (measurement, achieved bytes/s read + written).

    An elementwise activation reads its input once and writes its output once; the achieved rate
    compared with the copy ceiling says whether it is memory-bound (near the ceiling) or not.
    """
    shape = checks.shape("shape", shape, ndim=4, example="(batch, channels, height, width)")
    dev, tdtype = resolve_device(device), to_torch(dtype)
    module = standalone_activation(name, shape[1]).to(dev, tdtype)
    x = random_input(shape, tdtype, dev)
    with torch.inference_mode():
        m = measure(lambda: module(x), device=dev, warmup=warmup, repeats=repeats,
                    task=Task(label=name, backend="eager", dtype=tdtype, input_shape=shape, details={"activation": name}))
    return m, 2 * x.numel() * x.element_size() / m.median


def with_activation(spec: NetworkSpec, activation: str | list[str], name: str | None = None) -> NetworkSpec:
    """``spec`` with ``activation`` in the stem, every stage and the head; given one name per stage (a list or
    tuple), the stem takes the first stage's and the head the last stage's."""
    acts = [activation] * len(spec.stages) if isinstance(activation, str) else list(activation)
    if len(acts) != len(spec.stages):
        raise ValueError(f"activation: got {len(acts)} names, expected 1 or {len(spec.stages)} (one per stage)")
    return dataclasses.replace(
        spec, name=name or f"{spec.name}_{activation if isinstance(activation, str) else 'mixed'}",
        stem=dataclasses.replace(spec.stem, activation=acts[0]),
        stages=tuple(dataclasses.replace(s, activation=a) for s, a in zip(spec.stages, acts)),
        head=dataclasses.replace(spec.head, activation=acts[-1]))


_FACTORS = {"expansion": (1, 2, 3, 4, 5, 6), "kernel": (3, 5, 7), "se": (0.0, 0.25),
            "activation": ("relu", "swish", "hardswish", "prelu"), "resolution": (160, 192, 224, 256, 288)}


def factor_variants(spec: NetworkSpec, factor: str, values=None) -> dict[str, NetworkSpec]:
    """GPUNet Fig. 3: ``spec`` with one factor set in every MBConv stage (the first, expansion-1 stage
    keeps its expansion), one variant per value. Factors: expansion, kernel, se, activation, resolution."""
    if factor not in _FACTORS:
        raise ValueError(f"factor: got {factor!r}, expected one of {list(_FACTORS)}")
    variants = {}
    for value in (values if values is not None else _FACTORS[factor]):
        label = f"{factor}={value}"
        if factor == "resolution":
            variants[label] = dataclasses.replace(spec, name=f"{spec.name}_{label}", resolution=int(value))
        elif factor == "activation":
            variants[label] = with_activation(spec, value, name=f"{spec.name}_{label}")
        else:
            field = {"expansion": "expansion", "kernel": "kernel", "se": "se_ratio"}[factor]
            stages = tuple(s if (factor == "expansion" and s.expansion == 1) or s.block not in ("mbconv", "fused_mbconv")
                           else dataclasses.replace(s, **{field: float(value) if field != "kernel" else int(value)})
                           for s in spec.stages)
            variants[label] = dataclasses.replace(spec, name=f"{spec.name}_{label}", stages=stages)
    return variants


def table4_specs() -> dict[str, NetworkSpec]:
    """EfficientNet-X Table 4's steps, built backwards from the zoo's EfficientNet-X-B0 so each adds one change.

    EfficientNet-B0 -> +space-to-depth (X-B0 with MBConv instead of fused and swish everywhere) ->
    +fused conv (X-B0 with swish everywhere) -> +activation: X-B0 GPU (ReLU everywhere, Table 1) and
    X-B0 TPU (the release's swish in the fused stages). Only the activation step differs by platform.
    """
    from gpuefficient.arch.zoo import get

    x_gpu, x_tpu = get("efficientnet_x_b0_gpu").spec, get("efficientnet_x_b0_tpu").spec
    fused = with_activation(x_gpu, "swish", name="b0_s2d_fused")
    s2d = dataclasses.replace(fused, name="b0_s2d", stages=tuple(
        dataclasses.replace(s, block="mbconv") if s.block == "fused_mbconv" else s for s in fused.stages))
    return {"EfficientNet-B0": get("efficientnet_b0").spec, "+SpaceToDepth": s2d, "+Fused Conv": fused,
            "+Activation (X-B0 GPU)": x_gpu, "+Activation (X-B0 TPU)": x_tpu}


def output_shapes(variants: dict[str, nn.Module], input_shape) -> dict[str, tuple[int, ...]]:
    """Each variant's output shape for ``input_shape`` (meta device: no compute)."""
    shapes = {}
    for name, module in variants.items():
        with torch.no_grad():
            meta = copy.deepcopy(module).to("meta")
            shapes[name] = tuple(meta(torch.empty(tuple(input_shape), device="meta")).shape)
    return shapes


def compare(variants: dict[str, nn.Module | NetworkSpec], input_shape, configs, *, device="auto",
            warmup: int = 10, repeats: int = 50, same_output: bool = True) -> list[dict]:
    """Costs (params, FLOPs, bytes, intensity) and latency per backend config of each variant.

    Specs are built first. With ``same_output`` the variants must give outputs of one shape (a
    comparison of blocks that compute different things is refused). One row per variant and config,
    as :func:`gpuefficient.measure.backends.time_backends` returns them, plus the cost columns. Every
    variant is timed on the same seeded input.
    """
    if not variants:
        raise ValueError("variants: got none, expected a dict of name -> module or spec")
    modules = {name: (build(v).eval() if isinstance(v, NetworkSpec) else v.eval()) for name, v in variants.items()}
    if same_output:
        shapes = output_shapes(modules, input_shape)
        if len(set(shapes.values())) > 1:
            raise ValueError(f"variants: output shapes differ {shapes}, expected one shape for a fair comparison")
    x = random_input(tuple(input_shape), torch.float32, device)
    rows = []
    for name, module in modules.items():
        costs = {}
        for dtype in {c[1] for c in configs}:
            report = analyze(module, tuple(input_shape), dtype)
            costs[dtype] = {"params": report.params, "flops": report.total_flops, "macs": report.macs,
                            "bytes": report.bytes, "intensity": report.intensity,
                            "fused_intensity": report.fused_intensity}
        for row in time_backends(module, x, configs, device=device, warmup=warmup, repeats=repeats, label=name):
            rows.append({"variant": name, **costs[row["dtype"]], **row})
    return rows


def _as_module(variant) -> nn.Module:
    return build(variant).eval() if isinstance(variant, NetworkSpec) else variant.eval()


def time_interleaved(variants: dict[str, nn.Module | NetworkSpec], inputs, config=("eager", "fp32", False), *,
                     device="auto", warmup: int = 3, rounds: int = 5, repeats: int = 3) -> dict[str, Measurement]:
    """Time every variant (a module or a spec) on one backend config in alternating rounds
    (:func:`~gpuefficient.measure.timer.measure_interleaved`), so drift of the machine hits all alike.

    ``inputs`` is one input shape for all variants or a dict label -> shape (e.g. one per stage).
    Each variant is prepared with :func:`~gpuefficient.measure.backends.prepare` (output checked against
    eager fp32); a backend that cannot run here raises ``BackendUnavailable``.
    """
    if not isinstance(variants, dict) or not variants:
        raise ValueError(f"variants: got {variants!r:.60}, expected a non-empty dict of label -> module or spec")
    if not (isinstance(config, (tuple, list)) and len(config) == 3):
        raise ValueError(f"config: got {config!r}, expected a (backend, dtype, channels_last) tuple")
    if isinstance(inputs, dict):
        missing = sorted(set(variants) - set(inputs))
        if missing:
            raise ValueError(f"inputs: no shape for {missing}, expected one per variant or a single shape")
        shapes = {k: tuple(inputs[k]) for k in variants}
    else:
        shapes = {k: tuple(inputs) for k in variants}
    backend, dtype, channels_last = config
    runs = {}
    for label, variant in variants.items():
        x = random_input(shapes[label], torch.float32, device)
        runs[label] = prepare(_as_module(variant), x, backend, dtype, device=device, channels_last=channels_last).run
    return measure_interleaved(runs, device=device, warmup=warmup, rounds=rounds, repeats=repeats)


class _Copy(nn.Module):
    """out = a copy of x: the same bytes read and written as an elementwise activation, and no arithmetic."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


def activation_variants(names, channels: int, copy: bool = True) -> dict[str, nn.Module]:
    """The activations ``names`` as modules (not in place), plus a plain ``"copy"`` of the tensor: timed
    together, the copy is the memory ceiling of the same run that each activation is compared with."""
    names = list(names)
    if not names:
        raise ValueError("names: got none, expected activation names such as 'relu'")
    variants = {name: standalone_activation(name, channels) for name in names}
    if copy:
        variants["copy"] = _Copy()
    return variants


# Ops that move or relabel data but compute nothing: not counted as arithmetic.
_NOT_ARITHMETIC = {"view", "_unsafe_view", "expand", "detach", "alias", "reshape", "t", "permute", "to",
                   "_to_copy", "clone", "copy_", "empty_like", "empty"}


def activation_ops(name: str) -> list[str]:
    """The elementwise ATen ops one element of activation ``name`` costs, after decomposing it into
    PyTorch's core ATen op set (e.g. swish -> sigmoid, mul); views and dtype casts are not counted.

    A count by PyTorch's own decomposition, not by hand: EfficientNet-X (Sec. 5.1) says swish has ~4x
    ReLU's FLOPs, and this is how many ops the compiler stack actually sees per element.
    """
    from torch._decomp import core_aten_decompositions
    from torch.utils._python_dispatch import TorchDispatchMode

    table = core_aten_decompositions()

    class Counter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in table:
                with self:
                    out = table[func](*args, **kwargs)
                if out is not NotImplemented:
                    return out
            if func.overloadpacket.__name__ not in _NOT_ARITHMETIC:
                self.ops.append(func.overloadpacket.__name__)
            return func(*args, **kwargs)

    module = standalone_activation(name, 4).to("meta")
    counter = Counter()
    with torch.no_grad(), counter:
        module(torch.empty(1, 4, 2, 2, device="meta"))
    return counter.ops


def _geomean(values) -> float:
    values = [checks.number("speed-up", v, 0, low_open=True) for v in values]
    return math.exp(sum(math.log(v) for v in values) / len(values))


def early_late_contrast(speedups: dict, early, late) -> list[float]:
    """Per round: min(geomean speed-up over the ``early`` stages, 1 / geomean speed-up over the ``late`` ones).

    ``speedups`` maps a stage to its per-round speed-ups (e.g. MBConv time / fused time). The value
    exceeds 1 only in a round where the fused block wins early *and* loses late (EfficientNet-X Sec. 3.2:
    fused where the shapes favour it, not everywhere); a mix of wins anywhere does not pass.
    """
    early, late = list(early), list(late)
    if not early or not late or set(early) & set(late):
        raise ValueError(f"early, late: got {early} and {late}, expected two non-empty, disjoint lists of stages")
    missing = [s for s in early + late if s not in speedups]
    if missing:
        raise ValueError(f"speedups: no rounds for stages {missing}, expected one list per stage")
    rounds = {len(speedups[s]) for s in early + late}
    if len(rounds) != 1 or 0 in rounds:
        raise ValueError(f"speedups: got round counts {sorted(rounds)}, expected one equal, non-zero count")
    return [min(_geomean(speedups[s][r] for s in early), 1 / _geomean(speedups[s][r] for s in late))
            for r in range(rounds.pop())]


def duplicates(specs: dict[str, NetworkSpec]) -> dict[str, str]:
    """Each label -> the first label whose spec builds the same network at the same resolution (names
    ignored): variants that change nothing (e.g. EfficientNet-B0's own expansion 6) are one network and must be timed once."""
    first: dict[tuple, str] = {}
    out = {}
    for label, spec in specs.items():
        if not isinstance(spec, NetworkSpec):
            raise ValueError(f"specs[{label!r}]: got {type(spec).__name__}, expected a NetworkSpec")
        key = (spec.resolution, repr(build(spec)))   # the built layers: "swish" and "silu" are one network
        out[label] = first.setdefault(key, label)
    return out


def dw_choice_variants(width: int, kernels=(3, 5), ratios=(3.0, 6.0), depth: int = 1) -> dict[str, nn.Sequential]:
    """``depth`` stride-1 DW blocks of ``width`` for every (kernel, ratio): GENet's searched choice (k=3,
    r=3, Sec. 4) next to EfficientNet's (k=5, r=6), built alike so that only k and r differ. Labels are
    ``"k=3 r=3"``; ``ratio`` is GENet's r of the DW block (its depthwise width / ``width``)."""
    from gpuefficient.arch.blocks import make_block

    checks.integer("width", width)
    checks.integer("depth", depth)
    kernels, ratios = list(kernels), list(ratios)
    for k in kernels:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1 or k % 2 == 0:
            raise ValueError(f"kernels: got {k!r}, expected odd positive integers such as 3 or 5")
    for r in ratios:
        checks.number("ratios", r, 0, low_open=True)
    if not kernels or not ratios:
        raise ValueError(f"kernels, ratios: got {kernels} and {ratios}, expected at least one of each")
    return {f"k={k} r={r:g}": nn.Sequential(*(make_block("dw", width, width, kernel=k, stride=1, expansion=r)
                                               for _ in range(depth))).eval()
            for k in kernels for r in ratios}


def per_param_rounds(measurements: dict, params: dict, reference: str) -> dict[str, list[float]]:
    """Per round, each network's latency per parameter over ``reference``'s (> 1: ``reference`` buys its
    parameters for less time). GENet Fig. 3(c, d) compares blocks at equal model size this way.

    ``measurements``: label -> Measurement of one ``measure_interleaved`` call; ``params``: label -> count.
    """

    if reference not in measurements or reference not in params:
        raise ValueError(f"reference: got {reference!r}, expected one of {sorted(measurements)}")
    out = {}
    for label, m in measurements.items():
        if label == reference:
            continue
        if not params.get(label, 0) > 0 or not params[reference] > 0:
            raise ValueError(f"params: got {params.get(label)!r} for {label!r}, expected a positive count")
        scale = params[reference] / params[label]
        out[label] = [r * scale for r in round_ratios(m, measurements[reference])]
    return out
