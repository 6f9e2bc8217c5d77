"""The book's reproducibility page (``book/reproducibility.md``), written from what the build left behind.

Every number on it is read, not typed: each chapter's executed notebook holds papermill's record
(start, duration, parameters) and the chapter's own glued lines (its measured run time and its
measurement stability); ``results/`` holds the GPU reference runs with their provenance; the
software versions are this environment's. ``python -m gpuefficient.book.notebooks`` writes the page
after executing, ``--report`` writes it alone (``make html`` does, before rendering).
"""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from gpuefficient.book.results import load_results, write_text_atomic

__all__ = ["chapter_record", "reference_records", "render", "write_page"]

CHAPTERS_LABEL = "reproducibility-chapters"  # the run-time table's anchor: {ref}`reproducibility-chapters` (book/instructor.md)
GLUED = ("runtime", "stability")  # the lines every chapter glues about its own run: <slug>_runtime, ...


def _glued(cells: list[dict]) -> dict[str, str]:
    """The chapter's glued text values by name (myst-nb stores them as papermill records)."""
    found = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
            text = output.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                try:
                    found[name] = str(ast.literal_eval(text))
                except (ValueError, SyntaxError):
                    found[name] = text
    return found


def chapter_record(source: Path) -> dict[str, Any]:
    """What the executed notebook beside ``source`` says about its run; ``executed`` False when there is none."""
    source = Path(source)
    executed = source.with_suffix(".ipynb")
    record: dict[str, Any] = {"chapter": source.stem, "executed": executed.is_file()}
    if not record["executed"]:
        return record
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    run = notebook.get("metadata", {}).get("papermill", {})
    glued = _glued(notebook.get("cells", []))
    record.update(started=run.get("start_time"), seconds=run.get("duration"),
                  parameters=run.get("parameters", {}),
                  **{kind: next((v for k, v in glued.items() if k.endswith(f"_{kind}")), None) for kind in GLUED})
    return record


def reference_records(results_dir: Path, chapters: list[str]) -> list[dict[str, Any]]:
    """One row per saved result set of each chapter under ``results_dir``, with its provenance."""
    rows = []
    for chapter in chapters:
        for data in load_results(results_dir, chapter):  # none where the folder is missing
            meta = data["provenance"]
            versions, settings = meta.get("versions", {}), meta.get("settings", {})
            rows.append({"chapter": data["chapter"], "set": data["name"], "device": meta["device"],
                         "when": meta["timestamp"], "torch": versions.get("torch", "?"),
                         "cuda": versions.get("cuda", "?"),
                         "mode": {True: "quick", False: "full"}.get(settings.get("quick"), "?"),
                         "rows": len(data["records"])})
    return rows


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ") if value not in (None, "") else "-"


def render(chapters: list[dict[str, Any]], references: list[dict[str, Any]], versions: dict[str, str]) -> str:
    """The page as MyST markdown: this build's software, each chapter's run, the GPU reference runs."""
    lines = ["# Reproducibility", "",
             "What the pages of this build were computed with. Everything below is read from the executed "
             "notebooks (papermill's record and each chapter's own glued lines), from `results/` and from the "
             "environment that wrote this page: nothing on it is typed by hand.", "",
             "## Software", "", "| package | version |", "| --- | --- |"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in versions.items()]
    lines += ["", f"({CHAPTERS_LABEL})=", "## Chapters in this build", "",
              "Mode and device as the chapter was asked to run (`auto`: CUDA if present; quick mode on a CPU). "
              "A CPU run shows the method and this machine's numbers, not the papers' GPU setting.", "",
              "| chapter | started (UTC) | executed in | parameters | run time, as the chapter measured it | "
              "measurement stability |", "| --- | --- | --- | --- | --- | --- |"]
    for c in chapters:
        link = f"{{doc}}`../notebooks/{c['chapter']}`"
        if not c["executed"]:
            lines.append(f"| {link} | not executed in this build | - | - | - | - |")
            continue
        params = ", ".join(f"{k}={v}" for k, v in c["parameters"].items() if k != "results_dir") or "defaults"
        seconds = f"{c['seconds']:.0f} s" if isinstance(c["seconds"], (int, float)) else "-"
        lines.append(f"| {link} | {_cell((c['started'] or '')[:19])} | {seconds} | {_cell(params)} | "
                     f"{_cell(c['runtime'])} | {_cell(c['stability'])} |")
    lines += ["", "## Reference results under `results/`", ""]
    if references:
        lines += ["Shown on the chapters' pages next to this build's numbers, each with its provenance.", "",
                  "| chapter | result set | device | when | torch | CUDA | mode | rows |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(_cell(r[k]) for k in ("chapter", "set", "device", "when", "torch", "cuda", "mode",
                                                          "rows")) + " |" for r in references]
    else:
        lines.append("None yet: no chapter has been run in full mode on a GPU and committed (`make results` on a "
                     "CUDA machine writes them).")
    return "\n".join(lines) + "\n"


def write_page(sources: list[Path], page: Path, results_dir: Path) -> Path:
    """Write the page for the chapters ``sources`` (their jupytext files) to ``page``, atomically."""
    from gpuefficient.device import software_versions

    chapters = [chapter_record(s) for s in sources]
    references = reference_records(results_dir, [Path(s).stem.split("_", 1)[-1] for s in sources])
    return write_text_atomic(page, render(chapters, references, software_versions()))
