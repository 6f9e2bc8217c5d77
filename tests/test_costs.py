import math
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gpuefficient.analysis.costs import analyze
from gpuefficient.dtypes import to_torch


def flop_counter_total(model: nn.Module, shape) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(shape))
    return counter.get_total_flops()


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 2, 4]))
    depthwise = draw(st.booleans())
    c_in = draw(st.integers(1, 6)) * groups
    if depthwise:
        groups = c_in
    c_out = draw(st.integers(1, 6)) * groups
    kernel = draw(st.sampled_from([1, 2, 3, 5]))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    dilation = draw(st.integers(1, 2))
    size = draw(st.integers(kernel * dilation, 17))
    batch = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    return c_in, c_out, kernel, stride, padding, dilation, groups, size, batch, transposed


@settings(max_examples=60, deadline=None)
@given(conv_cases(), st.booleans())
def test_conv_flops_equal_flop_counter(case, bias):
    c_in, c_out, kernel, stride, padding, dilation, groups, size, batch, transposed = case
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    if transposed:
        padding = 0  # output size stays positive
    conv = cls(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    shape = (batch, c_in, size, size)
    report = analyze(conv, shape)
    assert report.flops == flop_counter_total(conv, shape)
    assert report.params == sum(p.numel() for p in conv.parameters())
    (row,) = [r for r in report.layers if r.kind == "conv"]
    assert row.weight_bytes == 4 * report.params
    assert row.input_bytes == 4 * batch * c_in * size * size


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 64), st.integers(1, 64), st.booleans(), st.booleans())
def test_linear_flops_equal_flop_counter(batch, d_in, d_out, bias, three_d):
    layer = nn.Linear(d_in, d_out, bias=bias)
    shape = (batch, 5, d_in) if three_d else (batch, d_in)
    report = analyze(layer, shape)
    assert report.flops == flop_counter_total(layer, shape)


class Attention(nn.Module):
    """Batched matrix products (bmm through matmul, baddbmm) next to a linear layer with a bias."""

    def __init__(self):
        super().__init__()
        self.qkv, self.bias = nn.Linear(16, 48), nn.Parameter(torch.randn(1, 5, 5))

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = torch.baddbmm(self.bias.expand(x.shape[0], 5, 5), q, k.transpose(1, 2))
        return torch.matmul(scores.softmax(-1), v)


#: Layers of every kind the FLOP count distinguishes, each counted by torch.utils.flop_counter (the peer tool)
#: and by our cost model: groups, depthwise, transposed (grouped, strided), dilation, 1-d and 3-d kernels, biases
#: and batched products.
FLOP_CASES = {
    "grouped conv": (nn.Conv2d(8, 12, 3, padding=1, groups=4), (2, 8, 9, 9)),
    "depthwise conv": (nn.Conv2d(6, 12, 5, stride=2, groups=6, bias=False), (1, 6, 11, 11)),
    "transposed grouped conv": (nn.ConvTranspose2d(8, 4, 3, stride=2, groups=2), (2, 8, 5, 7)),
    "dilated strided conv": (nn.Conv2d(3, 5, 3, stride=2, dilation=2, padding=1), (1, 3, 13, 13)),
    "conv1d": (nn.Conv1d(4, 6, 3, groups=2), (3, 4, 10)),
    "conv3d": (nn.Conv3d(2, 3, (1, 3, 3), padding=(0, 1, 1)), (1, 2, 3, 6, 6)),
    "linear with bias": (nn.Linear(7, 5), (3, 7)),
    "linear on 3-d input": (nn.Linear(7, 5), (2, 4, 7)),
    "attention products": (Attention(), (2, 5, 16)),
}


@pytest.mark.parametrize("case", list(FLOP_CASES))
def test_flops_equal_flop_counter_for_every_kind_of_layer(case):
    module, shape = FLOP_CASES[case]
    expected = flop_counter_total(module, shape)
    assert expected > 0 and analyze(module, shape).flops == expected


