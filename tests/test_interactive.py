"""Slider figures for the static book (book.interactive) and the extension that serves plotly.js (book.sphinx_plotly)."""
from types import SimpleNamespace

import pytest

import plotly.graph_objects as go  # noqa: E402 - the book extra, installed by `make env`

from gpuefficient.book import sphinx_plotly  # noqa: E402
from gpuefficient.book.interactive import PLOTLY_MIME, show, slider_figure  # noqa: E402


def _states():
    return {"1": [go.Scatter(x=[1, 2], y=[1, 2], name="a1"), go.Scatter(x=[1], y=[3], name="b1")],
            "8": [go.Scatter(x=[1, 2], y=[5, 6], name="a8"), go.Scatter(x=[1], y=[7], name="b8")],
            "64": [go.Scatter(x=[1, 2], y=[9, 9], name="a64"), go.Scatter(x=[2], y=[9], name="b64")]}


def test_each_step_shows_its_own_traces_and_the_fixed_ones():
    fig = slider_figure(_states(), [go.Scatter(x=[0, 1], y=[0, 1], name="roof")], active=1, prefix="batch ",
                        titles={"1": "batch 1", "8": "batch 8", "64": "batch 64"})
    names = [t.name for t in fig.data]
    assert names == ["roof", "a1", "b1", "a8", "b8", "a64", "b64"]
    assert [bool(t.visible) if t.visible is not None else True for t in fig.data] == \
        [True, False, False, True, True, False, False]   # the active state (index 1) is drawn first
    slider = fig.layout.sliders[0]
    assert slider.active == 1 and slider.currentvalue.prefix == "batch "
    assert [s.label for s in slider.steps] == ["1", "8", "64"]
    for i, step in enumerate(slider.steps):
        visible, layout = step.args
        shown = [n for n, v in zip(names, visible["visible"]) if v]
        assert shown == ["roof", names[1 + 2 * i], names[2 + 2 * i]]
        assert layout == {"title.text": f"batch {step.label}"}
    assert fig.layout.title.text == "batch 8"


def test_adds_to_a_given_figure_and_titles_are_optional():
    base = go.Figure(go.Scatter(x=[0], y=[0], name="already there"))
    fig = slider_figure({"only": [go.Bar(x=["a"], y=[1])]}, figure=base)
    assert fig is base and len(fig.data) == 2
    assert fig.layout.sliders[0].steps[0].args == ({"visible": [True, True]}, {})


@pytest.mark.parametrize("kwargs, message", [
    ({"states": {}}, "at least one slider state"),
    ({"states": {"x": []}}, "'x' has no traces"),
    ({"states": {"x": [go.Scatter()]}, "active": 1}, "active: got 1"),
    ({"states": {"x": [go.Scatter()]}, "titles": {"y": "?"}}, "are not states"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        slider_figure(**kwargs)


def test_display_bundle_has_the_div_without_plotly_js_and_the_figure_json():
    bundle = show(slider_figure(_states(), prefix="batch "))._repr_mimebundle_()
    html = bundle["text/html"]
    assert 'class="plotly-graph-div"' in html and "Plotly.newPlot" in html
    assert len(html) < 20_000, "plotly.js itself must not be inlined (the book serves it once from _static)"
    assert [t["name"] for t in bundle[PLOTLY_MIME]["data"]] == ["a1", "b1", "a8", "b8", "a64", "b64"]
    assert "3 steps" in bundle["text/plain"]
    with pytest.raises(TypeError, match="expected a plotly Figure"):
        show({"data": []})


def test_extension_adds_plotly_js_only_to_pages_with_a_figure_and_copies_it(tmp_path):
    added = []
    app = SimpleNamespace(add_js_file=lambda name, **kw: added.append((name, kw)),
                          builder=SimpleNamespace(format="html", outdir=str(tmp_path)))
    sphinx_plotly._add_to_page(app, "notebooks/02_latency", "page.html", {"body": "<p>no figure</p>"}, None)
    assert added == []
    sphinx_plotly._add_to_page(app, "notebooks/01_roofline", "page.html",
                               {"body": '<div class="plotly-graph-div" id="x"></div>'}, None)
    assert added == [("plotly.min.js", {"priority": 200})]
    sphinx_plotly._copy(app, None)
    copied = tmp_path / "_static" / "plotly.min.js"
    assert copied.read_bytes() == sphinx_plotly.source().read_bytes()
    copied.unlink()
    sphinx_plotly._copy(app, RuntimeError("build failed"))   # nothing copied after a failed build
    assert not copied.exists()


def test_layers_by_batch_has_one_panel_per_network_and_a_step_per_batch():
    import torch

    from gpuefficient.analysis import costs, hardware, roofline

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3))
    roof = roofline.Roofline.from_device(hardware.CATALOG["H100 SXM"], "fp16", "H100 fp16")
    reports = {(name, b): costs.analyze(net, (b, 3, 32, 32), "fp16", name=name) for name in ("a", "b") for b in (1, 64)}
    from gpuefficient.book.interactive import layers_by_batch

    fig = layers_by_batch(reports, roof)
    steps = fig.layout.sliders[0].steps
    legend = [t.name for t in fig.data if t.mode == "markers" and len(t.x) == 1 and t.x[0] is None]
    assert legend == ["activation", "conv"]            # one legend entry per kind of op with FLOPs
    fixed = 2 + len(legend)                            # a roofline per panel, the legend entries
    assert [s.label for s in steps] == ["1", "64"] and len(fig.data) == fixed + 2 * 2
    batch1, batch64 = fig.data[fixed], fig.data[fixed + 2]   # network "a" at batch 1 and at batch 64
    assert batch1.xaxis == "x" and fig.data[fixed + 1].xaxis == "x2"
    # the convolutions' intensity grows with the batch (weights shared by more images); ReLU's does not
    assert max(batch64.x) > max(batch1.x)
    placed = roofline.place_layers(reports[("a", 64)], roof) + roofline.place_layers(reports[("b", 64)], roof)
    share = sum(r["bound"] == "memory" for r in placed) / len(placed)
    assert steps[1].args[1]["title.text"].startswith(f"Batch 64: {share:.0%} of the ops are memory-bound")
    with pytest.raises(ValueError, match=r"no report for \('b', 64\)"):
        layers_by_batch({k: v for k, v in reports.items() if k != ("b", 64)}, roof)


def test_each_script_is_kept_once_in_order():
    from sphinx.builders.html._assets import _JavaScript

    from gpuefficient.book.sphinx_scripts import _dedupe

    thebe = _JavaScript(None, body='const THEBE_JS_URL = "x"')
    context = {"script_files": [_JavaScript("a.js"), thebe, _JavaScript("b.js", defer="defer"),
                                _JavaScript("", body='const THEBE_JS_URL = "x"', priority=600), _JavaScript("a.js"),
                                _JavaScript("b.js")]}
    _dedupe(None, "page", "page.html", context, None)
    assert [(s.filename, s.attributes) for s in context["script_files"]] == [
        ("a.js", {}), (None, {"body": 'const THEBE_JS_URL = "x"'}), ("b.js", {"defer": "defer"}), ("b.js", {})]
