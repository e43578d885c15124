"""Feedback mail (DSN bounces, ARF complaints, auto-replies) read into canonical events."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from listkit.activity import bounce_class
from listkit.errors import InputError
from listkit.feedback import STATS, read_feedback
from listkit.schema import EVENT_COLUMNS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feedback"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


#: Every event the fixture folder yields: (email, event, smtp_status prefix, timestamp, campaign, source_row).
EXPECTED = [
    ("J.Doe@example.org", "bounce", "5.1.1 smtp; 550 5.1.1 <j.doe@example.org>: Recipient address rejected",
     _utc(2024, 3, 4, 9, 15, 25), "spring-2024-03", 5),
    ("no.such.person@gmail.com", "bounce", "5.1.1 smtp; 550-5.1.1 The email account that you tried",
     _utc(2024, 3, 5, 22, 2, 11), "spring-2024-03", 3),
    ("sales@corp.example", "bounce", "5.7.1 smtp; 554 5.7.1 Service unavailable; Client host",
     _utc(2024, 3, 7, 9, 5, 40), "partners.news.example.com", 4),
    ("t.berg@corp.example", "bounce", "5.7.1 smtp; 554 5.7.1 Service unavailable; Client host",
     _utc(2024, 3, 7, 9, 5, 40), "partners.news.example.com", 4),
    ("anna.k@mailbox.example.de", "bounce", "5.1.1 550 5.1.1 <anna.k@mailbox.example.de>: Recipient",
     _utc(2024, 3, 8, 8, 30, 12), None, 2),
    ("old.member@legacy.example.net", "bounce", "5.0.0", _utc(2024, 3, 8, 8, 30, 12), None, 2),
    ("lisa.m@yahoo.com", "complaint", None, _utc(2024, 3, 9, 9, 14, 52), "spring-2024-03", 7),
    ("mark.otto@hotmail.com", "complaint", None, _utc(2024, 3, 11, 0, 45), "partners-2024-03", 6),
]  # fmt: skip


@pytest.fixture(scope="module")
def folder_result():
    return read_feedback(FIXTURES)


def _mail(folder: Path, name: str, text: str) -> Path:
    """Write one hand-made message (LF line endings) into ``folder``."""
    path = folder / name
    path.write_bytes(text.lstrip("\n").encode())
    return path


def test_events_have_the_canonical_schema(folder_result):
    assert folder_result.events.schema == pl.Schema(EVENT_COLUMNS)


def test_every_fixture_yields_the_expected_events(folder_result):
    events = folder_result.events
    assert events.height == len(EXPECTED)
    for row, (email, event, status, when, campaign, source_row) in zip(
        events.iter_rows(named=True), EXPECTED, strict=True
    ):
        assert (row["email"], row["event"], row["timestamp"]) == (email, event, when)
        assert (row["campaign"], row["source_row"]) == (campaign, source_row)
        assert row["event_raw"] == ("dsn" if event == "bounce" else "arf")
        if status is None:
            assert row["smtp_status"] is None
        else:
            assert row["smtp_status"].startswith(status)
        assert row["bounce_type"] is None and row["user_agent"] is None and row["machine_open"] is None


def test_bounce_classes_come_from_the_status(folder_result):
    """engagement.py reads hard/soft/policy from smtp_status since feedback leaves bounce_type null."""
    classes = folder_result.events.filter(pl.col("event") == "bounce").select("email", cls=bounce_class())
    assert dict(classes.iter_rows()) == {
        "J.Doe@example.org": "hard",
        "no.such.person@gmail.com": "hard",
        "sales@corp.example": "policy",
        "t.berg@corp.example": "policy",
        "anna.k@mailbox.example.de": "hard",
        "old.member@legacy.example.net": "soft",  # flufl found it but no code was given
    }


def test_stats_and_problems(folder_result):
    assert folder_result.stats == {
        "messages": 9,
        "bounces": 6,
        "complaints": 2,
        "auto_replies": 1,
        "delays": 1,
        "unreadable": 1,
        "no_recipient": 0,
        "ignored": 0,
    }
    assert tuple(folder_result.stats) == STATS
    problems = folder_result.problems
    assert len(problems) == 3  # the delayed DSN, the garbage file and the out-of-office reply
    assert problems[0].startswith("bounces/delayed_mailbox_full.eml: delivery delayed")
    assert problems[1].startswith("other/garbage.eml: not an email message")
    assert problems[2].startswith("other/out_of_office.eml: automatic reply")


def test_delayed_dsn_is_not_a_bounce(folder_result):
    assert "maria.s@example.com" not in folder_result.events["email"].to_list()


def test_redacted_recipient_falls_back_to_the_original_to(folder_result):
    emails = folder_result.events["email"].to_list()
    assert "mark.otto@hotmail.com" in emails
    assert not any("redacted" in e.lower() or e.startswith("xxx") for e in emails)


def test_mbox_gives_the_same_events_as_the_folder(tmp_path, folder_result):
    path = tmp_path / "feedback.mbox"
    box = mailbox.mbox(path)
    for eml in sorted(FIXTURES.rglob("*.eml"), key=lambda p: p.relative_to(FIXTURES).as_posix()):
        box.add(eml.read_bytes())
    box.close()
    result = read_feedback(path)
    assert result.events.equals(folder_result.events)
    assert result.stats == folder_result.stats
    assert result.problems[1] == "feedback.mbox message 8: not an email message (no mail headers)"


def test_subset_mbox_numbers_its_own_messages(tmp_path):
    path = tmp_path / "complaints.mbox"
    box = mailbox.mbox(path)
    for name in ("complaints/yahoo_arf.eml", "other/out_of_office.eml"):
        box.add((FIXTURES / name).read_bytes())
    box.close()
    result = read_feedback(str(path))
    assert result.events.select("source_row", "email", "event").rows() == [
        (1, "lisa.m@yahoo.com", "complaint")
    ]
    assert result.stats["auto_replies"] == 1


def test_empty_mbox_is_an_empty_result(tmp_path):
    path = tmp_path / "empty.mbox"
    path.write_bytes(b"")
    result = read_feedback(path)
    assert result.events.is_empty() and result.events.schema == pl.Schema(EVENT_COLUMNS)
    assert result.stats["messages"] == 0


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: tmp / "missing", "cannot be read"),
        (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hello\n"))[0], "neither a folder"),
        (lambda tmp: (tmp / "empty", (tmp / "empty").mkdir())[0], "contains no .eml files"),
    ],
)
def test_bad_paths_raise_one_clear_error(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(InputError) as caught:
        read_feedback(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message
    assert "folder of .eml files or an mbox" in message and message.count("\n") == 0


ARF_HEAD = """
From: fbl@isp.example
To: fbl@news.example.com
Subject: complaint
Date: Tue, 2 Apr 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="B"

