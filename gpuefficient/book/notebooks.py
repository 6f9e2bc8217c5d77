"""Execute the book's notebooks headlessly through papermill: ``python -m gpuefficient.book.notebooks``.

Sources are jupytext MyST-markdown files in ``notebooks/``; each is executed into an ``.ipynb``
beside it (a build artefact, ignored by git) that Jupyter Book then renders without executing
again. Parameters go in through papermill's ``parameters`` cell: ``device`` and ``quick`` default
to the notebook's own ``"auto"``/``None`` (CUDA in full mode when present, else CPU in quick mode).
A failing notebook does not stop the others; the command exits non-zero if any failed.

Every ``.ipynb`` written starts with an install cell (:func:`install_cell`, tagged ``remove-cell``: the
HTML page hides it, the downloadable notebook keeps it), so that a chapter opened outside this
repository's environment (Colab, a hub, a download) installs the package from the book's repository,
the ``repository: url:`` of ``_config.yml`` (:func:`repository`), or says how to install it.

``--script`` runs the code cells in this Python process instead, without Jupyter, papermill or
jupytext (cells tagged ``interactive`` are skipped, outputs are printed, figures are not shown):
for bare GPU machines that have torch and timm but not the book's tools.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["find_notebooks", "repository", "install_cell", "execute", "code_cells", "run_as_script", "failed_outputs",
           "write_report", "main"]

ROOT = Path(__file__).resolve().parents[2]
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
REPORT = ROOT / "book" / "reproducibility.md"   # written from the executed notebooks, never by hand
CONFIG = ROOT / "_config.yml"


def find_notebooks(folder: Path = ROOT / "notebooks") -> list[Path]:
    """The chapter sources, in reading order (their file names start with the chapter number)."""
    return sorted(p for p in Path(folder).glob("*.md") if p.read_text(encoding="utf-8").startswith("---\njupytext"))


def repository(config: Path = CONFIG) -> tuple[str | None, str | None]:
    """The book's repository (url, branch) from ``_config.yml``'s ``repository:`` block; None where unset.

    One URL there turns on the launch buttons (:mod:`gpuefficient.book.launch_guard`) and lets the
    notebooks' install cell install the package from it.
    """
    import yaml

    block = (yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}).get("repository") or {}
    url, branch = (str(block.get(k) or "").strip() or None for k in ("url", "branch"))
    return (url, branch) if url else (None, None)


def install_cell(url: str | None, branch: str | None = None):
    """The first cell of every executed notebook: nothing where ``gpuefficient`` imports; else pip-install it
    into this kernel from ``url`` (git, at ``branch`` if given), or, with no URL, a one-line error."""
    import nbformat

    source = f"git+{url}" + (f"@{branch}" if branch else "") if url else None
    code = f"""\
# Opened outside the book's environment (Colab, a JupyterHub, a download)? Install gpuefficient first.
import importlib, importlib.util, subprocess, sys

if importlib.util.find_spec("gpuefficient") is None:
    source = {source!r}  # the book's repository: `repository: url:` in its _config.yml
    if source is None:
        raise ModuleNotFoundError("gpuefficient is not installed: in a checkout of the book's repository run "
                                  "pip install -e '.[book]' (see its README), then restart the kernel")
    subprocess.run([sys.executable, "-m", "pip", "install", f"gpuefficient[book] @ {{source}}"], check=True)
    importlib.invalidate_caches()"""
    return nbformat.v4.new_code_cell(code, metadata={"tags": ["remove-cell"]})


def execute(source: Path, output: Path | None = None, parameters: dict | None = None,
            timeout: int = 1800, config: Path = CONFIG) -> float:
    """Run one jupytext notebook through papermill; returns the wall time in seconds.

    ``timeout`` bounds each cell (papermill's default is none; Jupyter Book's is 30 s). The notebook
    written starts with :func:`install_cell` for the repository that ``config`` names; papermill
    injects the parameters after the cell tagged ``parameters``, which stays where it was.
    """
    import jupytext
    import papermill

    source = Path(source)
    if not source.is_file():
        raise ValueError(f"source: got {str(source)!r}, expected an existing notebook file")
    output = Path(output) if output else source.with_suffix(".ipynb")
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = KERNEL
    notebook.cells.insert(0, install_cell(*repository(config)))
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            notebook, str(partial), parameters=parameters or {}, kernel_name=KERNEL["name"],
            language="python", cwd=str(source.parent), progress_bar=False, execution_timeout=timeout,
        )
    finally:
        if partial.exists():  # keep the executed notebook even on failure: it shows the error
            _drop_hidden_widget_state(partial)
            os.replace(partial, output)
    return time.perf_counter() - start


_HIDDEN = {"remove-cell", "remove-output"}
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _drop_hidden_widget_state(path: Path) -> bool:
    """Remove the saved ipywidgets state from an executed notebook whose widgets are all in cells the book
    hides (tagged remove-cell or remove-output); returns whether it did.

    A kernel-driven widget on a static page has dead controls, so such a cell is hidden and a Plotly figure
    stands in for it (``book.interactive``). The state saved with the notebook would still make the page
    load the widget manager, whose icon fonts and MathJax 2 calls fail offline. Widgets a page shows keep it.
    """
    import json

    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    if "widgets" not in notebook.get("metadata", {}):
        return False
    for cell in notebook.get("cells", []):
        shown = not _HIDDEN & set(cell.get("metadata", {}).get("tags", []))
        if shown and any(_WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])):
            return False
    del notebook["metadata"]["widgets"]
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?P<body>.*?)^```\s*$", re.S | re.M)
_TAGS = re.compile(r"\A:tags:\s*\[(?P<tags>[^\]]*)\]\s*\n")


def code_cells(source: Path) -> list[tuple[set[str], str]]:
    """The (tags, code) of each code cell of a MyST-markdown notebook, in order."""
    cells = []
    for match in _CELL.finditer(Path(source).read_text(encoding="utf-8")):
        body, tags = match["body"], set()
        found = _TAGS.match(body)
        if found:
            tags = {t.strip().strip("'\"") for t in found["tags"].split(",") if t.strip()}
            body = body[found.end():]
        cells.append((tags, body))
    return cells


def run_as_script(source: Path, parameters: dict | None = None) -> float:
    """Run a notebook's code cells in-process (no Jupyter); ``parameters`` override the parameters cell."""
    import matplotlib

    matplotlib.use("Agg")
    source = Path(source).resolve()
    if not source.is_file():
        raise ValueError(f"source: got {str(source)!r}, expected an existing notebook file")
    namespace = {"__name__": "__main__", "display": print}
    start = time.perf_counter()
    with contextlib.chdir(source.parent):
        for tags, code in code_cells(source):
            if "interactive" in tags:
                continue
            exec(compile(code, f"{source.name}", "exec"), namespace)  # noqa: S102 - the book's own cells
            if "parameters" in tags:
                namespace.update(parameters or {})
    import matplotlib.pyplot as plt

    plt.close("all")
    return time.perf_counter() - start


