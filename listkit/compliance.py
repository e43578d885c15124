"""Complaint, bounce and unsubscribe rates per mailbox provider, against the bulk-sender rules.

Since February 2024 Gmail and Yahoo/AOL require bulk senders to keep the spam complaint rate below
0.3% and advise staying below 0.1%. ``provider_compliance`` measures each provider's rates over the
last 30 days and over all history, so a sender sees where they stand before a provider starts
junking or rejecting their mail.

Rates are per delivery. An event log without any ``delivered`` event (some ESP exports only list
sends) uses its ``send`` events as the denominator instead; the ``deliveries_from`` column says which
was used. The choice is made once for the whole log, so every row is measured the same way.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from listkit.activity import RAW_COUNTED, address_activity, event_context
from listkit.policy import Policy
from listkit.providers import GROUPS, group_of

#: Providers in report order (the compliance groups of :mod:`listkit.providers`).
PROVIDER_ORDER = GROUPS
PERIODS = ("last 30 days", "all history")
#: Complaint rate at or above which Gmail and Yahoo start rejecting or junking bulk mail.
COMPLAINT_LIMIT = 0.003
#: Complaint rate the providers advise staying below.
COMPLAINT_TARGET = 0.001
#: Reputation or policy blocks in the recent period worth a warning: at least this share of a
#: provider's deliveries, and at least ``BLOCK_ALERT_MIN`` of them (fewer say little).
BLOCK_ALERT_RATE = 0.01
BLOCK_ALERT_MIN = 5


def domain_of(email: pl.Expr) -> pl.Expr:
    """The lower-cased, trimmed part after the last ``@`` (null without one)."""
    return email.str.to_lowercase().str.extract(r"@([^@]*)$", 1).str.strip_chars()


def complaint_status(complaint_rate: pl.Expr, deliveries: pl.Expr) -> pl.Expr:
    """The verdict text for a complaint rate: limit, target, ok, or no deliveries."""
    return (
        pl.when(deliveries == 0)
        .then(pl.lit("no deliveries"))
        .when(complaint_rate >= COMPLAINT_LIMIT)
        .then(pl.lit("over 0.3% limit"))
        .when(complaint_rate >= COMPLAINT_TARGET)
        .then(pl.lit("above 0.1% target"))
        .otherwise(pl.lit("ok"))
    )


def provider_compliance(events: pl.DataFrame | pl.LazyFrame, *, as_of: datetime) -> pl.DataFrame:
    """Per provider and period: deliveries, complaints, bounces, unsubscribes, their rates and a verdict.

    ``events`` is a canonical event frame (:data:`listkit.schema.EVENT_COLUMNS`); events after
    ``as_of`` (UTC when naive) are ignored. See :func:`compliance_table` for the result.
    """
    return compliance_table(address_activity(events, event_context(events, as_of=as_of, policy=Policy())))


def compliance_table(activity: pl.DataFrame) -> pl.DataFrame:
    """The compliance table from per-address counts (:func:`listkit.activity.address_activity`).

    Returns 12 rows, providers in :data:`PROVIDER_ORDER` then ``all``, each with the periods of
    :data:`PERIODS`; rates are floats, null without deliveries. Bounces are all bounce events (hard,
    soft and policy); ``blocks`` are those a receiving server gave for the sender's reputation or
    policy (blocklisted IP, authentication, content), which say nothing about the address and
    never prune it, but are what a provider's filtering looks like from the sender's side.
    """
    # Counted per domain first, then per provider: the provider is found once per distinct domain, not
    # once per address (or per event).
    sums = [f"{prefix}_{name}" for prefix in ("raw", "recent") for name in RAW_COUNTED]
    counts = (
        activity.lazy()
        .group_by(domain=domain_of(pl.col("email")))
        .agg(pl.col(sums).sum())
        .group_by(provider=group_of(pl.col("domain")))
        .agg(
            *(pl.col(f"raw_{name}").sum().alias(f"{PERIODS[1]}|{name}") for name in RAW_COUNTED),
            *(pl.col(f"recent_{name}").sum().alias(f"{PERIODS[0]}|{name}") for name in RAW_COUNTED),
        )
        .collect()
    )
    # Everything below works on at most 5 x 2 rows.
    long = pl.concat(
        [
            counts.select(
                "provider",
                period=pl.lit(period),
                **{name: pl.col(f"{period}|{name}").cast(pl.Int64) for name in RAW_COUNTED},
            )
            for period in PERIODS
        ]
    )
    denominator = "delivered" if long["delivered"].sum() > 0 else "send"
    everyone = long.group_by("period").agg(pl.col(RAW_COUNTED).sum()).with_columns(provider=pl.lit("all"))
    long = pl.concat([long, everyone], how="diagonal")
    grid = pl.DataFrame(
        [(provider, period) for provider in (*PROVIDER_ORDER, "all") for period in PERIODS],
        schema={"provider": pl.String, "period": pl.String},
        orient="row",
    ).with_row_index("order")
    return (
        grid.join(long, on=["provider", "period"], how="left")
        .sort("order")
        .with_columns(pl.col(RAW_COUNTED).fill_null(0))
        .with_columns(deliveries=pl.col(denominator))
        .with_columns(
            complaint_rate=_rate("complaint"),
            bounce_rate=_rate("bounce"),
            block_rate=_rate("block"),
            unsubscribe_rate=_rate("unsubscribe"),
        )
        .select(
            "provider",
            "period",
            "deliveries",
            pl.col("complaint").alias("complaints"),
            "complaint_rate",
            pl.col("bounce").alias("bounces"),
            "bounce_rate",
            pl.col("block").alias("blocks"),
            "block_rate",
            pl.col("unsubscribe").alias("unsubscribes"),
            "unsubscribe_rate",
            complaint_status(pl.col("complaint_rate"), pl.col("deliveries")).alias("complaint_status"),
            pl.lit(denominator).alias("deliveries_from"),
        )
    )


def _rate(column: str) -> pl.Expr:
    """``column`` per delivery; null when there were none."""
    return pl.when(pl.col("deliveries") > 0).then(pl.col(column) / pl.col("deliveries"))
