"""Bad input gets one clear error naming the value and what was expected; nothing silently wrong.

One table of (call, exception, message fragment) over the package's API; the command line has
its own table in test_cli.py. Each case is a mistake a new user makes.
"""
import math
import sqlite3

import numpy as np
import pytest
import torch
from torch import nn

from gpuefficient.analysis import costs, rank, roofline
from gpuefficient.arch import scaling
from gpuefficient.arch.blocks import ConvBnAct
from gpuefficient.measure import backends, lut, timer

ROOF = roofline.Roofline(1e12, 1e11)


def small_cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2), nn.Flatten(1))


def strided_cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), *(nn.Conv2d(4, 4, 3, stride=2, padding=1) for _ in range(2)))


CASES = [
    # roofline and the EfficientNet-X latency model: negative or NaN work is not a time
    (lambda: ROOF.time(-1e9, 1.0), ValueError, "flops: got -1000000000.0, expected finite amounts >= 0"),
    (lambda: ROOF.time(1.0, float("nan")), ValueError, "nbytes: got nan"),
    (lambda: ROOF.attainable(-3.0), ValueError, "intensity: got -3.0"),
    (lambda: roofline.latency_model(float("nan"), 1e12, 0.5), ValueError, "flops: got nan"),
    (lambda: roofline.latency_model(-1e9, 1e12, 0.5), ValueError, "flops: got -1000000000.0"),
    (lambda: roofline.latency_model(1e9, 0, 0.5), ValueError, "ideal_rate: got 0"),
    (lambda: roofline.latency_model(1e9, 1e12, 1.5), ValueError, "efficiency: got 1.5"),
    (lambda: roofline.execution_efficiency(1e9, 10, 0.0, ROOF), ValueError, "latency_s: got 0.0"),
    (lambda: roofline.Roofline(float("inf"), 1e11), ValueError, "peak_flops: got inf"),
    # shapes that do not fit the model: named with what the first layer expects
    (lambda: costs.analyze(small_cnn(), (1, 3, 224)), ValueError, "expected a batched (N, C, H, W) input with C = 3"),
    (lambda: costs.analyze(small_cnn(), (1, 4, 32, 32)), ValueError, "got (1, 4, 32, 32), expected a batched"),
    (lambda: costs.analyze(small_cnn(), (3, 32, 32)), ValueError, "got (3, 32, 32), expected a batched (N, C, H, W)"),
    (lambda: costs.analyze(small_cnn(), (1, 3, 8, 8, 8)), ValueError, "got (1, 3, 8, 8, 8)"),
    (lambda: costs.analyze(small_cnn(), (1, 3, 0, 8)), ValueError, "input_shape: got (1, 3, 0, 8)"),
    (lambda: costs.analyze(small_cnn(), "1x3x8x8"), ValueError, "input_shape: got '1x3x8x8'"),
    (lambda: costs.analyze(small_cnn(), (1, 3, 8, 8), "int4"), ValueError, "dtype: got 'int4'"),
    (lambda: costs.analyze("resnet18", (1, 3, 8, 8)), TypeError, "model: got str"),
    (lambda: timer.measure_model(small_cnn(), (1, 3, 32), device="cpu"), ValueError, "input_shape: got (1, 3, 32)"),
    (lambda: timer.measure_model(small_cnn(), (1, 3, 8, 8), dtype="fp64", device="cpu"), ValueError,
     "dtype: got 'fp64'"),
    (lambda: timer.random_input((2, -1)), ValueError, "shape: got (2, -1)"),
    (lambda: backends.prepare(small_cnn(), torch.randn(3, 32)), ValueError,
     "example_input: got (3, 32), expected a batched (N, C, H, W) input with C = 3"),
    (lambda: backends.prepare(small_cnn(), torch.randn(1, 3, 8, 8), "tensor-rt"), ValueError,
     "backend: got 'tensor-rt'"),
    (lambda: timer.measure(lambda: None, device="tpu"), ValueError, "device: got 'tpu'"),
    (lambda: timer.measure(lambda: None, device="cpu", repeats=0), ValueError, "repeats: got 0"),
    (lambda: timer.measure(lambda: None, device="cpu", inner=2, flush_cache=True), ValueError,
     "inner: got 2 with flush_cache=True"),
    (lambda: timer.Task(memory_format="nhwc"), ValueError, "memory_format: got 'nhwc'"),
    (lambda: timer.Task(dtype="float64"), ValueError, "dtype: got 'float64'"),
    # compound scaling: phi bounded by what can be built (it hung at phi 25 and overflowed at 1e6)
    (lambda: scaling.multipliers(1.29, 1.16, 1.07, 25), ValueError, "phi: got 25, which multiplies"),
    (lambda: scaling.multipliers(1.29, 1.16, 1.07, 1e6), ValueError, "expected phi <= 10.9"),
    (lambda: scaling.multipliers(1.29, 1.16, 1.07, float("nan")), ValueError, "phi: got nan"),
    (lambda: scaling.multipliers(0.9, 1.16, 1.07, 1), ValueError, "alpha: got 0.9"),
    (lambda: scaling.round_filters(32, 1.0, divisor=0), ValueError, "divisor: got 0"),
    # rank: refuse what the method cannot analyse
    (lambda: rank.stage_convs(strided_cnn(), (1, 3, 2, 2)), ValueError, "input_shape: got (1, 3, 2, 2), at which"),
    (lambda: costs.analyze(small_cnn(), (1, 3, 2, 2)), ValueError, "which Sequential cannot run (Calculated padded"),
    (lambda: rank.spectrum(torch.full((4, 3, 3, 3), float("nan")), name="conv"), ValueError,
     "conv: weight: got 108 NaN or infinite value(s)"),
    (lambda: rank.stage_convs(nn.Sequential(nn.Conv2d(3, 4, 16, 16), nn.Flatten(1)), (1, 3, 32, 32)), ValueError,
     "has no spatial (k > 1) convolution after its first one"),
]


