import math

import pytest
import torch
from torch import nn

from gpuefficient.analysis.costs import analyze
from gpuefficient.arch.builder import build
from gpuefficient.arch.folding import FoldedNetwork, fold, fold_inputs, fold_spec, unfold_outputs
from gpuefficient.arch.spec import NetworkSpec

#: Dense 3x3 convolutions only (no depthwise), the setting in which folding keeps FLOPs per image.
DENSE = NetworkSpec.from_dict({
    "name": "dense", "stem": {"out_channels": 16}, "resolution": 32, "head": {"channels": None, "num_classes": 10},
    "stages": [{"block": "conv", "depth": 3, "out_channels": 32, "stride": 2},
               {"block": "conv", "depth": 3, "out_channels": 64, "stride": 2}]})


def per_image(spec, images):
    """Cost report of ``spec`` fed ``images`` images: folded inputs hold f images each."""
    f = spec.in_channels // 3
    with torch.device("meta"):
        net = build(spec)
    return analyze(net, (images // f, spec.in_channels, spec.resolution, spec.resolution))


@pytest.mark.parametrize("f", [4, 9, 16])
def test_each_dense_conv_keeps_its_flops_per_image_stem_and_classifier_grow_by_sqrt_f(f):
    plain, wide = per_image(DENSE, f), per_image(fold_spec(DENSE, f), f)
    flops = lambda r: {(l.name, l.op): l.flops for l in r.layers if l.is_matmul}  # noqa: E731, E741
    a, b = flops(plain), flops(wide)
    assert a.keys() == b.keys() and len(a) == 8  # stem, 6 convs, classifier
    root = math.isqrt(f)
    for key in a:
        expected = root if key[0] in ("stem.conv", "head.fc") else 1
        assert b[key] == expected * a[key], key


def test_flops_per_image_stay_within_a_few_percent():
    plain, wide = per_image(DENSE, 4), per_image(fold_spec(DENSE, 4), 4)
    assert wide.flops / plain.flops == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("f", [4, 9, 16])
def test_activation_bytes_shrink_and_intensity_grows_by_sqrt_f(f):
    folded = fold_spec(DENSE, f)
    # the same 64 f images through each: at a large batch activations, not weights, dominate the
    # traffic, the setting in which folding raises intensity by about sqrt(f)
    plain, wide = per_image(DENSE, 256 * f), per_image(folded, 256 * f)
    acts = lambda r: sum(layer.output_bytes for layer in r.layers)  # noqa: E731
    assert acts(wide) / acts(plain) == pytest.approx(1 / math.sqrt(f), rel=0.1)
    # not quite sqrt(f): the input images' bytes do not shrink and the weights grow f-fold
    assert 0.7 * math.sqrt(f) < wide.fused_intensity / plain.fused_intensity < math.sqrt(f)


def test_widths_inputs_and_heads_of_the_folded_spec():
    folded = fold_spec(DENSE, 4)
    assert folded.in_channels == 12 and folded.stem.out_channels == 32
    assert [s.out_channels for s in folded.stages] == [64, 128] and [s.depth for s in folded.stages] == [3, 3]
    assert folded.head.num_classes == 40 and folded.resolution == 32 and folded.name == "dense_fold4"
    odd = NetworkSpec.from_dict({**DENSE.to_dict(), "stem": {"out_channels": 12}})
    assert fold_spec(odd, 4).stem.out_channels == 24


def test_fold_inputs_stacks_consecutive_images_and_heads_answer_for_them():
    x = torch.arange(8 * 3 * 2 * 2, dtype=torch.float32).reshape(8, 3, 2, 2)
    folded = fold_inputs(x, 4)
    assert folded.shape == (2, 12, 2, 2) and folded.data_ptr() == x.data_ptr()
    assert torch.equal(folded[1, 3:6], x[5])  # folded input 1, slot 1 = image 4 + 1
    logits = torch.arange(2 * 4 * 5.0).reshape(2, 20)
    assert torch.equal(unfold_outputs(logits, 4)[6], logits[1, 10:15])  # image 6 = input 1, head 2


def test_folded_network_has_f_heads_and_maps_batches_to_batches():
    net = fold(build(DENSE), 4)
    assert isinstance(net, FoldedNetwork) and net.network.spec.in_channels == 12
    x = torch.randn(8, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        heads, out = net.forward_heads(x), net(x)
    assert heads.shape == (2, 4, 10) and out.shape == (8, 10)
    assert torch.equal(out.reshape(2, 4, 10), heads)


@pytest.mark.parametrize("f", [0, 1, 2, 8, 4.0, "4", True])
def test_f_must_be_a_perfect_square_above_one(f):
    with pytest.raises(ValueError, match=f"f: got {f!r}"):
        fold_spec(DENSE, f)


def test_timm_and_other_modules_are_refused():
    with pytest.raises(ValueError, match="got a Sequential.*NetworkSpec"):
        fold(nn.Sequential(nn.Conv2d(3, 8, 3)), 4)


def test_a_folded_network_trains_every_head():
    """A few Adam steps on 64 procedural images: each of the f heads' losses falls (gradients reach them all)."""
    from gpuefficient.design.data import ProceduralImages

    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared, busy CPU: one thread is far faster than two fighting
    try:
        data = ProceduralImages(64, 32, 10, seed=0)
        torch.manual_seed(0)
        net = fold(build(DENSE), 4).train()
        optimizer = torch.optim.Adam(net.parameters(), 3e-3)
        history = []
        for _ in range(20):
            heads = net.forward_heads(data.images)  # (16 folded inputs, 4 heads, 10 classes)
            per_head = nn.functional.cross_entropy(heads.reshape(-1, 10), data.labels, reduction="none")
            per_head = per_head.reshape(16, 4).mean(0)
            optimizer.zero_grad()
            per_head.mean().backward()
            optimizer.step()
            history.append(per_head.detach())
    finally:
        torch.set_num_threads(saved)
    assert torch.all(history[-1] < 0.5 * history[0]), (history[0], history[-1])
