"""Raw feedback mail (bounces and spam complaints) turned into canonical events.

``read_feedback`` reads a folder of ``.eml`` files (recursively, in relative-path order) or an mbox:

- RFC 3464 DSNs: a ``bounce`` per ``Action: failed`` recipient; ``smtp_status`` is the RFC 3463
  code, then the Diagnostic-Code ("5.1.1 smtp; 550 ..."). ``bounce_type`` stays null so that
  :func:`listkit.activity.bounce_class` decides (5.1.x hard, 5.7.x policy, the rest soft).
  ``Action: delayed`` is only counted: the MTA is still trying, nothing is known about the mailbox.
- Other bounces (Exim, qmail...) go through flufl.bounce: a permanent failure is a bounce with the
  code printed next to the address, or ``5.0.0``; its temporary failures are delay warnings.
- RFC 5965 ARF reports: a ``complaint`` per ``Original-Rcpt-To`` or, when missing or redacted
  (Microsoft JMRP...), the returned message's ``To:``; ``not-spam``/``auth-failure`` are not.
- Auto-replies, undated, unreadable and unrelated mail are counted and listed, never fatal.
"""

from __future__ import annotations

import email
import mailbox
import re
from collections.abc import Iterator
from contextlib import closing, suppress
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

from listkit.errors import InputError
from listkit.schema import EVENT_COLUMNS

#: ``stats`` keys: messages read; recipients (a DSN may name several); messages that gave no event.
_PER_RECIPIENT = ("bounces", "complaints", "delays")
_PER_MESSAGE = ("auto_replies", "unreadable", "no_recipient", "ignored")
STATS = ("messages", *_PER_RECIPIENT, *_PER_MESSAGE)

#: RFC 3463 enhanced status code, not part of a longer dotted number such as an IP address.
_STATUS_CODE = re.compile(r"(?<![\d.])([245])\.\d{1,3}\.\d{1,3}(?!\.?\d)")
#: Headers of which at least one must be present for bytes to count as a mail message.
_MAIL_HEADERS = {"from", "to", "date", "subject", "received", "message-id", "return-path", "content-type"}
_AUTO_SUBJECT = re.compile(
    r"(?i)^\s*(automatic reply|auto[- ]?(reply|response)|autoreply|r[ée]ponse automatique"
    r"|respuesta autom[áa]tica|abwesenheitsnotiz)\b|out of (the )?office"
)
_BOUNCE_SENDER = re.compile(r"(?i)\b(mailer-daemon|postmaster)@")
_BOUNCE_SUBJECT = re.compile(r"(?i)undeliver|delivery (status|fail)|failure notice|returned mail")
#: The columns feedback fills (bounce_type stays null: activity.bounce_class reads smtp_status).
_ROW_COLUMNS = ("email", "event", "event_raw", "timestamp", "campaign", "smtp_status")
_DELAYED = "delivery delayed for {} recipient(s), still being retried"
_CAMPAIGN_HEADERS = ("x-campaign", "x-campaign-id", "list-id", "message-id")  # the first one present wins
_NO_COMPLAINT_TYPES = ("not-spam", "auth-failure")  # RFC 6430 and RFC 6591 reports
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
#: A text line with a permanent (5.x.x) enhanced code, as bounces print them next to the address.
_PERMANENT_LINE = re.compile(r"^.*?(?<![\d.])(5\.\d{1,3}\.\d{1,3})(?!\.?\d).*$", re.MULTILINE)


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
    folder nor an mbox, or has no ``.eml`` files; problems with single messages are never fatal."""
    stats = dict.fromkeys(STATS, 0)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, (label, raw) in enumerate(_messages(Path(path)), start=1):
        stats["messages"] += 1
        try:
            found = _read_message(raw)
        except Exception as exc:  # one pathological message must not cost the whole run its feedback
            found = _Found(kind="unreadable", why=f"could not be parsed ({type(exc).__name__}: {exc})")
        stats["delays"] += found.delays
        if found.kind:
            stats[found.kind] += 1
        if not found.rows:
            problems.append(f"{label}: {found.why}")
        rows.extend({**row, "source_row": number} for row in found.rows)
    stats["bounces"] = sum(row["event"] == "bounce" for row in rows)
    stats["complaints"] = sum(row["event"] == "complaint" for row in rows)
    events = pl.DataFrame(rows or None, schema=EVENT_COLUMNS).sort(  # schema fixes the column order
        "timestamp", "email", "event", "source_row", "smtp_status", nulls_last=True
    )
    return FeedbackResult(events=events, stats=stats, problems=problems)


def _messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every message, labelled by relative path or mbox position."""
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
            yield name, data
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:  # missing, unreadable, a device...
        raise InputError(f"cannot be read ({exc.strerror})", file=path, hint=hint) from exc
    if head and head != b"From ":  # every mbox starts with a "From " separator line; empty is an empty mbox
        raise InputError("is neither a folder nor an mbox file", file=path, hint=hint)
    with closing(mailbox.mbox(path, create=False)) as box:
        for index, key in enumerate(box.iterkeys(), start=1):
            yield f"{path.name} message {index}", box.get_bytes(key)


