"""Accuracy oracles for compound scaling: ``oracle(spec) -> accuracy`` in [0, 1].

LACS needs the accuracy of every candidate network; the paper trains each on ImageNet. Three
interchangeable answers, each saying what it is:

* :class:`TrainingOracle`: real short training on the package's offline procedural dataset, at
  the spec's resolution scaled down by a fixed factor (so relative resolution, depth and width
  still matter, and the fine cues of the data need resolution). Slow, honest, small-scale.
* any callable the user supplies, e.g. a lookup into their own ImageNet runs.
* :class:`SurrogateOracle`: a least-squares fit of top-1 against log depth, width and resolution
  multipliers to published points (by default EfficientNet-X Table 3 and the released family
  multipliers). Instant, and only as good as an interpolation of eight numbers: a surrogate.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from gpuefficient.spec import NetworkSpec

__all__ = ["scale_factors", "TrainingOracle", "SurrogateOracle", "published_points"]


def _check_spec(spec) -> NetworkSpec:
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec")
    return spec


def scale_factors(spec: NetworkSpec, base: NetworkSpec) -> tuple[float, float, float]:
    """(depth, width, resolution) of ``spec`` relative to ``base``: total blocks, mean stage-width ratio,
    input size. The same stage layout is required (compound scaling keeps it)."""
    _check_spec(spec), _check_spec(base)
    if len(spec.stages) != len(base.stages):
        raise ValueError(f"spec: got {len(spec.stages)} stages, expected {len(base.stages)} like the base "
                         f"{base.name!r} (compound scaling keeps the stage layout)")
    depth = sum(s.depth for s in spec.stages) / sum(s.depth for s in base.stages)
    width = float(np.mean([s.out_channels / b.out_channels for s, b in zip(spec.stages, base.stages)]))
    return depth, width, spec.resolution / base.resolution


def published_points(platform: str = "gpu") -> list[tuple[float, float, float, float]]:
    """(depth, width, resolution multiplier, top-1 as a fraction) of EfficientNet-X-B0..B7: the
    release's multipliers for ``platform`` with EfficientNet-X Table 3's accuracies (as reported)."""
    from gpuefficient.papers import table3_rows
    from gpuefficient.zoo import EFFICIENTNET_X_RELEASED

    if platform not in EFFICIENTNET_X_RELEASED:
        raise ValueError(f"platform: got {platform!r}, expected one of {sorted(EFFICIENTNET_X_RELEASED)}")
    top1 = {r["model"]: r["top1"] for r in table3_rows()}
    return [(d, w, r / 224, top1[f"EfficientNet-X-B{i}"] / 100)
            for i, (w, d, r, _, _) in enumerate(EFFICIENTNET_X_RELEASED[platform])]


@dataclasses.dataclass
class SurrogateOracle:
    """top-1 ~= c0 + c1 ln(depth) + c2 ln(width) + c3 ln(resolution), fitted to published points.

    A surrogate, not a measurement: it interpolates the points it was fitted to (EfficientNet-X's
    family by default) and knows nothing of the candidate beyond its three multipliers.
    """

    base: NetworkSpec
    coefficients: tuple[float, float, float, float]
    source: str

    @classmethod
    def fit(cls, base: NetworkSpec, points: Sequence[tuple[float, float, float, float]] | None = None,
            source: str | None = None) -> "SurrogateOracle":
        """Least squares over ``points`` (depth, width, resolution multipliers, accuracy); default: the
        GPU and TPU families of :func:`published_points` together (16 points; either family alone
        grows depth, width and resolution together, too collinear to separate their effects)."""
        default = published_points("gpu") + published_points("tpu")
        pts = np.asarray(default if points is None else points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 4 or len(pts) < 4:
            raise ValueError(f"points: got shape {pts.shape}, expected at least 4 rows of (depth, width, "
                             "resolution, accuracy)")
        if (pts[:, :3] <= 0).any() or not ((pts[:, 3] > 0) & (pts[:, 3] <= 1)).all():
            raise ValueError("points: expected multipliers > 0 and accuracies in (0, 1]")
        design = np.column_stack([np.ones(len(pts)), np.log(pts[:, :3])])
        coef, *_ = np.linalg.lstsq(design, pts[:, 3], rcond=None)
        return cls(_check_spec(base), tuple(float(c) for c in coef),
                   source or "surrogate fitted to EfficientNet-X Table 3 top-1 and the released GPU and TPU multipliers")

    def __call__(self, spec: NetworkSpec) -> float:
        d, w, r = scale_factors(spec, self.base)
        c0, c1, c2, c3 = self.coefficients
        return float(min(1.0, c0 + c1 * math.log(d) + c2 * math.log(w) + c3 * math.log(r)))


class TrainingOracle:
    """Accuracy after short SGD training on :class:`gpuefficient.data.ProceduralImages`.

    The network is built from ``spec`` with ``num_classes`` outputs and trained at
    ``round(spec.resolution x input_scale)`` pixels (at least 16), so a candidate with 1.3x the
    base resolution still sees 1.3x the pixels. Results are cached per architecture
    (``NetworkSpec.fingerprint``), so a search that revisits a candidate does not train it twice.
    """

    def __init__(self, input_scale: float = 1 / 7, train_samples: int = 2000, test_samples: int = 500,
                 epochs: int = 1, num_classes: int = 12, batch_size: int = 64, lr: float = 0.1, device="auto",
                 seed: int = 0):
        if not (isinstance(input_scale, (int, float)) and 0 < input_scale <= 1):
            raise ValueError(f"input_scale: got {input_scale!r}, expected a number in (0, 1]")
        self.input_scale, self.train_samples, self.test_samples = input_scale, train_samples, test_samples
        self.epochs, self.num_classes, self.batch_size, self.lr = epochs, num_classes, batch_size, lr
        self.device, self.seed = device, seed
        self.cache: dict[str, dict] = {}
        self.source = (f"short training on the procedural dataset ({train_samples} images, {epochs} epoch(s), "
                       f"{num_classes} classes, input x{input_scale:.3g}), test accuracy on {test_samples} images")

    def resolution(self, spec: NetworkSpec) -> int:
        """The training resolution: scaled, at least 16 px, a multiple of the stride unless 'same'-padded."""
        step = spec.resolution_step
        return max(16, step, round(spec.resolution * self.input_scale / step) * step)

    def __call__(self, spec: NetworkSpec) -> float:
        from gpuefficient.builder import build
        from gpuefficient.data import procedural_loaders
        from gpuefficient.training import evaluate, train

        _check_spec(spec)
        key = spec.fingerprint()
        if key not in self.cache:
            res = self.resolution(spec)
            net_spec = dataclasses.replace(spec, resolution=res,
                                           head=dataclasses.replace(spec.head, num_classes=self.num_classes))
            train_loader, test_loader = procedural_loaders(self.train_samples, self.test_samples, resolution=res,
                                                           num_classes=self.num_classes,
                                                           batch_size=self.batch_size, seed=self.seed)
            model = build(net_spec)
            result = train(model, train_loader, epochs=self.epochs, lr=self.lr, device=self.device, seed=self.seed)
            self.cache[key] = {"name": spec.name, "resolution": res, "train_seconds": result.seconds,
                               "accuracy": evaluate(model, test_loader, device=self.device)}
        return self.cache[key]["accuracy"]
