"""The one dtype vocabulary: canonical names, their torch dtypes and element sizes.

Every record, JSON file and table of the package names a number format by its canonical name:
``fp32``, ``tf32``, ``fp16``, ``bf16``, ``fp8``, ``int8``. :func:`name` turns any accepted
spelling (``"float16"``, ``"half"``, ``torch.float16``, ...) into it; :func:`to_torch` gives the
torch dtype a model runs in. ``tf32`` is fp32 storage with tensor-core (TF32) matmuls: a matmul
mode, not a storage type.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["CANONICAL", "MODEL_DTYPES", "name", "to_torch", "element_size"]

CANONICAL = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")
#: The formats a whole model runs in here (eager, compiled, exported).
MODEL_DTYPES = ("fp32", "fp16", "bf16")

_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32",
    "tf32": "tf32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp8": "fp8", "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8",
    "int8": "int8",
}


@lru_cache(maxsize=None)
def _torch_tables() -> tuple[dict, dict]:
    """(torch dtype -> name, name -> torch dtype), built on first use: checking a name needs no torch,
    so the command line can refuse a bad --dtype before paying for importing it."""
    import torch

    from_torch = {getattr(torch, attr): key for attr, key in (
        ("float32", "fp32"), ("float16", "fp16"), ("bfloat16", "bf16"), ("int8", "int8"),
        ("float8_e4m3fn", "fp8"), ("float8_e5m2", "fp8")) if hasattr(torch, attr)}
    to_torch_ = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
                 "int8": torch.int8, **({"fp8": torch.float8_e4m3fn} if hasattr(torch, "float8_e4m3fn") else {})}
    return from_torch, to_torch_


def name(dtype: str | torch.dtype) -> str:
    """The canonical name of a dtype given by any accepted spelling or as a torch dtype."""
    if not isinstance(dtype, str) and type(dtype).__name__ == "dtype" and type(dtype).__module__ == "torch":
        if dtype in _torch_tables()[0]:
            return _torch_tables()[0][dtype]
    elif isinstance(dtype, str):
        key = _ALIASES.get(dtype.lower().removeprefix("torch."))
        if key:
            return key
    raise ValueError(f"dtype: got {dtype!r}, expected one of {list(CANONICAL)} (or an alias such as 'float16', "
                     "or a torch dtype)")


def to_torch(dtype: str | torch.dtype, allowed: tuple[str, ...] = MODEL_DTYPES) -> torch.dtype:
    """The torch dtype of ``dtype``, which must be one of ``allowed`` (default: the model formats)."""
    key = name(dtype)
    if key not in allowed:
        raise ValueError(f"dtype: got {dtype!r}, expected one of {list(allowed)}")
    return _torch_tables()[1][key]


def element_size(dtype: str | torch.dtype) -> int:
    """Bytes per element of ``dtype`` (tf32 is stored as fp32: 4)."""
    return _torch_tables()[1][name(dtype)].itemsize
