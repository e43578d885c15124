"""Read subscriber lists and delivery events into the canonical frames of :mod:`listkit.schema`.

Inputs are CSV (comma, semicolon or tab, sniffed from the header line; UTF-8 with or without BOM,
UTF-16 with BOM, or any codec named by ``encoding``) or Parquet (known by its ``PAR1`` magic bytes).
CSV cells are parsed as text by pyarrow, which, unlike polars' reader, refuses rows with too few
fields as well as too many; everything after that is vectorised polars, so a 30-million-row events
file never meets a Python loop.

Conventions: an empty CSV cell (quoted or not) is null and every other cell is kept byte for byte
(no trimming); blank lines are not rows; ``source_row`` counts data rows from 1, so a quoted field
holding a line break does not shift it. Any problem with the input raises
:class:`~listkit.errors.InputError` naming the file and, where known, the row and column.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from listkit.cells import header_label, refuse_untextual_columns, text_of, text_series
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
from listkit.times import TIME_SAMPLE_ROWS, Spellings, choose_spellings, read_times, time_problem, within_span

__all__ = ["read_events", "read_subscribers"]

_HEAD_BYTES = 1 << 20  # the header line must end within this many bytes
_CHUNK_BYTES = 16 << 20
_BLOCK_BYTES = 8 << 20  # pyarrow needs each record to fit in one block...
_MAX_BLOCK_BYTES = (1 << 31) - 1  # ...and counts a block's bytes in 32 bits
_SEPARATORS = (",", ";", "\t")  # preferred in this order when the header line is ambiguous
_HEADER_TOKENS = re.compile(rb'["\r\n]')
_QUOTED = re.compile(rb'"[^"]*"')
_RAGGED = re.compile(r"(?:Row #(?P<row>\d+): )?Expected \d+ columns, got (?P<got>\d+)")  # pyarrow's words
_ENCODING_HINT = "pass --encoding with the file's real encoding (for example --encoding cp1252)"


def read_subscribers(source: str | Path | bytes, *, encoding: str | None = None) -> pl.DataFrame:
    """Read a subscriber list (CSV or Parquet) into a frame whose first columns are SUBSCRIBER_COLUMNS.

    ``email`` is kept exactly as given, ``signup_at`` is parsed to UTC (empty cells become null, and so
    do placeholder dates outside ``schema.EARLIEST_TIME``..``LATEST_TIME`` such as 0001-01-01) and
    optional columns the input lacks are all-null. Every other input column follows as text under its
    own header, in input order. ``encoding`` names the codec of a CSV that is neither UTF-8 nor UTF-16
    with a byte-order mark. Raises InputError (MissingColumnError when ``email`` is absent, and when
    a column's values are plainly of another kind: :mod:`listkit.sanity`).
    """
    raw = _load(source, encoding)
    found, extras = resolve_headers(raw.name, raw.headers, SUBSCRIBER_ALIASES, ("email",), SUBSCRIBER_COLUMNS)
    refuse_misplaced_columns(raw.name, raw.headers, found, lambda index: _first_rows(raw, index))
    texts = ("email", "first_name", "last_name", "source", "status")
    parsed = {name: _text(raw, found.get(name)) for name in texts}
    parsed["signup_at"] = _timestamps(raw, found.get("signup_at"), required=False)
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
    raw = _load(source, encoding)
    found, extras = resolve_headers(
        raw.name, raw.headers, EVENT_ALIASES, ("email", "event", "timestamp"), EVENT_COLUMNS
    )
    found, extras = choose_event_column(raw.headers, found, extras, lambda index: _first_rows(raw, index))
    refuse_misplaced_columns(raw.name, raw.headers, found, lambda index: _first_rows(raw, index))
    steps, meaning = event_meaning(raw.headers, found, _mapper(raw))
    helped = raw.frame
    for step in steps:
        helped = helped.with_columns(**step)
    meaning = helped.select(**meaning)
    parsed = {
        "email": _text(raw, found["email"]),
        "event_raw": _text(raw, found["event"]),
        "timestamp": _timestamps(raw, found["timestamp"], required=True),
        "campaign": _text(raw, found.get("campaign")),
        "smtp_status": _text(raw, found.get("smtp_status")),
        "user_agent": _text(raw, found.get("user_agent")),
        **meaning.to_dict(),
    }
    return _assemble(raw, parsed, extras, EVENT_COLUMNS)


def _mapper(raw: _Raw) -> Mapper:
    """The in-memory Mapper: each distinct value translated once, then a hash replace of the column."""

    def mapped(index: int, table: Mapping, dtype: pl.DataType) -> pl.Expr:
        column = pl.col(raw.frame.columns[index])
        if raw.frame.schema[raw.frame.columns[index]] == dtype:
            return column
        distinct = (
            _text(raw, index).drop_nulls().unique().to_frame("v").select(recognised(pl.col("v"), table))
        )
        distinct = distinct.to_series().drop_nulls()
        values = translate(distinct, table, dtype)
        text = text_of(column, raw.frame.schema[raw.frame.columns[index]])
        return text.replace_strict(distinct, values, default=None, return_dtype=dtype)

    return mapped


@dataclass(frozen=True)
class _Source:
    """Where the bytes come from: a file (read lazily, it may be gigabytes) or bytes in memory."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def head(self) -> bytes:
        return next(self.chunks(), b"")[:_HEAD_BYTES]

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        with self.path.open("rb") as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                yield chunk

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def arrow(self) -> pa.NativeFile:
        return pa.memory_map(str(self.path)) if self.data is None else pa.BufferReader(self.data)


@dataclass(frozen=True)
class _Raw:
    """An input as read: its name for messages, its headers and a frame with columns f0, f1..."""

    name: str
    headers: list[str]
    frame: pl.DataFrame


def _load(source: str | Path | bytes, encoding: str | None) -> _Raw:
    """Read ``source`` as Parquet or CSV, turning every read failure into an InputError."""
    if isinstance(source, bytes | bytearray | memoryview):
        src = _Source("<bytes>", data=bytes(source))
    else:
        src = _Source(str(source), path=Path(source))
        if not src.path.exists():
            raise InputError("file not found", file=src.name, hint="check the path")
        if not src.path.is_file():
            raise InputError("this is not a file", file=src.name, hint="give the path of a CSV or Parquet")
    try:
        head = src.head()
        if not head:
            raise InputError("the file is empty (0 bytes)", file=src.name, hint="export it again")
        return _read_parquet(src) if head.startswith(b"PAR1") else _read_csv(src, head, encoding)
    except OSError as exc:
        raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=src.name) from None


