"""The papers' networks as specs, each with its source and the paper's reported numbers.

So far: EfficientNet-B0 (the baseline of EfficientNet-X) and GENet-light/normal/large (Lin et
al., Table 2). EfficientNet-X and GPUNet follow (the zoo issue). Each entry's ``paper`` dict holds
the numbers as the paper reports them; ``macs`` is what both papers call FLOPs (multiply-adds,
as EfficientNet-X's Table 3 footnote says and our count confirms for GENet).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gpuefficient.papers import GENET_TABLE2, table3_rows
from gpuefficient.spec import NetworkSpec

__all__ = ["ZooEntry", "ZOO", "names", "get"]


@dataclass(frozen=True)
class ZooEntry:
    """A network from a paper: its spec, where it comes from, and what the paper reports."""

    spec: NetworkSpec
    paper: dict = field(default_factory=dict)
    timm_equivalent: str | None = None

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


ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in (
    _efficientnet_b0(),
    _genet("light", 13, 1920, 192, {"macs": 552e6, "params": 8.17e6, "resolution": 192, "top1": 75.7,
                                    "v100_fp16_ms_per_image_b64": 0.1, "table": "GENet Tables 2 and 3"}, "gernet_s"),
    _genet("normal", 32, 2560, 192, {"macs": 2.2e9, "params": 21e6, "resolution": 192, "top1": 80.0,
                                     "v100_fp16_ms_per_image_b64": 0.20, "table": "GENet Tables 2 and 3"}, "gernet_m"),
    _genet("large", 32, 2560, 256, {"macs": 4.6e9, "params": 31e6, "resolution": 256, "top1": 81.3,
                                    "v100_fp16_ms_per_image_b64": 0.34, "table": "GENet Tables 2 and 3"}, "gernet_l"),
)}


def names() -> list[str]:
    return sorted(ZOO)


def get(name: str) -> ZooEntry:
    """The zoo entry called ``name``."""
    if name not in ZOO:
        raise ValueError(f"zoo: got {name!r}, expected one of {names()}")
    return ZOO[name]
