"""The reproducibility page is read from executed notebooks and results/, never typed."""
import json

from gpuefficient.book.reproducibility import chapter_record, reference_records, render, write_page


def executed_notebook(path, seconds=12.5, runtime="This build ran the chapter in 13 s (quick mode, CPU: X).",
                      stability="Measurements were stable in this run."):
    glued = lambda name, text: {"output_type": "display_data", "metadata": {"scrapbook": {
        "name": name, "mime_prefix": "application/papermill.record/"}},
        "data": {"application/papermill.record/text/plain": repr(text)}}
    notebook = {"metadata": {"papermill": {"start_time": "2026-11-30T19:55:13.1+00:00", "duration": seconds,
                                           "parameters": {"quick": True, "device": "cpu", "results_dir": "/x"}}},
                "cells": [{"cell_type": "code", "outputs": [glued("demo_runtime", runtime)]},
                          {"cell_type": "code", "outputs": [glued("demo_stability", stability)]}]}
    path.write_text(json.dumps(notebook))


def test_a_chapter_record_comes_from_papermill_and_the_chapters_glued_lines(tmp_path):
    source = tmp_path / "09_demo.md"
    source.write_text("---\njupytext: {}\n---\n")
    assert chapter_record(source) == {"chapter": "09_demo", "executed": False}
    executed_notebook(tmp_path / "09_demo.ipynb", runtime="ran in 'quotes' | pipes")
    record = chapter_record(source)
    assert record["seconds"] == 12.5 and record["runtime"] == "ran in 'quotes' | pipes"
    assert record["stability"] == "Measurements were stable in this run." and record["parameters"]["quick"] is True


def test_the_page_lists_each_chapter_the_software_and_the_reference_runs(tmp_path):
    from gpuefficient.book.claims import Criterion, judge, save_claims

    (tmp_path / "09_demo.md").write_text("x")
    (tmp_path / "10_other.md").write_text("x")
    executed_notebook(tmp_path / "09_demo.ipynb", seconds=61.4)
    results = tmp_path / "results"
    assert reference_records(results, ["demo"]) == []
    page = write_page([tmp_path / "09_demo.md", tmp_path / "10_other.md"], tmp_path / "page.md", results).read_text()
    assert "| {doc}`../notebooks/09_demo` | 2026-11-30T19:55:13 | 61 s | quick=True, device=cpu |" in page
    assert "/x" not in page  # a temporary results folder is not a setting worth showing
    assert "| {doc}`../notebooks/10_other` | not executed in this build |" in page
    assert "| torch |" in page and "None yet" in page
    assert "\n(reproducibility-chapters)=\n## Chapters in this build\n" in page  # the instructor's guide links here
    claim = judge("c", source="s", paper="p", criterion=Criterion("x", ">", 0), values=1, basis="computed")
    save_claims([claim], "demo", results, "cpu", settings={"quick": False, "run_seconds": 1.0})
    rows = reference_records(results, ["demo", "other"])
    assert len(rows) == 1 and rows[0]["mode"] == "full" and rows[0]["rows"] == 1
    assert "| demo | claims-" in render([], rows, {"torch": "2"}) and "None yet" not in render([], rows, {})
