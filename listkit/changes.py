"""Changes between two runs: which addresses appeared or disappeared, or changed outcome or segment.

An address is the row's ``email_normalized``, or its trimmed, lower-cased ``email`` where the
address is invalid (rows without any address are left out). A list may hold an address on several
rows (duplicates): the address counts as kept when one of its rows is, its segment is the kept
row's, and its reasons are the kept row's or, when every row is pruned, all reasons of its rows.

The change of an address is ``new`` (not in the earlier run), ``removed`` (not in this one),
``outcome`` (keep became prune or the reverse) or ``segment`` (kept in both, in another segment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from listkit.errors import InputError
from listkit.layout import LEDGER_FILE, MANIFEST_FILE, PROFILE_FILE
from listkit.segment_profiles import PROFILE_METRICS, check_profiles

CHANGE_KINDS = ("new", "removed", "outcome", "segment")
CHANGE_COLUMNS = (
    "email",
    "change",
    "outcome_before",
    "outcome_after",
    "segment_before",
    "segment_after",
    "reasons_after",
)
_LEDGER_COLUMNS = ("email", "email_normalized", "outcome", "segment", "reasons")
_HINT = "give --previous the output folder of an earlier listkit run"


def _text(column: str) -> pl.Expr:
    """``column`` as text, with empty cells (how CSV writes nulls) as null."""
    value = pl.col(column).cast(pl.String)
    return pl.when(value.str.strip_chars() == "").then(None).otherwise(value).alias(column)


def by_address(ledger: pl.DataFrame) -> pl.DataFrame:
    """One row per address of a ledger (typed, or read from CSV as text): outcome, segment, reasons."""
    rows = (
        ledger.select(*(_text(c) for c in _LEDGER_COLUMNS))
        .with_columns(
            address=pl.coalesce("email_normalized", pl.col("email").str.strip_chars().str.to_lowercase()),
            kept=pl.col("outcome") == "keep",
        )
        .filter(pl.col("address").is_not_null() & (pl.col("address") != ""))
    )
    every_reason = (
        rows.select("address", reason=pl.col("reasons").str.split(";"))
        .explode("reason")
        .filter(pl.col("reason").str.strip_chars() != "")
        .group_by("address")
        .agg(all_reasons=pl.col("reason").unique().sort().str.join(";"))
    )
    return (
        rows.group_by("address")
        .agg(
            kept=pl.col("kept").any(),
            segment=pl.col("segment").filter("kept").min(),
            kept_reasons=pl.col("reasons").filter("kept").min(),
        )
        .join(every_reason, on="address", how="left")
        .select(
            "address",
            outcome=pl.when("kept").then(pl.lit("keep")).otherwise(pl.lit("prune")),
            segment="segment",
            reasons=pl.when("kept").then("kept_reasons").otherwise("all_reasons"),
        )
    )


def changes(previous_ledger: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """Every address whose outcome or segment changed between two runs, or which came or went.

    Columns :data:`CHANGE_COLUMNS` (``reasons_after`` says why the address is where it is now),
    sorted by address. Either ledger may be a run's frame or its ``ledger.csv`` read as text.
    """
    before = by_address(previous_ledger).rename(lambda c: c if c == "address" else f"{c}_before")
    after = by_address(ledger).rename(lambda c: c if c == "address" else f"{c}_after")
    change = (
        pl.when(pl.col("outcome_before").is_null())
        .then(pl.lit("new"))
        .when(pl.col("outcome_after").is_null())
        .then(pl.lit("removed"))
        .when(pl.col("outcome_before") != pl.col("outcome_after"))
        .then(pl.lit("outcome"))
        .when(pl.col("segment_before").ne_missing(pl.col("segment_after")))
        .then(pl.lit("segment"))
    )
    return (
        before.join(after, on="address", how="full", coalesce=True)
        .with_columns(email=pl.col("address"), change=change)
        .filter(pl.col("change").is_not_null())
        .select(CHANGE_COLUMNS)
        .sort("email")
    )


def change_counts(changes_frame: pl.DataFrame) -> dict[str, Any]:
    """Counts for the manifest: per kind of change, and the moves between outcomes and segments."""

    def moves(kind: str, column: str) -> dict[str, int]:
        rows = changes_frame.filter(pl.col("change") == kind)
        pairs = rows.group_by(f"{column}_before", f"{column}_after").len().rows()
        return {f"{a} -> {b}": int(n) for a, b, n in sorted(pairs, key=lambda r: (str(r[0]), str(r[1])))}

    by_kind = dict(changes_frame.group_by("change").len().rows())
    return {
        "total": changes_frame.height,
        "by_change": {kind: int(by_kind.get(kind, 0)) for kind in CHANGE_KINDS},
        "outcome_moves": moves("outcome", "outcome"),
        "segment_moves": moves("segment", "segment"),
    }


def load_previous(out_dir: str | Path) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The ledger (as text) and segment profiles (``None`` when absent) of an earlier run's output folder.

    Raises :class:`~listkit.errors.InputError` when ``out_dir`` is not a listkit output folder.
    """
    folder = Path(out_dir)
    if not folder.is_dir():
        raise InputError("the previous run's folder does not exist", file=folder, hint=_HINT)
    absent = [name for name in (LEDGER_FILE, MANIFEST_FILE) if not (folder / name).is_file()]
    if absent:
        problem = f"is not a listkit output folder (it has no {' and no '.join(absent)})"
        raise InputError(problem, file=folder, hint=_HINT)
    ledger = _read_text_csv(folder / LEDGER_FILE, _LEDGER_COLUMNS)
    profiles_path = folder / PROFILE_FILE
    profiles = (
        _read_text_csv(profiles_path, ("segment", *PROFILE_METRICS)) if profiles_path.is_file() else None
    )
    if profiles is not None:  # perhaps edited by hand: every metric must be a number in range
        profiles = check_profiles(profiles, file=profiles_path)
    return ledger, profiles


def _read_text_csv(path: Path, needed: tuple[str, ...]) -> pl.DataFrame:
    """The ``needed`` columns of a CSV file that listkit wrote, every cell as text."""
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
        missing = [c for c in needed if c not in header]
        if missing:
            raise InputError(
                f"lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} of a listkit run",
                file=path,
                hint=_HINT,
            )
        return pl.read_csv(path, columns=list(needed), infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as error:
        problem = f"cannot be read as CSV ({str(error).splitlines()[0]})"
        raise InputError(problem, file=path, hint=_HINT) from None
