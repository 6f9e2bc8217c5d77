"""Small modules: plotting, model names, the notebook executor's discovery and errors."""
import matplotlib

matplotlib.use("Agg")

import pytest
from torch import nn

from gpuefficient.book import plotting
from gpuefficient.analysis.costs import analyze
from gpuefficient.arch.models import create_model
from gpuefficient.book.notebooks import ROOT, execute, find_notebooks, main
from gpuefficient.analysis.roofline import Roofline


def test_plot_rooflines_and_layers():
    roofs = [Roofline(100e12, 1e12, "a"), Roofline(10e12, 0.5e12, "b")]
    ax = plotting.plot_rooflines(roofs)
    assert len(ax.lines) == 4 and ax.get_xscale() == "log" and "ridge 100 FLOP/B" in ax.lines[0].get_label()
    report = analyze(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()), (1, 3, 16, 16))
    plotting.plot_layers(report, roofs[0], ax=ax)
    labels = {c.get_label() for c in ax.collections}
    assert labels == {"conv", "norm", "activation"}
    ax = plotting.plot_points([1, 10], [2, 3], ["x", "y"], xlabel="GFLOPs")
    assert [t.get_text() for t in ax.texts] == ["x", "y"] and ax.get_xlabel() == "GFLOPs"


def test_plot_frontier_draws_the_frontier_and_names_its_members():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    front = plotting.plot_frontier([1, 2, 3, 1.5], [3, 2, 1, 1], ax=ax, labels=["a", "b", "c", "d"], highlight=("d",))
    assert list(front) == [0, 1, 2]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]  # joined in x order
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c", "d"]  # d: highlighted, not on the frontier
    plt.close(ax.figure)


def test_create_model_random_weights_eval_and_bad_name():
    model = create_model("resnet18", num_classes=7)
    assert not model.training and model.fc.out_features == 7
    with pytest.raises(ValueError, match=r"model: got 'resnet-18'.*did you mean"):
        create_model("resnet-18")


def test_find_notebooks_in_reading_order_and_executor_errors(tmp_path):
    names = [p.name for p in find_notebooks()]
    assert names == sorted(names) and names[0] == "01_roofline.md"
    with pytest.raises(ValueError, match="source: got .*expected an existing notebook file"):
        execute(tmp_path / "missing.md")
    with pytest.raises(SystemExit):
        main(["no_such_chapter"])
    assert (ROOT / "_toc.yml").exists()


def test_script_mode_runs_cells_with_parameters_and_skips_interactive(tmp_path, capsys):
    from gpuefficient.book.notebooks import code_cells, run_as_script

    source = tmp_path / "nb.md"
    source.write_text(
        "---\njupytext: {}\n---\n# T\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nx = 1\n```\n\ntext\n\n"
        "```{code-cell} ipython3\nprint('x is', x)\nopen('out.txt', 'w').write(str(x))\n```\n\n"
        "```{code-cell} ipython3\n:tags: [interactive]\n\nraise RuntimeError('needs a live kernel')\n```\n")
    assert [tags for tags, _ in code_cells(source)] == [{"parameters"}, set(), {"interactive"}]
    run_as_script(source, {"x": 5})
    assert "x is 5" in capsys.readouterr().out and (tmp_path / "out.txt").read_text() == "5"


def test_a_failed_or_missing_chapter_is_not_rendered(tmp_path):
    import json

    from gpuefficient.book.notebooks import failed_outputs

    ok, bad, missing = (tmp_path / f"{n}.md" for n in ("ok", "bad", "missing"))
    error = {"output_type": "error", "ename": "KeyError", "evalue": "'spec'", "traceback": []}
    for source, outputs in ((ok, [{"output_type": "stream", "text": "fine"}]), (bad, [error])):
        source.with_suffix(".ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": outputs}]}))
    assert failed_outputs([ok]) == []
    assert failed_outputs([ok, bad, missing]) == ["bad.ipynb: KeyError: 'spec'",
                                                  "missing.ipynb: not executed (run `make notebooks`)"]
