"""The formula guard: no exported cell or header runs as a spreadsheet formula (promise 4).

A text cell or header that begins with one of :data:`FORMULA_TRIGGERS` is written with a ``'``
before it, whichever column it is in. Two kinds of cell are exempt, because no spreadsheet runs
them and altering them would corrupt data: a signed number or UTC offset (Mailchimp's ``GMTOFF`` of
``-5``, ``+44``, ``-3.5e2``, ``-05:00``; a spreadsheet reads them as numbers, and a sending tool's
re-import as the data they are), and a cell of an address column (:data:`EMAIL_COLUMNS`, or the
columns the writer names) that is a valid address as it stands: a sending tool must get the address
unaltered, so ``=1+1@example.com`` is kept (and the run warns, :func:`formula_like_addresses`),
while ``=HYPERLINK(...)`` in the email column is not an address and is guarded like any other text.

The guard is reversible: text that already begins with ``'`` followed by a trigger gets one more
``'`` too, so two different cells or headers (``=x`` and ``'=x``) never come out the same, and
:func:`unguard` gives back exactly the cells that were guarded (for reading an earlier run's files).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from listkit.addresses import check_addresses
from listkit.cells import named

__all__ = ["EMAIL_COLUMNS", "FORMULA_TRIGGERS", "formula_like_addresses", "formula_safe", "unguard"]

#: Characters that make a spreadsheet read a cell as a formula: OWASP's list for CSV injection, and the
#: NUL character that OWASP's ASVS (requirement 1.2.10) adds.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
#: Columns holding addresses: a cell there that is a valid address as it stands is never altered.
EMAIL_COLUMNS = ("email", "email_normalized", "suggestion")

# Built by hand, for both regex engines (Python's for names, polars' for cells): "-" needs its backslash,
# NUL its escape.
_TRIGGER_CLASS = "[" + "".join({"-": "\\-", "\0": "\\x00"}.get(c, c) for c in FORMULA_TRIGGERS) + "]"
#: What the guard prefixes: a trigger, maybe after quotes that an earlier guard (or a person) put there.
_GUARDED = f"^'*{_TRIGGER_CLASS}"
#: What the guard produced: one quote more than :data:`_GUARDED` allows for.
_UNGUARD = f"^'+{_TRIGGER_CLASS}"
#: An address cannot begin with ``@`` or white space, so only these can be formula-like addresses.
_ADDRESS_TRIGGERS = "^[=+-]"
#: Signed cells that are data, not formulas: a number (decimal point or comma, exponent) or a UTC offset
#: (``-05:00``). Digits and separators only: no function name, reference or operator. (A signed date
#: such as ``-2026-01-01`` is not exempt: a spreadsheet computes it.)
_SIGNED_DATA = r"^[+-](?:(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?|\d{2}:?\d{2})$"


def formula_safe(frame: pl.DataFrame, *, address_columns: Sequence[str] = EMAIL_COLUMNS) -> pl.DataFrame:
    """Prefix ``'`` to every text cell and header that a spreadsheet could run as a formula.

    Signed numbers and UTC offsets are data and left as they are; so are the cells of
    ``address_columns`` (a sending tool's own header for the address, say) that are valid addresses
    as they stand.
    """
    renamed = frame.rename({name: "'" + name for name in frame.columns if re.match(_GUARDED, name)})
    texts = [
        (original, name)
        for original, (name, dtype) in zip(frame.columns, renamed.schema.items(), strict=True)
        if dtype == pl.String
    ]
    # One cheap pass finds the columns with a cell to guard at all; only those are rewritten (rewriting
    # every text column of a million-row ledger took longer than writing it).
    touched = (
        renamed.select(named(name).str.contains(_GUARDED).any() for _, name in texts).row(0) if texts else ()
    )
    guarded = []
    for (original, name), touch in zip(texts, touched, strict=True):
        if not touch:
            continue
        cell = named(name)
        risky = cell.str.contains(_GUARDED) & ~cell.str.contains(_SIGNED_DATA)
        if original in address_columns:
            risky = risky & ~cell.is_in(_valid_as_written(renamed[name]).implode())
        guarded.append(pl.when(risky).then(pl.lit("'") + cell).otherwise(cell).alias(name))
    return renamed.with_columns(guarded)


def formula_like_addresses(values: pl.Series) -> pl.Series:
    """True where the value is a valid address as it stands that begins with ``=``, ``+`` or ``-``.

    These are written unaltered in address columns, so a spreadsheet could read them as formulas:
    the run warns about them (``formula_like_address``).
    """
    valid = _valid_as_written(values.filter(values.str.contains(_ADDRESS_TRIGGERS)))
    return values.is_in(valid.implode()).fill_null(False)


def unguard(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo :func:`formula_safe` on the text cells of a frame read back from listkit's CSV files.

    In an address column, a cell whose text after the first ``'`` is a valid address as written was
    never guarded (that address would have been exempt), so ``'+ann@example.com`` is read back as
    it is; ``'@gmail.com`` was ``@gmail.com``. (Only an address whose local part is ``'`` alone, or
    ``'`` and a trigger making the rest invalid, reads back one quote short: none was ever seen.)
    """
    unguarded = []
    for name, dtype in frame.schema.items():
        if dtype != pl.String:
            continue
        cell = named(name)
        guarded = cell.str.contains(_UNGUARD)
        if name in EMAIL_COLUMNS:
            tails = frame[name].filter(frame[name].str.contains(_UNGUARD)).str.slice(1)
            guarded = guarded & ~cell.str.slice(1).is_in(_valid_as_written(tails).implode())
        unguarded.append(pl.when(guarded).then(cell.str.slice(1)).otherwise(cell).alias(name))
    return frame.with_columns(unguarded)


def _valid_as_written(values: pl.Series) -> pl.Series:
    """The distinct values that the guard could touch and that are valid addresses exactly as written.

    "As written": email-validator accepts the value and its normalised form is the value itself (up
    to case), so a value with white space, a display name or a trailing dot around the address
    is not one. Only the few values beginning with a trigger or a quote are checked, once each.
    """
    distinct = values.filter(values.str.contains(_GUARDED)).unique().sort()
    checked = check_addresses(distinct)
    same = checked["email_normalized"].str.to_lowercase() == distinct.str.to_lowercase()
    return distinct.filter(checked["syntax_valid"] & same.fill_null(False))
