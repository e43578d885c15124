"""Tests of listkit.readers: ESP exports, encodings, Parquet, every refused input, and properties."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listkit.errors import InputError, MissingColumnError
from listkit.readers import read_events, read_subscribers
from listkit.schema import EVENT_ALIASES, EVENT_COLUMNS, SUBSCRIBER_ALIASES, SUBSCRIBER_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", lineterminator: str = "\r\n") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_canonical(frame: pl.DataFrame, columns: dict) -> None:
    assert frame.columns[: len(columns)] == list(columns)
    assert [frame.schema[name] for name in columns] == list(columns.values())


# --- ESP exports --------------------------------------------------------------------------------


def test_mailchimp_subscribed_export() -> None:
    path = FIXTURES / "mailchimp_subscribed.csv"
    frame = read_subscribers(path)

    assert_canonical(frame, SUBSCRIBER_COLUMNS)
    # Every non-canonical header passes through, in input order, as text.
    extras = frame.columns[len(SUBSCRIBER_COLUMNS) :]
    assert extras[:3] == ["Address", "Phone Number", "MEMBER_RATING"]
    assert "CONFIRM_TIME" in extras and "OPTIN_TIME" not in extras  # OPTIN_TIME wins signup_at
    assert extras[-2:] == ["NOTES", "TAGS"] and len(extras) == 22 - 4
    assert all(frame.schema[name] == pl.String for name in extras)
    assert frame["source_row"].to_list() == [1, 2, 3, 4]
    assert frame["email"].to_list()[1] == " Bob.Smith@Example.COM "  # never trimmed
    assert frame["first_name"].to_list() == ["Jane", "Bob", "Zoë", None]
    assert frame["signup_at"].to_list() == [
        at(2023, 1, 15, 9, 30),
        at(2022, 11, 3, 17, 45, 10),
        None,
        at(2021, 6, 30, 23, 59, 59),
    ]
    assert frame["Address"][0] == "12 Main St, Springfield, IL 62701, US"
    assert frame["NOTES"][1] == "Called twice, asked for\nweekly digest only; see ticket #42"
    assert frame["TAGS"][0] == '"Customer","VIP"'
    assert frame["NOTES"][3] == '=HYPERLINK("http://x")'
    assert frame["CONFIRM_TIME"][0] == "2023-01-15 09:31:12"  # passed through untouched, not parsed
    assert frame["status"].is_null().all() and frame["source"].is_null().all()


def test_klaviyo_profiles_export() -> None:
    frame = read_subscribers(str(FIXTURES / "klaviyo_profiles.csv"))

    assert_canonical(frame, SUBSCRIBER_COLUMNS)
    assert frame["email"].to_list() == ["amy@example.com", "carl@example.org", "dora@example.net"]
    assert frame["source"].to_list() == ["Checkout", "Popup Form", None]
    assert frame["signup_at"].to_list() == [
        at(2024, 1, 15, 8, 30, 12),
        at(2024, 1, 1, 4, 30),
        at(2024, 2, 29, 12),
    ]
    assert frame["Organization"][0] == "Acme, Inc."
    assert frame["Email Marketing Consent"].to_list() == ["SUBSCRIBED", "UNSUBSCRIBED", "NEVER_SUBSCRIBED"]


def test_sendgrid_event_webhook_export() -> None:
    frame = read_events(FIXTURES / "sendgrid_events.csv")  # CRLF line ends

    assert_canonical(frame, EVENT_COLUMNS)
    assert frame["event"].cast(pl.String).to_list() == [
        "send", "delivered", "open", "open", "click",
        "bounce", "unknown", "complaint", "unsubscribe", "bounce",
    ]  # fmt: skip
    assert frame["event_raw"][6] == "deferred" and frame["event_raw"][8] == "group_unsubscribe"
    assert frame["timestamp"][0] == at(2024, 3, 1, 10)
    assert frame["campaign"][0] == "msg1.filter001"  # sg_message_id
    assert frame["smtp_status"][5] == "5.1.1"  # "status" outranks "reason", which passes through
    assert frame["reason"][5].startswith("550 5.1.1")
    assert frame["type"].to_list()[5::4] == ["bounce", "blocked"]
    assert frame["user_agent"][2].startswith("Mozilla/5.0 (iPhone; CPU")
    assert frame["machine_open"].to_list()[1:5] == [None, True, False, None]
    assert frame["url"][4] == "https://example.com/?a=1,b=2"
    # The subtype column "type" passes through and gives the verdict: bounce is hard, blocked a block.
    assert frame["bounce_type"].to_list() == [None] * 5 + ["hard"] + [None] * 3 + ["block"]
    assert frame.columns[len(EVENT_COLUMNS) :] == ["sg_event_id", "ip", "url", "reason", "type"]


def test_brevo_semicolon_export_with_offsets_and_proxy_opens() -> None:
    frame = read_events(FIXTURES / "brevo_events_semicolon.csv")

    assert frame["event"].cast(pl.String).to_list() == [
        "delivered", "open", "open", "click", "bounce", "bounce", "unsubscribe", "complaint",
    ]  # fmt: skip
    assert frame["machine_open"].to_list()[:3] == [None, True, None]  # loadedByProxy is a machine open
    assert frame["bounce_type"].to_list()[4:6] == ["hard", "soft"]
    assert frame["timestamp"][0] == at(2024, 3, 1, 9, 0, 0, 123000)
    assert frame["campaign"].unique().to_list() == ["Spring sale"]
    assert frame["Link"][3] == "https://shop.example/a;b"


def test_mailgun_style_tab_file_with_severity() -> None:
    data = csv_bytes(
        [
            ["recipient", "event", "timestamp", "severity", "delivery-status", "is_machine_open"],
            ["a@x.com", "failed", "1709287200.25", "permanent", "550 5.1.1 no such user", ""],
            ["b@x.com", "failed", "1709287200", "temporary", "452 4.2.2 mailbox full", ""],
            ["c@x.com", "opened", "1709287200", "", "", "Yes"],
        ],
        delimiter="\t",
        lineterminator="\n",
    )
    frame = read_events(data)

    assert frame["email"].to_list() == ["a@x.com", "b@x.com", "c@x.com"]
    assert frame["event"].cast(pl.String).to_list() == ["bounce", "bounce", "open"]
    assert frame["bounce_type"].to_list() == ["hard", "soft", None]
    assert frame["smtp_status"][0] == "550 5.1.1 no such user"
    assert frame["machine_open"].to_list() == [None, None, True]
    assert frame["timestamp"][0] == at(2024, 3, 1, 10, 0, 0, 250000)


# --- column vocabulary --------------------------------------------------------------------------


def events_with(column: str, values: list[str], *, event: str = "open") -> pl.DataFrame:
    rows = [["email", "event", "timestamp", column]] + [["a@x.com", event, "1709287200", v] for v in values]
    return read_events(csv_bytes(rows))


def test_bounce_type_spellings() -> None:
    values = [
        "hard",
        "soft",
        "permanent",
        "transient",
        "Permanent",
        "Transient",
        "temporary",
        " HARD ",
        "",
        "x",
    ]
    frame = events_with("bounce_type", values, event="bounce")
    assert frame["bounce_type"].to_list() == [
        "hard", "soft", "hard", "soft", "hard", "soft", "soft", "hard", None, None,
    ]  # fmt: skip


def test_event_name_pins_bounce_type_over_the_column() -> None:
    frame = events_with("bounce_type", ["soft", ""], event="Hard-Bounce")
    assert frame["bounce_type"].to_list() == ["hard", "hard"]


def test_machine_open_spellings() -> None:
    values = ["true", "false", "1", "0", "yes", "no", "TRUE", "No", "", "maybe"]
    frame = events_with("machine_open", values)
    assert frame["machine_open"].to_list() == [True, False, True, False, True, False, True, False, None, None]


@pytest.mark.parametrize(
    ("raw", "event"),
    [
        ("Opened Email", "open"),
        ("HARD_BOUNCE", "bounce"),
        ("soft bounce", "bounce"),
        ("Marked Email as Spam", "complaint"),
        ("Received Email", "delivered"),
        ("Unsubscribed", "unsubscribe"),
        ("deferred", "unknown"),
        ("", "unknown"),
    ],
)
def test_event_names_are_normalised(raw: str, event: str) -> None:
    frame = read_events(csv_bytes([["Email", "Metric Name", "Timestamp"], ["a@x.com", raw, "2024-03-01"]]))
    assert frame["event"].cast(pl.String).to_list() == [event]
    assert frame["event_raw"].to_list() == [raw or None]


def test_first_alias_in_tuple_order_wins_and_others_pass_through() -> None:
    data = csv_bytes(
        [
            ["Email Address", "CONFIRM_TIME", "email", "OPTIN_TIME", "FNAME"],
            ["old@x.com", "2024-01-02", "new@x.com", "2024-01-01", "Ann"],
        ]
    )
    frame = read_subscribers(data)
    assert frame["email"].to_list() == ["new@x.com"]
    assert frame["signup_at"].to_list() == [at(2024, 1, 1)]
    assert frame["first_name"].to_list() == ["Ann"]
    assert frame.columns[len(SUBSCRIBER_COLUMNS) :] == ["Email Address", "CONFIRM_TIME"]


def test_headers_match_aliases_ignoring_case_and_spaces() -> None:
    frame = read_subscribers(csv_bytes([["  E-MAIL ", "member_STATUS"], ["a@x.com", "Cleaned"]]))
    assert frame["email"].to_list() == ["a@x.com"]
    assert frame["status"].to_list() == ["Cleaned"]


def test_empty_cells_are_null_and_other_text_is_untouched() -> None:
    frame = read_subscribers(b'email,note,other\n"",NA,  spaced  \n,null,""\n')
    assert frame["email"].to_list() == [None, None]
    assert frame["note"].to_list() == ["NA", "null"]
    assert frame["other"].to_list() == ["  spaced  ", None]


def test_blank_lines_are_not_rows() -> None:
    frame = read_subscribers(b"email,name\n\na@x.com,A\n\nb@x.com,B\n\n\n")
    assert frame["email"].to_list() == ["a@x.com", "b@x.com"]
    assert frame["source_row"].to_list() == [1, 2]


def test_single_column_file() -> None:
    frame = read_subscribers(b'Email\na@x.com\n""\nb@x.com')
    assert frame["email"].to_list() == ["a@x.com", None, "b@x.com"]


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00Z", at(2024, 3, 1, 10)),
        ("2024-03-01T10:00:00+02:00", at(2024, 3, 1, 8)),
        ("2024-03-01T10:00:00-0530", at(2024, 3, 1, 15, 30)),
        ("2024-03-01T10:00:00.123456Z", at(2024, 3, 1, 10, 0, 0, 123456)),
        ("2024-03-01T10:00:00.5+01:00", at(2024, 3, 1, 9, 0, 0, 500000)),
        ("2024-03-01 10:00:00+00:00", at(2024, 3, 1, 10)),
        ("2024-03-01T10:00:00", at(2024, 3, 1, 10)),
        ("2024-03-01 10:00:00", at(2024, 3, 1, 10)),
        ("2024-03-01 10:00:00.25", at(2024, 3, 1, 10, 0, 0, 250000)),
        ("2024-03-01", at(2024, 3, 1)),
        ("1709287200", at(2024, 3, 1, 10)),
        ("1709287200.5", at(2024, 3, 1, 10, 0, 0, 500000)),
        ("1709287200123", at(2024, 3, 1, 10, 0, 0, 123000)),
        (" 2024-03-01 10:00:00 ", at(2024, 3, 1, 10)),
    ],
)
def test_timestamp_spellings(text: str, expected: datetime) -> None:
    events = read_events(csv_bytes([["email", "event", "timestamp"], ["a@x.com", "open", text]]))
    subscribers = read_subscribers(csv_bytes([["email", "created_at"], ["a@x.com", text]]))
    assert events["timestamp"].to_list() == [expected]
    assert subscribers["signup_at"].to_list() == [expected]


def test_mixed_timestamp_spellings_in_one_column() -> None:
    texts = ["2024-03-01T10:00:00Z"] * 5 + ["1709287200", "2024-03-01", "2024-03-01T12:00:00+02:00", ""]
    frame = read_subscribers(csv_bytes([["email", "signup_at"]] + [["a@x.com", t] for t in texts]))
    assert frame["signup_at"].to_list() == [at(2024, 3, 1, 10)] * 6 + [
        at(2024, 3, 1),
        at(2024, 3, 1, 10),
        None,
    ]


def test_blank_signup_at_is_null() -> None:
    frame = read_subscribers(b"email,signup_at\na@x.com,\nb@x.com,   \n")
    assert frame["signup_at"].to_list() == [None, None]
    assert frame.schema["signup_at"] == pl.Datetime("us", "UTC")


# --- encodings ----------------------------------------------------------------------------------


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", codecs.BOM_UTF8 + "email,Prénom\né@x.com,Zoë\n".encode())
    frame = read_subscribers(path)
    assert frame["email"].to_list() == ["é@x.com"]
    assert frame.columns[-1] == "Prénom"


def test_excel_unicode_text_utf16_le_tab(tmp_path: Path) -> None:
    text = 'Email Address\tFirst Name\tNotes\r\nzoë@x.com\tZoë\t"a\tb ""q"""\r\nli@x.com\t李\t\r\n'
    path = write(tmp_path, "excel.txt", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    frame = read_subscribers(path)
    assert frame["email"].to_list() == ["zoë@x.com", "li@x.com"]
    assert frame["first_name"].to_list() == ["Zoë", "李"]
    assert frame["Notes"].to_list() == ['a\tb "q"', None]


def test_utf16_be_with_bom() -> None:
    data = codecs.BOM_UTF16_BE + "email;event;timestamp\r\na@x.com;open;2024-03-01\r\n".encode("utf-16-be")
    assert read_events(data)["event"].cast(pl.String).to_list() == ["open"]


def test_latin1_and_cp1252_with_explicit_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.csv", "email;Nom\nrené@x.fr;Renée\n".encode("latin-1"))
    frame = read_subscribers(path, encoding="latin-1")
    assert frame["email"].to_list() == ["rené@x.fr"] and frame["Nom"].to_list() == ["Renée"]
    euro = read_subscribers("email,price\na@x.com,5 €\n".encode("cp1252"), encoding="cp1252")
    assert euro["price"].to_list() == ["5 €"]


def test_latin1_without_encoding_is_refused_with_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "latin.csv", "email,Nom\na@x.fr,Anne\nrené@x.fr,Renée\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"--encoding") as caught:
        read_subscribers(path)
    message = str(caught.value)
    assert str(path) in message and "row 2" in message and "'email'" in message and "UTF-8" in message


def test_wrong_or_unknown_encoding_is_refused() -> None:
    with pytest.raises(InputError, match=r"<bytes>: unknown encoding 'klingon'"):
        read_subscribers(b"email\na@x.com\n", encoding="klingon")
    with pytest.raises(InputError, match=r"line 2\) is not valid ascii.*--encoding"):
        read_subscribers("email\nä@x.com\n".encode(), encoding="ascii")


# --- Parquet ------------------------------------------------------------------------------------


def test_parquet_is_detected_by_magic_bytes_not_extension(tmp_path: Path) -> None:
    source = pl.DataFrame(
        {
            "Email": ["a@x.com", "b@x.com"],
            "Date Added": [datetime(2024, 3, 1, 10), None],
            "score": [1, 2],
            "Status": ["subscribed", "Unsubscribed"],
        }
    )
    path = tmp_path / "list.csv"
    source.write_parquet(path)
    for frame in (read_subscribers(path), read_subscribers(path.read_bytes())):
        assert_canonical(frame, SUBSCRIBER_COLUMNS)
        assert frame["signup_at"].to_list() == [at(2024, 3, 1, 10), None]
        assert frame["score"].to_list() == ["1", "2"]  # pass-through columns become text
        assert frame["status"].to_list() == ["subscribed", "Unsubscribed"]


def test_parquet_events_with_typed_columns(tmp_path: Path) -> None:
    berlin = pl.Series([datetime(2024, 3, 1, 11)]).dt.replace_time_zone("Europe/Berlin")
    frames = [
        pl.DataFrame({"email": ["a@x.com"], "event": ["open"], "timestamp": berlin, "machine_open": [True]}),
        pl.DataFrame({"email": ["a@x.com"], "event": ["open"], "timestamp": [date(2024, 3, 1)]}),
        pl.DataFrame({"email": ["a@x.com"], "event": ["open"], "timestamp": [1709287200]}),
    ]
    expected = [at(2024, 3, 1, 10), at(2024, 3, 1), at(2024, 3, 1, 10)]
    for index, (frame, when) in enumerate(zip(frames, expected, strict=True)):
        path = tmp_path / f"events{index}.parquet"
        frame.write_parquet(path)
        events = read_events(path)
        assert_canonical(events, EVENT_COLUMNS)
        assert events["timestamp"].to_list() == [when]
    assert read_events(tmp_path / "events0.parquet")["machine_open"].to_list() == [True]


def test_unreadable_parquet_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.parquet", b"PAR1" + b"\x01\x02garbage" * 10)
    with pytest.raises(InputError, match=r"broken\.parquet: the file starts like Parquet but cannot be read"):
        read_subscribers(path)


def test_parquet_with_nested_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    pl.DataFrame({"email": ["a@x.com"], "tags": [["a", "b"]]}).write_parquet(path)
    with pytest.raises(InputError, match=r"column 'tags'.*cannot be read as text"):
        read_subscribers(path)


# --- errors -------------------------------------------------------------------------------------


def test_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="file not found") as caught:
        read_subscribers(missing)
    assert str(missing) in str(caught.value)
    with pytest.raises(InputError, match="not a file"):
        read_events(tmp_path)


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", b"")
    with pytest.raises(InputError, match=r"empty\.csv: the file is empty \(0 bytes\)"):
        read_subscribers(path)
    with pytest.raises(InputError, match=r"<bytes>: the file is empty"):
        read_events(b"")


