"""Columns whose values are plainly of another kind than their header says: swapped or misnamed.

An export whose ``email`` and ``event`` columns are swapped reads without a single bad cell: every
address is an unknown event name and every event name an invalid address. So before anything is
interpreted, the readers (loaded and streamed alike, on the same first rows:
:data:`listkit.interpret.SAMPLE_ROWS`) look at what the values of the columns that matter look like, and
refuse the file with one line when

- the email column holds hardly any values with an ``@`` while another column holds addresses;
- the event column holds mostly addresses, timestamps or numbers rather than names;
- a timestamp column (``timestamp``, ``signup_at``) holds mostly addresses.

"Mostly" holds for the share of the sampled values and for the share of their distinct values alike,
so neither a few junk rows nor one junk value repeated make a verdict; nor does a sample of fewer than
:data:`MIN_VALUES` values. Each distinct value is classified once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from listkit.cells import header_label, text_series
from listkit.errors import InputError
from listkit.times import time_attempts

__all__ = ["HARDLY", "MIN_VALUES", "MOSTLY", "refuse_misplaced_columns"]

#: A column holds a kind when at least this share of its sampled values, and of their distinct values,
#: are of that kind.
MOSTLY = 0.5
#: The email column holds hardly any addresses when fewer than this share of its values (and distinct
#: values) have an ``@``.
HARDLY = 0.2
#: Fewer non-empty sampled values than this prove nothing either way.
MIN_VALUES = 5

# A whole value shaped like an address, bare or as ``Name <address>``: one @, no white space in it.
_ADDRESS = r"^\s*(?:[^<>@]*<)?[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+>?\s*$"
_DESCRIBED = {
    "address": "email addresses",
    "timestamp": "timestamps",
    "number": "numbers",
    "text": "words or names",
}
_SWAPPED = "check the header line: the columns look swapped or misnamed"


@dataclass(frozen=True)
class _Profile:
    """What a column's sampled values look like: the share of each kind, by value and by distinct value."""

    values: int
    by_value: Mapping[str, float]
    by_distinct: Mapping[str, float]
    with_at: tuple[float, float]  # shares of values, and of distinct values, holding an @

    def holds(self, *kinds: str) -> bool:
        """True when the kinds together make up MOSTLY of the values and of the distinct values."""
        if self.values < MIN_VALUES:
            return False
        shares = (self.by_value, self.by_distinct)
        return all(sum(of.get(kind, 0.0) for kind in kinds) >= MOSTLY for of in shares)

    def main_kind(self, *kinds: str) -> str:
        """The most common of ``kinds`` (all kinds when none is given), by value."""
        return max(kinds or tuple(_DESCRIBED), key=lambda kind: self.by_value.get(kind, 0.0))

    @property
    def sampled(self) -> str:
        """Which values were looked at, for a message."""
        return f"of its first {self.values:,} values" if self.values > 1 else "of its values"

    def share(self, *kinds: str) -> str:
        """The share of values of these kinds, for a message."""
        return f"{sum(self.by_value.get(kind, 0.0) for kind in kinds):.0%}"


def refuse_misplaced_columns(
    file: str, headers: list[str], found: Mapping[str, int], first_rows: Callable[[int], pl.Series]
) -> None:
    """Raise InputError when a column's values are plainly of another kind than its header says.

    ``found`` maps canonical names to column indexes (:func:`listkit.interpret.resolve_headers`);
    the ``email``, ``event``, ``timestamp`` and ``signup_at`` columns present are tested.
    ``first_rows(index)`` gives the first rows of a column (:data:`listkit.interpret.SAMPLE_ROWS`), of
    any dtype.
    """
    profiles: dict[int, _Profile] = {}

    def profile(index: int) -> _Profile:
        if index not in profiles:
            profiles[index] = _profile(first_rows(index))
        return profiles[index]

    def refuse(canonical: str, problem: str) -> None:
        raise InputError(problem, file=file, column=headers[found[canonical]], hint=_SWAPPED)

    if (
        "email" in found
        and (email := profile(found["email"])).values >= MIN_VALUES
        and max(email.with_at) < HARDLY
    ):
        others = [index for index in range(len(headers)) if index != found["email"]]
        holders = [index for index in others if profile(index).holds("address")]
        if holders:
            refuse(
                "email",
                f"{1 - email.with_at[0]:.0%} {email.sampled} have no @ (they look like "
                f"{_DESCRIBED[email.main_kind()]}) while column {header_label(headers[holders[0]])!r} holds "
                "email addresses",
            )
    unlike = ("address", "timestamp", "number")
    if "event" in found and (event := profile(found["event"])).holds(*unlike):
        looks = _DESCRIBED[event.main_kind(*unlike)]
        refuse("event", f"{event.share(*unlike)} {event.sampled} look like {looks}, not event names")
    for canonical in ("timestamp", "signup_at"):
        if canonical in found and (times := profile(found[canonical])).holds("address"):
            refuse(
                canonical,
                f"{times.share('address')} {times.sampled} look like email addresses, not timestamps",
            )


def _profile(values: pl.Series) -> _Profile:
    """Classify each distinct value of a column's sample once."""
    if values.dtype.is_temporal():
        kinds = pl.DataFrame({"kind": ["timestamp"], "len": [values.count()], "at": [False]})
        return _shares(kinds.filter(pl.col("len") > 0))
    counted = text_series(values).drop_nulls().rename("value").to_frame().group_by("value").len()
    value = pl.col("value")
    stripped = value.str.strip_chars()
    kind = (
        pl.when(stripped.str.contains(_ADDRESS))
        .then(pl.lit("address"))
        .when(pl.coalesce(time_attempts(stripped)).is_not_null())
        .then(pl.lit("timestamp"))
        .when(stripped.cast(pl.Float64, strict=False).is_finite())
        .then(pl.lit("number"))
        .otherwise(pl.lit("text"))
    )
    return _shares(counted.select("len", kind=kind, at=value.str.contains("@", literal=True)))


def _shares(kinds: pl.DataFrame) -> _Profile:
    """``kinds``: a row per distinct value, with its ``kind``, its count ``len`` and ``at`` (it has an @)."""
    values, distinct = int(kinds["len"].sum()), kinds.height
    totals = kinds.group_by("kind").agg(rows=pl.col("len").sum(), distinct=pl.len())
    return _Profile(
        values=values,
        by_value={kind: rows / values for kind, rows in zip(totals["kind"], totals["rows"], strict=True)},
        by_distinct={kind: n / distinct for kind, n in zip(totals["kind"], totals["distinct"], strict=True)},
        with_at=(
            float(kinds.filter("at")["len"].sum()) / values if values else 0.0,
            kinds["at"].sum() / distinct if distinct else 0.0,
        ),
    )
