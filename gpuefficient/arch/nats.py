"""The NATS-Bench size search space (Dong et al., NATS-Bench, IEEE TPAMI 2021), generated from its definition.

The utilization study (Sec. 4) measures all of it. The definition, read from the authors' code
(github.com/D-X-Y/AutoDL-Projects: ``exps/NATS-Bench/main-sss.py`` for the space,
``xautodl/models/shape_infers/InferTinyCellNet.py`` (``DynamicShapeTinyNet``) for the network,
``xautodl/models/cell_infers/cells.py`` and ``xautodl/models/cell_operations.py`` for its parts;
the code here is our own):

* A member is 5 channel counts, each from {8, 16, ..., 64}: 8^5 = 32,768 members, named
  "C1:C2:C3:C4:C5". Index order is NATS-Bench's (``traverse_net``): the first layer varies slowest,
  so "8:8:8:8:8" is 0, "8:8:8:8:16" is 1 and "64:64:64:64:64" is 32,767.
* The topology is fixed: the cell
  ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``
  (the topology space's best cell on CIFAR-100). Node 1 = conv(node 0); node 2 = conv(node 0) +
  conv(node 1); node 3 = skip(node 0) + conv(node 1) + conv(node 2). Each conv is ReLU -> 3x3
  conv (no bias) -> BN; a conv reading node 0 maps C_in -> C_out, the others C_out -> C_out; skip is
  the identity when C_in == C_out, else a 1x1 conv (no bias) -> BN.
* The network: stem 3x3 conv (3 -> C1, no bias) -> BN; cell (C1 -> C1); residual reduction
  (C1 -> C2, stride 2); cell (C2 -> C3); residual reduction (C3 -> C4); cell (C4 -> C5); BN -> ReLU
  -> global average pool -> linear. A residual reduction is ReLU-conv3x3(stride 2)-BN,
  ReLU-conv3x3-BN, plus a shortcut of 2x2 average pooling -> 1x1 conv (no bias, no BN).

NATS-Bench's module returns (features, logits); ours returns the logits. Costs of all members come
from per-part costs computed once per channel pair (:func:`analyze_space`): every member shares
one topology, so its cost is a sum of six looked-up parts, equal to analysing the whole network.
"""
from __future__ import annotations

import csv
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from gpuefficient import checks, dtypes

__all__ = ["CHANNELS", "LAYERS", "CELL_GENOTYPE", "SPACE_SIZE", "members", "arch_string", "parse", "index_of",
           "NATSNetwork", "build_member", "SpaceCosts", "analyze_space", "AccuracyTable"]

CHANNELS = (8, 16, 24, 32, 40, 48, 56, 64)
LAYERS = 5
SPACE_SIZE = len(CHANNELS) ** LAYERS
CELL_GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


# --- names ----------------------------------------------------------------------------------------

def members() -> list[tuple[int, ...]]:
    """All 32,768 channel tuples in NATS-Bench's index order (first layer slowest)."""
    return list(itertools.product(CHANNELS, repeat=LAYERS))


def arch_string(channels: Sequence[int]) -> str:
    """NATS-Bench's name of a member: "C1:C2:C3:C4:C5"."""
    return ":".join(str(c) for c in parse(channels))


def parse(arch: str | Sequence[int]) -> tuple[int, ...]:
    """A member's channel tuple from its "C1:C2:C3:C4:C5" string (or a sequence), checked."""
    if isinstance(arch, str):
        try:
            values = tuple(int(part) for part in arch.split(":"))
        except ValueError:
            values = ()
    elif isinstance(arch, (tuple, list)) and all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                                                  for c in arch):
        values = tuple(int(c) for c in arch)
    else:
        values = ()
    if len(values) != LAYERS or any(c not in CHANNELS for c in values):
        raise ValueError(f"arch: got {arch!r}, expected {LAYERS} channel counts from {list(CHANNELS)}, like "
                         "'8:16:24:32:64'")
    return values


