"""Failed recipients and their diagnostics in bounce text that is not (only) an RFC 3464 report.

Many mail systems write bounces for people: Postfix, Exim, qmail, old Sendmail, Exchange,
OpenSMTPD, DragonFly, carriers' gateways. Such a bounce names the failed recipient on a line of its
own ("<a@b>: host mx said: 550 ...") or after a recipient word ("Recipient: <a@b>", "RCPT TO:<a@b>",
"delivering your mail to <a@b>"), then quotes the returned message. :mod:`listkit.feedback` reads
MIME; these functions read the plain text:

- :func:`bounce_part` cuts the text where the returned original message begins;
- :func:`failed_recipients` lists the recipients the notice names, each with the lines about it;
- :func:`embedded_reports` finds RFC 3464 field blocks written into text (forwarded bounces, mail
  systems that print the report in the body);
- :func:`is_delay_warning` tells a "still trying" warning from a failure.
"""

from __future__ import annotations

import re

from listkit.bounces import ENHANCED_CODE

#: An address as bounces print them (``%`` and ``!`` kept: old gateways route with them).
_ADDRESS = r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+"
_ADDRESS_IN_TEXT = re.compile(_ADDRESS)
_WHOLE_ADDRESS = re.compile(f"{_ADDRESS}$")
#: Where the returned message begins: a banner ("----- Original message -----", "Below this line is a
#: copy of the message", "Message headers follow") or, without one, its first trace header.
_ORIGINAL_START = re.compile(
    r"(?im)^[\s\-=*_#|>]*(?:(?:this is a |below (?:this line )?is a |following is a )?copy of (?:the |your )?"
    r"(?:original )?message\b|(?:the )?(?:original|returned|unsent|undelivered)[ -](?:message|mail|e-?mail)\b"
    r"(?! was\b)|(?:the )?header of the original message|message headers follow)"
    r"|^(?:received|return-path|dkim-signature|x-received|message-id)\s*:|^from \S+ +\w{3} \w{3} "
)
#: Before an address on its line: nothing but quoting, bullets and a reply or status code...
_LINE_START = re.compile(rf"^[\s>*\-|#\[(<\"'.]*(?:[245]\d\d[\s-]+)?(?:{ENHANCED_CODE}\s+)?<?$")
#: ...or a recipient word ("bare "address" is not one: "sender address:", "return address:").
_RECIPIENT_WORD = re.compile(
    r"(?i)(?:\b(?:to|rcpt to|recipients?|recipient address|for|user)\b|\brecipients?\b[^@\n]{0,40}:)"
    r"\s*[:=]?\s*[<\"']?$"
)
_QUOTE = re.compile(r"(?m)^> ?")
#: The blank line between paragraphs (and between the field blocks of a report).
PARAGRAPH = re.compile(r"\n[ \t]*\n")
_FIELD_LINE = re.compile(r"^[A-Za-z][\w-]*:(?!//)")
_REPORT_FIELD = re.compile(r"(?im)^(?:final-recipient|original-recipient|reporting-mta|arrival-date)\s*:")
_DELAY_TEXT = re.compile(
    r"(?i)warning message only|will be retried|will (?:keep|continue) trying|only a temporary failure"
    r"|not yet been delivered|no action is required on your part"
    r"|do not need to re-?send|still (?:being )?(?:retried|trying)"
)
#: Subjects of delay warnings; an echoed original subject ("Undeliverable: Warning...") is not one.
_DELAY_SUBJECT = re.compile(
    r"(?i)^\s*warning\b|\(delay\)|(?:notification|status)\s*:\s*(?:delivery has been )?delayed"
    r"|\bdelayed \d+ hours\b|\bdelivery (?:is |has been )?delayed\b"
)
#: The most text kept as one recipient's diagnostic (the classifier reads codes and phrases in it).
MAX_DIAGNOSTIC = 1000


def plausible_address(text: str) -> bool:
    """True when ``text`` is one address as bounces print them (not a JSON fragment or a phrase)."""
    return _WHOLE_ADDRESS.match(text) is not None


def bounce_part(text: str) -> str:
    """``text`` up to where the returned original message (banner or first trace header) begins."""
    start = _ORIGINAL_START.search(text)
    return text[: start.start()] if start else text


