"""Showing report items in a notebook: figures as reproducible PNGs with alt text, tables as plain HTML,
Markdown text.

The report notebook and the analysts' own notebooks show listkit's figures and tables with :func:`show`;
:func:`html_table` is the one HTML form of a table (rates as percentages, counts with separators).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import polars as pl
from matplotlib.figure import Figure

__all__ = ["figure_alt", "figure_html", "html_table", "show"]


def show(item: Figure | pl.DataFrame | str, *, alt: str | None = None, caption: str | None = None) -> Any:
    """Display a figure, a table or Markdown text in a notebook.

    A figure is shown as an ``<img>`` holding the PNG (:func:`figure_html`) with ``alt``, one line saying
    what it shows for a reader who cannot see it (a screen reader reads it out). Without ``alt`` its
    titles stand in (:func:`figure_alt`); a figure with neither is refused rather than shown with
    nothing to read. A table may have a ``caption`` (:func:`html_table`). Anything else is Markdown
    (empty text shows nothing).
    ``alt`` on a table or text, ``caption`` on a figure and a figure with nothing to describe it raise
    ``TypeError``, like a wrong argument to any function.
    """
    from IPython.display import Markdown, display

    if isinstance(item, Figure):
        if caption is not None:
            raise TypeError("show(figure) takes alt=, not caption=: put the title in the figure itself")
        if alt is not None and not isinstance(alt, str):
            raise TypeError(f"show(figure, alt=...) takes text, not {type(alt).__name__}")
        text = _one_line(alt or "") or figure_alt(item)
        if not text:
            raise TypeError(
                "show(figure) needs alt=, one line saying what the figure shows (it has no title)"
            )
        # text/plain is what a terminal or a screen reader of the notebook file gets: the alt text.
        bundle = {"text/html": figure_html(item, alt=text), "text/plain": text}
        return display(bundle, raw=True)
    if alt is not None:
        raise TypeError("alt= is for figures; a table takes caption=")
    if isinstance(item, pl.DataFrame):
        table = html_table(item, caption=caption)
        return display({"text/html": table, "text/plain": repr(item)}, raw=True)
    if caption is not None:
        raise TypeError("caption= is for tables; write a heading in the Markdown text instead")
    # Empty text (a run without warnings) shows nothing, so a notebook needs no condition around it.
    return display(Markdown(item)) if item else None


def figure_html(figure: Figure, *, alt: str) -> str:
    """``<img alt="..." src="data:image/png;base64,...">``: the figure as a PNG inside the page, so the
    report needs no other file, with its alt text on one line.

    The PNG is reproducible (no software or date in its metadata): the same run gives the same bytes.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(_one_line(alt))}" src="data:image/png;base64,{data}">'


def figure_alt(figure: Figure) -> str:
    """The figure's titles as one line (its overall title, then each plot's): the alt text of a figure
    shown without one. Empty when the figure has no title."""
    titles = [figure.get_suptitle()]
    for axes in figure.get_axes():
        titles += [axes.get_title(loc) for loc in ("left", "center", "right")]
    return _one_line("; ".join(title for title in titles if title.strip()))


def html_table(frame: pl.DataFrame, *, caption: str | None = None) -> str:
    """A plain, escaped HTML table: rates as percentages, counts with thousands separators, and the
    ``caption`` (if any) as its ``<caption>``."""

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
    title = f"<caption>{html.escape(_one_line(caption))}</caption>" if caption else ""
    return f'<table class="listkit">{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _one_line(text: str) -> str:
    """``text`` with its runs of white space (line breaks included) made single spaces."""
    return " ".join(text.split())
