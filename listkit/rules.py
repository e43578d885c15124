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
from listkit.schema import EPOCH

#: Every reason code, in the order they are listed in ``reasons``. The first block prunes (some only
#: as the policy says); the rest are warnings on kept rows.
REASON_CODES = (
    "invalid_syntax",
    "no_mx",
    "disposable",
    "role_account",
    "typo_domain",
    "duplicate",
    "unsubscribed",
    "complaint",
    "hard_bounce",
    "soft_bounce_repeated",
    "inactive",
    "engagement_unknown",
    "dns_unknown",
    "placeholder_name",
)

#: Reasons that put an address on the suppression list: it must never be mailed again.
SUPPRESSING_REASONS = ("invalid_syntax", "unsubscribed", "complaint", "hard_bounce")

_WARNINGS_ALWAYS = ("engagement_unknown", "dns_unknown", "placeholder_name")


def pruning_reasons(policy: Policy) -> tuple[str, ...]:
    """The reason codes that prune a row under ``policy`` (the others only warn)."""
    switched_off = {
        "role_account": not policy.prune_role_accounts,
        "typo_domain": not policy.prune_typo_domains,
        "disposable": not policy.prune_disposable,
    }
    return tuple(
        code for code in REASON_CODES if code not in _WARNINGS_ALWAYS and not switched_off.get(code, False)
    )


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
           if name.endswith("_status") else pl.UInt32 for name in FEATURE_COLUMNS},
        "score": pl.Float64,
    }  # fmt: skip
    rows = rows.with_columns(
        pl.lit(None, dtype=dtype).alias(name) for name, dtype in optional.items() if name not in rows.columns
    )
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    mailbox = pl.col("mailbox_key")
    flagged = rows.with_columns(
        _status_unsubscribed=status == "unsubscribed",
        _status_complaint=status == "complained",
        _status_hard_bounce=status.is_in(["cleaned", "bounced"]),
        duplicate_of=_duplicate_of(),
    ).with_columns(
        # A mailbox is suppressed when any of its rows says so; rows without a mailbox (invalid
        # addresses) only speak for themselves.
        **{
            f"_mailbox_{cause}": pl.when(mailbox.is_not_null())
            .then(pl.col(f"_status_{cause}").any().over(mailbox))
            .otherwise(pl.col(f"_status_{cause}"))
            for cause in ("unsubscribed", "complaint", "hard_bounce")
        }
    )
    present = {
        "invalid_syntax": ~pl.col("syntax_valid"),
        "no_mx": pl.col("dns_status") == "no_mx",
        "disposable": pl.col("is_disposable"),
        "role_account": pl.col("is_role"),
        "typo_domain": pl.col("suggestion").is_not_null(),
        "duplicate": pl.col("duplicate_of").is_not_null(),
        "unsubscribed": pl.col("_mailbox_unsubscribed") | (pl.col("unsubscribes") > 0),
        "complaint": pl.col("_mailbox_complaint") | (pl.col("complaints") > 0),
        "hard_bounce": pl.col("_mailbox_hard_bounce") | (pl.col("hard_bounces") > 0),
        "soft_bounce_repeated": pl.col("soft_bounce_streak") >= policy.soft_bounce_limit,
        "inactive": (pl.col("deliveries_in_window") >= policy.sunset_min_deliveries)
        & (pl.col("engagements_in_window") == 0),
        "engagement_unknown": (pl.col("machine_opens") > 0) & (pl.col("human_opens") + pl.col("clicks") == 0),
        "dns_unknown": pl.col("dns_status") == "unknown",
        "placeholder_name": pl.col("placeholder_name"),
    }
    # Rows with invalid syntax have no mailbox, so only the syntax reason and their status apply.
    valid_only = set(REASON_CODES) - {"invalid_syntax", "unsubscribed", "complaint", "hard_bounce"}
    # One boolean column per code (no per-row lists: this stays fast on a million rows).
    flagged = flagged.with_columns(
        (condition.fill_null(False) & (pl.col("syntax_valid") if code in valid_only else True)).alias(
            f"_is_{code}"
        )
        for code, condition in present.items()
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
            evidence=_evidence(),
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


def _evidence() -> pl.Expr:
    """One readable sentence per cause, so an analyst can say why a row was dropped or warned."""

    def day(column: str) -> pl.Expr:
        return pl.col(column).dt.strftime("%Y-%m-%d")

    def part(code: str, *pieces: pl.Expr | str) -> pl.Expr:
        text = pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in pieces], ignore_nulls=True)
        return pl.when(pl.col(f"_is_{code}")).then(pl.concat_str(pl.lit(f"{code}: "), text))

    status = pl.col("status").fill_null("")
    parts = [
        part("invalid_syntax", pl.col("syntax_error").fill_null("not a valid address")),
        part("no_mx", pl.col("domain"), ": ", pl.col("dns_detail").fill_null("accepts no mail")),
        part("disposable", "throw-away domain ", pl.col("domain")),
        part("role_account", "role address ", pl.col("email_normalized")),
        part("typo_domain", "probably meant ", pl.col("suggestion")),
        part("duplicate", "same mailbox as row ", pl.col("duplicate_of").cast(pl.String)),
        part(
            "unsubscribed",
            pl.when(pl.col("unsubscribed_at").is_not_null())
            .then(pl.concat_str(pl.lit("unsubscribe event on "), day("unsubscribed_at")))
            .otherwise(pl.concat_str(pl.lit("status "), status, pl.lit(" on the list"))),
        ),
        part(
            "complaint",
            pl.when(pl.col("complaint_at").is_not_null())
            .then(pl.concat_str(pl.lit("spam complaint on "), day("complaint_at")))
            .otherwise(pl.concat_str(pl.lit("status "), status, pl.lit(" on the list"))),
        ),
        part(
            "hard_bounce",
            pl.when(pl.col("hard_bounce_at").is_not_null())
            .then(
                pl.concat_str(
                    pl.lit("bounced on "),
                    day("hard_bounce_at"),
                    pl.lit(" ("),
                    pl.col("hard_bounce_status").fill_null("hard"),
                    pl.lit(")"),
                )
            )
            .otherwise(pl.concat_str(pl.lit("status "), status, pl.lit(" on the list"))),
        ),
        part(
            "soft_bounce_repeated",
            pl.col("soft_bounce_streak").cast(pl.String),
            " soft bounces in a row, the last on ",
            day("last_bounce_at"),
            " (",
            pl.col("last_bounce_status").fill_null("no status"),
            ")",
        ),
        part(
            "inactive",
            pl.col("deliveries_in_window").cast(pl.String),
            " deliveries in the window and no human open or click since ",
            pl.coalesce(day("last_engagement_at"), pl.lit("ever")),
        ),
        part(
            "engagement_unknown", pl.col("machine_opens").cast(pl.String), " machine opens only (Apple MPP)"
        ),
        part(
            "dns_unknown", pl.col("domain"), ": ", pl.col("dns_detail").fill_null("no answer"), "; not pruned"
        ),
        part(
            "placeholder_name",
            "first name looks like a placeholder: ",
            pl.col("first_name").fill_null("empty"),
        ),
    ]
    return pl.concat_str(parts, separator="; ", ignore_nulls=True)
