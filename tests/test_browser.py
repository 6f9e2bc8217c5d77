"""Slow: the built book opened in a real browser (headless Chromium driven by Playwright), from file://.

Every page is loaded with network access cut off (any request that is not a local file is recorded and
aborted) and checked: no console error or uncaught exception, no request off the local files, maths
typeset by MathJax, every figure loaded; then the interactive figures' sliders, the search page and the
exercises' hidden solutions are exercised with real clicks. One full-page screenshot per chapter goes to
_build/screenshots/ (uploaded by CI).

The browser is the system's Chromium (Debian's `chromium`, installed by scripts/install_browser.sh, which
`make test` runs); Playwright's own browser download is not used. The site is the `built_book` fixture's
_build/html; set GPUEFFICIENT_SITE=/path/to/_build/html to test an existing build without executing the
notebooks (the screenshots then go next to it, in ../screenshots), GPUEFFICIENT_CHROMIUM to pick the binary.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

INSTALL_HINT = ("install it with `scripts/install_browser.sh` (apt-get install chromium) or set "
                "GPUEFFICIENT_CHROMIUM to a Chromium binary")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
SEARCH_WORD, SEARCH_PAGE = "roofline", "notebooks/01_roofline.html"   # chapter 1's title word
LOAD_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------------------------- fixtures
def find_chromium() -> str | None:
    """The system Chromium (or Chrome): GPUEFFICIENT_CHROMIUM, else the first of these names on PATH."""
    if os.environ.get("GPUEFFICIENT_CHROMIUM"):
        return shutil.which(os.environ["GPUEFFICIENT_CHROMIUM"])
    # not `chromium-browser`: on Ubuntu it is a stub that asks for the snap
    for name in ("chromium", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def site(request) -> Path:
    """The built HTML: GPUEFFICIENT_SITE if set, else the session's book build (notebooks executed first)."""
    if os.environ.get("GPUEFFICIENT_SITE"):
        path = Path(os.environ["GPUEFFICIENT_SITE"]).resolve()
        assert (path / "index.html").exists(), f"GPUEFFICIENT_SITE={path} holds no index.html"
        return path
    build = request.getfixturevalue("built_book")
    assert build.returncode == 0, "the book did not build; see test_book_builds_with_warnings_as_errors"
    return build.html


@pytest.fixture(scope="module")
def screenshots(site) -> Path:
    folder = site.parent / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.fail(f"Chromium not found for the browser test: {INSTALL_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -c constraints.txt -e '.[dev]'", pytrace=False)
    with sync_playwright() as pw:
        # launch() starts from a fresh temporary profile (user-data-dir) every time
        chromium = pw.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield chromium
        chromium.close()


@dataclass
class Log:
    """What the browser reported while a page was open."""
    errors: list[str] = field(default_factory=list)      # console errors and uncaught exceptions
    external: list[str] = field(default_factory=list)    # requests that would leave the local files
    missing: list[str] = field(default_factory=list)     # local files that failed to load


@pytest.fixture(scope="module")
def context(browser):
    """One browser context; every request that is not a local file (or the test's own 127.0.0.1 server)
    is recorded on the current page's log and aborted, so nothing reaches the network."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(LOAD_TIMEOUT_MS)
    ctx.current_log = None

    def block(route):
        if ctx.current_log is not None:
            ctx.current_log.external.append(route.request.url)
        route.abort()

    ctx.route(lambda url: not url.startswith(LOCAL_SCHEMES) and not url.startswith("http://127.0.0.1:"), block)
    yield ctx
    ctx.close()


SETTLE = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
}"""


def open_page(context, url: str):
    """A new tab with its Log attached, navigated to url and settled: MathJax done, images decoded,
    widgets rendered."""
    log = Log()
    context.current_log = log
    page = context.new_page()
    page.on("console", lambda msg: msg.type == "error" and log.errors.append(f"console: {msg.text}"))
    page.on("pageerror", lambda err: log.errors.append(f"uncaught: {err}"))
    page.on("requestfailed", lambda req: req.url.startswith("file:") and log.missing.append(
        f"{req.url} ({req.failure})"))
    page.goto(url, wait_until="load")
    for attempt in range(3):   # index.html redirects to the first page: settle on where it lands
        try:
            page.evaluate(SETTLE)
            break
        except Exception as err:  # noqa: BLE001
            if "context was destroyed" not in str(err) or attempt == 2:
                raise
            page.wait_for_load_state("load")
    if page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count():
        try:
            page.wait_for_selector(".jupyter-widgets", state="attached", timeout=10_000)
        except Exception:  # noqa: BLE001 - test_ipywidgets_render reports it
            pass
    page.wait_for_timeout(200)   # late async errors (fonts, deferred scripts)
    return page, log


def pages_of(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if not {"_static", "_sources", "_images"} & set(p.parts))


def rel(site: Path, page: Path) -> str:
    return page.relative_to(site).as_posix()


