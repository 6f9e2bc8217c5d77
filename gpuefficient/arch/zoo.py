"""The papers' networks as specs, each with its source and the paper's reported numbers.

EfficientNet-B0 (the baseline of EfficientNet-X), GENet-light/normal/large (Lin et al., Table 2),
EfficientNet-X-B0..B7 in its GPU and TPU families (Li et al.; the authors' released builder) and
GPUNet-0/1/2 (Wang et al.; NVIDIA's released configs). Each entry's ``paper`` dict holds the
numbers as the paper reports them; ``macs`` is what all three papers call FLOPs (multiply-adds, as
EfficientNet-X's Table 3 footnote says and our counts confirm for GENet and GPUNet). Where our
build follows the released code but differs from the paper by more than 2%, ``known_gaps`` holds
the ratio ours / paper it was measured at (a ``KnownGap``, checked by ``paper_comparison``) and
``notes`` the explanation; ``notes`` also records where the release differs from the paper's text.

Every architecture is written as keyword literals of the spec classes (``StageSpec(block, depth=...,
out_channels=..., ...)``); GENet's stages are read from ``papers.GENET_TABLE2``, whose rows are
positional, through ``GENET_TABLE2_FIELDS``.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import NamedTuple

from gpuefficient import checks
from gpuefficient.papers import (EFFICIENTNET_X_TABLE6, GENET_TABLE2, GPUNET_TABLE3, table3_arxiv_rows,
                                 table3_rows)
from gpuefficient.arch.scaling import scale_spec
from gpuefficient.arch.spec import HeadSpec, NetworkSpec, StageSpec, StemSpec

__all__ = ["ZooEntry", "KnownGap", "ReleasedScaling", "ZOO", "EFFICIENTNET_X_RELEASED", "GENET_TABLE2_FIELDS",
           "EFFICIENTNET_X_SINGLE", "names", "get", "paper_comparison", "unexplained_gaps"]


@dataclass(frozen=True)
class KnownGap:
    """A documented gap between our count and the paper's: ours / paper was ``ratio`` when ``reason`` explained
    it; the gap is still the explained one only while the ratio stays within ``tolerance`` of ``ratio``
    (otherwise :func:`paper_comparison` calls it unexplained)."""

    ratio: float
    tolerance: float
    reason: str

    def __post_init__(self) -> None:
        checks.number("ratio", self.ratio, 0, low_open=True)
        checks.number("tolerance", self.tolerance, 0)
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValueError(f"reason: got {self.reason!r}, expected why our count differs from the paper's")

    def holds(self, ratio: float) -> bool:
        """Whether ``ratio`` (ours / paper, as counted now) is still the documented one."""
        return abs(checks.number("ratio", ratio) - self.ratio) <= self.tolerance


@dataclass(frozen=True)
class ZooEntry:
    """A network from a paper: its spec, where it comes from, and what the paper reports."""

    spec: NetworkSpec
    paper: dict = field(default_factory=dict)
    timm_equivalent: str | None = None
    notes: str = ""
    known_gaps: dict[str, KnownGap] = field(default_factory=dict)  # "params"/"macs" -> gap, explained in notes

    @property
    def name(self) -> str:
        return self.spec.name


#: The StageSpec field of each column of ``papers.GENET_TABLE2``'s rows (GENet's r is the expansion).
GENET_TABLE2_FIELDS = ("block", "depth", "out_channels", "stride", "kernel", "expansion")


def _genet(variant: str, *, stem: int, head: int, resolution: int, paper: dict, timm_name: str) -> ZooEntry:
    stages = []
    for row in GENET_TABLE2[variant]:
        fields = dict(zip(GENET_TABLE2_FIELDS, row, strict=True))
        stages.append(StageSpec(**{**fields, "expansion": float(fields["expansion"])}))
    spec = NetworkSpec(
        name=f"genet_{variant}", stem=StemSpec(out_channels=stem, stride=2), stages=stages,
        head=HeadSpec(channels=head), resolution=resolution,
        source=f"GENet (Lin et al.), Table 2, GENet-{variant}: stem conv {stem}, final 1x1 conv {head}")
    return ZooEntry(spec, paper, timm_name)


_TABLE3 = {row["model"]: row for row in table3_rows()}  # EfficientNet-X Table 3 (CVPR) by model


def _efficientnet_b0() -> ZooEntry:
    """EfficientNet-B0 (Tan and Le 2019, Table 1): MBConv + SE 0.25 + swish everywhere."""
    mbconv = functools.partial(StageSpec, "mbconv", se_ratio=0.25, activation="silu")
    spec = NetworkSpec(
        name="efficientnet_b0", stem=StemSpec(out_channels=32, activation="silu"),
        stages=[mbconv(depth=1, out_channels=16, stride=1, kernel=3, expansion=1.0),
                mbconv(depth=2, out_channels=24, stride=2, kernel=3, expansion=6.0),
                mbconv(depth=2, out_channels=40, stride=2, kernel=5, expansion=6.0),
                mbconv(depth=3, out_channels=80, stride=2, kernel=3, expansion=6.0),
                mbconv(depth=3, out_channels=112, stride=1, kernel=5, expansion=6.0),
                mbconv(depth=4, out_channels=192, stride=2, kernel=5, expansion=6.0),
                mbconv(depth=1, out_channels=320, stride=1, kernel=3, expansion=6.0)],
        head=HeadSpec(channels=1280, activation="silu", dropout=0.2), resolution=224,
        source="EfficientNet (Tan and Le, ICML 2019), Table 1; the baseline of EfficientNet-X Table 3")
    row = _TABLE3["EfficientNet-B0"]
    paper = {"macs": row["gmacs"] * 1e9, "params": row["params_m"] * 1e6, "resolution": 224,
             "resolution_source": "paper (EfficientNet Table 1)", "top1": row["top1"],
             "v100_ms_b128": row["gpu_ms"], "tpuv3_ms_b128": row["tpu_ms"], "table": "EfficientNet-X Table 3"}
    return ZooEntry(spec, paper, "efficientnet_b0")


# --- EfficientNet-X (Li et al., CVPR 2021), as the authors' efficientnet_x_builder.py builds it ---------

#: The release's B0 block strings: r1_k3_s11_e1_i32_o16_se0.25_d1, r2_k3_s22_e6_i16_o24_se0.25_f1_d2,
#: r2_k5_s22_e6_i24_o40_se0.25_f1, r3_k3_s22_e6_i40_o80_se0.25, r3_k5_s11_e6_i80_o112_se0.25,
#: r4_k5_s22_e6_i112_o192_se0.25, r1_k3_s11_e6_i192_o320_se0.25 (stem 32, head 1280). SE 1.0 is
#: se0.25 x B0's se_coefficient 4; activations are set per platform below.
_X_B0_STAGES = (
    StageSpec("mbconv", depth=1, out_channels=16, stride=1, kernel=3, expansion=1.0, se_ratio=1.0,
              space_to_depth=1, padding="same"),
    StageSpec("fused_mbconv", depth=2, out_channels=24, stride=2, kernel=3, expansion=6.0, se_ratio=1.0,
              space_to_depth=2),
    StageSpec("fused_mbconv", depth=2, out_channels=40, stride=2, kernel=5, expansion=6.0, se_ratio=1.0),
    StageSpec("mbconv", depth=3, out_channels=80, stride=2, kernel=3, expansion=6.0, se_ratio=1.0),
    StageSpec("mbconv", depth=3, out_channels=112, stride=1, kernel=5, expansion=6.0, se_ratio=1.0),
    StageSpec("mbconv", depth=4, out_channels=192, stride=2, kernel=5, expansion=6.0, se_ratio=1.0),
    StageSpec("mbconv", depth=1, out_channels=320, stride=1, kernel=3, expansion=6.0, se_ratio=1.0),
)
#: Per-stage activations: the release's ``a0``/``a1`` (ReLU, swish in the fused stages; stem and
#: head take the global ReLU), used by the release for both platforms; and Table 1's GPU column.
_X_ACTIVATIONS = {"tpu": ("relu", "swish", "swish", "relu", "relu", "relu", "relu"),
                  "gpu": ("relu",) * 7}


class ReleasedScaling(NamedTuple):
    """One member of a released EfficientNet-X family (efficientnet_x_builder.efficientnet_x_params)."""

    width: float
    depth: float
    resolution: int
    dropout: float
    se_coefficient: int


_R = ReleasedScaling
#: The released family multipliers per platform, B0..B7.
EFFICIENTNET_X_RELEASED = {
    "gpu": [_R(width=1.0, depth=1.0, resolution=224, dropout=0.2, se_coefficient=4),
            _R(width=1.05, depth=1.09, resolution=229, dropout=0.2, se_coefficient=2),
            _R(width=1.13, depth=1.24, resolution=237, dropout=0.3, se_coefficient=1),
            _R(width=1.31, depth=1.63, resolution=255, dropout=0.3, se_coefficient=1),
            _R(width=1.63, depth=2.4, resolution=282, dropout=0.4, se_coefficient=1),
            _R(width=1.94, depth=3.29, resolution=306, dropout=0.4, se_coefficient=1),
            _R(width=2.25, depth=4.28, resolution=328, dropout=0.5, se_coefficient=1),
            _R(width=2.58, depth=5.46, resolution=350, dropout=0.5, se_coefficient=1)],
    "tpu": [_R(width=1.0, depth=1.0, resolution=224, dropout=0.2, se_coefficient=4),
            _R(width=1.05, depth=1.09, resolution=229, dropout=0.2, se_coefficient=2),
            _R(width=1.13, depth=1.29, resolution=244, dropout=0.3, se_coefficient=1),
            _R(width=1.27, depth=1.62, resolution=263, dropout=0.3, se_coefficient=1),
            _R(width=1.54, depth=2.38, resolution=299, dropout=0.4, se_coefficient=1),
            _R(width=1.96, depth=2.76, resolution=332, dropout=0.4, se_coefficient=1),
            _R(width=2.75, depth=3.01, resolution=328, dropout=0.5, se_coefficient=1),
            _R(width=3.26, depth=3.44, resolution=350, dropout=0.5, se_coefficient=1)],
}
#: Why each family's counts differ from the CVPR Table 3 row of the same name.
_X_GAP_REASONS = {
    "tpu": "the release's TPU family matches CVPR Table 3's params but not its MACs (no one resolution explains "
           "it; the arXiv Table 3 lists other counts, which the release's single-objective family reproduces)",
    "gpu": "CVPR Table 3 has one row per model whose counts match the TPU family; the GPU family is scaled by "
           "its own released coefficients",
}
_GAP_TOLERANCE = 0.001  # the counts are exact: a gap that moves by more than this is a changed build


def _gaps(platform: str, **ratios: float) -> dict[str, KnownGap]:
    return {key: KnownGap(ratio, _GAP_TOLERANCE, _X_GAP_REASONS[platform]) for key, ratio in ratios.items()}


#: ours / paper (CVPR Table 3) where the gap exceeds 2%, as measured on the builds below, per member.
_X_GAPS = {
    "tpu": {2: _gaps("tpu", macs=1.427), 3: _gaps("tpu", macs=0.978), 4: _gaps("tpu", macs=1.051),
            5: _gaps("tpu", macs=1.098), 6: _gaps("tpu", macs=1.035), 7: _gaps("tpu", macs=0.919)},
    "gpu": {2: _gaps("gpu", params=0.935, macs=1.339), 3: _gaps("gpu", params=1.051),
            4: _gaps("gpu", params=1.091, macs=0.966), 5: _gaps("gpu", params=1.201, macs=1.105),
            6: _gaps("gpu", params=0.892, macs=0.901), 7: _gaps("gpu", macs=0.909)},
}
_X_B0_NOTES = (
    "Built as the authors' efficientnet_x_builder.py / efficientnet_model.py build it, which differs from "
    "the paper's Table 1 in: (1) the stage after the 2x2 stride-2 space-to-depth conv (32 -> 128 channels, "
    "ReLU) is an MBConv1 with a 2x2 depthwise kernel ((3 + 1) // 2; TensorFlow 'same' padding, the extra "
    "pixel at the bottom/right) at 4 x 16 = 64 channels, where Table 1 says k3x3; (2) SE: every stage uses "
    "se0.25 x se_coefficient 4 = 1.0 of the block's (nominal) input filters, the block after the "
    "space-to-depth conv relative to the 32 channels before it, where Table 1 lists SE 1, 0.5, 0.25; "
    "(3) d2: the first fused block of the next stage runs at stride 1 (the 2x2 conv downsampled) and "
    "expands its 64 input channels to 6 x 16 = 96 (relative to the nominal 16) with SE 16; (4) the stem "
    "and head use the global ReLU, where Table 1's TPU column says swish for the stem. Not modelled: "
    "TensorFlow's asymmetric 'same' padding of odd kernels at stride 2 (output sizes and costs are equal, "
    "ported weights would shift by a pixel), BN epsilon 1e-3, drop-connect.")
_X_VARIANTS = {
    "tpu": "TPU family: the released block strings' activations (ReLU in MBConv stages, stem and head; "
           "swish in the two fused stages), which the release uses on both platforms; scaled with the "
           "release's efficientnet-x-tpu-b* coefficients.",
    "gpu": "GPU family: ReLU everywhere, as the paper's Table 1 GPU column and Sec. 5.1 say (the release's "
           "efficientnet-x-gpu-b* keeps the swish of the fused stages; params and MACs are the same); scaled "
           "with the release's efficientnet-x-gpu-b* coefficients.",
}


def _efficientnet_x_b0(platform: str) -> NetworkSpec:
    stages = [dataclasses.replace(stage, activation=act)
              for stage, act in zip(_X_B0_STAGES, _X_ACTIVATIONS[platform], strict=True)]
    return NetworkSpec(
        name=f"efficientnet_x_b0_{platform}", stem=StemSpec(out_channels=32, activation="relu"), stages=stages,
        head=HeadSpec(channels=1280, activation="relu", dropout=0.2), resolution=224,
        source=f"EfficientNet-X-B0 ({platform.upper()}), Li et al. CVPR 2021 Table 1, as built by "
               "tensorflow/tpu models/official/efficientnet/tpu/efficientnet_x_builder.py")


def _x_resolution_source(platform: str, index: int, resolution: int, table6: int) -> str:
    """Where an EfficientNet-X member's resolution comes from: the paper gives B0's (224); B1..B7's are the
    release's, which differ from the arXiv version's Table 6 (LACS) for most members."""
    if index == 0:
        return "paper (CVPR Table 1 input 224; arXiv Table 6)"
    return (f"release (efficientnet-x-{platform}-b{index}: {resolution}); not in CVPR Table 3; "
            f"arXiv Table 6 (LACS on {platform.upper()}) lists {table6}")


def _efficientnet_x(base: NetworkSpec, platform: str, index: int) -> ZooEntry:
    """EfficientNet-X-B``index``: ``base`` (B0 for ``platform``) scaled by the release's coefficients."""
    width, depth, resolution, dropout, se_coefficient = EFFICIENTNET_X_RELEASED[platform][index]
    if index == 0:
        spec = base
    else:
        spec = scale_spec(base, width, depth, resolution, name=f"efficientnet_x_b{index}_{platform}", dropout=dropout,
                          source=f"EfficientNet-X-B{index} ({platform.upper()}): efficientnet_x_b0_{platform} scaled "
                                 f"by width {width}, depth {depth}, resolution {resolution} "
                                 f"(release efficientnet-x-{platform}-b{index})")
        spec = dataclasses.replace(spec, stages=tuple(dataclasses.replace(stage, se_ratio=0.25 * se_coefficient)
                                                      for stage in spec.stages))
    row = _TABLE3[f"EfficientNet-X-B{index}"]
    table6 = EFFICIENTNET_X_TABLE6[f"X-B{index}"][1 if platform == "gpu" else 2][1]
    paper = {"macs": row["gmacs"] * 1e9, "params": row["params_m"] * 1e6, "resolution": resolution,
             "resolution_source": _x_resolution_source(platform, index, resolution, table6),
             "top1": row["top1"], "v100_ms_b128": row["gpu_ms"], "tpuv3_ms_b128": row["tpu_ms"],
             "table": "EfficientNet-X Table 3 (CVPR version; one row per model for both platforms; resolution "
                      "from the release)"}
    notes = [_X_VARIANTS[platform], f"SE width {0.25 * se_coefficient:g} x the block's input "
                                    f"(se0.25 x se_coefficient {se_coefficient}).", _X_B0_NOTES]
    gaps = _X_GAPS[platform].get(index, {})
    if index:
        notes.append(
            "Scaling as the release: stem, stage and head filters x width rounded to multiples of 8 (never "
            "below 90%), repeats ceil(depth x r) in every stage (the space-to-depth stage too).")
    if platform == "tpu" and gaps:
        notes.append(
            "Params match Table 3 (CVPR) within 2%, MACs do not (B2-B7: ours / paper 0.92 to 1.43, B2 2.70 G vs "
            "1.89; no one resolution explains it, B2 would need about 204 px). The arXiv version's Table 3 "
            "(papers.EFFICIENTNET_X_TABLE3_ARXIV) lists other params/FLOPs, which the release's "
            "efficientnet-x-b* (EfficientNet's coefficients, 240..600 px) reproduces within 2.2% "
            "(tests/test_zoo.py).")
    if platform == "gpu" and gaps:
        notes.append(
            "Table 3 reports one row per model, whose params match the TPU family; this GPU family scales by "
            "its own released coefficients, hence the gaps in known_gaps (ours / paper).")
    return ZooEntry(spec, paper, None, " ".join(notes), gaps)