@pytest.mark.parametrize(
    "data", [b"email,name", b"email,name\n", b"email,name\r\n\r\n", b"\xef\xbb\xbfemail\n"]
)
def test_header_only_is_an_empty_list(data: bytes) -> None:
    frame = read_subscribers(data)
    assert frame.height == 0
    assert_canonical(frame, SUBSCRIBER_COLUMNS)
    events = read_events(b"email,event,timestamp,extra\n")
    assert events.height == 0 and events.columns[-1] == "extra"
    assert_canonical(events, EVENT_COLUMNS)


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),  # an .xlsx is a zip
        "email,name\na@x.com,Ann\n".encode("utf-16-le"),  # UTF-16 without a byte-order mark
        b"email,name\na@x.com,An\x00n\n",
    ],
)
def test_binary_files_are_refused(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "list.xlsx", data)
    with pytest.raises(InputError, match=r"list\.xlsx: the file is binary.*--encoding"):
        read_subscribers(path)


def test_missing_required_columns_list_the_headers_found() -> None:
    with pytest.raises(MissingColumnError) as caught:
        read_subscribers(b"Name,Phone\nAnn,123\n")
    assert str(caught.value).startswith("<bytes>, column 'email': required column is missing")
    assert "'Name', 'Phone'" in str(caught.value)
    for dropped in ("email", "event", "timestamp"):
        headers = [h for h in ("email", "event", "timestamp", "campaign") if h != dropped]
        with pytest.raises(MissingColumnError, match=rf"column '{dropped}'.*'campaign'"):
            read_events(",".join(headers).encode() + b"\n")


