"""Input sanity: swapped or misnamed columns, huge fields, one timestamp reader, the readable span of times.

Every test feeds the readers something a real export or a broken export job produces and checks the
contract's promises: a bad file is refused with one line naming the file, column (and row) and what to
do, loaded and streamed readers agree exactly, no email address is ever printed in a message or a
count label, and what can be read is read with every row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import listkit
from listkit.errors import InputError, MissingColumnError
from listkit.privacy import MASK
from listkit.schema import EARLIEST_TIME, LATEST_TIME, TIMESTAMP
from listkit.times import SPAN, Spellings, read_times, time_attempts


def sample_events() -> pl.DataFrame:
    """The bundled event log as text, as an ESP export holds it."""
    return pl.read_csv(SAMPLE / "events.csv", infer_schema=False)


def refusals(paths: dict[str, Path], reader_of: dict[str, object]) -> dict[str, InputError]:
    """The InputError each reader raises on its file (a reader that reads it fails the test)."""
    caught = {}
    for name, path in paths.items():
        with pytest.raises(InputError) as error:
            result = reader_of[name](path)
            if isinstance(result, pl.LazyFrame):
                result.collect()
        caught[name] = error.value
    return caught


def loaded_and_streamed(frame: pl.DataFrame, tmp_path: Path) -> tuple[dict[str, Path], dict[str, object]]:
    """The log as CSV and as Parquet, and its readers: loaded CSV, loaded Parquet, streamed Parquet."""
    csv, parquet = tmp_path / "events.csv", tmp_path / "events.parquet"
    frame.write_csv(csv)
    frame.write_parquet(parquet)
    paths = {"csv": csv, "parquet": parquet, "streamed": parquet}
    readers = {"csv": listkit.read_events, "parquet": listkit.read_events, "streamed": listkit.scan_events}
    return paths, readers


def assert_one_line_without_addresses(error: Exception, addresses: pl.Series) -> None:
    message = str(error)
    assert "\n" not in message and message.endswith(".")
    assert not any(address in message for address in addresses.drop_nulls().unique().to_list())


# --- swapped and misnamed columns --------------------------------------------------------------


def test_an_event_log_with_email_and_event_swapped_is_refused_loaded_and_streamed(tmp_path):
    log = sample_events()
    swapped = log.rename({"email": "event", "event": "email"})
    paths, readers = loaded_and_streamed(swapped, tmp_path)

    caught = refusals(paths, readers)

    for error in caught.values():
        assert error.column == "email"
        assert "have no @ (they look like words or names) while column 'event' holds email addresses" in (
            error.problem
        )
        assert "swapped or misnamed" in error.hint
        assert_one_line_without_addresses(error, log["email"])
    assert len({(e.problem, e.column, e.row, e.hint) for e in caught.values()}) == 1, "all readers agree"


def test_a_list_whose_email_header_sits_on_the_first_names_is_refused(tmp_path):
    listed = pl.read_csv(SAMPLE / "subscribers.csv", infer_schema=False)
    misnamed = listed.rename({"email": "contact", "first_name": "email"})
    path = tmp_path / "list.csv"
    misnamed.write_csv(path)

    with pytest.raises(InputError) as caught:
        listkit.read_subscribers(path)

    assert caught.value.column == "email" and "while column 'contact' holds email addresses" in str(
        caught.value
    )
    assert_one_line_without_addresses(caught.value, listed["email"])


def test_an_event_column_holding_timestamps_is_refused(tmp_path):
    log = sample_events().rename({"event": "timestamp", "timestamp": "event"})
    paths, readers = loaded_and_streamed(log, tmp_path)
    for error in refusals(paths, readers).values():
        assert error.column == "event"
        assert error.problem == "100% of its first 10,000 values look like timestamps, not event names"


def test_an_event_header_on_a_column_of_message_ids_is_refused(tmp_path):
    """A SendGrid export where a script put the ``event`` header on the numeric message ids."""
    log = sample_events().with_columns(
        event=pl.int_range(pl.len()).cast(pl.String) + "01", type=pl.col("event")
    )
    paths, readers = loaded_and_streamed(log, tmp_path)
    for error in refusals(paths, readers).values():
        assert error.column == "event" and "look like numbers, not event names" in error.problem


def test_a_timestamp_column_holding_the_recipients_is_refused_without_printing_one(tmp_path):
    log = sample_events().with_columns(timestamp=pl.col("email"))
    paths, readers = loaded_and_streamed(log, tmp_path)
    for error in refusals(paths, readers).values():
        assert error.column == "timestamp" and "look like email addresses, not timestamps" in error.problem
        assert_one_line_without_addresses(error, log["email"])


def test_a_few_junk_rows_and_many_unknown_event_names_are_read_not_refused():
    """A real export: shifted rows put addresses and numbers under ``event``, custom events abound."""
    log = sample_events().head(5_000)
    junk = pl.int_range(pl.len())
    log = log.with_columns(
        event=pl.when(junk % 50 == 0)
        .then(pl.col("email"))  # 2% of the rows are shifted by one column
        .when(junk % 97 == 0)
        .then(pl.lit("20250101"))
        .when(junk % 3 == 0)
        .then(pl.lit("webinar_registered_") + (junk % 60).cast(pl.String))  # 60 custom names
        .otherwise(pl.col("event"))
    )
    events = listkit.read_events(log.write_csv().encode())

    assert events.height == log.height and events["source_row"].to_list() == list(range(1, log.height + 1))
    unknown = events.filter(pl.col("event") == "unknown")["event_raw"]
    assert (
        unknown.str.starts_with("webinar_registered_").sum() == log["event"].str.starts_with("webinar").sum()
    )
    result = listkit.run(listkit.read_subscribers(SAMPLE / "subscribers.csv"), events)
    labels = result.event_stats["unknown_types"]
    assert sum(count for label, count in labels.items() if MASK in label) == 100
    assert not any("@" in label for label in labels), "no address as a count label"


def test_an_email_column_mostly_placeholders_is_read_when_its_distinct_values_are_addresses():
    """A CRM export: most rows say N/A, a second column holds other addresses."""
    listed = pl.read_csv(SAMPLE / "subscribers.csv", infer_schema=False).with_columns(
        secondary_email=pl.col("email").reverse(),
        email=pl.when(pl.int_range(pl.len()) % 10 < 8).then(pl.lit("N/A")).otherwise(pl.col("email")),
    )
    frame = listkit.read_subscribers(listed.write_csv().encode())
    assert frame.height == listed.height and (frame["email"] == "N/A").sum() == 2400


def test_a_tiny_swapped_log_is_read_and_no_address_reaches_the_manifest(tmp_path):
    """Too few rows for a verdict: it runs, and the addresses read as event names stay unprinted."""
    events = tmp_path / "events.csv"
    events.write_text(
        "event,email,timestamp\nann.lee@example.com,open,2026-03-01T10:00:00Z\n"
        "bob.ray@example.org,click,2026-03-02T10:00:00Z\n"
    )
    subscribers = tmp_path / "list.csv"
    subscribers.write_text("email\nann.lee@example.com\nbob.ray@example.org\n")
    out = tmp_path / "out"

    status = run_cli("run", "--subscribers", subscribers, "--events", events, "--out", out, "--no-report")

    assert status == 0
    manifest = (out / "manifest.json").read_text()
    assert json.loads(manifest)["counts"]["events"]["unknown_types"] == {MASK: 2}
    assert "ann.lee@example.com" not in manifest and "bob.ray@example.org" not in manifest


def test_the_cli_refuses_a_swapped_log_with_one_line_and_exit_2(tmp_path, capsys):
    log = sample_events()
    events = tmp_path / "events.csv"
    log.rename({"email": "event", "event": "email"}).write_csv(events)
    out = tmp_path / "out"

    status = run_cli(
        "run", "--subscribers", SAMPLE / "subscribers.csv", "--events", events, "--out", out, "--no-report"
    )

    error = capsys.readouterr().err.strip()
    assert status == 2 and not out.exists()
    assert error.startswith(f"listkit: error: {events}, column 'email': ") and "\n" not in error
    assert not any(address in error for address in log["email"].unique().to_list())


# --- messages never print an address ----------------------------------------------------------


def test_a_timestamp_cell_holding_an_address_is_described_not_quoted(tmp_path):
    log = (
        sample_events()
        .head(200)
        .with_columns(
            timestamp=pl.when(pl.int_range(pl.len()) == 150).then(pl.col("email")).otherwise("timestamp")
        )
    )
    paths, readers = loaded_and_streamed(log, tmp_path)
    for error in refusals(paths, readers).values():
        assert (error.row, error.column) == (151, "timestamp")
        assert (
            error.problem == "a value that looks like an email address is not a timestamp listkit understands"
        )


def test_a_list_without_a_header_line_is_refused_without_printing_its_first_address():
    with pytest.raises(MissingColumnError) as caught:
        listkit.read_subscribers(b"jane.doe@example.com,Jane,Doe\nraj@example.org,Raj,Patel\n")
    assert "jane.doe@example.com" not in str(caught.value)
    assert "a value that looks like an email address, 'Jane', 'Doe'" in str(caught.value)
    assert "the file seems to have no header line" in str(caught.value)


def test_a_headerless_list_repeating_an_address_is_refused_without_printing_it():
    with pytest.raises(InputError) as caught:
        listkit.read_subscribers(b"jane.doe@example.com,Jane.Doe@example.com\nx,y\n")
    assert "appears twice" in str(caught.value) and "@" not in str(caught.value)


def test_a_huge_unreadable_timestamp_is_cut_in_the_message():
    with pytest.raises(InputError) as caught:
        listkit.read_events(b"email,event,timestamp\na@x.com,open," + b"9" * 5_000 + b"x\n")
    assert len(str(caught.value)) < 400 and "'99999999" in str(caught.value)


# --- huge fields -------------------------------------------------------------------------------

BIG = 50 << 20


def peak_megabytes_reading(path: Path) -> tuple[int, list[int]]:
    """Read ``path`` in a fresh interpreter: its peak RSS in MB, and the longest cell of each column."""
    code = (
        "import sys, listkit;"
        "frame = listkit.read_subscribers(sys.argv[1]);"
        "lengths = [int(frame[c].str.len_bytes().max() or 0) for c in ('email', 'note')];"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked (pytest) parent.
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1];"
        "print(int(hwm) // 1024, *lengths, frame.height)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    peak, *lengths, height = map(int, done.stdout.split())
    assert height == 3
    return peak, lengths


@pytest.mark.parametrize("column", ["note", "email"])
def test_a_50_mb_cell_is_read_whole_and_memory_stays_reasonable(tmp_path, column):
    """pyarrow refused it ("straddling object straddles two block boundaries"); it is one cell of a CSV."""
    cell = "x" * BIG + ("@example.com" if column == "email" else "")
    rows = {"note": ["ann@x.com,small", f"bob@x.com,{cell}", "cy@x.com,z"]}
    rows["email"] = ["ann@x.com,small", f"{cell},big address", "cy@x.com,z"]
    path = tmp_path / "list.csv"
    path.write_text("email,note\n" + "\n".join(rows[column]) + "\n")

    peak, (email, note) = peak_megabytes_reading(path)

    assert {"email": email, "note": note}[column] == len(cell)
    assert peak < 1_000, f"{peak} MB to read a 50 MB file"


def test_a_ragged_row_after_a_huge_cell_is_still_refused_with_its_row(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("email,note\na@x.com," + "x" * (20 << 20) + "\nb@x.com,fine\nc@x.com,too,many\n")
    with pytest.raises(InputError, match=r"list\.csv, row 3: the row has 3 fields but the header has 2"):
        listkit.read_subscribers(path)


# --- one timestamp reader ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_log(tmp_path_factory) -> Path:
    """120,001 events in ISO text, then Unix seconds: the spelling the readers' sample never saw."""
    rows = 130_000
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = pl.datetime_range(start, start + timedelta(minutes=rows - 1), "1m", eager=True)
    iso, unix = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), times.dt.epoch("s").cast(pl.String)
    frame = pl.DataFrame(
        {
            "email": (pl.int_range(rows, eager=True) % 997).cast(pl.String) + "@example.com",
            "event": pl.Series(["delivered", "open"]).sample(rows, with_replacement=True, seed=1),
            "timestamp": pl.concat([iso.head(120_000), unix.tail(rows - 120_000)]),
        }
    )
    path = tmp_path_factory.mktemp("long") / "events.parquet"
    frame.write_parquet(path)
    return path


