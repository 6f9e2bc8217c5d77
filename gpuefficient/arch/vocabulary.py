"""The architecture vocabulary as plain data: block types and the stage fields each takes, activations,
paddings. No torch here: specs are validated (and the zoo listed) without importing it; the modules
these names build are in :mod:`gpuefficient.arch.blocks`, which must cover every name.
"""
from __future__ import annotations

__all__ = ["PADDINGS", "ACTIVATION_NAMES", "OPTIONAL_FIELDS", "BLOCK_FIELDS", "PADDED_BLOCKS", "SE_BLOCKS",
           "EXPANSION_MEANING"]

#: How a KxK convolution pads (a stage's ``padding``):
PADDINGS = {
    "symmetric": "k // 2 on every side (PyTorch and timm); output ceil(in / stride) for odd kernels",
    "same": "TensorFlow 'same': output ceil(in / stride), the odd pixel of padding at the bottom/right; "
            "also for even kernels (the EfficientNet-X release)",
    "same_static": "timm's padding='same' as GPUNet's release builds it: k // 2 at stride 1, no padding at all "
                   "at stride > 1 (the dynamic TensorFlow padding is dropped)",
}

#: The activations a stem, stage or head may name ("swish" is SiLU).
ACTIVATION_NAMES = ("relu", "relu6", "silu", "swish", "hardswish", "gelu", "sigmoid", "prelu", "identity")

#: The StageSpec fields a block type may leave out, each with the value a stage of such a block must
#: keep (``StageSpec`` rejects any other) and what leaving it out means.
OPTIONAL_FIELDS = {
    "expansion": (1.0, "have no expansion"),
    "se_ratio": (0.0, "have no squeeze-excite"),
    "padding": ("symmetric", "pad symmetrically only"),
}

_KSA = ("kernel", "stride", "activation")  # what every block takes
_OF_INPUT, _OF_OUTPUT = "relative to the block's input channels", "GENet's r, relative to the block's output width"
#: Spec block name -> (the StageSpec fields it takes, what its expansion is relative to; "" if it takes none).
BLOCK_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "conv": ((*_KSA, "padding"), ""),
    "mbconv": ((*_KSA, "expansion", "se_ratio", "padding"), _OF_INPUT),
    "fused_mbconv": ((*_KSA, "expansion", "se_ratio", "padding"), _OF_INPUT),
    "space_to_depth": ((*_KSA, "padding"), ""),
    "xx": (_KSA, ""),
    "bl": ((*_KSA, "expansion"), _OF_OUTPUT),
    "dw": ((*_KSA, "expansion"), _OF_OUTPUT),
}
#: Blocks that take each optional field (in registry order).
PADDED_BLOCKS = tuple(name for name, (takes, _) in BLOCK_FIELDS.items() if "padding" in takes)
SE_BLOCKS = tuple(name for name, (takes, _) in BLOCK_FIELDS.items() if "se_ratio" in takes)
EXPANSION_MEANING = {name: meaning for name, (_, meaning) in BLOCK_FIELDS.items() if meaning}