#: The release's efficientnet-x-b2/b3 (EfficientNet's own, single-objective coefficients): (width, depth,
#: resolution, dropout, se_coefficient). GPUNet's Table 3 baselines "EfficientNetX-B2/B3-GPU" have their
#: counts (10 M / 2.3 G, 13.3 M / 4.3 G), as does the arXiv version's Table 3.
EFFICIENTNET_X_SINGLE = {2: _R(width=1.1, depth=1.2, resolution=260, dropout=0.3, se_coefficient=1),
                         3: _R(width=1.2, depth=1.4, resolution=300, dropout=0.3, se_coefficient=1)}


def _efficientnet_x_single(index: int) -> ZooEntry:
    """EfficientNet-X-B``index`` with single-objective scaling (the release's efficientnet-x-b``index``),
    the network GPUNet's Table 3 times as its baseline."""
    width, depth, resolution, dropout, se_coefficient = EFFICIENTNET_X_SINGLE[index]
    name = f"efficientnet_x_b{index}_single"
    spec = scale_spec(_X_B0_SPECS["tpu"], width, depth, resolution, name=name, dropout=dropout,
                      source=f"EfficientNet-X-B{index} single-objective scaling: efficientnet_x_b0_tpu scaled by "
                             f"EfficientNet's width {width}, depth {depth}, resolution {resolution} (release "
                             f"efficientnet-x-b{index}); GPUNet Table 3's EfficientNetX-B{index}-GPU")
    spec = dataclasses.replace(spec, stages=tuple(dataclasses.replace(stage, se_ratio=0.25 * se_coefficient)
                                                  for stage in spec.stages))
    arxiv = {row["model"]: row for row in table3_arxiv_rows()}[f"EfficientNet-X-B{index}"]
    top1, trt_ms, params_m, gflops, _ = GPUNET_TABLE3[f"EfficientNetX-B{index}-GPU"]
    paper = {"macs": gflops * 1e9, "params": params_m * 1e6, "resolution": resolution,
             "resolution_source": f"release (efficientnet-x-b{index}: EfficientNet-B{index}'s {resolution}); "
                                  "GPUNet Table 3 states none",
             "top1": top1, "gv100_trt_fp16_ms_b1": trt_ms, "arxiv_table3_gmacs": arxiv["gmacs"],
             "table": "GPUNet Table 3 (EfficientNetX-B%d-GPU; the arXiv EfficientNet-X Table 3 lists the same "
                      "counts; resolution from the release)" % index}
    notes = ("The network GPUNet's Table 3 lists as EfficientNetX-B%d-GPU: its params and FLOPs are those of the "
             "release's efficientnet-x-b%d, EfficientNet-X-B0 scaled with EfficientNet's single-objective "
             "coefficients (EfficientNet-X calls this family 'single-objective scaling', Fig. 3), not the LACS "
             "family member efficientnet_x_b%d_gpu. Activations as the release's block strings (swish in the "
             "fused stages)." % (index, index, index))
    return ZooEntry(spec, paper, None, " ".join([notes, _X_B0_NOTES]))


