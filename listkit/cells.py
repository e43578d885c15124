"""How a cell is read as text, and how a message may show one.

Every reader turns the columns it passes on into text with :func:`text_of` (loaded and streamed alike,
elementwise), after :func:`refuse_untextual_columns` has refused the columns that hold no text at all
(nested or binary data). A message never prints a cell that may be someone's address: :func:`shown`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import polars.selectors as cs

from listkit.errors import InputError
from listkit.schema import EPOCH

__all__ = [
    "HEADER_LABEL", "between_times", "header_label", "named", "refuse_untextual_columns", "shown",
    "text_of", "text_series",
]  # fmt: skip

#: What a message calls a column whose header holds an ``@`` (the first row of a file without headers).
HEADER_LABEL = "(a header that looks like an email address)"

_SHOWN_CHARS = 40  # longer values are cut in messages (a cell may hold megabytes)
# Times polars can print: far outside the calendar, casting one to text makes polars panic.
_PRINTABLE = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
_UNITS = {"ms": timedelta(milliseconds=1), "us": timedelta(microseconds=1), "ns": timedelta(microseconds=1)}


def shown(value: str | None) -> str:
    """A cell's value as a message may show it: quoted and shortened, and never an email address."""
    if value is None:
        return "an empty value"
    if "@" in value:  # whatever else it is, it may be someone's address
        return "a value that looks like an email address"
    return repr(value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 3] + "...")


def header_label(header: str) -> str:
    """A header as a message may name it: never an address (the first row of a file without headers)."""
    return HEADER_LABEL if "@" in header else header


def text_series(values: pl.Series) -> pl.Series:
    """:func:`text_of` for a Series."""
    return values.to_frame("v").select(text_of(pl.col("v"), values.dtype)).to_series().rename(values.name)


def text_of(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A column as text, elementwise (it streams); dates and times outside the years 1 to 9999 are null.

    Such a date is no export's value but corrupt bytes, and polars cannot print it.
    """
    if dtype == pl.String:
        return column
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return between_times(column, dtype, *_PRINTABLE).cast(pl.String)
    return column.cast(pl.String)


def refuse_untextual_columns(file: str, headers: list[str], dtypes: list[pl.DataType]) -> None:
    """Raise InputError for the first column (of a Parquet file) holding no text: nested or binary data."""
    for header, dtype in zip(headers, dtypes, strict=True):
        if dtype.is_nested() or dtype in (pl.Binary, pl.Object):
            raise InputError(
                f"the column has type {dtype}, which cannot be read as text",
                file=file,
                column=header_label(header),
                hint="flatten the column, write it as UTF-8 text, or drop it",
            )


def between_times(column: pl.Expr, dtype: pl.DataType, first: datetime, last: datetime) -> pl.Expr:
    """A Date or Datetime ``column`` where its value lies from ``first`` to ``last`` (UTC), else null.

    Compared as integers of the column's physical unit (clamped to Int64: ns columns end in 2262), so a
    value far outside the calendar, which polars cannot convert, is never converted.
    """
    if dtype == pl.Date:
        low, high = ((moment.date() - EPOCH.date()).days for moment in (first, last))
    else:
        unit = _UNITS[dtype.time_unit]
        scale = 1000 if dtype.time_unit == "ns" else 1
        bound = (1 << 63) - 1
        low, high = (max(-bound, min(bound, (moment - EPOCH) // unit * scale)) for moment in (first, last))
    return pl.when(column.to_physical().is_between(low, high)).then(column)


def named(name: str) -> pl.Expr:
    """The column called exactly ``name``, whatever its name: ``pl.col("*")`` is every column and
    ``pl.col("^a.*$")`` a regular expression, and an input's pass-through header may be either."""
    return cs.by_name(name).as_expr()
