"""Raw feedback mail (bounces and spam complaints) turned into canonical events.

``read_feedback`` reads a folder of ``.eml`` files (recursively, in relative-path order) or an mbox.
Each message is tried with the most reliable reader first:

- RFC 3464 DSNs: a ``bounce`` per failed recipient (``Action: failed``, ``failure``, ``error``,
  any case, comments allowed; a block without ``Action`` counts as failed when its status is
  5.x.x). ``smtp_status`` is the RFC 3463 code, then the Diagnostic-Code ("5.1.1 smtp; 550 ...").
  Report fields printed into the text of the message (forwarded bounces, mail systems that write
  the report in the body) count as a report. ``Action: delayed`` is only counted: the MTA is still
  trying, nothing is known about the mailbox.
- RFC 5965 ARF reports: a ``complaint`` per ``Original-Rcpt-To`` or, when missing or redacted
  (Microsoft JMRP...), the returned message's ``To:``; ``not-spam``/``auth-failure`` are not.
- Amazon SES notifications (JSON, as SNS mails them): ``Bounce`` gives bounces (``bounce_type``
  hard for ``Permanent``, soft for ``Transient``), ``Complaint`` complaints.
- Other bounces (Exim, qmail, Exchange, OpenSMTPD, carriers...): the recipients flufl.bounce finds,
  or else those the notice names (:mod:`listkit.bounce_text`), or else the returned message's
  ``To:``; ``smtp_status`` is the notice's text about that recipient (its SMTP reply and reason),
  for :func:`listkit.bounces.classify_bounces` to read. Delay warnings are only counted.
- Auto-replies, unreadable and unrelated mail are counted and listed, never fatal.

``bounce_type`` stays null except for SES: the cause is read from ``smtp_status``.

A complaint or bounce is never dropped for want of a date. Its timestamp is, in this order: the
report's ``Last-Attempt-Date`` or ``Arrival-Date`` (DSN), ``Arrival-Date``/``Received-Date`` (ARF)
or the notification's own time (SES); the message's ``Date``; the newest ``Received:`` header's
date; the date of its mbox ``From `` line; and when none is known, null, for the caller to fill in
(the run's ``as_of``). A date outside the times listkit reads (before 1970, after 2999) counts as
none. A file's modification time is never used: copying a folder changes it, and the same input
must give the same output.
"""

from __future__ import annotations

import email
import functools
import json
import logging
import mailbox
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import polars as pl
from flufl.bounce import all_failures

from listkit.bounce_text import (
    PARAGRAPH,
    bounce_part,
    embedded_reports,
    failed_recipients,
    is_delay_warning,
    plausible_address,
    returned_headers,
)
from listkit.bounces import ENHANCED_CODE
from listkit.errors import InputError
from listkit.privacy import redact
from listkit.schema import EARLIEST_TIME, EVENT_COLUMNS, LATEST_TIME, SUBTYPE_MEANINGS, vocabulary_keys

#: flufl.bounce logs each crash of its detectors with a traceback, which can quote the message (and
#: its addresses) on stderr: a crashing detector only means "not recognised" here (see _from_flufl).
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())
logging.getLogger("flufl.bounce").propagate = False

#: ``stats`` keys: messages read; recipients (a DSN may name several); messages that gave no event.
_PER_RECIPIENT = ("bounces", "complaints", "delays")
_PER_MESSAGE = ("auto_replies", "unreadable", "no_recipient", "ignored")
STATS = ("messages", *_PER_RECIPIENT, *_PER_MESSAGE)

