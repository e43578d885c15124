"""Why a bounce happened, and what it means for the list: one registry of reasons and a classifier.

Every bounce gets one reason from :data:`BOUNCE_REASONS`, and each reason one effect:

- ``dead``: the mailbox or the domain is gone; one such bounce prunes the address (``hard_bounce``).
  A disabled or suspended mailbox counts as dead too (sisimai calls ``suspend`` soft): it will not
  read mail again soon, and mailing it only costs reputation.
- ``temporary``: it may work next time; repeated ones prune (``soft_bounce_repeated``).
- ``block``: the receiver refused *us* (IP or domain reputation, authentication, content, policy);
  this says nothing about the mailbox, so it never marks an address dead.
- ``ignore``: not a bounce at all (an automatic reply).

:func:`classify_bounces` reads the reason from ``smtp_status`` (RFC 3463 enhanced codes, SMTP reply
codes and the diagnostic text of Postfix, Exim, Sendmail, qmail, Exchange, Gmail, Yahoo,
Outlook.com, Mimecast, Proofpoint, Barracuda...; the reason names follow sisimai's "Bounce Reason
List", grouped by what they mean for a list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import polars as pl

from listkit.errors import InputError, ListkitError

Effect = Literal["dead", "temporary", "block", "ignore"]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

#: ``bounce_class`` of each effect (the class names the rest of listkit counts).
EFFECT_CLASSES: dict[str, str] = {"dead": "hard", "temporary": "soft", "block": "policy", "ignore": "ignored"}


@dataclass(frozen=True)
class BounceReason:
    """One reason a message bounced: its ``name``, its ``effect`` on the list, and what it means."""

    name: str
    effect: Effect
    meaning: str


#: Every reason, by name. ``unclassified`` is the reason of a bounce whose text and code say nothing
#: recognisable; its class then comes from the ESP's verdict or the status code (see
#: :func:`classify_bounces`), and is ``soft`` when neither says more.
BOUNCE_REASONS: dict[str, BounceReason] = {
    reason.name: reason
    for reason in (
        BounceReason("user_unknown", "dead", "the mailbox does not exist at that domain"),
        BounceReason("host_unknown", "dead", "the domain does not exist or cannot be found"),
        BounceReason("domain_accepts_no_mail", "dead", "the domain accepts no mail (no or null MX record)"),
        BounceReason("mailbox_disabled", "dead", "the mailbox is disabled, suspended or closed"),
        BounceReason("address_moved", "dead", "the person has moved to another address"),
        BounceReason("mailbox_full", "temporary", "the mailbox is full (over quota)"),
        BounceReason("message_too_large", "temporary", "the message was larger than the receiver accepts"),
        BounceReason("expired", "temporary", "the sending server gave up after retrying for too long"),
        BounceReason(
            "rate_limited", "temporary", "the receiver deferred us (too many connections or messages)"
        ),
        BounceReason("system_error", "temporary", "a remote server or network problem"),
        BounceReason("content_filtered", "block", "the content was refused as spam, virus or forbidden"),
        BounceReason("blocked", "block", "our sending IP or domain is blocked (reputation, blocklist, PTR)"),
        BounceReason(
            "policy_violation",
            "block",
            "the receiver's policy refused us (SPF/DKIM/DMARC, sender rejected, relaying, RFC compliance)",
        ),
        BounceReason("auto_reply", "ignore", "an automatic reply (out of office), not a bounce"),
        BounceReason("unclassified", "temporary", "the bounce says nothing recognisable about its cause"),
    )
}

UNCLASSIFIED = "unclassified"

#: sisimai's reason names (libsisimai.org, "Bounce Reason List") and the reason listkit gives the same
#: cause, for comparing with sisimai and for reading its results. sisimai calls ``suspend`` soft; here it
#: is ``mailbox_disabled``, dead. ``delivered`` and ``feedback`` are not bounces and have no reason.
SISIMAI_REASONS: dict[str, str] = {
    "userunknown": "user_unknown",
    "hostunknown": "host_unknown",
    "notaccept": "domain_accepts_no_mail",
    "suspend": "mailbox_disabled",
    "hasmoved": "address_moved",
    "mailboxfull": "mailbox_full",
    "mesgtoobig": "message_too_large",
    "exceedlimit": "message_too_large",
    "emailtoolarge": "message_too_large",
    "expired": "expired",
    "toomanyconn": "rate_limited",
    "speeding": "rate_limited",
    "ratelimited": "rate_limited",
    "systemerror": "system_error",
    "systemfull": "system_error",
    "mailererror": "system_error",
    "networkerror": "system_error",
    "filtered": "content_filtered",
    "spamdetected": "content_filtered",
    "virusdetected": "content_filtered",
    "contenterror": "content_filtered",
    "blocked": "blocked",
    "badreputation": "blocked",
    "requireptr": "blocked",
    "policyviolation": "policy_violation",
    "authfailure": "policy_violation",
    "rejected": "policy_violation",
    "norelaying": "policy_violation",
    "notcompliantrfc": "policy_violation",
    "securityerror": "policy_violation",
    "syntaxerror": "policy_violation",
    "failedstarttls": "policy_violation",
    "vacation": "auto_reply",
    "onhold": UNCLASSIFIED,
    "undefined": UNCLASSIFIED,
}

# Diagnostic texts, tried in this order: the first that matches gives the reason. Reputation and
# authentication come first (their texts often also say "user" or "rejected"), generic words last.
_MAILBOX = r"(user|userid|recipient|mailbox|address|addressee|account|local[- ]part)"
_SENTENCE = r"([^.;]|\.\w){0,40}?"  # up to the end of the sentence (dots inside names allowed)
_TEXT_RULES: tuple[tuple[str, str], ...] = (
    # Microsoft's directory-based edge blocking and Postfix's recipient access tables refuse
    # addresses that do not exist with this phrase; not a reputation block.
    ("user_unknown", r"recipient address rejected: access denied"),
    # Postfix's words for a DNS lookup that failed for now (SERVFAIL), not for a missing domain.
    ("system_error", r"not found, try again|malformed or unexpected name server reply"),
    (
        "blocked",
        r"spamhaus|spamcop|\bsorbs\b|barracuda ?(reputation|central)|barracudacentral|\brbl\b|dnsbl"
        r"|black ?list|block ?list|blacklisted|blocklisted|\bdenylist"
        r"|(\bis|\bare|\bwas|\bbeen|\d|\]) listed (at|in|on|by)|blocked using"
        r"|\bip( address)?( \[?[\d.:a-f]+\]?)? (is |has been |was )?"
        r"(blocked|banned|black|listed|rejected|refused)"
        r"|banned sending ip|client ip|invalid ip"
        r"|(poor|bad|low|negative) (ip |sender |sending |domain )?reputation|reputation|user complaints"
        r"|dynamic(ally assigned)? ip|residential|dial-?up|reverse dns|\brdns\b|\bptr\b"
        r"|(cannot|can't|could not|unable to) (find|resolve|verify) your (host ?name|reverse)"
        r"|(helo|ehlo)\b.{0,30}(rejected|refused|denied|invalid|not allowed)"
        r"|(invalid|bad|forged) (helo|ehlo)|my name (was )?rejected"
        r"|client host .{0,60}(blocked|rejected|refused)|\[tss?0\d\]|\b(sc|dy|rp|rd)-00\d\b|\bs3[01]\d0\b"
        r"|messages from \S+ weren't sent",
    ),
    (
        "policy_violation",
        # A refusal in reply to MAIL FROM is about the sender, whatever it says about "no such domain".
        r"after mail from|in reply to mail from|>>> mail from|\bdmarc\b|\bspf\b|\bdkim\b|domainkeys"
        r"|(not |un)authenticated|authentication (is )?(failed|required)"
        r"|sender (address |domain )?(is )?(rejected|refused|denied|blocked|banned"
        r"|not (allowed|authori[sz]ed))"
        r"|sender verif|(envelope|mail) from.{0,40}(rejected|refused|denied|not allowed)|domain of sender"
        r"|(address|identity|identities|domain) (is |are )?not verified|failed the check|access denied"
        r"|relay(ing)? (access )?(is )?(denied|not (permitted|allowed|authori[sz]ed)|prohibited|refused)"
        r"|(unable|not able|not permitted|not configured) to relay|we do not relay|open relay"
        r"|insecure mail relay|rcpthosts"
        r"|\brfc ?(5321|5322|2821|2822|821|822|1123) ?(complian|violat|conform|standard|section|requires)"
        r"|(violat\w*|complian\w*|conform\w*) (with |to )?(the )?rfc|rfc[ -]?complian|non-?compliant"
        r"|not compliant|protocol violation|syntax error|command unrecogni[sz]ed|unrecogni[sz]ed command"
        r"|not implemented|bad sequence|bare (lf|linefeed)"
        r"|(missing|invalid|malformed|duplicate) (message-id|date|from header)|tls (is )?required|starttls"
        r"|not (a )?(list )?member|members only",
    ),
    (
        "content_filtered",
        r"\bspam\b|spammy|anti-?spam|\bjunk\b|unsolicited|\bu[bc]e\b|virus|malware|infected|phish"
        r"|(message|mail|e-?mail) content|content (filter|rejected|policy)"
        r"|(rejected|blocked|refused) (due to|because( of)?) (its )?content"
        r"|(banned|blocked|forbidden|prohibited|unacceptable) (attachment|file|extension|content)"
        r"|(message|mail) (was |has been )?(filtered|quarantined)|high .{0,20}score|suspicious|media error"
        r"|8-?bit data|headers? too (large|long|many)|(invalid|malformed|bad|illegal) (header|mime)",
    ),
    (
        "rate_limited",
        r"too many (connections|concurrent|simultaneous|sessions|messages|mails|e-?mails|recipients"
        r"|rcpt|hosts)"
        r"|rate ?limit|rate-limit|throttl|at a rate|unusual rate"
        r"|(connection|sending|hourly|daily) (rate|limit)|(relay|sending|daily|hourly|outbound) quota"
        r"|frequency limit|maximum number of (connections|messages|recipients)|max(imum)? connections"
        r"|unexpected volume|gr[ae]y ?-?list",
    ),
    (
        "mailbox_full",
        r"mailbox (is )?full|full mailbox|(mail|in)box.{0,20}\b(full|exceed)|over ?quota|quota"
        r"|storage allocation|(storage|disk) (space )?(is )?(exceeded|full)|not enough (storage|space)"
        r"|mail ?(folder|dir) (is )?full",
    ),
    (
        "message_too_large",
        r"(message|mail|e-?mail|attachment)s? (size )?(is |was )?too (large|big|long)"
        r"|(message|mail) (size|length) (exceeds|is over|over|too)"
        r"|exceeds? (the )?(max(imum)? |fixed |allowed )?(message )?size|size (limit )?exceeded"
        r"|message too big",
    ),
    (
        "domain_accepts_no_mail",
        r"null mx|(domain|host) (does ?n[o']?t|will not|won't) (accept|receive) (e-?)?mail"
        r"|accepts? no (e-?)?mail|does not accept mail|no mx (record|host)?"
        r"|(couldn't|could not|cannot|unable to) find (a |any )?(mail exchanger|mx)|no smtp service"
        r"|not accepting (network )?messages|(^|[\s;:(])(521|556)[\s-]",
    ),
    (
        "host_unknown",
        r"host (or domain name )?(is )?(unknown|not found)|unknown (host|domain|mail domain)"
        r"|host \S+ not found|(domain|host ?name)( name)? (does ?n[o']?t|not) exist"
        r"|(domain|host ?name) (was )?not found|no such (domain|host)|nxdomain|name or service not known"
        r"|unrout(e)?able|bad destination (system|host)|(invalid|illegal) (host|domain)"
        r"|domain (is )?not reachable|(^|[\s<(])[a-z0-9-]+(\.[a-z0-9-]+)+>? does ?n[o']?t exist",
    ),
    (
        "mailbox_disabled",
        r"(mailbox|account|user|recipient)s?\b" + _SENTENCE + r"\b(is |has been |was )?(disabled|suspended"
        r"|deactivated|inactive|locked|closed|frozen|terminated|deleted|discontinued|not active)"
        r"|(disabled|suspended|deactivated|inactive|closed|expired|frozen) (mailbox|account|user|recipient)"
        r"|account (has )?expired|(mailbox|account) (is |has been )?(temporarily )?blocked",
    ),
    (
        "address_moved",
        r"has moved|moved (to|permanently)|user not local"
        r"|no longer (valid|available|active|in use|exists?|here|at|with|on)|address (has )?changed"
        r"|forwarding address|has been replaced by",
    ),
    (
        "user_unknown",
        _MAILBOX + r"s? (is )?unknown|unknown (local )?" + _MAILBOX + r"|unknown or illegal"
        r"|no such (user|recipient|mailbox|address|account|person|local user|alias)"
        r"|" + _MAILBOX + r"\b" + _SENTENCE + r"(does ?n[o']?t|did not|not) exist"
        r"|" + _MAILBOX + r"s?\b" + _SENTENCE + r"(was|is|were|are|wasn't|isn't|weren't|aren't|not)( not)? "
        r"(found|known|listed|valid|recogni[sz]ed)"
        r"|(recipient|user|mailbox|recip)notfound|resolver\.adr\."
        r"|invalid (recipient|mailbox|user|address|account)|(recipient|mailbox|user) (is )?invalid"
        r"|not a valid (recipient|mailbox|user|address)|mailbox (is )?(unavailable|not available)|no mailbox"
        r"|no valid recipients?|bad (destination )?mailbox|not a known user|not listed in"
        r"|(doesn't|does not|don't|do not) have an? \S+ account",
    ),
    (
        "expired",
        r"expired|retry time(out)? (not reached|exceeded)"
        r"|(could not|couldn't|cannot|can't|unable to) (be )?(deliver|sen)(d|t|ed)? "
        r".{0,40}(for|in|within|after) (the )?(last )?\d+ (day|hour|minute|second)"
        r"|too long in (the )?queue|in the queue too long|(delivery|delivering) time"
        r"|deleted from (the )?queue|undeliverable for \d+|maximum (delivery|queue|retry) time"
        r"|lifetime exceeded|have been failing|not delivered within|\d+ attempts|multiple retries"
        r"|aborted after",
    ),
    (
        "system_error",
        r"system (error|failure|problem|busy|not available|unavailable|full)|internal (server )?error"
        r"|server (error|failure|busy|unavailable)|local (error|problem)"
        r"|temporary (local |system )?(problem|failure|error)|resources? (temporarily )?unavailable"
        r"|insufficient system|out of memory|transaction failed"
        r"|service (is )?(currently |temporarily )?(not available|unavailable)|try (again )?later"
        r"|connection (timed out|timeout|refused|reset|lost|dropped|closed|failed)|timed? ?out"
        r"|(could not|couldn't|unable to|cannot|failed to) (connect|contact)|failed connect"
        r"|connect to .{0,80}(failed|refused)|no route to host"
        r"|network (error|unreachable|is unreachable|failure)|not reachable|unreachable|lost connection"
        r"|broken pipe|mail loop|loop(s back| detected)|too many hops|hop count|mailer (error|failure)"
        r"|mail (program|delivery agent)|command (died|failed)|exit (status|code)|procmail|pipe to|x-unix"
        r"|protocol error|i/o error|write error|read error|operating system error|deferred",
    ),
    # Generic refusals: after every specific cause, so "user unknown ... denied" stays a dead mailbox.
    ("blocked", r"\bblock(ed|ing)?\b|\bbanned\b"),
    (
        "policy_violation",
        r"\bpolic(y|ies)\b|denied|refused|not (allowed|permitted|authori[sz]ed)|unauthori[sz]ed|prohibited"
        r"|permission",
    ),
    (
        "auto_reply",
        r"out of (the )?office|auto(matic)?[- ]?(reply|response|responder)|autoreply|vacation"
        r"|away from (the |my )?(office|desk)|abwesen|r[ée]ponse automatique",
    ),
)


# RFC 3463 / RFC 5248 enhanced codes (subject.detail, whatever the class digit) that name a cause
# when the text names none. X.7.1 ("delivery not authorized") and X.0.0 say too little.
_AUTH_CODES = (
    "7.20",
    "7.21",
    "7.22",
    "7.23",
    "7.24",
    "7.26",
    "7.27",
)  # RFC 7372, 7505: DKIM, SPF, several checks, sender's null MX
_CODE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("user_unknown", ("1.1", "1.3")),
    ("host_unknown", ("1.2", "4.4")),  # X.4.4: unable to route (no MX, no address)
    ("address_moved", ("1.6", "7.17")),
    ("domain_accepts_no_mail", ("1.10",)),
    ("policy_violation", ("1.7", "1.8", "7.7", "7.8", "7.9", "7.10", "7.11", "7.12", "7.14", *_AUTH_CODES)),
    ("blocked", ("7.25",)),
    ("mailbox_disabled", ("2.1", "7.13")),
    ("mailbox_full", ("2.2",)),
    ("message_too_large", ("2.3", "3.4", "7.16")),
    ("content_filtered", tuple(f"6.{detail}" for detail in range(10))),  # X.6.x: message content or media
    ("expired", ("4.7",)),
    ("system_error", ("3.0", "3.1", "3.2", "3.5", "4.0", "4.1", "4.2", "4.3", "4.5", "4.6")),
)

_PATTERN = "__listkit_status_pattern"

#: Enhanced-code details that name a dead mailbox or domain, and the texts of an IP or reputation
#: block that still outrank them.
_DEAD_CODES = ["1.1", "1.2", "1.10"]
_IP_BLOCK = (
    r"spamhaus|spamcop|\bsorbs\b|\brbl\b|dnsbl|black ?list|block ?list|blacklisted|blocklisted"
    r"|blocked using|reputation|\bip( address)? (is |has been |was )?(blocked|banned|listed)"
)

#: An RFC 3463 enhanced status code (class.subject.detail), the one spelling every reader matches.
ENHANCED_CODE = r"[245]\.\d{1,3}\.\d{1,3}"
#: The same, with what surrounds it (polars' regex engine has no lookaround).
_CODE_IN_TEXT = rf"(^|[^\d.]){ENHANCED_CODE}([^\d.]|\.\D|\.$|$)"
#: An SMTP reply code (RFC 5321): three digits standing alone, as in "550 5.1.1" or "550-".
_REPLY_IN_TEXT = r"(^|[\s;:(\[<\"'])[245]\d\d([\s\-:;,.)\]>]|$)"


def reason_effect(name: str) -> Effect:
    """The effect (``dead``, ``temporary``, ``block`` or ``ignore``) of the bounce reason ``name``.

    Raises :class:`~listkit.errors.ListkitError` for a name that is not in :data:`BOUNCE_REASONS`."""
    reason = BOUNCE_REASONS.get(name)
    if reason is None:
        raise ListkitError(f"{name!r} is not a bounce reason; use one of {', '.join(BOUNCE_REASONS)}")
    return reason.effect


def classify_bounces(frame: Frame) -> Frame:
    """``frame`` with ``bounce_reason`` and ``bounce_class`` (``hard``, ``soft``, ``policy``, ``ignored``).

    ``frame`` needs ``smtp_status`` (an RFC 3463 code and/or SMTP reply and/or diagnostic text, or
    null) and ``bounce_type`` (the ESP's verdict: ``hard``, ``soft``, ``block``, or null). Matching is
    case-insensitive, and decides in this order:

    1. a reason recognised from the diagnostic text (see ``_TEXT_RULES``), else from a specific
       enhanced code (5.1.1 user unknown, 5.2.2 mailbox full, 5.7.26 DMARC...); a 5.x.x code naming a
       dead mailbox or domain (X.1.1, X.1.2, X.1.10) wins over the text unless the text names an IP
       or reputation block. Its effect gives the class, except that a transient status (4.x.x, a 4xx
       reply without an enhanced code, or text saying "temporarily" or "try again later") never makes
       an address dead by itself (a "450 4.1.1 user unknown" is ``soft``), and that the ESP's
       ``hard`` is never softened (only a block overrides it);
    2. otherwise (reason ``unclassified``) the ESP's ``bounce_type``: hard -> hard, soft -> soft,
       block -> policy;
    3. otherwise the code's class: other 5.1.x -> hard, 5.7.x -> policy, anything else (4.x.x, a bare
       5.0.0, no code at all) -> soft, so repeated ones still prune through ``soft_bounce_repeated``.

    The regular expressions run once per distinct text after :func:`status_pattern` has masked what
    makes one message's text differ from the next (addresses, IP addresses, times, message ids):
    call it on the distinct (smtp_status, bounce_type) pairs of a log, not on the log. Raises
    :class:`~listkit.errors.InputError` when a column is missing.
    """
    missing = [c for c in ("smtp_status", "bounce_type") if c not in frame.collect_schema()]
    if missing:
        raise InputError("classify_bounces needs this column", column=missing[0])
    keyed = frame.with_columns(**{_PATTERN: status_pattern(pl.col("smtp_status").cast(pl.String))})
    patterns = keyed.select(pl.col(_PATTERN).alias("smtp_status"), "bounce_type").unique()
    classified = _classify(patterns).rename({"smtp_status": _PATTERN})
    return keyed.join(
        classified, on=[_PATTERN, "bounce_type"], how="left", nulls_equal=True, maintain_order="left"
    ).drop(_PATTERN)


def status_pattern(text: pl.Expr) -> pl.Expr:
    """``text`` with what varies from message to message masked: addresses, IP addresses, ISO times
    and long ids (ten or more letters and digits, with a digit), each by one fixed stand-in.

    Receiving servers print the recipient, their own IP and a queue id into their replies, so a log
    holds almost one distinct text per bounce; masked, a few thousand patterns remain, and none of
    the rules reads what was masked.
    """
    return (
        text.str.replace_all(
            r"[^\s<>\"'()\[\];,:]+@[^\s<>\"'()\[\];,:]+\.[A-Za-z]{2,}", "someone@example.org"
        )
        .str.replace_all(
            r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?", "2000-01-01T00:00Z"
        )
        .str.replace_all(r"\b\d{1,3}(\.\d{1,3}){3}\b", "192.0.2.1")
        .str.replace_all(r"\b[A-Za-z]*\d[A-Za-z0-9]{9,}\b|\b[A-Za-z0-9]{9,}\d[A-Za-z]*\b", "ID0000000000")
    )


def _classify(frame: Frame) -> Frame:
    """:func:`classify_bounces`' rules, applied to every row of ``frame``."""
    text = pl.col("smtp_status").cast(pl.String)
    codes = text.str.extract_all(_CODE_IN_TEXT).list.eval(pl.element().str.extract(f"({ENHANCED_CODE})"))
    specific = codes.list.eval(pl.element().filter(~pl.element().str.ends_with(".0.0"))).list.first()
    code = pl.coalesce(specific, codes.list.first())
    reply = text.str.extract(_REPLY_IN_TEXT, 0).str.extract(r"([245]\d\d)")
    # A 4.x.x status, or words that say so, mean "try again": never a dead mailbox.
    transient = pl.coalesce(code, reply).str.starts_with("4").fill_null(False) | text.str.contains(
        r"(?i)temporar|try again later"
    ).fill_null(False)
    detail = code.str.extract(r"^\d\.(\d{1,3}\.\d{1,3})$")

    from_code = _first_code(detail, _CODE_RULES)
    # A code that names a dead mailbox or domain (5.1.1, 5.1.2, 5.1.10) outranks generic policy or
    # content words around it ("550 5.1.1 unknown user; SPF passed"), though not a named IP block.
    dead_code = code.str.starts_with("5.") & detail.is_in(_DEAD_CODES)
    ip_block = text.str.contains(f"(?i){_IP_BLOCK}")
    from_text = _first_rule(text, _TEXT_RULES)
    generic = from_text.is_in(_names_of("block")) & ~ip_block.fill_null(False)
    reason = (
        pl.when(dead_code & (from_text.is_null() | generic))
        .then(from_code)
        .otherwise(pl.coalesce(from_text, from_code, pl.lit(UNCLASSIFIED)))
    )
    effect_class = pl.lit(None, dtype=pl.String)
    for effect, bounce_class in EFFECT_CLASSES.items():
        effect_class = (
            pl.when(pl.col("bounce_reason").is_in(_names_of(effect)))
            .then(pl.lit(bounce_class))
            .otherwise(effect_class)
        )
    verdict = pl.col("bounce_type").cast(pl.String).str.to_lowercase().str.strip_chars()
    unclassified = (
        pl.when(verdict == "hard")
        .then(pl.lit("hard"))
        .when(verdict == "soft")
        .then(pl.lit("soft"))
        .when(verdict == "block")
        .then(pl.lit("policy"))
        .when(code.str.starts_with("5.1."))
        .then(pl.lit("hard"))
        .when(code.str.starts_with("5.7."))
        .then(pl.lit("policy"))
        .otherwise(pl.lit("soft"))
    )
    read_class = (
        pl.when(pl.col("bounce_reason") == UNCLASSIFIED)
        .then(pl.lit(None, dtype=pl.String))
        .when((effect_class == "hard") & transient)
        .then(pl.lit("soft"))
        .otherwise(effect_class)
    )
    # The ESP's "hard" is never softened by our reading (it may know more: retries, its own list);
    # only a recognised block overrides it, and a dead text overrides its "soft" or "block".
    bounce_class = (
        pl.when(read_class.is_null())
        .then(unclassified)
        .when((verdict == "hard") & (read_class == "soft"))
        .then(pl.lit("hard"))
        .otherwise(read_class)
    )
    return frame.with_columns(bounce_reason=reason).with_columns(bounce_class=bounce_class)


def _names_of(effect: str) -> list[str]:
    """The reasons (``unclassified`` aside) with this effect."""
    return [r.name for r in BOUNCE_REASONS.values() if r.effect == effect and r.name != UNCLASSIFIED]


def _first_rule(text: pl.Expr, rules: tuple[tuple[str, str], ...]) -> pl.Expr:
    """The reason of the first rule whose pattern ``text`` contains (case-insensitive), else null."""
    result = pl.lit(None, dtype=pl.String)
    for name, pattern in reversed(rules):
        result = pl.when(text.str.contains(f"(?i){pattern}")).then(pl.lit(name)).otherwise(result)
    return result


def _first_code(detail: pl.Expr, rules: tuple[tuple[str, tuple[str, ...]], ...]) -> pl.Expr:
    """The reason whose codes include ``detail`` (an enhanced code without its class digit), else null."""
    result = pl.lit(None, dtype=pl.String)
    for name, details in reversed(rules):
        result = pl.when(detail.is_in(list(details))).then(pl.lit(name)).otherwise(result)
    return result
