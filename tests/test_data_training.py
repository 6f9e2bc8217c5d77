import pytest
import torch
from torch import nn

from gpuefficient.design.data import ProceduralImages, class_attributes, image_folder_loaders, procedural_loaders
from gpuefficient.design.training import TrainResult, evaluate, train


def test_seeded_deterministic_and_split_dependent():
    a, b = ProceduralImages(64, 16, seed=3), ProceduralImages(64, 16, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, ProceduralImages(64, 16, seed=3, split="test").images)
    assert not torch.equal(a.images, ProceduralImages(64, 16, seed=4).images)
    image, label = a[5]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and isinstance(label, int)
    assert a.labels.min() >= 0 and a.labels.max() < 10
    big = ProceduralImages(3000, 16, seed=3)  # sample i does not depend on num_samples (chunked render)
    assert torch.equal(big.images[:64], a.images) and torch.equal(big.labels[:64], a.labels)
    assert abs(big.images.mean()) < 0.05 and 0.8 < big.images.std() < 1.2
    counts = torch.bincount(ProceduralImages(1000, 8).labels, minlength=10)
    assert counts.min() == counts.max() == 100
    counts = torch.bincount(ProceduralImages(1003, 8, num_classes=7).labels, minlength=7)
    assert counts.max() - counts.min() <= 1


def test_channel_means_carry_no_label():
    ds = ProceduralImages(2000, 16)
    means = ds.images.mean((2, 3))
    per_class = torch.stack([means[ds.labels == c].mean(0) for c in range(10)])
    assert per_class.abs().max() < 0.1  # every class has the same average colour


def test_resolutions_render_the_same_scenes():
    fine, coarse = ProceduralImages(200, 32), ProceduralImages(200, 16)
    assert torch.equal(fine.labels, coarse.labels)
    pooled = nn.functional.avg_pool2d(fine.images, 2)
    correlation = torch.corrcoef(torch.stack([pooled.flatten(), coarse.images.flatten()]))[0, 1]
    assert correlation > 0.5  # same scene, independent pixel noise
    assert class_attributes(4, 10) == {"orientation": 0.0, "band": (6.0, 9.0), "shape": "ring"}
    with pytest.raises(ValueError, match="label: got 10"):
        class_attributes(10, 10)


def render_scenes(labels, num_classes=10, resolution=32, seed=0):
    """Images of ``labels`` drawn from one fixed set of random draws (positions, sizes, colours, phases, noise):
    two calls differ only where the labels differ, so any difference between them is the labels' cue."""
    import numpy as np

    from gpuefficient.design import data

    ds = ProceduralImages(1, resolution, num_classes, seed)
    rngs = {name: np.random.default_rng([seed, i]) for i, name in enumerate(data._STREAMS)}
    return torch.from_numpy(ds._render(np.asarray(labels), rngs))


def test_the_shape_cue_follows_the_label():
    """Labels 0, 1, 2 share orientation and frequency band (class_attributes) and differ only in shape: with
    every random draw the same, their images must differ, by a single coloured blob (colour x a spatial map,
    rank 1 over the channels) - the shape - while the same label always gives the same image."""
    n = 32
    assert [class_attributes(c, 10)["shape"] for c in range(3)] == ["disc", "ring", "bar"]
    scenes = {c: render_scenes([c] * n) for c in range(3)}
    assert torch.equal(scenes[0], render_scenes([0] * n))
    for a, b in ((0, 1), (0, 2), (1, 2)):
        diff = scenes[a] - scenes[b]
        per_image = diff.abs().mean((1, 2, 3))
        assert (per_image > 0.02).all(), (a, b)  # every scene: a visible shape change
        singular = torch.linalg.svdvals(diff.flatten(2).double())  # (n, 3) per image: channels x pixels
        assert (singular[:, 1] < 1e-4 * singular[:, 0]).all(), (a, b)  # one colour times one map


def test_every_cue_of_a_class_changes_the_scene():
    """Changing only the band (labels 0 -> 3) or only the orientation (0 -> 6) changes every image too."""
    base = render_scenes([0] * 16)
    for other in (3, 6):
        assert class_attributes(other, 10)["shape"] == "disc"
        assert ((render_scenes([other] * 16) - base).abs().mean((1, 2, 3)) > 0.02).all(), other


