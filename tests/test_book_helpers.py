"""The helpers that keep the chapters short: setup, verdict rules, save-and-show, the timing grid,
spec costs, the measured LACS latency and the layer figures."""
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from gpuefficient.analysis.costs import analyze
from gpuefficient.arch import zoo
from gpuefficient.arch.builder import build
from gpuefficient.arch.models import input_resolution, spec_costs
from gpuefficient.arch.spec import NetworkSpec
from gpuefficient.book.results import load_results, provenance, save_and_show
from gpuefficient.book.runtime import setup
from gpuefficient.design import lacs
from gpuefficient.measure import backends
from gpuefficient.measure.timer import Measurement, Task

from conftest import TINY_SPEC as TINY


# --- runtime.setup --------------------------------------------------------------------------------------------

@pytest.fixture
def restore_display_and_warnings():
    with warnings.catch_warnings():
        yield
    pd.reset_option("display.float_format")
    pd.reset_option("display.max_colwidth")


def test_setup_sets_tables_and_silences_only_the_named_module(restore_display_and_warnings):
    pd.reset_option("display.max_colwidth")
    rt = setup("cpu", True, quiet="timm")
    assert pd.options.display.max_colwidth is None
    assert pd.options.display.float_format(1234.5678) == "1,235"   # no exponent where a reader expects none
    assert pd.options.display.float_format(0.012345) == "0.0123"
    ignored = [f for f in warnings.filters if f[0] == "ignore" and f[2] is UserWarning]
    assert ignored and ignored[0][3].pattern == "timm"
    assert rt.dtype == "fp32" and rt.quick


def test_setup_quiet_none_adds_no_filter_and_bad_quiet_is_refused(restore_display_and_warnings):
    before = list(warnings.filters)
    setup("cpu", True, quiet=None)
    assert list(warnings.filters) == before
    with pytest.raises(ValueError, match="quiet: got 3"):
        setup("cpu", True, quiet=3)


def test_runtime_dtype_is_fp16_on_cuda_only():
    from gpuefficient.book.runtime import Runtime

    assert Runtime(torch.device("cuda", 0), False, "gpu", 0).dtype == "fp16"
    assert Runtime(torch.device("cpu"), True, "cpu", 0).dtype == "fp32"


# --- results: save and show -------------------------------------------------------------------------------------

def test_save_and_show_saves_canonical_dtypes_and_shows_matching_sets(tmp_path, capsys):
    records = {"latency": [{"model": "m", "dtype": torch.float16, "batch": np.int64(4), "median_ms": 1.5}],
               "other": pd.DataFrame([{"model": "m", "dtype": "float16", "x": 1}])}
    shown = []
    sets = save_and_show("Roofline", records, results_dir=tmp_path, device="cpu",
                         settings={"dtype": torch.bfloat16, "quick": True}, show="latency",
                         columns=["model", "median_ms", "not there"], reference_dir=tmp_path, display=shown.append)
    out = capsys.readouterr().out
    saved = sorted(p.name for p in (tmp_path / "roofline").glob("*.json"))
    assert len(saved) == 2 and all(name in out for name in saved)
    raw = json.loads(next((tmp_path / "roofline").glob("latency-*.json")).read_text())
    assert raw["records"] == [{"model": "m", "dtype": "fp16", "batch": 4, "median_ms": 1.5}]
    assert raw["provenance"]["settings"] == {"dtype": "bf16", "quick": True}
    other = json.loads(next((tmp_path / "roofline").glob("other-*.json")).read_text())
    assert other["records"][0]["dtype"] == "fp16"
    assert [s["name"] for s in sets] == [raw["name"]]                 # only the "latency-" set is shown
    assert len(shown) == 1 and list(shown[0].columns) == ["model", "median_ms"]
    assert f"{raw['provenance']['device']} | {raw['provenance']['timestamp']} | torch" in out
    assert "settings {'dtype': 'bf16', 'quick': True}" in out


def test_save_and_show_without_results_dir_saves_nothing_and_says_when_nothing_is_there(tmp_path, capsys):
    sets = save_and_show("zoo", {"headlines": [{"a": 1}]}, results_dir=None, show="headlines",
                         reference_dir=tmp_path, display=print)
    assert sets == [] and not list(tmp_path.iterdir())
    assert "No GPU reference results in results/zoo yet" in capsys.readouterr().out


