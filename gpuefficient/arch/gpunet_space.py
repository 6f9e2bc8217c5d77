"""GPUNet's search space as data, Sobol sampling of it, and decoding samples into ``NetworkSpec``s.

GPUNet (Wang et al., CVPR 2022) Sec. 3.1, Table 1: an EfficientNet-like space of 8 stages whose
layers within a stage share one configuration. Stages 0-1 are plain convolutions (the network's
"head", i.e. its input end), stages 2-3 Fused-IRB (fused MBConv), stages 4-7 IRB (MBConv); per
stage the number of layers, filters, kernel, activation, expansion and SE are searched, plus the
input resolution. Table 2 encodes a network as 41 integers; here a point of the unit cube
[0, 1)^41 maps digit by digit onto that vector (:func:`encode`) and on to a spec
(:func:`from_encoding`). Sec. 3.2 samples the space with a Sobol sequence because it covers the
space far more evenly than independent uniform draws (Fig. 5); :func:`sample_networks` does that.
"""
from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from gpuefficient import checks
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["StageChoices", "GPUNET_SPACE", "RESOLUTIONS", "ACTIVATION_CODES", "HEAD_CHANNELS", "DIGITS",
           "sobol", "uniform", "encode", "from_encoding", "decode", "sample_networks", "to_dict",
           "normalized_encoding", "centered_discrepancy", "coverage_discrepancy", "SAMPLERS"]

# Table 1, last row: "the dimensions of the input image increase from 224 to 512 at the step of 32".
RESOLUTIONS = tuple(range(224, 513, 32))
# Table 1 note †: "R is ReLU and S is Swish"; Table 2 stores the choice as an integer 0/1.
ACTIVATION_CODES = ("relu", "swish")
# Table 1, stage 8 "Conv1x1 & Pooling & FC": 1792 filters in the final 1x1 conv (not searched).
HEAD_CHANNELS = 1792
SE_RATIO = 0.25  # EfficientNet's SE width (input channels / 4); Table 1 only says SE on/off


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    """Table 1's "[low, high, step]" filter notation (note *: "increase from 24 to 32 at the step of 8")."""
    return tuple(range(low, high + 1, step))


@dataclass(frozen=True)
class StageChoices:
    """The choices of one stage of Table 1; a 1-tuple is a fixed value."""

    block: str  # a key of blocks.BLOCKS
    stride: int  # Table 1's Stride column; only the first layer of a stage strides (Fig. 6 caption)
    kernels: tuple[int, ...]
    layers: tuple[int, ...]
    filters: tuple[int, ...]
    expansions: tuple[int, ...] = (1,)
    se: tuple[int, ...] = (0,)


# Table 1 row by row. Strides 2,1,2,2,2,1,2,1 multiply to 32: a 224..512 input ends at 7..16
# pixels, as in EfficientNet. Stages 5 and 7 may have 0 layers ("[0, 15]"); being stride 1 their
# absence leaves the total stride at 32. Expansion "[2, 6]" is searched as the integers 2..6
# (Table 2 stores E as one integer). The text's "[3, 10] at stage 4" contradicts Table 1's
# "[1, 10]"; the table wins.
GPUNET_SPACE: tuple[StageChoices, ...] = (
    StageChoices("conv", 2, (3, 5), (1,), _steps(24, 32, 8)),
    StageChoices("conv", 1, (3, 5), tuple(range(1, 5)), _steps(24, 32, 8)),
    StageChoices("fused_mbconv", 2, (3, 5), tuple(range(1, 9)), _steps(32, 80, 16), tuple(range(2, 7)), (0, 1)),
    StageChoices("fused_mbconv", 2, (3, 5), tuple(range(1, 9)), _steps(48, 112, 16), tuple(range(2, 7)), (0, 1)),
    StageChoices("mbconv", 2, (3, 5), tuple(range(1, 11)), _steps(96, 192, 16), tuple(range(2, 7)), (0, 1)),
    StageChoices("mbconv", 1, (3, 5), tuple(range(0, 16)), _steps(112, 224, 16), tuple(range(2, 7)), (0, 1)),
    StageChoices("mbconv", 2, (3, 5), tuple(range(1, 16)), _steps(128, 416, 32), tuple(range(2, 7)), (0, 1)),
    StageChoices("mbconv", 1, (3, 5), tuple(range(0, 16)), _steps(256, 832, 64), tuple(range(2, 7)), (0, 1)),
)
_ACTS = tuple(range(len(ACTIVATION_CODES)))


