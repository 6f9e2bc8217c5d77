"""The bibliography: author-year labels (book.sphinx_citations) and every entry reachable by a DOI or URL."""
from pathlib import Path

import pytest
from pybtex.database import parse_file, parse_string

from gpuefficient.book.sphinx_citations import AuthorYearStyle, author_year_label

BIB = Path(__file__).resolve().parents[1] / "book" / "references.bib"


def _entry(authors, year="2021"):
    fields = f"author = {{{' and '.join(authors)}}}," + (f" year = {{{year}}}," if year else "")
    return parse_string(f"@article{{k, title = {{T}}, {fields}}}", "bibtex").entries["k"]


@pytest.mark.parametrize("authors, label", [
    (["Lin, Ming"], "Lin, 2021"),
    (["Kosaian, Jack", "Phanishayee, Amar"], "Kosaian and Phanishayee, 2021"),
    (["Williams, Samuel", "Waterman, Andrew", "Patterson, David"], "Williams et al., 2021"),
    (["Ben Baruch, Emanuel", "Ridnik, Tal"], "Ben Baruch and Ridnik, 2021"),
])
def test_labels_are_surnames_and_year(authors, label):
    assert author_year_label(_entry(authors)) == label


def test_an_entry_without_a_year_is_named():
    with pytest.raises(ValueError, match="k: got no author or no year"):
        author_year_label(_entry(["Lin, Ming"], year=None))


def test_every_reference_has_a_doi_or_url_and_a_unique_label():
    entries = parse_file(str(BIB), "bibtex").entries
    assert entries
    missing = [key for key, e in entries.items() if not ({"doi", "url"} & {f.lower() for f in e.fields})]
    assert not missing, f"no DOI or URL: {missing}"
    labels = [author_year_label(e) for e in entries.values()]
    assert len(set(labels)) == len(labels), labels
    formatted = [f.label for f in AuthorYearStyle().format_entries(entries.values())]
    assert sorted(formatted) == sorted(labels)
    surnames = [label.split(",")[0].split(" and ")[0].split(" et al.")[0] for label in formatted]
    assert surnames == sorted(surnames, key=str.lower), "entries are listed by first author's surname"
