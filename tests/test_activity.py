"""The streaming passes over the event log: their results, whatever the reader, order or hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from conftest import SAMPLE
from hypothesis import given, settings
from hypothesis import strategies as st

import listkit
import listkit.activity
import listkit.streaming
from listkit.activity import address_activity, event_context, survey_events
from listkit.engagement import event_features
from listkit.policy import Policy
from listkit.schema import EVENT_COLUMNS

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
HUMAN_AGENT = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15"
ADDRESSES = ("ann@example.com", "bob@example.org", "cy@example.net")


def frame(rows: list[dict]) -> pl.DataFrame:
    """Canonical events from dicts (missing columns null)."""
    filled = [{name: row.get(name) for name in EVENT_COLUMNS} for row in rows]
    return pl.DataFrame(filled, schema=EVENT_COLUMNS)


event_rows = st.lists(
    st.fixed_dictionaries(
        {
            "email": st.sampled_from(ADDRESSES),
            "event": st.sampled_from(["delivered", "open", "click", "bounce", "complaint", "unsubscribe"]),
            # Hours before as_of; negative ones are after it and must be ignored (opt-outs aside).
            "hours": st.integers(min_value=-200, max_value=500 * 24),
            "machine_open": st.booleans(),
            "bounce": st.sampled_from(["hard", "soft", "policy"]),
        }
    ),
    max_size=60,
)


def as_events(drawn: list[dict]) -> pl.DataFrame:
    """Drawn rows as a canonical log; one early delivery keeps it from being a log of sends only."""
    rows = [{"email": ADDRESSES[0], "event": "delivered", "timestamp": AS_OF - timedelta(days=900)}]
    for row in drawn:
        event = {
            "email": row["email"],
            "event": row["event"],
            "timestamp": AS_OF - timedelta(hours=row["hours"]),
        }
        if row["event"] == "open":
            event |= {"machine_open": row["machine_open"], "user_agent": HUMAN_AGENT}
        if row["event"] == "click":
            event["user_agent"] = HUMAN_AGENT
        if row["event"] == "bounce":
            policy_block = row["bounce"] == "policy"
            event |= {
                "bounce_type": None if policy_block else row["bounce"],
                "smtp_status": "550 5.7.1 blocked by policy" if policy_block else None,
            }
        rows.append(event)
    return frame(rows)


OPT_OUTS = (("bounce", "hard", None), ("complaint", None, None), ("unsubscribe", None, None))


def reference(events: pl.DataFrame) -> dict[str, dict]:
    """The features, computed the plain way: one mailbox at a time, event by event.

    Events after as_of are ignored, except opt-outs: those count whatever their date.
    """
    result = {}
    for (email,), group in events.group_by("email"):
        everything = group.sort("timestamp").to_dicts()
        rows = [r for r in everything if r["timestamp"] <= AS_OF]
        late = [r for r in everything if r["timestamp"] > AS_OF]
        late_opt_outs = [r for r in late if (r["event"], r["bounce_type"], r["machine_open"]) in OPT_OUTS]
        if not rows and not late_opt_outs:
            continue

        def times(*kinds: tuple, rows: list[dict] = rows) -> list[datetime]:
            return [
                r["timestamp"] for r in rows if (r["event"], r["bounce_type"], r["machine_open"]) in kinds
            ]

        delivered = times(("delivered", None, None))
        engaged = times(("open", None, False), ("click", None, None))
        soft = times(("bounce", "soft", None))
        last_engagement = max(engaged, default=None)
        last_delivery = max(delivered, default=None)
        result[email] = {
            "events": len(rows),
            "deliveries": len(delivered),
            "human_opens": len(times(("open", None, False))),
            "machine_opens": len(times(("open", None, True))),
            "clicks": len(times(("click", None, None))),
            "hard_bounces": len(times(("bounce", "hard", None), rows=everything)),
            "soft_bounces": len(soft),
            "policy_bounces": sum(1 for r in rows if r["event"] == "bounce" and r["smtp_status"]),
            "complaints": len(times(("complaint", None, None), rows=everything)),
            "unsubscribes": len(times(("unsubscribe", None, None), rows=everything)),
            "opt_outs_after_as_of": len(late_opt_outs),
            "last_engagement_at": last_engagement,
            "last_delivery_at": last_delivery,
            "deliveries_90d": sum(1 for t in delivered if AS_OF - t < timedelta(days=90)),
            "engagements_30d": sum(1 for t in engaged if AS_OF - t < timedelta(days=30)),
            "deliveries_since_engagement": sum(
                1 for t in delivered if last_engagement is None or t > last_engagement
            ),
            "soft_bounce_streak": sum(1 for t in soft if last_delivery is None or t > last_delivery),
        }
    return result


def features_of(events: pl.DataFrame | pl.LazyFrame) -> dict[str, dict]:
    keys = pl.DataFrame({"email": ADDRESSES, "mailbox_key": ADDRESSES})
    result = event_features(events, keys, as_of=AS_OF, policy=Policy())
    return {row["mailbox_key"]: row for row in result.iter_rows(named=True)}


@settings(max_examples=60, deadline=None)
@given(event_rows)
def test_features_equal_a_plain_mailbox_by_mailbox_count(drawn):
    events = as_events(drawn)
    expected = reference(events)
    got = features_of(events)
    assert set(got) == set(expected)
    for email, values in expected.items():
        assert {name: got[email][name] for name in values} == values, email


@settings(max_examples=25, deadline=None)
@given(event_rows, st.randoms(use_true_random=False))
def test_the_order_of_the_log_changes_nothing(drawn, rng):
    events = as_events(drawn)
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=rng.randrange(2**32))
    assert features_of(shuffled).keys() == features_of(events).keys()
    assert features_of(shuffled) == features_of(events)


def test_addresses_sharing_a_hash_are_still_counted_apart(monkeypatch):
    events = as_events(
        [{"email": email, "event": event, "hours": hours, "machine_open": False, "bounce": "soft"}
         for email in ADDRESSES for event, hours in (("delivered", 30), ("open", 20), ("bounce", 10))]
    )  # fmt: skip
    honest = address_activity(events, event_context(events, as_of=AS_OF, policy=Policy()))
    honest_features = features_of(events)
    share_hash_by_length(monkeypatch)
    colliding = address_activity(events, event_context(events, as_of=AS_OF, policy=Policy()))
    assert colliding.drop("email_hash").equals(
        honest.drop("email_hash").select(colliding.drop("email_hash").columns)
    )
    assert features_of(events) == honest_features


def test_addresses_sharing_a_hash_with_no_kind_of_event_in_common_are_counted_apart(monkeypatch):
    pair = ("only-sends@example.org", "only-opens@example.org")  # one length: one hash below
    events = as_events(
        [{"email": pair[0], "event": "delivered", "hours": 5},
         {"email": pair[1], "event": "open", "hours": 4, "machine_open": False}]
    )  # fmt: skip
    assert len(pair[0]) == len(pair[1]) != len(ADDRESSES[0])
    honest = address_activity(events, event_context(events, as_of=AS_OF, policy=Policy()))
    share_hash_by_length(monkeypatch)
    colliding = address_activity(events, event_context(events, as_of=AS_OF, policy=Policy()))
    assert colliding.drop("email_hash").equals(honest.drop("email_hash"))
    assert colliding.filter(pl.col("email").is_in(pair))["human_opens"].to_list() == [1, 0]


def share_hash_by_length(monkeypatch) -> None:
    """Make every address of the same length share a hash: the exact path must take over.

    The hash leaves its low bits for the event class, as :func:`listkit.activity.address_hash` does.
    """
    monkeypatch.setattr(
        listkit.activity, "address_hash", lambda: pl.col("email").str.len_bytes().cast(pl.UInt64) * 32
    )


def test_a_log_aggregated_in_slices_gives_the_same_run(monkeypatch):
    """Long logs are aggregated a slice at a time (bounded memory); the merge must lose nothing."""
    subscribers = listkit.read_subscribers(SAMPLE / "subscribers.csv")
    events = listkit.read_events(SAMPLE / "events.csv")
    policy = Policy(as_of="2026-11-01")
    whole = listkit.run(subscribers, events, policy=policy)
    monkeypatch.setattr(listkit.streaming, "BATCH_ROWS", events.height // 7)
    sliced = listkit.run(subscribers, events.lazy(), policy=policy)  # a LazyFrame, as scan_events gives
    assert sliced.ledger.equals(whole.ledger)
    assert sliced.suppression.equals(whole.suppression) and sliced.compliance.equals(whole.compliance)
    assert sliced.event_stats == whole.event_stats


def test_the_survey_counts_unknown_types_and_classes_each_status_once():
    events = frame(
        [
            {"email": "a@x.com", "event": "delivered", "timestamp": AS_OF - timedelta(days=3)},
            {"email": "a@x.com", "event": "unknown", "event_raw": "deferred", "timestamp": AS_OF},
            {"email": "a@x.com", "event": "unknown", "event_raw": "deferred", "timestamp": AS_OF},
            {
                "email": "b@x.com",
                "event": "bounce",
                "smtp_status": "550 5.1.1 no such user",
                "timestamp": AS_OF,
            },
            {"email": "c@x.com", "event": "bounce", "smtp_status": "421 4.7.0 try later", "timestamp": AS_OF},
            {"email": "d@x.com", "event": "bounce", "smtp_status": "554 5.7.1 spamhaus", "timestamp": AS_OF},
        ]
    )
    survey = survey_events(events.lazy())
    assert survey.rows == 6 and survey.latest == AS_OF
    assert survey.unknown_types == {"deferred": 2}
    assert survey.bounce_reasons.select("smtp_status", "bounce_reason", "bounce_class").rows() == [
        ("421 4.7.0 try later", "system_error", "soft"),
        ("550 5.1.1 no such user", "user_unknown", "hard"),
        ("554 5.7.1 spamhaus", "blocked", "policy"),
    ]
    assert not survey.sends_only(AS_OF) and survey.sends_only(AS_OF - timedelta(days=4))


def test_a_parquet_log_with_enum_columns_and_mixed_spellings_streams_like_it_loads(tmp_path):
    """Polars writes Enum columns to Parquet; text timestamps may mix ISO spellings."""
    parquet = tmp_path / "events.parquet"
    spellings = ["2026-02-01T10:00:00Z", "2026-02-02 11:00:00", "2026-02-03T12:00:00+01:00"]
    pl.DataFrame(
        {
            "Email": ["a@x.com", "b@x.com", "a@x.com"],
            "event": pl.Series(
                ["delivered", "hard_bounce", "Opened"], dtype=pl.Enum(["delivered", "hard_bounce", "Opened"])
            ),
            "timestamp": spellings,
            "bounce_type": pl.Series([None, None, None], dtype=pl.Enum(["Permanent"])),
        }
    ).write_parquet(parquet)
    streamed = listkit.scan_events(parquet).collect().drop("log_part")
    loaded = listkit.read_events(parquet)
    assert streamed.equals(loaded)
    assert streamed["event"].to_list() == ["delivered", "bounce", "open"]
    assert streamed["bounce_type"].to_list() == [None, "hard", None]
    assert streamed["timestamp"].dt.hour().to_list() == [10, 11, 11]