def test_unix_seconds_first_met_after_row_120000_read_alike_loaded_and_streamed(long_log):
    loaded, streamed = listkit.read_events(long_log), listkit.scan_events(long_log).collect().drop("log_part")
    assert streamed.equals(loaded)
    times = loaded["timestamp"]
    assert times.null_count() == 0 and times.diff().drop_nulls().eq(timedelta(minutes=1)).all()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("yesterday", "'yesterday' is not a timestamp listkit understands"),
        (" ", "the value is empty"),
        ("3000-01-01T00:00:00Z", f"'3000-01-01T00:00:00Z' is outside the times listkit reads ({SPAN})"),
    ],
)
def test_a_bad_timestamp_deep_in_a_log_is_refused_alike_loaded_and_streamed(
    long_log, tmp_path, value, problem
):
    path = tmp_path / "events.parquet"
    pl.read_parquet(long_log).with_columns(
        timestamp=pl.when(pl.int_range(pl.len()).is_in([125_000, 126_000]))
        .then(pl.lit(value))
        .otherwise("timestamp")
    ).write_parquet(path)
    caught = refusals(
        {"loaded": path, "streamed": path}, {"loaded": listkit.read_events, "streamed": listkit.scan_events}
    )
    assert {(e.row, e.column, e.problem) for e in caught.values()} == {(125_001, "timestamp", problem)}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENTS = st.datetimes(min_value=datetime(2002, 1, 1), max_value=datetime(2099, 12, 31))
OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
STYLES = ["iso_z", "iso_offset", "iso_fraction_offset", "iso_naive", "naive_space", "naive_fraction", "date"]
STYLES += ["unix", "unix_fraction", "unix_millis", "padded"]
JUNK = st.sampled_from(
    ["", " ", "yesterday", "20240301", "2024-02-30", "0001-01-01", "9999-12-31T23:59:59-01:00"]
)


def spell(moment: datetime, style: str, offset: timezone) -> str:
    """A moment in one of the accepted spellings."""
    utc = moment.replace(tzinfo=UTC)
    seconds = utc.replace(microsecond=0)
    match style:
        case "iso_z":
            return seconds.strftime("%Y-%m-%dT%H:%M:%SZ")
        case "iso_offset":
            return seconds.astimezone(offset).isoformat()
        case "iso_fraction_offset":
            return utc.astimezone(offset).isoformat()
        case "iso_naive":
            return seconds.strftime("%Y-%m-%dT%H:%M:%S")
        case "naive_space":
            return seconds.strftime("%Y-%m-%d %H:%M:%S")
        case "naive_fraction":
            return utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        case "date":
            return utc.strftime("%Y-%m-%d")
        case "unix":
            return str((seconds - EPOCH) // timedelta(seconds=1))
        case "unix_fraction":
            return f"{(seconds - EPOCH) // timedelta(seconds=1)}.{utc.microsecond // 1000:03d}"
        case "unix_millis":
            return str((utc - EPOCH) // timedelta(milliseconds=1))
        case "padded":
            return f"  {seconds:%Y-%m-%dT%H:%M:%SZ} "
    raise AssertionError(style)


TEXTS = st.one_of(
    st.builds(spell, MOMENTS, st.sampled_from(STYLES), OFFSETS),
    JUNK,
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8),  # NUL: binary
    st.none(),
)


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(TEXTS, max_size=30),
    chosen=st.lists(st.integers(0, len(time_attempts(pl.col("x"))) - 1), unique=True, max_size=4),
    padded=st.booleans(),
)
def test_property_any_choice_of_first_spellings_reads_every_value_the_same(texts, chosen, padded):
    """The sample only decides which spellings run first: the result is the one canonical reading."""
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    canonical = frame.select(pl.coalesce(time_attempts(pl.col("t").str.strip_chars())))
    steps, expression = read_times(pl.col("t"), pl.String, Spellings(tuple(chosen), padded))
    lazy = frame.lazy()
    for step in steps:
        lazy = lazy.with_columns(**step)
    for engine in ("in-memory", "streaming"):
        assert lazy.select(expression).collect(engine=engine).to_series().equals(canonical.to_series())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXTS, min_size=1, max_size=25))
