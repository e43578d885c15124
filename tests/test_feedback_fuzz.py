"""Fuzzing the feedback parser: whatever the mail, read_feedback returns frames or raises InputError.

Hostile and broken mail is the normal case for bounce processing: truncated multiparts, unknown and
impossible charsets, megabyte headers, NUL bytes, deep nesting, JSON with lone surrogates, files that
are not mail at all. The fuzz tests (marked ``fuzz``, bounded by ``max_examples``) start from real
messages (the fixtures and, when present, sisimai's corpus) and mutate them; every failure they
found is a named regression test below them.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listkit.errors import InputError
from listkit.feedback import STATS, read_feedback
from listkit.schema import EARLIEST_TIME, EVENT_COLUMNS, LATEST_TIME

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feedback"
SISIMAI = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "sisimai" / "maildir"


def _seeds() -> list[bytes]:
    """The fixture messages and every 8th message of sisimai's corpus (a spread of mail systems)."""
    paths = sorted(FIXTURES.rglob("*.eml"))
    if SISIMAI.is_dir():
        paths += sorted(SISIMAI.glob("*.eml"))[::8]
    return [path.read_bytes() for path in paths]


SEEDS = _seeds()
CHARSETS = [b"x-bogus", b"utf-7", b"rot13", b"zlib", b"idna", b"punycode", b"utf-16", b"unicode_escape",
            b"utf\x008", b"\xff\xfe", b""]  # fmt: skip
DATES = [b"Mon, 1 Jan 0001 00:00:00 +0100", b"Fri, 31 Dec 9999 23:59:59 -1200",
         b"Thu, 1 Jan 1970 00:00:00 +2359", b"1 Jan 99999999999 00:00 +0000", b"", b"yesterday"]  # fmt: skip


@st.composite
def mutated(draw) -> bytes:
    """A real message with a few of the things real broken mail does to it."""
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["cut", "insert", "nul", "header", "charset", "boundary", "date",
                                       "encoding", "words", "repeat", "nest"]))  # fmt: skip
        if action == "cut":
            data = data[:where]
        elif action == "insert":
            data = data[:where] + draw(st.binary(min_size=1, max_size=40)) + data[where:]
        elif action == "nul":
            data = data[:where] + b"\0" * draw(st.integers(1, 8)) + data[where:]
        elif action == "header":
            size = draw(st.sampled_from([1_000, 200_000]))
            data = (
                draw(st.sampled_from([b"Subject: ", b"To: ", b"Received: from x;"]))
                + b"y" * size
                + b"\n"
                + data
            )
        elif action == "charset":
            data = data.replace(b"charset", b"charset=" + draw(st.sampled_from(CHARSETS)) + b"; x", 1)
        elif action == "boundary":
            data = data.replace(b"boundary=", b"boundary=" + draw(st.sampled_from([b'""', b'"', b"\xff"])), 1)
        elif action == "date":
            data = data.replace(b"Date:", b"Date: " + draw(st.sampled_from(DATES)) + b"\nX-Was-Date:", 1)
        elif action == "encoding":
            data = data.replace(
                b"7bit", draw(st.sampled_from([b"base64", b"quoted-printable", b"x-uuencode"]))
            )
        elif action == "words":
            data = data.replace(
                b"Subject:", b"Subject: =?x-unknown?Q?a?= =?utf-8?B?!!!?= =?utf-8?Q?=FF?= =?utf\x008?Q?a?=", 1
            )
        elif action == "repeat":
            data = data[:where] + data[where : where + 200] * draw(st.integers(2, 50)) + data[where:]
        else:
            depth = draw(st.sampled_from([1, 5, 60, 101, 2000]))
            parts = b"".join(
                b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
            )
            data = b"From: mailer-daemon@x.example\nSubject: failure notice\n" + parts + data
    return data