#: RFC 3463 enhanced status code, not part of a longer dotted number such as an IP address.
_STATUS_CODE = re.compile(rf"(?<![\d.]){ENHANCED_CODE}(?!\.?\d)")
#: Headers of which at least one must be present for bytes to count as a mail message.
_MAIL_HEADERS = {"from", "to", "date", "subject", "received", "message-id", "return-path", "content-type"}
_AUTO_SUBJECT = re.compile(
    r"(?i)^\s*(automatic reply|auto[- ]?(reply|response)|autoreply|r[ée]ponse automatique"
    r"|respuesta autom[áa]tica|abwesenheitsnotiz)\b|out of (the )?office"
)
_BOUNCE_SENDER = re.compile(r"(?i)\b(mailer-daemon|post_?master)\b")
_BOUNCE_SUBJECT = re.compile(
    r"(?i)undeliver|delivery (status|fail|notification)|failure notice|returned mail|mail delivery failed"
    r"|mail (system )?error|non-?delivery|could not be delivered|returned to sender|mail failure"
)
#: Phrases of a notice that some delivery failed, for bounces from no daemon address with no telling subject.
_BOUNCE_TEXT = re.compile(
    r"(?i)could not be delivered|undeliverable|delivery (to .{0,80})?(has )?failed|permanent (fatal )?errors?"
    r"|(was|were) not delivered|failed permanently"
)
#: Action values of a failed recipient (RFC 3464 says "failed"; MTAs also write these).
_FAILED_ACTIONS = ("failed", "failure", "fail", "error", "expired")  # "expired": SendGrid gave up
_COMMENT = re.compile(r"\([^()]*\)")
#: The columns feedback fills.
_ROW_COLUMNS = ("email", "event", "event_raw", "timestamp", "campaign", "smtp_status", "bounce_type")
_DELAYED = "delivery delayed for {} recipient(s), still being retried"
_CAMPAIGN_HEADERS = ("x-campaign", "x-campaign-id", "list-id", "message-id")  # the first one present wins
_NO_COMPLAINT_TYPES = ("not-spam", "auth-failure")  # RFC 6430 and RFC 6591 reports
#: Sender-side headers: their addresses are never failed recipients.
_SENDER_HEADERS = ("from", "to", "cc", "reply-to", "return-path", "sender")
_ORIGINAL_SENDER_HEADERS = ("from", "sender", "reply-to", "return-path")
_MESSAGE_ID = re.compile(r"(?im)^\s*(?:message-id|in-reply-to|references)\s*:\s*<?([^>\s]+)>?")
#: Real bounces and reports have a handful of MIME parts; hostile mail can nest a thousand.
_MAX_MULTIPARTS = 100
_BOUNDARY = re.compile(rb"(?i)boundary\s*\*?=")
#: SES notification JSON as SNS mails it; long lines come back folded as "!" + newline + space.
_SES_FOLD = re.compile(r"!\r?\n ")


@dataclass(frozen=True)
class FeedbackResult:
    """Events read from feedback mail, with counts and one line per message that gave none."""

    events: pl.DataFrame
    stats: dict[str, int]
    problems: list[str]


@dataclass
class _Found:
    """What one message yields: event rows, or the stats key and reason why it yields none."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    kind: str = ""
    why: str = ""
    delays: int = 0


def read_feedback(path: str | Path) -> FeedbackResult:
    """Events from a folder of ``.eml`` files or an mbox; ``source_row`` is the message's number.

    Raises :class:`~listkit.errors.InputError` when ``path`` is missing or unreadable, is neither a
    folder nor an mbox, or has no ``.eml`` files; problems with single messages are never fatal.
    Timestamps follow the order in the module docstring and may be null: a complaint is never
    dropped for want of a date."""
    stats = dict.fromkeys(STATS, 0)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, (label, raw, fallback) in enumerate(_messages(Path(path)), start=1):
        stats["messages"] += 1
        try:
            found = _read_message(raw, fallback)
        except Exception as exc:  # one pathological message must not cost the whole run its feedback
            found = _Found(kind="unreadable", why=f"could not be parsed ({type(exc).__name__}: {exc})")
        stats["delays"] += found.delays
        if found.kind:
            stats[found.kind] += 1
        if not found.rows:
            # The manifest lists these: a file name or a quoted header may hold an address.
            problems.append(redact(f"{label}: {found.why}"))
        rows.extend({**row, "source_row": number} for row in found.rows)
    stats["bounces"] = sum(row["event"] == "bounce" for row in rows)
    stats["complaints"] = sum(row["event"] == "complaint" for row in rows)
    events = pl.DataFrame(rows or None, schema=EVENT_COLUMNS).sort(  # schema fixes the column order
        "timestamp", "email", "event", "source_row", "smtp_status", nulls_last=True
    )
    return FeedbackResult(events=events, stats=stats, problems=problems)


def _messages(path: Path) -> Iterator[tuple[str, bytes, datetime | None]]:
    """(label, raw bytes, last-resort time) of every message, labelled by relative path or mbox position.

    The last-resort time is the date of the ``From `` separator line of an mbox message (none for an
    ``.eml``: a file's modification time is not part of its content)."""
    hint = "pass a folder of .eml files or an mbox file"
    if path.is_dir():
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.[eE][mM][lL]") if p.is_file())
        if not names:
            raise InputError("the folder contains no .eml files", file=path, hint=hint)
        for name in names:
            try:
                data = (path / name).read_bytes()
            except OSError as exc:  # e.g. permissions: for the user to fix, not a message to skip
                raise InputError(f"cannot be read ({exc.strerror})", file=path / name) from exc
            yield name, data, None
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:  # missing, unreadable, a device...
        raise InputError(f"cannot be read ({exc.strerror})", file=path, hint=hint) from exc
    if head and head != b"From ":  # every mbox starts with a "From " separator line; empty is an empty mbox
        raise InputError("is neither a folder nor an mbox file", file=path, hint=hint)
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys(), start=1):
            separator, _, data = box.get_bytes(key, from_=True).partition(b"\n")
            yield f"{path.name} message {index}", data, _from_line_time(separator.decode("latin-1"))
    finally:
        box.close()


