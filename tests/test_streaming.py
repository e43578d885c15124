"""CSV event logs read in chunks (scan_events): the same frame and the same refusals as loading them whole.

Each problem is placed in a late chunk (chunks of a few rows here), where the streamed reader meets it
after it has already written the chunks before it.
"""

from __future__ import annotations

import gzip

import polars as pl
import pytest
from conftest import SAMPLE

import listkit
import listkit.readers
import listkit.sources
from listkit import InputError

HEADER = b"email,event,timestamp,smtp_status\n"


def good_rows(count: int) -> list[bytes]:
    return [f"user{i}@example.com,open,2026-01-{1 + i % 28:02d}T10:00:00Z,\n".encode() for i in range(count)]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(listkit.readers, "CHUNK_ROWS", 3)


def refusal(read, path) -> tuple[str, int | None, str | None]:
    with pytest.raises(InputError) as caught:
        frame = read(path)
        if isinstance(frame, pl.LazyFrame):
            frame.collect()
    return caught.value.problem, caught.value.row, caught.value.column


@pytest.mark.parametrize(
    "bad_row",
    [
        pytest.param(b"late@example.com,open\n", id="too-few-fields"),
        pytest.param(b"late@example.com,open,2026-01-01T00:00:00Z,250,extra\n", id="too-many-fields"),
        pytest.param(b"late@example.com,open,yesterday,\n", id="unreadable-time"),
        pytest.param(b"late@example.com,open,,\n", id="empty-time"),
        pytest.param(b"late@example.com,open,9999-12-31T23:59:59-01:00,\n", id="time-outside-span"),
        pytest.param(b"late@example.com,open,2026-01-01T00:00:00Z,caf\xe9\n", id="not-utf8"),
    ],
)
def test_a_problem_in_a_late_chunk_is_refused_with_the_row_the_loaded_reader_names(
    tmp_path, small_chunks, bad_row
):
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"".join(good_rows(10)) + bad_row + b"".join(good_rows(4)))
    loaded = refusal(listkit.read_events, path)
    assert loaded[1] == 11  # the data row it is on
    assert refusal(lambda p: listkit.scan_events(p, scratch=tmp_path), path) == loaded
    assert list(tmp_path.glob("listkit-events-*")) == []  # nothing written is left behind


def test_a_record_longer_than_a_block_late_in_the_file_restarts_the_parse_and_loses_no_row(
    tmp_path, small_chunks, monkeypatch
):
    monkeypatch.setattr(listkit.sources, "_BLOCK_BYTES", 4096)
    long_status = "550 " + "x" * 50_000  # a whole SMTP transcript in one cell
    rows = [*good_rows(200), f'late@example.com,bounce,2026-01-02T00:00:00Z,"{long_status}"\n'.encode()]
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"".join(rows + good_rows(50)))
    loaded = listkit.read_events(path)
    streamed = listkit.scan_events(path, scratch=tmp_path).collect().drop("log_part").sort("source_row")
    assert streamed.equals(loaded) and streamed.height == 251
    assert streamed.filter(pl.col("event") == "bounce")["smtp_status"].item() == long_status


def test_a_gzip_compressed_log_reads_as_the_plain_one_loaded_and_streamed(tmp_path, small_chunks):
    plain = (SAMPLE / "events.csv").read_bytes()[:20_000].rsplit(b"\n", 1)[0] + b"\n"
    (tmp_path / "events.csv").write_bytes(plain)
    (tmp_path / "events.csv.gz").write_bytes(gzip.compress(plain, mtime=0))
    expected = listkit.read_events(tmp_path / "events.csv")
    assert listkit.read_events(tmp_path / "events.csv.gz").equals(expected)
    streamed = listkit.scan_events(tmp_path / "events.csv.gz", scratch=tmp_path).collect().drop("log_part")
    assert streamed.sort("source_row").equals(expected)


def test_a_damaged_gzip_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(HEADER + b"".join(good_rows(1000)))[:-40])  # cut short
    for read in (listkit.read_events, lambda p: listkit.scan_events(p, scratch=tmp_path)):
        problem, _, _ = refusal(read, path)
        assert problem.startswith("the gzip file is damaged")


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_log_without_rows_streams_to_the_empty_canonical_frame(tmp_path, form):
    path = tmp_path / f"events.{form}"
    if form == "csv":
        path.write_bytes(HEADER)
    else:
        pl.DataFrame(schema=dict.fromkeys(("email", "event", "timestamp"), pl.String)).write_parquet(path)
    streamed = listkit.scan_events(path, scratch=tmp_path).collect().drop("log_part")
    assert streamed.equals(listkit.read_events(path)) and streamed.height == 0


@pytest.mark.parametrize(
    ("late", "problem"),
    [
        pytest.param(b"nul@example.com,open,2026-01-01T00:00:00Z,\x00\n", "the file is binary", id="nul"),
        pytest.param(b'quote@example.com,open,2026-01-01T00:00:00Z,"5.1.1\n', "a double quote", id="quote"),
    ],
)
def test_a_file_refused_whole_is_refused_so_however_early_another_problem_is(
    tmp_path, small_chunks, late, problem
):
    """The check of the whole file (NUL bytes, unmatched quotes) runs beside the streamed parse, so a
    problem of an early row is met first; the whole file's refusal still wins, as when it is loaded."""
    path = tmp_path / "events.csv"
    early = b"early@example.com,open,yesterday,\n"  # an unreadable time in the first chunk
    path.write_bytes(HEADER + early + b"".join(good_rows(3000)) + late)
    loaded = refusal(listkit.read_events, path)
    assert loaded[0].startswith(problem)
    assert refusal(lambda p: listkit.scan_events(p, scratch=tmp_path), path) == loaded
    assert list(tmp_path.glob("listkit-events-*")) == []


def test_the_first_chunk_does_not_wait_for_the_whole_files_content_check(tmp_path, monkeypatch):
    """The check of the whole file runs beside the parse: the first chunk arrives before it ends."""
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"".join(good_rows(50)))
    first_chunk_arrived = listkit.sources.threading.Event()
    waited: list[bool] = []
    checked = listkit.sources._check_content

    def slow_check(*args):
        waited.append(first_chunk_arrived.wait(10))  # False if the first chunk waited for the check
        checked(*args)

    monkeypatch.setattr(listkit.sources, "_check_content", slow_check)
    stream = listkit.sources.stream_table(path, rows=10)
    first = next(stream.chunks)
    first_chunk_arrived.set()
    assert first.height == 10 and sum(chunk.height for chunk in stream.chunks) == 40
    assert waited == [True]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"email,event,timestamp,x\0\n", id="header-only-with-nul"),
        pytest.param(
            HEADER + b"".join(good_rows(20)) + b"short@example.com,open\n" + b'"\n', id="ragged-and-quote"
        ),
    ],
)
def test_the_whole_files_refusal_is_the_same_streamed_and_loaded(tmp_path, small_chunks, data):
    path = tmp_path / "events.csv"
    path.write_bytes(data)
    loaded = refusal(listkit.read_events, path)
    assert refusal(lambda p: listkit.scan_events(p, scratch=tmp_path), path) == loaded
