"""What an event log's columns mean, worked out the same way whether the log is loaded or streamed.

:func:`listkit.read_events` (a frame in memory) and :func:`listkit.scan_events` (a lazy Parquet scan)
both match headers with :func:`resolve_headers` and build the canonical ``event``, ``bounce_type`` and
``machine_open`` with :func:`event_meaning` from the vocabulary of :mod:`listkit.schema`. They differ
only in how a column's few distinct values are mapped (a :data:`Mapper`: a hash replace in memory,
``is_in`` tests when streamed), so the two give the same result by construction.

How a row's meaning is decided: its event name gives a :class:`~listkit.schema.Meaning`. For a bounce,
a refusal or a subscription change, the subtype columns present (SUBTYPE_MEANINGS) decide: the most
suppressing of their recognised values wins (complaint, then unsubscribe, then bounce, then "not an
event"), and the name's own meaning stands when none is recognised. A complaint or an unsubscribe may
only be raised by them (a complaint beats an unsubscribe). The bounce verdict is the most severe one
given by the name or any subtype column (hard, then block, then soft).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import polars as pl

from listkit.errors import InputError, MissingColumnError
from listkit.schema import (
    BOUNCE_VERDICTS,
    EARLIEST_TIME,
    EPOCH,
    EVENT_ALIASES,
    EVENT_DTYPE,
    EVENT_MEANINGS,
    LATEST_TIME,
    SUBTYPE_MEANINGS,
    TIMESTAMP,
    vocabulary_key,
    vocabulary_keys,
)

__all__ = [
    "ADDRESS_LABEL",
    "BOOLEANS",
    "SAMPLE_ROWS",
    "SPAN",
    "TIME_HINT",
    "TIME_SAMPLE_ROWS",
    "Mapper",
    "Spellings",
    "as_text",
    "choose_event_column",
    "choose_spellings",
    "event_meaning",
    "lookup",
    "masked_names",
    "read_times",
    "recognised",
    "resolve_headers",
    "shown",
    "time_attempts",
    "time_problem",
    "translate",
    "within_span",
]

#: Maps the column at an index through a table keyed by vocabulary_key to ``dtype`` (null where the
#: table has nothing), working out each distinct value once; a column already of ``dtype`` is kept.
Mapper = Callable[[int, Mapping[str, Any], pl.DataType], pl.Expr]

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
TIME_HINT = "use ISO-8601 (2024-03-01T10:00:00Z), 'YYYY-MM-DD HH:MM:SS' (taken as UTC) or Unix seconds"
#: The readable span of times, as messages name it.
SPAN = f"{EARLIEST_TIME:%Y-%m-%d} to {LATEST_TIME:%Y-%m-%d}"
#: Rows of a column read to choose the timestamp spellings tried first (:func:`choose_spellings`).
TIME_SAMPLE_ROWS = 100_000
#: What ``event_raw`` holds instead of a name that holds an ``@`` (:func:`masked_names`).
ADDRESS_LABEL = "(an email address)"
_SHOWN_CHARS = 40  # longer values are cut in messages (a cell may hold megabytes)

# Ranks of the events a subtype may decide, weakest first, and of the verdicts, mildest first.
_RANKED = ("unknown", "bounce", "unsubscribe", "complaint")
_RAISED = ("unsubscribe", "complaint")  # subtypes may only raise these, never lower them
_NAME_DTYPE = pl.Struct(
    {
        "event": pl.String,
        "rank": pl.Int8,
        "severity": pl.Int8,
        "machine": pl.Boolean,
        "decided": pl.Boolean,
        "raised": pl.Boolean,
    }
)
_HELPER = "__listkit_meaning_"  # prefix of the helper columns event_meaning adds
_TIME_HELPER = "__listkit_time_"  # and of those read_times adds
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
            headless = "@" in header  # the first row is data (an address is never printed)
            raise InputError(
                f"the header appears twice, in columns {seen[key] + 1} and {index + 1} (ignoring case)",
                file=name,
                column=None if headless else header,
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
        text = as_text(first_rows(index))
        if text is None:
            return 0
        return int(text.to_frame("v").select(vocabulary_key(pl.col("v")).is_in(known).sum()).item())

    scores = [score(index) for index in candidates]
    best = candidates[max(range(len(candidates)), key=lambda k: (scores[k], -k))]
    if best == found["event"]:
        return found, extras
    return {**found, "event": best}, sorted({*extras, found["event"]} - {best})


def as_text(values: pl.Series) -> pl.Series | None:
    """Sampled values as text for tests of their content; None for dates, times, nested and binary data.

    Temporal values are left alone: casting one far outside the calendar makes polars panic.
    """
    dtype = values.dtype
    if dtype == pl.String:
        return values
    if dtype.is_temporal() or dtype.is_nested() or dtype == pl.Binary or dtype == pl.Object:
        return None
    try:
        return values.cast(pl.String)
    except pl.exceptions.PolarsError:
        return None


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


def lookup(source: pl.Expr, keys: pl.Series, values: pl.Series, dtype: pl.DataType) -> pl.Expr:
    """``source`` mapped from ``keys`` to ``values`` (anything else null), in a way that streams.

    One ``is_in`` test per distinct value (event names map to a handful): elementwise, unlike
    ``replace_strict``, which makes polars' streaming engine hold the whole column in memory.
    """
    pairs = pl.DataFrame({"key": keys, "value": values}).filter(pl.col("value").is_not_null())
    groups = pairs.group_by("value", maintain_order=True).agg("key")
    result = pl.lit(None, dtype=dtype)
    for value, group in reversed(groups.rows()):
        result = (
            pl.when(source.is_in(pl.Series(group, dtype=keys.dtype).implode()))
            .then(pl.lit(value, dtype=dtype))
            .otherwise(result)
        )
    return result


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
        event = pl.when(rank == code).then(pl.lit(ranked)).otherwise(event)
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
        "event": event.fill_null("unknown").cast(EVENT_DTYPE),
        "bounce_type": pl.when(is_bounce).then(verdict),
        "machine_open": pl.when(name.struct.field("machine")).then(pl.lit(True)).otherwise(machine),
    }


def shown(value: str | None) -> str:
    """A cell's value as a message may show it: quoted and shortened, and never an email address."""
    if value is None:
        return "an empty value"
    if "@" in value:  # whatever else it is, it may be someone's address
        return "a value that looks like an email address"
    return repr(value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 3] + "...")


