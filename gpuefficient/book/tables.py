"""Tables for reading on a page: numbers without exponents where a reader expects none, no raw dicts,
no rows of NaN, units in the headers and long source texts as numbered notes under the table.

``format_number`` is also pandas' float format for every chapter (``runtime.setup``), so a latency of
4,590 ms no longer prints as ``4.59e+03``.
"""
from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

__all__ = ["format_number", "format_cell", "show_table", "Table"]

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"))


def format_number(x: Any) -> str:
    """3 significant digits, whole numbers in full below a million: "0.0123", "12.3", "4,590", "123,457";
    SI prefixes above ("334 G"); exponents only below 0.001 ("1.2e-05"); "–" for NaN or None."""
    if x is None:
        return "–"
    if isinstance(x, (bool, str)) or not hasattr(x, "__float__"):
        raise TypeError(f"x: got {type(x).__name__} {x!r}, expected a number")
    x = float(x)
    if math.isnan(x):
        return "–"
    if x == 0 or math.isinf(x):
        return "0" if x == 0 else ("∞" if x > 0 else "−∞")
    magnitude = abs(x)
    for scale, prefix in _SI:
        if magnitude >= scale:
            scaled = x / scale
            return f"{scaled:,.0f} {prefix}" if abs(scaled) >= 1e3 else f"{format_number(scaled)} {prefix}"
    if magnitude < 1e-3:
        return f"{x:.3g}"
    return f"{x:,.{max(0, 2 - math.floor(math.log10(magnitude)))}f}"


def format_cell(value: Any) -> str:
    """A cell as text: numbers by :func:`format_number`, dicts as "key value; ...", lists joined by commas."""
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {format_cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return ", ".join(format_cell(v) for v in value)
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) or hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "fiu":
        return format_number(value)
    return str(value)


class Table:
    """A formatted table and its notes: HTML in the book, plain text in a terminal."""

    def __init__(self, frame, notes: Sequence[str], caption: str = ""):
        self.frame, self.notes, self.caption = frame, list(notes), caption

    def _repr_html_(self) -> str:
        caption = f"<p><strong>{html.escape(self.caption)}</strong></p>" if self.caption else ""
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return caption + self.frame.to_html(escape=True) + (f'<ol class="table-notes">{notes}</ol>' if notes else "")

    def __repr__(self) -> str:
        lines = ([self.caption] if self.caption else []) + [self.frame.to_string()]
        return "\n".join(lines + [f"[{i}] {n}" for i, n in enumerate(self.notes, 1)])


def show_table(frame, *, units: Mapping[str, str] | None = None, notes: Sequence[str] = (), caption: str = "",
               drop_empty: bool = True) -> Table:
    """``frame`` (a pandas DataFrame) ready for a page.

    ``units``: column -> unit, shown in the header ("bandwidth (B/s)"); ``notes``: columns of long text
    (sources, comments) that become numbered notes under the table, the cell keeping "[n]" (identical
    texts share a number); ``drop_empty``: leave out rows and columns that hold nothing but NaN.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame: got {type(frame).__name__}, expected a pandas DataFrame")
    for name, columns in (("units", list(units or {})), ("notes", list(notes))):
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ValueError(f"{name}: {unknown} are not columns, expected some of {list(frame.columns)}")
    if drop_empty:
        frame = frame.dropna(how="all").dropna(axis=1, how="all")
    texts: list[str] = []
    out = frame.astype(object).map(format_cell) if hasattr(frame, "map") else frame.applymap(format_cell)
    for column in notes:
        if column not in out.columns:
            continue
        refs = []
        for value in frame[column]:
            text = "" if value is None or isinstance(value, float) and math.isnan(value) else str(value)
            if not text:
                refs.append("–")
                continue
            if text not in texts:
                texts.append(text)
            refs.append(f"[{texts.index(text) + 1}]")
        out[column] = refs
    out = out.rename(columns={c: f"{c} ({u})" for c, u in (units or {}).items() if c in out.columns})
    return Table(out, texts, caption)