def test_property_csv_parquet_loaded_and_streamed_give_the_same_events_or_the_same_error(tmp_path, texts):
    rows = len(texts)
    frame = pl.DataFrame(
        {
            "email": [f"user{i}@example.com" for i in range(rows)],
            "event": ["open"] * rows,
            "timestamp": [None if text == "" else text for text in texts],  # CSV has no empty string
        },
        schema={"email": pl.String, "event": pl.String, "timestamp": pl.String},
    )
    paths, readers = loaded_and_streamed(frame, tmp_path)
    outcomes = {}
    for name, path in paths.items():
        try:
            result = readers[name](path)
            frame = result.collect().drop("log_part") if isinstance(result, pl.LazyFrame) else result
            outcomes[name] = frame.drop("event_raw")
        except InputError as error:
            outcomes[name] = (error.row, error.column, error.problem)
    first = outcomes["csv"]
    for outcome in outcomes.values():
        assert outcome.equals(first) if isinstance(first, pl.DataFrame) else outcome == first
    if isinstance(first, pl.DataFrame):
        assert first.height == rows and first["source_row"].to_list() == list(range(1, rows + 1))


# --- the readable span of times ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01",
        "0001-01-01T00:00:00+01:00",
        "1900-01-01",
        "1969-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "99999999999",
    ],
)
def test_event_times_outside_the_readable_span_are_refused_with_row_and_span(tmp_path, value):
    log = (
        sample_events()
        .head(50)
        .with_columns(
            timestamp=pl.when(pl.int_range(pl.len()) == 40).then(pl.lit(value)).otherwise("timestamp")
        )
    )
    paths, readers = loaded_and_streamed(log, tmp_path)
    for error in refusals(paths, readers).values():
        assert (error.row, error.column) == (41, "timestamp")
        assert error.problem == f"{value!r} is outside the times listkit reads (1970-01-01 to 2999-12-31)"


