"""Model names to modules: timm's catalogue, always with random weights here.

Random initialisation is all the cost model and latency need (shapes decide both), and it keeps
every chapter offline: nothing is downloaded unless a chapter asks for pretrained weights.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

__all__ = ["create_model", "input_resolution", "check_input_size", "spec_costs"]

#: The input resolution when neither the zoo nor the papers give one (ImageNet's usual crop).
DEFAULT_RESOLUTION = 224


def create_model(name: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """A zoo network (``gpuefficient.arch.zoo``) or a timm model by name, in eval mode.

    Zoo networks are built from their spec with random weights. timm models have random weights
    unless ``pretrained``.

    ``pretrained=True`` uses timm's weights from the local cache, or downloads them when the
    environment allows (``HF_HUB_OFFLINE=1``, set for the book, forbids it; a hub that does not answer
    within 3 s turns the client offline); failing that it raises one clear ``ValueError`` naming how to
    supply weights offline, so callers can take their documented fallback.
    """
    from gpuefficient.arch import zoo
    from gpuefficient.arch.builder import build

    if name in zoo.ZOO:
        if pretrained:
            raise ValueError(f"pretrained weights for {name!r}: zoo networks have none here; load a checkpoint")
        return build(zoo.get(name).spec).eval()
    import timm  # seconds to import: only for timm names

    if not isinstance(name, str) or name not in timm.list_models():
        close = difflib.get_close_matches(str(name), zoo.names() + timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"model: got {name!r}, expected a zoo name {zoo.names()} or a timm model name{hint}")
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs).eval()
    _offline_unless_the_hub_answers()
    try:
        return timm.create_model(name, pretrained=True, **kwargs).eval()
    except Exception as err:  # noqa: BLE001 - hub, network and file errors all mean "not available"
        raise ValueError(f"pretrained weights for {name!r} are not available here "
                         f"({type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}); put them in the local model-hub "
                         "cache (HF_HOME) or load a checkpoint file (rank: --weights PATH)") from err


def _offline_unless_the_hub_answers(host: str = "huggingface.co", timeout_s: float = 3.0) -> None:
    """Turn the model hub's client offline when the hub cannot be reached within a few seconds: without
    this, a machine without network retries for minutes before it fails (measured: 174 s); offline,
    weights already in the local cache still load and missing ones fail at once."""
    import os
    import socket

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:  # the client reads the variable when imported: tell an already imported one too
            import huggingface_hub.constants as hub

            hub.HF_HUB_OFFLINE = True
        except (ImportError, AttributeError):
            pass


def check_input_size(name: str, resolution: int) -> int:
    """``resolution`` if the network called ``name`` takes it: a zoo network takes what its spec takes (a
    multiple of its total stride unless it pads TensorFlow-'same'); a timm name is not checked here (its
    first layer decides). Checked before anything is built, from the spec alone."""
    from gpuefficient import checks
    from gpuefficient.arch import zoo

    checks.integer("resolution", resolution)
    if name in zoo.ZOO:
        step = zoo.get(name).spec.resolution_step
        if resolution % step:
            raise ValueError(f"resolution: got {resolution}, but {name} takes multiples of {step} (its total stride), "
                             f"e.g. {max(step, resolution // step * step)} or {(resolution // step + 1) * step}")
    return resolution


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


def spec_costs(spec, batch: int = 1, dtype="fp32", name: str | None = None):
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
    return analyze(model, (batch, 3, spec.resolution, spec.resolution), dtype, name=name or spec.name)