def _read_parquet(src: _Source) -> _Raw:
    try:
        frame = pl.read_parquet(src.path if src.data is None else io.BytesIO(src.data))
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, pa.ArrowException, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"the file starts like Parquet but cannot be read ({reason})",
            file=src.name,
            hint="export it again, or as CSV",
        ) from None
    headers = frame.columns
    refuse_untextual_columns(src.name, headers, frame.dtypes)
    return _Raw(src.name, headers, frame.rename({header: f"f{i}" for i, header in enumerate(headers)}))


def _read_csv(src: _Source, head: bytes, encoding: str | None) -> _Raw:
    """Decode if needed, refuse binary content, sniff the header, then parse every row as text."""
    hint = "name a Python codec such as utf-8, cp1252 or utf-16"
    try:
        info = codecs.lookup(encoding) if encoding else None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", file=src.name, hint=hint) from None
    if info is not None and not info._is_text_encoding:  # the codec registry's own flag
        # rot13, base64, zlib...: bytes-to-bytes or str-to-str codecs, no text encoding.
        raise InputError(f"{encoding!r} is not a text encoding", file=src.name, hint=hint)
    codec = info.name if info is not None else None
    if codec is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"  # Excel's "Unicode Text"
    if codec not in (None, "utf-8", "utf-8-sig"):
        src = _Source(src.name, data=_transcode(b"".join(src.chunks()), codec, src.name))
        head = src.head()
    has_nul, quotes = False, 0
    for chunk in src.chunks():
        has_nul = has_nul or b"\0" in chunk
        quotes += chunk.count(b'"')
    if has_nul:
        raise InputError(
            "the file is binary, not text (it contains NUL bytes)",
            file=src.name,
            hint="export it as CSV or Parquet, or pass --encoding utf-16 if it is UTF-16 without a BOM",
        )
    headers, separator, header_end = _sniff_header(head, src.name, whole=len(head) < _HEAD_BYTES)
    if len(head) < _HEAD_BYTES and not head[header_end:].strip(b"\r\n"):
        empty = {f"f{i}": pl.Series([], dtype=pl.String) for i in range(len(headers))}
        return _Raw(src.name, headers, pl.DataFrame(empty))  # a header without rows is an empty input
    table = _parse_rows(src, headers, separator)
    if table.num_columns != len(headers):  # pyarrow and the csv module read the header differently
        raise InputError("the header line is malformed", file=src.name, hint="check its quotes")
    if quotes % 2:  # pyarrow reads an unclosed quote in the last column to the end of the file
        raise InputError(
            'a double quote is not matched (the file has an odd number of " characters)',
            file=src.name,
            hint="close every quoted field and double each quote inside one, or rows run together",
        )
    return _Raw(src.name, headers, pl.from_arrow(table.slice(1)))  # row 0 is the header line


