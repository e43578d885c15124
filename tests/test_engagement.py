"""Engagement features, machine opens, bounce classes and the score's promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from listkit.activity import classified_events, event_context
from listkit.engagement import event_features
from listkit.engines import PolarsEngine
from listkit.policy import Policy
from listkit.schema import EVENT_COLUMNS

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def frame(rows: list[dict]) -> pl.DataFrame:
    """Canonical events from dicts (missing columns null)."""
    filled = [{name: row.get(name) for name in EVENT_COLUMNS} for row in rows]
    return pl.DataFrame(filled, schema=EVENT_COLUMNS)


def features(rows: list[dict], **policy) -> dict[str, dict]:
    events = frame(rows)
    keys = events.select(pl.col("email").unique()).with_columns(mailbox_key=pl.col("email"))
    result = event_features(events, keys, as_of=AS_OF, policy=Policy(**policy))
    return {row["mailbox_key"]: row for row in result.iter_rows(named=True)}


def history(email: str, *, days_ago: list[int], opens: list[int] = (), clicks: list[int] = ()) -> list[dict]:
    rows = [{"email": email, "event": "delivered", "timestamp": AS_OF - timedelta(days=d)} for d in days_ago]
    agent = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15"
    rows += [{"email": email, "event": "open", "timestamp": AS_OF - timedelta(days=d), "user_agent": agent}
             for d in opens]  # fmt: skip
    rows += [{"email": email, "event": "click", "timestamp": AS_OF - timedelta(days=d)} for d in clicks]
    return rows


@pytest.mark.parametrize(
    ("status", "bounce_type", "expected"),
    [
        ("550 5.1.1 user unknown", None, "hard"),
        ("5.2.1 mailbox disabled", None, "hard"),
        ("552 5.2.2 mailbox full", None, "soft"),
        ("452 4.2.2 over quota", None, "soft"),
        ("550 5.7.1 rejected by policy", None, "policy"),
        ("550 No such user here", None, "hard"),
        ("5.7.1", "hard", "hard"),  # the ESP's own classification wins
        (None, None, "soft"),
    ],
)
def test_bounce_classes_follow_rfc_3463(status, bounce_type, expected):
    events = frame([{"email": "a@x.com", "event": "bounce", "timestamp": AS_OF,
                     "smtp_status": status, "bounce_type": bounce_type}])  # fmt: skip
    engine = PolarsEngine(events)
    context = event_context(engine, as_of=AS_OF, policy=Policy())
    assert engine.collect(classified_events(engine.log(), context, engine))["bounce_class"].item() == expected


def test_windows_and_deliveries_since_engagement():
    got = features(history("a@x.com", days_ago=[10, 60, 120, 200, 400], opens=[119]))["a@x.com"]
    assert (got["deliveries_30d"], got["deliveries_90d"], got["deliveries_180d"], got["deliveries_365d"]) == (
        1, 2, 3, 4,
    )  # fmt: skip
    assert (got["engagements_30d"], got["engagements_90d"], got["engagements_180d"]) == (0, 0, 1)
    assert got["deliveries_since_engagement"] == 2
    assert got["last_engagement_at"] == AS_OF - timedelta(days=119)


def test_machine_opens_by_flag_agent_and_fetch_speed():
    sent = AS_OF - timedelta(days=2)
    rows = [
        {"email": "flag@x.com", "event": "open", "timestamp": sent, "machine_open": True},
        {"email": "agent@x.com", "event": "open", "timestamp": sent, "user_agent": "Mozilla/5.0"},
        {"email": "fast@x.com", "event": "delivered", "timestamp": sent, "campaign": "c1"},
        {"email": "fast@x.com", "event": "open", "timestamp": sent + timedelta(seconds=3), "campaign": "c1"},
        {"email": "slow@x.com", "event": "delivered", "timestamp": sent, "campaign": "c1"},
        {"email": "slow@x.com", "event": "open", "timestamp": sent + timedelta(hours=3), "campaign": "c1"},
        {"email": "esp-says-human@x.com", "event": "open", "timestamp": sent, "user_agent": "Mozilla/5.0",
         "machine_open": False},
    ]  # fmt: skip
    got = features(rows)
    assert {k: (v["machine_opens"], v["human_opens"]) for k, v in got.items()} == {
        "flag@x.com": (1, 0),
        "agent@x.com": (1, 0),
        "fast@x.com": (1, 0),
        "slow@x.com": (0, 1),
        "esp-says-human@x.com": (0, 1),
    }
    assert got["agent@x.com"]["score"] is None  # no delivery, no score


def test_sends_count_as_deliveries_when_the_log_has_no_deliveries():
    rows = [{"email": "a@x.com", "event": "send", "timestamp": AS_OF - timedelta(days=d)} for d in range(12)]
    got = features(rows)["a@x.com"]
    assert got["deliveries"] == 12 and got["deliveries_in_window"] == 12


def test_events_after_as_of_are_ignored():
    rows = history("a@x.com", days_ago=[5], opens=[-3])
    assert features(rows)["a@x.com"]["human_opens"] == 0


engagements = st.lists(st.integers(min_value=0, max_value=700), max_size=15)
mailings = st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=20)


@settings(max_examples=80, deadline=None)
@given(deliveries=mailings, opens=engagements, clicks=engagements,
       extra_click=st.integers(0, 700))  # fmt: skip
def test_one_more_click_never_lowers_a_score(deliveries, opens, clicks, extra_click):
    before = features(history("a@x.com", days_ago=deliveries, opens=opens, clicks=clicks))["a@x.com"]["score"]
    after = features(history("a@x.com", days_ago=deliveries, opens=opens, clicks=[*clicks, extra_click]))
    assert after["a@x.com"]["score"] >= before


@settings(max_examples=80, deadline=None)
@given(deliveries=mailings, opens=engagements, clicks=engagements,
       shift=st.integers(1, 300))  # fmt: skip
def test_the_same_engagement_longer_ago_never_scores_higher(deliveries, opens, clicks, shift):
    recent = features(history("a@x.com", days_ago=deliveries, opens=opens, clicks=clicks))["a@x.com"]["score"]
    older = features(history("a@x.com", days_ago=deliveries, opens=[d + shift for d in opens],
                              clicks=[d + shift for d in clicks]))["a@x.com"]["score"]  # fmt: skip
    assert older <= recent


def test_link_scanner_clicks_are_not_engagement():
    rows = history("a@x.com", days_ago=list(range(1, 13)))
    rows += [{"email": "a@x.com", "event": "click", "timestamp": AS_OF - timedelta(days=d, hours=-1),
              "user_agent": "Mimecast URL scanner bot"} for d in range(1, 13)]  # fmt: skip
    got = features(rows)["a@x.com"]
    assert (got["clicks"], got["machine_clicks"], got["engagements_in_window"]) == (0, 12, 0)
    assert got["score"] == 0.0


def test_send_only_logs_do_not_count_bounced_sends_and_still_see_soft_bounce_streaks():
    rows = []
    for week in range(4):
        sent = AS_OF - timedelta(weeks=4 - week)
        rows.append({"email": "full@x.com", "event": "send", "timestamp": sent, "campaign": f"c{week}"})
        rows.append({"email": "full@x.com", "event": "bounce", "timestamp": sent + timedelta(minutes=1),
                     "campaign": f"c{week}", "smtp_status": "452 4.2.2 mailbox full"})  # fmt: skip
    got = features(rows)["full@x.com"]
    assert (got["deliveries"], got["soft_bounce_streak"]) == (0, 4)


def test_the_delivery_rule_only_looks_at_events_up_to_as_of():
    rows = [
        {"email": "a@x.com", "event": "send", "timestamp": AS_OF - timedelta(days=d)} for d in range(1, 13)
    ]
    rows.append({"email": "b@x.com", "event": "delivered", "timestamp": AS_OF + timedelta(days=30)})
    assert features(rows)["a@x.com"]["deliveries"] == 12
