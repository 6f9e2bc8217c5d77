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


#: The utilization study (Kosaian & Phanishayee, ../shared/papers/003_...), Sec. 3.1: the V100's peak
#: *achievable* FP16 rate, measured on a large Tensor-Core matrix multiplication, in TFLOP/s: the
#: denominator of its GPU utilization.
V100_FP16_ACHIEVABLE_TFLOPS = 100

#: The same paper, Appendix Tables 1 and 2 (Table 2 continues Table 1): the survey of timm CNNs and
#: Once-for-All V100 networks on a V100, TensorRT FP16, at the largest batch that fits, 224 x 224
#: inputs. ``top1`` in %, ``throughput`` in images/s, ``tflops`` the achieved TFLOP/s (throughput x
#: FLOPs per image, FLOPs = 2 x multiply-adds: ResNet-50's 71.34 / 8722.50 = 8.18 GFLOPs = 2 x 4.1
#: GMACs); utilization = ``tflops`` / ``V100_FP16_ACHIEVABLE_TFLOPS``. The three flags are the paper's
#: "X" marks: on the throughput-accuracy, TFLOPS-accuracy and throughput-TFLOPS Pareto frontiers.
#: The text introduces 103 CNNs; the two tables list these 93.
UTILIZATION_SURVEY_COLUMNS = ("model", "top1", "throughput", "tflops", "on_tput_acc_frontier",
                              "on_tflops_acc_frontier", "on_tput_tflops_frontier")
