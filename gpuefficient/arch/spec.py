"""Architectures as data: a declarative spec of stage-based CNNs (stem, stages, head).

A network is a stem (one strided conv-BN-act), a sequence of stages (``depth`` blocks of one
type; only the first block strides) and a head (optional 1x1 conv, global pooling, classifier).
Specs are frozen dataclasses, load from dicts or YAML and validate on construction; every error
names the path to the bad field (``stages[3].expansion``), the value and what was expected.

``expansion`` is relative to different widths by block type, following each paper:

* ``mbconv``, ``fused_mbconv``: the block's *input* channels (EfficientNet: 6 means 6x in).
* ``bl``, ``dw``: GENet's ratio r relative to the block's *output* width (BL r=0.25 squeezes the
  middle to a quarter of the output; DW r=3 widens the depthwise layer to 3x the output).
* ``conv``, ``space_to_depth``, ``xx``: not used, must stay 1.0.

Which fields each block type takes is the contract of ``vocabulary.BLOCK_FIELDS`` (built by ``blocks.BLOCKS``); a
field a block does not take must keep its default (``vocabulary.OPTIONAL_FIELDS``).

``se_ratio`` is relative to the block's input channels (EfficientNet, GPUNet); 0 means no SE.

``padding`` (per stage, see ``vocabulary.PADDINGS``) says how the stage's KxK convs pad: "symmetric"
(default), "same" (TensorFlow, as the EfficientNet-X release; a network with a "same" stage accepts
any resolution, every layer giving ceil(in / stride)) or "same_static" (GPUNet's release).

``space_to_depth`` (per stage) expresses EfficientNet-X's released ``d`` option (mbconv and
fused_mbconv stages only):

* 1 (``d1``): the stage starts with a trainable 2x2 stride-2 conv-BN-act from its C input channels
  to 4C; its blocks then run 4x wider (4 x ``out_channels``: the stage's ``output_channels``, what
  the next stage takes) with kernel (k + 1) // 2; the stage's ``stride`` must be 1 (the 2x2 conv
  downsamples). The first block's SE width is relative to C.
* 2 (``d2``): the stage right after a ``d1`` stage. Its first block runs at stride 1 instead of the
  declared 2 (the 2x2 conv already downsampled) and its expansion and SE width are relative to the
  un-widened input (input / 4), as in the release.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from gpuefficient import checks
from gpuefficient.arch.vocabulary import (ACTIVATION_NAMES, BLOCK_FIELDS, EXPANSION_MEANING, OPTIONAL_FIELDS,
                                          PADDED_BLOCKS, PADDINGS, SE_BLOCKS)

__all__ = ["SpecError", "StemSpec", "StageSpec", "HeadSpec", "NetworkSpec", "EXPANSION_MEANING"]


class SpecError(ValueError):
    """An invalid architecture spec; the message starts with the path to the bad field."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)

    def under(self, prefix: str) -> "SpecError":
        """The same error with ``prefix`` prepended to its path (``expansion`` -> ``stages[2].expansion``)."""
        return SpecError(f"{prefix}.{self.path}" if self.path else prefix, self.message)


def _check(path: str, check: Callable, value, *args, expected: str | None = None, **kwargs):
    """``check(path, value, ...)`` of :mod:`gpuefficient.checks`, its ``ValueError`` raised as a ``SpecError``
    at ``path`` (its message, or "got <value>, expected <expected>" where ``expected`` is given)."""
    try:
        return check(path, value, *args, **kwargs)
    except ValueError as err:
        message = f"got {value!r}, expected {expected}" if expected else str(err).removeprefix(f"{path}: ")
        raise SpecError(path, message) from None


def _int(spec, name: str, low: int = 1, high: int | None = None, expected: str | None = None) -> None:
    """Field ``name`` of ``spec``: an integer in [low, high] (a numpy integer is stored as ``int``)."""
    object.__setattr__(spec, name, _check(name, checks.integer, getattr(spec, name), low, high, expected=expected))


def _choice(path: str, value, choices) -> None:
    """One of the registry names ``choices``, with the closest one suggested."""
    _check(path, checks.one_of, value, sorted(choices))


def _odd_kernel(spec, name: str) -> None:
    _int(spec, name)
    if getattr(spec, name) % 2 == 0:
        raise SpecError(name, f"got {getattr(spec, name)!r}, expected an odd kernel size (same padding)")


def _from_dict(cls, data, path: str):
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with a suggestion."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise SpecError(path, f"got {type(data).__name__} {data!r}, expected a mapping of {cls.__name__} fields")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SpecError(f"{path}.{key}" if path else str(key), f"unknown field; {hint}valid fields: {names}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise SpecError(path, f"missing required field(s) {missing}")
    try:
        return cls(**data)
    except SpecError as err:
        raise err.under(path) if path else err


