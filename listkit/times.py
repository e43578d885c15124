"""One timestamp reader for every input: the accepted spellings, the readable span, the refusals.

:func:`listkit.read_events`, :func:`listkit.scan_events` and :func:`listkit.read_subscribers` all read
times with :func:`read_times` and word their refusals with :func:`time_problem`, so a loaded and a
streamed log agree on every row and refuse the same row with the same words. Times outside
``schema.EARLIEST_TIME``..``LATEST_TIME`` never reach date arithmetic.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from listkit.cells import between_times, shown
from listkit.schema import EARLIEST_TIME, LATEST_TIME, TIMESTAMP

__all__ = [
    "SPAN",
    "TIME_HINT",
    "TIME_SAMPLE_ROWS",
    "Spellings",
    "choose_spellings",
    "read_times",
    "time_attempts",
    "time_problem",
    "within_span",
]

TIME_HINT = "use ISO-8601 (2024-03-01T10:00:00Z), 'YYYY-MM-DD HH:MM:SS' (taken as UTC) or Unix seconds"
#: The readable span of times, as messages name it.
SPAN = f"{EARLIEST_TIME:%Y-%m-%d} to {LATEST_TIME:%Y-%m-%d}"
#: Rows of a column read to choose the timestamp spellings tried first (:func:`choose_spellings`).
TIME_SAMPLE_ROWS = 100_000
_HELPER = "__listkit_time_"  # prefix of the helper columns read_times adds


def time_attempts(text: pl.Expr) -> list[pl.Expr]:
    """Every accepted timestamp spelling, as expressions yielding UTC timestamps or null.

    Where two spellings read one text, they read the same instant, so the order in which they are
    tried never changes a result (tests/test_input_sanity.py checks it).
    """

    def naive(fmt: str) -> pl.Expr:  # no offset given: the time is UTC
        return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone("UTC")

    def aware(fmt: str) -> pl.Expr:
        return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.convert_time_zone("UTC")

    number = text.cast(pl.Float64, strict=False)
    # Unix seconds from 1973-03-03 (1e8: no mail event is older, and smaller numbers are more likely
    # dates such as 20240301) up to the year 5138, or 13-digit milliseconds; other numbers are not times.
    micros = (
        pl.when((number >= 1e8) & (number < 1e11))
        .then(number * 1e6)
        .when((number >= 1e12) & (number < 1e13))
        .then(number * 1e3)
    )
    unix = micros.round().cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return [*map(naive, _FIXED_FORMATS), unix, *map(aware, _AWARE_FORMATS), *map(naive, _NAIVE_FORMATS)]


class Spellings(NamedTuple):
    """The timestamp spellings a column's sample calls for (:func:`choose_spellings`)."""

    chosen: tuple[int, ...] = ()  #: indexes into :func:`time_attempts`, tried on every row
    padded: bool = False  #: some sampled values have white space around them: strip every row first


_NO_SPELLINGS = Spellings()


def choose_spellings(sample: pl.Series) -> Spellings:
    """The fewest of :func:`time_attempts` that read ``sample`` (the first TIME_SAMPLE_ROWS values).

    Greedy: the spelling that reads most of what is still unread, until none reads more (several
    often read the same ISO text). :func:`read_times` tries these on every row and the others only
    on the rows they miss, so the choice changes the cost, never a result.
    """
    text = sample.cast(pl.String)
    stripped = text.str.strip_chars()
    frame = stripped.rename("text").to_frame()
    attempts = time_attempts(pl.col("text"))
    reads = frame.select(attempt.is_not_null().alias(str(i)) for i, attempt in enumerate(attempts))
    chosen: list[int] = []
    unread = frame["text"].is_not_null()
    while True:
        counts = [int((reads[str(i)] & unread).sum()) for i in range(len(attempts))]
        best = max(range(len(attempts)), key=lambda i: counts[i])
        if counts[best] == 0:
            return Spellings(tuple(chosen), padded=bool((stripped != text).any()))
        chosen.append(best)
        unread = unread & ~reads[str(best)]


def read_times(
    column: pl.Expr, dtype: pl.DataType, spellings: Spellings = _NO_SPELLINGS
) -> tuple[list[dict[str, pl.Expr]], pl.Expr]:
    """UTC timestamps of a Datetime, Date or text column; null where a value is empty or unreadable.

    Text reads as the first of :func:`time_attempts` that reads it, surrounding white space ignored:
    the ``spellings`` chosen from a sample are tried on every row, the other spellings only on the
    rows those miss, so the loaded and the streamed reader agree on every row whatever their samples.
    Typed values outside the readable span are null (converting them could overflow); text outside
    it is read, for :func:`within_span` to refuse. Returns helper columns to add first, in order
    (``with_columns``: the first reading is then parsed once per row), and the expression over them.
    Elementwise: it streams.
    """
    if isinstance(dtype, pl.Datetime):  # naive means UTC, zoned is converted
        safe = between_times(column, dtype, EARLIEST_TIME, LATEST_TIME)
        zoned = safe.dt.replace_time_zone("UTC") if dtype.time_zone is None else safe
        return [], zoned.dt.convert_time_zone("UTC").cast(TIMESTAMP)
    if dtype == pl.Date:
        safe = between_times(column, dtype, EARLIEST_TIME, LATEST_TIME)
        return [], safe.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    text = column if dtype == pl.String else column.cast(pl.String)
    if not spellings.chosen:
        return [], pl.coalesce(time_attempts(text.str.strip_chars())).cast(TIMESTAMP)
    attempts = time_attempts(text.str.strip_chars() if spellings.padded else text)
    first, missed = pl.col(f"{_HELPER}first"), pl.col(f"{_HELPER}missed")
    steps = [
        {f"{_HELPER}first": pl.coalesce([attempts[i] for i in spellings.chosen])},
        # Null wherever the first reading worked: the other spellings then cost next to nothing there.
        {f"{_HELPER}missed": pl.when(first.is_null()).then(text).str.strip_chars()},
    ]
    return steps, pl.coalesce(first, *time_attempts(missed)).cast(TIMESTAMP)


def within_span(timestamps: pl.Expr) -> pl.Expr:
    """True where a timestamp lies in ``[EARLIEST_TIME, LATEST_TIME]`` (null where it is null)."""
    return timestamps.is_between(pl.lit(EARLIEST_TIME, dtype=TIMESTAMP), pl.lit(LATEST_TIME, dtype=TIMESTAMP))


def time_problem(given: str | None, *, outside: bool) -> tuple[str, str]:
    """What is wrong with a refused timestamp cell, and what to do: (problem, hint). Error paths only.

    ``given`` is the cell as text (None for an empty cell, or for a typed one that cannot be shown);
    ``outside`` says the value is a time, outside the readable span.
    """
    if outside:
        what = "the time" if given is None else shown(given)
        return f"{what} is outside the times listkit reads ({SPAN})", "correct it, or remove the row"
    if given is None or not given.strip():
        return "the value is empty", "every event needs a timestamp"
    return f"{shown(given)} is not a timestamp listkit understands", TIME_HINT


# Fixed spellings first: polars parses them about four times faster than ones with %.f or %z, and the
# readers prefer the earliest attempt that reads their sample best.
_FIXED_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")  # %#z also reads "Z"
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
