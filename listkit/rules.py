"""Policy and reasons: which rows to prune, with one reason code per cause and its evidence.

:func:`flag` takes one row per subscriber row, already joined with its address checks and its
mailbox's engagement features, and adds ``reasons`` (``;``-joined codes in the contract's order),
``outcome`` (``keep`` or ``prune``), ``duplicate_of`` and a human-readable ``evidence`` text.

Suppressing causes (unsubscribe, complaint, hard bounce) belong to the mailbox, not the row: when
any spelling of a mailbox is unsubscribed, every row of that mailbox carries the reason, so no
spelling of it can reach a segment file.
"""

from __future__ import annotations

import polars as pl

from listkit.addresses import in_shared_mailbox
from listkit.engagement import FEATURE_COLUMNS
from listkit.policy import Policy
from listkit.reasons import LIST_STATUS, REASON_CODES, REASONS, pruning_reasons
from listkit.schema import EPOCH, status_cause


def flag(rows: pl.DataFrame, *, policy: Policy) -> pl.DataFrame:
    """Add ``reasons``, ``outcome``, ``duplicate_of`` and ``evidence`` to ``rows``.

    ``rows`` needs the address columns (``syntax_valid``, ``mailbox_key``, ``is_disposable``,
    ``is_role``, ``suggestion``), ``status``, the merge fields and the engagement features of
    :mod:`listkit.engagement` (null where a mailbox has no events). Pure: returns a new frame in the
    same row order.
    """
    # Stages run on their own may leave out what they did not compute: absent means unknown.
    optional = {
        "address_last_engagement_at": pl.Datetime("us", "UTC"),
        "dns_status": pl.String,
        "dns_detail": pl.String,
        **{name: pl.Datetime("us", "UTC") if name.endswith("_at") else pl.String
           if name.endswith(("_status", "_reason")) else pl.UInt32 for name in FEATURE_COLUMNS},
        "score": pl.Float64,
    }  # fmt: skip
    rows = rows.with_columns(
        pl.lit(None, dtype=dtype).alias(name) for name, dtype in optional.items() if name not in rows.columns
    )
    flagged = _by_mailbox(rows.with_columns(_list_status(rows.get_column("status"))))
    # One bit per code (no per-row lists or strings: this stays fast on a million rows). Rows with
    # invalid syntax have no mailbox: only the codes that do not need one apply to them.
    bits = pl.sum_horizontal(
        pl.when(
            reason.condition(policy).fill_null(False)
            & (pl.col("syntax_valid") if reason.needs_mailbox else True)
        )
        .then(pl.lit(_BIT[reason.code], pl.UInt16))
        .otherwise(pl.lit(0, pl.UInt16))
        for reason in REASONS
    )
    kept = (pl.col(_BITS) & sum(_BIT[code] for code in pruning_reasons(policy))) == 0
    flagged = flagged.with_columns(**{_BITS: bits}).with_columns(
        outcome=pl.when(kept).then(pl.lit("keep")).otherwise(pl.lit("prune")),
        # The merge-field audit is about what gets mailed: it is not worth a word on pruned rows.
        **{_BITS: pl.when(kept).then(_BITS).otherwise(pl.col(_BITS) & _UNLESS_PLACEHOLDER)},
    )
    # A list holds a few dozen combinations of codes: each is spelt once.
    combinations = flagged.get_column(_BITS).unique().sort()
    spelt = [";".join(code for code in REASON_CODES if bits & _BIT[code]) for bits in combinations]
    return flagged.with_columns(
        reasons=pl.col(_BITS).replace_strict(combinations, spelt, return_dtype=pl.String),
        evidence=_evidence(flagged),
    ).drop(_BITS, *LIST_STATUS.values())


#: The bit of each code in the column :func:`flag` works on (``REASONS`` has fewer than 16 codes).
_BIT = {reason.code: 1 << number for number, reason in enumerate(REASONS)}
_UNLESS_PLACEHOLDER = sum(_BIT.values()) - _BIT["placeholder_name"]
_BITS = "_listkit_reason_bits"