@st.composite
def ses_notifications(draw) -> bytes:
    """Amazon SES JSON with odd types and text (lone surrogates survive JSON escapes).

    Mostly well-formed where the reader looks first (a known type, a list of recipients with an
    address), so that the odd values reach the parts that read them."""
    text = st.text(st.characters(codec="utf-8") | st.characters(categories=["Cs"]), max_size=12)
    odd = st.none() | st.integers() | st.floats() | st.lists(text, max_size=2)
    value = text | odd

    def mostly(usual: st.SearchStrategy, other: st.SearchStrategy) -> object:
        return draw(usual) if draw(st.integers(0, 4)) < 4 else draw(other)  # hypothesis favours 0

    def recipients(key: str) -> object:
        address = {key: st.sampled_from(["a@example.com", "b@x.example"]) | text}
        fields = {"status": text, "diagnosticCode": value}
        listed = st.lists(st.fixed_dictionaries(address, optional=fields), min_size=1, max_size=3)
        return mostly(listed, value)

    stamp = st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-03-15T16:05:09Z"]
    )
    bounce = {"bounceType": draw(value), "bouncedRecipients": recipients("emailAddress"),
              "timestamp": mostly(stamp, value)}  # fmt: skip
    complaint = {"complainedRecipients": recipients("emailAddress"), "timestamp": mostly(stamp, value),
                 "complaintFeedbackType": draw(value)}  # fmt: skip
    kind = mostly(st.sampled_from(["Bounce", "Complaint", "Delivery"]), value)
    body = {"notificationType": kind, "bounce": bounce, "complaint": complaint}
    wrapped = draw(st.booleans())
    payload = json.dumps({"Type": "Notification", "Message": json.dumps(body)} if wrapped else body)
    head = b"From: AWS Notifications <no-reply@sns.amazonaws.com>\nSubject: AWS Notification Message\n\n"
    return head + payload.encode()


def read_as(folder: Path, messages: list[bytes], container: str) -> Path:
    """Write ``messages`` as a folder of .eml files or as one mbox; return the path to read."""
    folder.mkdir(exist_ok=True)
    if container == "folder":
        for number, message in enumerate(messages):
            (folder / f"m{number:02d}.eml").write_bytes(message)
        return folder
    box = folder / "feedback.mbox"
    separators = (b"From MAILER-DAEMON Thu Mar  7 09:05:41 2024\n", b"From x\n", b"From \xff 99 99 99\n")
    box.write_bytes(b"".join(separators[n % 3] + m.replace(b"\nFrom ", b"\n>From ") + b"\n"
                             for n, m in enumerate(messages)))  # fmt: skip
    return box


def assert_frames_or_input_error(path: Path, count: int) -> None:
    """The parser's promise: canonical events and stats, or one InputError; never another exception."""
    try:
        result = read_feedback(path)
    except InputError:
        return
    events = result.events
    assert events.schema == pl.Schema(EVENT_COLUMNS)
    assert set(events["event"].cast(pl.String)) <= {"bounce", "complaint"}
    assert events["email"].null_count() == 0
    times = events["timestamp"].drop_nulls()
    assert times.is_empty() or (times.min() >= EARLIEST_TIME and times.max() <= LATEST_TIME)
    assert set(result.stats) == set(STATS)
    assert result.stats["messages"] == count or path.is_file()  # an mbox may split or join broken messages
    silent = sum(result.stats[k] for k in ("auto_replies", "unreadable", "no_recipient", "ignored"))
    assert len(result.problems) >= silent
    assert all("\n" not in line for line in result.problems)
    # A message the reader itself fails on is a bug to fix, not unreadable mail; only the email
    # package's own nesting limit is an honest "could not be parsed".
    crashes = [
        line for line in result.problems if "could not be parsed" in line and "RecursionError" not in line
    ]
    assert crashes == []


#: Bounded and repeatable in the suite; LISTKIT_FUZZ_EXAMPLES=5000 explores afresh (new examples each run).
EXAMPLES = int(os.environ.get("LISTKIT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXAMPLES or 60, derandomize=not EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])  # fmt: skip


@pytest.mark.fuzz
@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=3), st.sampled_from(["folder", "mbox"]))
def test_fuzzed_mail_gives_frames_or_an_input_error(tmp_path_factory, messages, container):
    path = read_as(tmp_path_factory.mktemp("fuzz"), messages, container)
    assert_frames_or_input_error(path, len(messages))


@pytest.mark.fuzz
@FUZZ
@given(st.lists(ses_notifications(), min_size=1, max_size=3))
def test_fuzzed_ses_notifications_give_frames(tmp_path_factory, messages):
    path = read_as(tmp_path_factory.mktemp("ses"), messages, "folder")
    assert_frames_or_input_error(path, len(messages))


@pytest.mark.fuzz
@FUZZ
@given(st.binary(max_size=2_000), st.sampled_from(["folder", "mbox"]))
def test_files_that_are_not_mail_give_frames_or_an_input_error(tmp_path_factory, data, container):
    path = read_as(tmp_path_factory.mktemp("bytes"), [data], container)
    assert_frames_or_input_error(path, 1)


# Regression tests: what the fuzzing found.


def _ses(body: dict, tmp_path: Path) -> Path:
    head = "From: AWS Notifications <no-reply@sns.amazonaws.com>\nDate: Fri, 15 Mar 2024 16:05:11 +0000\n\n"
    (tmp_path / "ses.eml").write_text(head + json.dumps(body))
    return tmp_path