def test_provenance_and_records_keep_unknown_dtype_words(tmp_path):
    assert provenance("cpu", {"dtype": "mixed", "other": torch.float32})["settings"] == {"dtype": "mixed",
                                                                                         "other": "fp32"}
    save_and_show("c", {"r": [{"dtype": ""}]}, results_dir=tmp_path, device="cpu", show="none",
                  reference_dir=tmp_path, display=print)
    assert load_results(tmp_path, "c")[0]["records"] == [{"dtype": ""}]


# --- arch.models: input_resolution and spec_costs ------------------------------------------------------------------

def test_input_resolution_zoo_then_paper_then_224():
    assert input_resolution("gpunet_1") == zoo.get("gpunet_1").spec.resolution
    assert input_resolution("efficientnet_x_b3_gpu") == zoo.get("efficientnet_x_b3_gpu").spec.resolution != 224
    assert input_resolution("efficientnet_b2") == 260 and input_resolution("efficientnet_b3") == 300
    assert input_resolution("resnet18") == 224
    with pytest.raises(ValueError, match="name: got ''"):
        input_resolution("")


def test_spec_costs_is_analyze_of_the_built_network_at_its_resolution():
    report = spec_costs(TINY)
    direct = analyze(build(TINY), (1, 3, 32, 32))
    assert (report.macs, report.params, report.bytes) == (direct.macs, direct.params, direct.bytes)
    assert report.input_shape == (1, 3, 32, 32) and report.model == "tiny"
    batched = spec_costs(TINY, batch=4, dtype="fp16")
    assert batched.macs == 4 * report.macs and batched.dtype == "fp16" and batched.input_shape[0] == 4
    assert batched.bytes < 4 * report.bytes                          # half the bytes per element
    with pytest.raises(TypeError, match="expected a NetworkSpec"):
        spec_costs("tiny")
    with pytest.raises(ValueError, match="batch: got 0"):
        spec_costs(TINY, batch=0)


# --- design.lacs: measured_latency ------------------------------------------------------------------------------

def test_measured_latency_times_each_architecture_once(monkeypatch):
    from gpuefficient.measure import timer

    calls = []

    def fake_measure_model(model, shape, **kw):
        calls.append((shape, kw))
        t = 1e-3 * len(calls)
        return Measurement(Task(label=kw["label"]), (0.9 * t, t, 1.3 * t), kw["warmup"], "fake", "fake")

    monkeypatch.setattr(timer, "measure_model", fake_measure_model)
    latency = lacs.measured_latency(batch=2, device="cpu", dtype="bf16", warmup=3, repeats=5, channels_last=True)
    first = latency(TINY, longer=4)
    renamed = NetworkSpec.from_dict({**TINY.to_dict(), "name": "same network"})
    assert latency(TINY) == first == latency(renamed) == 1e-3 and len(latency) == 1 and len(calls) == 1
    shape, kw = calls[0]
    assert shape == (2, 3, 32, 32) and (kw["warmup"], kw["repeats"]) == (12, 20)
    assert (kw["dtype"], kw["device"], kw["channels_last"], kw["label"]) == ("bf16", "cpu", True, "tiny")
    wider = NetworkSpec.from_dict({**TINY.to_dict(), "resolution": 64})
    assert latency(wider) == 2e-3 and len(latency) == 2 and calls[1][0] == (2, 3, 64, 64)
    assert (calls[1][1]["warmup"], calls[1][1]["repeats"]) == (3, 5)
    assert set(latency.measurements) == {TINY.fingerprint(), wider.fingerprint()}
    with pytest.raises(TypeError, match="expected a NetworkSpec"):
        latency("tiny")
    with pytest.raises(ValueError, match="batch: got 0"):
        lacs.measured_latency(batch=0)


def test_measured_latency_really_measures_on_the_cpu():
    latency = lacs.measured_latency(device="cpu", warmup=1, repeats=3)
    seconds = latency(TINY)
    m = latency.measurements[TINY.fingerprint()]
    assert seconds == m.median > 0 and m.repeats == 3 and m.task.input_shape == (1, 3, 32, 32)


# --- measure.backends: the timing grid -------------------------------------------------------------------------------

def tiny_net(channels=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


def test_config_label():
    assert backends.config_label("eager", torch.float16, True) == "eager fp16 NHWC"
    assert backends.config_label("compile", "float32", False) == "compile fp32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CUDA-only backend to be unavailable")
