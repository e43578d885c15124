"""Events and engagement: per-mailbox features, bounce classes and the 0-100 engagement score.

Everything here is vectorised polars over the event log, grouped by the mailbox key (a slim,
classified copy of the log is made once, then aggregated), so it runs on tens of millions of events
without per-row Python.

Machine opens (Apple Mail Privacy Protection and similar proxies) are never engagement. An open is a
machine open when the ESP's ``machine_open`` column says so (true or false, the ESP knows best);
where the ESP says nothing, when

- its user agent is a bare ``Mozilla/5.0`` (Apple's proxy fetches images with exactly that string,
  while mail clients used by people announce themselves in full) or names a known security scanner
  or prefetching proxy (:data:`MACHINE_AGENT_PATTERN`); or
- it has no user agent and was fetched within ``machine_open_seconds`` (10) of the delivery of the
  same campaign to the same mailbox: no person opens mail that fast, a prefetching proxy does.

A click whose user agent is a link scanner's is a machine click, never engagement either.

A mailbox whose only opens are machine opens has an unknown engagement (warning
``engagement_unknown``): its opens say nothing. Machine opens are not engagement, so with enough
deliveries in the sunset window it is still pruned as ``inactive``, as the contract says.

Deliveries are ``delivered`` events; a log that has none up to ``as_of`` (some ESP exports list only
sends) counts ``send`` events as deliveries instead, except sends whose campaign bounced for that
mailbox, so inactivity and soft-bounce streaks can still be judged.

Score (0-100): every human open counts 1 and every click ``click_weight`` (3), each decayed by
``0.5 ** (age_days / score_half_life_days)``; deliveries are decayed the same way. With
``rate = engagement / (deliveries + 1)`` the score is ``100 * rate / (rate + 0.5)``, so one more
click never lowers a score, the same engagement longer ago never scores higher, and a reader who
opens every mail scores about 67 while one who also clicks half of them scores about 83.
Mailboxes that never had a delivery have no score.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from listkit.policy import Policy
from listkit.schema import EPOCH

#: Decayed sums are accumulated as integers in these units, so the result does not depend on the
#: order in which a parallel group-by adds the events (reruns stay byte-identical).
_DECAY_UNITS = 1_000_000
_MICROSECONDS_PER_DAY = 86_400 * 1_000_000

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
    "machine_clicks",
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


def machine_agents(events: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The distinct user agents of the log that are machines' (checked once per distinct value)."""
    agents = events.lazy().select(pl.col("user_agent").drop_nulls().unique()).collect().to_series()
    return agents.filter(agents.str.contains(MACHINE_AGENT_PATTERN)).sort().to_list()


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
    # Group by a dense integer id rather than the key string: several times faster on large logs.
    ids = mailbox_keys.select("email", "mailbox_key").with_columns(key_id=pl.col("mailbox_key").rank("dense"))
    timed = _timed_events(events, ids, key="key_id", as_of=as_of, policy=policy)
    kind, delivered, human = pl.col("event"), pl.col("delivery"), pl.col("human")
    soft, hard = pl.col("bounce_class") == "soft", pl.col("bounce_class") == "hard"
    human_open = (kind == "open") & ~pl.col("machine")

    def within(days: int) -> pl.Expr:
        return pl.col("age_us") < days * _MICROSECONDS_PER_DAY

    counted = {
        "events": pl.lit(True),
        "sends": kind == "send",
        "deliveries": delivered,
        "human_opens": human_open,
        "clicks": (kind == "click") & ~pl.col("machine"),
        "machine_opens": (kind == "open") & pl.col("machine"),
        "machine_clicks": (kind == "click") & pl.col("machine"),
        "hard_bounces": hard,
        "soft_bounces": soft,
        "policy_bounces": pl.col("bounce_class") == "policy",
        "complaints": kind == "complaint",
        "unsubscribes": kind == "unsubscribe",
        "deliveries_in_window": delivered & within(policy.sunset_days),
        "engagements_in_window": human & within(policy.sunset_days),
        **{f"deliveries_{days}d": delivered & within(days) for days in WINDOWS_DAYS},
        **{f"engagements_{days}d": human & within(days) for days in WINDOWS_DAYS},
    }
    latest = {
        "last_engagement_at": human,
        "last_delivery_at": delivered,
        "last_bounce_at": hard | soft,
        "hard_bounce_at": hard,
        "complaint_at": kind == "complaint",
        "unsubscribed_at": kind == "unsubscribe",
    }
    earliest = {"first_event_at": pl.lit(True), "first_engagement_at": human}
    click_units = (pl.col("decay") * policy.click_weight).round().cast(pl.Int64)
    # The slim classified log is materialised once (it feeds three queries); per-event indicators
    # and times are then computed vectorised inside the streaming group-by, which only has plain sums,
    # minima and maxima (much faster than filtered aggregations, and never all in memory at once).
    slim = timed.select(
        "key_id",
        "timestamp",
        "event",
        "smtp_status",
        "bounce_class",
        "delivery",
        "human",
        "machine",
        "age_us",
        "decay",
    ).collect()
    prepared = slim.lazy().select(
        "key_id",
        *(condition.cast(pl.UInt32).alias(name) for name, condition in counted.items()),
        *(pl.when(condition).then(pl.col("timestamp")).alias(name) for name, condition in latest.items()),
        *(pl.when(condition).then(pl.col("timestamp")).alias(name) for name, condition in earliest.items()),
        engagement_units=pl.when(human_open)
        .then(pl.col("decay"))
        .when((kind == "click") & ~pl.col("machine"))
        .then(click_units)
        .otherwise(0),
        delivery_units=pl.when(delivered).then(pl.col("decay")).otherwise(0),
    )
    features = (
        prepared.group_by("key_id")
        .agg(
            pl.col(*counted, "engagement_units", "delivery_units").sum(),
            pl.col(*latest).max(),
            pl.col(*earliest).min(),
        )
        .collect()
    )
    features = _add_sequence_features(features, slim)
    keys = ids.select("key_id", "mailbox_key").unique("key_id")
    return (
        features.join(keys, on="key_id").with_columns(score=_score()).select("mailbox_key", *FEATURE_COLUMNS)
    )


