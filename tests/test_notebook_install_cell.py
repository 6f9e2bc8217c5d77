"""The install cell every executed notebook starts with, the repository it installs from, and the launch guard."""
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from gpuefficient.book import launch_guard
from gpuefficient.book.notebooks import execute, install_cell, repository

URL = "https://github.com/example-owner/example-book"


def config(tmp_path, text):
    path = tmp_path / "_config.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ["title: t\n", "repository:\n  url: ''\n  branch: main\n",
                                  "repository:\n  path_to_book: ''\n", "repository:\n"])
def test_no_repository_url_means_none(tmp_path, text):
    assert repository(config(tmp_path, text)) == (None, None)


def test_repository_url_and_branch_are_read(tmp_path):
    assert repository(config(tmp_path, f"repository:\n  url: {URL}\n  branch: main\n")) == (URL, "main")
    assert repository(config(tmp_path, f"repository:\n  url: ' {URL} '\n")) == (URL, None)


def test_cell_is_hidden_and_installs_from_the_configured_repository(tmp_path):
    cell = install_cell(*repository(config(tmp_path, f"repository:\n  url: {URL}\n  branch: main\n")))
    assert cell.cell_type == "code" and cell.metadata["tags"] == ["remove-cell"]
    assert f"'git+{URL}@main'" in cell.source and "sys.executable" in cell.source
    assert "shell=True" not in cell.source and "parameters" not in cell.metadata["tags"]


def run(code, *flags):
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, timeout=60)


def test_cell_does_nothing_where_gpuefficient_imports():
    # an unusable source: the cell must not even try it, since the package imports here
    done = run(install_cell("file:///nonexistent/repository").source + "\nprint('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_cell_without_repository_says_how_to_install():
    # -I -S: no site-packages, so gpuefficient cannot be imported, as in a fresh kernel elsewhere
    done = run(install_cell(None).source, "-I", "-S")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: gpuefficient is not installed") and "pip install -e '.[book]'" in last


def test_executed_notebook_starts_with_the_cell_and_keeps_papermill_parameters(tmp_path):
    source = tmp_path / "tiny.md"
    source.write_text("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
                      "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n# Tiny\n\n"
                      "```{code-cell} ipython3\n:tags: [parameters]\n\nx = 1\n```\n\n"
                      "```{code-cell} ipython3\nprint(x * 10)\n```\n", encoding="utf-8")
    execute(source, parameters={"x": 4}, timeout=120, config=config(tmp_path, f"repository:\n  url: {URL}\n"))
    cells = json.loads(source.with_suffix(".ipynb").read_text())["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells if c["cell_type"] == "code"]
    assert tags[:3] == [["remove-cell"], ["parameters"], ["injected-parameters"]], tags
    assert URL in "".join(cells[0]["source"]) and not cells[0]["outputs"]   # importable here: it did nothing
    assert cells[-1]["outputs"][0]["text"] == ["40\n"]


@pytest.mark.parametrize("url, kept", [("", False), (None, False), (launch_guard._default_repository(), False),
                                       (URL, True)])
def test_launch_buttons_only_with_a_repository_of_our_own(url, kept):
    options = {"launch_buttons": {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org"}}
    if url is not None:
        options["repository_url"] = url
    launch_guard._without_repository(None, SimpleNamespace(html_theme_options=options))
    assert ("binderhub_url" in options["launch_buttons"]) is kept
    assert options["launch_buttons"]["notebook_interface"] == "jupyterlab"


def test_widget_state_is_dropped_only_when_every_widget_is_hidden(tmp_path):
    import json

    from gpuefficient.book.notebooks import _drop_hidden_widget_state

    view = {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "m"}}}

    def notebook(*tag_sets):
        cells = [{"cell_type": "code", "metadata": {"tags": list(tags)}, "outputs": [view], "source": ""}
                 for tags in tag_sets]
        path = tmp_path / "nb.ipynb"
        path.write_text(json.dumps({"cells": cells, "metadata": {"widgets": {"state": 1}}, "nbformat": 4,
                                    "nbformat_minor": 5}))
        return path

    hidden = notebook(["interactive", "remove-cell"], ["remove-output"])
    assert _drop_hidden_widget_state(hidden) is True
    assert "widgets" not in json.loads(hidden.read_text())["metadata"]
    shown = notebook(["remove-cell"], ["interactive"])   # one widget is still on the page: keep its state
    assert _drop_hidden_widget_state(shown) is False
    assert json.loads(shown.read_text())["metadata"]["widgets"] == {"state": 1}
