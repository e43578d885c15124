"""Feedback mail (DSN bounces, ARF complaints, SES notifications, auto-replies) read into canonical events."""

from __future__ import annotations

import json
import mailbox
import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from listkit.bounces import classify_bounces
from listkit.errors import InputError
from listkit.feedback import STATS, read_feedback
from listkit.schema import EVENT_COLUMNS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feedback"
SISIMAI = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "sisimai"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


#: Every event the fixture folder yields, in its order (timestamp, email):
#: (email, event, smtp_status prefix, timestamp, campaign, source_row, bounce_type).
EXPECTED = [
    ("J.Doe@example.org", "bounce", "5.1.1 smtp; 550 5.1.1 <j.doe@example.org>: Recipient address rejected",
     _utc(2024, 3, 4, 9, 15, 25), "spring-2024-03", 6, None),
    ("no.such.person@gmail.com", "bounce", "5.1.1 smtp; 550-5.1.1 The email account that you tried",
     _utc(2024, 3, 5, 22, 2, 11), "spring-2024-03", 4, None),
    ("sales@corp.example", "bounce", "5.7.1 smtp; 554 5.7.1 Service unavailable; Client host",
     _utc(2024, 3, 7, 9, 5, 40), "partners.news.example.com", 5, None),
    ("t.berg@corp.example", "bounce", "5.7.1 smtp; 554 5.7.1 Service unavailable; Client host",
     _utc(2024, 3, 7, 9, 5, 40), "partners.news.example.com", 5, None),
    # Exim, through flufl.bounce: the notice's lines about each recipient, campaign from the quoted copy.
    ("anna.k@mailbox.example.de", "bounce", "anna.k@mailbox.example.de host mx00.mailbox.example.de",
     _utc(2024, 3, 8, 8, 30, 12), "spring-2024-03", 3, None),
    ("old.member@legacy.example.net", "bounce", "old.member@legacy.example.net retry timeout exceeded",
     _utc(2024, 3, 8, 8, 30, 12), "spring-2024-03", 3, None),
    ("lisa.m@yahoo.com", "complaint", None, _utc(2024, 3, 9, 9, 14, 52), "spring-2024-03", 12, None),
    ("mark.otto@hotmail.com", "complaint", None, _utc(2024, 3, 11, 0, 45), "partners-2024-03", 9, None),
    # No Date, Arrival-Date or Last-Attempt-Date: the newest Received: header's date.
    ("k.lee@example.net", "bounce", "5.0.0 smtp; 550 5.0.0 <k.lee@example.net>... User unknown",
     _utc(2024, 3, 12, 7, 41, 9), "spring-2024-03b", 8, None),
    # "Action: Failed (bad destination mailbox address)" and "Action: failure"; comments dropped from Status.
    ("h.sato@isp.example", "bounce", "5.1.1 smtp;550 5.1.1 No such user",
     _utc(2024, 3, 13, 10, 2, 1), "spring-2024-03b", 1, None),
    ("p.moreau@isp.example", "bounce", "5.2.2 smtp;552 5.2.2 Mailbox full",
     _utc(2024, 3, 13, 10, 2, 1), "spring-2024-03b", 1, None),
    # An undated ARF report: the Received: header's date.
    ("r.costa@mailbox.example", "complaint", None,
     _utc(2024, 3, 14, 18, 22, 31), "spring-2024-03b", 11, None),
    # Amazon SES notifications (the bounce bare, the complaint in an SNS envelope): SES's own times.
    ("t.nguyen@example.com", "bounce", "5.1.1 smtp; 550 5.1.1 <t.nguyen@example.com>: Recipient address",
     datetime(2024, 3, 15, 16, 5, 9, 412000, tzinfo=UTC), None, 7, "hard"),
    ("m.garcia@example.org", "complaint", None, _utc(2024, 3, 16, 12, 30, 37), None, 10, None),
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
    for row, (email, event, status, when, campaign, source_row, bounce_type) in zip(
        events.iter_rows(named=True), EXPECTED, strict=True
    ):
        assert (row["email"], row["event"], row["timestamp"]) == (email, event, when)
        assert (row["campaign"], row["source_row"], row["bounce_type"]) == (campaign, source_row, bounce_type)
        assert row["event_raw"] == ("dsn" if event == "bounce" else "arf")
        if status is None:
            assert row["smtp_status"] is None
        else:
            assert row["smtp_status"].startswith(status)
        assert row["user_agent"] is None and row["machine_open"] is None


def test_bounce_reasons_come_from_the_status(folder_result):
    """The pipeline classifies what feedback leaves in smtp_status (bounce_type is null but for SES)."""
    bounces = classify_bounces(folder_result.events.filter(pl.col("event") == "bounce"))
    assert {
        e: (r, c) for e, r, c in bounces.select("email", "bounce_reason", "bounce_class").iter_rows()
    } == {
        "J.Doe@example.org": ("user_unknown", "hard"),
        "no.such.person@gmail.com": ("user_unknown", "hard"),
        "sales@corp.example": ("blocked", "policy"),
        "t.berg@corp.example": ("blocked", "policy"),
        "anna.k@mailbox.example.de": ("user_unknown", "hard"),
        "old.member@legacy.example.net": ("expired", "soft"),  # Exim gave up: "retry timeout exceeded"
        "k.lee@example.net": ("user_unknown", "hard"),  # Status 5.0.0: the cause is in the text
        "h.sato@isp.example": ("user_unknown", "hard"),
        "p.moreau@isp.example": ("mailbox_full", "soft"),
        "t.nguyen@example.com": ("user_unknown", "hard"),
    }


def test_stats_and_problems(folder_result):
    assert folder_result.stats == {
        "messages": 14,
        "bounces": 10,
        "complaints": 4,
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
    assert result.problems[1] == "feedback.mbox message 13: not an email message (no mail headers)"


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
    saved = _utc(2024, 4, 3, 8, 0)
    os.utime(tmp_path / "05_undated.eml", (saved.timestamp(), saved.timestamp()))
    result = read_feedback(tmp_path)
    # A complaint is never dropped for want of a date: this one has none at all (its file's time is
    # not its content, so it is not used); the run dates it as_of.
    assert result.events.select("email", "event", "timestamp").rows() == [
        ("b@isp.example", "complaint", None)
    ]
    assert result.stats == {
        "messages": 8,
        "bounces": 0,
        "complaints": 1,
        "auto_replies": 2,
        "delays": 0,
        "unreadable": 1,  # empty
        "no_recipient": 2,  # redacted ARF, bounce without address
        "ignored": 2,  # not-spam report, human reply
    }
    listed = sorted(p.name for p in tmp_path.iterdir() if p.name != "05_undated.eml")
    assert [p.split(":")[0] for p in result.problems] == listed


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
    # The ARF crash is caught per message; a crashing flufl detector just means "not recognised",
    # and the Exim notice's own text still names both failed recipients.
    assert result.events["email"].to_list() == ["anna.k@mailbox.example.de", "old.member@legacy.example.net"]
    assert result.stats["unreadable"] == 1 and result.stats["bounces"] == 2
    assert result.problems == ["complaints/yahoo_arf.eml: could not be parsed (RuntimeError: boom)"]


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


UNDATED_ARF = (FIXTURES / "complaints" / "undated_arf.eml").read_bytes()
UNRECEIVED_ARF = b"".join(  # the undated ARF fixture without its Received: header either
    line for line in UNDATED_ARF.splitlines(keepends=True)[5:] if not line.startswith(b"Return-Path")
)


def test_an_undated_message_in_an_mbox_takes_its_from_line_date(tmp_path):
    path = tmp_path / "feedback.mbox"
    path.write_bytes(b"From abuse@mailbox.example  Thu Mar 14 18:22:31 2024\n" + UNRECEIVED_ARF)
    result = read_feedback(path)
    assert result.events.select("email", "timestamp").rows() == [
        ("r.costa@mailbox.example", _utc(2024, 3, 14, 18, 22, 31))
    ]


def test_a_complaint_without_any_date_is_kept_with_a_null_time(tmp_path):
    """The last resort: the caller fills in as_of. An mbox separator line need not carry a date."""
    path = tmp_path / "feedback.mbox"
    path.write_bytes(b"From abuse@mailbox.example\n" + UNRECEIVED_ARF)
    result = read_feedback(path)
    assert result.events.select("email", "event", "timestamp").rows() == [
        ("r.costa@mailbox.example", "complaint", None)
    ]
    assert result.stats["complaints"] == 1 and result.problems == []


def test_the_date_header_comes_before_received_headers(tmp_path):
    dated = UNDATED_ARF.replace(b"Subject:", b"Date: Thu, 14 Mar 2024 18:20:00 +0000\nSubject:", 1)
    (tmp_path / "arf.eml").write_bytes(dated)
    assert read_feedback(tmp_path).events["timestamp"].to_list() == [_utc(2024, 3, 14, 18, 20)]


DSN_BLOCK = """
From: MAILER-DAEMON@mx.example
To: bounces@news.example.com
Subject: Undelivered Mail Returned to Sender
Date: Wed, 3 Apr 2024 12:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; someone@x.example
{action}Status: {status}
--B--
"""


@pytest.mark.parametrize(
    ("action", "status", "bounces", "delays"),
    [
        ("Action: failed", "5.1.1", 1, 0),
        ("Action: failure", "5.1.1", 1, 0),
        ("Action: Failed", "5.1.1", 1, 0),
        ("Action: FAILED", "5.1.1", 1, 0),
        ("Action: error", "5.1.1", 1, 0),  # OpenSMTPD
        ("Action: failed (bad destination mailbox address)", "5.1.1", 1, 0),
        ("Action: (permanent) failure", "5.1.1", 1, 0),
        ("Action: expired", "4.4.7", 1, 0),  # SendGrid: the MTA gave up
        ("Action: delayed", "4.4.1", 0, 1),
        ("Action: Delayed (will retry)", "4.4.1", 0, 1),
        ("Action: delivered", "2.0.0", 0, 0),
        ("Action: relayed", "2.0.0", 0, 0),
        ("", "5.2.1", 1, 0),  # no Action field: the permanent status says failed
        ("", "4.2.2", 0, 1),
    ],
)
def test_every_action_spelling(tmp_path, action, status, bounces, delays):
    _mail(tmp_path, "dsn.eml", DSN_BLOCK.format(action=f"{action}\n" if action else "", status=status))
    result = read_feedback(tmp_path)
    assert (result.stats["bounces"], result.stats["delays"]) == (bounces, delays)
    if bounces:
        assert result.events.select("email", "smtp_status").row(0) == ("someone@x.example", status)


def test_a_dsn_without_diagnostic_takes_the_notices_words(tmp_path):
    """OpenSMTPD's report says only "5.0.0"; its notice has the remote server's reply per recipient."""
    _mail(
        tmp_path,
        "opensmtpd.eml",
        """
From: Mailer Daemon <MAILER-DAEMON@mx.news.example.com>
To: bounces@news.example.com
Subject: Delivery status notification: error
Date: Mon, 8 Apr 2024 06:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

    Hi!

    This is the MAILER-DAEMON, please DO NOT REPLY to this email.

    An error has occurred while attempting to deliver a message for
    the following list of recipients:

full@example.org: 552 5.2.2 <full@example.org>: Mailbox full
gone@example.org: 550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown

    Below is a copy of the original message:

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.news.example.com

Final-Recipient: rfc822; full@example.org
Action: failed
Status: 5.0.0

Final-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.0.0
--B--
""",
    )
    bounces = classify_bounces(read_feedback(tmp_path).events)
    assert bounces.select("email", "smtp_status", "bounce_reason").rows() == [
        (
            "full@example.org",
            "5.0.0 full@example.org: 552 5.2.2 <full@example.org>: Mailbox full",
            "mailbox_full",
        ),
        (
            "gone@example.org",
            "5.0.0 gone@example.org: 550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown",
            "user_unknown",
        ),
    ]


def test_a_plain_text_notice_names_its_failed_recipients(tmp_path):
    """DragonFly's notice: no report, no address flufl.bounce knows; the contact address is not one."""
    _mail(
        tmp_path,
        "dma.eml",
        """
From: MAILER-DAEMON <>
To: news@news.example.com
Subject: Mail delivery failed
Date: Tue, 9 Apr 2024 18:02:02 +0900

This is the DragonFly Mail Agent v0.13 at relay.example.jp.
For help, please contact <helpdesk@relay.example.jp>.

There was an error delivering your mail to <r.tanaka@example.jp>.

mx.example.jp [192.0.2.25] did not like our RCPT TO:
550 5.2.1 <r.tanaka@example.jp>: Recipient address rejected: Account disabled

Message headers follow.

Received: from app3.news.example.com (app3.news.example.com [198.51.100.20])
\tby relay.example.jp (DragonFly Mail Agent v0.13); Tue, 9 Apr 2024 18:02:00 +0900
Subject: April offers
To: <r.tanaka@example.jp>
X-Campaign: april-2024
From: <news@news.example.com>
""",
    )
    bounces = classify_bounces(read_feedback(tmp_path).events)
    assert bounces.select("email", "campaign", "bounce_reason", "bounce_class").rows() == [
        ("r.tanaka@example.jp", "april-2024", "mailbox_disabled", "hard")
    ]
    assert "550 5.2.1" in bounces["smtp_status"][0]


def test_a_notice_naming_no_address_bounces_the_returned_messages_recipient(tmp_path):
    """A carrier's gateway says only that the message failed; the returned headers say to whom."""
    _mail(
        tmp_path,
        "mmsc.eml",
        """
From: MMSC NDR Administrator <sysadmin@mms.carrier.example>
To: news@news.example.com
Subject: Undeliverable Message
Date: Wed, 10 Apr 2024 10:29:52 +0000

Message could not be delivered to mobile.
Error: No valid recipients for this MM


Original Message:
From: Example News <news@news.example.com>
To: 5550100@mms.carrier.example
Subject: April offers
""",
    )
    result = read_feedback(tmp_path)
    assert result.events.select("email", "event").rows() == [("5550100@mms.carrier.example", "bounce")]
    assert classify_bounces(result.events)["bounce_class"].to_list() == ["hard"]


def test_a_plain_text_delay_warning_is_a_delay(tmp_path):
    _mail(
        tmp_path,
        "warning.eml",
        """
From: Mailer Daemon <MAILER-DAEMON@mx.news.example.com>
To: bounces@news.example.com
Subject: Delivery status notification: delayed
Date: Mon, 8 Apr 2024 06:00:00 +0000

    A message is delayed for more than 4 hours for the following
    list of recipients:

slow@example.net: 421 4.7.0 Try again later

    Please note that this is only a temporary failure report.
""",
    )
    result = read_feedback(tmp_path)
    assert result.events.is_empty() and result.stats["delays"] == 1


@pytest.mark.parametrize(
    ("notification", "kind", "why"),
    [
        (
            {"notificationType": "Delivery", "delivery": {"recipients": ["a@example.com"]}},
            "ignored",
            "Delivery",
        ),
        (
            {"notificationType": "Complaint", "complaint": {"complaintFeedbackType": "not-spam"}},
            "ignored",
            "not-spam",
        ),
        ({"notificationType": "Bounce", "bounce": {"bouncedRecipients": []}}, "no_recipient", "recipient"),
    ],
)
def test_ses_notifications_that_are_not_events(tmp_path, notification, kind, why):
    _mail(
        tmp_path,
        "ses.eml",
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: ses@news.example.com\n"
        "Subject: AWS Notification Message\nDate: Fri, 15 Mar 2024 16:05:11 +0000\n\n"
        + json.dumps(notification),
    )
    result = read_feedback(tmp_path)
    assert result.events.is_empty() and result.stats[kind] == 1 and why in result.problems[0]


# --- The sisimai corpus: 518 real bounces and non-bounces (see its README) --------------------------

#: Delay warnings ("still trying", Action: delayed): counted as delays, never bounces.
CORPUS_DELAYS = {
    "lhost-exim-38.eml", "lhost-exim-41.eml", "lhost-gmail-06.eml", "lhost-gmail-08.eml",
    "lhost-gmail-09.eml", "lhost-gmail-17.eml", "lhost-messagingserver-07.eml", "lhost-opensmtpd-04.eml",
    "lhost-opensmtpd-06.eml", "lhost-opensmtpd-12.eml", "lhost-opensmtpd-13.eml", "lhost-opensmtpd-15.eml",
    "lhost-opensmtpd-16.eml", "lhost-outlook-06.eml", "lhost-sendmail-29.eml", "lhost-sendmail-55.eml",
    "lhost-zoho-04.eml",
}  # fmt: skip
#: A mailing-list manager's replies to a poster (not a member; duplicated Message-ID): no mailbox failed.
CORPUS_LIST_REPLIES = {"lhost-fml-02.eml", "lhost-fml-03.eml"}
#: Filed by sisimai under "not a bounce", but a postmaster's "rejected ... Mailbox full" notice naming
#: the recipient: listkit reads a (temporary) bounce.
CORPUS_NOT_BOUNCE_BUT_FULL = "not-rb-issue-368-bug.eml"


@pytest.fixture(scope="module")
def corpus():
    """(labels, read_feedback result with a ``file`` column) of the sisimai corpus, or skip."""
    if not (SISIMAI / "labels.json").is_file():
        pytest.skip(f"the sisimai corpus is not at {SISIMAI}")
    labels = json.loads((SISIMAI / "labels.json").read_text())
    names = sorted(p.name for p in (SISIMAI / "maildir").glob("*.eml"))
    result = read_feedback(SISIMAI / "maildir")
    files = pl.Series("file", names).gather(result.events["source_row"] - 1)
    return labels, result, result.events.with_columns(files)


def test_corpus_every_named_failed_recipient_yields_a_bounce(corpus):
    labels, result, events = corpus
    bounces = dict(events.filter(pl.col("event") == "bounce").group_by("file").len().iter_rows())
    expected = {
        f: sum(e["reason"] not in ("not_bounce", "delivered", "feedback") for e in es)
        for f, es in labels.items()
    }
    missing = {f for f, n in expected.items() if n and not bounces.get(f)}
    assert missing == CORPUS_DELAYS | CORPUS_LIST_REPLIES
    # Per recipient: every entry of the labels has its bounce, but in the delay warnings and list replies.
    found = sum(min(n, bounces.get(f, 0)) for f, n in expected.items())
    assert found == sum(expected.values()) - len(CORPUS_DELAYS | CORPUS_LIST_REPLIES) == 519
    assert result.stats["delays"] == len(CORPUS_DELAYS)
    assert result.stats["unreadable"] == result.stats["no_recipient"] == 0


def test_corpus_non_bounces_yield_no_bounce(corpus):
    labels, _, events = corpus
    by_file = {f: events.filter(pl.col("file") == f)["event"].cast(pl.String).to_list() for f in labels}
    assert by_file["not-is-not-bounce-01.eml"] == by_file["not-is-not-bounce-02.eml"] == []
    assert by_file[CORPUS_NOT_BOUNCE_BUT_FULL] == ["bounce"]
    full = classify_bounces(events.filter(pl.col("file") == CORPUS_NOT_BOUNCE_BUT_FULL))
    assert full.select("bounce_reason", "bounce_class").row(0) == ("mailbox_full", "soft")
    # Amazon SES: a complaint notification is a complaint; delivery notifications are nothing.
    assert by_file["lhost-amazonses-11.eml"] == ["complaint"]
    assert by_file["lhost-amazonses-12.eml"] == by_file["lhost-amazonses-13.eml"] == []


def test_corpus_events_are_addresses_with_times(corpus):
    """No message id, JSON fragment, file path or daemon address becomes a recipient; events are dated.

    Two bounces carry no date of their own (only the returned original has one): the run dates them
    as_of, never by the file's modification time.
    """
    _, _, events = corpus
    assert events["email"].str.contains(r"^[^@\s<>\"{}]+@[\w-]+(\.[\w-]+)+$").all()
    assert not events["email"].str.to_lowercase().str.starts_with("mailer-daemon@").any()
    undated = events.filter(pl.col("timestamp").is_null())["file"].to_list()
    assert undated == ["lhost-einsundeins-03.eml", "rhost-franceptt-04.eml"]
    assert events.filter(pl.col("event") == "bounce")["smtp_status"].null_count() == 0