def has_maths(html: str) -> bool:
    """Sphinx writes $...$, $$...$$ and amsmath blocks as class="math ..." elements with \\( \\) or \\[ \\]."""
    return 'class="math' in html


@dataclass
class Visit:
    log: Log
    maths: dict | None          # for pages with maths: counts of .math elements, typeset ones, TeX errors
    images: list[str]           # <img> in the page's content that did not load
    widgets: tuple[int, int]    # (widget views in the HTML, rendered .jupyter-widgets)
    sliders: tuple[int, list[str]] | None     # plotly figures with a slider checked, problems
    solutions: tuple[int, list[str]] | None   # exercise solutions checked, problems
    seconds: float


@pytest.fixture(scope="module")
def visits(site, context, screenshots) -> dict[str, Visit]:
    """Every built page opened once; a full-page screenshot of each chapter."""
    out = {}
    for path in pages_of(site):
        start = time.perf_counter()
        html = path.read_text()
        page, log = open_page(context, path.as_uri())
        maths = None
        if has_maths(html):
            maths = page.evaluate("""() => {
                const math = [...document.querySelectorAll('.math')];
                return {math: math.length, typeset: math.filter(e => e.querySelector('mjx-container')).length,
                        containers: document.querySelectorAll('mjx-container').length,
                        errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent)};
            }""")
        images = page.evaluate("""() => [...document.querySelectorAll('main img, article img, .bd-content img')]
            .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 120))""")
        widgets = (html.count("application/vnd.jupyter.widget-view+json"),
                   page.locator(".jupyter-widgets").count())
        if path.parent.name == "notebooks":
            page.screenshot(path=str(screenshots / f"{path.stem}.png"), full_page=True)
        # interactions last, after the screenshot; errors they raise land in the page's log too
        sliders = check_sliders(page) if "plotly-graph-div" in html else None
        solutions = check_solutions(page) if 'class="solution' in html else None
        page.close()
        out[rel(site, path)] = Visit(log, maths, sorted(set(images)), widgets, sliders, solutions,
                                     time.perf_counter() - start)
    context.current_log = None
    return out


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n    " + "\n    ".join(items) for page, items in problems.items() if items)


# ------------------------------------------------------------------------------------------------ tests
def test_every_page_opens_without_console_errors(visits):
    print("\n" + "\n".join(f"{page}: {v.seconds:.1f} s" for page, v in visits.items()))
    problems = {page: v.log.errors + [f"missing file: {m}" for m in v.log.missing] for page, v in visits.items()}
    assert not any(problems.values()), "console errors:\n" + report(problems)


def test_no_page_loads_anything_from_the_network(visits):
    problems = {page: v.log.external for page, v in visits.items()}
    assert not any(problems.values()), "requests off the local files (blocked here):\n" + report(problems)


def test_maths_is_typeset_by_mathjax(visits):
    with_maths = {page: v.maths for page, v in visits.items() if v.maths is not None}
    assert with_maths, "no page has maths: expected some in the chapters"
    problems = {}
    for page, m in with_maths.items():
        items = []
        if not m["containers"]:
            items.append("no mjx-container: MathJax did not run")
        if m["typeset"] < m["math"]:
            items.append(f"{m['math'] - m['typeset']} of {m['math']} maths elements left as raw TeX")
        items += [f"TeX error: {e}" for e in m["errors"]]
        problems[page] = items
    assert not any(problems.values()), report(problems)


def test_every_figure_loads(visits):
    problems = {page: [f"image did not load: {src}" for src in v.images] for page, v in visits.items()}
    assert not any(problems.values()), report(problems)


def test_ipywidgets_render(visits):
    """Chapter 1's widgets need a kernel to respond, but their saved state must render (and, see the
    console test, without errors)."""
    problems = {page: [f"{views} widget views in the HTML, none rendered"]
                for page, v in visits.items() for views, rendered in [v.widgets] if views and not rendered}
    assert not problems, report(problems)


def test_a_screenshot_per_chapter(visits, screenshots):
    chapters = [page for page in visits if page.startswith("notebooks/")]
    assert chapters
    for page in chapters:
        shot = screenshots / (Path(page).stem + ".png")
        assert shot.exists() and shot.stat().st_size > 10_000, shot


# --- interactive figures: plotly.js, each slider step restyles the traces
DRAWN = """(i) => {
    const gd = document.querySelectorAll('.plotly-graph-div')[i];
    return [...gd.querySelectorAll('.trace path, .trace image, .imagelayer image, .heatmaplayer image')]
        .map(e => (e.getAttribute('d') || e.getAttribute('href') || '') + '|' + (e.style.opacity || '')
             + '|' + (e.style.fill || ''))   // a marker's colour is data too (e.g. a reward)
        .join(';');
}"""


