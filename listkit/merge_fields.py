"""Merge-field audit: first names that would make a mail start "Hi [name],".

A first name is a placeholder when it is empty, an unfilled template tag (``[name]``,
``{{first_name}}``, ``*|FNAME|*``, ``%FIRSTNAME%``, ``<name>``), or a test or junk value
(``test``, ``asdf``, ``n/a``, ``none``, ``null``, ``xxx``...). Kept rows with such a name get the
warning ``placeholder_name``; they are still mailed, but not with a personal greeting.
"""

from __future__ import annotations

import polars as pl

#: Values (compared trimmed and case-folded) that are no one's name.
JUNK_NAMES = (
    "test", "testing", "tester", "asdf", "asd", "qwerty", "xxx", "xx", "x", "n/a", "na", "none", "null",
    "nil", "unknown", "name", "first name", "firstname", "fname", "customer", "subscriber", "user",
    "sample", "demo", "foo", "bar", "abc", "aaa", "-", ".", "?", "undefined",
)  # fmt: skip

#: Template syntaxes of ESPs and mail-merge tools left unfilled: [x], {x}, {{x}}, *|X|*, %X%, <x>, ${x}.
_TEMPLATE_TAG = r"^(\[.*\]|\{.*\}|\*\|.*\|\*|%.+%|<.*>|\$\{.*\})$"


def is_placeholder_name(first_name: pl.Expr) -> pl.Expr:
    """True where ``first_name`` is empty, an unfilled template tag, or a junk value."""
    name = first_name.str.strip_chars()
    return (
        name.is_null()
        | (name == "")
        | name.str.to_lowercase().is_in(JUNK_NAMES)
        | name.str.contains(_TEMPLATE_TAG)
    )
