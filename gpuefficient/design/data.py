"""An offline, seeded, procedurally generated image-classification dataset, plus real-data loaders.

Chapters that train (rank analysis, compound scaling) must run anywhere, offline, in minutes on
a CPU, on data where spatial structure genuinely matters. ``ProceduralImages`` draws every image
as a scene of three label cues at different scales, under random colours, contrast, phase,
position and pixel noise:

- an oriented sinusoidal grating whose orientation band is one part of the class,
- whose spatial-frequency band (coarse: 2-4 cycles per image, fine: 6-9) is another part,
- a shape (disc, ring or bar) at a random place and size, the third part;

plus a weaker distractor grating of random orientation and frequency. Every component has its
per-image mean removed, so per-channel means carry no label: a classifier has to see edges,
textures and shapes, which is what convolutions learn. Scenes are drawn independently of the
resolution and rendered band-limited (gratings above ~0.3 cycles per pixel fade out, shapes get
one-pixel soft edges), so sample ``i`` at 16 px is the same scene as at 32 px, with its fine cues
(fine gratings, thin rings) lost: more resolution genuinely helps, as compound scaling assumes.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from gpuefficient import checks

__all__ = ["ProceduralImages", "procedural_loaders", "image_folder_loaders", "class_attributes"]

_SPLITS = {"train": 0, "test": 1}
_SHAPES = ("disc", "ring", "bar")
_BANDS = ((2.0, 4.0), (6.0, 9.0))  # grating frequency bands, cycles per image
_COMBOS = len(_SHAPES) * len(_BANDS)  # classes per orientation
_CHUNK = 2048                      # images rendered per vectorised step (bounds peak memory)
_SCALE = 1.0 / 0.88                # brings the pixel std to ~1.0 at 32 px (measured: 1.01 over 5,000 images)
_STREAMS = ("labels", "uniform", "normal", "noise")


def class_attributes(label: int, num_classes: int) -> dict:
    """The recipe of class ``label``: orientation (radians, band centre), frequency band, shape.

    Classes enumerate shape (fastest), then band, then one of ``ceil(num_classes / 6)`` orientations.
    """
    checks.integer("num_classes", num_classes, 2)
    checks.integer("label", label, 0, num_classes - 1)
    orientations = math.ceil(num_classes / _COMBOS)
    return {"orientation": (label // _COMBOS) * math.pi / orientations,
            "band": _BANDS[(label // len(_SHAPES)) % len(_BANDS)], "shape": _SHAPES[label % len(_SHAPES)]}


class ProceduralImages(Dataset):
    """``num_samples`` seeded RGB images of ``resolution`` squared pixels in ``num_classes`` classes.

    Sample ``i`` of a given (seed, split, num_classes) is always the same image, whatever
    ``num_samples`` (a smaller set is a prefix of a larger one); ``train`` and ``test`` draw from
    independent streams. Labels are balanced within every block of ``num_classes`` samples. Items
    are ``(float32 tensor 3 x H x W, int label)``, roughly zero mean and unit variance.
    """

    def __init__(self, num_samples: int, resolution: int = 32, num_classes: int = 10, seed: int = 0,
                 split: str = "train"):
        checks.integer("num_samples", num_samples, 1)
        checks.integer("resolution", resolution, 8)
        checks.integer("num_classes", num_classes, 2)
        checks.integer("seed", seed, 0)
        if split not in _SPLITS:
            raise ValueError(f"split: got {split!r}, expected one of {sorted(_SPLITS)}")
        self.num_samples, self.resolution, self.num_classes = int(num_samples), int(resolution), int(num_classes)
        self.seed, self.split = int(seed), split
        # One independent stream per kind of draw; each draws a fixed count per sample, in order,
        # so sample i never depends on num_samples (nor, except for its pixel noise, on resolution).
        streams = np.random.SeedSequence([self.seed, _SPLITS[split], self.num_classes]).spawn(len(_STREAMS))
        rngs = dict(zip(_STREAMS, (np.random.default_rng(s) for s in streams)))
        blocks = -(-self.num_samples // self.num_classes)
        labels = np.argsort(rngs["labels"].random((blocks, self.num_classes)), axis=1).reshape(-1)
        labels = labels[: self.num_samples]
        chunks = [self._render(labels[i:i + _CHUNK], rngs) for i in range(0, self.num_samples, _CHUNK)]
        self.images = torch.from_numpy(np.concatenate(chunks))
        self.labels = torch.from_numpy(labels.astype(np.int64))

    def _render(self, labels: np.ndarray, rngs: dict) -> np.ndarray:
        n, res, f32 = len(labels), self.resolution, np.float32
        # 14 uniforms per sample (11 used, 3 spare so a new cue would not shift the others); each (n, 1, 1)
        u = rngs["uniform"].random((n, 14)).astype(f32).T[:, :, None, None]
        colours = rngs["normal"].standard_normal((n, 4, 3), dtype=f32)
        # random hues, but never a near-invisible one: unit RMS per channel
        colours = (colours * (math.sqrt(3) / np.linalg.norm(colours, axis=2, keepdims=True)))[..., None, None]
        noise = rngs["noise"].standard_normal((n, 3, res, res), dtype=f32)
        coords = ((np.arange(res, dtype=f32) + 0.5) / res - 0.5)
        y, x = coords[:, None], coords[None, :]

        def grating(angle, freq, phase):
            along = x * np.cos(angle) + y * np.sin(angle)
            # band-limited rendering: full contrast up to 0.3 cycles/pixel, none at Nyquist (0.5)
            visible = np.clip((0.5 - freq / res) / 0.2, 0.0, 1.0)
            return _centred(visible * np.sin(2 * math.pi * freq * along + phase))

        def soft(inside_distance):  # 1 inside, 0 outside, one-pixel linear edge
            return np.clip(inside_distance * res + 0.5, 0.0, 1.0)

        # the class recipe of class_attributes, vectorised
        orientations = math.ceil(self.num_classes / _COMBOS)
        centre = (labels // _COMBOS)[:, None, None] * math.pi / orientations
        angle = centre + (u[0] - 0.5) * (0.5 * math.pi / orientations)  # band: +-1/4 of the spacing
        low, high = np.array(_BANDS, dtype=f32)[(labels // len(_SHAPES)) % len(_BANDS)].T[:, :, None, None]
        main = grating(angle, low + u[1] * (high - low), 2 * math.pi * u[2])
        distractor = grating(math.pi * u[3], 1.5 + 8.0 * u[4], 2 * math.pi * u[5])

        cx, cy = 0.5 * u[6] - 0.25, 0.5 * u[7] - 0.25
        radius = 0.12 + 0.18 * u[8]
        dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        disc = soft(radius - dist)
        ring = disc - soft(0.55 * radius - dist)
        bar_angle = math.pi * u[9]
        along = (x - cx) * np.cos(bar_angle) + (y - cy) * np.sin(bar_angle)
        across = (y - cy) * np.cos(bar_angle) - (x - cx) * np.sin(bar_angle)
        bar = np.minimum(soft(1.2 * radius - np.abs(along)), soft(0.3 * radius - np.abs(across)))
        kind = (labels % len(_SHAPES))[:, None, None]  # 0 disc, 1 ring, 2 bar
        shape = _centred(np.where(kind == 0, disc, np.where(kind == 1, ring, bar)))

        contrast = (0.5 + 0.5 * u[10])[:, None]
        images = (contrast * colours[:, 0] * main[:, None] + 0.35 * colours[:, 1] * distractor[:, None]
                  + 1.5 * colours[:, 2] * shape[:, None] + 0.3 * colours[:, 3] + 0.4 * noise)
        return (images * _SCALE).astype(f32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        return (f"ProceduralImages(num_samples={len(self)}, resolution={self.resolution}, "
                f"num_classes={self.num_classes}, seed={self.seed}, split={self.split!r})")

    def as_tensor_dataset(self) -> TensorDataset:
        """The whole set as one TensorDataset (fast batching without per-item Python calls)."""
        return TensorDataset(self.images, self.labels)


def _centred(a: np.ndarray) -> np.ndarray:
    """``a`` minus its per-image spatial mean: no label information left in the mean brightness."""
    return a - a.mean(axis=(-2, -1), keepdims=True)


def procedural_loaders(train_samples: int, test_samples: int, resolution: int = 32, num_classes: int = 10,
                       batch_size: int = 128, seed: int = 0, workers: int = 0) -> tuple[DataLoader, DataLoader]:
    """Train (shuffled with a generator seeded by ``seed``) and test loaders over ``ProceduralImages``."""
    checks.integer("batch_size", batch_size, 1)
    checks.integer("workers", workers, 0)
    train = ProceduralImages(train_samples, resolution, num_classes, seed, "train").as_tensor_dataset()
    test = ProceduralImages(test_samples, resolution, num_classes, seed, "test").as_tensor_dataset()
    generator = torch.Generator().manual_seed(seed)
    pin = torch.cuda.is_available()
    return (DataLoader(train, batch_size, shuffle=True, generator=generator, num_workers=workers, pin_memory=pin),
            DataLoader(test, batch_size, shuffle=False, num_workers=workers, pin_memory=pin))


def image_folder_loaders(root, resolution: int = 224, batch_size: int = 64, workers: int = 4,
                         seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """ImageNet-style loaders for real data on disk: ``root/train`` and ``root/val`` class folders.

    Train: random-resized crop and flip; val: resize to ``resolution / 0.875`` and centre crop
    (the usual 87.5% crop); both normalised with the ImageNet channel statistics.
    """
    checks.integer("resolution", resolution, 8)
    checks.integer("batch_size", batch_size, 1)
    checks.integer("workers", workers, 0)
    root = Path(root)
    missing = [str(root / split) for split in ("train", "val") if not (root / split).is_dir()]
    if missing:
        raise ValueError(f"root: {str(root)!r} lacks {missing}; expected root/train and root/val class folders")
    from torchvision import datasets, transforms  # lazy: only users with real data pay for it

    normalize = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train_tf = transforms.Compose([transforms.RandomResizedCrop(resolution), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), normalize])
    val_tf = transforms.Compose([transforms.Resize(round(resolution / 0.875)), transforms.CenterCrop(resolution),
                                 transforms.ToTensor(), normalize])
    pin = torch.cuda.is_available()
    generator = torch.Generator().manual_seed(seed)
    return (DataLoader(datasets.ImageFolder(root / "train", train_tf), batch_size, shuffle=True,
                       generator=generator, num_workers=workers, pin_memory=pin),
            DataLoader(datasets.ImageFolder(root / "val", val_tf), batch_size, num_workers=workers, pin_memory=pin))
