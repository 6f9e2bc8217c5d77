"""Numbers reported in the papers, kept as data with their source so chapters can cite them.

Every figure here is copied from the paper named in the table's docstring; the book labels them
"paper" and never mixes them with measurements.
"""
from __future__ import annotations

__all__ = ["EFFICIENTNET_X_TABLE3", "EFFICIENTNET_X_TABLE3_ARXIV", "GPUNET_TABLE3", "TABLE3_COLUMNS",
           "V100_FP16_CMR", "GENET_TABLE2", "GENET_TABLE7",
           "GENET_TABLE7_BATCHES", "EFFICIENTNET_X_TABLE5", "EFFICIENTNET_X_TABLE6", "table3_rows",
           "table3_arxiv_rows", "genet_table7_rows"]

#: EfficientNet-X (Li et al., CVPR 2021), Table 3. ``gmacs`` is the paper's "#FLOPs (Billion)",
#: which its footnote defines as multiply-adds; ``intensity`` (Ops/Byte) and ``efficiency`` (E)
#: were measured on TPUv3; latencies are for 128 images at batch 128 on TPUv3 / V100.
#: ``timm`` names the equivalent timm architecture (None: not in timm) and ``resolution`` the input
#: size of the original papers (EfficientNet, Inception, ResNeSt, NASNet), used for our analysis
#: (None for EfficientNet-X, which the zoo chapter builds).
EFFICIENTNET_X_TABLE3 = [
    # model,               acc,  params_m, gmacs, intensity, E,     tpu_ms, gpu_ms, timm,            resolution
    ("EfficientNet-X-B0", 77.3, 7.6, 0.91, 63.8, 0.573, 8.71, 22.5, None, None),
    ("EfficientNet-B0", 77.3, 5.3, 0.39, 19.7, 0.524, 13.4, 38.1, "efficientnet_b0", 224),
    ("ResNet-50", 76.0, 26, 4.1, 122.5, 0.572, 35.1, 35.6, "resnet50", 224),
    ("RegNetY-800MF", 76.3, 6.3, 0.8, 12.7, 0.30, 45.1, 33.9, "regnety_008", 224),
    ("EfficientNet-X-B1", 79.4, 10.4, 1.58, 65.5, 0.592, 13.6, 34.4, None, None),
    ("EfficientNet-B1", 79.2, 7.8, 0.70, 21.4, 0.513, 22.3, 60.5, "efficientnet_b1", 240),
    ("Inception-v3", 78.8, 24, 5.7, 94.6, 0.345, 104.8, 55.6, "inception_v3", 299),
    ("RegNetY-4.0GF", 79.4, 26, 4.0, 19.4, 0.292, 109.5, 75.1, "regnety_040", 224),
    ("EfficientNet-X-B2", 80.0, 11.5, 1.89, 73.0, 0.548, 15.7, 45.5, None, None),
    ("EfficientNet-B2", 80.3, 9.2, 1.0, 24.1, 0.488, 29.8, 77.2, "efficientnet_b2", 260),
    ("Inception-v4", 80.0, 48, 13, 148.5, 0.353, 75.1, 119.9, "inception_v4", 299),
    ("RegNetY-8.0GF", 79.9, 39.2, 8.0, 27.9, 0.324, 190.5, 122.1, "regnety_080", 224),
    ("EfficientNet-X-B3", 81.4, 16, 4.3, 84.0, 0.512, 31.9, 66.6, None, None),
    ("EfficientNet-B3", 81.7, 12, 1.8, 26.1, 0.513, 48.1, 128.8, "efficientnet_b3", 300),
    ("EfficientNet-X-B4", 83.0, 34, 10.4, 101.5, 0.477, 64.9, 149.2, None, None),
    ("EfficientNet-B4", 83.0, 19, 4.2, 31.29, 0.478, 102.6, 310.7, "efficientnet_b4", 380),
    ("NASNet-A", 82.7, 89, 24, 55.2, 0.438, 269.5, 481.2, "nasnetalarge", 331),
    ("ResNeSt-101", 83.0, 48, 13, 71.7, 0.281, 92.3, 149.4, "resnest101e", 256),
    ("EfficientNet-X-B5", 83.7, 60, 22.2, 126.1, 0.478, 125.9, 290.2, None, None),
    ("EfficientNet-B5", 83.7, 30, 9.9, 39.7, 0.468, 192.5, 640.1, "efficientnet_b5", 456),
    ("ResNeSt-200", 83.9, 70, 36.3, 68.7, 0.699, 244.3, 415.6, "resnest200e", 320),
    ("EfficientNet-X-B6", 84.4, 137, 52, 167.5, 0.362, 258.1, 467.2, None, None),
    ("EfficientNet-B6", 84.4, 43, 19, 43.9, 0.450, 334.2, 1040.6, "efficientnet_b6", 528),
    ("EfficientNet-X-B7", 84.7, 199, 93, 194.3, 0.394, 396.1, 847.7, None, None),
    ("EfficientNet-B7", 84.7, 66, 37, 48.3, 0.434, 621.4, 1471.3, "efficientnet_b7", 600),
    ("ResNeSt-269", 84.5, 111, 77, 72.9, 0.702, 501.9, 864.9, "resnest269e", 416),
]
TABLE3_COLUMNS = ("model", "top1", "params_m", "gmacs", "intensity", "efficiency", "tpu_ms", "gpu_ms",
                  "timm", "resolution")