# --- GPUNet (Wang et al.), as NVIDIA's released configs and builder build it ----------------------

#: NVIDIA's released configs (DeepLearningExamples/PyTorch/Classification/GPUNet/configs/batch1/GV100/
#: <config>.json): plain convs, fused IRBs (padding 'same_static', see the notes) and IRBs.
_conv = functools.partial(StageSpec, "conv", stride=1, kernel=3, expansion=1.0, se_ratio=0)
_fused = functools.partial(StageSpec, "fused_mbconv", se_ratio=0, padding="same_static")
_irb = functools.partial(StageSpec, "mbconv", se_ratio=0)


class _GPUNetConfig(NamedTuple):
    config: str
    resolution: int
    stem: int
    stages: tuple[StageSpec, ...]


_GPUNET = {
    0: _GPUNetConfig(config="0.65ms", resolution=320, stem=32, stages=(
        _conv(depth=2, out_channels=32, activation="relu"),
        _fused(depth=2, out_channels=32, stride=2, kernel=3, expansion=5.0, activation="relu"),
        _fused(depth=3, out_channels=64, stride=2, kernel=3, expansion=5.0, activation="relu"),
        _irb(depth=3, out_channels=256, stride=2, kernel=3, expansion=5.0, activation="swish"),
        _irb(depth=2, out_channels=704, stride=2, kernel=3, expansion=5.0, se_ratio=0.25, activation="relu"))),
    1: _GPUNetConfig(config="0.85ms", resolution=288, stem=24, stages=(
        _conv(depth=1, out_channels=24, activation="relu"),
        _fused(depth=2, out_channels=64, stride=2, kernel=3, expansion=4.0, activation="swish"),
        _fused(depth=2, out_channels=96, stride=2, kernel=3, expansion=4.0, activation="swish"),
        _irb(depth=1, out_channels=160, stride=2, kernel=3, expansion=2.0, se_ratio=0.25, activation="swish"),
        _irb(depth=4, out_channels=288, stride=1, kernel=3, expansion=5.0, activation="relu"),
        _irb(depth=4, out_channels=448, stride=2, kernel=3, expansion=4.0, se_ratio=0.25, activation="relu"))),
    2: _GPUNetConfig(config="1.75ms", resolution=384, stem=32, stages=(
        _conv(depth=3, out_channels=32, activation="relu"),
        _fused(depth=1, out_channels=32, stride=2, kernel=5, expansion=6.0, se_ratio=0.25, activation="swish"),
        _fused(depth=3, out_channels=112, stride=2, kernel=3, expansion=3.0, activation="swish"),
        _irb(depth=6, out_channels=144, stride=2, kernel=3, expansion=6.0, activation="swish"),
        _irb(depth=4, out_channels=160, stride=1, kernel=5, expansion=3.0, activation="relu"),
        _irb(depth=8, out_channels=224, stride=2, kernel=3, expansion=3.0, se_ratio=0.25, activation="swish"),
        _irb(depth=7, out_channels=832, stride=1, kernel=5, expansion=2.0, activation="relu"))),
}
_GPUNET_NOTES = (
    "Built as NVIDIA's released GPUNet builder (gpunet_builder.py, gpunet_modules.py) builds the config: "
    "head = 3x3 stride-2 conv-BN-swish; the plain 'conv' layers are conv-BN-ReLU without a residual "
    "(ConvBnAct's skip is off); IRB = timm InvertedResidual (1x1 expand, depthwise, SE, linear 1x1), fused "
    "IRB = timm EdgeResidual (KxK expand, SE, linear 1x1); SE width round(0.25 x block input) with the "
    "block's activation; tail = 1x1 conv to 1280-BN-ReLU, pool, dropout 0.2, FC. The fused IRBs ask for "
    "padding='same', which the release's create_conv2d turns into k // 2 at stride 1 and into no padding at "
    "all at stride 2 (the dynamic TensorFlow padding is dropped): their strided convs shrink 160 -> 79 "
    "instead of 80 (padding 'same_static' here). With symmetric padding MACs would be 1.7-3.8% above "
    "Table 3; with it they match within 0.2%. BN epsilon 1e-3 and drop-path not modelled.")