@dataclass(frozen=True)
class _Mail:
    """One parsed message and what every reader takes from it."""

    msg: Message
    parts: list[Message]  # the message and its MIME parts, attached messages not descended into
    text: str  # the text of its own parts (not of attached messages), returned message included
    original: Message | None  # headers of the returned original message, attached or quoted
    sent_at: datetime | None  # the last fallback for event times (see the module docstring)

    def event(
        self,
        address: str,
        event: str,
        when: datetime | None,
        status: str | None,
        bounce_type: str | None = None,
    ) -> dict[str, Any]:
        """One event row (the caller adds ``source_row``)."""
        raw, campaign = ("dsn" if event == "bounce" else "arf"), _campaign(self.original)
        values = (address, event, raw, when or self.sent_at, campaign, status, bounce_type)
        return {name: _valid_text(value) for name, value in zip(_ROW_COLUMNS, values, strict=True)}


def _read_message(raw: bytes, fallback: datetime | None = None) -> _Found:
    """Classify one message and extract its events (``fallback``: the time when it has no other)."""
    if len(_BOUNDARY.findall(raw)) > _MAX_MULTIPARTS:
        # Parsing and walking nested parts takes time quadratic in their depth (seconds for a few hundred).
        return _Found(
            kind="unreadable", why=f"more than {_MAX_MULTIPARTS} MIME multiparts, not a real notice"
        )
    # compat32 keeps raw header text and never raises on malformed headers, which bounces often have.
    msg = email.message_from_bytes(raw, policy=compat32)
    if not _MAIL_HEADERS.intersection(key.lower() for key in msg):
        why = "not an email message (no mail headers)" if raw.strip() else "empty message"
        return _Found(kind="unreadable", why=why)
    _readable_charsets(msg)
    parts = list(_parts(msg))
    text = "\n\n".join(_part_texts(parts))
    original = _original_headers(parts[1:])
    if original is None and (quoted := returned_headers(text)) is not None:
        original = HeaderParser(policy=compat32).parsestr(quoted)
    return _classify(_Mail(msg, parts, text, original, _sent_at(msg, fallback)))


def _readable_charsets(msg: Message) -> None:
    """Declare UTF-8 on every part whose charset Python cannot decode, in place.

    The email package itself fails on some ("utf\\0-8", "idna", an RFC 2231 ``charset*=``) where it
    reads a part's text; an unknown charset is read as UTF-8 anyway (:func:`_text`)."""
    for part in msg.walk():
        charset = part.get_param("charset")
        if charset is not None and not (isinstance(charset, str) and _decodes(charset)):
            part.set_param("charset", "utf-8")


@functools.lru_cache(maxsize=256)
def _decodes(charset: str) -> bool:
    """True for a text encoding that decodes any bytes with errors replaced."""
    try:
        b"\xff".decode(charset, "replace")
    except (LookupError, ValueError):  # ValueError: a NUL in the name; UnicodeError: IDNA's strict-only codec
        return False
    return True


