"""The papers' networks as specs, each with its source and the paper's reported numbers.

So far: GENet-light/normal/large (Lin et al., Table 2). EfficientNet-X and GPUNet follow (the
zoo issue). Each entry's ``paper`` dict holds the numbers as the paper reports them; ``macs``
is what GENet's Table 2 calls FLOPs (multiply-adds, checked against our count).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gpuefficient.papers import GENET_TABLE2
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


ZOO: dict[str, ZooEntry] = {entry.name: entry for entry in (
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
