"""Property tests: whatever list the readers accept, every row comes out with an explained outcome."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import listkit
from listkit.reasons import SUPPRESSING_REASONS

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
LOCALS = ["ann", "Ann.Lee", "a.n.n", "ann+news", "info", "bob", "zoë", "x", "no reply", "", "a@b", "ann..lee"]
DOMAINS = [
    "example.com",
    "EXAMPLE.com",
    "gmail.com",
    "googlemail.com",
    "mailinator.com",
    "exa mple.com",
    "co",
]
STATUSES = ["subscribed", "unsubscribed", "Cleaned", "complained", "pending", ""]
EVENTS = ["delivered", "open", "click", "bounce", "complaint", "unsubscribe", "processed", "weird_type"]

addresses = st.builds(
    lambda pad, local, domain: f"{pad}{local}@{domain}{pad}" if local != "" or domain else pad,
    st.sampled_from(["", " ", "  "]),
    st.sampled_from(LOCALS),
    st.sampled_from(DOMAINS),
)
subscriber_rows = st.lists(
    st.tuples(
        addresses,
        st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=8),
        st.sampled_from(STATUSES),
    ),
    min_size=1,
    max_size=40,
)
event_rows = st.lists(
    st.tuples(
        addresses,
        st.sampled_from(EVENTS),
        st.integers(min_value=0, max_value=800),
        st.sampled_from(["", "5.1.1", "4.2.2", "5.7.1"]),
    ),
    max_size=120,
)


def as_csv(header: list[str], rows: list[tuple]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subscriber_rows, event_rows)
def test_every_row_has_one_explained_outcome_and_nothing_suppressed_is_kept(subscribers, events):
    listed = listkit.read_subscribers(as_csv(["email", "first_name", "status"], subscribers))
    timed = [(e, kind, (AS_OF - timedelta(days=d)).isoformat(), s) for e, kind, d, s in events]
    history = listkit.read_events(as_csv(["email", "event", "timestamp", "smtp_status"], timed))
    result = listkit.run(listed, history, policy=listkit.Policy(as_of=AS_OF))
    ledger = result.ledger

    assert ledger.height == len(subscribers)
    assert ledger["source_row"].to_list() == list(range(1, len(subscribers) + 1))
    assert ledger["outcome"].is_in(["keep", "prune"]).all()
    assert (ledger.filter(pl.col("outcome") == "prune")["reasons"] != "").all()
    kept = ledger.filter(pl.col("outcome") == "keep")
    segments = result.segments()
    assert sum(frame.height for frame in segments.values()) == kept.height

    suppressed = ledger.filter(pl.col("reasons").str.contains("|".join(SUPPRESSING_REASONS)))
    keys = listkit.check_addresses(suppressed["email"])["mailbox_key"].drop_nulls().implode()
    for frame in segments.values():
        assert not listkit.check_addresses(frame["email"])["mailbox_key"].is_in(keys).any()