def _classify(mail: _Mail) -> _Found:
    """Try the readers from the most to the least reliable signal."""
    msg = mail.msg
    # A report whose failures name no address (a file path, say) leaves the notice's text to tell.
    unnamed = None
    for blocks in _report_blocks(mail):
        found = _from_dsn(mail, blocks)
        if found is not None and found.kind != "no_recipient":
            return found
        unnamed = unnamed or found
    report = next((p for p in mail.parts if p.get_content_type() == "message/feedback-report"), None)
    if report is not None:
        return _from_arf(mail, report)
    if (found := _from_ses(mail)) is not None:
        return found
    # Explicit auto-reply markers first: flufl's text heuristics could misread a quoted bounce.
    precedence = _field(msg, "precedence").lower()
    auto = msg.get("x-autoreply") or msg.get("x-autorespond") or precedence == "auto_reply"
    if auto or _AUTO_SUBJECT.search(_field(msg, "subject")):
        return _Found(kind="auto_replies", why="automatic reply (out-of-office)")
    if (found := _from_flufl(mail)) is not None:
        return found
    # Bounces say Auto-Submitted too (RFC 3834), so a bounce-looking message is not called an auto-reply.
    notice = bounce_part(mail.text)
    if (
        unnamed is not None
        or _BOUNCE_SENDER.search(_field(msg, "from"))
        or _BOUNCE_SUBJECT.search(_field(msg, "subject"))
        or _BOUNCE_TEXT.search(notice)
    ):
        return (
            _from_notice(mail, notice)
            or unnamed
            or _Found(kind="no_recipient", why="looks like a bounce but names no failed recipient")
        )
    if _field(msg, "auto-submitted").lower() not in ("", "no"):
        return _Found(kind="auto_replies", why="automatic reply (Auto-Submitted header)")
    return _Found(kind="ignored", why="not a bounce, complaint or automatic reply")


def _report_blocks(mail: _Mail) -> Iterator[list[Message]]:
    """Field blocks of the message's delivery-status parts (RFC 6533's too), then of reports printed
    into its text."""
    reports = [p for p in mail.parts if p.get_content_type().endswith("delivery-status")]
    yield [block for report in reports for block in _field_blocks(report)]
    yield [HeaderParser(policy=compat32).parsestr(block) for block in embedded_reports(mail.text)]


def _from_dsn(mail: _Mail, blocks: list[Message]) -> _Found | None:
    """Events of an RFC 3464 report; ``None`` when it has no recipient blocks (non-standard)."""
    recipients = [b for b in blocks if _field(b, "final-recipient") or _field(b, "original-recipient")]
    if not recipients:
        return None
    arrival = next((value for b in blocks if (value := _field(b, "arrival-date"))), "")
    failed: list[tuple[str, str, str, datetime | None]] = []  # address, status, diagnostic, time
    delays = unnamed = 0
    for block in recipients:
        # The comment after a status ("5.2.1 (mailbox disabled)") only names the code.
        status, diagnostic = (
            _COMMENT.sub("", _field(block, "status")).strip(),
            _field(block, "diagnostic-code"),
        )
        action = _action(_field(block, "action"), status)
        # delayed: still being retried, nothing is known about the mailbox yet; delivered, relayed,
        # expanded: nothing went wrong.
        delays += action == "delayed"
        if action != "failed":
            continue
        # Original-Recipient is the address as we sent it, before any alias or forwarding rewrite.
        address = _address(_field(block, "original-recipient")) or _address(_field(block, "final-recipient"))
        unnamed += address is None
        if address is not None:
            failed.append((address, status, diagnostic, _when(_field(block, "last-attempt-date"), arrival)))
    # Without a Diagnostic-Code, the notice's own text about the recipient tells the cause.
    notes = {}
    if any(not diagnostic for _, _, diagnostic, _ in failed):
        named = failed_recipients(bounce_part(mail.text), set(), tuple(a for a, _, _, _ in failed))
        notes = {address.lower(): text for address, text in named}
    rows = []
    for address, status, diagnostic, when in failed:
        if not _STATUS_CODE.search(status):
            code = _STATUS_CODE.search(diagnostic)
            status = code.group(0) if code else "5.0.0"
        detail = diagnostic or notes.get(address.lower(), "")
        rows.append(mail.event(address, "bounce", when, f"{status} {detail}".strip()))
    if rows or delays:
        return _Found(rows, delays=delays, why=_DELAYED.format(delays))
    if unnamed:
        return _Found(kind="no_recipient", why="delivery failure without a recipient address")
    return _Found(kind="ignored", why="delivery status notification without a failure")


