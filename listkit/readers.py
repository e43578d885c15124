"""Read subscriber lists and delivery events into the canonical frames of :mod:`listkit.schema`.

Files are opened and parsed by :mod:`listkit.sources` (CSV or Parquet, plain or gzip-compressed); what
their columns mean is worked out here, vectorised, so a 30-million-row events file never meets a Python
loop. An event log has one canonicalisation (:class:`_EventPlan`): its headers and first rows decide
which columns are which and which timestamp spellings to try, then every chunk of rows is turned into
the canonical columns by the same function, whether the log is read whole (:func:`read_events`) or in
chunks written once to Parquet for streaming (:func:`scan_events`), so the two cannot disagree.

Conventions: an empty CSV cell (quoted or not) is null and every other cell is kept byte for byte
(no trimming); blank lines are not rows; ``source_row`` counts data rows from 1, so a quoted field
holding a line break does not shift it. Any problem with the input raises
:class:`~listkit.errors.InputError` naming the file and, where known, the row and column.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from listkit.cells import refuse_untextual_columns, text_of, text_series
from listkit.errors import InputError
from listkit.interpret import (
    SAMPLE_ROWS,
    Mapper,
    choose_event_column,
    event_meaning,
    recognised,
    resolve_headers,
    translate,
)
from listkit.sanity import refuse_misplaced_columns
from listkit.schema import EVENT_ALIASES, EVENT_COLUMNS, SUBSCRIBER_ALIASES, SUBSCRIBER_COLUMNS, TIMESTAMP
from listkit.sources import RawTable, load_table, stream_table
from listkit.streaming import PART_COLUMN, parts_for
from listkit.times import TIME_SAMPLE_ROWS, Spellings, choose_spellings, read_times, time_problem, within_span

__all__ = ["read_events", "read_subscribers", "scan_events"]

#: Rows of an event log canonicalised at a time by :func:`scan_events` (about 50 MB of CSV text). Half
#: a million rather than a million: the peak memory of reading a 30 M-event log falls from 1.84 GiB
#: to 1.29 GiB (each chunk is split into parts as it is written), at the same speed.
CHUNK_ROWS = 500_000
_ROW = "__listkit_source_row"
_READ = "__listkit_time_read"


def read_subscribers(source: str | Path | bytes, *, encoding: str | None = None) -> pl.DataFrame:
    """Read a subscriber list (CSV or Parquet) into a frame whose first columns are SUBSCRIBER_COLUMNS.

    ``email`` is kept exactly as given, ``signup_at`` is parsed to UTC (empty cells become null, and so
    do placeholder dates outside ``schema.EARLIEST_TIME``..``LATEST_TIME`` such as 0001-01-01) and
    optional columns the input lacks are all-null. Every other input column follows as text under its
    own header, in input order. ``encoding`` names the codec of a CSV that is neither UTF-8 nor UTF-16
    with a byte-order mark. Raises InputError (MissingColumnError when ``email`` is absent, and when
    a column's values are plainly of another kind: :mod:`listkit.sanity`).
    """
    raw = load_table(source, encoding=encoding)
    found, extras = resolve_headers(raw.name, raw.headers, SUBSCRIBER_ALIASES, ("email",), SUBSCRIBER_COLUMNS)
    refuse_misplaced_columns(raw.name, raw.headers, found, lambda index: _first_rows(raw.frame, index))
    texts = ("email", "first_name", "last_name", "source", "status")
    parsed = {name: _text(raw, found.get(name)) for name in texts}
    parsed["signup_at"] = _signup_times(raw, found.get("signup_at"))
    return _assemble(raw, parsed, extras, SUBSCRIBER_COLUMNS)


def read_events(source: str | Path | bytes, *, encoding: str | None = None) -> pl.DataFrame:
    """Read delivery events (CSV or Parquet) into a frame whose first columns are EVENT_COLUMNS.

    ``event``, ``bounce_type`` and ``machine_open`` mean what the ESP's words mean, as
    :func:`listkit.interpret.event_meaning` reads them from the event name and the subtype columns
    (vocabulary in :mod:`listkit.schema`; names compared by ``vocabulary_key``, so case, spaces, ``_ - .``
    and invisible characters do not matter). Unknown and empty names become ``"unknown"``; ``event_raw``
    keeps the input. ``bounce_type`` is hard, soft or block on bounces, else null. Every event needs a
    timestamp within the readable span (``schema.EARLIEST_TIME``..``LATEST_TIME``). Other columns follow
    as text, as for :func:`read_subscribers`; swapped or misnamed columns are refused as there.
    """
    raw = load_table(source, encoding=encoding)
    plan = _EventPlan.from_sample(raw.name, raw.headers, raw.frame.dtypes, raw.frame.head(TIME_SAMPLE_ROWS))
    return plan.canonical(raw.frame, first_row=1)


def scan_events(
    source: str | Path, *, encoding: str | None = None, scratch: str | Path | None = None
) -> pl.LazyFrame:
    """:func:`read_events` for logs larger than memory: the same rows, as a LazyFrame over Parquet files.

    The log (CSV, gzip-compressed CSV or Parquet) is read once, in chunks of :data:`CHUNK_ROWS` rows,
    each canonicalised exactly as :func:`read_events` does and written to Parquet files in a new folder
    inside ``scratch`` (default: the system's temporary folder), so memory depends on the chunk, not on
    the log; every later pass reads those files (only the columns it needs). The rows are stored in
    parts (about :data:`~listkit.streaming.BATCH_ROWS` events or fewer each) by a hash of the address,
    and the frame has one more column, :data:`~listkit.streaming.PART_COLUMN` (``log_part``), the part
    of each row: all the events of an address are in one part, so the passes aggregate whole parts and
    never merge an address's results. Rows come part by part (in file order within a part): sort by
    ``source_row`` for the file's order. The folder is removed when the process exits; pass ``scratch``
    and remove it yourself to free the space sooner. Raises :class:`~listkit.errors.InputError` as
    :func:`read_events` does, with the same row numbers.
    """
    return scan_stored(store_events(source, encoding=encoding, scratch=scratch))


def store_events(
    source: str | Path, *, encoding: str | None = None, scratch: str | Path | None = None
) -> Path:
    """The first half of :func:`scan_events`: the log read once into Parquet files in parts, in a new
    folder inside ``scratch``, which is returned (removed when the process exits). Other engines
    read the folder in place (:func:`listkit.engines.engine_where`)."""
    stream = stream_table(source, encoding=encoding, rows=CHUNK_ROWS)
    folder = Path(tempfile.mkdtemp(prefix="listkit-events-", dir=scratch))
    try:
        empty = pl.DataFrame([pl.Series(f"f{i}", [], dtype=dtype) for i, dtype in enumerate(stream.dtypes)])
        first = next(stream.chunks, empty)
        plan = _EventPlan.from_sample(
            stream.name, stream.headers, stream.dtypes, first.head(TIME_SAMPLE_ROWS)
        )
        parts = parts_for(stream.estimated_rows(first))
        part = (pl.col("email").hash() % parts).cast(pl.UInt32).alias(PART_COLUMN)
        row = 1
        for index, chunk in enumerate(itertools.chain([first], stream.chunks)):
            frame = plan.canonical(chunk, first_row=row)
            row += chunk.height
            # One file per part of each chunk (folders log_part=NN, read back as the column), split as
            # it is written. lz4 and no statistics: a third faster to write than the defaults (zstd),
            # for files that live one run and are only ever read whole or a part at a time.
            target = pl.PartitionBy(
                folder,
                key=part,
                include_key=False,
                file_path_provider=functools.partial(_part_file, chunk=index),
            )
            frame.lazy().sink_parquet(target, compression="lz4", statistics=False, mkdir=True)
        if not any(folder.rglob("*.parquet")):  # a log without rows: its empty frame gives the columns
            (folder / f"{PART_COLUMN}=00").mkdir(exist_ok=True)
            frame.write_parquet(folder / f"{PART_COLUMN}=00" / "chunk-000000-0.parquet")
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, InputError):  # a binary file or an unmatched quote is the error, as loaded
            stream.verify()
        raise
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def scan_stored(folder: Path) -> pl.LazyFrame:
    """The log :func:`store_events` wrote into ``folder``, as a LazyFrame (with ``log_part``)."""
    return pl.scan_parquet(
        folder / "**" / "*.parquet", hive_partitioning=True, hive_schema={PART_COLUMN: pl.UInt32}
    )


def _part_file(args: Any, *, chunk: int) -> str:
    """Where a chunk's rows of one part go (``args``: polars' FileProviderArgs)."""
    number = args.partition_keys.item(0, 0)
    return f"{PART_COLUMN}={number:02d}/chunk-{chunk:06d}-{args.index_in_partition}.parquet"


@dataclass(frozen=True)
class _EventPlan:
    """How an event log's columns become the canonical ones, decided once from its headers and first rows.

    ``found`` maps canonical names to column indexes, ``extras`` are the pass-through columns, and
    ``spellings`` the timestamp spellings its sample calls for (they change the cost, never a result).
    """

    name: str
    headers: list[str]
    dtypes: list[pl.DataType]
    found: dict[str, int]
    extras: list[int]
    spellings: Spellings

    @classmethod
    def from_sample(
        cls, name: str, headers: list[str], dtypes: list[pl.DataType], sample: pl.DataFrame
    ) -> _EventPlan:
        """Match and check the columns (refusing what read_events refuses) on the log's first rows."""
        refuse_untextual_columns(name, headers, dtypes)
        required = ("email", "event", "timestamp")
        found, extras = resolve_headers(name, headers, EVENT_ALIASES, required, EVENT_COLUMNS)

        def first_rows(index: int) -> pl.Series:
            return _first_rows(sample, index)

        found, extras = choose_event_column(headers, found, extras, first_rows)
        refuse_misplaced_columns(name, headers, found, first_rows)
        stamp = sample.to_series(found["timestamp"])
        spellings = Spellings() if stamp.dtype.is_temporal() else choose_spellings(stamp)
        return cls(name, headers, dtypes, found, extras, spellings)

    def canonical(self, chunk: pl.DataFrame, *, first_row: int) -> pl.DataFrame:
        """The canonical frame of ``chunk`` (columns f0, f1...), whose first row is row ``first_row``.

        Refuses the first event whose timestamp is empty, unreadable or outside the readable span.
        """
        columns = chunk.columns

        def text(name: str) -> pl.Expr:
            if name not in self.found:
                return pl.lit(None, dtype=pl.String)
            return text_of(pl.col(columns[self.found[name]]), chunk.schema[columns[self.found[name]]])

        stamp = columns[self.found["timestamp"]]
        time_steps, timestamp = read_times(pl.col(stamp), chunk.schema[stamp], self.spellings)
        meaning_steps, meaning = event_meaning(self.headers, self.found, _mapper(chunk))
        canonical = {
            "source_row": pl.col(_ROW),
            "email": text("email"),
            "event_raw": text("event"),
            "timestamp": timestamp,
            "campaign": text("campaign"),
            "smtp_status": text("smtp_status"),
            "user_agent": text("user_agent"),
            **meaning,
        }
        helped = chunk.lazy().with_row_index(_ROW, offset=first_row)
        for step in [*time_steps, *meaning_steps]:
            helped = helped.with_columns(**step)
        frame = helped.select(
            *(canonical[name].cast(dtype).alias(name) for name, dtype in EVENT_COLUMNS.items()),
            *(text_of(pl.col(columns[i]), chunk.dtypes[i]).alias(self.headers[i]) for i in self.extras),
            within_span(timestamp).fill_null(False).alias(_READ),
        ).collect()
        times_read = frame.drop_in_place(_READ)  # in place: a drop copied the frame (20 ms a chunk)
        if not times_read.all():
            self._refuse_time(chunk, frame, times_read, first_row)
        return frame

    def _refuse_time(
        self, chunk: pl.DataFrame, frame: pl.DataFrame, times_read: pl.Series, first_row: int
    ) -> None:
        """Raise the InputError of the first row of ``chunk`` whose timestamp was not read (error path)."""
        index = int(times_read.not_().arg_true()[0])
        column = chunk.to_series(self.found["timestamp"])
        typed = column.dtype.is_temporal()  # never cast to text: far outside the calendar, polars panics
        given = None if typed else text_series(column)[index]
        present = column.is_not_null()[index]
        readable = frame["timestamp"].is_not_null()[index]  # never the value: it may not be a Python datetime
        outside = readable or (typed and present)  # a time, outside the span
        problem, hint = time_problem(given, outside=outside)
        header = self.headers[self.found["timestamp"]]
        raise InputError(problem, file=self.name, row=first_row + index, column=header, hint=hint)


def _mapper(chunk: pl.DataFrame) -> Mapper:
    """Each distinct value of a column translated once, then a hash replace of the column (in memory)."""

    def mapped(index: int, table: Mapping, dtype: pl.DataType) -> pl.Expr:
        header, source_dtype = chunk.columns[index], chunk.dtypes[index]
        column = pl.col(header)
        if source_dtype == dtype:
            return column
        distinct = text_series(chunk.to_series(index)).drop_nulls().unique().to_frame("v")
        distinct = distinct.select(recognised(pl.col("v"), table)).to_series().drop_nulls()
        values = translate(distinct, table, dtype)
        text = text_of(column, source_dtype)
        return text.replace_strict(distinct, values, default=None, return_dtype=dtype)

    return mapped


def _assemble(
    raw: RawTable, parsed: dict[str, pl.Series], extras: list[int], output: Mapping
) -> pl.DataFrame:
    """Put the canonical columns in schema order, then the pass-through columns in input order."""
    parsed["source_row"] = pl.int_range(1, raw.frame.height + 1, dtype=pl.UInt32, eager=True)
    columns = [parsed[name].cast(dtype).alias(name) for name, dtype in output.items()]
    columns += [_text(raw, index).alias(raw.headers[index]) for index in extras]
    return pl.DataFrame(columns)


def _first_rows(frame: pl.DataFrame, index: int) -> pl.Series:
    """The first SAMPLE_ROWS values of a column, in its own dtype (for tests of what they look like)."""
    return frame.to_series(index).head(SAMPLE_ROWS)


def _text(raw: RawTable, index: int | None) -> pl.Series:
    """Return a column as text (all-null when absent); CSV columns already are, Parquet ones are cast."""
    if index is None:
        return pl.repeat(None, raw.frame.height, dtype=pl.String, eager=True)
    return text_series(raw.frame.to_series(index))


def _signup_times(raw: RawTable, index: int | None) -> pl.Series:
    """The sign-up column as UTC timestamps, read by :func:`~listkit.times.read_times` as event times are.

    A value no spelling reads is refused; an empty one, or one outside the readable span (a CRM's
    placeholder such as 0001-01-01), is null. (Event times are read by :class:`_EventPlan`, which
    refuses those too.)
    """
    if index is None:
        return pl.repeat(None, raw.frame.height, dtype=TIMESTAMP, eager=True)
    column = raw.frame.to_series(index)
    typed = column.dtype.is_temporal()  # never cast to text: far outside the calendar, polars panics
    text = pl.repeat(None, column.len(), dtype=pl.String, eager=True) if typed else _text(raw, index)
    spellings = Spellings() if typed else choose_spellings(text.head(TIME_SAMPLE_ROWS))
    steps, parsed = read_times(pl.col("value"), column.dtype, spellings)
    checked = pl.DataFrame({"value": column, "text": text})
    for step in steps:
        checked = checked.with_columns(**step)
    checked = checked.select(
        parsed := parsed.alias("parsed"),
        read=within_span(parsed).fill_null(False),
        outside=parsed.is_not_null() | (pl.col("value").is_not_null() & typed),  # a time, outside the span
        blank=pl.col("value").is_null() | (pl.col("text").str.strip_chars() == ""),
    )
    if checked["read"].all():
        return checked["parsed"]
    refused = ~checked["read"] & ~checked["blank"] & ~checked["outside"]
    if refused.any():
        first = int(refused.arg_true()[0])
        problem, hint = time_problem(text[first], outside=checked["outside"][first])
        raise InputError(problem, file=raw.name, row=first + 1, column=raw.headers[index], hint=hint)
    return checked.select(pl.when("read").then("parsed")).to_series()