UTILIZATION_SURVEY = [
    # model,             top1,  images/s, TFLOP/s, tput-acc, tflops-acc, tput-tflops
    ("tresnet_m", 83.08, 8444.73, 96.86, True, True, True),
    ("efficientnetv2_m", 85.10, 1039.29, 38.39, True, True, False),
    ("seresnet152d", 84.36, 1175.21, 56.39, True, True, False),
    ("gernet_s", 76.92, 31344.26, 46.65, True, False, True),
    ("regnetx_004", 72.40, 39215.73, 31.19, True, False, True),
    ("regnetx_002", 68.76, 50893.82, 20.26, True, False, True),
    ("efficientnetv2_s", 83.90, 2176.89, 36.42, True, False, False),
    ("gernet_m", 80.73, 12411.49, 74.58, True, False, False),
    ("ofanet-v100_@6ms", 73.00, 32903.61, 11.80, True, False, False),
    ("ofanet-v100_@5ms", 71.00, 42038.86, 11.87, True, False, False),
    ("regnety_002", 70.25, 42492.74, 16.96, True, False, False),
    ("resnetrs270", 84.43, 535.07, 54.49, False, True, False),
    ("resnetrs152", 83.71, 1169.59, 56.72, False, True, False),
    ("resnet18", 69.75, 22409.05, 81.30, False, False, True),
    ("resnetrs200", 84.07, 858.29, 53.86, False, False, False),
    ("regnety_032", 82.72, 2915.10, 30.60, False, False, False),
    ("resnetrs101", 82.29, 2062.88, 55.70, False, False, False),
    ("tresnet_x1", 82.05, 2552.27, 77.41, False, False, False),
    ("tresnet_l", 81.49, 3411.52, 74.21, False, False, False),
    ("wide_resnet50", 81.46, 4002.17, 91.23, False, False, False),
    ("gernet_l", 81.35, 8166.70, 74.43, False, False, False),
    ("seresnext50_32x4d", 81.27, 3998.37, 33.85, False, False, False),
    ("seresnext101_32x4d", 80.90, 2657.49, 42.39, False, False, False),
    ("repvgg_b3", 80.49, 1526.05, 88.88, False, False, False),
    ("seresnet50", 80.27, 6059.46, 49.59, False, False, False),
    ("repvgg_b3g4", 80.21, 2082.79, 74.35, False, False, False),
    ("dpn107", 80.16, 887.80, 32.49, False, False, False),
    ("efficientnet_b2", 80.10, 4518.30, 9.83, False, False, False),
    ("cspresnext50", 80.04, 4911.09, 30.20, False, False, False),
    ("dpn92", 80.01, 1677.89, 21.82, False, False, False),
    ("ofanet-flops@595M", 80.00, 7063.24, 8.41, False, False, False),
    ("resnetrs50", 79.89, 5189.78, 44.55, False, False, False),
    ("dpn131", 79.82, 1002.03, 32.09, False, False, False),
    ("resnext50_32x4d", 79.77, 5011.84, 42.41, False, False, False),
    ("regnety_064", 79.72, 3313.35, 42.11, False, False, False),
    ("resnext50d_32x4d", 79.68, 4755.81, 42.52, False, False, False),
    ("dpn98", 79.64, 1435.61, 33.51, False, False, False),
    ("ofanet-flops@482M", 79.60, 9035.14, 8.72, False, False, False),
    ("cspresnet50", 79.57, 6691.55, 60.45, False, False, False),
    ("hrnet_w64", 79.47, 1277.18, 73.81, False, False, False),
    ("repvgg_b2g4", 79.37, 2542.93, 64.03, False, False, False),
    ("resnext101_32x8d", 79.31, 2265.54, 74.37, False, False, False),
    ("hrnet_w48", 79.30, 1612.77, 55.73, False, False, False),
    ("regnety_040", 79.22, 6893.49, 54.78, False, False, False),
    ("dpn68b", 79.22, 4644.92, 21.61, False, False, False),
    ("regnetx_080", 79.19, 4313.02, 68.97, False, False, False),
    ("ofanet-flops@389M", 79.10, 11343.95, 8.84, False, False, False),
    ("efficientnet_b1", 79.10, 6249.63, 9.29, False, False, False),
    ("resnet50", 79.04, 8722.50, 71.34, False, False, False),
    ("hrnet_w40", 78.92, 1742.82, 44.24, False, False, False),
    ("hrnet_w44", 78.90, 1632.27, 48.59, False, False, False),
    ("repvgg_b2", 78.79, 1999.03, 81.63, False, False, False),
    ("dla169", 78.69, 2610.92, 60.35, False, False, False),
    ("dla102x", 78.51, 3209.39, 37.54, False, False, False),
    ("regnetx_040", 78.48, 5317.33, 42.16, False, False, False),
    ("dla60_res2net", 78.46, 4167.03, 34.36, False, False, False),
    ("hrnet_w32", 78.45, 2842.49, 50.72, False, False, False),
    ("dla60_res2next", 78.44, 4035.40, 27.91, False, False, False),
    ("seresnet101", 78.38, 3552.61, 55.46, False, False, False),
    ("repvgg_b1", 78.37, 3120.94, 81.94, False, False, False),
    ("dla60x", 78.25, 4394.39, 30.91, False, False, False),
    ("hrnet_w30", 78.21, 2745.27, 44.51, False, False, False),
    ("regnetx_032", 78.17, 7045.64, 44.76, False, False, False),
    ("dla102", 78.03, 3795.49, 54.39, False, False, False),
    ("seresnext26t_32x4d", 77.99, 6081.96, 32.60, False, False, False),
    ("regnety_016", 77.86, 7238.16, 23.34, False, False, False),
    ("tv_resnext50_32x4d", 77.62, 5015.94, 42.44, False, False, False),
    ("seresnext26d_32x4d", 77.60, 6070.07, 32.92, False, False, False),
    ("repvgg_b1g4", 77.59, 4135.22, 67.14, False, False, False),
    ("mixnet_m", 77.26, 4722.31, 3.20, False, False, False),
    ("efficientnet_b0", 77.10, 11612.13, 8.96, False, False, False),
    ("dla60", 77.03, 5507.80, 46.66, False, False, False),
    ("regnetx_016", 76.95, 8326.46, 26.69, False, False, False),
    ("hrnet_w18", 76.76, 3198.62, 27.40, False, False, False),
    ("repvgg_a2", 76.46, 6444.23, 73.28, False, False, False),
    ("dpn68", 76.32, 4105.41, 19.10, False, False, False),
    ("regnety_008", 76.32, 19957.41, 31.82, False, False, False),
    ("ofanet-v100_@11ms", 76.10, 16811.99, 11.83, False, False, False),
    ("mixnet_s", 75.99, 6812.00, 3.26, False, False, False),
    ("ofanet-v100_@9ms", 75.30, 21176.05, 13.25, False, False, False),
    ("regnety_006", 75.25, 23534.66, 28.30, False, False, False),
    ("repvgg_b0", 75.15, 9027.21, 61.33, False, False, False),
    ("hrnet_w18_small_v2", 75.11, 6063.18, 31.48, False, False, False),
    ("regnetx_008", 75.04, 23851.86, 38.15, False, False, False),
    ("seresnet34", 74.81, 10143.47, 74.33, False, False, False),
    ("dla34", 74.63, 7573.85, 46.35, False, False, False),
    ("regnety_004", 74.03, 24692.65, 19.85, False, False, False),
    ("regnetx_006", 73.85, 18555.66, 22.30, False, False, False),
    ("hrnet_w18_small", 72.34, 11923.19, 38.19, False, False, False),
    ("seresnet18", 71.74, 18435.65, 66.89, False, False, False),
    ("dla60x_c", 67.89, 7120.45, 8.28, False, False, False),
    ("dla46x_c", 65.97, 7567.59, 8.06, False, False, False),
    ("dla46_c", 64.87, 12140.11, 13.94, False, False, False),
]