def returned_headers(text: str) -> str | None:
    """The header block of a returned message quoted in ``text`` after its banner, if there is one."""
    start = _ORIGINAL_START.search(text)
    if start is None:
        return None
    lines = text[start.start() :].splitlines()
    # Skip the banner and blank lines up to the first header line, then keep header and folded lines.
    first = next((i for i, line in enumerate(lines) if _FIELD_LINE.match(line)), None)
    if first is None:
        return None
    block = []
    for line in lines[first:]:
        if not line.strip() or not (_FIELD_LINE.match(line) or line[:1] in " \t"):
            break
        block.append(line)
    return "\n".join(block)


def failed_recipients(text: str, exclude: set[str], known: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(address, diagnostic) for each failed recipient of the notice ``text``, in order of appearance.

    ``text`` is the notice without the returned message (see :func:`bounce_part`). Without
    ``known``, a recipient is an address named where notices name them (see the module docstring)
    and not in ``exclude`` (lower-case: the sender's and the notice's own addresses); with ``known``
    (found by other means), exactly those, named or not.

    A notice about one recipient is all about it: its diagnostic is the notice from the paragraph
    before the one naming it. With several, each gets the lines naming it and the indented lines
    continuing them; a known recipient the text does not name gets the whole notice."""
    wanted = {a.lower() for a in known}
    lines = text.splitlines()
    owner: dict[int, str] = {}  # line number -> the (lower-case) recipient named first on it
    spelled: dict[str, str] = {}  # lower-case recipient -> as first written, in order of first mention
    for number, line in enumerate(lines):
        for match in _ADDRESS_IN_TEXT.finditer(line):
            key, before = match.group(0).lower(), line[: match.start()]
            named_here = _LINE_START.match(before) or _RECIPIENT_WORD.search(before)
            if (key in wanted) if known else (key in spelled or (key not in exclude and named_here)):
                spelled.setdefault(key, match.group(0))
                owner.setdefault(number, key)
    unnamed = [(a, _squeeze(text)) for a in dict.fromkeys(known) if a.lower() not in spelled]
    if len(spelled) == 1:
        (address,) = spelled.values()
        return [(address, _squeeze("\n".join(lines[_paragraph_before(lines, min(owner)) :]))), *unnamed]
    named = []
    for key, address in spelled.items():
        own = []
        for number in (n for n, k in owner.items() if k == key):
            own.append(lines[number])
            for follow in range(number + 1, len(lines)):
                if follow in owner or not lines[follow][:1].isspace() or not lines[follow].strip():
                    break
                own.append(lines[follow])
        named.append((address, _squeeze("\n".join(own))))
    return named + unnamed


def embedded_reports(text: str) -> list[str]:
    """RFC 3464 field blocks written into ``text`` (``> `` quoting removed), or [] when it has none."""
    blocks = []
    for paragraph in PARAGRAPH.split(_QUOTE.sub("", text.replace("\r\n", "\n"))):
        lines = paragraph.strip("\n").splitlines()
        first = next((i for i, line in enumerate(lines) if _FIELD_LINE.match(line)), None)
        block = "\n".join(lines[first:]) if first is not None else ""
        if _REPORT_FIELD.search(block):
            blocks.append(block)
    return blocks


def is_delay_warning(subject: str, text: str) -> bool:
    """True when the notice says delivery is still being tried (a warning, not a failure)."""
    return _DELAY_SUBJECT.search(subject) is not None or _DELAY_TEXT.search(text) is not None


def _paragraph_before(lines: list[str], number: int) -> int:
    """Index of the first line of the paragraph before the one holding line ``number``."""
    start = number
    while start > 0 and lines[start - 1].strip():  # up to the top of its paragraph,
        start -= 1
    while start > 0 and not lines[start - 1].strip():  # over the blank lines above it,
        start -= 1
    while start > 0 and lines[start - 1].strip():  # and up to the top of the paragraph before
        start -= 1
    return start


def _squeeze(text: str) -> str:
    """``text`` on one line (runs of whitespace as one space), at most :data:`MAX_DIAGNOSTIC` long."""
    return " ".join(text.split())[:MAX_DIAGNOSTIC]
