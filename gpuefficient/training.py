"""A small, honest trainer: SGD with Nesterov momentum, cosine schedule, cross-entropy."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from gpuefficient.latency import device_name, resolve_device

__all__ = ["TrainResult", "train", "evaluate"]


@dataclass(frozen=True)
class TrainResult:
    """What one training run did and how long it took."""

    epochs: int
    steps: int
    seconds: float
    device: str
    train_loss_history: list[float] = field(default_factory=list)  # mean loss per epoch
    final_train_accuracy: float = 0.0                             # during the last epoch


def train(model: nn.Module, loader, epochs: int = 1, lr: float = 0.05, weight_decay: float = 5e-4,
          device="auto", seed: int = 0) -> TrainResult:
    """Train ``model`` in place for ``epochs`` over ``loader``; it ends on ``device`` in eval mode."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: got {epochs!r}, expected an integer >= 1")
    if not lr > 0:
        raise ValueError(f"lr: got {lr!r}, expected a positive learning rate")
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model.to(dev).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total = epochs * len(loader)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    history, correct, seen, start = [], 0, 0, time.perf_counter()
    for _ in range(epochs):
        losses, correct, seen = [], 0, 0
        for images, labels in loader:
            images, labels = images.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
            logits = model(images)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
        history.append(sum(losses) / len(losses))
    model.eval()
    return TrainResult(epochs, total, time.perf_counter() - start, device_name(dev), history,
                       correct / seen if seen else 0.0)


def evaluate(model: nn.Module, loader, device="auto") -> float:
    """Top-1 accuracy of ``model`` over ``loader``, in [0, 1]."""
    dev = resolve_device(device)
    model.to(dev).eval()
    correct = seen = 0
    with torch.inference_mode():
        for images, labels in loader:
            predictions = model(images.to(dev)).argmax(1).cpu()
            correct += (predictions == labels).sum().item()
            seen += len(labels)
    if not seen:
        raise ValueError("loader: got no samples to evaluate")
    return correct / seen