--B
Content-Type: message/feedback-report

Feedback-Type: {kind}
{rcpt}
--B--
"""


def test_odd_messages_are_counted_never_fatal(tmp_path):
    _mail(tmp_path, "01_empty.eml", "\n\n")
    _mail(
        tmp_path,
        "02_arf_no_recipient.eml",
        ARF_HEAD.format(kind="abuse", rcpt="Original-Rcpt-To: [REDACTED]"),
    )
    _mail(
        tmp_path, "03_not_spam.eml", ARF_HEAD.format(kind="not-spam", rcpt="Original-Rcpt-To: a@isp.example")
    )
    _mail(
        tmp_path,
        "04_human.eml",
        "From: a@b.example\nTo: news@news.example.com\nSubject: Re: offers\n\nThanks!\n",
    )
    _mail(
        tmp_path,
        "05_undated.eml",
        ARF_HEAD.format(kind="abuse", rcpt="Original-Rcpt-To: b@isp.example").replace(
            "Date: Tue, 2 Apr 2024 10:00:00 +0000\n", ""
        ),
    )
    _mail(
        tmp_path,
        "06_vacation.eml",
        "From: c@firm.example\nTo: news@news.example.com\nSubject: Re: offers\nAuto-Submitted: auto-replied\n"
        "Date: Tue, 2 Apr 2024 10:00:00 +0000\n\nI am away.\n",
    )
    _mail(
        tmp_path,
        "07_bounce_without_address.eml",
        "From: MAILER-DAEMON@mx.example\nTo: bounces@news.example.com\nSubject: failure notice\n"
        "Date: Tue, 2 Apr 2024 10:00:00 +0000\n\nSomething went wrong.\n",
    )
    _mail(
        tmp_path,
        "08_x_autoreply.eml",
        "From: d@firm.example\nTo: news@news.example.com\nSubject: Thanks\nX-Autoreply: yes\n\nAway.\n",
    )
    result = read_feedback(tmp_path)
    assert result.events.is_empty()
    assert result.stats == {
        "messages": 8,
        "bounces": 0,
        "complaints": 0,
        "auto_replies": 2,
        "delays": 0,
        "unreadable": 2,  # empty, undated
        "no_recipient": 2,  # redacted ARF, bounce without address
        "ignored": 2,  # not-spam report, human reply
    }
    assert [p.split(":")[0] for p in result.problems] == sorted(p.name for p in tmp_path.iterdir())
    assert "no usable date" in result.problems[4]


def test_dsn_multiple_blocks_and_status_fallbacks(tmp_path):
    _mail(
        tmp_path,
        "dsn.eml",
        """
