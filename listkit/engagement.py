"""Events and engagement: per-mailbox features, bounce classes and the 0-100 engagement score.

The log is summed up per address in streaming passes (:mod:`listkit.activity`), whose memory
grows with the number of addresses, never with the number of events; the addresses are then
combined per mailbox key here. No per-row Python anywhere.

Machine opens (Apple Mail Privacy Protection and similar proxies) are never engagement. An open is a
machine open when the ESP's ``machine_open`` column says so (true or false, the ESP knows best);
where the ESP says nothing, when

- its user agent is a bare ``Mozilla/5.0`` (Apple's proxy fetches images with exactly that string,
  while mail clients used by people announce themselves in full) or names a known security scanner
  or prefetching proxy (:data:`listkit.activity.MACHINE_AGENT_PATTERN`); or
- it has no user agent and was fetched within ``machine_open_seconds`` (10) of the delivery of the
  same campaign to the same mailbox: no person opens mail that fast, a prefetching proxy does.

A click whose user agent is a link scanner's is a machine click, never engagement either.

A mailbox whose only opens are machine opens has an unknown engagement (warning
``engagement_unknown``): its opens say nothing. Machine opens are not engagement, so with enough
deliveries since its last human open or click it is still pruned as ``inactive``, as the contract says.

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

from listkit.activity import (
    DECAY_UNITS,
    EARLIEST_COLUMNS,
    LATEST_COLUMNS,
    WINDOWS_DAYS,
    EventContext,
    address_activity,
    event_context,
    join_key,
    sequence_counts,
)
from listkit.engines import LogEngine
from listkit.policy import Policy

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
    "last_bounce_reason",
    "hard_bounce_reason",
    "last_block_reason",
    "complaint_at",
    "unsubscribed_at",
    "score",
)

#: Features computed otherwise than as the sum of a mailbox's addresses' counts.
_NOT_SUMMED = {
    "sends",  # the raw count of send events
    *EARLIEST_COLUMNS,
    *LATEST_COLUMNS,
    "deliveries_since_engagement",
    "soft_bounce_streak",
    "last_bounce_status",
    "hard_bounce_status",
    "last_bounce_reason",
    "hard_bounce_reason",
    "last_block_reason",
    "score",
}
_SUMMED = (
    *(name for name in FEATURE_COLUMNS if name not in _NOT_SUMMED),
    "engagement_units",
    "delivery_units",
    "opt_outs_after_as_of",
)


def event_features(
    events: pl.DataFrame | pl.LazyFrame | LogEngine,
    mailbox_keys: pl.DataFrame,
    *,
    as_of: datetime,
    policy: Policy,
    context: EventContext | None = None,
    activity: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per-mailbox engagement features and score from the event log.

    ``events`` is a polars frame or a :class:`~listkit.engines.LogEngine` (the passes run there).
    ``mailbox_keys`` maps each raw event ``email`` to its ``mailbox_key`` (events whose address has
    no key are left out). Events after ``as_of`` are ignored, except that unsubscribes, complaints
    and hard bounces count whatever their date (``opt_outs_after_as_of`` counts those after it).
    Returns one row per ``mailbox_key`` with an event up to ``as_of`` or an opt-out, with
    :data:`FEATURE_COLUMNS`, sorted by key; "engagement" means a human open or a click.
    ``context`` and ``activity`` (from :mod:`listkit.activity`, for the same ``as_of`` and
    ``policy``) save passes when the caller has them.
    """
    context = context or event_context(events, as_of=as_of, policy=policy)
    if activity is None:
        activity = address_activity(events, context)
    keys = mailbox_keys.filter(pl.col("mailbox_key").is_not_null()).select("email", "mailbox_key")
    addresses = activity.join(keys, on="email")
    features = (
        addresses.group_by("mailbox_key")
        .agg(
            pl.col(_SUMMED).sum(),
            sends=pl.col("raw_send").sum(),
            **{name: pl.col(name).max() for name in LATEST_COLUMNS},
            **{name: pl.col(name).min() for name in EARLIEST_COLUMNS},
        )
        # Mailboxes whose every event came after as_of have no features, unless they opted out then.
        .filter((pl.col("events") > 0) | (pl.col("opt_outs_after_as_of") > 0))
    )
    on = join_key(activity, events)
    address_keys = addresses.select(on, "mailbox_key")
    latest_times = features.select("mailbox_key", "last_engagement_at", "last_delivery_at")
    mailbox_times = address_keys.join(latest_times, on="mailbox_key").drop("mailbox_key")
    counts, bounces = sequence_counts(events, mailbox_times, context, on=on)
    sequences = (
        counts.join(address_keys, on=on)
        .group_by("mailbox_key")
        .agg(pl.col("deliveries_since_engagement", "soft_bounce_streak").sum())
    )
    hard = pl.col("bounce_class") == "hard"
    last_bounce = pl.col("in_range") & pl.col("bounce_class").is_in(["hard", "soft"])
    statuses = (
        bounces.join(address_keys, on=on)
        .group_by("mailbox_key")
        .agg(
            last_bounce_status=_latest(last_bounce),
            hard_bounce_status=_latest(hard),
            last_bounce_reason=_latest(last_bounce, "bounce_reason"),
            hard_bounce_reason=_latest(hard, "bounce_reason"),
            last_block_reason=_latest(pl.col("bounce_class") == "policy", "bounce_reason"),
        )
    )
    return (
        features.join(sequences, on="mailbox_key", how="left")
        .join(statuses, on="mailbox_key", how="left")
        .with_columns(
            pl.col("deliveries_since_engagement", "soft_bounce_streak").fill_null(0).cast(pl.UInt32),
            score=_score(),
        )
        .select("mailbox_key", *FEATURE_COLUMNS, "opt_outs_after_as_of")
        .sort("mailbox_key")
    )


def last_engagement_by_address(activity: pl.DataFrame, mailbox_keys: pl.DataFrame) -> pl.DataFrame:
    """Latest human open or click per normalised address (``email_normalized`` in ``mailbox_keys``).

    ``activity`` is :func:`listkit.activity.address_activity`'s. Used to choose which spelling of a
    duplicated mailbox to keep: the one the reader answers.
    """
    return (
        activity.join(mailbox_keys.select("email", "email_normalized"), on="email")
        .filter(pl.col("last_engagement_at").is_not_null())
        .group_by("email_normalized")
        .agg(address_last_engagement_at=pl.col("last_engagement_at").max())
    )


def _latest(condition: pl.Expr, column: str = "smtp_status") -> pl.Expr:
    """Inside a group-by: ``column`` of the latest bounce meeting ``condition``.

    Sorted by time, then status, then reason, so ties give the same answer on every run and engine
    (whatever order the bounces came in).
    """
    order = [pl.col(name).filter(condition) for name in ("timestamp", "smtp_status", "bounce_reason")]
    return pl.col(column).filter(condition).sort_by(*order, nulls_last=False).last()


def _score() -> pl.Expr:
    """The documented 0-100 score from the decayed sums (null without deliveries)."""
    rate = (pl.col("engagement_units") / DECAY_UNITS) / (pl.col("delivery_units") / DECAY_UNITS + 1)
    return pl.when(pl.col("deliveries") > 0).then((100 * rate / (rate + 0.5)).round(1))
