"""Fuzzing the readers: whatever bytes arrive, a canonical frame that keeps every row, or one InputError line.

Random bytes, CSV text built from real header aliases and hostile cells (quotes, separators, line
breaks, NULs, BOMs, addresses, every timestamp spelling, values outside the readable span) in several
encodings, and Parquet files with columns of every dtype go into ``read_subscribers`` and ``read_events``
(and ``scan_events`` for Parquet, which must agree with ``read_events``). Any other exception, a message
on more than one line or one that prints an address, a lost or invented row is a failure; each failure
found here became a named regression test in tests/test_input_sanity.py.

Bounded: at most 400 examples per test and a time budget of 6 seconds after which the remaining examples
pass without running (environment variables raise both for a longer hunt).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import listkit
import listkit.readers
from listkit.errors import InputError
from listkit.schema import EVENT_ALIASES, EVENT_COLUMNS, SUBSCRIBER_ALIASES, SUBSCRIBER_COLUMNS

pytestmark = pytest.mark.fuzz

# Longer by hand: LISTKIT_FUZZ_SECONDS=600 LISTKIT_FUZZ_EXAMPLES=100000 pytest tests/test_reader_fuzz.py
BUDGET_SECONDS = float(os.environ.get("LISTKIT_FUZZ_SECONDS", "6"))
FUZZ = settings(
    max_examples=int(os.environ.get("LISTKIT_FUZZ_EXAMPLES", "400")),
    deadline=None,
    database=None,  # the same examples every run: no state carried between runs
    derandomize=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

ADDRESSES = [
    "ann.lee@example.com",
    "Bob Ray <bob.ray@example.org>",
    " cy@x.co ",
    "d@[127.0.0.1]",
    "=1+1@x.com",
]
TIMES = [
    "2026-03-01T10:00:00Z",
    "2026-03-01 10:00:00",
    "2026-03-01T10:00:00.250+02:00",
    "2026-03-01",
    "1772359200",
    "1772359200123",
    " 2026-03-01T10:00:00Z ",
    "0001-01-01",
    "9999-12-31T23:59:59-01:00",
    "99999999999",
    "20240301",
    "2024-02-30",
]
NAMES = ["open", "click", "delivered", "hard_bounce", "Unsubscribed", "webinar_registered", "", " "]
HOSTILE = [
    '"',
    '""',
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\x00",
    "\ufeff",
    '=HYPERLINK("x")',
    "é",
    "李",
    "🙂",
]
CELLS = st.one_of(
    st.sampled_from(ADDRESSES + TIMES + NAMES + HOSTILE),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=10),
    st.lists(st.sampled_from([*HOSTILE, "x", "@", " "]), max_size=6).map("".join),
)
ALIASES = sorted(
    {alias for aliases in (*EVENT_ALIASES.values(), *SUBSCRIBER_ALIASES.values()) for alias in aliases}
)
HEADER = st.one_of(
    st.sampled_from(ALIASES),
    st.sampled_from(["source_row", "event_raw", "", " ", "note", "Email ", "EMAIL", "ann.lee@example.com"]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
)


@st.composite
def header_lines(draw, *, unique: bool = False) -> list[str]:
    """Mostly the columns a reader needs (any of their aliases) among others, in any order; else anything."""
    extras = draw(st.lists(HEADER, max_size=4))
    if draw(st.integers(0, 4)):
        needed = [draw(st.sampled_from(EVENT_ALIASES[name])) for name in ("email", "event", "timestamp")]
        extras = needed[: draw(st.integers(1, 3))] + extras
    headers = draw(st.permutations(extras or [draw(HEADER)]))
    if unique:  # Parquet column names are unique
        headers = list(dict.fromkeys(headers))
    return headers


class Budget:
    """Time left for a fuzz test: once spent, examples pass without running, until one has failed.

    (A failure is then replayed and shrunk in full: hypothesis needs each replay to draw as it did.)
    """

    def __init__(self, seconds: float) -> None:
        self.end, self.failed = time.monotonic() + seconds, False

    def spent(self) -> bool:
        return not self.failed and time.monotonic() > self.end

    @contextmanager
    def watch(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.failed = True
            raise


@pytest.fixture
def budget() -> Budget:
    return Budget(BUDGET_SECONDS)


def assert_canonical_or_refused(
    read, data: bytes | Path, *, rows: int | None, **options
) -> pl.DataFrame | None:
    """Read ``data``: a canonical frame that keeps every row, or an InputError of one line; nothing else."""
    try:
        frame = read(data, **options)
    except InputError as error:
        message = str(error)
        assert "\n" not in message and "\r" not in message, message
        assert not any(address.strip() in message for address in ADDRESSES), message
        return None
    canonical = EVENT_COLUMNS if read is listkit.read_events else SUBSCRIBER_COLUMNS
    assert frame.schema.to_python() and list(frame.columns[: len(canonical)]) == list(canonical)
    assert [frame.schema[name] for name in canonical] == list(canonical.values())
    assert frame["source_row"].to_list() == list(range(1, frame.height + 1))
    if rows is not None:
        assert frame.height == rows, "every record is a row, none is invented"
    return frame


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(data, budget):
    if budget.spent():
        return
    with budget.watch():
        for read in (listkit.read_subscribers, listkit.read_events):
            assert_canonical_or_refused(read, data, rows=None)
            assert_canonical_or_refused(read, b"email,event,timestamp\n" + data, rows=None)


@st.composite
def csv_files(draw) -> tuple[bytes, int | None, str | None]:
    """A CSV export: (its bytes, its record count when intact, the encoding to name)."""
    headers = draw(header_lines())
    rows = draw(st.lists(st.lists(CELLS, min_size=len(headers), max_size=len(headers)), max_size=8))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=draw(st.sampled_from([",", ";", "\t"])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
        quoting=(quoting := draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))),
    )
    writer.writerows([headers, *rows])
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data, encoding = text.encode("utf-8"), "utf-8"
    named = draw(st.sampled_from([None, encoding]))
    intact = named == encoding or encoding in ("utf-8", "utf-8-sig", "utf-16")
    # csv.writer leaves a CR (or LF) unquoted unless it is part of its line terminator: such a file
    # has more lines than records, and every CSV reader takes them as line breaks.
    breaks = any("\r" in cell or "\n" in cell for row in [headers, *rows] for cell in row)
    intact = intact and (quoting == csv.QUOTE_ALL or not breaks)
    if draw(st.booleans()):  # mangle: a byte dropped, inserted or the file cut short
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        mangled = draw(st.sampled_from([b"", b'"', b"\x00", b"\xff", codecs.BOM_UTF8, b"\n"]))
        data, intact = data[:position] + mangled + data[position + 1 :], False
    return data, len(rows) if intact else None, named  # csv.writer quotes a lone empty cell: a row


@FUZZ
@given(file=csv_files())
def test_fuzz_csv_exports(file, budget):
    if budget.spent():
        return
    data, rows, encoding = file
    with budget.watch():
        assert_canonical_or_refused(listkit.read_subscribers, data, rows=rows, encoding=encoding)
        loaded = assert_canonical_or_refused(listkit.read_events, data, rows=rows, encoding=encoding)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "events.csv"
            path.write_bytes(data)
            assert_streamed_agrees(path, loaded, encoding=encoding)


def assert_streamed_agrees(path: Path, loaded: pl.DataFrame | None, **options) -> None:
    """scan_events, in chunks of two rows, gives what read_events gave, or the same refusal."""
    chunk_rows, listkit.readers.CHUNK_ROWS = listkit.readers.CHUNK_ROWS, 2
    try:
        with tempfile.TemporaryDirectory() as scratch:
            streamed = listkit.scan_events(path, scratch=scratch, **options).collect().drop("log_part")
            streamed = streamed.sort("source_row")
    except InputError as error:
        assert loaded is None, f"streamed refused what loaded read: {error}"
        with pytest.raises(InputError) as caught:
            listkit.read_events(path, **options)
        assert (caught.value.problem, caught.value.row, caught.value.column) == (
            error.problem,
            error.row,
            error.column,
        ), "the same refusal, row and words"
    else:
        assert loaded is not None and streamed.equals(loaded)
    finally:
        listkit.readers.CHUNK_ROWS = chunk_rows


def parquet_columns() -> st.SearchStrategy[pl.Series]:
    """A column of any dtype a Parquet export may hold, with extreme values."""
    texts = st.lists(st.one_of(CELLS, st.none()), min_size=4, max_size=4)
    physical = st.lists(st.one_of(st.integers(-(1 << 63), (1 << 63) - 1), st.none()), min_size=4, max_size=4)
    days = st.lists(st.one_of(st.integers(-(1 << 31), (1 << 31) - 1), st.none()), min_size=4, max_size=4)
    unit = st.sampled_from(["ms", "us", "ns"])
    zone = st.sampled_from([None, "UTC", "Europe/Paris", "America/New_York"])
    return st.one_of(
        texts.map(lambda values: pl.Series(values, dtype=pl.String)),
        texts.map(lambda values: pl.Series(values, dtype=pl.String).cast(pl.Categorical)),
        physical.map(lambda values: pl.Series(values, dtype=pl.Int64)),
        st.lists(st.floats(allow_nan=True), min_size=4, max_size=4).map(pl.Series),
        st.lists(st.booleans(), min_size=4, max_size=4).map(pl.Series),
        st.builds(lambda v, u, z: pl.Series(v, dtype=pl.Int64).cast(pl.Datetime(u, z)), physical, unit, zone),
        days.map(lambda values: pl.Series(values, dtype=pl.Int32).cast(pl.Date)),
        st.lists(
            st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2100, 1, 1)),
            min_size=4,
            max_size=4,
        ).map(pl.Series),
        texts.map(lambda values: pl.Series([[value] for value in values])),
        st.just(pl.Series([b"\x00", b"x", None, b""], dtype=pl.Binary)),
        st.just(pl.Series([None] * 4, dtype=pl.Null)),
    )


@FUZZ
@given(headers=header_lines(unique=True), data=st.data())
def test_fuzz_parquet_logs_loaded_and_streamed_agree(headers, data, tmp_path, budget):
    if budget.spent():
        return
    with budget.watch():
        check_parquet(
            pl.DataFrame([data.draw(parquet_columns()).alias(header) for header in headers]), tmp_path
        )


def check_parquet(frame: pl.DataFrame, tmp_path: Path) -> None:
    """Both readers on a Parquet file: canonical frames that agree, or the same refusal."""
    path = tmp_path / "events.parquet"
    frame.write_parquet(path)

    assert_canonical_or_refused(listkit.read_subscribers, path, rows=frame.height)
    loaded = assert_canonical_or_refused(listkit.read_events, path, rows=frame.height)
    assert_streamed_agrees(path, loaded)
