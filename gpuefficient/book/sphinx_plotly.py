"""Sphinx extension: serve plotly.js from the book itself, on the pages that have a Plotly figure.

The figures of ``gpuefficient.book.interactive`` are embedded without plotly.js, so each page does not
carry 4.8 MB of it. This copies the plotly.js that the installed ``plotly`` package ships (the version
that drew the figures) into ``_static`` and adds it to the pages whose body holds a Plotly figure, so
the book needs no CDN and works from ``file://``. Enabled in ``_config.yml`` (``extra_extensions``).
"""
from __future__ import annotations

import shutil
from pathlib import Path

FILENAME = "plotly.min.js"
MARKER = "plotly-graph-div"  # the class of the <div> that plotly's to_html writes


def source() -> Path:
    """The plotly.js of the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plotly.js not found in the plotly package; reinstall plotly")
    return path


def _add_to_page(app, pagename, templatename, context, doctree):
    if MARKER in context.get("body", ""):
        # before require.js (myst-nb's widget loader, priority 500): plotly.js seeing an AMD loader would
        # register itself as a module instead of defining the global Plotly that the figures call
        app.add_js_file(FILENAME, priority=200)


def _copy(app, exception):
    if exception is None and app.builder.format == "html":
        target = Path(app.builder.outdir) / "_static" / FILENAME
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source(), target)


def setup(app):
    app.connect("html-page-context", _add_to_page)
    app.connect("build-finished", _copy)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
