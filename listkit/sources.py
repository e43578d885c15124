"""Bytes to text columns: how an input file is opened, sniffed and parsed, whole or chunk by chunk.

Inputs are CSV (comma, semicolon or tab, sniffed from the header line; UTF-8 with or without BOM,
UTF-16 with BOM, or any codec named by ``encoding``; gzip-compressed or not) or Parquet (known by its
``PAR1`` magic bytes). CSV cells are parsed as text by pyarrow, which, unlike polars' reader, refuses
rows with too few fields as well as too many. :func:`load_table` reads a file whole;
:func:`stream_table` reads it in chunks of a bounded number of rows with the same parser and the same
refusals, so a log larger than memory is read in memory proportional to a chunk.

Conventions: an empty CSV cell (quoted or not) is null and every other cell is kept byte for byte
(no trimming); blank lines are not rows. Columns are named ``f0``, ``f1``... (duplicate or blank
headers reach the readers, which name them in their refusals); ``headers`` holds the real names.
Any problem with the file raises :class:`~listkit.errors.InputError` naming it and, where known, the
row and column.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from listkit.cells import header_label, refuse_untextual_columns
from listkit.errors import InputError

__all__ = ["RawStream", "RawTable", "load_table", "stream_table"]

_HEAD_BYTES = 1 << 20  # the header line must end within this many bytes
_CHUNK_BYTES = 16 << 20
_QUOTE = ord('"')
_BLOCK_BYTES = 8 << 20  # pyarrow needs each record to fit in one block...
_MAX_BLOCK_BYTES = (1 << 31) - 1  # ...and counts a block's bytes in 32 bits
_GZIP_MAGIC = b"\x1f\x8b"
_SEPARATORS = (",", ";", "\t")  # preferred in this order when the header line is ambiguous
_HEADER_TOKENS = re.compile(rb'["\r\n]')
_QUOTED = re.compile(rb'"[^"]*"')
_RAGGED = re.compile(r"(?:Row #(?P<row>\d+): )?Expected \d+ columns, got (?P<got>\d+)")  # pyarrow's words
_ENCODING_HINT = "pass --encoding with the file's real encoding (for example --encoding cp1252)"


@dataclass(frozen=True)
class RawTable:
    """An input read whole: its name for messages, its headers, and a frame of columns ``f0``, ``f1``..."""

    name: str
    headers: list[str]
    frame: pl.DataFrame


@dataclass(frozen=True)
class RawStream:
    """An input read in chunks: its name, its headers, its column dtypes, and the chunks in file order.

    Each chunk is a frame of columns ``f0``, ``f1``... of at most the requested number of rows; the
    rows of all chunks are the rows :func:`load_table` gives, in the same order. Reading stops with an
    :class:`~listkit.errors.InputError` at the chunk where the file turns out unreadable; a file
    refused whole (binary, an unmatched quote: :attr:`verify`) is refused when its check is done,
    at the latest after the last chunk.
    """

    name: str
    headers: list[str]
    dtypes: list[pl.DataType]
    chunks: Iterator[pl.DataFrame]
    rows: int | None = None  #: the rows of the whole input when its file says (Parquet)
    text_bytes: int | None = None  #: the bytes of text it holds (of a gzip file's, an estimate)
    #: Raises the InputError of a file whose content is refused whole (binary, an unmatched quote),
    #: once its check is done. Its chunks call it when they end or fail; a reader whose own check of
    #: a chunk fails calls it too, so that this error wins, as it does when the file is loaded.
    verify: Callable[[], None] = lambda: None

    def estimated_rows(self, first: pl.DataFrame) -> int:
        """The input's rows: exact for Parquet, else its bytes over the bytes per row of ``first``."""
        if self.rows is not None:
            return self.rows
        if first.is_empty() or not self.text_bytes:
            return first.height
        # Each cell's text and its separator: within a few percent of the CSV bytes (quotes aside).
        text = first.select(pl.sum_horizontal(pl.all().cast(pl.String).str.len_bytes().fill_null(0) + 1))
        per_row = max(text.to_series().mean() or 1.0, 1.0)
        return int(self.text_bytes / per_row)


def load_table(source: str | Path | bytes, *, encoding: str | None = None) -> RawTable:
    """Read ``source`` (a path, or the file's bytes) whole; every read failure is an InputError."""
    src = _source(source)
    try:
        if src.is_parquet():
            return _read_parquet(src)
        csv_file = _CsvFile.open(src, encoding)
        table = csv_file.table()
        return RawTable(csv_file.src.name, csv_file.headers, table)
    except OSError as exc:
        raise _unreadable(src, exc) from None