@dataclass(frozen=True)
class _Mail:
    """One parsed message and what every reader takes from it."""

    msg: Message
    parts: list[Message]  # the message and its MIME parts, attached messages not descended into
    original: Message | None  # headers of the returned original message, when attached
    sent_at: datetime | None  # the Date header, the last fallback for event times

    def event(self, address: str, event: str, when: datetime | None, status: str | None) -> dict[str, Any]:
        """One event row (the caller adds ``source_row``)."""
        raw, campaign = ("dsn" if event == "bounce" else "arf"), _campaign(self.original)
        return dict(zip(_ROW_COLUMNS, (address, event, raw, when, campaign, status), strict=True))


def _read_message(raw: bytes) -> _Found:
    """Classify one message and extract its events."""
    # compat32 keeps raw header text and never raises on malformed headers, which bounces often have.
    msg = email.message_from_bytes(raw, policy=compat32)
    if not _MAIL_HEADERS.intersection(key.lower() for key in msg):
        why = "not an email message (no mail headers)" if raw.strip() else "empty message"
        return _Found(kind="unreadable", why=why)
    parts = list(_parts(msg))
    found = _classify(_Mail(msg, parts, _original_headers(parts[1:]), _when(_field(msg, "date"))))
    if any(row["timestamp"] is None for row in found.rows):
        return _Found(kind="unreadable", why="no usable date (Date, Arrival-Date or Last-Attempt-Date)")
    return found


def _classify(mail: _Mail) -> _Found:
    """Try the readers from the most to the least reliable signal."""
    msg = mail.msg
    reports = [p for p in mail.parts if p.get_content_type().endswith("delivery-status")]  # RFC 6533 too
    blocks = [block for report in reports for block in _field_blocks(report)]
    if blocks and (found := _from_dsn(mail, blocks)) is not None:
        return found
    report = next((p for p in mail.parts if p.get_content_type() == "message/feedback-report"), None)
    if report is not None:
        return _from_arf(mail, report)
    # Explicit auto-reply markers first: flufl's text heuristics could misread a quoted bounce.
    precedence = _field(msg, "precedence").lower()
    auto = msg.get("x-autoreply") or msg.get("x-autorespond") or precedence == "auto_reply"
    if auto or _AUTO_SUBJECT.search(_field(msg, "subject")):
        return _Found(kind="auto_replies", why="automatic reply (out-of-office)")
    if (found := _from_flufl(mail)) is not None:
        return found
    # Bounces say Auto-Submitted too (RFC 3834), so a bounce-looking message is not called an auto-reply.
    if _BOUNCE_SENDER.search(_field(msg, "from")) or _BOUNCE_SUBJECT.search(_field(msg, "subject")):
        return _Found(kind="no_recipient", why="looks like a bounce but names no failed recipient")
    if _field(msg, "auto-submitted").lower() not in ("", "no"):
        return _Found(kind="auto_replies", why="automatic reply (Auto-Submitted header)")
    return _Found(kind="ignored", why="not a bounce, complaint or automatic reply")


def _from_dsn(mail: _Mail, blocks: list[Message]) -> _Found | None:
    """Events of an RFC 3464 report; ``None`` when it has no recipient blocks (non-standard)."""
    recipients = [b for b in blocks if _field(b, "final-recipient") or _field(b, "original-recipient")]
    if not recipients:
        return None
    rows: list[dict[str, Any]] = []
    delays = unnamed = 0
    for block in recipients:
        action = _field(block, "action").lower()
        # delayed: still being retried, nothing is known about the mailbox yet; delivered, relayed,
        # expanded: nothing went wrong ("error" is OpenSMTPD's word for failed).
        delays += action.startswith("delayed")
        if not action.startswith(("failed", "error")):
            continue
        # Original-Recipient is the address as we sent it, before any alias or forwarding rewrite.
        address = _address(_field(block, "original-recipient")) or _address(_field(block, "final-recipient"))
        unnamed += address is None
        if address is None:
            continue
        status, diagnostic = _field(block, "status"), _field(block, "diagnostic-code")
        if not _STATUS_CODE.search(status):
            code = _STATUS_CODE.search(diagnostic)
            status = code.group(0) if code else "5.0.0"
        # The per-message block (with Arrival-Date) comes first.
        when = _when(_field(block, "last-attempt-date"), _field(blocks[0], "arrival-date")) or mail.sent_at
        rows.append(mail.event(address, "bounce", when, f"{status} {diagnostic}".strip()))
    if rows or delays:
        return _Found(rows, delays=delays, why=_DELAYED.format(delays))
    if unnamed:
        return _Found(kind="no_recipient", why="delivery failure without a recipient address")
    return _Found(kind="ignored", why="delivery status notification without a failure")