def test_time_grid_times_every_cell_and_records_skips():
    configs = [("eager", "fp32", False), ("cudagraph", "fp16", True), ("eager", "fp32", True)]
    rows = backends.time_grid({"a": tiny_net(4), "b": tiny_net(8)}, [1, 2], configs, device="cpu", warmup=1,
                              repeats=2, resolution=lambda name: 8 if name == "a" else 16)
    assert len(rows) == 2 * 2 * 3
    assert [(r["model"], r["batch"], r["config"]) for r in rows[:3]] == [
        ("a", 1, "eager fp32"), ("a", 1, "cudagraph fp16 NHWC"), ("a", 1, "eager fp32 NHWC")]
    assert {r["resolution"] for r in rows if r["model"] == "a"} == {8} and rows[-1]["resolution"] == 16
    timed = [r for r in rows if not r["skipped"]]
    assert len(timed) == 8 and all(r["median_ms"] > 0 for r in timed)
    assert {r["input_shape"] for r in timed if r["model"] == "b" and r["batch"] == 2} == {"2x3x16x16"}
    skipped = backends.skipped_configs(rows)
    assert list(skipped) == ["cudagraph fp16 NHWC"] and "needs a CUDA device" in skipped["cudagraph fp16 NHWC"]
    # the first preferred configuration that ran, skipping one that did not
    ms, config = backends.pick_timed(rows, "b", 2, ["cudagraph fp16 NHWC", "eager fp32 NHWC", "eager fp32"])
    assert config == "eager fp32 NHWC"
    assert ms == next(r["median_ms"] for r in rows if (r["model"], r["batch"], r["config"]) == ("b", 2, config))
    ms, config = backends.pick_timed(rows, "b", 4, ["eager fp32"])
    assert math.isnan(ms) and config == "none ran"


def test_time_grid_by_name_uses_the_zoo_resolution_and_refuses_empty_grids(monkeypatch):
    from gpuefficient.arch import models

    made = []
    monkeypatch.setattr(models, "create_model", lambda name: made.append(name) or tiny_net())
    rows = backends.time_grid(["genet_light"], [1], [("eager", "fp32", False)], device="cpu", warmup=0, repeats=1,
                              resolution=None)
    assert made == ["genet_light"] and rows[0]["resolution"] == zoo.get("genet_light").spec.resolution
    rows = backends.time_grid(["genet_light"], [1], [("eager", "fp32", False)], device="cpu", warmup=0, repeats=1,
                              resolution=12)
    assert rows[0]["resolution"] == 12 and rows[0]["input_shape"] == "1x3x12x12"
    with pytest.raises(ValueError, match="at least one of each"):
        backends.time_grid([], [1], [("eager", "fp32", False)], device="cpu")
    with pytest.raises(ValueError, match="batches: got 0"):
        backends.time_grid(["genet_light"], [0], [("eager", "fp32", False)], device="cpu")


# --- plotting: the layer grid and its widgets -----------------------------------------------------------------------

def test_plot_layer_grid_draws_one_panel_per_report():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpuefficient.analysis import hardware, roofline
    from gpuefficient.book.plotting import plot_layer_grid

    roof = roofline.Roofline.from_device(hardware.CATALOG["H100 SXM"], "fp16", "H100 FP16")
    reports = [analyze(tiny_net(), (b, 3, 16, 16), "fp16", name=f"net{b}") for b in (1, 8)]
    fig = plot_layer_grid(reports, roof)
    axes = fig.get_axes()
    assert len(axes) == 2
    assert axes[0].get_title().startswith("net1, batch 1") and axes[1].get_title().startswith("net8, batch 8")
    assert fig.legends and "fp16" in fig._suptitle.get_text()   # one legend for the figure, below the panels
    plt.close(fig)
    three = plot_layer_grid(reports + reports[:1], roof)   # two a row: 2 + 1 panels, the fourth slot hidden
    assert [ax.get_visible() for ax in three.get_axes()] == [True, True, True, False]
    plt.close(three)
    with pytest.raises(ValueError, match="reports: got none"):
        plot_layer_grid([], roof)


def test_layer_explorer_redraws_for_the_chosen_controls(monkeypatch):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    from gpuefficient.analysis import hardware
    from gpuefficient.book import plotting

    drawn = []
    monkeypatch.setattr(plotting, "plot_layer_grid", lambda reports, roof: drawn.append((reports, roof)))
    box = plotting.layer_explorer({"tiny": tiny_net()}, {n: hardware.CATALOG[n] for n in ("H100 SXM", "T4")},
                                  batches=(1, 4), batch=1, device="T4")
    assert not drawn                                                   # nothing until a control changes
    slider, dtype, device = box.children[0].children
    slider.value = 4
    reports, roof = drawn[-1]
    assert reports[0].input_shape == (4, 3, 224, 224) and reports[0].dtype == "fp16" and roof.label == "T4 fp16"
    device.value = "H100 SXM"
    assert drawn[-1][1].label == "H100 SXM fp16" and len(drawn) == 2
