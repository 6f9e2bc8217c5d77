"""Argument checks shared by every module: one message format for a bad value.

Each check returns the value in its plain Python form (numpy integers become ``int``) or raises
``ValueError``/``TypeError`` naming the argument, the value and what was expected.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

__all__ = ["integer", "number", "shape", "one_of", "flag", "model_input"]


def integer(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """An integer (``int`` or numpy integer; not a bool, not a float such as 3.0) in [low, high]."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low
            or (high is not None and value > high)):
        span = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name}: got {value!r}, expected an integer {span}")
    return int(value)


def number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within the bounds (``low_open``/``high_open`` exclude the bound itself)."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
          and (low is None or (value > low if low_open else value >= low))
          and (high is None or (value < high if high_open else value <= high)))
    if not ok:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        raise ValueError(f"{name}: got {value!r}, expected a finite number{' ' + ' and '.join(parts) if parts else ''}")
    return float(value)


def shape(name: str, value: Any, ndim: int | None = None, example: str = "(1, 3, 224, 224)") -> tuple[int, ...]:
    """A tensor shape: a tuple or list of positive integers (of length ``ndim`` when given)."""
    sizes = tuple(value) if isinstance(value, (tuple, list)) else None
    if (sizes is None or not sizes or (ndim is not None and len(sizes) != ndim)
            or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes)):
        rank = f"{ndim} " if ndim is not None else ""
        raise ValueError(f"{name}: got {value!r}, expected {rank}positive integers like {example}")
    return tuple(int(s) for s in sizes)


def one_of(name: str, value: Any, choices: Iterable) -> Any:
    """``value`` if it is one of ``choices`` (the closest names suggested when it is a string)."""
    choices = list(choices)
    if isinstance(value, (str, int, float, bool, type(None))) and value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        import difflib

        close = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{name}: got {value!r}, expected one of {choices}{hint}")


def flag(name: str, value: Any, allow_none: bool = False) -> bool | None:
    """A bool (or None where ``allow_none``: "decide automatically")."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        expected = "None (auto), True or False" if allow_none else "True or False"
        raise ValueError(f"{name}: got {value!r}, expected {expected}")
    return value


def _space_to_depth_factor(module: Any) -> int:
    """The block size of a parameter-free space-to-depth module (``nn.PixelUnshuffle``, timm's
    ``SpaceToDepth`` as in TResNet's stem), else 1: it multiplies the channels by its square."""
    from torch import nn

    if isinstance(module, nn.PixelUnshuffle):
        return int(module.downscale_factor)
    size = getattr(module, "bs", None) if "SpaceToDepth" in type(module).__name__ else None
    return size if isinstance(size, int) and size > 1 else 1


def model_input(name: str, model: Any, value: Any) -> tuple[int, ...]:
    """An input shape that fits ``model``'s first layer: a batched (N, C, H, W) for a 2-D conv with its
    ``in_channels``, (N, ..., in_features) for a linear layer. The first Conv/Linear in module order is
    taken as the input layer (true of the CNNs here), its channels divided by a space-to-depth stem's
    regrouping (TResNet); a model without one is only checked as a shape."""
    from torch import nn

    sizes = shape(name, value)
    first, regroup = None, 1  # regroup: channels a pixel-rearranging stem (space-to-depth) multiplies by
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            first = m
            break
        regroup *= _space_to_depth_factor(m) ** 2
    if isinstance(first, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        rank = {nn.Conv1d: 3, nn.Conv2d: 4, nn.Conv3d: 5}[type(first)]
        channels = first.in_channels // regroup if first.in_channels % regroup == 0 else first.in_channels
        if len(sizes) != rank or sizes[1] != channels:
            layout = {3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}[rank]
            before = f" after a {regroup}x channel regrouping" if regroup > 1 else ""
            raise ValueError(f"{name}: got {sizes}, expected a batched {layout} input with C = {channels} "
                             f"(the first layer of {type(model).__name__} is {first}{before})")
    elif isinstance(first, nn.Linear) and (len(sizes) < 2 or sizes[-1] != first.in_features):
        raise ValueError(f"{name}: got {sizes}, expected a batched (N, ..., {first.in_features}) input (the first "
                         f"layer of {type(model).__name__} is {first})")
    spec = getattr(model, "spec", None)  # a network built from a spec accepts what the spec accepts
    step = getattr(spec, "resolution_step", None)
    if isinstance(step, int) and step > 1 and len(sizes) == 4 and any(size % step for size in sizes[2:]):
        raise ValueError(f"{name}: got {sizes}, but {spec.name} takes heights and widths that are multiples of "
                         f"{step} (its total stride), e.g. {max(step, sizes[2] // step * step)}")
    return sizes