@pytest.mark.parametrize(
    "column",
    [
        pl.Series([datetime(2026, 1, 1), datetime(1, 1, 1)], dtype=pl.Datetime("ms")),
        pl.Series([datetime(2026, 1, 1), datetime(9999, 12, 31)], dtype=pl.Datetime("us", "Europe/Paris")),
        pl.Series([0, 1 << 62], dtype=pl.Int64).cast(pl.Datetime("ms")),  # beyond any calendar
        pl.Series([20_000, (1 << 31) - 1], dtype=pl.Int32).cast(pl.Date),
        pl.Series([datetime(2026, 1, 1), datetime(1969, 12, 31, 23)], dtype=pl.Datetime("ns")),
    ],
    ids=["ms-year-1", "zoned-year-9999", "ms-beyond-calendar", "date-beyond-calendar", "ns-1969"],
)
def test_typed_parquet_times_outside_the_span_are_refused_without_a_panic(tmp_path, column):
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {"email": ["a@x.com", "b@x.com"], "event": ["open", "click"], "timestamp": column}
    ).write_parquet(path)
    caught = refusals(
        {"loaded": path, "streamed": path}, {"loaded": listkit.read_events, "streamed": listkit.scan_events}
    )
    for error in caught.values():
        assert (error.row, error.column) == (2, "timestamp")
        assert error.problem == f"the time is outside the times listkit reads ({SPAN})"


def test_placeholder_sign_up_dates_read_as_unknown_and_the_run_completes(tmp_path):
    """CRM exports fill unknown sign-ups with 0001-01-01 or 1900-01-01: no OverflowError, no refusal."""
    listed = pl.read_csv(SAMPLE / "subscribers.csv", infer_schema=False).head(400)
    placeholders = ["0001-01-01", "1900-01-01 00:00:00", "9999-12-31T23:59:59-01:00"]
    listed = listed.with_columns(
        signup_at=pl.when(pl.int_range(pl.len()) < len(placeholders))
        .then(pl.Series(placeholders + [None] * (listed.height - len(placeholders))))
        .otherwise("signup_at")
    )
    typed = tmp_path / "list.parquet"
    dates = listkit.read_subscribers(listed.write_csv().encode())["signup_at"].to_list()
    dates[:3] = [datetime(1, 1, 1), datetime(1900, 1, 1), datetime(9999, 12, 31)]
    listed.with_columns(signup_at=pl.Series(dates, dtype=pl.Datetime("ms"))).write_parquet(typed)

    for source in (listed.write_csv().encode(), typed):
        subscribers = listkit.read_subscribers(source)
        signups = subscribers["signup_at"]
        assert subscribers.height == listed.height
        assert signups.head(3).is_null().all() and signups.tail(-3).null_count() == 0
        assert signups.drop_nulls().is_between(EARLIEST_TIME, LATEST_TIME).all()

    result = listkit.run(subscribers, listkit.read_events(SAMPLE / "events.csv"), policy=listkit.Policy())
    assert result.ledger.height == listed.height
    assert result.ledger["tenure_days"].drop_nulls().is_between(0, 60 * 365).all()


def test_an_unreadable_sign_up_date_is_still_refused():
    with pytest.raises(InputError, match=r"row 2, column 'signup_at': '31/12/2024' is not a timestamp"):
        listkit.read_subscribers(b"email,signup_at\na@x.com,0001-01-01\nb@x.com,31/12/2024\n")


def test_the_span_is_the_one_schema_declares():
    frame = pl.DataFrame({"t": [EARLIEST_TIME, LATEST_TIME, EARLIEST_TIME - timedelta(microseconds=1)]})
    steps, expression = read_times(pl.col("t"), frame.schema["t"])
    assert not steps
    read = frame.select(expression.cast(TIMESTAMP)).to_series()
    assert read.to_list()[:2] == [EARLIEST_TIME, LATEST_TIME] and read[2] is None