def test_bytes_and_intensity_of_a_conv_follow_element_size():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    fp32 = analyze(conv, (2, 16, 8, 8), torch.float32)
    fp16 = analyze(conv, (2, 16, 8, 8), "fp16")
    (row,) = fp32.layers
    assert row.input_bytes == 8_192  # 2 x 16 x 8 x 8 elements of 4 bytes
    assert row.weight_bytes == 18_432  # 32 x 16 x 3 x 3 x 4
    assert row.output_bytes == 16_384  # 2 x 32 x 8 x 8 x 4
    assert row.flops == flop_counter_total(conv, (2, 16, 8, 8)) == 1_179_648
    assert fp16.bytes * 2 == fp32.bytes == 2 * 21_504
    assert row.intensity == pytest.approx(1_179_648 / 43_008) and fp16.intensity == pytest.approx(2 * 1_179_648 / 43_008)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.SiLU()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.act(self.bn(self.conv(x)))
        y = y * torch.sigmoid(y.mean((2, 3), keepdim=True))  # squeeze-excite-like product
        return self.fc((x + y).mean((2, 3)))


def test_elementwise_work_is_counted_separately_and_attributed():
    """Every count of Residual at (1, 8, 4, 4) in fp32, worked out by hand from the layers (a 128-element
    activation is 512 bytes): the report's totals are checked against these numbers, not against its own sums."""
    model = Residual()
    report = analyze(model, (1, 8, 4, 4))
    assert report.flops == flop_counter_total(model, (1, 8, 4, 4)) == 18_496  # conv 18,432 + fc 2 x 8 x 4
    table = [(r.name, r.op, r.kind, r.flops, r.params, r.input_bytes, r.weight_bytes, r.output_bytes)
             for r in report.layers]
    assert table == [
        ("conv", "convolution", "conv", 18_432, 576, 512, 2_304, 512),   # 2 x 128 outputs x 72 MACs each
        ("bn", "native_batch_norm", "norm", 256, 32, 512, 128, 512),    # 2 per element; weight, bias, mean, var
        ("act", "silu", "activation", 128, 0, 512, 0, 512),
        ("", "mean", "pool", 128, 0, 512, 0, 32),                        # one per input element
        ("", "sigmoid", "activation", 8, 0, 32, 0, 32),
        ("", "mul", "elementwise", 128, 0, 544, 0, 512),                 # y (512 B) x the gate (32 B)
        ("", "add", "elementwise", 128, 0, 1_024, 0, 512),
        ("", "mean", "pool", 128, 0, 512, 0, 32),
        ("fc", "addmm", "linear", 64, 36, 32, 144, 16)]                  # bias excluded from FLOPs, not bytes
    assert (report.elementwise_flops, report.total_flops) == (904, 19_400)
    assert (report.bytes, report.fused_bytes) == (9_440, 3_520)  # fused: the conv's and the fc's operands only
    assert report.intensity == pytest.approx(19_400 / 9_440) and report.fused_intensity == pytest.approx(19_400 / 3_520)
    assert report.macs == 9_248 and report.params == 576 + 16 + 36  # BN running statistics are buffers


def test_pooling_counts_window_elements():
    pool = nn.MaxPool2d(3, stride=2, padding=1)
    (row,) = analyze(pool, (1, 4, 8, 8)).layers
    assert row.kind == "pool" and row.output_shape == (1, 4, 4, 4)
    assert row.flops == 4 * 4 * 4 * 9
    assert row.output_bytes == 4 * 4 * 4 * 4  # indices are not counted


def test_model_is_untouched_and_mode_restored():
    model = Residual().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze(model, (1, 8, 4, 4), "bf16")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).dtype == torch.float32 and not model._forward_hooks


def test_resnet50_matches_flop_counter_fast():
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet50", pretrained=False)
    analyze(model, (1, 3, 224, 224))  # first call pays one-time dispatch set-up
    # CPU time of this process, not wall time: the meta-device pass is single-threaded, and on a loaded
    # machine the wall clock also counts other processes (3.4 s of wall for ~0.1 s of work, measured)
    start = time.process_time()
    report = analyze(model, (1, 3, 224, 224), name="resnet50")
    elapsed = time.process_time() - start
    assert report.flops == 8_178_368_512  # flop_counter's count (SETUP-NOTES), 4.089 GMACs
    assert report.params == 25_557_032
    assert elapsed < 1.0
    data = report.to_dict()
    assert {"model", "input_shape", "dtype", "flops", "macs", "params", "bytes", "intensity", "layers"} <= set(data)


