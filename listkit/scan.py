"""Event logs larger than memory: a lazy reader for Parquet logs.

:func:`scan_events` gives the same canonical columns as :func:`listkit.read_events`, but as a polars
``LazyFrame`` over the file: nothing is loaded until a query runs, and :func:`listkit.run` then
streams the log through each of its passes instead of holding it in memory. Headers, event names
and subtype columns are read by :mod:`listkit.interpret`, as for a loaded log (each distinct value
once, then ``is_in`` tests, which stream), the first rows are tested for swapped columns by
:mod:`listkit.sanity`, and timestamps are read by :func:`listkit.times.read_times`, all as for a
loaded log; they are checked in one streaming pass before any result is used, so a bad value is
refused with its row number, the same row and words as when the log is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from listkit.cells import refuse_untextual_columns, text_of
from listkit.errors import InputError
from listkit.interpret import (
    SAMPLE_ROWS,
    choose_event_column,
    event_meaning,
    lookup,
    recognised,
    resolve_headers,
    translate,
)
from listkit.sanity import refuse_misplaced_columns
from listkit.schema import EVENT_ALIASES, EVENT_COLUMNS
from listkit.times import TIME_SAMPLE_ROWS, Spellings, choose_spellings, read_times, time_problem, within_span

_ROW = "__listkit_source_row"


def scan_events(path: str | Path) -> pl.LazyFrame:
    """Lazily read a Parquet event log into :data:`listkit.schema.EVENT_COLUMNS` (then extra columns).

    Raises :class:`~listkit.errors.InputError` as :func:`listkit.read_events` does: missing,
    duplicate, swapped or misnamed columns, an unreadable file, a timestamp no spelling reads or
    outside the readable span (with its row).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path, hint="check the path")
    with path.open("rb") as handle:
        if handle.read(4) != b"PAR1":
            raise InputError(
                "only Parquet logs can be streamed", file=path, hint="convert it, or use read_events"
            )
    log = pl.scan_parquet(path)
    try:
        schema = log.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise InputError(
            f"the Parquet file cannot be read ({reason})", file=path, hint="export it again"
        ) from None
    headers = list(schema)
    refuse_untextual_columns(str(path), headers, list(schema.values()))
    required = ("email", "event", "timestamp")
    found, extras = resolve_headers(str(path), headers, EVENT_ALIASES, required, EVENT_COLUMNS)
    sample = _collect(log.head(SAMPLE_ROWS), path)  # the same first rows read_events tests

    def first_rows(index: int) -> pl.Series:
        return sample.to_series(index)

    found, extras = choose_event_column(headers, found, extras, first_rows)
    refuse_misplaced_columns(str(path), headers, found, first_rows)
    stamp = headers[found["timestamp"]]
    spellings = Spellings()
    if not schema[stamp].is_temporal():
        spellings = choose_spellings(_collect(log.select(stamp).head(TIME_SAMPLE_ROWS), path).to_series())

    def column_text(index: int) -> pl.Expr:
        return text_of(pl.col(headers[index]), schema[headers[index]])

    def text(name: str) -> pl.Expr:
        return column_text(found[name]) if name in found else pl.lit(None, dtype=pl.String)

    def mapped(index: int, table: Mapping, dtype: pl.DataType) -> pl.Expr:
        """The streaming Mapper: each distinct value translated once, then one is_in test per meaning."""
        source, source_dtype = pl.col(headers[index]), schema[headers[index]]
        if source_dtype == dtype:
            return source
        if isinstance(source_dtype, pl.Enum):  # map the few integer codes, not every row's text
            categories = pl.Series(source_dtype.categories)
            codes = categories.cast(source_dtype).to_physical()
            return lookup(source.to_physical(), codes, translate(categories, table, dtype), dtype)
        # Interned: kept text would otherwise hold on to the buffers of the whole column.
        query = log.select(recognised(column_text(index), table).cast(pl.Categorical).unique().alias("value"))
        distinct = _collect(query, path).to_series().drop_nulls().cast(pl.String)
        return lookup(column_text(index), distinct, translate(distinct, table, dtype), dtype)

    time_steps, timestamp = read_times(pl.col(stamp), schema[stamp], spellings)
    canonical = {
        "source_row": pl.col(_ROW),
        "email": text("email"),
        "event_raw": text("event"),
        "timestamp": timestamp,
        "campaign": text("campaign"),
        "smtp_status": text("smtp_status"),
        "user_agent": text("user_agent"),
    }
    meaning_steps, meaning = event_meaning(headers, found, mapped)
    canonical |= meaning
    # A row index streams; an int_range over pl.len() would make polars hold the whole column.
    helped = log.with_row_index(_ROW, offset=1)
    for step in [*time_steps, *meaning_steps]:
        helped = helped.with_columns(**step)
    scanned = helped.select(
        *(canonical[name].cast(dtype).alias(name) for name, dtype in EVENT_COLUMNS.items()),
        *(column_text(index).alias(headers[index]) for index in extras),
    )
    _refuse_bad_timestamps(log, stamp, schema[stamp], (time_steps, timestamp), path)
    return scanned


def _refuse_bad_timestamps(
    log: pl.LazyFrame,
    header: str,
    dtype: pl.DataType,
    reading: tuple[list[dict[str, pl.Expr]], pl.Expr],
    path: Path,
) -> None:
    """One streaming pass: refuse the first event whose timestamp is empty, unreadable or outside the span."""
    typed = dtype.is_temporal()  # never cast to text: far outside the calendar, polars panics
    steps, parsed = reading
    query = log.with_row_index(_ROW, offset=1)
    for step in steps:
        query = query.with_columns(**step)
    query = (
        query.select(
            row=pl.col(_ROW),
            given=pl.lit(None, dtype=pl.String) if typed else pl.col(header).cast(pl.String),
            present=pl.col(header).is_not_null(),
            readable=parsed.is_not_null(),
            read=within_span(parsed).fill_null(False),
        )
        .filter(~pl.col("read"))
        .bottom_k(1, by="row")  # the first, whatever order the streaming engine finds them in
    )
    bad = _collect(query, path)
    if bad.height:
        row, given, present, readable, _ = bad.row(0)
        outside = readable or (typed and present)  # a time, but outside the span
        problem, hint = time_problem(given, outside=outside)
        raise InputError(problem, file=path, row=int(row), column=header, hint=hint)


def _collect(query: pl.LazyFrame, path: Path) -> pl.DataFrame:
    """Run a query over the log in the streaming engine; a file that turns out unreadable is an InputError."""
    try:
        return query.collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(
            f"the Parquet file cannot be read ({reason})", file=path, hint="export it again"
        ) from None