def _api():
    """The modules the second half of the table calls (imported here: the table is built at collection)."""
    import pandas as pd

    from gpuefficient import dtypes
    from gpuefficient.analysis import hardware, predictors
    from gpuefficient.arch import gpunet_space, models, spec, zoo
    from gpuefficient.book import claims, results, runtime
    from gpuefficient.design import lacs, oracles, training
    from gpuefficient.measure import block_profile, ceilings
    return locals()


A = _api()
X0 = zoo.get("efficientnet_x_b0_gpu").spec if (zoo := A["zoo"]) else None
STAGE = dict(block="mbconv", depth=1, out_channels=8)
CASES += [
    # compound scaling and LACS
    (lambda: A["lacs"].reward(-0.1, 1.0, 1.0), ValueError, "accuracy: got -0.1"),
    (lambda: A["lacs"].reward(0.7, 1.0, 0.0), ValueError, "target: got 0.0"),
    (lambda: A["lacs"].solve_phi(lambda phi: 1.0, -1.0), ValueError, "target: got -1.0"),
    (lambda: A["lacs"].solve_phi(lambda phi: 2.0, 1.0), ValueError, "the base model (phi 0) already takes 2"),
    (lambda: A["lacs"].grid([1.2], [1.1], [1.15], flops_budget=100), ValueError, "grid: no (alpha, beta, gamma) left"),
    (lambda: A["lacs"].family(X0, 1.29, 1.16, 1.07), ValueError, "expected exactly one of phis"),
    (lambda: A["lacs"].table_latency(None, batch=0), ValueError, "batch: got 0"),
    (lambda: scaling.phi_for_resolution(256, 224, 1.0), ValueError, "gamma: got 1.0"),
    (lambda: scaling.scale_spec("x", 1.0, 1.0, 224), TypeError, "spec: got str"),
    (lambda: scaling.scale_spec(X0, 1.0, 1.0, 0), ValueError, "resolution: got 0"),
    # GPUNet's space
    (lambda: A["gpunet_space"].sobol(0), ValueError, "n: got 0"),
    (lambda: A["gpunet_space"].decode([0.5] * 40), ValueError, "u: got shape (40,), expected 41 numbers"),
    (lambda: A["gpunet_space"].decode([1.0] * 41), ValueError, "u[0] (resolution): got 1.0, expected a number in"),
    (lambda: A["gpunet_space"].from_encoding([0] * 41), ValueError, "code[0] (resolution): got 0"),
    (lambda: A["gpunet_space"].sample_networks(2, resolution=100), ValueError, "resolution: got 100"),
    # specs
    (lambda: A["spec"].StageSpec(block="mbconvv", depth=1, out_channels=8), ValueError, "did you mean 'mbconv'"),
    (lambda: A["spec"].StageSpec(**STAGE, expansion=0), ValueError, "expansion: got 0"),
    (lambda: A["spec"].StageSpec(**STAGE, activation="relu7"), ValueError, "activation: got 'relu7'"),
    (lambda: A["spec"].NetworkSpec.from_dict({"name": "n", "stem": {"out_channels": 8}, "stages": [STAGE],
                                              "resolutoin": 64}), ValueError, "did you mean 'resolution'"),
    (lambda: A["spec"].NetworkSpec.from_yaml("name: [unclosed"), ValueError, "invalid YAML"),
    # device catalog, dtypes, ceilings
    (lambda: A["hardware"].match_catalog(3), TypeError, "name: got int"),
    (lambda: A["hardware"].CATALOG["T4"].peak_flops("bf16"), ValueError, "T4 has no bf16 figure"),
    (lambda: A["dtypes"].name("fp64"), ValueError, "dtype: got 'fp64'"),
    (lambda: A["dtypes"].to_torch("int8"), ValueError, "dtype: got 'int8', expected one of ['fp32', 'fp16', 'bf16']"),
    (lambda: A["ceilings"].measure_ceilings("cpu", dtypes=["tf32"]), ValueError, "which is a CUDA (cuBLAS) mode"),
    # timing
    (lambda: timer.trimmed_mean([]), ValueError, "trimmed_mean of no values"),
    (lambda: timer.measure_interleaved({"a": 1}), TypeError, "expected a non-empty dict of label -> callable"),
    (lambda: timer.Measurement.from_dict({"task": 1}), ValueError, "expected a Measurement.to_dict() with keys"),
    (lambda: backends.prepare(small_cnn(), torch.randn(1, 3, 8, 8), "eager", "int8"), ValueError, "dtype: got 'int8'"),
    (lambda: backends.prepare(small_cnn(), "x"), TypeError, "example_input: got str"),
    (lambda: backends.output_error(torch.zeros(3), torch.zeros(2)), ValueError, "output: got torch.Size([3])"),
    (lambda: A["block_profile"].profiling_network("xy", 8), ValueError, "block: got 'xy'"),
    # lookup tables and their statistics
    (lambda: lut.units(small_cnn(), (1, 3, 8, 8), "stage"), ValueError, "granularity: got 'stage'"),
    (lambda: lut.LatencyTable("/tmp/never-created.sqlite", dtype="fp64"), ValueError, "dtype: got 'fp64'"),
    (lambda: lut.LatencyTable("/tmp/never-created.sqlite", timer=3), TypeError, "timer: got int"),
    (lambda: A["predictors"].evaluate([1.0], [1.0]), ValueError, "expected equal lengths of at least 2"),
    (lambda: A["predictors"].evaluate([1.0, -1.0], [1.0, 1.0]), ValueError, "predicted_s: got -1.0"),
    (lambda: A["predictors"].held_out_metrics(A["pd"].DataFrame({"measured_s": [1.0] * 3, "predicted_layer_s": [1.0] * 3})),
     ValueError, "frame: got 3 networks, expected at least 4"),
    # models, results, claims, runtime, training
    (lambda: A["models"].create_model("genet_normal", pretrained=True), ValueError, "zoo networks have none here"),
    (lambda: A["models"].check_input_size("genet_light", 100), ValueError, "genet_light takes multiples of 32"),
    (lambda: rank.kernel_matrices(torch.zeros(3)), ValueError, "weight: got (3,), expected a 4-d conv kernel"),
    (lambda: rank.load_checkpoint(small_cnn(), "/nonexistent.pt"), ValueError, "expected an existing checkpoint file"),
    (lambda: A["results"].save_results("/tmp", "c", "n", {"a": 1}, {}), ValueError, "records: got dict"),
    (lambda: A["claims"].Claim("c", "s", "p", "k", "e", verdict="maybe", basis="measured"), ValueError,
     "verdict: got 'maybe'"),
    (lambda: A["claims"].judge("c", source="s", paper="p", criterion=A["claims"].Criterion("x", ">", 1), values=[]),
     ValueError, "values: got none"),
    (lambda: A["claims"].Criterion("x", ">", 1.0, margin=float("nan")), ValueError, "margin: got nan"),
    (lambda: A["runtime"].setup(quick="yes"), ValueError, "quick: got 'yes'"),
    (lambda: A["training"].train(small_cnn(), [], epochs=0), ValueError, "epochs: got 0"),
    (lambda: A["oracles"].TrainingOracle(input_scale=0), ValueError, "input_scale: got 0"),
]


