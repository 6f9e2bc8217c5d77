"""Model names to modules: timm's catalogue, always with random weights here.

Random initialisation is all the cost model and latency need (shapes decide both), and it keeps
every chapter offline: nothing is downloaded unless a chapter asks for pretrained weights.
"""
from __future__ import annotations

import difflib

from torch import nn

__all__ = ["create_model"]


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