def failed_outputs(sources: list[Path]) -> list[str]:
    """One line per chapter whose executed ``.ipynb`` is missing or holds an error output: a rendered book
    must not show a failed chapter as if it had run (Jupyter Book renders error cells and passes -W)."""
    import json

    problems = []
    for source in sources:
        executed = Path(source).with_suffix(".ipynb")
        if not executed.is_file():
            problems.append(f"{executed.name}: not executed (run `make notebooks`)")
            continue
        cells = json.loads(executed.read_text(encoding="utf-8")).get("cells", [])
        errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            problems.append(f"{executed.name}: {errors[0].get('ename')}: {str(errors[0].get('evalue'))[:200]}")
    return problems


def write_report(page: Path = REPORT) -> Path:
    """The reproducibility page for every chapter, from their executed notebooks and ``results/``."""
    from gpuefficient.book.reproducibility import write_page

    return write_page(find_notebooks(), page, ROOT / "results")


def _parameters(args) -> dict:
    params = {}
    if args.quick is not None:
        params["quick"] = bool(args.quick)
    if args.device:
        params["device"] = args.device
    if args.results_dir:
        params["results_dir"] = str(Path(args.results_dir).resolve())
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpuefficient.book.notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook file names or stems (default: all)")
    parser.add_argument("--quick", type=int, choices=(0, 1), default=None, help="1: quick mode, 0: full mode (default: auto)")
    parser.add_argument("--device", default="", help="auto, cpu or cuda (default: the notebook's 'auto')")
    parser.add_argument("--results-dir", default="", help="where full runs write their measurements")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    parser.add_argument("--script", action="store_true", help="run cells in-process, without Jupyter (bare GPU box)")
    parser.add_argument("--check", action="store_true", help="run nothing: fail if an executed notebook is missing "
                        "or holds an error (before rendering)")
    parser.add_argument("--report", action="store_true", help="run nothing: write the reproducibility page "
                        "(book/reproducibility.md) from the executed notebooks and results/")
    args = parser.parse_args(argv)

    sources = find_notebooks()
    if args.names:
        wanted = {Path(n).stem for n in args.names}
        unknown = wanted - {s.stem for s in sources}
        if unknown:
            parser.error(f"unknown notebook(s) {sorted(unknown)}; expected some of {[s.stem for s in sources]}")
        sources = [s for s in sources if s.stem in wanted]
    if args.report:
        print(f"wrote {write_report().relative_to(ROOT)}")
        return 0
    if args.check:
        problems = failed_outputs(sources)
        for line in problems:
            print(f"not rendered: {line}", file=sys.stderr)
        return 1 if problems else 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no chapter may wait on a model hub
    params = _parameters(args)
    failed = []
    for source in sources:
        try:
            seconds = (run_as_script(source, params) if args.script
                       else execute(source, parameters=params, timeout=args.timeout))
            print(f"{source.name}: executed in {seconds:.1f} s {params or ''}", flush=True)
        except Exception as err:  # noqa: BLE001 - report every failing notebook, then fail
            failed.append(source.name)
            print(f"{source.name}: FAILED: {type(err).__name__}: {str(err)[:2000]}", file=sys.stderr, flush=True)
    if not args.script:
        write_report()
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
