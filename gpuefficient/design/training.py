"""A small, honest trainer: SGD with Nesterov momentum, one-cycle schedule, cross-entropy.

Honest means: the numbers it reports are the ones it measured (mean loss per epoch, accuracy on
the batches it trained on, wall time including the final synchronisation), it stops loudly on a
non-finite loss, and it reads the loss back from the GPU once per epoch (or per ``log_every``
steps), never once per step.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from gpuefficient import checks
from gpuefficient.device import device_name, resolve_device

__all__ = ["TrainResult", "train", "evaluate"]


@dataclass(frozen=True)
class TrainResult:
    """What one training run did and how long it took."""

    epochs: int
    steps: int
    seconds: float                                                # wall time, synchronised
    train_loss_history: list[float] = field(default_factory=list)  # mean loss per epoch
    final_train_accuracy: float = 0.0                             # on the batches of the last epoch
    device: str = ""

    def __str__(self) -> str:
        return (f"{self.epochs} epochs ({self.steps} steps) in {self.seconds:.1f} s on {self.device}: "
                f"loss {self.train_loss_history[0]:.3f} -> {self.train_loss_history[-1]:.3f}, "
                f"last-epoch train accuracy {self.final_train_accuracy:.1%}")


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def train(model: nn.Module, train_loader, epochs: int = 1, lr: float = 0.05, weight_decay: float = 5e-4,
          device="auto", seed: int = 0, log_every: int | None = None, label_smoothing: float = 0.0) -> TrainResult:
    """Train ``model`` in place for ``epochs`` over ``train_loader``; it ends on ``device`` in eval mode.

    SGD (momentum 0.9, Nesterov) under a one-cycle schedule (15% warm-up, cosine decay) over all
    steps. ``seed`` seeds torch's global RNG (dropout, ...); on a CPU a run is then deterministic
    given the loader's order. ``log_every``: print the running loss every that many steps.
    """
    checks.integer("epochs", epochs)
    checks.number("lr", lr, 0, low_open=True)
    checks.number("weight_decay", weight_decay, 0)
    if log_every is not None:
        checks.integer("log_every", log_every)
    checks.number("label_smoothing", label_smoothing, 0, 1, high_open=True)
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise ValueError("train_loader: got a loader with no batches, expected at least one")
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model.to(dev).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    total = epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    history, step, start = [], 0, time.perf_counter()
    for epoch in range(epochs):
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), dtype=torch.long, device=dev)
        seen = 0
        for images, labels in train_loader:
            images, labels = images.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
            logits = model(images)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            loss_sum += loss.detach() * len(labels)
            correct += (logits.detach().argmax(1) == labels).sum()
            seen += len(labels)
            if log_every and step % log_every == 0:
                print(f"epoch {epoch + 1}/{epochs} step {step}/{total}: loss {loss_sum.item() / seen:.4f} "
                      f"lr {schedule.get_last_lr()[0]:.4g}", flush=True)
        history.append(loss_sum.item() / seen)  # one host read per epoch
        if not math.isfinite(history[-1]):
            raise FloatingPointError(f"training diverged in epoch {epoch + 1}: mean loss {history[-1]} "
                                     f"(lr={lr}; try a smaller learning rate)")
    _sync(dev)
    seconds = time.perf_counter() - start
    model.eval()
    return TrainResult(epochs, total, seconds, history, correct.item() / seen, device_name(dev))


def evaluate(model: nn.Module, loader, device="auto") -> float:
    """Top-1 accuracy of ``model`` over ``loader``, in [0, 1]; the model is left on ``device`` in eval mode."""
    dev = resolve_device(device)
    model.to(dev).eval()
    correct, seen = torch.zeros((), dtype=torch.long, device=dev), 0
    with torch.inference_mode():
        for images, labels in loader:
            labels = labels.to(dev, non_blocking=True)
            correct += (model(images.to(dev, non_blocking=True)).argmax(1) == labels).sum()
            seen += len(labels)
    if not seen:
        raise ValueError("loader: got no samples to evaluate, expected at least one batch")
    return correct.item() / seen
