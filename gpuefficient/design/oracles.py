"""Accuracy oracles for compound scaling: ``oracle(spec) -> accuracy`` in [0, 1].

LACS needs the accuracy of every candidate network; the paper trains each on ImageNet. Three
interchangeable answers, each saying what it is:

* :class:`TrainingOracle`: real short training on the package's offline procedural dataset, of a
  proxy at a fixed fraction of the spec's resolution (and optionally its widths), so relative
  resolution, depth and width still matter, and the fine cues of the data need resolution.
  Slow, honest, small-scale, and noisy: its seed-to-seed spread is part of its answer.
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
import torch

from gpuefficient import checks
from gpuefficient.arch.spec import NetworkSpec

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
    from gpuefficient.arch.zoo import EFFICIENTNET_X_RELEASED

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
    """Accuracy after short SGD training on :class:`gpuefficient.design.data.ProceduralImages`: a proxy task.

    Every candidate is trained as a proxy scaled the same way, so that candidates keep their
    *relative* depth, width and resolution:

    * input ``round(spec.resolution x input_scale)`` pixels (at least 16): a candidate with 1.1x
      the base resolution sees 1.1x the pixels, and the data's fine cues need them;
    * widths x ``width_scale``, rounded to the nearest integer (0.5 halves even widths exactly), a
      proxy that halves the cost on a CPU; 1.0 trains the real widths;
    * residual blocks start as identities (``build(..., zero_init_last=True)``), without which the
      deep EfficientNet-style networks barely leave chance level in a two-epoch schedule.

    Accuracy is the top-1 on ``test_samples`` held-out images. A short schedule is noisy: compare
    candidates against the spread over a few ``seed`` values of one of them. Results are cached per
    architecture (``NetworkSpec.fingerprint``), so a search that revisits a candidate does not
    train it twice.
    """

    def __init__(self, input_scale: float = 0.18, width_scale: float = 1.0, train_samples: int = 4000,
                 test_samples: int = 1000, epochs: int = 2, num_classes: int = 6, batch_size: int = 64,
                 lr: float = 0.05, device="auto", seed: int = 0):
        for name, value in (("input_scale", input_scale), ("width_scale", width_scale)):
            checks.number(name, value, 0, 1, low_open=True)
        self.input_scale, self.width_scale = input_scale, width_scale
        self.train_samples, self.test_samples = train_samples, test_samples
        self.epochs, self.num_classes, self.batch_size, self.lr = epochs, num_classes, batch_size, lr
        self.device, self.seed = device, seed
        self.cache: dict[str, dict] = {}
        self.source = (f"short training on the procedural dataset ({train_samples} images, {epochs} epoch(s), "
                       f"{num_classes} classes, input x{input_scale:.3g}, widths x{width_scale:g}, seed {seed}), "
                       f"top-1 on {test_samples} test images")

    def resolution(self, spec: NetworkSpec) -> int:
        """The training resolution: scaled, at least 16 px, a multiple of the stride unless 'same'-padded."""
        step = spec.resolution_step
        return max(16, step, round(spec.resolution * self.input_scale / step) * step)

    def proxy(self, spec: NetworkSpec) -> NetworkSpec:
        """The network actually trained: ``spec`` at the training resolution and widths, this task's classes."""
        from gpuefficient.arch.scaling import scale_spec

        res = self.resolution(_check_spec(spec))
        # divisor 1: widths scale exactly (width_scale 1 keeps GENet's odd widths such as 13)
        return scale_spec(spec, self.width_scale, 1.0, res, divisor=1, name=f"{spec.name}_proxy",
                          num_classes=self.num_classes,
                          source=f"{spec.name}, training proxy: widths x{self.width_scale:g}, input {res} px")

    def __call__(self, spec: NetworkSpec) -> float:
        from gpuefficient.arch.builder import build
        from gpuefficient.design.data import procedural_loaders
        from gpuefficient.design.training import evaluate, train

        key = _check_spec(spec).fingerprint()
        if key not in self.cache:
            proxy = self.proxy(spec)
            train_loader, test_loader = procedural_loaders(self.train_samples, self.test_samples,
                                                           resolution=proxy.resolution, num_classes=self.num_classes,
                                                           batch_size=self.batch_size, seed=self.seed)
            torch.manual_seed(self.seed)  # the initial weights too depend on the seed alone
            model = build(proxy, zero_init_last=True)
            result = train(model, train_loader, epochs=self.epochs, lr=self.lr, device=self.device, seed=self.seed)
            self.cache[key] = {"name": spec.name, "resolution": proxy.resolution, "train_seconds": result.seconds,
                               "final_train_loss": result.train_loss_history[-1],
                               "accuracy": evaluate(model, test_loader, device=self.device)}
        return self.cache[key]["accuracy"]
