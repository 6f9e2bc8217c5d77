import pytest
import torch

from gpuefficient.costs import analyze
from gpuefficient.models import create_model
from gpuefficient.transfer import transfer_weights
from gpuefficient.zoo import ZOO, get, names

timm = pytest.importorskip("timm")


@pytest.mark.parametrize("name", names())
def test_zoo_numbers_within_two_percent_of_the_paper(name):
    entry = get(name)
    res = entry.spec.resolution
    report = analyze(create_model(name), (1, 3, res, res))
    assert report.macs == pytest.approx(entry.paper["macs"], rel=0.02)
    assert report.params == pytest.approx(entry.paper["params"], rel=0.02)


@pytest.mark.parametrize("name", names())
def test_zoo_network_equals_its_timm_equivalent_after_weight_transfer(name):
    entry = get(name)
    ours, theirs = create_model(name), timm.create_model(entry.timm_equivalent, pretrained=False).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    torch.manual_seed(0)
    for module in theirs.modules():  # non-trivial BN statistics, so a mismatch cannot hide
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    copied = transfer_weights(theirs, ours, (1, 3, 64, 64))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)
    assert copied > 50


def test_transfer_rejects_different_networks():
    with pytest.raises(ValueError, match="does not match|not the same network"):
        transfer_weights(create_model("genet_light"), create_model("genet_normal"), (1, 3, 64, 64))


def test_unknown_zoo_name():
    with pytest.raises(ValueError, match=r"zoo: got 'genet_huge', expected one of \['efficientnet_b0', 'genet_large'"):
        get("genet_huge")
    assert set(ZOO) == {"efficientnet_b0", "genet_light", "genet_normal", "genet_large"}