@pytest.mark.parametrize("headers", [b"Email,name,EMAIL", b"email,Tag, tag ", b"email,,"])
def test_duplicate_headers_are_refused(headers: bytes) -> None:
    with pytest.raises(InputError, match=r"<bytes>, column '.*': the header appears twice"):
        read_subscribers(headers + b"\na,b,c\n")


def test_reserved_column_names_are_refused() -> None:
    with pytest.raises(InputError, match=r"column 'source_row': this name is reserved"):
        read_subscribers(b"source_row,email\n1,a@x.com\n")


@pytest.mark.parametrize(
    ("data", "row", "fields"),
    [
        (b"email,name,city\na,b,c\nd,e\nf,g,h\n", 2, "2 fields"),
        (b"email,name,city\na,b,c\nd,e,f,g\n", 2, "4 fields"),
        (b"email,name,city\na,b,c,\n", 1, "4 fields"),  # a trailing separator is a fourth field
        (b"email,name,city\na\n", 1, "1 field"),
        (b'email,name,city\na,"multi\nline\n,row",c\nd,e\nf,g,h\n', 2, "2 fields"),  # row, not line
        (b"email;name\r\na;b\r\nc;d;e\r\n", 2, "3 fields"),
    ],
)
def test_ragged_rows_are_refused_with_their_row_number(data: bytes, row: int, fields: str) -> None:
    with pytest.raises(InputError, match=rf"<bytes>, row {row}: the row has {fields} but the header has"):
        read_subscribers(data)


