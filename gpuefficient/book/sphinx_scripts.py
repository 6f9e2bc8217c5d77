"""Sphinx extension: each of a page's scripts is included once.

sphinx-thebe (loaded by Jupyter Book 1) registers its inline configuration script,
``const THEBE_JS_URL = ...``, from an event that fires more than once per build, so every page
declared the constant twice and the browser threw "Identifier 'THEBE_JS_URL' has already been
declared" (found by tests/test_browser.py). Dropping exact duplicates, in order, is safe for any
script: a second identical copy never adds anything.
"""
from __future__ import annotations

__all__ = ["unique_scripts", "setup"]


def unique_scripts(scripts):
    """``scripts`` without repeats (same file or inline body, same attributes; priority aside), first kept."""
    seen, kept = set(), []
    for script in scripts:
        # an inline script is registered once with filename None and once, re-read from the registry, with ""
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _dedupe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)   # after every extension added its scripts
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