def masked_names(text: pl.Expr) -> pl.Expr:
    """Event names as counted and reported (``event_raw``): a name holding an ``@`` becomes ADDRESS_LABEL.

    Unknown names are counted by name in the manifest, the report and warnings; an address read as
    a name (a junk row, a shifted column) must never be printed there.
    """
    return pl.when(text.str.contains("@", literal=True)).then(pl.lit(ADDRESS_LABEL)).otherwise(text)


def time_attempts(text: pl.Expr) -> list[pl.Expr]:
    """Every accepted timestamp spelling, as expressions yielding UTC timestamps or null.

    Where two spellings read one text, they read the same instant, so the order in which they are
    tried never changes a result (tests/test_input_sanity.py checks it).
    """

    def naive(fmt: str) -> pl.Expr:  # no offset given: the time is UTC
        return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone("UTC")

    def aware(fmt: str) -> pl.Expr:
        return text.str.to_datetime(fmt, time_unit="us", strict=False).dt.convert_time_zone("UTC")

    number = text.cast(pl.Float64, strict=False)
    # Unix seconds from 1973-03-03 (1e8: no mail event is older, and smaller numbers are more likely
    # dates such as 20240301) up to the year 5138, or 13-digit milliseconds; other numbers are not times.
    micros = (
        pl.when((number >= 1e8) & (number < 1e11))
        .then(number * 1e6)
        .when((number >= 1e12) & (number < 1e13))
        .then(number * 1e3)
    )
    unix = micros.round().cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return [*map(naive, _FIXED_FORMATS), unix, *map(aware, _AWARE_FORMATS), *map(naive, _NAIVE_FORMATS)]


class Spellings(NamedTuple):
    """The timestamp spellings a column's sample calls for (:func:`choose_spellings`)."""

    chosen: tuple[int, ...] = ()  #: indexes into :func:`time_attempts`, tried on every row
    padded: bool = False  #: some sampled values have white space around them: strip every row first


_NO_SPELLINGS = Spellings()