def _list_status(status: pl.Series) -> list[pl.Series]:
    """The :data:`LIST_STATUS` columns of the rows themselves (true where their status means the cause).

    A list holds a handful of distinct statuses: each is read once.
    """
    distinct = status.unique()
    cause = pl.select(status_cause(pl.lit(distinct))).to_series()
    causes = sorted(LIST_STATUS)
    numbered = cause.replace_strict(causes, range(1, len(causes) + 1), default=0, return_dtype=pl.UInt8)
    of_rows = status.replace_strict(distinct, numbered, default=0, return_dtype=pl.UInt8)
    return [(of_rows == number).alias(LIST_STATUS[name]) for number, name in enumerate(causes, 1)]


def _by_mailbox(rows: pl.DataFrame) -> pl.DataFrame:
    """Add ``duplicate_of`` and spread the :data:`LIST_STATUS` columns over each mailbox.

    A mailbox is suppressed when any of its rows says so; rows without a mailbox (invalid addresses)
    only speak for themselves. Only mailboxes with more than one row have anything to share or a
    duplicate, so only their rows are grouped (a few percent of a list; grouping all of them took
    seconds on a million rows).
    """
    groups = (
        rows.filter(in_shared_mailbox(rows.get_column("mailbox_key")))
        .group_by("mailbox_key")
        .agg(*(pl.col(name).any().alias(f"{name}_any") for name in LIST_STATUS.values()), _best=_best_row())
    )
    best = pl.col("_best")
    return (
        rows.join(groups, on="mailbox_key", how="left", maintain_order="left")
        .with_columns(
            *(pl.coalesce(f"{name}_any", name).alias(name) for name in LIST_STATUS.values()),
            duplicate_of=pl.when(best != pl.col("source_row")).then(best),
        )
        .drop("_best", *(f"{name}_any" for name in LIST_STATUS.values()))
    )


def _best_row() -> pl.Expr:
    """The ``source_row`` of the row of a mailbox that is kept; the others are its duplicates.

    The best row is the spelling with the most recent human engagement
    (``address_last_engagement_at``), then the most complete record (merge fields and sign-up date
    present), then the first seen.
    """
    completeness = pl.sum_horizontal(
        pl.col(name).is_not_null().cast(pl.Int8)
        for name in ("first_name", "last_name", "signup_at", "source")
    )
    return (
        pl.col("source_row")
        .sort_by(
            pl.col("address_last_engagement_at").fill_null(EPOCH),
            completeness,
            pl.col("source_row"),
            descending=[True, True, False],
        )
        .first()
    )


def _evidence(flagged: pl.DataFrame) -> pl.Series:
    """One readable clause per code of each row (``""`` without a code).

    Written for the rows with a code only, a combination of codes at a time (each clause only where it
    applies), from the columns the clauses read: building every clause for every row cost more than
    the rest of :func:`flag`.
    """
    clauses = {r.code: pl.concat_str(pl.lit(f"{r.code}: "), r.evidence) for r in REASONS}
    read = {name for clause in clauses.values() for name in clause.meta.root_names()} | {_BITS}
    with_codes = (
        flagged.select(name for name in flagged.columns if name in read)
        .with_row_index("_listkit_row")
        .filter(pl.col(_BITS) != 0)
    )
    evidence = pl.repeat("", flagged.height, dtype=pl.String, eager=True).alias("evidence")
    for (bits,), rows in with_codes.partition_by(_BITS, as_dict=True).items():
        applying = [clause for code, clause in clauses.items() if bits & _BIT[code]]
        written = rows.select(pl.concat_str(applying, separator="; ", ignore_nulls=True)).to_series()
        evidence.scatter(rows.get_column("_listkit_row"), written)
    return evidence