def stream_table(source: str | Path, *, encoding: str | None = None, rows: int = 1_000_000) -> RawStream:
    """Open ``source`` and read it in chunks of at most ``rows`` rows (see :class:`RawStream`).

    The header is read and checked now (a missing file or a malformed header is refused at once); the
    rows as the chunks are taken. Whether the file is binary or has an unmatched quote is checked in a
    thread beside the parse (see :attr:`RawStream.verify`).
    """
    src = _source(source)
    try:
        if src.is_parquet():
            return _stream_parquet(src, rows)
        csv_file = _CsvFile.open(src, encoding, check_now=False)
        dtypes = [pl.String()] * len(csv_file.headers)
        chunks = _prefetched(csv_file.chunks(rows))
        return RawStream(
            csv_file.src.name,
            csv_file.headers,
            dtypes,
            chunks,
            text_bytes=csv_file.src.text_bytes(),
            verify=csv_file.verify,
        )
    except OSError as exc:
        raise _unreadable(src, exc) from None


def _prefetched(chunks: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """``chunks``, the next one parsed by a thread while the caller works on the current one.

    pyarrow's parser and polars both release the GIL, so parsing (one core) overlaps the caller's
    work on the chunk; at most two chunks are held. An error is raised where its chunk would be.
    """
    queue: Queue = Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: tuple) -> bool:
        """Put ``item`` in the queue unless the consumer has stopped; False once it has."""
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not hand_over((chunk, None)):
                    return
            hand_over((None, None))
        except BaseException as error:  # handed to the consumer, raised there
            hand_over((None, error))

    worker = threading.Thread(target=produce, name="listkit-csv-reader", daemon=True)
    worker.start()
    try:
        while True:
            chunk, error = queue.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()  # a consumer that stops early (an error downstream) lets the thread end
        worker.join()


def _check_content(src: _Source, content: Future) -> None:
    """Set ``content`` to "binary" (a NUL byte), "quote" (an odd number of double quotes) or None.

    An error reading the file is set as the future's exception.
    """
    try:
        has_nul, quotes = False, 0
        for chunk in src.chunks():
            has_nul = has_nul or b"\0" in chunk
            # numpy counts twice as fast as bytes.count (0.5 s against 1.7 s for 2.5 GB), a slice at a
            # time: a file held in memory (transcoded) comes as one chunk.
            view = memoryview(chunk)
            for start in range(0, len(view), _CHUNK_BYTES):
                block = np.frombuffer(view[start : start + _CHUNK_BYTES], dtype=np.uint8)
                quotes += int(np.count_nonzero(block == _QUOTE))
        # pyarrow reads an unclosed quote in the last column to the end of the file.
        content.set_result("binary" if has_nul else "quote" if quotes % 2 else None)
    except OSError as error:  # raised where the result is asked for
        content.set_exception(_unreadable(src, error))
    except BaseException as error:
        content.set_exception(error)


def _raise_problem(content: Future, name: str) -> None:
    """Raise what reading the file ``name`` for its content check raised, or the refusal of a binary file."""
    if content.result() == "binary":
        raise InputError(
            "the file is binary, not text (it contains NUL bytes)",
            file=name,
            hint="export it as CSV or Parquet, or pass --encoding utf-16 if it is UTF-16 without a BOM",
        )


def _unreadable(src: _Source, exc: OSError) -> InputError:
    return InputError(f"the file cannot be read ({exc.strerror or exc})", file=src.name)


