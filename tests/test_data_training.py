import pytest
import torch
from torch import nn

from gpuefficient.data import ProceduralImages, image_folder_loaders, procedural_loaders
from gpuefficient.training import evaluate, train


def test_seeded_deterministic_and_split_dependent():
    a, b = ProceduralImages(64, 16, seed=3), ProceduralImages(64, 16, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    test = ProceduralImages(64, 16, seed=3, split="test")
    assert not torch.equal(a.images, test.images)
    image, label = a[5]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and 0 <= label < 10
    assert abs(a.images.mean()) < 0.1 and 0.7 < a.images.std() < 1.3
    counts = torch.bincount(ProceduralImages(1000, 8).labels, minlength=10)
    assert counts.min() == counts.max() == 100


def test_channel_means_carry_no_label():
    ds = ProceduralImages(2000, 16)
    means = ds.images.mean((2, 3))
    per_class = torch.stack([means[ds.labels == c].mean(0) for c in range(10)])
    assert per_class.abs().max() < 0.15  # every class has the same average colour


@pytest.mark.parametrize("kwargs, text", [
    (dict(num_samples=0), "num_samples: got 0"),
    (dict(num_samples=10, num_classes=1), "num_classes: got 1, expected an integer >= 2"),
    (dict(num_samples=10, resolution=4), "resolution: got 4"),
    (dict(num_samples=10, split="val"), "split: got 'val'"),
])
def test_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        ProceduralImages(**kwargs)


def tiny_cnn():
    layers = []
    for c_in, stride in ((3, 1), (32, 2), (32, 1)):
        layers += [nn.Conv2d(c_in, 32, 3, stride, 1), nn.BatchNorm2d(32), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def test_a_cnn_learns_what_channel_means_cannot():
    train_loader, test_loader = procedural_loaders(2000, 1000, resolution=16, batch_size=64, seed=0)
    torch.manual_seed(0)
    cnn = tiny_cnn()
    result = train(cnn, train_loader, epochs=3, lr=0.1, device="cpu")
    assert result.train_loss_history[-1] < result.train_loss_history[0] and result.steps == 3 * len(train_loader)
    means_only = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10))
    train(means_only, train_loader, epochs=3, lr=0.1, device="cpu")
    cnn_acc, means_acc = evaluate(cnn, test_loader, "cpu"), evaluate(means_only, test_loader, "cpu")
    assert cnn_acc > 0.3 and means_acc < 0.16 and not cnn.training


class Oracle(nn.Module):
    """Cheats with the dataset's own labels: evaluate() must then report 1.0."""

    def __init__(self, dataset):
        super().__init__()
        self.lookup = {img.sum().item(): label for img, label in zip(dataset.images, dataset.labels.tolist())}

    def forward(self, x):
        return nn.functional.one_hot(torch.tensor([self.lookup[i.sum().item()] for i in x]), 10).float()


def test_evaluate_and_trainer_errors(tmp_path):
    _, test_loader = procedural_loaders(10, 50, resolution=8)
    assert evaluate(Oracle(ProceduralImages(50, 8, split="test")), test_loader, "cpu") == 1.0
    with pytest.raises(ValueError, match="epochs: got 0"):
        train(tiny_cnn(), test_loader, epochs=0)
    with pytest.raises(ValueError, match=r"lacks .*train"):
        image_folder_loaders(tmp_path)