#: The utilization study (Kosaian & Phanishayee), Sec. 3.2: the V100's FP16 compute-to-memory ratio.
V100_FP16_CMR = 139


def table3_rows() -> list[dict]:
    """EfficientNet-X Table 3 as a list of dicts (columns in ``TABLE3_COLUMNS``)."""
    return [dict(zip(TABLE3_COLUMNS, row)) for row in EFFICIENTNET_X_TABLE3]

#: GENet (Lin et al.), Table 2: the super-blocks after the stem of GENet-light/normal/large, as
#: (block type, depth, width, stride, kernel, r). r is relative to the block's output width.
#: The stem (a 3x3 stride-2 conv) and the final 1x1 conv are left out.
GENET_TABLE2 = {
    "light": [("xx", 1, 48, 2, 3, 1), ("xx", 3, 48, 2, 3, 1), ("bl", 7, 384, 2, 3, 0.25),
              ("dw", 2, 560, 2, 3, 3), ("dw", 1, 256, 1, 3, 3)],
    "normal": [("xx", 1, 128, 2, 3, 1), ("xx", 2, 192, 2, 3, 1), ("bl", 6, 640, 2, 3, 0.25),
               ("dw", 4, 640, 2, 3, 3), ("dw", 1, 640, 1, 3, 3)],
    "large": [("xx", 1, 128, 2, 3, 1), ("xx", 2, 192, 2, 3, 1), ("bl", 6, 640, 2, 3, 0.25),
              ("dw", 5, 640, 2, 3, 3), ("dw", 4, 640, 1, 3, 3)],
}

