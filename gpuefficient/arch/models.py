"""Model names to modules: timm's catalogue, always with random weights here.

Random initialisation is all the cost model and latency need (shapes decide both), and it keeps
every chapter offline: nothing is downloaded unless a chapter asks for pretrained weights.
"""
from __future__ import annotations

import difflib

from torch import nn

__all__ = ["create_model", "input_resolution", "spec_costs"]

#: The input resolution when neither the zoo nor the papers give one (ImageNet's usual crop).
DEFAULT_RESOLUTION = 224


def create_model(name: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """A zoo network (``gpuefficient.arch.zoo``) or a timm model by name, in eval mode.

    Zoo networks are built from their spec with random weights. timm models have random weights
    unless ``pretrained``.

    ``pretrained=True`` uses timm's weights from the local cache, or downloads them when the
    environment allows (``HF_HUB_OFFLINE=1``, set for the book, forbids it); failing that it raises
    one clear ``ValueError`` so callers can take their documented fallback.
    """
    import timm

    from gpuefficient.arch import zoo
    from gpuefficient.arch.builder import build

    if name in zoo.ZOO:
        if pretrained:
            raise ValueError(f"pretrained weights for {name!r}: zoo networks have none here; load a checkpoint")
        return build(zoo.get(name).spec).eval()
    if not isinstance(name, str) or name not in timm.list_models():
        close = difflib.get_close_matches(str(name), timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"model: got {name!r}, expected a zoo name {zoo.names()} or a timm model name{hint}")
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs).eval()
    try:
        return timm.create_model(name, pretrained=True, **kwargs).eval()
    except Exception as err:  # noqa: BLE001 - hub, network and file errors all mean "not available"
        raise ValueError(f"pretrained weights for {name!r} are not available here "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from err


def input_resolution(name: str) -> int:
    """The input resolution a network is timed at: a zoo network's own (its spec's), else the resolution
    its original paper used where EfficientNet-X's Table 3 lists the timm model (EfficientNet-B2: 260),
    else 224."""
    from gpuefficient.arch import zoo
    from gpuefficient.papers import table3_rows

    if not isinstance(name, str) or not name:
        raise ValueError(f"name: got {name!r}, expected a zoo or timm model name")
    if name in zoo.ZOO:
        return zoo.get(name).spec.resolution
    return next((r["resolution"] for r in table3_rows() if r["timm"] == name), DEFAULT_RESOLUTION)


def spec_costs(spec, batch: int = 1, dtype="fp32"):
    """The cost report (:func:`gpuefficient.analysis.costs.analyze`) of the network ``spec`` builds, at
    ``batch`` images of its own resolution: built on PyTorch's meta device, so no memory is allocated
    and even a large network costs milliseconds."""
    import torch

    from gpuefficient import checks
    from gpuefficient.analysis.costs import analyze
    from gpuefficient.arch.builder import build
    from gpuefficient.arch.spec import NetworkSpec

    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec: got {type(spec).__name__}, expected a NetworkSpec")
    checks.integer("batch", batch)
    with torch.device("meta"):
        model = build(spec)
    return analyze(model, (batch, 3, spec.resolution, spec.resolution), dtype, name=spec.name)