def _transcode(data: bytes, codec: str, name: str) -> bytes:
    """Decode with Python's codec and hand UTF-8 to the parser, whose only encoding is UTF-8."""
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = f"byte {exc.start} (line {line}) is not valid {codec}"
        raise InputError(problem, file=name, hint="check the --encoding value") from None
    except UnicodeError:  # codecs such as punycode raise the base class, without a position
        hint = "check the --encoding value"
        raise InputError(f"the file is not valid {codec}", file=name, hint=hint) from None
    return text.removeprefix("\ufeff").encode("utf-8")


def _sniff_header(head: bytes, name: str, *, whole: bool) -> tuple[list[str], str, int]:
    """Return the header names, the separator and the byte offset where the header line ends.

    The separator is whichever of comma, semicolon and tab occurs most often outside quotes in the
    header line; a header with none of them is a one-column file.
    """
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    end, in_quotes = None, False
    for token in _HEADER_TOKENS.finditer(head, start):
        if token.group() == b'"':
            in_quotes = not in_quotes
        elif not in_quotes:
            end = token.start()
            break
    if end is None and (in_quotes or not whole):
        hint = "check the header for a quote that is not closed"
        raise InputError(f"the header line does not end within {_HEAD_BYTES} bytes", file=name, hint=hint)
    end = len(head) if end is None else end
    try:
        line = head[start:end].decode("utf-8")
        unquoted = _QUOTED.sub(b"", head[start:end])
        separator = max(_SEPARATORS, key=lambda sep: unquoted.count(sep.encode()))
        headers = next(csv.reader(io.StringIO(line, newline=""), delimiter=separator), [])
    except (UnicodeDecodeError, csv.Error):
        raise InputError("the header line is not UTF-8 text", file=name, hint=_ENCODING_HINT) from None
    if not headers:
        raise InputError("the first line is blank", file=name, hint="the file must start with a header row")
    return headers, separator, end


def _parse_rows(src: _Source, headers: list[str], separator: str) -> pa.Table:
    """Parse every record (header included) as text; refuse ragged rows and text that is not UTF-8.

    pyarrow needs each record to fit in one block: a file with a longer field (a 50 MB cell) is
    parsed again with blocks large enough for it (the whole file at most), as fast as before per byte.
    """
    block = _BLOCK_BYTES
    while True:
        try:
            return _arrow_csv(src, len(headers), separator, pa.string(), threads=True, block=block)
        except pa.ArrowInvalid as exc:
            message = str(exc)
        if "straddl" not in message:  # pyarrow's words for a record longer than a block
            break
        if block >= min(src.size(), _MAX_BLOCK_BYTES):
            raise InputError(
                f"a record is longer than {_MAX_BLOCK_BYTES >> 20:,} MB, more than listkit can read in CSV",
                file=src.name,
                hint="check for a quote that is not closed, or export the file as Parquet",
            )
        block = min(block * 8, src.size() + 1, _MAX_BLOCK_BYTES)
    ragged = _RAGGED.search(message)
    if ragged and not ragged.group("row"):  # only a single-threaded parse numbers the rows
        try:
            _arrow_csv(src, len(headers), separator, pa.string(), threads=False, block=block)
        except pa.ArrowInvalid as exc:
            ragged = _RAGGED.search(str(exc)) or ragged
    if ragged:
        found, expected = _fields(int(ragged.group("got"))), _fields(len(headers))
        raise InputError(
            f"the row has {found} but the header has {expected}",
            file=src.name,
            row=int(ragged.group("row")) - 1 if ragged.group("row") else None,  # record 1 is the header
            hint=f"quote every field holding the separator {separator!r}, a quote or a line break",
        )
    if "UTF8" in message:
        row, column = _first_bad_utf8(src, len(headers), separator, block)
        column_name = header_label(headers[column]) if column is not None else None
        raise InputError(
            "the text is not valid UTF-8", file=src.name, row=row, column=column_name, hint=_ENCODING_HINT
        )
    raise InputError(f"the file cannot be parsed as CSV ({message.splitlines()[0]})", file=src.name)


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


