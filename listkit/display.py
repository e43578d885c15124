"""Showing report items in a notebook: figures as reproducible PNGs, tables as plain HTML, Markdown text.

The report notebook and the analysts' own notebooks show listkit's figures and tables with :func:`show`;
:func:`html_table` is the one HTML form of a table (rates as percentages, counts with separators).
"""

from __future__ import annotations

import html
import io
from typing import Any

import polars as pl
from matplotlib.figure import Figure

__all__ = ["html_table", "show"]


def show(item: Figure | pl.DataFrame | str) -> Any:
    """Display a figure (as a reproducible PNG), a table (as plain HTML) or Markdown text in a notebook."""
    from IPython.display import HTML, Image, Markdown, display

    if isinstance(item, Figure):
        buffer = io.BytesIO()
        item.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        return display(Image(data=buffer.getvalue(), format="png"))
    if isinstance(item, pl.DataFrame):
        return display(HTML(html_table(item)))
    return display(Markdown(item))


def html_table(frame: pl.DataFrame) -> str:
    """A plain, escaped HTML table: rates as percentages, counts with thousands separators."""

    def cell(name: str, value: Any) -> str:
        if value is None:
            return "<td></td>"
        if isinstance(value, float):
            if name.endswith("_pct"):  # already in percent
                return f"<td>{value:.1f}%</td>"
            return f"<td>{value:.2%}</td>" if name.endswith("_rate") else f"<td>{value:,.1f}</td>"
        if isinstance(value, int):
            return f"<td>{value:,}</td>"
        return f'<td style="text-align:left">{html.escape(str(value))}</td>'

    numeric = {name for name, dtype in frame.schema.items() if dtype.is_numeric()}
    head = "".join(
        f"<th>{html.escape(name)}</th>"
        if name in numeric
        else f'<th style="text-align:left">{html.escape(name)}</th>'
        for name in frame.columns
    )
    body = "".join(
        "<tr>" + "".join(cell(n, v) for n, v in zip(frame.columns, row, strict=True)) + "</tr>"
        for row in frame.iter_rows()
    )
    return f'<table class="listkit"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