def check_sliders(page) -> tuple[int, list[str]]:
    """Every plotly figure with a slider (layout.sliders) on the open page: a real mouse click on another
    step must move the slider and redraw the data. Returns (figures checked, problems)."""
    page.wait_for_selector(".plotly-graph-div .main-svg", state="attached")
    with_slider = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')]
        .map((gd, i) => (gd.layout && gd.layout.sliders && gd.layout.sliders.length) ? i : -1)
        .filter(i => i >= 0)""")
    problems = []
    for i in with_slider:
        page.locator(".plotly-graph-div").nth(i).scroll_into_view_if_needed()
        before = page.evaluate(DRAWN, i)
        geometry = page.evaluate("""(i) => {
            const gd = document.querySelectorAll('.plotly-graph-div')[i];
            const slider = gd.querySelector('.slider-group');
            const rail = slider.querySelector('rect.slider-rail-rect').getBoundingClientRect();
            const labels = [...slider.querySelectorAll('.slider-label-group')].map(g => {
                const b = g.getBoundingClientRect(); return b.x + b.width / 2; });
            return {active: gd.layout.sliders[0].active || 0, steps: gd.layout.sliders[0].steps.length,
                    labels, y: rail.y + rail.height / 2};
        }""", i)
        n, active = geometry["steps"], geometry["active"]
        if n < 2 or len(geometry["labels"]) != n:
            problems.append(f"figure {i}: {n} slider steps, {len(geometry['labels'])} step labels drawn")
            continue
        target = (active + max(1, n // 2)) % n
        page.mouse.click(geometry["labels"][target], geometry["y"])
        try:
            page.wait_for_function(f"(before) => ({DRAWN})({i}) !== before", arg=before, timeout=5_000)
        except Exception:  # noqa: BLE001 - reported below
            problems.append(f"figure {i}: clicking slider step {target} (of {n}, from {active}) "
                            "did not change the drawn data")
        moved = page.evaluate(f"() => document.querySelectorAll('.plotly-graph-div')[{i}].layout.sliders[0].active")
        if moved != target:
            problems.append(f"figure {i}: the slider is at step {moved} after a click on step {target}")
    return len(with_slider), problems


def test_interactive_figures_respond_to_a_slider(visits):
    """Every plotly figure with a slider redraws its data when a real mouse click moves the slider to another
    step (checked during the page visit). The book must have at least one such figure."""
    checked = {page: v.sliders[0] for page, v in visits.items() if v.sliders and v.sliders[0]}
    print(f"\nslider figures checked: {checked}")
    assert checked, "no interactive figure with a slider in the book (plotly-graph-div with layout.sliders)"
    problems = {page: v.sliders[1] for page, v in visits.items() if v.sliders}
    assert not any(problems.values()), report(problems)


# --- search, from file:// and served over http from 127.0.0.1
@pytest.fixture(scope="module")
def served(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("how", ["file", "http"])
def test_search_finds_a_known_word_offline(site, context, how, request):
    base = site.as_uri() if how == "file" else request.getfixturevalue("served")
    page, log = open_page(context, f"{base}/search.html?q={SEARCH_WORD}")
    page.wait_for_function("() => /Search finished|found/.test(document.querySelector('#search-results')"
                           "?.innerText || '')", timeout=15_000)
    page.wait_for_timeout(1000)   # result summaries are fetched after the list is drawn
    links = page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.href)")
    page.close()
    assert any(link.split("#")[0].split("?")[0].endswith(SEARCH_PAGE) for link in links), links
    problems = log.errors + [f"blocked request: {u}" for u in log.external]
    assert not problems, f"search over {how}:\n    " + "\n    ".join(problems)


# --- exercises: each solution hidden until its title is clicked
def check_solutions(page) -> tuple[int, list[str]]:
    """Each exercise solution on the open page is hidden, then shown by a click on its title."""
    page.wait_for_selector(".solution.dropdown.toggle", state="attached")   # sphinx-togglebutton ran
    solutions = page.locator(".solution.dropdown")
    problems = []
    for k in range(solutions.count()):
        solution = solutions.nth(k)
        body = solution.locator(":scope > :not(.admonition-title)")
        title = solution.locator(":scope > .admonition-title")
        name = re.sub(r"\s+", " ", title.inner_text()).strip()
        if body.count() == 0:
            problems.append(f"{name}: empty solution")
            continue
        if any(body.nth(j).is_visible() for j in range(body.count())):
            problems.append(f"{name}: shown before any click")
        title.scroll_into_view_if_needed()
        title.click(position={"x": 8, "y": 8})   # on "Solution to", not on the link to the exercise
        try:
            body.first.wait_for(state="visible", timeout=3_000)
        except Exception:  # noqa: BLE001 - reported
            problems.append(f"{name}: still hidden after a click on its title")
    return solutions.count(), problems


def test_solutions_are_hidden_until_clicked(visits):
    pages = {page: v.solutions for page, v in visits.items() if v.solutions}
    assert pages, "no page has an exercise solution"
    print(f"\nsolutions checked: { {page: n for page, (n, _) in pages.items()} }")
    problems = {page: items for page, (_, items) in pages.items()}
    assert not any(problems.values()), report(problems)