def _arrow_csv(
    src: _Source, width: int, sep: str, kind: pa.DataType, *, threads: bool, block: int = _BLOCK_BYTES
) -> pa.Table:
    # Generated names (f0, f1...) let duplicate or blank headers through to be reported by name later.
    read = pacsv.ReadOptions(autogenerate_column_names=True, use_threads=threads, block_size=block)
    parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types={f"f{i}": kind for i in range(width)},
        null_values=[""],  # only the empty cell is null; "NA", "null" and the like stay text
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    with src.arrow() as stream:
        return pacsv.read_csv(stream, read_options=read, parse_options=parse, convert_options=convert)


def _first_bad_utf8(src: _Source, width: int, sep: str, block: int) -> tuple[int | None, int | None]:
    """Return (row, column index) of the first cell that is not UTF-8; error path only."""
    table = _arrow_csv(src, width, sep, pa.binary(), threads=True, block=block)
    bad: list[tuple[int, int]] = []
    for column_index, column in enumerate(table.columns):
        try:
            column.combine_chunks().view(pa.string()).validate(full=True)
        except pa.ArrowInvalid as exc:
            match = re.search(r"index (\d+)", str(exc))
            bad.append((int(match.group(1)) if match else 0, column_index))
    return min(bad, default=(None, None))  # table row 0 is the header, so the index is the row


def _assemble(raw: _Raw, parsed: dict[str, pl.Series], extras: list[int], output: Mapping) -> pl.DataFrame:
    """Put the canonical columns in schema order, then the pass-through columns in input order."""
    parsed["source_row"] = pl.int_range(1, raw.frame.height + 1, dtype=pl.UInt32, eager=True)
    columns = [parsed[name].cast(dtype).alias(name) for name, dtype in output.items()]
    columns += [_text(raw, index).alias(raw.headers[index]) for index in extras]
    return pl.DataFrame(columns)


def _first_rows(raw: _Raw, index: int) -> pl.Series:
    """The first SAMPLE_ROWS values of a column, in its own dtype (for tests of what they look like)."""
    return raw.frame.to_series(index).head(SAMPLE_ROWS)


def _text(raw: _Raw, index: int | None) -> pl.Series:
    """Return a column as text (all-null when absent); CSV columns already are, Parquet ones are cast."""
    if index is None:
        return pl.repeat(None, raw.frame.height, dtype=pl.String, eager=True)
    return text_series(raw.frame.to_series(index))


def _timestamps(raw: _Raw, index: int | None, *, required: bool) -> pl.Series:
    """Parse a column to UTC timestamps with :func:`~listkit.times.read_times`, as scan_events does.

    A value no spelling reads is refused, and so is an empty one if ``required``. Outside the readable
    span, a required (event) time is refused like an unreadable one; an optional one (a sign-up date
    such as 0001-01-01, a CRM's placeholder) is null.
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
    refused = ~checked["read"] if required else ~checked["read"] & ~checked["blank"] & ~checked["outside"]
    if refused.any():
        first = int(refused.arg_true()[0])
        problem, hint = time_problem(text[first], outside=checked["outside"][first])
        raise InputError(problem, file=raw.name, row=first + 1, column=raw.headers[index], hint=hint)
    return checked.select(pl.when("read").then("parsed")).to_series()