def _action(value: str, status: str) -> str:
    """``failed``, ``delayed`` or another action word of a DSN block (comments and case ignored).

    A block without an Action field is judged by its status: 5.x.x failed, 4.x.x delayed."""
    words = _COMMENT.sub(" ", value).lower().split()
    if not words:
        code = _STATUS_CODE.search(status)
        return {"5": "failed", "4": "delayed"}.get(code.group(0)[0] if code else "", "")
    return "failed" if words[0] in _FAILED_ACTIONS else words[0]


def _from_arf(mail: _Mail, report: Message) -> _Found:
    """Complaint events of an RFC 5965 feedback report."""
    block = next(iter(_field_blocks(report)), Message())
    kind = _field(block, "feedback-type").lower()
    if kind in _NO_COMPLAINT_TYPES:
        return _Found(kind="ignored", why=f"feedback report of type {kind!r} is not a complaint")
    when = _when(_field(block, "arrival-date"), _field(block, "received-date"))
    named = [_address(value) for value in _fields(block, "original-rcpt-to")]
    recipients = [a for a in named if a and not _redacted(a)]
    if not recipients and mail.original is not None:
        # Redacting reporters (Microsoft JMRP, ...) leave the recipient in the returned message.
        to = getaddresses([_field(mail.original, "to")])
        recipients = [a for _, a in to if "@" in a and not _redacted(a)][:1]
    if not recipients:
        return _Found(kind="no_recipient", why="complaint report whose recipient is missing or redacted")
    return _Found([mail.event(a, "complaint", when, None) for a in dict.fromkeys(recipients)])


def _from_ses(mail: _Mail) -> _Found | None:
    """Events of an Amazon SES notification (bare, or wrapped in an SNS message); ``None`` otherwise."""
    text = _SES_FOLD.sub("", mail.text)
    start = text.find("{")
    if '"notificationType"' not in text.replace('\\"', '"') or start < 0:
        return None
    try:
        data = json.JSONDecoder().raw_decode(text, start)[0]
        if isinstance(data.get("Message"), str):  # the SNS envelope holds the SES JSON as a string
            data = json.loads(data["Message"])
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, dict):
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    if kind == "Bounce":
        bounce = _json_object(data.get("bounce"))
        when, verdict = _iso_time(bounce.get("timestamp")), _ses_verdict(bounce.get("bounceType"))
        rows = [
            mail.event(r["emailAddress"], "bounce", when, _ses_status(r, bounce), verdict)
            for r in _ses_recipients(bounce, "bouncedRecipients")
        ]
    elif kind == "Complaint":
        complaint = _json_object(data.get("complaint"))
        if complaint.get("complaintFeedbackType") in _NO_COMPLAINT_TYPES:
            return _Found(kind="ignored", why="Amazon SES feedback of type 'not-spam' is not a complaint")
        when = _iso_time(complaint.get("timestamp"))
        rows = [
            mail.event(r["emailAddress"], "complaint", when, None)
            for r in _ses_recipients(complaint, "complainedRecipients")
        ]
    else:
        return _Found(
            kind="ignored", why=f"Amazon SES notification of type {kind!r} is not a bounce or complaint"
        )
    return (
        _Found(rows)
        if rows
        else _Found(kind="no_recipient", why="Amazon SES notification without a recipient")
    )