def test_batch_raises_intensity_of_weight_heavy_layers():
    fc = nn.Linear(512, 512)
    small, large = analyze(fc, (1, 512)), analyze(fc, (256, 512))
    assert large.intensity > 50 * small.intensity


@pytest.mark.parametrize("bad, message", [
    ((1, 3, 0, 4), "input_shape: got (1, 3, 0, 4)"),
    ("1x3x224x224", "input_shape: got '1x3x224x224'"),
    ((3,), "input_shape: got (3,)"),
])
def test_bad_input_shape(bad, message):
    with pytest.raises(ValueError) as err:
        analyze(nn.Conv2d(3, 4, 3), bad)
    assert message in str(err.value)


def test_bad_dtype_and_model():
    with pytest.raises(ValueError, match=r"dtype: got 'int8'"):
        to_torch("int8")
    with pytest.raises(ValueError, match=r"dtype: got torch.int32"):
        analyze(nn.Conv2d(3, 4, 3), (1, 3, 8, 8), torch.int32)
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        analyze(lambda x: x, (1, 3, 8, 8))


# --- transformer-style timm models: views, softmax and the weight/activation split ----------------

@pytest.fixture(scope="module")
def transformer_reports():
    """ViT, Swin and ConvNeXt (the smallest of each in timm), analysed twice each at their input size."""
    import timm

    cases = {"vit_tiny_patch16_224": 224, "swin_tiny_patch4_window7_224": 224, "convnext_atto": 64}
    out = {}
    for name, res in cases.items():
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
        out[name] = [analyze(model, (1, 3, res, res)) for _ in range(2)]
    return out


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "swin_tiny_patch4_window7_224", "convnext_atto"])
def test_weight_and_activation_split_is_stable_across_runs(transformer_reports, name):
    """Weights were recognised by id(); a freed view's id reused by an activation moved rows between the
    two kinds from one run to the next (ViT: 57 vs 63 rows with weight operands)."""
    first, second = transformer_reports[name]
    split = [[(r.op, r.params, r.weight_bytes, r.input_bytes) for r in report.layers] for report in (first, second)]
    assert split[0] == split[1]
    # every parameter element is read by some op exactly as a weight: the rows' weights sum to the model's
    assert sum(r.params for r in first.layers) >= first.params


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "swin_tiny_patch4_window7_224"])
def test_reshapes_are_free_and_softmax_is_counted(transformer_reports, name):
    report = transformer_reports[name][0]
    ops = {r.op for r in report.layers}
    assert "_unsafe_view" not in ops and "_reshape_alias" not in ops  # relabelling a shape moves no bytes
    softmax = [r for r in report.layers if "softmax" in r.op]
    assert softmax and all(r.kind == "activation" and r.flops == math.prod(r.output_shape) for r in softmax)


def test_unsafe_view_moves_no_bytes():
    class Reshape(nn.Module):
        def forward(self, x):
            return torch.ops.aten._unsafe_view(x * 2, (x.shape[0], -1))

    report = analyze(Reshape(), (2, 3, 4, 4))
    assert [r.op for r in report.layers] == ["mul"] and report.bytes == 2 * 2 * 48 * 4


def test_batch_traffic_fits_two_batches_and_predicts_a_third():
    from gpuefficient.analysis.costs import batch_traffic

    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.Conv2d(32, 64, 3, stride=2, bias=False), nn.Flatten(), nn.LazyLinear(10, bias=False))
    net(torch.zeros(1, 3, 16, 16))   # materialise the lazy layer
    small, large, other = (analyze(net, (b, 3, 16, 16), "fp16") for b in (2, 16, 64))
    model = batch_traffic(small, large, 2, 16)
    assert model.weights == pytest.approx(sum(p.numel() for p in net.parameters() if p.dim() > 1) * 2)
    assert model.intensity(64) == pytest.approx(other.fused_intensity, rel=1e-9)
    assert model.intensity(1e12) == pytest.approx(model.flops_per_image / model.per_image, rel=1e-6)
    with pytest.raises(ValueError, match="images_large: got 2, expected more than images_small"):
        batch_traffic(large, small, 16, 2)