@dataclass(frozen=True)
class StemSpec:
    """The first layer: a strided KxK conv-BN-act from the image channels."""

    out_channels: int
    kernel: int = 3
    stride: int = 2
    activation: str = "relu"

    def __post_init__(self) -> None:
        _int(self, "out_channels")
        _odd_kernel(self, "kernel")
        _int(self, "stride", 1, 2, expected="one of [1, 2]")
        _choice("activation", self.activation, ACTIVATION_NAMES)


@dataclass(frozen=True)
class StageSpec:
    """``depth`` blocks of one type; the first block changes width and strides, the rest keep both."""

    block: str
    depth: int
    out_channels: int
    stride: int = 1
    kernel: int = 3
    expansion: float = 1.0
    se_ratio: float = 0.0
    activation: str = "relu"
    padding: str = "symmetric"
    space_to_depth: int = 0

    @property
    def block_kernel(self) -> int:
        """The kernel the blocks are built with: (k + 1) // 2 in a ``space_to_depth: 1`` stage, else k."""
        return (self.kernel + 1) // 2 if self.space_to_depth == 1 else self.kernel

    @property
    def effective_stride(self) -> int:
        """How much the stage downsamples: 2 for a ``space_to_depth: 1`` stage, 1 for ``2``, else ``stride``."""
        return {0: self.stride, 1: 2 * self.stride, 2: self.stride // 2}[self.space_to_depth]

    @property
    def output_channels(self) -> int:
        """The channels the stage outputs: 4 x ``out_channels`` in a ``space_to_depth: 1`` stage (its 2x2
        stride-2 conv turns C channels into 4C and its blocks run 4x wider), else ``out_channels``."""
        return 4 * self.out_channels if self.space_to_depth == 1 else self.out_channels

    def __post_init__(self) -> None:
        _choice("block", self.block, BLOCK_FIELDS)
        _choice("padding", self.padding, PADDINGS)
        if self.padding != OPTIONAL_FIELDS["padding"][0] and self.block not in PADDED_BLOCKS:
            raise SpecError("padding", f"got {self.padding!r}, expected 'symmetric': {self.block} blocks pad "
                                       f"symmetrically only (other paddings: {list(PADDED_BLOCKS)})")
        _int(self, "space_to_depth", 0, 2, expected="0 (none), 1 (the stage starts with a 2x2 stride-2 conv) or 2 "
                                                    "(the stage after such a stage)")
        if self.space_to_depth and self.block not in SE_BLOCKS:
            raise SpecError("space_to_depth", f"got {self.space_to_depth!r}, expected 0: only {list(SE_BLOCKS)} "
                                              f"stages follow EfficientNet-X's space-to-depth rules, not "
                                              f"{self.block!r}")
        if self.space_to_depth == 1 and self.stride != 1:
            raise SpecError("stride", f"got {self.stride!r}, expected 1 with space_to_depth 1 (its 2x2 stride-2 "
                                      "conv downsamples)")
        if self.space_to_depth == 2 and self.stride != 2:
            raise SpecError("stride", f"got {self.stride!r}, expected 2 with space_to_depth 2 (the first block "
                                      "runs at stride 1 because the space-to-depth conv already downsampled)")
        _int(self, "depth")
        _int(self, "out_channels")
        _choice("activation", self.activation, ACTIVATION_NAMES)
        if self.block == "space_to_depth":
            _int(self, "stride", low=2)
            _int(self, "kernel")
            if self.kernel != self.stride:
                raise SpecError("kernel", f"got {self.kernel!r}, expected kernel == stride ({self.stride}) for "
                                          "space_to_depth (an n x n convolution with stride n)")
        else:
            _int(self, "stride", 1, 2, expected="one of [1, 2]")
            _odd_kernel(self, "kernel")
            if self.block_kernel % 2 == 0 and self.padding != "same":
                raise SpecError("padding", f"got {self.padding!r}, expected 'same': space_to_depth 1 halves kernel "
                                           f"{self.kernel} to an even {self.block_kernel}, which only TensorFlow's "
                                           "'same' padding (extra pixel at the bottom/right) keeps the size")
        if self.block in EXPANSION_MEANING:
            _check("expansion", checks.number, self.expansion, 0, low_open=True,
                   expected=f"a number > 0 ({self.block} expansion is {EXPANSION_MEANING[self.block]})")
        elif self.expansion != OPTIONAL_FIELDS["expansion"][0]:
            raise SpecError("expansion", f"got {self.expansion!r}, expected 1.0: {self.block} blocks have no "
                                         f"expansion (used by {sorted(EXPANSION_MEANING)})")
        _check("se_ratio", checks.number, self.se_ratio, 0, expected="a number >= 0")
        if self.se_ratio and self.block not in SE_BLOCKS:
            raise SpecError("se_ratio", f"got {self.se_ratio!r}, expected 0: squeeze-excite is only "
                                        f"supported in {list(SE_BLOCKS)} blocks, not {self.block!r}")


@dataclass(frozen=True)
class HeadSpec:
    """Optional 1x1 conv-BN-act to ``channels`` (None: none), global average pool, dropout, linear."""

    channels: int | None = 1280
    activation: str = "relu"
    num_classes: int = 1000
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.channels is not None:
            _int(self, "channels")
        _choice("activation", self.activation, ACTIVATION_NAMES)
        _int(self, "num_classes")
        _check("dropout", checks.number, self.dropout, 0, 1, high_open=True, expected="a probability 0 <= p < 1")


@dataclass(frozen=True)
class NetworkSpec:
    """A whole network; ``source`` cites the paper and table it comes from."""

    name: str
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    in_channels: int = 3
    resolution: int = 224
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("name", f"got {self.name!r}, expected a non-empty string")
        object.__setattr__(self, "stem", _from_dict(StemSpec, self.stem, "stem"))
        if not isinstance(self.stages, (list, tuple)) or not self.stages:
            raise SpecError("stages", f"got {self.stages!r}, expected a non-empty list of stages")
        object.__setattr__(self, "stages", tuple(
            _from_dict(StageSpec, stage, f"stages[{i}]") for i, stage in enumerate(self.stages)))
        object.__setattr__(self, "head", _from_dict(HeadSpec, self.head, "head"))
        if not isinstance(self.source, str):
            raise SpecError("source", f"got {self.source!r}, expected a string citing the paper and table")
        _int(self, "in_channels")
        _int(self, "resolution")
        for i, stage in enumerate(self.stages):
            if stage.space_to_depth == 2 and (i == 0 or self.stages[i - 1].space_to_depth != 1):
                raise SpecError(f"stages[{i}].space_to_depth", "got 2, expected the previous stage to have "
                                                               "space_to_depth 1 (2 marks the stage right after it)")
        if self.resolution % self.resolution_step:
            raise SpecError("resolution", f"got {self.resolution}, expected a multiple of the network's total "
                                          f"stride {self.total_stride} (or a stage with padding 'same', which "
                                          "accepts any size)")

    @property
    def total_stride(self) -> int:
        """Input resolution / final feature-map resolution: the product of the stem's and stages' strides."""
        stride = self.stem.stride
        for stage in self.stages:
            stride *= stage.effective_stride
        return stride

    @property
    def resolution_step(self) -> int:
        """What input sizes must be a multiple of: 1 when a stage pads TensorFlow-'same' (any size
        works, every layer giving ceil(in / stride)), else the total stride."""
        return 1 if any(stage.padding == "same" for stage in self.stages) else self.total_stride

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkSpec":
        """The spec of a mapping with this class's fields (nested mappings for stem, stages, head)."""
        return _from_dict(cls, data, "")

    @classmethod
    def from_yaml(cls, text_or_path: str | os.PathLike) -> "NetworkSpec":
        """Load from a YAML file (path-like, or a str naming an existing file) or from YAML text.

        ``yaml.safe_load``: loading a spec runs no code.
        """
        import yaml

        is_file = isinstance(text_or_path, os.PathLike) or (
            isinstance(text_or_path, str) and "\n" not in text_or_path and Path(text_or_path).is_file())
        text = Path(text_or_path).read_text(encoding="utf-8") if is_file else text_or_path
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SpecError("", f"invalid YAML in {str(text_or_path)[:80]!r}: {' '.join(str(err).split())[:300]}") from err
        if not is_file and not isinstance(data, dict) and "\n" not in str(text_or_path):
            raise SpecError("", f"got {text_or_path!r}, expected a YAML file path (no such file) or YAML text "
                                "of a mapping of NetworkSpec fields")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists, as ``from_dict`` takes them back."""
        data = dataclasses.asdict(self)
        data["stages"] = list(data["stages"])
        return data

    def fingerprint(self) -> str:
        """A short hash of the architecture (everything but ``name`` and ``source``): two specs that build
        the same network share it, so a measurement or a training result can be cached under it."""
        import hashlib
        import json

        arch = {k: v for k, v in self.to_dict().items() if k not in ("name", "source")}
        return hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        """YAML text that ``from_yaml`` reads back to an equal spec."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace_stage(self, index: int, **changes) -> "NetworkSpec":
        """A copy with stage ``index`` changed (e.g. ``replace_stage(2, block="fused_mbconv")``)."""
        stages = list(self.stages)
        try:
            stages[index] = dataclasses.replace(stages[index], **changes)
        except SpecError as err:
            raise err.under(f"stages[{index}]") from None
        return dataclasses.replace(self, stages=tuple(stages))
