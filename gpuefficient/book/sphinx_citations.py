"""Sphinx extension: bibliography labels in the same author-year form as the citations in the text.

``bibtex_reference_style: author_year`` makes the text read "Kosaian and Phanishayee [2022]", but the
bibliography's default labels are alpha codes ("[KP22]") that match nothing on the page. This registers
a pybtex style, ``authoryear`` (unsrt's entries, sorted by author and year, labelled "Kosaian and
Phanishayee, 2022"), for ``book/references.md`` to use. pybtex's plugin registry, not a fork of a style:
it is how sphinxcontrib-bibtex documents custom labels.
"""
from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

__all__ = ["author_year_label", "AuthorYearLabels", "AuthorYearStyle", "setup"]


def author_year_label(entry) -> str:
    """"Lin et al., 2020", "Kosaian and Phanishayee, 2022", "Williams et al., 2009" for one pybtex entry."""
    people = entry.persons.get("author", [])
    if not people or "year" not in entry.fields:
        raise ValueError(f"{entry.key}: got no author or no year, expected both for an author-year label")
    surnames = [" ".join(person.last_names) for person in people]
    names = {1: surnames[0], 2: " and ".join(surnames)}.get(len(surnames), f"{surnames[0]} et al.")
    return f"{names}, {entry.fields['year']}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year_label(entry)


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
