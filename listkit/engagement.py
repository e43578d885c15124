"""Events and engagement: per-mailbox features, bounce classes and the 0-100 engagement score.

Everything here is one lazy polars query over the event log, grouped by the mailbox key, so it
runs on tens of millions of events without per-row Python.

Machine opens (Apple Mail Privacy Protection and similar proxies) are never engagement. An open is a
machine open when the ESP's ``machine_open`` column says so, or (where the ESP gives nothing) when
its user agent is a bare ``Mozilla/5.0``: Apple's proxy fetches images with exactly that string,
while mail clients used by people announce themselves in full.

Score (0-100): every human open counts 1 and every click ``click_weight`` (3), each decayed by
``0.5 ** (age_days / score_half_life_days)``; deliveries are decayed the same way. With
``rate = engagement / (deliveries + 1)`` the score is ``100 * rate / (rate + 0.5)``, so one more
click never lowers a score, the same engagement longer ago never scores higher, and a reader who
opens every mail scores about 67 while one who also clicks half of them scores about 83.
Mailboxes that never had a delivery have no score.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from listkit.policy import Policy

#: Decayed sums are accumulated as integers in these units, so the result does not depend on the
#: order in which a parallel group-by adds the events (reruns stay byte-identical).
_DECAY_UNITS = 1_000_000
_MICROSECONDS_PER_DAY = 86_400 * 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: RFC 3463 enhanced status code anywhere in the status or diagnostic text.
_ENHANCED_STATUS = r"\b([245])\.(\d{1,3})\.(\d{1,3})\b"
#: Diagnostic texts of dead mailboxes when no enhanced code is given ("550 No such user").
_DEAD_MAILBOX_TEXT = (
    r"(?i)(user unknown|no such (user|mailbox|recipient)|does not exist|unknown (user|recipient)"
    r"|mailbox unavailable|invalid (mailbox|recipient))"
)

FEATURE_COLUMNS = (
    "events",
    "sends",
    "deliveries",
    "human_opens",
    "clicks",
    "machine_opens",
    "hard_bounces",
    "soft_bounces",
    "policy_bounces",
    "complaints",
    "unsubscribes",
    "first_event_at",
    "first_engagement_at",
    "last_engagement_at",
    "last_delivery_at",
    "deliveries_in_window",
    "engagements_in_window",
    "soft_bounce_streak",
    "last_bounce_at",
    "last_bounce_status",
    "hard_bounce_at",
    "hard_bounce_status",
    "complaint_at",
    "unsubscribed_at",
    "score",
)


def bounce_class() -> pl.Expr:
    """``hard``, ``soft`` or ``policy`` for bounce events (null for other events).

    The ESP's ``bounce_type`` wins. Otherwise the RFC 3463 status decides: 5.1.x (bad address) and
    5.2.1 (mailbox disabled) are hard; 5.7.x is a policy block that says nothing about the mailbox;
    any other code (4.x.x transient, 5.2.2 mailbox full, 5.4.x routing...) is soft. Without a code,
    a diagnostic text that says the user does not exist is hard, anything else soft.
    """
    code = pl.col("smtp_status").str.extract_groups(_ENHANCED_STATUS)
    status_class = code.struct.field("1")
    subject = code.struct.field("2")
    detail = code.struct.field("3")
    from_status = (
        pl.when((status_class == "5") & ((subject == "1") | ((subject == "2") & (detail == "1"))))
        .then(pl.lit("hard"))
        .when((status_class == "5") & (subject == "7"))
        .then(pl.lit("policy"))
        .when(status_class.is_not_null())
        .then(pl.lit("soft"))
        .when(pl.col("smtp_status").str.contains(_DEAD_MAILBOX_TEXT))
        .then(pl.lit("hard"))
        .otherwise(pl.lit("soft"))
    )
    return (
        pl.when(pl.col("event") != "bounce")
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.coalesce(pl.col("bounce_type"), from_status))
    )


def is_machine_open() -> pl.Expr:
    """True for opens the ESP marked as machine-generated, or whose user agent is a bare ``Mozilla/5.0``."""
    bare_agent = pl.col("user_agent").str.strip_chars() == "Mozilla/5.0"
    return (pl.col("event") == "open") & pl.coalesce(pl.col("machine_open"), bare_agent, pl.lit(False))


def latest_event_time(events: pl.DataFrame | pl.LazyFrame) -> datetime | None:
    """The latest event timestamp (the default ``as_of``), or ``None`` when there are no events."""
    return events.lazy().select(pl.col("timestamp").max()).collect().item()


def event_features(
    events: pl.DataFrame | pl.LazyFrame,
    mailbox_keys: pl.DataFrame,
    *,
    as_of: datetime,
    policy: Policy,
) -> pl.DataFrame:
    """Per-mailbox engagement features and score from the event log.

    ``mailbox_keys`` maps each raw event ``email`` to its ``mailbox_key`` (events whose address has
    no key are left out). Events after ``as_of`` are ignored. Returns one row per ``mailbox_key``
    with :data:`FEATURE_COLUMNS`; "engagement" means a human open or a click.
    """
    window_start = as_of.timestamp() * 1_000_000 - policy.sunset_days * _MICROSECONDS_PER_DAY
    timed = (
        events.lazy()
        .join(mailbox_keys.lazy(), on="email", how="inner")
        .filter(pl.col("timestamp") <= as_of)
        .with_columns(
            machine=is_machine_open(),
            bounce_class=bounce_class(),
            age_days=(pl.lit(as_of) - pl.col("timestamp")).dt.total_microseconds() / _MICROSECONDS_PER_DAY,
            in_window=pl.col("timestamp").dt.epoch("us") > window_start,
        )
        .with_columns(
            human=((pl.col("event") == "open") & ~pl.col("machine")) | (pl.col("event") == "click"),
            decay=(0.5 ** (pl.col("age_days") / policy.score_half_life_days) * _DECAY_UNITS)
            .round()
            .cast(pl.Int64),
        )
    )
    delivered = pl.col("event") == "delivered"
    soft = pl.col("bounce_class") == "soft"
    hard = pl.col("bounce_class") == "hard"
    features = timed.group_by("mailbox_key").agg(
        events=pl.len(),
        sends=(pl.col("event") == "send").sum(),
        deliveries=delivered.sum(),
        human_opens=((pl.col("event") == "open") & ~pl.col("machine")).sum(),
        clicks=(pl.col("event") == "click").sum(),
        machine_opens=pl.col("machine").sum(),
        hard_bounces=hard.sum(),
        soft_bounces=soft.sum(),
        policy_bounces=(pl.col("bounce_class") == "policy").sum(),
        complaints=(pl.col("event") == "complaint").sum(),
        unsubscribes=(pl.col("event") == "unsubscribe").sum(),
        first_event_at=pl.col("timestamp").min(),
        first_engagement_at=pl.col("timestamp").filter(pl.col("human")).min(),
        last_engagement_at=pl.col("timestamp").filter(pl.col("human")).max(),
        last_delivery_at=pl.col("timestamp").filter(delivered).max(),
        deliveries_in_window=(delivered & pl.col("in_window")).sum(),
        engagements_in_window=(pl.col("human") & pl.col("in_window")).sum(),
        # Soft bounces "in a row": those after the last delivery (a delivery ends the streak).
        soft_bounce_streak=(
            soft & (pl.col("timestamp") > pl.col("timestamp").filter(delivered).max().fill_null(_EPOCH))
        ).sum(),
        last_bounce_at=pl.col("timestamp").filter(hard | soft).max(),
        last_bounce_status=_latest_value("smtp_status", hard | soft),
        hard_bounce_at=pl.col("timestamp").filter(hard).max(),
        hard_bounce_status=_latest_value("smtp_status", hard),
        complaint_at=pl.col("timestamp").filter(pl.col("event") == "complaint").max(),
        unsubscribed_at=pl.col("timestamp").filter(pl.col("event") == "unsubscribe").max(),
        engagement_units=(
            pl.col("decay").filter(pl.col("event") == "open", ~pl.col("machine")).sum()
            + (pl.col("decay").filter(pl.col("event") == "click").sum() * policy.click_weight)
            .round()
            .cast(pl.Int64)
        ),
        delivery_units=pl.col("decay").filter(delivered).sum(),
    )
    return (
        features.with_columns(score=_score())
        .drop("engagement_units", "delivery_units")
        .select("mailbox_key", *FEATURE_COLUMNS)
        .collect()
    )


def _latest_value(column: str, condition: pl.Expr) -> pl.Expr:
    """Inside a group-by: ``column`` of the latest event meeting ``condition`` (ties broken by value)."""
    return (
        pl.col(column)
        .filter(condition)
        .sort_by(pl.col("timestamp").filter(condition), pl.col(column).filter(condition))
        .last()
    )


def _score() -> pl.Expr:
    """The documented 0-100 score from the decayed sums (null without deliveries)."""
    rate = (pl.col("engagement_units") / _DECAY_UNITS) / (pl.col("delivery_units") / _DECAY_UNITS + 1)
    return pl.when(pl.col("deliveries") > 0).then((100 * rate / (rate + 0.5)).round(1))
