"""What an event log's columns mean, worked out the same way whether the log is loaded or streamed.

:func:`listkit.read_events` and :func:`listkit.scan_events` (one canonicalisation in
:mod:`listkit.readers`) match headers with :func:`resolve_headers` and build the canonical ``event``,
``bounce_type`` and ``machine_open`` with :func:`event_meaning` from the vocabulary of
:mod:`listkit.schema`; a :data:`Mapper` maps a column's few distinct values.

How a row's meaning is decided: its event name gives a :class:`~listkit.schema.Meaning`. For a bounce,
a refusal or a subscription change, the subtype columns present (SUBTYPE_MEANINGS) decide: the most
suppressing of their recognised values wins (complaint, then unsubscribe, then bounce, then "not an
event"), and the name's own meaning stands when none is recognised. A complaint or an unsubscribe may
only be raised by them (a complaint beats an unsubscribe). The bounce verdict is the most severe one
given by the name or any subtype column (hard, then block, then soft).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from listkit.cells import header_label, shown, text_series
from listkit.errors import InputError, MissingColumnError
from listkit.schema import (
    BOUNCE_VERDICTS,
    EVENT_ALIASES,
    EVENT_DTYPE,
    EVENT_MEANINGS,
    SUBTYPE_MEANINGS,
    vocabulary_key,
    vocabulary_keys,
)

__all__ = [
    "BOOLEANS",
    "SAMPLE_ROWS",
    "Mapper",
    "choose_event_column",
    "event_meaning",
    "recognised",
    "resolve_headers",
    "translate",
]

#: Maps the column at an index through a table keyed by vocabulary_key to ``dtype`` (null where the
#: table has nothing), working out each distinct value once; a column already of ``dtype`` is kept.
Mapper = Callable[[int, Mapping[str, Any], pl.DataType], pl.Expr]

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

# Ranks of the events a subtype may decide, weakest first, and of the verdicts, mildest first.
_RANKED = ("unknown", "bounce", "unsubscribe", "complaint")
_RAISED = ("unsubscribe", "complaint")  # subtypes may only raise these, never lower them
_NAME_DTYPE = pl.Struct(
    {
        "event": EVENT_DTYPE,  # an Enum from the start: casting each row's text would cost more than the rest
        "rank": pl.Int8,
        "severity": pl.Int8,
        "machine": pl.Boolean,
        "decided": pl.Boolean,
        "raised": pl.Boolean,
    }
)
_HELPER = "__listkit_meaning_"  # prefix of the helper columns event_meaning adds
_SUBTYPE_DTYPE = pl.Struct({"rank": pl.Int8, "severity": pl.Int8})
_SEVERITY = {"soft": 1, "block": 2, "hard": 3}
assert set(_SEVERITY) == set(BOUNCE_VERDICTS)
_NAMES = {
    key: {
        "event": meaning.event,
        "rank": _RANKED.index(meaning.event) if meaning.event in _RANKED else None,
        "severity": _SEVERITY.get(meaning.verdict),
        "machine": meaning.machine,
        "decided": meaning.decided_by_subtype or meaning.event == "bounce",
        "raised": meaning.event in _RAISED,
    }
    for key, meaning in EVENT_MEANINGS.items()
}
_SUBTYPES = {
    header: {
        key: {"rank": _RANKED.index(meaning.event), "severity": _SEVERITY.get(meaning.verdict)}
        for key, meaning in values.items()
    }
    for header, values in SUBTYPE_MEANINGS.items()
}
assert all(meaning.event in _RANKED for values in SUBTYPE_MEANINGS.values() for meaning in values.values())
assert all(names["event"] in _RANKED for names in _NAMES.values() if names["decided"])


def resolve_headers(
    name: str, headers: list[str], aliases: Mapping[str, tuple[str, ...]], required: tuple[str, ...], output
) -> tuple[dict[str, int], list[int]]:
    """Match headers to canonical columns: return {canonical: column index} and pass-through indexes.

    Headers compare case-insensitively after trimming; the first alias in tuple order that is present
    wins. Raises InputError for a header given twice or one named like a column listkit adds, and
    MissingColumnError for a required column none of whose aliases is present.
    """
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = header.strip().casefold()
        if key in seen:
            headless = "@" in header  # the first row is data
            raise InputError(
                f"the header appears twice, in columns {seen[key] + 1} and {index + 1} (ignoring case)",
                file=name,
                column=header_label(header),
                hint="the file seems to have no header line: add one"
                if headless
                else "rename or remove one of them",
            )
        seen[key] = index
    found: dict[str, int] = {}
    for canonical, names in aliases.items():
        matches = [seen[key] for key in (alias.strip().casefold() for alias in names) if key in seen]
        if matches:
            found[canonical] = matches[0]
    for canonical in required:
        if canonical not in found:
            listed = ", ".join(shown(header) for header in headers)
            hint = "name it " + " or ".join(repr(alias) for alias in aliases[canonical][:4])
            if any("@" in header for header in headers):  # the first row is data, not headers
                hint = "the file seems to have no header line: add one, with the column " + hint[5:]
            raise MissingColumnError(
                f"required column is missing (the headers found are {listed})",
                file=name,
                column=canonical,
                hint=hint,
            )
    extras = [index for index in range(len(headers)) if index not in found.values()]
    for index in extras:
        if headers[index] in output:
            raise InputError(
                "this name is reserved for a column listkit adds",
                file=name,
                column=headers[index],
                hint="rename or remove the column",
            )
    return found, extras


#: Rows of a log read to tell which of several event-name columns holds the event names.
SAMPLE_ROWS = 10_000


def choose_event_column(
    headers: list[str],
    found: dict[str, int],
    extras: list[int],
    first_rows: Callable[[int], pl.Series],
) -> tuple[dict[str, int], list[int]]:
    """When several event aliases are present, the one whose first rows hold the most known event names.

    One header means the event in one ESP's export and a detail in another's (Mailchimp's activity
    report has ``action`` = open and ``type`` = hard; its webhooks ``type`` = cleaned and ``action`` =
    delete), so the contents decide, the alias order only breaks ties. A column named ``event`` is
    the event whatever it holds. ``first_rows(index)`` gives the first :data:`SAMPLE_ROWS` values of a
    column, of any dtype. Returns the updated ``found`` and ``extras``.
    """
    keys = [header.strip().casefold() for header in headers]
    if keys[found["event"]] == "event":
        return found, extras
    taken = {index for canonical, index in found.items() if canonical != "event"}
    candidates = [
        keys.index(alias.strip().casefold())
        for alias in EVENT_ALIASES["event"]
        if alias.strip().casefold() in keys and keys.index(alias.strip().casefold()) not in taken
    ]
    if len(candidates) < 2:
        return found, extras
    known = list(EVENT_MEANINGS)

    def score(index: int) -> int:
        text = text_series(first_rows(index)).to_frame("v")
        return int(text.select(vocabulary_key(pl.col("v")).is_in(known).sum()).item())

    scores = [score(index) for index in candidates]
    best = candidates[max(range(len(candidates)), key=lambda k: (scores[k], -k))]
    if best == found["event"]:
        return found, extras
    return {**found, "event": best}, sorted({*extras, found["event"]} - {best})


def translate(values: pl.Series, table: Mapping[str, Any], dtype: pl.DataType) -> pl.Series:
    """``values`` looked up in ``table`` by their vocabulary_key (anything else null).

    The string work runs once per distinct value (event names have a handful), not once per row.
    """
    distinct = values.drop_nulls().unique()
    keys = distinct.to_frame("v").select(vocabulary_key(pl.col("v")))["v"]
    mapped = keys.replace_strict(table, default=None, return_dtype=dtype)
    return values.replace_strict(distinct, mapped, default=None, return_dtype=dtype)


def recognised(text: pl.Expr, table: Mapping[str, Any]) -> pl.Expr:
    """``text`` where its vocabulary_key is in ``table``, else null: elementwise, so it streams.

    Mappers collect the distinct values of this, not of the column: a free-text column (a ``reason``
    holding whole SMTP replies) may have millions of distinct values, of which only a few mean anything.
    """
    return pl.when(vocabulary_key(text).is_in(list(table))).then(text)


def event_meaning(
    headers: list[str], found: Mapping[str, int], mapped: Mapper
) -> tuple[list[dict[str, pl.Expr]], dict[str, pl.Expr]]:
    """Expressions for the canonical ``event``, ``bounce_type`` and ``machine_open`` of an event log.

    ``found`` is :func:`resolve_headers`' answer; every subtype column present is read except the one
    that holds the event name. Unknown and empty names give ``unknown``; ``bounce_type`` is null but
    on bounces; ``machine_open`` is the ESP's flag, and true for the opens its name marks as a
    machine's (Brevo's proxy opens). Returns helper columns to add in order (``with_columns``, one
    step after the other: each mapping then runs once per row, not once per use) and the three
    canonical expressions over them. All elementwise: they stream.
    """
    name = pl.col(f"{_HELPER}name")
    subtypes = [
        mapped(index, _SUBTYPES[key], _SUBTYPE_DTYPE)
        for index, key in enumerate(vocabulary_keys(headers))
        if key in _SUBTYPES and index != found["event"]
    ]
    mapped_step = {
        f"{_HELPER}name": mapped(found["event"], _NAMES, _NAME_DTYPE),
        **{f"{_HELPER}subtype{i}": subtype for i, subtype in enumerate(subtypes)},
    }
    sub = [pl.col(f"{_HELPER}subtype{i}") for i in range(len(subtypes))]
    base_rank = name.struct.field("rank")
    sub_rank = pl.max_horizontal(*(s.struct.field("rank") for s in sub)) if sub else pl.lit(None, pl.Int8)
    ranked_step = {
        f"{_HELPER}rank": pl.when(name.struct.field("decided"))
        .then(pl.coalesce(sub_rank, base_rank))
        .when(name.struct.field("raised"))
        .then(pl.max_horizontal(base_rank, sub_rank)),
        f"{_HELPER}severity": pl.max_horizontal(
            name.struct.field("severity"), *(s.struct.field("severity") for s in sub)
        ),
    }
    rank, severity = pl.col(f"{_HELPER}rank"), pl.col(f"{_HELPER}severity")
    named = name.struct.field("event")
    event = named
    for code, ranked in enumerate(_RANKED):
        event = pl.when(rank == code).then(pl.lit(ranked, dtype=EVENT_DTYPE)).otherwise(event)
    verdict = pl.lit(None, dtype=pl.String)
    for verdict_name, level in _SEVERITY.items():
        verdict = pl.when(severity == level).then(pl.lit(verdict_name)).otherwise(verdict)
    is_bounce = (rank == _RANKED.index("bounce")) | (
        rank.is_null() & (name.struct.field("event") == "bounce")
    )
    machine = (
        mapped(found["machine_open"], BOOLEANS, pl.Boolean)
        if "machine_open" in found
        else pl.lit(None, dtype=pl.Boolean)
    )
    return [mapped_step, ranked_step], {
        "event": event.fill_null(pl.lit("unknown", dtype=EVENT_DTYPE)),
        "bounce_type": pl.when(is_bounce).then(verdict),
        "machine_open": pl.when(name.struct.field("machine")).then(pl.lit(True)).otherwise(machine),
    }