@pytest.mark.parametrize("kwargs, text", [
    (dict(num_samples=0), "num_samples: got 0, expected an integer >= 1"),
    (dict(num_samples=10, num_classes=1), "num_classes: got 1, expected an integer >= 2"),
    (dict(num_samples=10, resolution=4), "resolution: got 4"),
    (dict(num_samples=10, resolution=16.0), "resolution: got 16.0"),
    (dict(num_samples=10, split="val"), "split: got 'val', expected one of"),
])
def test_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        ProceduralImages(**kwargs)


def tiny_cnn(width=32):
    layers = []
    for c_in, stride in ((3, 1), (width, 2), (width, 1)):
        layers += [nn.Conv2d(c_in, width, 3, stride, 1), nn.BatchNorm2d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def test_a_cnn_learns_what_channel_means_cannot():
    train_loader, test_loader = procedural_loaders(2000, 1000, resolution=16, batch_size=64, seed=0)
    torch.manual_seed(0)
    cnn = tiny_cnn()
    result = train(cnn, train_loader, epochs=3, lr=0.1, device="cpu")
    assert isinstance(result, TrainResult) and result.steps == 3 * len(train_loader) and result.epochs == 3
    assert result.train_loss_history[-1] < result.train_loss_history[0] - 0.3
    assert result.device and result.seconds > 0 and 0 <= result.final_train_accuracy <= 1
    means_only = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10))
    train(means_only, train_loader, epochs=3, lr=0.1, device="cpu")
    cnn_acc, means_acc = evaluate(cnn, test_loader, "cpu"), evaluate(means_only, test_loader, "cpu")
    assert cnn_acc > 0.25 and means_acc < 0.16 and not cnn.training  # seeds 0-6: 0.34-0.47 vs 0.09-0.10


def test_training_is_deterministic_on_cpu():
    def run():
        loader, _ = procedural_loaders(256, 10, resolution=8, batch_size=64, seed=1)
        torch.manual_seed(0)
        model = tiny_cnn(8)
        return train(model, loader, epochs=2, device="cpu", seed=5).train_loss_history, model[0].weight

    (loss_a, weight_a), (loss_b, weight_b) = run(), run()
    assert loss_a == loss_b and torch.equal(weight_a, weight_b)


class Oracle(nn.Module):
    """Cheats with the dataset's own labels: evaluate() must then report 1.0."""

    def __init__(self, dataset):
        super().__init__()
        self.lookup = {img.sum().item(): label for img, label in zip(dataset.images, dataset.labels.tolist())}

    def forward(self, x):
        return nn.functional.one_hot(torch.tensor([self.lookup[i.sum().item()] for i in x]), 10).float()


def test_evaluate_and_errors(tmp_path, capsys):
    _, test_loader = procedural_loaders(10, 50, resolution=8, batch_size=16)
    assert evaluate(Oracle(ProceduralImages(50, 8, split="test")), test_loader, "cpu") == 1.0
    wrong = Oracle(ProceduralImages(50, 8, split="test"))
    wrong.forward = lambda x: -Oracle.forward(wrong, x)  # never the right label
    assert evaluate(wrong, test_loader, "cpu") == 0.0
    train(tiny_cnn(8), test_loader, epochs=1, device="cpu", log_every=2)
    assert "step 2/4: loss" in capsys.readouterr().out
    for kwargs, text in [(dict(epochs=0), "epochs: got 0"), (dict(lr=0), "lr: got 0"),
                         (dict(log_every=0), "log_every: got 0"), (dict(device="tpu"), "device: got 'tpu'")]:
        with pytest.raises(ValueError, match=text):
            train(tiny_cnn(8), test_loader, **kwargs)
    with pytest.raises(FloatingPointError, match="diverged"):
        train(tiny_cnn(8), test_loader, lr=1e30, device="cpu")
    with pytest.raises(ValueError, match=r"root: .* lacks .*train"):
        image_folder_loaders(tmp_path)


def test_image_folder_loaders(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / split / cls / "a.png")
    train_loader, val_loader = image_folder_loaders(tmp_path, resolution=16, batch_size=4, workers=0)
    images, labels = next(iter(val_loader))
    assert images.shape == (2, 3, 16, 16) and labels.tolist() == [0, 1]
    assert next(iter(train_loader))[0].shape == (2, 3, 16, 16)