def index_of(arch: str | Sequence[int]) -> int:
    """The member's NATS-Bench index (0 .. 32,767)."""
    index = 0
    for c in parse(arch):
        index = index * len(CHANNELS) + CHANNELS.index(c)
    return index


# --- the network ----------------------------------------------------------------------------------

class ReLUConvBN(nn.Sequential):
    """ReLU -> KxK conv (no bias) -> BN: NATS-Bench's ``nor_conv`` operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1):
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Cell(nn.Module):
    """The fixed cell (``CELL_GENOTYPE``) from ``c_in`` to ``c_out`` channels, stride 1."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_1_from_0 = ReLUConvBN(c_in, c_out)
        self.conv_2_from_0 = ReLUConvBN(c_in, c_out)
        self.conv_2_from_1 = ReLUConvBN(c_out, c_out)
        self.conv_3_from_1 = ReLUConvBN(c_out, c_out)
        self.conv_3_from_2 = ReLUConvBN(c_out, c_out)
        self.skip_3_from_0 = (nn.Identity() if c_in == c_out else
                              nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        node1 = self.conv_1_from_0(x)
        node2 = self.conv_2_from_0(x) + self.conv_2_from_1(node1)
        return self.skip_3_from_0(x) + self.conv_3_from_1(node1) + self.conv_3_from_2(node2)


class ResidualReduction(nn.Module):
    """Stride-2 residual block from ``c_in`` to ``c_out``: two ReLU-conv-BN, average-pool + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class _Stem(nn.Sequential):
    def __init__(self, c_out: int, in_channels: int = 3):
        super().__init__(nn.Conv2d(in_channels, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))


class _Head(nn.Module):
    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.lastact(x)).flatten(1))


def _parts(channels: tuple[int, ...], num_classes: int) -> list[nn.Module]:
    """The seven parts in order: stem, cell, reduction, cell, reduction, cell, head."""
    c1, c2, c3, c4, c5 = channels
    return [_Stem(c1), Cell(c1, c1), ResidualReduction(c1, c2), Cell(c2, c3), ResidualReduction(c3, c4),
            Cell(c4, c5), _Head(c5, num_classes)]


class NATSNetwork(nn.Module):
    """One member of the size space as a module: (N, 3, H, W) images -> (N, num_classes) logits."""

    def __init__(self, arch: str | Sequence[int], num_classes: int = 10):
        super().__init__()
        self.channels = parse(arch)
        self.arch = arch_string(self.channels)
        checks.integer("num_classes", num_classes, 2)
        stem, *cells, head = _parts(self.channels, num_classes)
        self.stem, self.cells, self.head = stem, nn.Sequential(*cells), head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))


def build_member(arch: str | Sequence[int], num_classes: int = 10) -> NATSNetwork:
    """The module of member ``arch`` (a "C1:C2:C3:C4:C5" string or a channel tuple), randomly initialised."""
    return NATSNetwork(arch, num_classes)


# --- costs of the whole space ---------------------------------------------------------------------

_COST_FIELDS = ("flops", "elementwise_flops", "params", "bytes", "fused_bytes")


@dataclass(frozen=True)
class SpaceCosts:
    """Cost-model numbers of every member at one input shape: arrays in member index order.

    ``flops`` are conv/linear FLOPs (2 x MACs) for ``batch`` images; see
    :mod:`gpuefficient.analysis.costs` for every column's convention.
    """

    channels: np.ndarray          # (32768, 5) channel counts
    flops: np.ndarray
    elementwise_flops: np.ndarray
    params: np.ndarray
    bytes: np.ndarray
    fused_bytes: np.ndarray
    resolution: int
    batch: int
    dtype: str
    num_classes: int

    @property
    def archs(self) -> list[str]:
        return [":".join(map(str, row)) for row in self.channels.tolist()]

    @property
    def intensity(self) -> np.ndarray:
        return (self.flops + self.elementwise_flops) / self.bytes

    @property
    def fused_intensity(self) -> np.ndarray:
        return (self.flops + self.elementwise_flops) / self.fused_bytes

    def row(self, arch: str | Sequence[int]) -> dict[str, Any]:
        """The numbers of one member."""
        i = index_of(arch)
        return {"arch": arch_string(arch), "index": i, **{k: int(getattr(self, k)[i]) for k in _COST_FIELDS},
                "intensity": float(self.intensity[i]), "fused_intensity": float(self.fused_intensity[i])}

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame({"arch": self.archs, **{k: getattr(self, k) for k in _COST_FIELDS},
                             "intensity": self.intensity, "fused_intensity": self.fused_intensity})


class _Variants(nn.Module):
    """Several modules fed the same input: one cost analysis for all of them (rows named variants.<j>)."""

    def __init__(self, variants: list[nn.Module]):
        super().__init__()
        self.variants = nn.ModuleList(variants)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [variant(x) for variant in self.variants]


def analyze_space(resolution: int = 32, batch: int = 1, dtype="fp32", num_classes: int = 10) -> SpaceCosts:
    """Costs of all 32,768 members at ``batch`` images of ``resolution`` pixels (CIFAR: 32).

    Each part (stem, cells, reductions, last cell with the head) is analysed once per channel count or
    channel pair it depends on (the variants sharing an input in one analysis: 41 analyses, not
    32,768 networks); a member's cost is the sum of its parts.
    """
    from gpuefficient.analysis.costs import analyze

    resolution = checks.integer("resolution", resolution, 4)
    if resolution % 4:
        raise ValueError(f"resolution: got {resolution}, expected a multiple of 4 (two stride-2 reductions)")
    batch = checks.integer("batch", batch)
    checks.integer("num_classes", num_classes, 2)
    k = len(CHANNELS)
    r1, r2, r3 = resolution, resolution // 2, resolution // 4

    def costs(variants: list[nn.Module], c_in: int, size: int) -> np.ndarray:
        """(len(variants), fields) costs of modules that take the same input, in one analysis."""
        report = analyze(_Variants(variants), (batch, c_in, size, size), dtype)
        out = np.zeros((len(variants), len(_COST_FIELDS)), dtype=np.int64)
        for layer in report.layers:
            parts = layer.name.split(".")
            if len(parts) < 2 or parts[0] != "variants":
                raise RuntimeError(f"op {layer.op} ran outside the variants ({layer.name!r})")
            j = int(parts[1])
            out[j] += (layer.flops if layer.is_matmul else 0, 0 if layer.is_matmul else layer.flops, 0, layer.bytes,
                       layer.bytes if layer.is_matmul else 0)
        out[:, 2] = [sum(p.numel() for p in v.parameters()) for v in variants]
        return out

    with torch.device("meta"):
        stem = costs([_Stem(c) for c in CHANNELS], 3, r1)
        cell1 = np.stack([costs([Cell(c, c)], c, r1)[0] for c in CHANNELS])
        reduce2 = np.stack([costs([ResidualReduction(a, b) for b in CHANNELS], a, r1) for a in CHANNELS])
        cell3 = np.stack([costs([Cell(a, b) for b in CHANNELS], a, r2) for a in CHANNELS])
        reduce4 = np.stack([costs([ResidualReduction(a, b) for b in CHANNELS], a, r2) for a in CHANNELS])
        # the last cell and the head together (a head alone starts with BN, not a conv: the cost model
        # could not check its input)
        tail = np.stack([costs([nn.Sequential(Cell(a, b), _Head(b, num_classes)) for b in CHANNELS], a, r3)
                         for a in CHANNELS])

    idx = np.array(list(itertools.product(range(k), repeat=LAYERS)))
    i1, i2, i3, i4, i5 = idx.T
    total = stem[i1] + cell1[i1] + reduce2[i1, i2] + cell3[i2, i3] + reduce4[i3, i4] + tail[i4, i5]
    return SpaceCosts(np.array(CHANNELS)[idx], *(total[:, j] for j in range(len(_COST_FIELDS))),
                      resolution=resolution, batch=batch, dtype=dtypes.name(dtype), num_classes=num_classes)


# --- accuracy ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccuracyTable:
    """Accuracy per member ("C1:C2:C3:C4:C5" -> accuracy), with where the numbers come from.

    From a file (NATS-Bench's own numbers exported to CSV or JSON: :meth:`from_file`) or from a
    callable evaluated on some members (our training oracle on a sample: :meth:`from_callable`).
    Members not in the table have no accuracy (``array`` gives NaN), never an invented one.
    """

    accuracy: Mapping[str, float]
    provenance: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        clean = {}
        for key, value in dict(self.accuracy).items():
            arch = arch_string(parse(key))
            clean[arch] = checks.number(f"accuracy[{arch!r}]", value)
        if not clean:
            raise ValueError("accuracy: got no members, expected at least one arch -> accuracy entry")
        object.__setattr__(self, "accuracy", clean)
        if not isinstance(self.provenance, str) or not self.provenance:
            raise ValueError(f"provenance: got {self.provenance!r}, expected a sentence saying where the numbers "
                             "come from")

    def __len__(self) -> int:
        return len(self.accuracy)

    def __contains__(self, arch) -> bool:
        try:
            return arch_string(parse(arch)) in self.accuracy
        except ValueError:
            return False

    def __getitem__(self, arch) -> float:
        key = arch_string(parse(arch))
        if key not in self.accuracy:
            raise KeyError(f"{key} has no accuracy in this table ({self.provenance}; {len(self)} members)")
        return self.accuracy[key]

    def array(self, archs: Iterable | None = None) -> np.ndarray:
        """Accuracies in the order of ``archs`` (default: all members in index order), NaN where absent."""
        archs = members() if archs is None else archs
        return np.array([self.accuracy.get(arch_string(parse(a)), math.nan) for a in archs], dtype=float)

    @classmethod
    def from_file(cls, path: str | os.PathLike, arch_key: str = "arch", accuracy_key: str = "accuracy",
                  provenance: str | None = None) -> "AccuracyTable":
        """Read a CSV (columns ``arch_key`` and ``accuracy_key``) or JSON file: a mapping arch -> accuracy,
        or a list of records with those two keys."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"path: got {str(path)!r}, which is not a file")
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if isinstance(data, list):
                data = {cls._field(r, arch_key, path): cls._field(r, accuracy_key, path) for r in data}
            elif not isinstance(data, dict):
                raise ValueError(f"path: {path.name} holds a JSON {type(data).__name__}, expected a mapping arch -> "
                                 "accuracy or a list of records")
        elif path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(text.splitlines()))
            data = {}
            for r in rows:
                value = cls._field(r, accuracy_key, path)
                try:
                    data[cls._field(r, arch_key, path)] = float(value)
                except ValueError:
                    raise ValueError(f"{path.name}: accuracy {value!r} of {r.get(arch_key)!r} is not a "
                                     "number") from None
        else:
            raise ValueError(f"path: got {path.name!r}, expected a .csv or .json file")
        return cls(data, provenance or f"file {path.name}", {"source": "file", "path": str(path)})

    @staticmethod
    def _field(record, key: str, path: Path):
        if not isinstance(record, dict) or key not in record:
            raise ValueError(f"{path.name}: a record lacks {key!r} (got {str(record)[:80]}); pass arch_key= and "
                             "accuracy_key= to name the columns")
        return record[key]

    @classmethod
    def from_callable(cls, evaluate: Callable[[tuple[int, ...]], float], archs: Iterable,
                      provenance: str) -> "AccuracyTable":
        """``evaluate(channels)`` for each member of ``archs`` (e.g. a sample trained by our oracle)."""
        if not callable(evaluate):
            raise TypeError(f"evaluate: got {type(evaluate).__name__}, expected a callable taking a channel tuple")
        chosen = [parse(a) for a in archs]
        data = {arch_string(c): evaluate(c) for c in chosen}
        name = getattr(evaluate, "__name__", type(evaluate).__name__)
        return cls(data, provenance, {"source": "callable", "callable": name, "members": len(data)})