@dataclass(frozen=True)
class _Source:
    """Where the bytes come from: a file (read lazily, it may be gigabytes) or bytes in memory.

    A gzip-compressed file is read through its decompression, in every reading.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None
    compressed: bool = False

    def head(self) -> bytes:
        return next(self.chunks(), b"")[:_HEAD_BYTES]

    def chunks(self) -> Iterator[bytes]:
        try:
            if self.data is not None:
                yield gzip.decompress(self.data) if self.compressed else self.data
                return
            with (gzip.open if self.compressed else open)(self.path, "rb") as stream:
                while chunk := stream.read(_CHUNK_BYTES):
                    yield chunk
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InputError(
                f"the gzip file is damaged ({exc})", file=self.name, hint="compress or export it again"
            ) from None

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def text_bytes(self) -> int:
        """The bytes of the text: the size, or for gzip its trailer's length (which counts modulo 4 GiB)
        or four times the compressed size, whichever is larger (an estimate, for chunk planning only)."""
        size = self.size()
        if not self.compressed:
            return size
        if self.data is not None:
            trailer = self.data[-4:]
        else:
            with self.path.open("rb") as handle:
                handle.seek(max(size - 4, 0))
                trailer = handle.read(4)
        return max(int.from_bytes(trailer, "little"), 4 * size)

    def arrow(self, *, whole: bool) -> pa.NativeFile:
        """The bytes as pyarrow reads them; mapped into memory only when they are read ``whole``
        (the pages of a mapped file count as the process's memory as they are read)."""
        if self.data is not None:
            raw = pa.BufferReader(self.data)
        else:
            mapped = whole and not self.compressed
            raw = pa.memory_map(str(self.path)) if mapped else pa.OSFile(str(self.path))
        return pa.CompressedInputStream(raw, "gzip") if self.compressed else raw

    def is_parquet(self) -> bool:
        return not self.compressed and self.head().startswith(b"PAR1")


def _source(source: str | Path | bytes) -> _Source:
    """The :class:`_Source` of a path or of bytes, refusing a missing, non-file or empty one."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        src = _Source("<bytes>", data=data, compressed=data.startswith(_GZIP_MAGIC))
    else:
        path = Path(source)
        if not path.exists():
            raise InputError("file not found", file=str(source), hint="check the path")
        if not path.is_file():
            raise InputError("this is not a file", file=str(source), hint="give the path of a CSV or Parquet")
        try:
            with path.open("rb") as handle:
                compressed = handle.read(2) == _GZIP_MAGIC
        except OSError as exc:
            raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=str(source)) from None
        src = _Source(str(source), path=path, compressed=compressed)
    try:
        empty = not src.head()
    except OSError as exc:
        raise _unreadable(src, exc) from None
    if empty:
        raise InputError("the file is empty (0 bytes)", file=src.name, hint="export it again")
    return src


def _parquet_problem(src: _Source, exc: Exception) -> InputError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return InputError(
        f"the file starts like Parquet but cannot be read ({reason})",
        file=src.name,
        hint="export it again, or as CSV",
    )


_PARQUET_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, pa.ArrowException, ValueError)


def _read_parquet(src: _Source) -> RawTable:
    try:
        frame = pl.read_parquet(src.path if src.data is None else io.BytesIO(src.data))
    except _PARQUET_ERRORS as exc:
        raise _parquet_problem(src, exc) from None
    headers = frame.columns
    refuse_untextual_columns(src.name, headers, frame.dtypes)
    return RawTable(src.name, headers, frame.rename({header: f"f{i}" for i, header in enumerate(headers)}))


def _stream_parquet(src: _Source, rows: int) -> RawStream:
    """A Parquet file in slices of ``rows`` rows, read by polars (its dtypes are those read_parquet gives)."""
    log = pl.scan_parquet(src.path)
    try:
        schema = log.collect_schema()
        total = log.select(pl.len()).collect().item()  # from the footer
    except _PARQUET_ERRORS as exc:
        raise _parquet_problem(src, exc) from None
    headers = list(schema)
    refuse_untextual_columns(src.name, headers, list(schema.values()))
    renamed = log.rename({header: f"f{i}" for i, header in enumerate(headers)})

    def chunks() -> Iterator[pl.DataFrame]:
        for offset in range(0, total, rows):
            try:
                yield renamed.slice(offset, rows).collect()
            except _PARQUET_ERRORS as exc:
                raise _parquet_problem(src, exc) from None

    return RawStream(src.name, headers, list(schema.values()), chunks(), rows=total)


@dataclass(frozen=True)
class _CsvFile:
    """A CSV file whose encoding, bytes and header line have been checked, ready to be parsed."""

    src: _Source
    headers: list[str]
    separator: str
    empty: bool  # a header line and no rows
    content: Future  # of _check_content: "binary", "quote" or None (or the error reading the file)

    @classmethod
    def open(cls, src: _Source, encoding: str | None, *, check_now: bool = True) -> _CsvFile:
        """Decode if needed, sniff the header, refuse binary content and unmatched quotes.

        That last check reads the whole file. ``check_now=False`` runs it in a thread beside the
        parse, so that a file is read once from disk rather than twice (the parser follows the
        check through the page cache): its refusal comes from :meth:`verify`, which the chunks call.
        """
        hint = "name a Python codec such as utf-8, cp1252 or utf-16"
        try:
            info = codecs.lookup(encoding) if encoding else None
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}", file=src.name, hint=hint) from None
        if info is not None and not info._is_text_encoding:  # the codec registry's own flag
            # rot13, base64, zlib...: bytes-to-bytes or str-to-str codecs, no text encoding.
            raise InputError(f"{encoding!r} is not a text encoding", file=src.name, hint=hint)
        codec = info.name if info is not None else None
        head = src.head()
        if codec is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            codec = "utf-16"  # Excel's "Unicode Text"
        if codec not in (None, "utf-8", "utf-8-sig"):
            src = _Source(src.name, data=_transcode(b"".join(src.chunks()), codec, src.name))
            head = src.head()
        content: Future = Future()
        if check_now:
            _check_content(src, content)
        else:
            threading.Thread(
                target=_check_content, args=(src, content), name="listkit-csv-check", daemon=True
            ).start()
        try:
            headers, separator, header_end = _sniff_header(head, src.name, whole=len(head) < _HEAD_BYTES)
        except InputError:
            _raise_problem(content, src.name)  # a binary file's header is no header: say it is binary
            raise
        empty = len(head) < _HEAD_BYTES and not head[header_end:].strip(b"\r\n")
        csv_file = cls(src, headers, separator, empty, content)
        if check_now:
            csv_file.verify()
        return csv_file

    def verify(self) -> None:
        """Raise the InputError of a binary file or an unmatched quote, once the check is done."""
        _raise_problem(self.content, self.src.name)
        if self.content.result() == "quote" and not self.empty:
            raise InputError(
                'a double quote is not matched (the file has an odd number of " characters)',
                file=self.src.name,
                hint="close every quoted field and double each quote inside one, or rows run together",
            )

    def _empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame({f"f{i}": pl.Series([], dtype=pl.String) for i in range(len(self.headers))})

    def table(self) -> pl.DataFrame:
        """Every row, parsed as text (the header line left out)."""
        if self.empty:
            return self._empty_frame()  # a header without rows is an empty input
        block = _BLOCK_BYTES
        while True:
            try:
                table = self._arrow(pacsv.read_csv, threads=True, block=block)
                break
            except pa.ArrowInvalid as exc:
                block = self._larger_block(str(exc), block)
        self._check_width(table.num_columns)
        return pl.from_arrow(table.slice(1))  # row 0 is the header line

    def chunks(self, rows: int) -> Iterator[pl.DataFrame]:
        """The rows in chunks of at most ``rows``, parsed as text as :meth:`table` parses them."""
        if self.empty:
            self.verify()  # a header line with a NUL byte is still a binary file
            yield self._empty_frame()
            return
        block, done = _BLOCK_BYTES, 1  # done: records already yielded (record 0 is the header)
        try:
            while True:
                try:
                    yield from self._chunks_from(rows, block, skip=done)
                    break
                except _Restart as restart:
                    block, done = restart.block, restart.done
        except Exception:
            self.verify()  # a binary file or an unmatched quote is the error, as when loaded
            raise
        self.verify()

    def _chunks_from(self, rows: int, block: int, *, skip: int) -> Iterator[pl.DataFrame]:
        """Chunks from record ``skip`` on; a record longer than ``block`` raises :class:`_Restart`."""
        done, first, pending, pending_rows = 0, skip, [], 0  # first: the record pending starts at
        reader = None
        while True:
            try:  # opening parses the first block, so it fails as reading does
                if reader is None:
                    reader = self._arrow(pacsv.open_csv, threads=True, block=block)
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _Restart(self._larger_block(str(exc), block), first) from None
            if done == 0:
                self._check_width(batch.num_columns)
                batch = batch.slice(1)  # record 0 is the header line
                done = 1
            start = max(first - done, 0)
            done += batch.num_rows
            if start >= batch.num_rows:
                continue
            pending.append(batch.slice(start))
            pending_rows += batch.num_rows - start
            while pending_rows >= rows:  # a chunk of exactly ``rows``; the rest waits for the next
                table = pa.Table.from_batches(pending)
                yield pl.from_arrow(table.slice(0, rows))
                first += rows
                pending, pending_rows = table.slice(rows).to_batches(), pending_rows - rows
        if pending_rows:
            yield pl.from_arrow(pa.Table.from_batches(pending))

    def _check_width(self, width: int) -> None:
        if width != len(self.headers):  # pyarrow and the csv module read the header differently
            raise InputError("the header line is malformed", file=self.src.name, hint="check its quotes")

    def _arrow(self, read, *, threads: bool, block: int, kind: pa.DataType | None = None):
        """``read`` (pyarrow's read_csv or open_csv) over the file, every column as ``kind``."""
        width = len(self.headers)
        # Generated names (f0, f1...) let duplicate or blank headers through to be reported by name later.
        options = pacsv.ReadOptions(autogenerate_column_names=True, use_threads=threads, block_size=block)
        parse = pacsv.ParseOptions(delimiter=self.separator, newlines_in_values=True)
        convert = pacsv.ConvertOptions(
            column_types={f"f{i}": pa.string() if kind is None else kind for i in range(width)},
            null_values=[""],  # only the empty cell is null; "NA", "null" and the like stay text
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        stream = self.src.arrow(whole=read is pacsv.read_csv)
        return read(stream, read_options=options, parse_options=parse, convert_options=convert)

    def _larger_block(self, message: str, block: int) -> int:
        """The block size to try after pyarrow's ``message``, or the InputError that message means.

        pyarrow needs each record to fit in one block: a file with a longer field (a 50 MB cell) is
        parsed again with blocks large enough for it (the whole file at most), as fast as before per byte.
        """
        if "straddl" in message:  # pyarrow's words for a record longer than a block
            # A compressed file's size says nothing of its records: only pyarrow's limit bounds them.
            limit = _MAX_BLOCK_BYTES if self.src.compressed else min(self.src.size() + 1, _MAX_BLOCK_BYTES)
            if block >= limit:
                raise InputError(
                    f"a record is longer than {_MAX_BLOCK_BYTES >> 20:,} MB, more than listkit reads in CSV",
                    file=self.src.name,
                    hint="check for a quote that is not closed, or export the file as Parquet",
                )
            return min(block * 8, limit)
        raise self._problem(message, block)

    def _problem(self, message: str, block: int) -> InputError:
        """The InputError of a parse failure, with the row (and column) it happened at."""
        ragged = _RAGGED.search(message)
        if ragged and not ragged.group("row"):  # only a single-threaded parse numbers the rows
            ragged = _RAGGED.search(self._single_threaded_failure(block)) or ragged
        if ragged:
            found, expected = _fields(int(ragged.group("got"))), _fields(len(self.headers))
            return InputError(
                f"the row has {found} but the header has {expected}",
                file=self.src.name,
                row=int(ragged.group("row")) - 1 if ragged.group("row") else None,  # record 1 is the header
                hint=f"quote every field holding the separator {self.separator!r}, a quote or a line break",
            )
        if "UTF8" in message:
            row, column = self._first_bad_utf8(block)
            column_name = header_label(self.headers[column]) if column is not None else None
            problem = "the text is not valid UTF-8"
            return InputError(problem, file=self.src.name, row=row, column=column_name, hint=_ENCODING_HINT)
        return InputError(f"the file cannot be parsed as CSV ({message.splitlines()[0]})", file=self.src.name)

    def _single_threaded_failure(self, block: int) -> str:
        """pyarrow's message for the first bad record, from a single-threaded streaming parse (error path)."""
        try:
            for _ in self._arrow(pacsv.open_csv, threads=False, block=block):
                pass
        except pa.ArrowInvalid as exc:
            return str(exc)
        return ""

    def _first_bad_utf8(self, block: int) -> tuple[int | None, int | None]:
        """Return (row, column index) of the first cell that is not UTF-8; error path only, streamed."""
        offset = 0  # records before the batch; record 0 is the header, so a record's index is its row
        for batch in self._arrow(pacsv.open_csv, threads=False, block=block, kind=pa.binary()):
            bad: list[tuple[int, int]] = []
            for column_index, column in enumerate(batch.columns):
                try:
                    column.view(pa.string()).validate(full=True)
                except pa.ArrowInvalid as exc:
                    match = re.search(r"index (\d+)", str(exc))
                    bad.append((offset + (int(match.group(1)) if match else 0), column_index))
            if bad:
                return min(bad)
            offset += batch.num_rows
        return None, None


class _Restart(Exception):
    """A streamed parse must start again with larger blocks, skipping the ``done`` records yielded."""

    def __init__(self, block: int, done: int) -> None:
        super().__init__(block, done)
        self.block, self.done = block, done


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


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"