def test_ragged_row_deep_in_a_big_file_is_numbered_exactly(tmp_path: Path) -> None:
    rows = [f'user{i}@x.com,"Name, {i}",2024-03-01\n' for i in range(120_000)]
    rows[99_999] = "short@x.com,only two\n"
    rows[5] = 'multi@x.com,"two\nlines",2024-03-01\n'
    path = write(tmp_path, "big.csv", ("email,name,signup_at\n" + "".join(rows)).encode())
    with pytest.raises(InputError, match=r"big\.csv, row 100000: the row has 2 fields"):
        read_subscribers(path)


def test_unclosed_quote_is_refused() -> None:
    with pytest.raises(InputError, match=r"<bytes>: a double quote is not matched"):
        read_subscribers(b'email,note\na@x.com,"never closed\nb@x.com,fine\n')


@pytest.mark.parametrize(
    ("reader", "data", "row", "column", "value"),
    [
        (
            read_subscribers,
            b"Email Address,OPTIN_TIME\na,2024-03-01\nb,03/01/2024\n",
            2,
            "OPTIN_TIME",
            "03/01/2024",
        ),
        (read_subscribers, b'email,signup_at\n"a\nb",2024-02-30\n', 1, "signup_at", "2024-02-30"),
        (read_events, b"email,event,time\na,open,1709287200\nb,open,yesterday\n", 2, "time", "yesterday"),
        (read_events, b"email,event,timestamp\na,open,999999999999\n", 1, "timestamp", "999999999999"),
    ],
)
def test_unparseable_timestamps_name_row_column_and_value(reader, data, row, column, value) -> None:
    expected = rf"<bytes>, row {row}, column '{column}': '{value}' is not a timestamp listkit understands"
    with pytest.raises(InputError, match=expected):
        reader(data)


