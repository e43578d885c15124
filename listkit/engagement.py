"""Events and engagement: per-mailbox features, bounce classes and the 0-100 engagement score.

Everything here is one lazy polars query over the event log, grouped by the mailbox key, so it
runs on tens of millions of events without per-row Python.

Machine opens (Apple Mail Privacy Protection and similar proxies) are never engagement. An open is a
machine open when the ESP's ``machine_open`` column says so (true or false, the ESP knows best);
where the ESP says nothing, when

- its user agent is a bare ``Mozilla/5.0`` (Apple's proxy fetches images with exactly that string,
  while mail clients used by people announce themselves in full) or names a known security scanner
  or prefetching proxy (:data:`MACHINE_AGENT_PATTERN`); or
- it has no user agent and was fetched within ``machine_open_seconds`` (10) of the delivery of the
  same campaign to the same mailbox: no person opens mail that fast, a prefetching proxy does.

A mailbox whose only opens are machine opens has an unknown engagement (warning
``engagement_unknown``): it is neither engaged nor proven silent by its opens.

Deliveries are ``delivered`` events; a log that has none at all (some ESP exports list only sends)
counts ``send`` events as deliveries instead, so inactivity can still be judged.

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

#: User agents of machines, not readers: Apple MPP's bare agent, link scanners and prefetchers.
MACHINE_AGENT_PATTERN = (
    r"(?i)^\s*Mozilla/5\.0\s*$|barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro"
    r"|forcepoint|cisco.?ironport|urldefense|safelinks|bitdefender|sophos|fortinet|zscaler|bot\b|crawler|spider"
)

#: Windows (days before ``as_of``) with their own delivery and engagement counts.
WINDOWS_DAYS = (30, 90, 180, 365)

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
    *(f"deliveries_{days}d" for days in WINDOWS_DAYS),
    *(f"engagements_{days}d" for days in WINDOWS_DAYS),
    "deliveries_since_engagement",
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


def is_machine_open(*, fast_fetch: pl.Expr | None = None) -> pl.Expr:
    """True for machine opens: the ESP's flag, else a machine user agent, else ``fast_fetch``.

    ``fast_fetch`` (optional) is true for agent-less opens fetched right after their delivery.
    """
    machine_agent = pl.col("user_agent").str.contains(MACHINE_AGENT_PATTERN)
    fallback = fast_fetch if fast_fetch is not None else pl.lit(False)
    return (pl.col("event") == "open") & pl.coalesce(
        pl.col("machine_open"), machine_agent, fallback, pl.lit(False)
    )


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
    timed = _timed_events(events, mailbox_keys, as_of=as_of, policy=policy)
    delivered = pl.col("delivery")
    human = pl.col("human")

    def within(days: int) -> pl.Expr:
        return pl.col("age_us") < days * _MICROSECONDS_PER_DAY

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
        first_engagement_at=pl.col("timestamp").filter(human).min(),
        last_engagement_at=pl.col("timestamp").filter(human).max(),
        last_delivery_at=pl.col("timestamp").filter(delivered).max(),
        deliveries_in_window=(delivered & within(policy.sunset_days)).sum(),
        engagements_in_window=(human & within(policy.sunset_days)).sum(),
        **{f"deliveries_{days}d": (delivered & within(days)).sum() for days in WINDOWS_DAYS},
        **{f"engagements_{days}d": (human & within(days)).sum() for days in WINDOWS_DAYS},
        deliveries_since_engagement=(
            delivered & (pl.col("timestamp") > pl.col("timestamp").filter(human).max().fill_null(_EPOCH))
        ).sum(),
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


def last_engagement_by_address(
    events: pl.DataFrame | pl.LazyFrame,
    mailbox_keys: pl.DataFrame,
    *,
    as_of: datetime,
    policy: Policy,
) -> pl.DataFrame:
    """Latest human open or click per normalised address (``email_normalized`` in ``mailbox_keys``).

    Used to choose which spelling of a duplicated mailbox to keep: the one the reader answers.
    Pass only the addresses of duplicate groups; the rest of the log is not touched.
    """
    timed = _timed_events(events, mailbox_keys, as_of=as_of, policy=policy)
    return (
        timed.filter(pl.col("human"))
        .group_by("email_normalized")
        .agg(address_last_engagement_at=pl.col("timestamp").max())
        .collect()
    )


def _timed_events(
    events: pl.DataFrame | pl.LazyFrame, mailbox_keys: pl.DataFrame, *, as_of: datetime, policy: Policy
) -> pl.LazyFrame:
    """The events up to ``as_of`` of the addresses in ``mailbox_keys``, with their classes and decay."""
    as_of_us = int(as_of.timestamp() * 1_000_000)
    keyed = (
        events.lazy()
        .join(mailbox_keys.lazy(), on="email", how="inner")
        .filter(pl.col("timestamp") <= as_of)
        .with_columns(delivery=_delivery_event(events))
    )
    return (
        _with_fast_fetch(keyed, seconds=policy.machine_open_seconds)
        .with_columns(
            machine=is_machine_open(fast_fetch=pl.col("fast_fetch")),
            bounce_class=bounce_class(),
            age_us=as_of_us - pl.col("timestamp").dt.epoch("us"),
        )
        .with_columns(
            human=((pl.col("event") == "open") & ~pl.col("machine")) | (pl.col("event") == "click"),
            decay=(
                0.5 ** (pl.col("age_us") / _MICROSECONDS_PER_DAY / policy.score_half_life_days) * _DECAY_UNITS
            )
            .round()
            .cast(pl.Int64),
        )
    )


def _delivery_event(events: pl.DataFrame | pl.LazyFrame) -> pl.Expr:
    """``delivered`` events, or ``send`` events for logs that record no deliveries at all."""
    has_deliveries = events.lazy().select((pl.col("event") == "delivered").any()).collect().item()
    return pl.col("event") == ("delivered" if has_deliveries else "send")


def _with_fast_fetch(keyed: pl.LazyFrame, *, seconds: int) -> pl.LazyFrame:
    """Add ``fast_fetch``: an open without label or user agent, fetched within ``seconds`` of its delivery.

    Only such opens (rare: most ESPs give a user agent) are joined to their campaign's delivery time,
    so the whole log is not joined to itself.
    """
    candidate = (
        (pl.col("event") == "open")
        & pl.col("machine_open").is_null()
        & pl.col("user_agent").is_null()
        & pl.col("campaign").is_not_null()
    )
    delivered_at = (
        keyed.filter(pl.col("delivery") & pl.col("campaign").is_not_null())
        .group_by("mailbox_key", "campaign")
        .agg(delivered_at=pl.col("timestamp").min())
    )
    candidates = (
        keyed.filter(candidate)
        .join(delivered_at, on=["mailbox_key", "campaign"], how="left")
        .with_columns(
            fast_fetch=(pl.col("timestamp") - pl.col("delivered_at"))
            .dt.total_seconds()
            .is_between(0, seconds)
        )
        .drop("delivered_at")
    )
    others = keyed.filter(~candidate).with_columns(fast_fetch=pl.lit(False))
    return pl.concat([others, candidates])


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
