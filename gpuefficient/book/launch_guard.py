"""Sphinx extension: the chapters' launch buttons (Binder, ...) appear only once the book's repository is set.

``_config.yml`` keeps ``launch_buttons`` configured and ``repository: url:`` empty until the book has a
public repository. Jupyter Book 1 fills an unset URL with its own default (its own repository), for
which sphinx-book-theme would draw launch buttons into the wrong repository, and with an empty one the
theme fails on every notebook page. So while no repository of our own is set, this extension removes
the launch services; setting ``repository: url:`` turns the buttons on, with nothing else to change.
"""
from __future__ import annotations

__all__ = ["setup"]

SERVICES = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url", "thebe")


def _default_repository() -> str:
    """Jupyter Book 1's placeholder ``repository: url:``, used when a book sets none."""
    import yaml
    from jupyter_book.config import PATH_YAML_DEFAULT

    return yaml.safe_load(PATH_YAML_DEFAULT.read_text(encoding="utf-8"))["repository"]["url"]


def _without_repository(app, config) -> None:
    options = config.html_theme_options
    url = str(options.get("repository_url") or "").strip()
    buttons = options.get("launch_buttons") or {}
    if buttons and url in ("", _default_repository()):
        options["launch_buttons"] = {k: v for k, v in buttons.items() if k not in SERVICES}


def setup(app):
    app.connect("config-inited", _without_repository)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