def choose_spellings(sample: pl.Series) -> Spellings:
    """The fewest of :func:`time_attempts` that read ``sample`` (the first TIME_SAMPLE_ROWS values).

    Greedy: the spelling that reads most of what is still unread, until none reads more (several
    often read the same ISO text). :func:`read_times` tries these on every row and the others only
    on the rows they miss, so the choice changes the cost, never a result.
    """
    text = sample.cast(pl.String)
    stripped = text.str.strip_chars()
    frame = stripped.rename("text").to_frame()
    attempts = time_attempts(pl.col("text"))
    reads = frame.select(attempt.is_not_null().alias(str(i)) for i, attempt in enumerate(attempts))
    chosen: list[int] = []
    unread = frame["text"].is_not_null()
    while True:
        counts = [int((reads[str(i)] & unread).sum()) for i in range(len(attempts))]
        best = max(range(len(attempts)), key=lambda i: counts[i])
        if counts[best] == 0:
            return Spellings(tuple(chosen), padded=bool((stripped != text).any()))
        chosen.append(best)
        unread = unread & ~reads[str(best)]


def read_times(
    column: pl.Expr, dtype: pl.DataType, spellings: Spellings = _NO_SPELLINGS
) -> tuple[list[dict[str, pl.Expr]], pl.Expr]:
    """UTC timestamps of a Datetime, Date or text column; null where a value is empty or unreadable.

    Text reads as the first of :func:`time_attempts` that reads it, surrounding white space ignored:
    the ``spellings`` chosen from a sample are tried on every row, the other spellings only on the
    rows those miss, so the loaded and the streamed reader agree on every row whatever their samples.
    Typed values outside the readable span are null (converting them could overflow); text outside
    it is read, for :func:`within_span` to refuse. Returns helper columns to add first, in order
    (``with_columns``: the first reading is then parsed once per row), and the expression over them.
    Elementwise: it streams.
    """
    if isinstance(dtype, pl.Datetime):  # naive means UTC, zoned is converted
        low, high = _span_in(dtype.time_unit)
        safe = pl.when(column.to_physical().is_between(low, high)).then(column)
        zoned = safe.dt.replace_time_zone("UTC") if dtype.time_zone is None else safe
        return [], zoned.dt.convert_time_zone("UTC").cast(TIMESTAMP)
    if dtype == pl.Date:
        low, high = ((moment.date() - EPOCH.date()).days for moment in (EARLIEST_TIME, LATEST_TIME))
        safe = pl.when(column.to_physical().is_between(low, high)).then(column)
        return [], safe.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    text = column if dtype == pl.String else column.cast(pl.String)
    if not spellings.chosen:
        return [], pl.coalesce(time_attempts(text.str.strip_chars())).cast(TIMESTAMP)
    attempts = time_attempts(text.str.strip_chars() if spellings.padded else text)
    first, missed = pl.col(f"{_TIME_HELPER}first"), pl.col(f"{_TIME_HELPER}missed")
    steps = [
        {f"{_TIME_HELPER}first": pl.coalesce([attempts[i] for i in spellings.chosen])},
        # Null wherever the first reading worked: the other spellings then cost next to nothing there.
        {f"{_TIME_HELPER}missed": pl.when(first.is_null()).then(text).str.strip_chars()},
    ]
    return steps, pl.coalesce(first, *time_attempts(missed)).cast(TIMESTAMP)


def within_span(timestamps: pl.Expr) -> pl.Expr:
    """True where a timestamp lies in ``[EARLIEST_TIME, LATEST_TIME]`` (null where it is null)."""
    return timestamps.is_between(pl.lit(EARLIEST_TIME, dtype=TIMESTAMP), pl.lit(LATEST_TIME, dtype=TIMESTAMP))


def time_problem(given: str | None, *, outside: bool) -> tuple[str, str]:
    """What is wrong with a refused timestamp cell, and what to do: (problem, hint). Error paths only.

    ``given`` is the cell as text (None for an empty cell, or for a typed one that cannot be shown);
    ``outside`` says the value is a time, outside the readable span.
    """
    if outside:
        what = "the time" if given is None else shown(given)
        return f"{what} is outside the times listkit reads ({SPAN})", "correct it, or remove the row"
    if given is None or not given.strip():
        return "the value is empty", "every event needs a timestamp"
    return f"{shown(given)} is not a timestamp listkit understands", TIME_HINT


def _span_in(unit: str) -> tuple[int, int]:
    """The readable span as integers of a Datetime column's unit, within Int64 (ns columns end in 2262)."""
    per_second = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    bound = (1 << 63) - 1
    low, high = (int((time - EPOCH).total_seconds()) * per_second for time in (EARLIEST_TIME, LATEST_TIME))
    return max(low, -bound), min(high, bound)


# Fixed spellings first: polars parses them about four times faster than ones with %.f or %z, and the
# readers prefer the earliest attempt that reads their sample best.
_FIXED_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")  # %#z also reads "Z"
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")
