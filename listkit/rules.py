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
    cause = status_cause(pl.col("status"))  # any ESP's spelling of a status that forbids mailing
    mailbox = pl.col("mailbox_key")
    flagged = rows.with_columns(
        **{column: cause == name for name, column in LIST_STATUS.items()},
        duplicate_of=_duplicate_of(),
    ).with_columns(
        # A mailbox is suppressed when any of its rows says so; rows without a mailbox (invalid
        # addresses) only speak for themselves.
        pl.when(mailbox.is_not_null())
        .then(pl.col(name).any().over(mailbox))
        .otherwise(pl.col(name))
        .alias(name)
        for name in LIST_STATUS.values()
    )
    # One boolean column per code (no per-row lists: this stays fast on a million rows). Rows with
    # invalid syntax have no mailbox: only the codes that do not need one apply to them.
    flagged = flagged.with_columns(
        (
            reason.condition(policy).fill_null(False)
            & (pl.col("syntax_valid") if reason.needs_mailbox else True)
        ).alias(f"_is_{reason.code}")
        for reason in REASONS
    )
    prunes = pl.any_horizontal(pl.col(f"_is_{code}") for code in pruning_reasons(policy))
    flagged = (
        flagged.with_columns(outcome=pl.when(prunes).then(pl.lit("prune")).otherwise(pl.lit("keep")))
        # The merge-field audit is about what gets mailed: it is not worth a word on pruned rows.
        .with_columns(_is_placeholder_name=pl.col("_is_placeholder_name") & (pl.col("outcome") == "keep"))
        .with_columns(
            reasons=pl.concat_str(
                [pl.when(pl.col(f"_is_{code}")).then(pl.lit(code)) for code in REASON_CODES],
                separator=";",
                ignore_nulls=True,
            ),
            evidence=pl.concat_str(
                [
                    pl.when(pl.col(f"_is_{r.code}")).then(pl.concat_str(pl.lit(f"{r.code}: "), r.evidence))
                    for r in REASONS
                ],
                separator="; ",
                ignore_nulls=True,
            ),
        )
    )
    return flagged.drop(pl.selectors.starts_with("_"))


def _duplicate_of() -> pl.Expr:
    """For all but the best row of each mailbox: the ``source_row`` of the row that is kept.

    The best row is the spelling with the most recent human engagement
    (``address_last_engagement_at``), then the most complete record (merge fields and sign-up date
    present), then the first seen.
    """
    completeness = pl.sum_horizontal(
        pl.col(name).is_not_null().cast(pl.Int8)
        for name in ("first_name", "last_name", "signup_at", "source")
    )
    best = (
        pl.col("source_row")
        .sort_by(
            pl.col("address_last_engagement_at").fill_null(EPOCH),
            completeness,
            pl.col("source_row"),
            descending=[True, True, False],
        )
        .first()
        .over("mailbox_key")
    )
    return pl.when(pl.col("mailbox_key").is_not_null() & (best != pl.col("source_row"))).then(best)