def test_a_lone_surrogate_in_ses_json_is_read_not_a_crash(tmp_path):
    recipient = {"emailAddress": "a@example.com", "status": "5.1.1 \ud800", "diagnosticCode": "550 \udcff"}
    body = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [recipient]},
    }
    events = read_feedback(_ses(body, tmp_path)).events
    assert events.select("email", "smtp_status").rows() == [("a@example.com", "5.1.1 ? 550 ?")]


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1969-12-31T23:00:00Z",
        "3000-01-01T00:00:00Z",
    ],
)
def test_an_ses_time_outside_the_readable_span_falls_back_to_the_mail_date(tmp_path, stamp):
    recipient = {"emailAddress": "a@example.com"}
    body = {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [recipient], "timestamp": stamp}}
    [when] = read_feedback(_ses(body, tmp_path)).events["timestamp"].to_list()
    assert when == datetime(2024, 3, 15, 16, 5, 11, tzinfo=UTC)


def test_a_notice_dated_before_1970_takes_its_received_date(tmp_path):
    notice = (FIXTURES / "bounces" / "exim_permanent_error.eml").read_bytes()
    dated = notice.replace(b"Date:", b"Date: Thu, 1 Jan 1970 00:00:00 +2359\nX-Was:", 1)  # 1969-12-31 in UTC
    (tmp_path / "m.eml").write_bytes(dated)
    times = read_feedback(tmp_path).events["timestamp"]
    assert times.len() == 2 and (times == datetime(2024, 3, 8, 8, 30, 12, tzinfo=UTC)).all()


@pytest.mark.parametrize("depth", [150, 3000])
def test_deeply_nested_multiparts_are_unreadable_not_fatal(tmp_path, depth):
    # 3000 levels overflowed the email package's recursion; 900 took seconds (quadratic in the depth).
    parts = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth))
    (tmp_path / "deep.eml").write_text("From: mailer-daemon@x.example\nSubject: failure notice\n" + parts)
    (tmp_path / "ok.eml").write_bytes((FIXTURES / "bounces" / "postfix_user_unknown.eml").read_bytes())
    result = read_feedback(tmp_path)
    assert result.stats["messages"] == 2 and result.stats["unreadable"] == 1 and result.stats["bounces"] >= 1
    assert result.problems == ["deep.eml: more than 100 MIME multiparts, not a real notice"]


def test_crashing_bounce_detectors_log_nothing(tmp_path):
    # flufl.bounce's Yale detector fails on a From: without an address and logs the traceback, which
    # the CLI printed on stderr (and an application's logging would keep).
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        (tmp_path / "m.eml").write_text(
            "From: \nTo: x@example.com\nSubject: Returned mail\n\nleak@example.com\n"
        )
        read_feedback(tmp_path)
    finally:
        logging.getLogger().removeHandler(handler)
    assert [r for r in records if r.name.startswith("flufl")] == []


@pytest.mark.parametrize(
    "declared",
    [b'charset="utf\x008"', b"charset=idna", b"charset*=utf-8''x%00y", b"charset=rot13", b"charset=x-bogus"],
)
def test_a_charset_python_cannot_decode_still_gives_the_bounce(tmp_path, declared):
    # The email package itself failed on the first three where it reads the 8-bit text of the part.
    head = b"From: MAILER-DAEMON@mx.example\nSubject: =?utf\x008?Q?x?= failure notice\n"
    body = b"\n\n<j.doe@example.org>: 550 5.1.1 user unknown \xff\xfe\n"
    notice = head + b"Content-Type: text/plain; " + declared + body
    (tmp_path / "m.eml").write_bytes(notice)
    result = read_feedback(tmp_path)
    assert result.events["email"].to_list() == ["j.doe@example.org"], result.problems


@pytest.mark.parametrize(
    "recipients",
    [1e12, "a@example.com", {"emailAddress": "a@example.com"}, [["a@example.com"]], [{"emailAddress": 7}]],
)
def test_ses_json_of_the_wrong_shape_names_no_recipient(tmp_path, recipients):
    body = {"notificationType": "Bounce", "bounce": {"bouncedRecipients": recipients}}
    result = read_feedback(_ses(body, tmp_path))
    assert result.events.is_empty() and result.stats["no_recipient"] == 1
    assert result.problems == ["ses.eml: Amazon SES notification without a recipient"]


def test_ses_json_whose_blocks_are_not_objects_is_not_a_crash(tmp_path):
    body = {"notificationType": "Complaint", "complaint": ["a@example.com"], "bounce": "x"}
    result = read_feedback(_ses(body, tmp_path))
    assert result.stats["no_recipient"] == 1 and "could not be parsed" not in " ".join(result.problems)