#: GENet (Lin et al.), Table 7: latency in ms per image on a V100, FP16, at batch sizes 1..64, for
#: the networks that timm or our zoo can build (``timm``: the equivalent model name; GENet's own
#: nets map to timm's gernet_s/m/l, which are the same architectures). The paper's latencies
#: are per image: batch time divided by batch size.
GENET_TABLE7_BATCHES = (1, 2, 4, 8, 16, 32, 64)
GENET_TABLE7 = {
    # model:            (timm,             top1, ms/image at batch 1, 2, 4, 8, 16, 32, 64)
    "RegNetY-800MF": ("regnety_008", 76.3, (12.80, 6.69, 3.69, 1.96, 0.82, 0.46, 0.31)),
    "ResNet-18": ("resnet18", 70.9, (2.87, 1.39, 0.71, 0.38, 0.19, 0.15, 0.13)),
    "ResNet-34": ("resnet34", 74.4, (5.13, 2.42, 1.23, 0.62, 0.32, 0.24, 0.22)),
    "ResNet-50": ("resnet50", 77.4, (6.77, 3.42, 1.86, 0.93, 0.46, 0.43, 0.40)),
    "ResNet-101": ("resnet101", 78.3, (13.24, 7.41, 3.62, 1.67, 0.83, 0.71, 0.66)),
    "EfficientNet-B0": ("efficientnet_b0", 76.3, (11.55, 6.24, 3.06, 1.49, 0.73, 0.40, 0.35)),
    "EfficientNet-B1": ("efficientnet_b1", 78.8, (16.55, 8.30, 4.09, 2.07, 1.03, 0.59, 0.55)),
    "EfficientNet-B2": ("efficientnet_b2", 79.8, (16.35, 8.07, 4.07, 2.04, 1.04, 0.69, 0.64)),
    "EfficientNet-B3": ("efficientnet_b3", 81.1, (18.64, 10.04, 5.06, 2.39, 1.28, 1.18, 1.12)),
    "MobileNetV2-1.0": ("mobilenetv2_100", 72.0, (5.78, 2.89, 1.34, 0.67, 0.34, 0.17, 0.17)),
    "MnasNet-1.0": ("mnasnet_100", 74.2, (5.84, 2.92, 1.34, 0.72, 0.34, 0.19, 0.17)),
    "GENet-light": ("gernet_s", 75.7, (5.48, 2.94, 1.37, 0.69, 0.34, 0.19, 0.09)),
    "GENet-normal": ("gernet_m", 80.0, (5.77, 3.14, 1.48, 0.78, 0.37, 0.23, 0.20)),
    "GENet-large": ("gernet_l", 81.3, (7.03, 3.55, 1.78, 0.89, 0.45, 0.38, 0.33)),
}


def genet_table7_rows() -> list[dict]:
    """GENet Table 7 long-form: one dict per (model, batch) with ``ms_per_image``."""
    return [{"model": model, "timm": timm_name, "top1": top1, "batch": batch, "ms_per_image": ms}
            for model, (timm_name, top1, values) in GENET_TABLE7.items()
            for batch, ms in zip(GENET_TABLE7_BATCHES, values)]


#: EfficientNet-X, the arXiv version with appendices (../shared/papers/002_...), Table 3: its
#: EfficientNet-X rows differ from the CVPR version's (``EFFICIENTNET_X_TABLE3``) in params and
#: FLOPs of X-B1..B7 (and B6/B7 TPU latency). They match the release's ``efficientnet-x-b1..b7``
#: (EfficientNet's own coefficients, 240..600 px), not its LACS families; GPUNet's Table 3 quotes
#: them. Same columns as ``TABLE3_COLUMNS`` (``timm`` and ``resolution`` None).
EFFICIENTNET_X_TABLE3_ARXIV = [
    # model,               acc,  params_m, gmacs, intensity, E,     tpu_ms, gpu_ms, timm, resolution
    ("EfficientNet-X-B0", 77.3, 7.6, 0.91, 63.8, 0.573, 8.71, 22.5, None, None),
    ("EfficientNet-X-B1", 79.4, 9.6, 1.58, 65.5, 0.592, 13.6, 34.4, None, None),
    ("EfficientNet-X-B2", 80.0, 10.0, 2.3, 73.0, 0.548, 15.7, 45.5, None, None),
    ("EfficientNet-X-B3", 81.4, 13.3, 4.3, 84.0, 0.512, 31.9, 66.6, None, None),
    ("EfficientNet-X-B4", 83.0, 21.6, 10.4, 101.5, 0.477, 64.9, 149.2, None, None),
    ("EfficientNet-X-B5", 83.7, 33.4, 24.4, 126.1, 0.478, 125.9, 290.2, None, None),
    ("EfficientNet-X-B6", 84.4, 47.7, 47, 167.5, 0.362, 237.6, 467.2, None, None),
    ("EfficientNet-X-B7", 84.7, 73.2, 91, 194.3, 0.394, 433.9, 847.7, None, None),
]


