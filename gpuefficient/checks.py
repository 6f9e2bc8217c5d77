"""Argument checks shared by every module: one message format for a bad value.

Each check returns the value in its plain Python form (numpy integers become ``int``) or raises
``ValueError``/``TypeError`` naming the argument, the value and what was expected.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

__all__ = ["integer", "number", "shape", "one_of", "flag"]


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