def _json_object(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (notifications are not always well formed)."""
    return value if isinstance(value, dict) else {}


def _ses_recipients(block: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The recipient objects listed under ``key`` whose ``emailAddress`` is a plausible address."""
    listed = block.get(key)
    recipients = [r for r in (listed if isinstance(listed, list) else []) if isinstance(r, dict)]
    named = [r for r in recipients if isinstance(r.get("emailAddress"), str)]
    return [r for r in named if plausible_address(r["emailAddress"])]


def _ses_status(recipient: dict[str, Any], bounce: dict[str, Any]) -> str:
    """The status and diagnostic of an SES bounced recipient, else SES's bounce type and subtype."""
    status = " ".join(str(recipient[k]) for k in ("status", "diagnosticCode") if recipient.get(k))
    return status or " ".join(str(bounce[k]) for k in ("bounceType", "bounceSubType") if bounce.get(k))


def _from_flufl(mail: _Mail) -> _Found | None:
    """Bounces flufl.bounce recognises in non-RFC 3464 mail; ``None`` when it finds none.

    Its detectors also return message ids, the sender and fragments of text: only plausible
    addresses that are not the sender's count."""
    try:
        temporary, permanent = all_failures(mail.msg)
    except Exception:  # a crashing detector means "not recognised", not a failed run
        return None
    exclude = _not_recipients(mail, _ORIGINAL_SENDER_HEADERS)  # flufl does not return the notice's To

    def usable(found: set[bytes]) -> list[str]:
        decoded = (a.decode("ascii", "replace").strip() for a in found)
        return sorted({a for a in decoded if plausible_address(a) and a.lower() not in exclude})

    failed, delayed = usable(permanent), usable(temporary - permanent)
    if not failed and not delayed:
        return None
    named = failed_recipients(bounce_part(mail.text), exclude, tuple(failed)) if failed else []
    rows = [mail.event(address, "bounce", None, why) for address, why in named]
    return _Found(rows, delays=len(delayed), why=_DELAYED.format(len(delayed)))


def _from_notice(mail: _Mail, notice: str) -> _Found | None:
    """Bounces named by the text of a bounce-looking notice, else its returned message's ``To:``."""
    exclude = _not_recipients(mail, _SENDER_HEADERS)
    named = failed_recipients(notice, exclude)
    if not named and mail.original is not None:
        to = [a for _, a in getaddresses([_field(mail.original, "to")]) if plausible_address(a)][:1]
        named = failed_recipients(notice, exclude, tuple(to))
    if not named:
        return None
    if is_delay_warning(_field(mail.msg, "subject"), notice):
        return _Found(delays=len(named), why=_DELAYED.format(len(named)))
    return _Found([mail.event(address, "bounce", None, why) for address, why in named])


def _not_recipients(mail: _Mail, own: tuple[str, ...]) -> set[str]:
    """Lower-case addresses that cannot be failed recipients: the notice's ``own`` headers', the
    original sender's, and message ids; those the notice lists in X-Failed-Recipients (Exim) always can."""
    headers = [(mail.msg, own)]
    if mail.original is not None:
        headers.append((mail.original, _ORIGINAL_SENDER_HEADERS))
    values = [value for block, names in headers for name in names for value in _fields(block, name)]
    ids = _MESSAGE_ID.findall(mail.text) + _fields(mail.msg, "message-id")
    failed = {a.lower() for _, a in getaddresses(_fields(mail.msg, "x-failed-recipients"))}
    return (
        {a.lower() for _, a in getaddresses(values) if "@" in a} | {m.strip("<> ").lower() for m in ids}
    ) - failed


def _parts(msg: Message) -> Iterator[Message]:
    """The message and its MIME parts, not descending into attached messages or report blocks."""
    yield msg
    if msg.get_content_maintype() == "multipart" and isinstance(msg.get_payload(), list):
        for part in msg.get_payload():
            yield from _parts(part)


def _part_texts(parts: list[Message]) -> Iterator[str]:
    """The plain text of each part: text/plain parts, and multiparts the parser could not split."""
    for part in parts:
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, str):
            # A boundary that does not match the declared one (redacted samples, broken MTAs).
            yield payload.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        elif part.get_content_maintype() == "text" and part.get_content_subtype()[:4] not in ("html", "rfc8"):
            yield _text(part)  # subtype by prefix: some MTAs fold parameters into it


def _field_blocks(part: Message) -> list[Message]:
    """Field blocks of a delivery-status, global-delivery-status or feedback-report part."""
    payload = part.get_payload()
    blocks = [sub for sub in payload if isinstance(sub, Message)] if isinstance(payload, list) else []
    # The email package splits only message/delivery-status into blocks: the others keep all but
    # their first block as body text (or all of it, when the part was not parsed as a message).
    texts = [_text(sub) for sub in blocks] if blocks else [_text(part)]  # _text: 8-bit bodies as UTF-8
    rest = [b for t in texts for b in PARAGRAPH.split(t.replace("\r\n", "\n"))]
    return blocks + [HeaderParser(policy=compat32).parsestr(b.strip("\n")) for b in rest if b.strip()]


def _original_headers(parts: list[Message]) -> Message | None:
    """Headers of the returned original message (message/rfc822 or text/rfc822-headers part)."""
    for part in parts:
        kind, payload = part.get_content_type(), part.get_payload()
        if kind == "message/rfc822" and isinstance(payload, list) and payload:
            return payload[0]
        if kind == "text/rfc822-headers":
            return HeaderParser(policy=compat32).parsestr(_text(part))
    return None