def _add_sequence_features(features: pl.DataFrame, slim: pl.DataFrame) -> pl.DataFrame:
    """Features that depend on the order of events, from the few rows that matter for each.

    ``soft_bounce_streak``: soft bounces after the last delivery (a delivery ends the streak);
    ``deliveries_since_engagement``; the SMTP status of the latest bounce and hard bounce.
    """
    ends = features.select("key_id", "last_delivery_at", "last_engagement_at")
    bounces = (
        slim.filter(pl.col("bounce_class").is_in(["hard", "soft"]))
        .select("key_id", "timestamp", "smtp_status", "bounce_class")
        .join(ends, on="key_id")
    )
    after_last_delivery = pl.col("timestamp") > pl.col("last_delivery_at").fill_null(EPOCH)
    by_bounces = bounces.group_by("key_id").agg(
        soft_bounce_streak=((pl.col("bounce_class") == "soft") & after_last_delivery).sum(),
        last_bounce_status=_latest_status(pl.lit(True)),
        hard_bounce_status=_latest_status(pl.col("bounce_class") == "hard"),
    )
    since_engagement = (
        slim.lazy()
        .filter(pl.col("delivery"))
        .select("key_id", "timestamp")
        .join(ends.lazy(), on="key_id")
        .filter(pl.col("timestamp") > pl.col("last_engagement_at").fill_null(EPOCH))
        .group_by("key_id")
        .agg(deliveries_since_engagement=pl.len())
        .collect()
    )
    return (
        features.join(by_bounces, on="key_id", how="left")
        .join(since_engagement, on="key_id", how="left")
        .with_columns(
            pl.col("soft_bounce_streak", "deliveries_since_engagement").fill_null(0).cast(pl.UInt32),
        )
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
    Pass only the addresses of duplicate groups: only their events are aggregated.
    """
    timed = _timed_events(events, mailbox_keys, key="mailbox_key", as_of=as_of, policy=policy)
    return (
        timed.filter(pl.col("human"))
        .group_by("email_normalized")
        .agg(address_last_engagement_at=pl.col("timestamp").max())
        .collect()
    )


def _timed_events(
    events: pl.DataFrame | pl.LazyFrame,
    mailbox_keys: pl.DataFrame,
    *,
    key: str,
    as_of: datetime,
    policy: Policy,
) -> pl.LazyFrame:
    """The events up to ``as_of`` of the addresses in ``mailbox_keys``, with their classes and decay.

    Classes are computed before the join to ``mailbox_keys``, so that only a few slim columns are
    joined, and the join is on a 64-bit hash of ``email`` (several times faster than on the text; two
    addresses sharing a hash, about one chance in 10^8 for a million addresses, would both get the
    events of each, never lose any). ``key`` names the mailbox column of ``mailbox_keys``.
    """
    as_of_us = int(as_of.timestamp() * 1_000_000)
    log = events.lazy().filter(pl.col("timestamp") <= as_of)
    fast_fetch_possible, sends_only = (
        log.select(
            fast=_fast_fetch_candidate().any(),
            sends_only=~(pl.col("event") == "delivered").any(),
        )
        .collect()
        .row(0)
    )
    slim = (
        log.select(
            "event",
            "timestamp",
            "machine_open",
            *(["campaign"] if fast_fetch_possible or sends_only else []),
            email_hash=pl.col("email").hash(),
            candidate=_fast_fetch_candidate(),
            machine_agent=pl.col("user_agent").is_in(machine_agents(log)),
            bounce_class=bounce_class(),
            smtp_status=pl.when(pl.col("event") == "bounce").then(pl.col("smtp_status")),
            delivery=pl.col("event") == ("send" if sends_only else "delivered"),
        )
        .join(
            mailbox_keys.lazy().with_columns(email_hash=pl.col("email").hash()).drop("email"),
            on="email_hash",
            how="inner",
        )
        .drop("email_hash")
    )
    if sends_only:
        slim = _without_bounced_sends(slim, key=key)
    if fast_fetch_possible:
        slim = _with_fast_fetch(slim, key=key, seconds=policy.machine_open_seconds)
    else:
        slim = slim.with_columns(fast_fetch=pl.lit(False))
    # A click by a link scanner's user agent is a machine's too (no ESP flag exists for clicks).
    machine = (
        (pl.col("event") == "open")
        & pl.coalesce(pl.col("machine_open"), pl.col("machine_agent"), pl.col("fast_fetch"), pl.lit(False))
    ) | ((pl.col("event") == "click") & pl.col("machine_agent").fill_null(False))
    return (
        slim.with_columns(machine=machine, age_us=as_of_us - pl.col("timestamp").dt.epoch("us"))
        .with_columns(
            human=pl.col("event").is_in(["open", "click"]) & ~pl.col("machine"),
            decay=(
                0.5 ** (pl.col("age_us") / _MICROSECONDS_PER_DAY / policy.score_half_life_days) * _DECAY_UNITS
            )
            .round()
            .cast(pl.Int64),
        )
        .drop(
            "machine_open", "machine_agent", "fast_fetch", "candidate", "campaign", "user_agent", strict=False
        )
    )


def _fast_fetch_candidate() -> pl.Expr:
    """Opens the ESP did not label and that carry no user agent, but name their campaign."""
    return (
        (pl.col("event") == "open")
        & pl.col("machine_open").is_null()
        & pl.col("user_agent").is_null()
        & pl.col("campaign").is_not_null()
    )


def _without_bounced_sends(slim: pl.LazyFrame, *, key: str) -> pl.LazyFrame:
    """In a log of sends only, a send whose campaign bounced for that mailbox was not delivered.

    Sends and bounces without a campaign cannot be paired and keep counting as deliveries.
    """
    bounced = (
        slim.filter((pl.col("event") == "bounce") & pl.col("campaign").is_not_null())
        .select(key, "campaign")
        .unique()
        .with_columns(bounced=pl.lit(True))
    )
    return (
        slim.join(bounced, on=[key, "campaign"], how="left")
        .with_columns(delivery=pl.col("delivery") & pl.col("bounced").is_null())
        .drop("bounced")
    )


def _with_fast_fetch(slim: pl.LazyFrame, *, key: str, seconds: int) -> pl.LazyFrame:
    """Add ``fast_fetch``: a ``candidate`` open fetched within ``seconds`` of its campaign's delivery.

    Only candidate opens (rare: most ESPs give a user agent) are joined to their campaign's delivery
    time, so the whole log is not joined to itself.
    """
    delivered_at = (
        slim.filter(pl.col("delivery") & pl.col("campaign").is_not_null())
        .group_by(key, "campaign")
        .agg(delivered_at=pl.col("timestamp").min())
    )
    candidates = (
        slim.filter(pl.col("candidate"))
        .join(delivered_at, on=[key, "campaign"], how="left")
        .with_columns(
            fast_fetch=(pl.col("timestamp") - pl.col("delivered_at"))
            .dt.total_seconds()
            .is_between(0, seconds)
        )
        .drop("delivered_at")
    )
    others = slim.filter(~pl.col("candidate")).with_columns(fast_fetch=pl.lit(False))
    return pl.concat([others, candidates])


def _latest_status(condition: pl.Expr) -> pl.Expr:
    """Inside a group-by: the SMTP status of the latest event meeting ``condition``.

    Sorted by time, then status, so ties give the same answer on every run.
    """
    return (
        pl.col("smtp_status")
        .filter(condition)
        .sort_by(pl.col("timestamp").filter(condition), pl.col("smtp_status").filter(condition))
        .last()
    )


def _score() -> pl.Expr:
    """The documented 0-100 score from the decayed sums (null without deliveries)."""
    rate = (pl.col("engagement_units") / _DECAY_UNITS) / (pl.col("delivery_units") / _DECAY_UNITS + 1)
    return pl.when(pl.col("deliveries") > 0).then((100 * rate / (rate + 0.5)).round(1))