def _gpunet(index: int) -> ZooEntry:
    config = _GPUNET[index]
    spec = NetworkSpec(
        name=f"gpunet_{index}", stem=StemSpec(out_channels=config.stem, activation="swish"), stages=config.stages,
        head=HeadSpec(channels=1280, activation="relu", dropout=0.2), resolution=config.resolution,
        source=f"GPUNet-{index} (Wang et al.), Fig. 6 and Table 3; NVIDIA DeepLearningExamples GPUNet config "
               f"batch1/GV100/{config.config}.json")
    top1, trt_ms, params_m, gflops, res = GPUNET_TABLE3[f"GPUNet-{index}"]
    paper = {"macs": gflops * 1e9, "params": params_m * 1e6, "resolution": res, "top1": top1,
             "resolution_source": "release (NVIDIA's GPUNet config)", "gv100_trt_fp16_ms_b1": trt_ms, "table": "GPUNet Table 3 (FLOPS = multiply-adds)"}
    return ZooEntry(spec, paper, None, _GPUNET_NOTES)


_X_B0_SPECS = {platform: _efficientnet_x_b0(platform) for platform in ("gpu", "tpu")}
ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in (
    _efficientnet_b0(),
    _genet("light", stem=13, head=1920, resolution=192, timm_name="gernet_s",
           paper={"macs": 552e6, "params": 8.17e6, "resolution": 192, "top1": 75.7,
                  "v100_fp16_ms_per_image_b64": 0.1, "resolution_source": "paper (GENet Table 2)", "table": "GENet Tables 2 and 3"}),
    _genet("normal", stem=32, head=2560, resolution=192, timm_name="gernet_m",
           paper={"macs": 2.2e9, "params": 21e6, "resolution": 192, "top1": 80.0,
                  "v100_fp16_ms_per_image_b64": 0.20, "resolution_source": "paper (GENet Table 2)", "table": "GENet Tables 2 and 3"}),
    _genet("large", stem=32, head=2560, resolution=256, timm_name="gernet_l",
           paper={"macs": 4.6e9, "params": 31e6, "resolution": 256, "top1": 81.3,
                  "v100_fp16_ms_per_image_b64": 0.34, "resolution_source": "paper (GENet Table 2)", "table": "GENet Tables 2 and 3"}),
    *(_efficientnet_x(base, platform, index) for platform, base in _X_B0_SPECS.items() for index in range(8)),
    *(_efficientnet_x_single(index) for index in EFFICIENTNET_X_SINGLE),
    *(_gpunet(index) for index in range(3)),
)}