def _campaign(original: Message | None) -> str | None:
    """Campaign id from the original message's headers (angle brackets removed), if any."""
    if original is None:
        return None
    value = next((v for name in _CAMPAIGN_HEADERS if (v := _field(original, name))), None)
    inside = re.search(r"<([^<>]+)>", value or "")
    return inside.group(1) if inside else value


def _fields(block: Message, name: str) -> list[str]:
    """Every value of a header or report field, unfolded, with RFC 2047 words decoded."""
    values = []
    for key, value in block.raw_items():
        if key.lower() == name:
            # compat32 keeps 8-bit header bytes as surrogates: read them as UTF-8 (RFC 6532).
            text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            # Undecodable (an unknown charset, or one with a NUL in its name): keep as is.
            with suppress(HeaderParseError, ValueError, LookupError):
                text = str(make_header(decode_header(text)))
            values.append(" ".join(text.split()))
    return values


def _field(block: Message, name: str) -> str:
    """The first value of a header or report field (see :func:`_fields`); "" when absent."""
    return next(iter(_fields(block, name)), "")


def _text(part: Message) -> str:
    """Decoded text of a non-multipart part (unknown charsets read as UTF-8, bad bytes replaced)."""
    data = part.get_payload(decode=True) or b""  # None for multipart parts
    with suppress(LookupError):
        return data.decode(part.get_content_charset() or "utf-8", errors="replace")
    return data.decode("utf-8", errors="replace")


def _valid_text(value: Any) -> Any:
    """Text that polars can hold: JSON escapes can make lone surrogates ("\\ud800"), which become "?"."""
    return value.encode("utf-8", "replace").decode("utf-8") if isinstance(value, str) else value


def _address(value: str) -> str | None:
    """The address of a recipient field, without its type ("rfc822;") or angle brackets, if it is one."""
    address = parseaddr(value.split(";", 1)[-1].strip())[1].strip()
    return address if plausible_address(address) else None  # not a pipe, a path or "@host"


def _redacted(address: str) -> bool:
    """True for placeholders such as ``[REDACTED]@x``, ``redacted@x`` or ``xxxxxx@x``."""
    local, _, domain = address.rpartition("@")
    masked = len(local) >= 3 and not local.strip("xX*#")  # "x@" alone may well be a real mailbox
    return "redacted" in address.lower() or not local or not domain or masked


def _sent_at(msg: Message, fallback: datetime | None) -> datetime | None:
    """The message's Date, else its newest Received: date, else its "From " line's, else ``fallback``."""
    received = [moment for value in _fields(msg, "received") if (moment := _when(value.rpartition(";")[2]))]
    return (
        _when(_field(msg, "date"))
        or max(received, default=None)
        or _from_line_time(msg.get_unixfrom() or "")
        or fallback
    )


def _from_line_time(line: str) -> datetime | None:
    """The date of an mbox "From sender date" separator line (asctime, maybe with a zone)."""
    words = line.split()
    return _when(" ".join(words[2:])) if len(words) > 2 and words[0] == "From" else None


def _iso_time(value: object) -> datetime | None:
    """An ISO-8601 time (as SES writes them) in UTC, or ``None``."""
    with suppress(TypeError, ValueError):
        return _utc(datetime.fromisoformat(str(value)))
    return None


def _when(*values: str) -> datetime | None:
    """The first parseable RFC 5322 date in UTC (no zone means UTC); ``None`` when there is none."""
    for value in values:
        with suppress(TypeError, ValueError, IndexError, OverflowError):
            if (moment := _utc(parsedate_to_datetime(value))) is not None:
                return moment
    return None


def _utc(moment: datetime) -> datetime | None:
    """``moment`` in UTC (no zone means UTC), or ``None`` outside the times listkit reads.

    A date before 1970 or after 2999 is a placeholder or a broken clock, not when the mail came:
    the next source of the time is used instead (see the module docstring)."""
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset, 9999-12-31 with a negative one
        return None
    return moment if EARLIEST_TIME <= moment <= LATEST_TIME else None


def _ses_verdict(bounce_type: object) -> str | None:
    """``hard``/``soft`` for SES's bounceType (Permanent, Transient), as the ESP vocabulary reads it."""
    if not isinstance(bounce_type, str):
        return None
    (key,) = vocabulary_keys([bounce_type])
    meaning = SUBTYPE_MEANINGS["bouncetype"].get(key)
    return meaning.verdict if meaning is not None else None