def utilization_survey_rows() -> list[dict]:
    """The survey (Appendix Tables 1-2) as dicts, with ``utilization`` = tflops / 100 added (a fraction)."""
    return [{**dict(zip(UTILIZATION_SURVEY_COLUMNS, row)), "utilization": row[3] / V100_FP16_ACHIEVABLE_TFLOPS}
            for row in UTILIZATION_SURVEY]


__all__ += ["V100_FP16_ACHIEVABLE_TFLOPS", "UTILIZATION_SURVEY", "UTILIZATION_SURVEY_COLUMNS",
            "utilization_survey_rows"]


#: GENet (Lin et al.), Table 3: latency (ms per image) and the GENet's speed-up over each baseline of its
#: accuracy group, on V100 FP16 at batch 64 (PyTorch), T4 FP16 and T4 INT8 at batch 32 (TensorRT).
#: ``group``: the GENet the row is compared with (speed-up = the row's latency / the GENet's).
GENET_TABLE3 = {
    # model:            (group,          top1, v100_fp16_ms, t4_fp16_ms, t4_int8_ms)
    "GENet-light": ("GENet-light", 75.7, 0.1, 0.14, 0.1),
    "ResNet-34": ("GENet-light", 74.4, 0.22, 0.33, 0.19),
    "RegNetY-600MF": ("GENet-light", 75.5, 0.31, 0.28, 0.22),
    "MobileNetV2-1.4": ("GENet-light", 74.7, 0.24, 0.30, 0.20),
    "DNANet-2a": ("GENet-light", 76.0, 0.19, 0.24, 0.16),
    "OFANet-9ms": ("GENet-light", 75.3, 0.14, 0.21, 0.15),
    "GENet-normal": ("GENet-normal", 80.0, 0.20, 0.25, 0.15),
    "ResNet-152": ("GENet-normal", 79.2, 0.94, 1.04, 0.55),
    "EfficientNet-B2": ("GENet-normal", 79.8, 0.64, 1.32, 1.02),
    "OFANet-595M": ("GENet-normal", 80.0, 0.41, 0.71, 0.63),
    "GENet-large": ("GENet-large", 81.3, 0.34, 0.44, 0.26),
    "EfficientNet-B3": ("GENet-large", 81.1, 1.12, 2.36, 1.67),
}
#: The speed-ups GENet Table 3 prints for the EfficientNet rows (V100 FP16, T4 FP16, T4 INT8), as printed.
GENET_TABLE3_SPEEDUPS = {"EfficientNet-B2": (3.2, 5.3, 6.8), "EfficientNet-B3": (3.3, 5.4, 6.4)}

__all__ += ["GENET_TABLE3", "GENET_TABLE3_SPEEDUPS"]