From: MAILER-DAEMON@mx.example
To: bounces@news.example.com
Subject: Undelivered Mail Returned to Sender
Date: Wed, 3 Apr 2024 12:00:00 +0200
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; <ok@x.example>
Action: delivered
Status: 2.0.0

Final-Recipient: rfc822; gone@x.example
Action: failed
Diagnostic-Code: smtp; 550 5.2.1 mailbox disabled

Final-Recipient: rfc822; nocode@x.example
Action: failed

Final-Recipient: rfc822; slow@x.example
Action: delayed
Status: 4.4.1
--B--
""",
    )
    result = read_feedback(tmp_path)
    assert result.events.select("email", "smtp_status", "timestamp").rows() == [
        ("gone@x.example", "5.2.1 smtp; 550 5.2.1 mailbox disabled", _utc(2024, 4, 3, 10)),
        ("nocode@x.example", "5.0.0", _utc(2024, 4, 3, 10)),
    ]
    assert result.stats["bounces"] == 2 and result.stats["delays"] == 1 and result.problems == []


def test_flufl_delay_warnings_are_delays_not_bounces(tmp_path):
    """flufl.bounce reports delay warnings as temporary failures: counted like ``Action: delayed``."""
    _mail(
        tmp_path,
        "warning.eml",
        """
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounces@news.example.com
Subject: Delivery Status Notification (Delay)
Date: Thu, 4 Apr 2024 08:00:00 +0000
Content-Type: text/plain; charset=us-ascii

This is an automatically generated Delivery Status Notification

THIS IS A WARNING MESSAGE ONLY.

YOU DO NOT NEED TO RESEND YOUR MESSAGE.

Delivery to the following recipient has been delayed:

     slow.server@example.net

Message will be retried for 2 more day(s)
""",
    )
    result = read_feedback(tmp_path)
    assert result.events.is_empty()
    assert result.stats["delays"] == 1 and result.stats["bounces"] == 0
    assert result.problems == ["warning.eml: delivery delayed for 1 recipient(s), still being retried"]


def test_a_crash_on_one_message_is_reported_not_raised(tmp_path, monkeypatch):
    import listkit.feedback as feedback

    def explode(*args):
        raise RuntimeError("boom")

    for name in ("complaints/yahoo_arf.eml", "bounces/exim_permanent_error.eml"):
        target = tmp_path / name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes((FIXTURES / name).read_bytes())
    monkeypatch.setattr(feedback, "_from_arf", explode)
    monkeypatch.setattr(feedback, "all_failures", explode)
    result = read_feedback(tmp_path)
    assert result.events.is_empty()
    # The ARF crash is caught per message; a crashing flufl detector just means "not recognised",
    # and the Exim bounce then still looks like a bounce (Mailer-Daemon sender).
    assert result.stats["unreadable"] == 1 and result.stats["no_recipient"] == 1
    assert result.problems[1] == "complaints/yahoo_arf.eml: could not be parsed (RuntimeError: boom)"


def test_global_dsn_with_utf8_addresses(tmp_path):
    """RFC 6533 message/global-delivery-status: 8-bit UTF-8 fields, blocks not split by the parser."""
    raw = """
From: MAILER-DAEMON@mx.example
To: bounces@news.example.com
Subject: Undelivered Mail Returned to Sender
Date: Tue, 2 Apr 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: message/global-delivery-status

Reporting-MTA: dns; mx.example
Arrival-Date: Tue, 2 Apr 2024 09:00:00 +0000

Final-Recipient: utf-8; jürgen@bücher.example
Action: failed
Status: 5.1.1

Original-Recipient: rfc822; Plain@Example.org
Final-Recipient: rfc822; plain@example.org
Action: failed
Status: 5.2.2
--B--
"""
    (tmp_path / "global.eml").write_bytes(raw.lstrip("\n").encode("utf-8"))
    result = read_feedback(tmp_path)
    assert result.events.select("email", "smtp_status", "timestamp").rows() == [
        ("Plain@Example.org", "5.2.2", _utc(2024, 4, 2, 9)),
        ("jürgen@bücher.example", "5.1.1", _utc(2024, 4, 2, 9)),
    ]