def _from_arf(mail: _Mail, report: Message) -> _Found:
    """Complaint events of an RFC 5965 feedback report."""
    block = next(iter(_field_blocks(report)), Message())
    kind = _field(block, "feedback-type").lower()
    if kind in _NO_COMPLAINT_TYPES:
        return _Found(kind="ignored", why=f"feedback report of type {kind!r} is not a complaint")
    when = _when(_field(block, "arrival-date"), _field(block, "received-date")) or mail.sent_at
    named = [_address(value) for value in _fields(block, "original-rcpt-to")]
    recipients = [a for a in named if a and not _redacted(a)]
    if not recipients and mail.original is not None:
        # Redacting reporters (Microsoft JMRP, ...) leave the recipient in the returned message.
        to = getaddresses([_field(mail.original, "to")])
        recipients = [a for _, a in to if "@" in a and not _redacted(a)][:1]
    if not recipients:
        return _Found(kind="no_recipient", why="complaint report whose recipient is missing or redacted")
    return _Found([mail.event(a, "complaint", when, None) for a in dict.fromkeys(recipients)])


def _from_flufl(mail: _Mail) -> _Found | None:
    """Bounces flufl.bounce recognises in non-RFC 3464 mail; ``None`` when it finds none."""
    try:
        temporary, permanent = all_failures(mail.msg)
    except Exception:  # a crashing detector means "not recognised", not a failed run
        return None
    failed = sorted({a.decode("ascii", "replace") for a in permanent} - {""})
    delays = len(temporary - permanent)
    if not failed and not delays:
        return None
    text = "\n\n".join(_text(p) for p in mail.parts if p.get_content_type() == "text/plain")
    rows = [mail.event(a, "bounce", mail.sent_at, _status_near(text, a) or "5.0.0") for a in failed]
    return _Found(rows, delays=delays, why=_DELAYED.format(delays))


def _status_near(text: str, address: str) -> str | None:
    """'code line' for the first permanent (5.x.x) code in the paragraph that names ``address``."""
    start = text.lower().find(address.lower())
    line = _PERMANENT_LINE.search(_PARAGRAPH.split(text[start:], maxsplit=1)[0]) if start >= 0 else None
    return f"{line.group(1)} {' '.join(line.group(0).split())}" if line else None


def _parts(msg: Message) -> Iterator[Message]:
    """The message and its MIME parts, not descending into attached messages or report blocks."""
    yield msg
    if msg.get_content_maintype() == "multipart" and isinstance(msg.get_payload(), list):
        for part in msg.get_payload():
            yield from _parts(part)


def _field_blocks(part: Message) -> list[Message]:
    """Field blocks of a delivery-status, global-delivery-status or feedback-report part."""
    payload = part.get_payload()
    blocks = [sub for sub in payload if isinstance(sub, Message)] if isinstance(payload, list) else []
    # The email package splits only message/delivery-status into blocks: the others keep all but
    # their first block as body text (or all of it, when the part was not parsed as a message).
    texts = [_text(sub) for sub in blocks] if blocks else [_text(part)]  # _text: 8-bit bodies as UTF-8
    rest = [b for t in texts for b in _PARAGRAPH.split(t.replace("\r\n", "\n"))]
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
            with suppress(HeaderParseError, UnicodeError, LookupError):  # undecodable: keep as is
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


def _address(value: str) -> str | None:
    """The address of a recipient field, without its type ("rfc822;") or angle brackets."""
    address = parseaddr(value.split(";", 1)[-1].strip())[1].strip()
    return address if "@" in address else None


def _redacted(address: str) -> bool:
    """True for placeholders such as ``[REDACTED]@x``, ``redacted@x`` or ``xxxxxx@x``."""
    local, _, domain = address.rpartition("@")
    masked = len(local) >= 3 and not local.strip("xX*#")  # "x@" alone may well be a real mailbox
    return "redacted" in address.lower() or not local or not domain or masked


def _when(*values: str) -> datetime | None:
    """The first parseable RFC 5322 date in UTC (no zone means UTC); ``None`` when there is none."""
    for value in values:
        with suppress(TypeError, ValueError, IndexError, OverflowError):
            parsed = parsedate_to_datetime(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None
