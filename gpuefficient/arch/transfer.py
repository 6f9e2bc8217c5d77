"""Copy weights between two implementations of the same network, layer by layer in execution order.

Two modules that run the same convolutions, norms and linear layers in the same order (ours from a
spec, timm's from its own code) hold the same weights under different names. One shape-only pass
of each records the order in which their weighted layers run; the weights are then copied pairwise,
after checking that every pair has the same type and the same shapes. Equal outputs afterwards
prove the two implementations compute the same function.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["weighted_layers_in_order", "transfer_weights"]

_WEIGHTED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.PReLU)


def _kind(module: nn.Module) -> type:
    return next(cls for cls in _WEIGHTED if isinstance(module, cls))


def weighted_layers_in_order(model: nn.Module, input_shape) -> list[tuple[str, nn.Module]]:
    """The conv, batch-norm, linear and PReLU layers of ``model`` in the order a forward pass runs them."""
    names = {module: name for name, module in model.named_modules()}
    order: list[tuple[str, nn.Module]] = []
    hooks = [m.register_forward_pre_hook(lambda m, a: order.append((names[m], m)))
             for m in model.modules() if isinstance(m, _WEIGHTED)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return order


def transfer_weights(source: nn.Module, target: nn.Module, input_shape=(1, 3, 64, 64)) -> int:
    """Copy ``source``'s parameters and buffers into ``target``; returns the number of layers copied."""
    src, dst = weighted_layers_in_order(source, input_shape), weighted_layers_in_order(target, input_shape)
    if len(src) != len(dst):
        raise ValueError(f"source runs {len(src)} weighted layers, target {len(dst)}: not the same network")
    pairs = list(zip(src, dst))
    for (s_name, s), (d_name, d) in pairs:  # check everything before copying anything
        if _kind(s) is not _kind(d):
            raise ValueError(f"{s_name} ({type(s).__name__}) does not match {d_name} ({type(d).__name__})")
        s_shapes, d_shapes = _shapes(s), _shapes(d)
        if s_shapes != d_shapes:
            raise ValueError(f"{s_name} {s_shapes} does not match {d_name} {d_shapes}")
    with torch.no_grad():
        for (_, s), (_, d) in pairs:
            d_state = d.state_dict()
            for key, value in s.state_dict().items():
                d_state[key].copy_(value)
    return len(pairs)


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items() if k != "num_batches_tracked"}
