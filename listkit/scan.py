"""Event logs larger than memory: a lazy reader for Parquet logs.

:func:`scan_events` gives the same canonical columns as :func:`listkit.read_events`, but as a polars
``LazyFrame`` over the file: nothing is loaded until a query runs, and :func:`listkit.run` then
streams the log through each of its passes instead of holding it in memory. Headers, event names
and subtype columns are read by :mod:`listkit.interpret`, as for a loaded log (each distinct value
once, then ``is_in`` tests, which stream); timestamps are checked in one streaming pass before any
result is used, so a bad value is still refused with its row number.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from listkit.errors import InputError
from listkit.interpret import (
    SAMPLE_ROWS,
    TIME_HINT,
    choose_event_column,
    event_meaning,
    lookup,
    recognised,
    resolve_headers,
    time_attempts,
    translate,
)
from listkit.schema import EVENT_ALIASES, EVENT_COLUMNS, TIMESTAMP

_SAMPLE_ROWS = 100_000
_ROW = "__listkit_source_row"


def scan_events(path: str | Path) -> pl.LazyFrame:
    """Lazily read a Parquet event log into :data:`listkit.schema.EVENT_COLUMNS` (then extra columns).

    Raises :class:`~listkit.errors.InputError` as :func:`listkit.read_events` does: missing or
    duplicate columns, an unreadable file, a timestamp no format reads (with its row).
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
    required = ("email", "event", "timestamp")
    found, extras = resolve_headers(str(path), headers, EVENT_ALIASES, required, EVENT_COLUMNS)
    found, extras = choose_event_column(
        headers,
        found,
        extras,
        lambda index: (
            log.select(pl.col(headers[index]).cast(pl.String)).head(SAMPLE_ROWS).collect().to_series()
        ),
    )

    def text(name: str) -> pl.Expr:
        if name not in found:
            return pl.lit(None, dtype=pl.String)
        return pl.col(headers[found[name]]).cast(pl.String)

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
        distinct = (
            log.select(recognised(source.cast(pl.String), table).cast(pl.Categorical).unique().alias("value"))
            .collect(engine="streaming")
            .to_series()
            .drop_nulls()
            .cast(pl.String)
        )
        return lookup(source.cast(pl.String), distinct, translate(distinct, table, dtype), dtype)

    canonical = {
        "source_row": pl.col(_ROW),
        "email": text("email"),
        "event_raw": text("event"),
        "timestamp": _timestamp(log, headers[found["timestamp"]], schema[headers[found["timestamp"]]]),
        "campaign": text("campaign"),
        "smtp_status": text("smtp_status"),
        "user_agent": text("user_agent"),
    }
    steps, meaning = event_meaning(headers, found, mapped)
    canonical |= meaning
    # A row index streams; an int_range over pl.len() would make polars hold the whole column.
    helped = log.with_row_index(_ROW, offset=1)
    for step in steps:
        helped = helped.with_columns(**step)
    scanned = helped.select(
        *(canonical[name].cast(dtype).alias(name) for name, dtype in EVENT_COLUMNS.items()),
        *(pl.col(headers[index]).cast(pl.String) for index in extras),
    )
    _refuse_bad_timestamps(log, headers[found["timestamp"]], canonical["timestamp"], path)
    return scanned


def _timestamp(log: pl.LazyFrame, header: str, dtype: pl.DataType) -> pl.Expr:
    """UTC timestamps from a Datetime, Date or text column.

    Text is parsed with the fewest of the readers' spellings that read the first ``_SAMPLE_ROWS``
    values (best first; several spellings often read the same ISO text): trying every spelling on
    every row in every pass would cost more than the rest of the run. A spelling first met later in
    the file is refused with its row.
    """
    column = pl.col(header)
    if isinstance(dtype, pl.Datetime):
        zoned = column.dt.replace_time_zone("UTC") if dtype.time_zone is None else column
        return zoned.dt.convert_time_zone("UTC").cast(TIMESTAMP)
    if dtype == pl.Date:
        return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    text = column.cast(pl.String).str.strip_chars()
    attempts = time_attempts(text)
    sample = log.select(text.alias(header)).head(_SAMPLE_ROWS).collect()
    reads = sample.select(attempt.is_not_null().alias(str(i)) for i, attempt in enumerate(attempts))
    chosen: list[int] = []
    unread = sample[header].is_not_null()
    while True:  # greedy: the spelling that reads most of what is still unread, until none reads more
        counts = [(reads[str(i)] & unread).sum() for i in range(len(attempts))]
        best = max(range(len(attempts)), key=lambda i: counts[i])
        if counts[best] == 0:
            break
        chosen.append(best)
        unread = unread & ~reads[str(best)]
    return pl.coalesce([attempts[i] for i in chosen]) if chosen else attempts[0]


def _refuse_bad_timestamps(log: pl.LazyFrame, header: str, parsed: pl.Expr, path: Path) -> None:
    """One streaming pass: the first event whose timestamp is empty or unreadable is an error."""
    bad = (
        log.with_row_index(_ROW, offset=1)
        .select(
            row=pl.col(_ROW),
            given=pl.col(header).cast(pl.String),
            parsed=parsed,
        )
        .filter(pl.col("parsed").is_null())
        .head(1)
        .collect(engine="streaming")
    )
    if bad.height:
        row, value = bad["row"][0], bad["given"][0]
        where = {"file": path, "row": int(row), "column": header}
        if value is None or not value.strip():
            raise InputError("the value is empty", hint="every event needs a timestamp", **where)
        raise InputError(f"{value!r} is not a timestamp listkit understands", hint=TIME_HINT, **where)