@pytest.mark.parametrize("call, error, fragment", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_gets_one_clear_error(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_numpy_integers_are_accepted_as_sizes():
    report = costs.analyze(small_cnn(), tuple(np.int64(s) for s in (1, 3, 8, 8)))
    assert report.input_shape == (1, 3, 8, 8) and all(type(s) is int for s in report.input_shape)


def test_a_table_with_edited_negative_latencies_is_refused_by_key(tmp_path):
    path = tmp_path / "t.sqlite"
    model = nn.Sequential(ConvBnAct(3, 8, 3)).eval()
    with lut.LatencyTable(path, device="cpu", warmup=0, repeats=2) as table:
        assert table.predict(model, (1, 3, 8, 8)).total_s > 0
        conn = sqlite3.connect(path)
        conn.execute("UPDATE latency SET median_s = -3.6 WHERE key_config LIKE '%Conv2d%'")
        conn.commit()
        conn.close()
        with pytest.raises(lut.LUTError, match=r"holds an implausible median of -3.6 s"):
            table.predict(model, (1, 3, 8, 8))  # read while open: refused, not summed
    with pytest.raises(lut.LUTError, match=r"1 entry has implausible latencies .*Conv2d.*median -3.6 s"):
        lut.LatencyTable(path, device="cpu")


def test_a_timer_that_returns_junk_stores_nothing(tmp_path):
    junk = timer.Measurement(timer.Task(), (math.inf, 1.0, -1.0), 0, "cpu", "fake")
    with lut.LatencyTable(tmp_path / "t.sqlite", device="cpu", timer=lambda m, x: junk) as table:
        with pytest.raises(ValueError, match="timer: returned a median of 1.0 s for 0, expected a finite"):
            table.fill(lut.units(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 8, 8)))
        assert len(table) == 0


def test_concurrent_writers_count_only_what_they_stored(tmp_path):
    """Two writers fill one table: the one whose entry was stored first keeps it, the other reports 0
    measured (the CLI's "N of M units measured now" over-reported this before)."""
    path, found = tmp_path / "t.sqlite", lut.units(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 8, 8))

    def fake(module, x):
        return timer.Measurement(timer.Task(), (1.1e-3, 1e-3, 0.9e-3), 0, "cpu", "fake")

    first = lut.LatencyTable(path, device="cpu", timer=fake)

    def racing(module, x):  # while this writer measures, the other stores the same unit
        assert first.fill(found) == 1
        return timer.Measurement(timer.Task(), (5.5e-3, 5e-3, 4.5e-3), 0, "cpu", "fake")

    with first, lut.LatencyTable(path, device="cpu", timer=racing) as second:
        assert second.fill(found) == 0 and len(second) == 1
        assert second.lookup(found[0]) == pytest.approx(1e-3)  # the first writer's entry, not overwritten


