"""No subscriber address in what listkit says about a run: errors, warnings, the manifest, the report.

The outputs meant to hold addresses (ledger, segments, suppression list, changes) hold them; any
other text built from the data passes through :func:`redact` (Python strings) or
:func:`redact_expr` (polars columns) first, which replace everything that looks like an address
(text, ``@``, text) by :data:`MASK`. "Looks like" is deliberately broad: ``john@example``,
``"john doe"@example.com`` and ``<x@y.z>`` inside a sentence are all masked, since a value that is
not a valid address may still be somebody's address with a typo.

This module imports nothing from listkit, so :mod:`listkit.errors` can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import polars as pl

__all__ = [
    "MASK",
    "mask_address",
    "mask_address_expr",
    "mask_text",
    "redact",
    "redact_expr",
    "redact_labels",
    "redact_value",
]

#: What an address-like piece of text becomes.
MASK = "(address)"

# Characters that end an address-like token: white space, brackets, punctuation and double quotes.
# A local part may hold ' ` { } (o'brien@example.com); a domain cannot, and quotes before a token are
# kept (they quote the value in a message: '(address)').
_CHAR = "[^" + r"\s<>(),;:" + '"@]'
_DOMAIN_CHAR = "[^" + r"\s<>(),;:" + "\"@'`{}]"
_QUOTES = "['`]*"
_FIRST_CHAR = "[^" + r"\s<>(),;:" + "\"@'`]"  # after the quotes, so both engines split a token alike
_QUOTED = '"[^"\r\n]*"'
#: For polars (Rust's regex engine runs in linear time, and has no look-behind).
_ADDRESS_RUST = f"(?:{_QUOTED}|(?P<quotes>{_QUOTES}){_FIRST_CHAR}{_CHAR}*)@{_DOMAIN_CHAR}+"
_MASK_RUST = "${quotes}" + MASK
#: The same matches for Python's backtracking engine: a token is tried only from its start, and
#: possessive quantifiers never give characters back, so a long run without an address stays linear.
_ADDRESS = re.compile(
    f"(?:{_QUOTED}|(?<!{_CHAR})(?P<quotes>{_QUOTES}+){_FIRST_CHAR}{_CHAR}*+)@{_DOMAIN_CHAR}++"
)


#: The same tokens with their parts named, for :func:`mask_text`: the opening quote of a quoted local
#: part (``qfirst``), or the quotes before a token and its first character; and the domain.
_PARTS = re.compile(
    f'(?:(?P<qfirst>")[^"\r\n]*"|(?<!{_CHAR})(?P<quotes>{_QUOTES}+)(?P<first>{_FIRST_CHAR}){_CHAR}*+)'
    f"@(?P<domain>{_DOMAIN_CHAR}++)"
)
#: What stands for the rest of a local part in :func:`mask_address` (``j***@gmail.com``).
_HIDDEN = "***"
# White space around a value, stripped alike by Python and polars (their own notions of white space differ).
_PADDING = " \t\r\n"


def _mask(match: re.Match[str]) -> str:
    return (match["quotes"] or "") + MASK


def redact(text: str, *, keep: Iterable[str] = ()) -> str:
    """``text`` with every address-like piece replaced by :data:`MASK`.

    ``keep`` lists strings to leave as they are wherever they occur (the paths a user gave: a home
    folder such as ``/home/ann@corp.example`` names the analyst, not a subscriber).
    """
    if "@" not in text:
        return text
    kept = sorted({k for k in keep if k and "@" in k}, key=len, reverse=True)
    if not kept:
        return _masked(text)
    pieces = re.split("(" + "|".join(map(re.escape, kept)) + ")", text)
    # re.split with one group: the kept strings are at the odd positions.
    return "".join(piece if i % 2 else _masked(piece) for i, piece in enumerate(pieces))


def _masked(text: str) -> str:
    """:data:`_ADDRESS` replaced until nothing changes. The look-behind that keeps Python's engine linear
    also refuses a token glued to the end of the previous match (``=@='=@=``), which Rust's engine masks;
    after the first mask that token stands after ``)`` and is found (the mask holds no ``@``, so it ends)."""
    while True:
        masked = _ADDRESS.sub(_mask, text)
        if masked == text or "@" not in masked:
            return masked
        text = masked


def redact_expr(expr: pl.Expr) -> pl.Expr:
    """The polars form of :func:`redact` for a text column (vectorised, same matches)."""
    # Most cells of a free-text column hold no "@": the literal search is far cheaper than the regex.
    return (
        pl.when(expr.str.contains("@", literal=True))
        .then(expr.str.replace_all(_ADDRESS_RUST, _MASK_RUST))
        .otherwise(expr)
    )


def redact_value(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string in it, dict keys and nested lists included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(key): redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


def redact_labels(counts: dict[str, int]) -> dict[str, int]:
    """Counts per label (unknown event names...) with the labels redacted; counts of equal labels add up.

    A log whose address and event columns are swapped would otherwise list every address as a label.
    """
    merged: dict[str, int] = {}
    for label, count in counts.items():
        key = redact(label)
        merged[key] = merged.get(key, 0) + count
    return dict(sorted(merged.items()))


def mask_address(address: str | None) -> str | None:
    """An address shown without giving it away: its first character, ``***`` and its domain.

    ``mask_address("john@gmail.com") == "j***@gmail.com"``. The report shows addresses this way (the
    typo fixes found, an example of a reason) so that a reader sees the domain, and no address appears
    in full. The domain is what follows the last ``@``; a value without ``@`` is no address and is shown
    as :data:`MASK`, as :func:`redact` shows one, and an empty one stays empty (nothing to hide).
    Masking a masked address changes nothing; ``None`` stays ``None``. :func:`mask_address_expr` is
    the same for a polars column.
    """
    if address is None:
        return None
    value = address.strip(_PADDING)
    local, at, domain = value.rpartition("@")
    if not at:
        return MASK if value else ""
    return local[:1] + _HIDDEN + "@" + domain


def mask_address_expr(expr: pl.Expr) -> pl.Expr:
    """The polars form of :func:`mask_address` for a column of addresses (vectorised, same results)."""
    value = expr.str.strip_chars(_PADDING)
    # What precedes the last "@" (greedy, across line breaks) and what follows it.
    parts = value.str.extract_groups(r"(?s)^(?P<local>.*)@(?P<domain>[^@]*)$")
    first = parts.struct.field("local").str.head(1)
    domain = parts.struct.field("domain")
    return (
        pl.when(value.str.contains("@", literal=True))
        .then(pl.concat_str(first, pl.lit(_HIDDEN + "@"), domain))
        .when(value != "")
        .then(pl.lit(MASK))
        .otherwise(value)
        .name.keep()  # the column keeps its name, as with any other string method
    )


def mask_text(text: str) -> str:
    """``text`` with every address-like piece (as :func:`redact` finds them) masked as
    :func:`mask_address` shows an address: ``write to john@gmail.com`` becomes ``write to j***@gmail.com``.

    The report's last safeguard (:mod:`listkit.render` passes every text it shows through it): unlike
    :func:`redact`, it leaves masked addresses as they are, so a table of masked typo fixes reads the same,
    and a token whose domain holds no letter or digit (``info@, sales@...``) is left alone.
    """
    if "@" not in text:
        return text
    return _PARTS.sub(_mask_parts, text)


def _mask_parts(match: re.Match[str]) -> str:
    if not any(character.isalnum() for character in match["domain"]):
        return match[0]  # "sales@..." in a sentence: a domain of punctuation alone is nobody's address
    start = match["qfirst"] or (match["quotes"] or "") + match["first"]
    return start + _HIDDEN + "@" + match["domain"]
