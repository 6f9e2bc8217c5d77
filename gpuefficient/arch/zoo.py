"""The papers' networks as specs, each with its source and the paper's reported numbers.

EfficientNet-B0 (the baseline of EfficientNet-X), GENet-light/normal/large (Lin et al., Table 2),
EfficientNet-X-B0..B7 in its GPU and TPU families (Li et al.; the authors' released builder) and
GPUNet-0/1/2 (Wang et al.; NVIDIA's released configs). Each entry's ``paper`` dict holds the
numbers as the paper reports them; ``macs`` is what all three papers call FLOPs (multiply-adds, as
EfficientNet-X's Table 3 footnote says and our counts confirm for GENet and GPUNet). Where our
build follows the released code but differs from the paper by more than 2%, ``known_gaps`` holds
ours / paper and ``notes`` the explanation; ``notes`` also records where the release differs from
the paper's text.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gpuefficient.papers import GENET_TABLE2, GPUNET_TABLE3, table3_rows
from gpuefficient.arch.scaling import scale_spec
from gpuefficient.arch.spec import NetworkSpec

__all__ = ["ZooEntry", "ZOO", "EFFICIENTNET_X_RELEASED", "names", "get", "paper_comparison"]


@dataclass(frozen=True)
class ZooEntry:
    """A network from a paper: its spec, where it comes from, and what the paper reports."""

    spec: NetworkSpec
    paper: dict = field(default_factory=dict)
    timm_equivalent: str | None = None
    notes: str = ""
    known_gaps: dict = field(default_factory=dict)  # "params"/"macs" -> ours / paper, explained in notes

    @property
    def name(self) -> str:
        return self.spec.name


def _genet(variant: str, stem: int, head: int, resolution: int, paper: dict, timm_name: str) -> ZooEntry:
    stages = [{"block": block, "depth": d, "out_channels": c, "stride": s, "kernel": k,
               "expansion": float(r) if block != "xx" else 1.0}
              for block, d, c, s, k, r in GENET_TABLE2[variant]]
    spec = NetworkSpec.from_dict({
        "name": f"genet_{variant}", "stem": {"out_channels": stem, "stride": 2}, "stages": stages,
        "head": {"channels": head}, "resolution": resolution,
        "source": f"GENet (Lin et al.), Table 2, GENet-{variant}: stem conv {stem}, final 1x1 conv {head}"})
    return ZooEntry(spec, paper, timm_name)


def _efficientnet_b0() -> ZooEntry:
    """EfficientNet-B0 (Tan and Le 2019, Table 1): MBConv + SE 0.25 + swish everywhere."""
    stages = [  # (kernel, stride, expansion, out_channels, depth)
        (3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
        (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
    spec = NetworkSpec.from_dict({
        "name": "efficientnet_b0", "stem": {"out_channels": 32, "activation": "silu"},
        "stages": [{"block": "mbconv", "depth": d, "out_channels": c, "stride": st, "kernel": k, "expansion": float(e),
                    "se_ratio": 0.25, "activation": "silu"} for k, st, e, c, d in stages],
        "head": {"channels": 1280, "activation": "silu", "dropout": 0.2}, "resolution": 224,
        "source": "EfficientNet (Tan and Le, ICML 2019), Table 1; the baseline of EfficientNet-X Table 3"})
    row = next(r for r in table3_rows() if r["model"] == "EfficientNet-B0")
    paper = {"macs": row["gmacs"] * 1e9, "params": row["params_m"] * 1e6, "resolution": 224, "top1": row["top1"],
             "v100_ms_b128": row["gpu_ms"], "tpuv3_ms_b128": row["tpu_ms"], "table": "EfficientNet-X Table 3"}
    return ZooEntry(spec, paper, "efficientnet_b0")


# --- EfficientNet-X (Li et al., CVPR 2021), as the authors' efficientnet_x_builder.py builds it ---------

#: Released B0 block strings, as (block, repeats, out, stride, kernel, expansion, space_to_depth):
#: r1_k3_s11_e1_i32_o16_se0.25_d1, r2_k3_s22_e6_i16_o24_se0.25_f1_d2, r2_k5_s22_e6_i24_o40_se0.25_f1,
#: r3_k3_s22_e6_i40_o80_se0.25, r3_k5_s11_e6_i80_o112_se0.25, r4_k5_s22_e6_i112_o192_se0.25,
#: r1_k3_s11_e6_i192_o320_se0.25 (stem 32, head 1280).
_X_B0 = [("mbconv", 1, 16, 1, 3, 1, 1), ("fused_mbconv", 2, 24, 2, 3, 6, 2), ("fused_mbconv", 2, 40, 2, 5, 6, 0),
         ("mbconv", 3, 80, 2, 3, 6, 0), ("mbconv", 3, 112, 1, 5, 6, 0), ("mbconv", 4, 192, 2, 5, 6, 0),
         ("mbconv", 1, 320, 1, 3, 6, 0)]
#: Per-stage activations: the release's ``a0``/``a1`` (ReLU, swish in the fused stages; stem and
#: head take the global ReLU), used by the release for both platforms; and Table 1's GPU column.
_X_ACTIVATIONS = {"tpu": ("relu", "swish", "swish", "relu", "relu", "relu", "relu"),
                  "gpu": ("relu",) * 7}
#: The released family multipliers (efficientnet_x_builder.efficientnet_x_params), per platform, B0..B7:
#: (width, depth, resolution, dropout, se_coefficient).
EFFICIENTNET_X_RELEASED = {
    "gpu": [(1.0, 1.0, 224, 0.2, 4), (1.05, 1.09, 229, 0.2, 2), (1.13, 1.24, 237, 0.3, 1), (1.31, 1.63, 255, 0.3, 1),
            (1.63, 2.4, 282, 0.4, 1), (1.94, 3.29, 306, 0.4, 1), (2.25, 4.28, 328, 0.5, 1),
            (2.58, 5.46, 350, 0.5, 1)],
    "tpu": [(1.0, 1.0, 224, 0.2, 4), (1.05, 1.09, 229, 0.2, 2), (1.13, 1.29, 244, 0.3, 1), (1.27, 1.62, 263, 0.3, 1),
            (1.54, 2.38, 299, 0.4, 1), (1.96, 2.76, 332, 0.4, 1), (2.75, 3.01, 328, 0.5, 1),
            (3.26, 3.44, 350, 0.5, 1)],
}
#: ours / paper (CVPR Table 3) where the gap exceeds 2%, measured on the builds below.
_X_GAPS = {
    "tpu": {2: {"macs": 1.427}, 3: {"macs": 0.978}, 4: {"macs": 1.051}, 5: {"macs": 1.098}, 6: {"macs": 1.035},
            7: {"macs": 0.919}},
    "gpu": {2: {"params": 0.935, "macs": 1.339}, 3: {"params": 1.051}, 4: {"params": 1.091, "macs": 0.966},
            5: {"params": 1.201, "macs": 1.105}, 6: {"params": 0.892, "macs": 0.901}, 7: {"macs": 0.909}},
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
    stages = [{"block": block, "depth": d, "out_channels": c, "stride": st, "kernel": k, "expansion": float(e),
               "se_ratio": 1.0, "activation": act, "space_to_depth": s2d,
               "padding": "same" if s2d == 1 else "symmetric"}
              for (block, d, c, st, k, e, s2d), act in zip(_X_B0, _X_ACTIVATIONS[platform])]
    return NetworkSpec.from_dict({
        "name": f"efficientnet_x_b0_{platform}", "stem": {"out_channels": 32, "activation": "relu"},
        "stages": stages, "head": {"channels": 1280, "activation": "relu", "dropout": 0.2}, "resolution": 224,
        "source": f"EfficientNet-X-B0 ({platform.upper()}), Li et al. CVPR 2021 Table 1, as built by "
                  "tensorflow/tpu models/official/efficientnet/tpu/efficientnet_x_builder.py"})


def _efficientnet_x(platform: str, index: int) -> ZooEntry:
    """EfficientNet-X-B``index``: the B0 spec scaled by the release's coefficients for ``platform``."""
    width, depth, resolution, dropout, se_coefficient = EFFICIENTNET_X_RELEASED[platform][index]
    base = _efficientnet_x_b0(platform)
    if index == 0:
        spec = base
    else:
        spec = scale_spec(base, width, depth, resolution, name=f"efficientnet_x_b{index}_{platform}", dropout=dropout,
                          source=f"EfficientNet-X-B{index} ({platform.upper()}): efficientnet_x_b0_{platform} scaled "
                                 f"by width {width}, depth {depth}, resolution {resolution} "
                                 f"(release efficientnet-x-{platform}-b{index})")
        spec = dataclasses.replace(spec, stages=tuple(dataclasses.replace(stage, se_ratio=0.25 * se_coefficient)
                                                      for stage in spec.stages))
    row = next(r for r in table3_rows() if r["model"] == f"EfficientNet-X-B{index}")
    paper = {"macs": row["gmacs"] * 1e9, "params": row["params_m"] * 1e6, "resolution": resolution,
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


# --- GPUNet (Wang et al.), as NVIDIA's released configs and builder build it ----------------------

#: Released configs (DeepLearningExamples/PyTorch/Classification/GPUNet/configs/batch1/GV100/
#: 0.65ms, 0.85ms, 1.75ms.json) as stages (block, repeats, out, stride, kernel, expansion, SE, act).
_GPUNET = {
    0: (320, 32, [("conv", 2, 32, 1, 3, 1, 0, "relu"), ("fused_mbconv", 2, 32, 2, 3, 5, 0, "relu"),
                  ("fused_mbconv", 3, 64, 2, 3, 5, 0, "relu"), ("mbconv", 3, 256, 2, 3, 5, 0, "swish"),
                  ("mbconv", 2, 704, 2, 3, 5, 0.25, "relu")], "0.65ms"),
    1: (288, 24, [("conv", 1, 24, 1, 3, 1, 0, "relu"), ("fused_mbconv", 2, 64, 2, 3, 4, 0, "swish"),
                  ("fused_mbconv", 2, 96, 2, 3, 4, 0, "swish"), ("mbconv", 1, 160, 2, 3, 2, 0.25, "swish"),
                  ("mbconv", 4, 288, 1, 3, 5, 0, "relu"), ("mbconv", 4, 448, 2, 3, 4, 0.25, "relu")], "0.85ms"),
    2: (384, 32, [("conv", 3, 32, 1, 3, 1, 0, "relu"), ("fused_mbconv", 1, 32, 2, 5, 6, 0.25, "swish"),
                  ("fused_mbconv", 3, 112, 2, 3, 3, 0, "swish"), ("mbconv", 6, 144, 2, 3, 6, 0, "swish"),
                  ("mbconv", 4, 160, 1, 5, 3, 0, "relu"), ("mbconv", 8, 224, 2, 3, 3, 0.25, "swish"),
                  ("mbconv", 7, 832, 1, 5, 2, 0, "relu")], "1.75ms"),
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
    resolution, stem, stages, config = _GPUNET[index]
    spec = NetworkSpec.from_dict({
        "name": f"gpunet_{index}", "stem": {"out_channels": stem, "activation": "swish"},
        "stages": [{"block": block, "depth": d, "out_channels": c, "stride": s, "kernel": k, "expansion": float(e),
                    "se_ratio": se, "activation": act, "padding": "same_static" if block == "fused_mbconv" else
                    "symmetric"} for block, d, c, s, k, e, se, act in stages],
        "head": {"channels": 1280, "activation": "relu", "dropout": 0.2}, "resolution": resolution,
        "source": f"GPUNet-{index} (Wang et al.), Fig. 6 and Table 3; NVIDIA DeepLearningExamples GPUNet config "
                  f"batch1/GV100/{config}.json"})
    top1, trt_ms, params_m, gflops, res = GPUNET_TABLE3[f"GPUNet-{index}"]
    paper = {"macs": gflops * 1e9, "params": params_m * 1e6, "resolution": res, "top1": top1,
             "gv100_trt_fp16_ms_b1": trt_ms, "table": "GPUNet Table 3 (FLOPS = multiply-adds)"}
    return ZooEntry(spec, paper, None, _GPUNET_NOTES)


ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in (
    _efficientnet_b0(),
    _genet("light", 13, 1920, 192, {"macs": 552e6, "params": 8.17e6, "resolution": 192, "top1": 75.7,
                                    "v100_fp16_ms_per_image_b64": 0.1, "table": "GENet Tables 2 and 3"}, "gernet_s"),
    _genet("normal", 32, 2560, 192, {"macs": 2.2e9, "params": 21e6, "resolution": 192, "top1": 80.0,
                                     "v100_fp16_ms_per_image_b64": 0.20, "table": "GENet Tables 2 and 3"}, "gernet_m"),
    _genet("large", 32, 2560, 256, {"macs": 4.6e9, "params": 31e6, "resolution": 256, "top1": 81.3,
                                    "v100_fp16_ms_per_image_b64": 0.34, "table": "GENet Tables 2 and 3"}, "gernet_l"),
    *(_efficientnet_x(platform, index) for platform in ("gpu", "tpu") for index in range(8)),
    *(_gpunet(index) for index in range(3)),
)}


def names() -> list[str]:
    return sorted(ZOO)


def get(name: str) -> ZooEntry:
    """The zoo entry called ``name``."""
    if name not in ZOO:
        raise ValueError(f"zoo: got {name!r}, expected one of {names()}")
    return ZOO[name]


def paper_comparison(name: str, tolerance: float = 0.02) -> dict:
    """Params and MACs of ``name`` as built (meta device: no memory) next to the paper's, at its resolution.

    ``status`` per count: "within" (ours / paper within ``tolerance``), "known gap" (outside, and the
    entry's ``known_gaps`` and ``notes`` explain it) or "unexplained" (a bug to fix).
    """
    import torch

    from gpuefficient.arch.builder import build
    from gpuefficient.analysis.costs import analyze

    entry = get(name)
    res = entry.spec.resolution
    with torch.device("meta"):
        model = build(entry.spec)
    report = analyze(model, (1, 3, res, res))
    row = {"name": name, "resolution": res, "paper_resolution": entry.paper.get("resolution"),
           "table": entry.paper.get("table", "")}
    for key, ours in (("params", report.params), ("macs", report.macs)):
        paper = entry.paper.get(key)
        ratio = ours / paper if paper else float("nan")
        status = ("within" if abs(ratio - 1) <= tolerance else
                  "known gap" if key in entry.known_gaps else "unexplained") if paper else "not reported"
        row.update({f"{key}_ours": ours, f"{key}_paper": paper, f"{key}_ratio": ratio, f"{key}_status": status})
    return row
