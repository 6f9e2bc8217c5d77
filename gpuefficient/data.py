"""An offline, seeded, procedurally generated image-classification dataset, plus real-data loaders.

Chapters that train (rank analysis, compound scaling) must run anywhere, offline, in minutes on
a CPU, on data where spatial structure genuinely matters. ``ProceduralImages`` draws each image
from its class's recipe: an oriented sinusoidal grating (the orientation is one half of the
label) plus a disc or a ring (the other half) at a random place and size, under random colour
mixing, contrast, phase and noise. Per-channel means carry no label information, so a classifier
must see oriented edges and shapes: exactly what convolutions learn.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

__all__ = ["ProceduralImages", "procedural_loaders", "image_folder_loaders"]

_SPLITS = {"train": 0, "test": 1}


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: got {value!r}, expected an integer >= {low}")


class ProceduralImages(Dataset):
    """``num_samples`` seeded RGB images of ``resolution`` squared pixels in ``num_classes`` classes.

    Sample ``i`` of a given (seed, split) is always the same image; ``train`` and ``test`` draw
    from independent streams. Items are ``(float32 tensor 3 x H x W, int label)``, roughly zero
    mean and unit variance.
    """

    def __init__(self, num_samples: int, resolution: int = 32, num_classes: int = 10, seed: int = 0,
                 split: str = "train"):
        _check_int("num_samples", num_samples, 1)
        _check_int("resolution", resolution, 8)
        _check_int("num_classes", num_classes, 2)
        _check_int("seed", seed, 0)
        if split not in _SPLITS:
            raise ValueError(f"split: got {split!r}, expected one of {sorted(_SPLITS)}")
        self.resolution, self.num_classes, self.seed, self.split = resolution, num_classes, seed, split
        rng = np.random.default_rng([seed, _SPLITS[split], num_classes, resolution])
        labels = rng.permutation(np.arange(num_samples) % num_classes)
        chunks = [self._draw(labels[i:i + 4096], rng) for i in range(0, num_samples, 4096)]
        self.images = torch.from_numpy(np.concatenate(chunks))
        self.labels = torch.from_numpy(labels.astype(np.int64))

    def _draw(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, res = len(labels), self.resolution
        orientations = math.ceil(self.num_classes / 2)
        angle = (labels % orientations) * math.pi / orientations + rng.normal(0, 0.08, n)
        ring = labels // orientations == 1
        coords = (np.arange(res) + 0.5) / res - 0.5
        y, x = np.meshgrid(coords, coords, indexing="ij")
        freq = rng.uniform(2.5, 5.0, n)[:, None, None]
        phase = rng.uniform(0, 2 * math.pi, n)[:, None, None]
        along = x * np.cos(angle)[:, None, None] + y * np.sin(angle)[:, None, None]
        grating = np.sin(2 * math.pi * freq * along + phase)
        cx, cy = (rng.uniform(-0.25, 0.25, (2, n))[:, :, None, None])
        radius = rng.uniform(0.12, 0.28, n)[:, None, None]
        dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        disc = dist < radius
        shape = np.where(ring[:, None, None], disc & (dist > 0.55 * radius), disc).astype(np.float64)
        shape -= shape.mean(axis=(1, 2), keepdims=True)  # no label in the mean brightness
        grating_rgb = rng.normal(0, 1, (n, 3))[:, :, None, None] * rng.uniform(0.4, 1.0, (n, 1, 1, 1))
        shape_rgb = rng.normal(0, 1.5, (n, 3))[:, :, None, None]
        offset = rng.normal(0, 0.5, (n, 3))[:, :, None, None]
        images = (grating_rgb * grating[:, None] + shape_rgb * shape[:, None] + offset
                  + rng.normal(0, 0.5, (n, 3, res, res)))
        return images.astype(np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])

    def as_tensor_dataset(self) -> TensorDataset:
        """The whole set as one TensorDataset (fast batching without per-item Python calls)."""
        return TensorDataset(self.images, self.labels)


def procedural_loaders(train_samples: int, test_samples: int, resolution: int = 32, num_classes: int = 10,
                       batch_size: int = 128, seed: int = 0, workers: int = 0) -> tuple[DataLoader, DataLoader]:
    """Train (shuffled, seeded) and test loaders over ``ProceduralImages``."""
    _check_int("batch_size", batch_size, 1)
    train = ProceduralImages(train_samples, resolution, num_classes, seed, "train").as_tensor_dataset()
    test = ProceduralImages(test_samples, resolution, num_classes, seed, "test").as_tensor_dataset()
    generator = torch.Generator().manual_seed(seed)
    return (DataLoader(train, batch_size, shuffle=True, generator=generator, num_workers=workers),
            DataLoader(test, batch_size, shuffle=False, num_workers=workers))


def image_folder_loaders(root, resolution: int = 224, batch_size: int = 64, workers: int = 4):
    """ImageNet-style loaders for real data on disk: ``root/train`` and ``root/val`` class folders."""
    from torchvision import datasets, transforms

    root = Path(root)
    missing = [str(root / split) for split in ("train", "val") if not (root / split).is_dir()]
    if missing:
        raise ValueError(f"root: {str(root)!r} lacks {missing}; expected root/train and root/val class folders")
    normalize = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_tf = transforms.Compose([transforms.RandomResizedCrop(resolution), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), normalize])
    val_tf = transforms.Compose([transforms.Resize(int(resolution / 0.875)), transforms.CenterCrop(resolution),
                                 transforms.ToTensor(), normalize])
    return (DataLoader(datasets.ImageFolder(root / "train", train_tf), batch_size, shuffle=True, num_workers=workers),
            DataLoader(datasets.ImageFolder(root / "val", val_tf), batch_size, num_workers=workers))