def _table2_digits() -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(name, allowed values) of each of Table 2's 41 digits, in order.

    Stage 0 has one digit (#Filters); stage 1 shares stage 0's filters ("Stage 1 shares the same
    filter number as stage 0") and has [Kernel, Activation, #Layers]. Table 2 gives stage 0 no
    kernel or activation digit although Table 1 lists [3, 5] and [R, S] for it: we read the two
    head stages as one searched configuration, so the stem conv takes stage 1's kernel and
    activation. Stages 2-7: [#Filters, Kernel, E, SE, Act, #Layers].
    """
    s0, s1 = GPUNET_SPACE[0], GPUNET_SPACE[1]
    digits = [("resolution", RESOLUTIONS), ("stage0.filters", s0.filters),
              ("stage1.kernel", s1.kernels), ("stage1.activation", _ACTS), ("stage1.layers", s1.layers)]
    for i, stage in enumerate(GPUNET_SPACE[2:], start=2):
        digits += [(f"stage{i}.filters", stage.filters), (f"stage{i}.kernel", stage.kernels),
                   (f"stage{i}.expansion", stage.expansions), (f"stage{i}.se", stage.se),
                   (f"stage{i}.activation", _ACTS), (f"stage{i}.layers", stage.layers)]
    return tuple(digits)


DIGITS = _table2_digits()
assert len(DIGITS) == 41  # Table 2: "total 41"


def sobol(n: int, dim: int = len(DIGITS), seed: int = 0, scramble: bool = True) -> np.ndarray:
    """``n`` points of a ``dim``-dimensional Sobol sequence, shape (n, dim), values in [0, 1).

    Scrambled (Owen) with ``seed``: reproducible, and free of the unscrambled sequence's all-zero
    first point. Unscrambled, ``seed`` has no effect.
    """
    n, seed = checks.integer("n", n), checks.integer("seed", seed, 0)
    dim = checks.integer("dim", dim, 1, torch.quasirandom.SobolEngine.MAXDIM)
    engine = torch.quasirandom.SobolEngine(int(dim), scramble=scramble, seed=int(seed))
    points = engine.draw(int(n), dtype=torch.float64).numpy()
    return np.minimum(points, np.nextafter(1.0, 0.0))  # guard [0, 1) against rounding


def uniform(n: int, dim: int = len(DIGITS), seed: int = 0) -> np.ndarray:
    """``n`` independent uniform points of [0, 1)^``dim`` (Fig. 5.A's sampler, the alternative to Sobol)."""
    n, seed, dim = checks.integer("n", n), checks.integer("seed", seed, 0), checks.integer("dim", dim)
    return np.random.default_rng(seed).random((n, dim))


#: The two samplers GPUNet's Fig. 5 compares: name -> f(n, dim, seed) giving points of [0, 1)^dim.
SAMPLERS = {"sobol": sobol, "uniform": uniform}


def _check_point(u: Sequence[float]) -> np.ndarray:
    point = np.asarray(u, dtype=float)
    if point.shape != (len(DIGITS),):
        raise ValueError(f"u: got shape {point.shape}, expected {len(DIGITS)} numbers (one per Table 2 digit)")
    bad = np.flatnonzero(~((point >= 0) & (point < 1)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"u[{i}] ({DIGITS[i][0]}): got {float(point[i])!r}, expected a number in [0, 1)")
    return point


def encode(u: Sequence[float]) -> list[int]:
    """Table 2's 41-integer vector of the point ``u`` of [0, 1)^41: digit i takes value floor(u_i * n_i)."""
    point = _check_point(u)
    return [values[min(int(x * len(values)), len(values) - 1)] for x, (_, values) in zip(point, DIGITS)]


def _check_code(code: Sequence[int]) -> list[int]:
    code = list(code)
    if len(code) != len(DIGITS):
        raise ValueError(f"code: got {len(code)} integers, expected {len(DIGITS)} (Table 2)")
    for i, (value, (name, values)) in enumerate(zip(code, DIGITS)):
        if isinstance(value, bool) or value not in values:
            raise ValueError(f"code[{i}] ({name}): got {value!r}, expected one of {list(values)}")
    return [int(v) for v in code]


def _check_resolution(resolution) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) or resolution < 32 \
            or resolution % 32:
        raise ValueError(f"resolution: got {resolution!r}, expected a positive multiple of 32 (the total "
                         f"stride; the paper searches {RESOLUTIONS[0]}..{RESOLUTIONS[-1]})")
    return int(resolution)


def from_encoding(code: Sequence[int], *, resolution: int | None = None, name: str | None = None,
                  head_channels: int = HEAD_CHANNELS, num_classes: int = 1000) -> NetworkSpec:
    """The ``NetworkSpec`` of a Table 2 vector; ``resolution`` overrides the encoded one.

    The stem is stage 0's single stride-2 conv; stage 1 is its ``conv`` layers at stage 0's width;
    stages with 0 layers (5 and 7 may have none) are left out. The head's 1x1 conv (Table 1's
    stage 8, not searched) uses the last stage's activation.
    """
    code = _check_code(code)
    res = code[0] if resolution is None else _check_resolution(resolution)
    width, kernel1, act1, layers1 = code[1:5]
    stages = [{"block": "conv", "depth": layers1, "out_channels": width, "stride": GPUNET_SPACE[1].stride,
               "kernel": kernel1, "activation": ACTIVATION_CODES[act1]}]
    for i, stage in enumerate(GPUNET_SPACE[2:]):
        filters, kernel, expansion, se, act, layers = code[5 + 6 * i: 11 + 6 * i]
        if layers:
            stages.append({"block": stage.block, "depth": layers, "out_channels": filters, "stride": stage.stride,
                           "kernel": kernel, "expansion": float(expansion), "se_ratio": SE_RATIO if se else 0.0,
                           "activation": ACTIVATION_CODES[act]})
    digest = hashlib.sha256(",".join(map(str, code)).encode()).hexdigest()[:10]
    return NetworkSpec.from_dict({
        "name": name or f"gpunet_space_{digest}",
        "stem": {"out_channels": width, "kernel": kernel1, "stride": GPUNET_SPACE[0].stride,
                 "activation": ACTIVATION_CODES[act1]},
        "stages": stages,
        "head": {"channels": head_channels, "activation": stages[-1]["activation"], "num_classes": num_classes},
        "resolution": res,
        "source": f"GPUNet (Wang et al. 2022) search space, Tables 1-2; encoding {code}"})


def decode(u: Sequence[float], *, resolution: int | None = None, name: str | None = None,
           head_channels: int = HEAD_CHANNELS, num_classes: int = 1000) -> NetworkSpec:
    """The network at the point ``u`` of [0, 1)^41: ``from_encoding(encode(u))``."""
    return from_encoding(encode(u), resolution=resolution, name=name, head_channels=head_channels,
                         num_classes=num_classes)


def sample_networks(n: int, seed: int = 0, resolution: int | None = None, **decode_kwargs) -> list[NetworkSpec]:
    """``n`` networks at scrambled-Sobol points: an even cover of the space, reproducible by ``seed``.

    ``resolution`` fixes the input size of all of them (a latency study at one resolution);
    ``None`` keeps each sample's own.
    """
    if resolution is not None:
        _check_resolution(resolution)
    return [decode(u, resolution=resolution, name=f"gpunet_sobol{seed}_{i:05d}", **decode_kwargs)
            for i, u in enumerate(sobol(n, len(DIGITS), seed))]


def to_dict(code: Sequence[int]) -> dict[str, int]:
    """A Table 2 vector as {digit name: value}, e.g. ``{"resolution": 288, "stage0.filters": 24, ...}``."""
    return {name: value for (name, _), value in zip(DIGITS, _check_code(code))}


def normalized_encoding(code: Sequence[int]) -> np.ndarray:
    """A Table 2 vector as a point of (0, 1)^41: digit i's value, by its position k among the n_i allowed
    values, becomes (k + 0.5) / n_i, the centre of its cell. Sobol's evenness is a property of the unit cube;
    this puts the networks the samplers produce back in one, so a discrepancy can compare what they cover."""
    code = _check_code(code)
    return np.array([(values.index(v) + 0.5) / len(values) for v, (_, values) in zip(code, DIGITS)])


def centered_discrepancy(points) -> float:
    """Hickernell's centred L2 discrepancy (squared) of ``points`` (n x d, in [0, 1]): how far their spread
    is from uniform, lower = more even; the quantity ``scipy.stats.qmc.discrepancy`` computes by default."""
    x = np.asarray(points, dtype=float)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"points: got shape {x.shape}, expected (n, d) with n, d >= 1")
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError("points: got values outside [0, 1], expected points of the unit cube")
    n, d = x.shape
    c = np.abs(x - 0.5)
    single = np.prod(1 + 0.5 * c - 0.5 * c ** 2, axis=1).sum()
    pairs = np.prod(1 + 0.5 * c[:, None, :] + 0.5 * c[None, :, :] - 0.5 * np.abs(x[:, None, :] - x[None, :, :]),
                    axis=2).sum()
    return float((13 / 12) ** d - 2 / n * single + pairs / n ** 2)


def coverage_discrepancy(sampler: str, n: int, seed: int = 0) -> float:
    """The centred discrepancy of the normalised encodings of ``n`` networks drawn by ``sampler`` ("sobol"
    or "uniform", :data:`SAMPLERS`): GPUNet's Fig. 5 claim made a number (lower covers the space more evenly)."""
    checks.one_of("sampler", sampler, tuple(SAMPLERS))
    n = checks.integer("n", n, 2)
    points = SAMPLERS[sampler](n, len(DIGITS), seed)
    return centered_discrepancy(np.array([normalized_encoding(encode(u)) for u in points]))