def test_empty_event_timestamp_is_refused() -> None:
    with pytest.raises(InputError, match=r"row 2, column 'timestamp': the value is empty"):
        read_events(b"email,event,timestamp\na,open,2024-03-01\nb,click, \n")


# --- properties ---------------------------------------------------------------------------------

SEPARATOR_LIKE = [",", ";", "\t", '"', "\n", "\r\n", "\r", '""', " ", 'x"y', "a,b;c\td"]
CELL = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
    st.sampled_from(SEPARATOR_LIKE),
    st.lists(st.sampled_from([*SEPARATOR_LIKE, "é", "李", "🙂", "x"]), max_size=5).map("".join),
)


def extra_headers(taken: dict[str, tuple[str, ...]]) -> st.SearchStrategy[list[str]]:
    """Headers for pass-through columns: no separators or quotes, no alias, unique ignoring case."""
    reserved = {alias.strip().casefold() for aliases in taken.values() for alias in aliases}
    reserved |= {"source_row", "event_raw"}
    name = st.text("abcdefgXYZ_- 0123456789é", min_size=1, max_size=10).filter(
        lambda text: text.strip() and text.strip().casefold() not in reserved
    )
    return st.lists(name, min_size=1, max_size=4, unique_by=lambda text: text.strip().casefold())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_subscriber_lists_round_trip(data: st.DataObject) -> None:
    email_header = data.draw(st.sampled_from(SUBSCRIBER_ALIASES["email"]))
    headers = data.draw(st.permutations([email_header, *data.draw(extra_headers(SUBSCRIBER_ALIASES))]))
    rows = data.draw(st.lists(st.lists(CELL, min_size=len(headers), max_size=len(headers)), max_size=25))
    separator = data.draw(st.sampled_from([",", ";", "\t"]))
    encoded = csv_bytes([headers, *rows], delimiter=separator)
    if data.draw(st.booleans()):
        encoded = codecs.BOM_UTF8 + encoded

    frame = read_subscribers(encoded)

    # Convention under test: an empty cell reads as null, every other cell exactly as written.
    def expected(column: int) -> list[str | None]:
        return [row[column] if row[column] != "" else None for row in rows]

    assert frame.height == len(rows)
    assert frame["source_row"].to_list() == list(range(1, len(rows) + 1))
    assert frame["email"].to_list() == expected(headers.index(email_header))
    extras = [header for header in headers if header != email_header]
    assert frame.columns[len(SUBSCRIBER_COLUMNS) :] == extras
    for header in extras:
        assert frame[header].to_list() == expected(headers.index(header))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIMES = st.datetimes(min_value=datetime(2002, 1, 1), max_value=datetime(2099, 12, 31))  # 13-digit ms
OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def spell(moment: datetime, style: str, offset: timezone) -> tuple[str, datetime]:
    """Write a UTC moment in one accepted spelling; return the text and the instant it denotes."""
    utc = moment.replace(tzinfo=UTC)
    seconds = utc.replace(microsecond=0)
    match style:
        case "iso_z":
            return seconds.strftime("%Y-%m-%dT%H:%M:%SZ"), seconds
        case "iso_fraction_offset":
            return utc.astimezone(offset).isoformat(), utc
        case "naive_space":
            return seconds.strftime("%Y-%m-%d %H:%M:%S"), seconds
        case "date":
            midnight = datetime.combine(utc.date(), datetime.min.time(), UTC)
            return utc.strftime("%Y-%m-%d"), midnight
        case "unix":
            return str((seconds - EPOCH) // timedelta(seconds=1)), seconds
        case "unix_millis":
            millis = utc.replace(microsecond=utc.microsecond // 1000 * 1000)
            return str((millis - EPOCH) // timedelta(milliseconds=1)), millis  # exact, unlike float
    raise AssertionError(style)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_event_rows_and_timestamps_survive(data: st.DataObject) -> None:
    styles = ["iso_z", "iso_fraction_offset", "naive_space", "date", "unix", "unix_millis"]
    named = {
        canonical: data.draw(st.sampled_from(EVENT_ALIASES[canonical][:3])) for canonical in EVENT_ALIASES
    }
    required = [named["email"], named["event"], named["timestamp"]]
    headers = data.draw(st.permutations(required + data.draw(extra_headers(EVENT_ALIASES))))
    count = data.draw(st.integers(min_value=0, max_value=20))
    moments = [
        spell(data.draw(TIMES), data.draw(st.sampled_from(styles)), data.draw(OFFSETS)) for _ in range(count)
    ]
    rows = []
    for text, _ in moments:
        row = data.draw(st.lists(CELL, min_size=len(headers), max_size=len(headers)))
        row[headers.index(named["timestamp"])] = text
        rows.append(row)

    frame = read_events(csv_bytes([headers, *rows], delimiter=data.draw(st.sampled_from([",", ";", "\t"]))))

    assert frame.height == count
    assert frame["source_row"].to_list() == list(range(1, count + 1))
    assert frame["timestamp"].to_list() == [instant for _, instant in moments]
    assert frame["event_raw"].to_list() == [row[headers.index(named["event"])] or None for row in rows]
    assert frame["event"].null_count() == 0


def test_separator_is_sniffed_outside_quotes(tmp_path: Path) -> None:
    path = write(tmp_path, "list.tsv", b'"Name, full; really"\temail\n"Doe, Jane"\tj@x.com\n')
    frame = read_subscribers(path)
    assert frame["email"].to_list() == ["j@x.com"]
    assert frame["Name, full; really"].to_list() == ["Doe, Jane"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=80).map(str.encode))
def test_property_any_bytes_give_a_frame_or_an_input_error(data: bytes) -> None:
    for reader in (read_subscribers, read_events):
        try:
            frame = reader(b"email,event,timestamp\n" + data if data[:1] == b"," else data)
        except InputError as error:
            assert str(error).startswith("<bytes>")
        else:
            assert frame["source_row"].to_list() == list(range(1, frame.height + 1))


def test_compact_dates_are_refused_not_read_as_unix_seconds():
    with pytest.raises(InputError, match="20240301"):
        read_events(b"email,event,timestamp\na@example.com,open,20240301\n")


@pytest.mark.parametrize("encoding", ["rot13", "base64", "punycode"])
def test_an_encoding_that_is_no_text_codec_is_refused_in_one_line(tmp_path, encoding):
    path = tmp_path / "subscribers.csv"
    path.write_bytes("email\nann@exämple.com\n".encode())
    with pytest.raises(InputError, match=r"encoding|not valid"):
        read_subscribers(path, encoding=encoding)
