"""Model names to modules: timm's catalogue, always with random weights here.

Random initialisation is all the cost model and latency need (shapes decide both), and it keeps
every chapter offline: nothing is downloaded unless a chapter asks for pretrained weights.
"""
from __future__ import annotations

import difflib

from torch import nn

__all__ = ["create_model"]


def create_model(name: str, **kwargs) -> nn.Module:
    """A timm model by name with random weights, in eval mode."""
    import timm

    if not isinstance(name, str) or name not in timm.list_models():
        close = difflib.get_close_matches(str(name), timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"model: got {name!r}, expected a timm model name (timm.list_models()){hint}")
    return timm.create_model(name, pretrained=False, **kwargs).eval()