def names() -> list[str]:
    return sorted(ZOO)


def get(name: str) -> ZooEntry:
    """The zoo entry called ``name``."""
    return ZOO[checks.one_of("zoo", name, names())]


def paper_comparison(name: str, tolerance: float = 0.02) -> dict:
    """Params and MACs of ``name`` as built (meta device: no memory) next to the paper's, at its resolution.

    ``status`` per count: "known gap" (the entry's ``known_gaps`` documents this count's gap with its reason,
    and ours / paper is still within the gap's tolerance of its expected ratio; ``<key>_gap`` shows both), "within" (no documented gap;
    ours / paper within ``tolerance``) or "unexplained" (a bug to fix: outside the tolerance without a
    documented gap, or a documented gap whose ratio has moved).
    """
    from gpuefficient.arch.models import spec_costs

    entry = get(name)
    res = entry.spec.resolution
    report = spec_costs(entry.spec)
    row = {"name": name, "resolution": res, "paper_resolution": entry.paper.get("resolution"),
           "resolution_source": entry.paper.get("resolution_source", ""), "table": entry.paper.get("table", "")}
    for key, ours in (("params", report.params), ("macs", report.macs)):
        paper = entry.paper.get(key)
        ratio = ours / paper if paper else float("nan")
        gap = entry.known_gaps.get(key)
        if not paper:
            status = "not reported"
        elif gap is not None:
            status = "known gap" if gap.holds(ratio) else "unexplained"
        else:
            status = "within" if abs(ratio - 1) <= tolerance else "unexplained"
        row.update({f"{key}_ours": ours, f"{key}_paper": paper, f"{key}_ratio": ratio, f"{key}_status": status,
                    f"{key}_gap": (f"{gap.ratio:g} ± {gap.tolerance:g}: {gap.reason}" if gap else "")})
    return row


def unexplained_gaps(rows) -> int:
    """How many counts of ``rows`` (:func:`paper_comparison` results) differ from their paper without a
    known gap that still holds: 0 when the zoo reproduces the papers' counts."""
    rows = list(rows)
    if not rows or not all(isinstance(r, dict) and "params_status" in r and "macs_status" in r for r in rows):
        raise ValueError(f"rows: got {rows!r:.80}, expected paper_comparison() results")
    return sum(r[f"{key}_status"] == "unexplained" for r in rows for key in ("params", "macs"))
