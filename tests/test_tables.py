"""Page-ready tables (book.tables): number format, dict cells, notes, units, empty rows."""
import math

import numpy as np
import pandas as pd
import pytest

from gpuefficient.book.tables import format_cell, format_number, show_table


@pytest.mark.parametrize("x, text", [
    (4590.0, "4,590"), (123456.7, "123,457"), (12.345, "12.3"), (0.012345, "0.0123"), (1.0, "1.00"),
    (-2.5, "-2.50"), (333522573904.35, "334 G"), (1.2e6, "1.20 M"), (2.5e15, "2,500 T"), (1.2e-5, "1.2e-05"),
    (0.0, "0"), (float("nan"), "–"), (None, "–"), (np.float32(7.0), "7.00"), (math.inf, "∞"),
])
def test_format_number(x, text):
    assert format_number(x) == text


def test_format_number_names_a_non_number():
    with pytest.raises(TypeError, match="got str 'x', expected a number"):
        format_number("x")


def test_cells_flatten_dicts_and_lists():
    assert format_cell({"fp32": 333522573904.35, "fp16": 1.3e12}) == "fp32 334 G; fp16 1.30 T"
    assert format_cell([1, 2.5]) == "1, 2.50" and format_cell(32768) == "32,768" and format_cell("a") == "a"


def test_show_table_notes_units_and_empty_rows():
    frame = pd.DataFrame({"name": ["A", "B", "C"], "bandwidth": [2.0e12, 9.0e11, np.nan],
                          "source": ["NVIDIA datasheet, 2024", "NVIDIA datasheet, 2024", np.nan],
                          "peak": [{"fp16": 1e15}, {"fp16": 2e14}, np.nan], "empty": [np.nan] * 3})
    frame.loc[2, "name"] = np.nan   # row C: nothing but NaN
    table = show_table(frame, units={"bandwidth": "B/s"}, notes=["source"], caption="Devices")
    assert list(table.frame.columns) == ["name", "bandwidth (B/s)", "source", "peak"]   # empty column gone
    assert len(table.frame) == 2 and list(table.frame["source"]) == ["[1]", "[1]"]     # one shared note
    assert table.notes == ["NVIDIA datasheet, 2024"] and table.frame.iloc[0]["peak"] == "fp16 1,000 T"
    page = table._repr_html_()
    assert "<strong>Devices</strong>" in page and '<ol class="table-notes"><li>NVIDIA datasheet, 2024</li></ol>' in page
    assert "2.00 T" in page and "[1] NVIDIA datasheet, 2024" in repr(table)
    with pytest.raises(ValueError, match=r"notes: \['sources'\] are not columns"):
        show_table(frame, notes=["sources"])
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        show_table([1, 2])