def test_a_folder_is_not_a_table(tmp_path):
    with pytest.raises(lut.LUTError, match="is a folder; expected a file path"):
        lut.LatencyTable(tmp_path, device="cpu")
    (tmp_path / "file").write_text("x")
    with pytest.raises(lut.LUTError, match="cannot create its folder"):
        lut.LatencyTable(tmp_path / "file" / "t.sqlite", device="cpu")


def test_zoo_networks_accept_only_what_their_spec_accepts(meta_build):
    from gpuefficient.arch.zoo import get

    net = meta_build(get("genet_normal").spec)
    for size in (225, 16 + 8):
        with pytest.raises(ValueError, match=f"got \\(1, 3, {size}, {size}\\), but genet_normal takes heights and "
                                             "widths that are multiples of 32"):
            costs.analyze(net, (1, 3, size, size))
    with pytest.raises(ValueError, match="genet_light takes heights and widths that are multiples of 32"):
        lut.units(meta_build(get("genet_light").spec), (1, 3, 33, 33))
    assert costs.analyze(meta_build(get("efficientnet_x_b0_gpu").spec), (1, 3, 33, 33)).macs > 0  # 'same': any size


def test_suggestions_include_zoo_names():
    from gpuefficient.arch.models import create_model

    with pytest.raises(ValueError, match=r"model: got 'genet_lite'.*did you mean genet_light"):
        create_model("genet_lite")


def test_pretrained_weights_fail_fast_when_the_hub_cannot_be_reached(monkeypatch):
    import socket
    import time

    from gpuefficient.arch.models import create_model

    def unreachable(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"pretrained weights for 'resnet18' are not available here .*--weights"):
        create_model("resnet18", pretrained=True)
    assert time.perf_counter() - start < 30 and __import__("os").environ["HF_HUB_OFFLINE"] == "1"


def test_a_space_to_depth_stem_takes_the_image_channels():
    """TResNet's stem regroups 4 x 4 pixels into 48 channels before its first conv: the input has 3."""
    import torch
    from torch import nn

    from gpuefficient.checks import model_input

    model = nn.Sequential(nn.PixelUnshuffle(4), nn.Conv2d(48, 8, 3))
    assert model_input("input_shape", model, (2, 3, 32, 32)) == (2, 3, 32, 32)
    model(torch.zeros(2, 3, 32, 32))  # what the check accepts runs
    with pytest.raises(ValueError, match=r"C = 3 .*after a 16x channel regrouping"):
        model_input("input_shape", model, (2, 48, 8, 8))
    with pytest.raises(ValueError, match="C = 48"):  # no regrouping before the conv: its channels as they are
        model_input("input_shape", nn.Sequential(nn.Conv2d(48, 8, 3), nn.PixelUnshuffle(4)), (2, 3, 32, 32))