def table3_arxiv_rows() -> list[dict]:
    """The arXiv version's Table 3 EfficientNet-X rows as dicts (columns in ``TABLE3_COLUMNS``)."""
    return [dict(zip(TABLE3_COLUMNS, row)) for row in EFFICIENTNET_X_TABLE3_ARXIV]


#: GPUNet (Wang et al.), Table 3, "Without Distillation": GPUNet-0/1/2 and the EfficientNet-X
#: rows. ``gflops`` is the paper's "#FLOPS (Billion)", which counts multiply-adds (its
#: EfficientNet-B0 row says 0.38, EfficientNet-X's Table 3 0.39 GMACs; our builds agree);
#: ``trt_ms`` is TensorRT 8.0.1 FP16 GPU compute time at batch 1 on a GV100 (explicit shape).
#: The GPUNet resolutions are those of the released configs (NVIDIA DeepLearningExamples, GPUNet).
GPUNET_TABLE3 = {
    # model:                 (top1, trt_ms, params_m, gflops, resolution)
    "GPUNet-0": (78.9, 0.62, 11.9, 3.25, 320),
    "GPUNet-1": (80.5, 0.82, 12.7, 3.3, 288),
    "GPUNet-2": (82.2, 1.76, 25.8, 8.38, 384),
    "EfficientNetX-B0-GPU": (77.3, 1.05, 7.6, 0.91, None),  # resolution not stated
    "EfficientNetX-B2-GPU": (80.0, 1.61, 10, 2.3, None),
    "EfficientNetX-B3-GPU": (81.4, 2.1, 13.3, 4.3, None),
}


#: EfficientNet-X, arXiv version with appendices (../shared/papers/002_...), Table 6: (depth = layer
#: count, input resolution) of X-B0..B7 under single-objective compound scaling and under LACS on
#: GPU and on TPU, as reported.
EFFICIENTNET_X_TABLE6 = {
    # model: (single-objective, LACS on GPU, LACS on TPU)
    "X-B0": ((16, 224), (16, 224), (16, 224)),
    "X-B1": ((17, 240), (17, 229), (17, 229)),
    "X-B2": ((19, 260), (20, 241), (20, 243)),
    "X-B3": ((22, 300), (25, 258), (26, 263)),
    "X-B4": ((28, 380), (36, 289), (38, 298)),
    "X-B5": ((35, 456), (49, 317), (52, 331)),
    "X-B6": ((41, 528), (62, 343), (68, 361)),
    "X-B7": ((49, 600), (79, 368), (87, 391)),
}

#: EfficientNet-X, Table 2: the compound-scaling coefficients (alpha, beta, gamma) for depth, width and
#: resolution. The paper exists in two versions that print different LACS values: the CVPR 2021 paper
#: (../shared/papers/000_...) and the arXiv version with appendices (002_...). Chapters say which one
#: each number comes from; Tables 4-6 exist only in the arXiv version.
EFFICIENTNET_X_TABLE2 = {
    "CVPR 2021": {"Accuracy-only": (1.2, 1.1, 1.15), "LACS on GPU": (1.29, 1.16, 1.07),
                  "LACS on TPU": (1.29, 1.14, 1.08)},
    "arXiv (with appendices)": {"Accuracy-only": (1.2, 1.1, 1.15), "LACS on GPU": (1.28, 1.17, 1.07),
                                "LACS on TPU": (1.25, 1.17, 1.09)},
}

#: The same, Table 5: LACS coefficients (alpha, beta, gamma) searched at the X-B1 latency level and
#: directly at the X-B7 level on GPUv100, with the X-B7 (depth, resolution) each yields.
EFFICIENTNET_X_TABLE5 = {"X-B1 level": ((1.27, 1.16, 1.08), (75, 368)), "X-B7 level": ((1.28, 1.17, 1.07), (79, 350))}
