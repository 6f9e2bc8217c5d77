"""Slow tests: every notebook through papermill in quick mode, then the book build with -W.

The fixtures `executed` (every notebook run once) and `built_book` (the book built once) are in conftest.py:
tests/test_browser.py opens the same build in a browser."""
import json
import re

import pytest

from gpuefficient.book.notebooks import ROOT, find_notebooks

pytestmark = pytest.mark.slow
NOTEBOOKS = find_notebooks()


def test_there_are_notebooks_and_each_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    assert NOTEBOOKS, "no jupytext notebooks found in notebooks/"
    for source in NOTEBOOKS:
        assert f"notebooks/{source.stem}" in toc


@pytest.mark.parametrize("name", [s.stem for s in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(executed, name):
    err, seconds = executed[name]
    print(f"{name}: {seconds:.1f} s")
    assert err is None, f"{name} failed after {seconds:.0f} s: {err}"
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    outputs = [o for cell in notebook["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the chapter drew no figure"


def test_every_chapter_saves_results_that_load_back(executed, results_dir):
    from gpuefficient.book.results import load_results

    assert all(err is None for err, _ in executed.values()), "a notebook failed; see its own test"
    chapters = sorted(p.name for p in results_dir.iterdir() if p.is_dir())
    assert len(chapters) == len(NOTEBOOKS), chapters
    for chapter in chapters:
        sets = load_results(results_dir, chapter)
        assert sets and all(s["records"] for s in sets), chapter
        text = "".join(p.read_text() for p in (results_dir / chapter).glob("*.json"))
        assert "NaN" not in text and '"float16"' not in text and "torch." not in text, chapter


def test_every_chapter_decides_its_claims_by_the_rule_and_saves_its_ledger(executed, results_dir):
    """Each chapter saves a claims set: every row has a declared criterion, evidence and a verdict from the
    rule's vocabulary, and a reason where it is 'depends' or 'not measured here'. The ledger is printed
    (per chapter, rows by verdict) so that a CI log shows it."""
    from gpuefficient.book.claims import VERDICTS, Claim, ledger
    from gpuefficient.book.results import load_results

    assert all(err is None for err, _ in executed.values()), "a notebook failed; see its own test"
    for chapter in sorted(p.name for p in results_dir.iterdir() if p.is_dir()):
        sets = [s for s in load_results(results_dir, chapter) if s["name"].startswith("claims-")]
        assert len(sets) == 1, f"{chapter}: expected one claims set, got {[s['name'] for s in sets]}"
        rows = [Claim(**r) for r in sets[0]["records"]]   # Claim() re-checks verdict, basis and reason
        assert rows and all(r.criterion and r.evidence for r in rows), chapter
        counts = ledger(rows)
        print(f"ledger {chapter}: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS))


def test_book_builds_with_warnings_as_errors(executed, built_book):
    assert all(err is None for err, _ in executed.values()), "a notebook failed; see its own test"
    report = built_book.report.read_text()  # the back matter's reproducibility page, from this run
    for source in NOTEBOOKS:
        assert f"{source.stem}` |" in report and "not executed" not in report, report[:2000]
    assert built_book.returncode == 0, built_book.output
    html = built_book.html
    for source in NOTEBOOKS:
        page = (html / "notebooks" / f"{source.stem}.html").read_text()
        assert "<img" in page and "Claims check" in page
        stability = r"(Measurements were stable|Unstable measurements) in this run|speed changed during this run"
        assert re.search(stability, page), \
            f"{source.stem}: the stability line at the top is missing"
        assert re.search(r"This build ran the chapter in [0-9.]+ (s|min) \(quick mode, CPU: ", page), \
            f"{source.stem}: the measured run time at the top is missing"
        assert "You will learn to" in page and "Before you start:" in page, f"{source.stem}: no lesson opening"
        # maths and widgets load from the book's own _static (book/vendor), so a page renders offline
        scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
        assert "../_static/mathjax/tex-mml-chtml.js" in {s.split("?")[0] for s in scripts}
        assert not [s for s in scripts if "://" in s], f"{source.stem} loads scripts from the network"
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").exists()
    assert (html / "index.html").exists()
    reproducibility = (html / "book" / "reproducibility.html").read_text()
    assert "Chapters in this build" in reproducibility and "This build ran the chapter in" in reproducibility
    # exercises render through sphinx-exercise, each computed solution hidden in a dropdown until clicked
    pages = {s.stem: (html / "notebooks" / f"{s.stem}.html").read_text() for s in NOTEBOOKS}
    with_exercises = [name for name, page in pages.items() if 'class="exercise admonition' in page]
    assert with_exercises, "no chapter rendered an exercise"
    for name in with_exercises:
        assert 'class="solution dropdown admonition' in pages[name], f"{name}: a solution is not hidden"

