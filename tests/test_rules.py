"""Behaviour of the pruning rules on small, hand-made lists whose right answer is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import listkit
from listkit import Policy

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def events_csv(rows: list[tuple[str, str, datetime, str]]) -> bytes:
    """An event log as CSV bytes: (email, event, when, smtp_status)."""
    lines = ["email,event,timestamp,smtp_status,user_agent"]
    for email, event, when, status in rows:
        agent = "Mozilla/5.0" if event == "machine_open" else "Mozilla/5.0 (Windows NT 10.0) Thunderbird/115"
        kind = "open" if event == "machine_open" else event
        lines.append(f"{email},{kind},{when:%Y-%m-%dT%H:%M:%SZ},{status},{agent}")
    return ("\n".join(lines) + "\n").encode()


def weekly(email: str, weeks: int, *, opens: str | None = None, start: datetime | None = None) -> list:
    """A delivery every week before AS_OF, each followed by an open of the given kind."""
    start = start or AS_OF - timedelta(weeks=weeks)
    rows = []
    for week in range(weeks):
        sent = start + timedelta(weeks=week)
        rows.append((email, "delivered", sent, ""))
        if opens:
            rows.append((email, opens, sent + timedelta(hours=2), ""))
    return rows


def run_list(subscribers: str, events: list, **policy) -> pl.DataFrame:
    result = listkit.run(
        listkit.read_subscribers(subscribers.encode()),
        listkit.read_events(events_csv(events)),
        policy=Policy(as_of=AS_OF, **policy),
    )
    return result.ledger


def reasons_of(ledger: pl.DataFrame) -> dict[str, str]:
    return dict(ledger.select("email", "reasons").iter_rows())


def test_status_applies_to_every_spelling_of_the_mailbox():
    ledger = run_list(
        "email,first_name,status\n"
        "Ann.Lee@Example.com,Ann,subscribed\n"
        " ann.lee@example.com ,Ann,unsubscribed\n"
        "bob@example.com,Bob,cleaned\n"
        "carol@example.com,Carol,COMPLAINED\n",
        [],
    )
    reasons = reasons_of(ledger)
    assert "unsubscribed" in reasons["Ann.Lee@Example.com"].split(";")
    assert set(reasons[" ann.lee@example.com "].split(";")) >= {"unsubscribed", "duplicate"}
    assert reasons["bob@example.com"] == "hard_bounce"
    assert reasons["carol@example.com"] == "complaint"
    assert (ledger["outcome"] == "prune").all()


def test_event_rules_hard_soft_policy_bounces_and_inactivity():
    events = (
        weekly("reader@example.com", 30, opens="open")
        + weekly("dormant@example.com", 30)
        + weekly("mpp@example.com", 30, opens="machine_open")
        + weekly("fewmails@example.com", 5)
        + [("dead@example.com", "bounce", AS_OF - timedelta(days=3), "550 5.1.1 user unknown")]
        + [("blocked@example.com", "bounce", AS_OF - timedelta(days=3), "550 5.7.1 message refused")]
        + [("full@example.com", "delivered", AS_OF - timedelta(days=30), "")]
        + [
            ("full@example.com", "bounce", AS_OF - timedelta(days=d), "452 4.2.2 mailbox full")
            for d in (9, 6, 3)
        ]
        + [
            ("twofull@example.com", "bounce", AS_OF - timedelta(days=d), "452 4.2.2 mailbox full")
            for d in (6, 3)
        ]
        + [("angry@example.com", "complaint", AS_OF - timedelta(days=1), "")]
        + [("gone@example.com", "unsubscribe", AS_OF - timedelta(days=1), "")]
    )
    names = ["reader", "dormant", "mpp", "fewmails", "dead", "blocked", "full", "twofull", "angry", "gone"]
    ledger = run_list("email\n" + "".join(f"{n}@example.com\n" for n in names), events)
    reasons = {k.split("@")[0]: v for k, v in reasons_of(ledger).items()}
    assert reasons["reader"] == ""
    assert reasons["dormant"] == "inactive"
    assert reasons["mpp"] == "inactive;engagement_unknown"
    assert reasons["fewmails"] == ""  # too few deliveries to call silence inactivity
    assert reasons["dead"] == "hard_bounce"
    assert reasons["blocked"] == ""  # a policy block says nothing about the mailbox
    assert reasons["full"] == "soft_bounce_repeated"
    assert reasons["twofull"] == ""
    assert reasons["angry"] == "complaint"
    assert reasons["gone"] == "unsubscribed"
    evidence = dict(ledger.select("email", "evidence").iter_rows())
    assert "5.1.1" in evidence["dead@example.com"]
    assert "30 deliveries" in evidence["dormant@example.com"]


def test_mpp_only_reader_with_few_deliveries_is_kept_with_a_warning_and_no_engagement():
    ledger = run_list(
        "email\nmpp@example.com\nreal@example.com\n",
        weekly("mpp@example.com", 6, opens="machine_open") + weekly("real@example.com", 6, opens="open"),
    )
    by_email = {row["email"]: row for row in ledger.iter_rows(named=True)}
    assert by_email["mpp@example.com"]["outcome"] == "keep"
    assert by_email["mpp@example.com"]["reasons"] == "engagement_unknown"
    assert by_email["mpp@example.com"]["score"] == 0.0
    assert by_email["mpp@example.com"]["segment"] == "engagement-unknown"
    assert by_email["real@example.com"]["score"] > 50


def test_duplicates_keep_the_most_complete_row_and_name_it():
    ledger = run_list(
        "email,first_name,last_name\nPAT@example.com,,\npat@example.com,Pat,Doe\n  pat@EXAMPLE.com,Pat,\n", []
    )
    rows = ledger.select("source_row", "outcome", "duplicate_of", "reasons").rows()
    assert rows == [(1, "prune", 2, "duplicate"), (2, "keep", None, ""), (3, "prune", 2, "duplicate")]


def test_invalid_syntax_prunes_and_policy_thresholds_are_parameters():
    ledger = run_list("email\nnot-an-address\nok@example.com\n", weekly("ok@example.com", 12))
    assert reasons_of(ledger) == {"not-an-address": "invalid_syntax", "ok@example.com": "inactive"}
    lenient = run_list("email\nok@example.com\n", weekly("ok@example.com", 12), sunset_min_deliveries=20)
    assert reasons_of(lenient) == {"ok@example.com": ""}


def test_role_accounts_prune_by_default_and_can_be_kept_with_a_warning():
    strict = run_list("email\ninfo@example.com\n", [])
    assert strict.row(0, named=True)["outcome"] == "prune"
    lenient = run_list("email\ninfo@example.com\n", [], prune_role_accounts=False)
    assert lenient.row(0, named=True)["outcome"] == "keep"
    assert lenient.row(0, named=True)["reasons"] == "role_account"


@pytest.mark.parametrize("name", ["[name]", "{{first_name}}", "*|FNAME|*", "test", "asdf", "N/A", ""])
def test_placeholder_first_names_are_warned(name):
    ledger = run_list(f"email,first_name\na@example.com,{name}\nb@example.com,Maria\n", [])
    assert ledger["reasons"].to_list() == ["placeholder_name", ""]
    assert ledger["outcome"].to_list() == ["keep", "keep"]


def test_duplicates_keep_the_spelling_the_reader_engages_with():
    ledger = run_list(
        "email,first_name,last_name\nJane.Doe@gmail.com,Jane,Doe\njanedoe+news@googlemail.com,,\n",
        weekly("janedoe+news@googlemail.com", 4, opens="open") + weekly("jane.doe@gmail.com", 4),
    )
    rows = ledger.select("source_row", "outcome", "duplicate_of", "reasons").rows()
    assert rows == [(1, "prune", 2, "duplicate"), (2, "keep", None, "placeholder_name")]


def test_invalid_rows_do_not_share_each_others_status():
    ledger = run_list("email,status\nnot-an-email,unsubscribed\nalso bad,subscribed\n", [])
    assert ledger["reasons"].to_list() == ["invalid_syntax;unsubscribed", "invalid_syntax"]


def test_a_role_mailbox_is_a_role_in_every_spelling():
    ledger = run_list("email\nin.fo@gmail.com\n", [])
    assert ledger["reasons"].to_list() == ["role_account"]


def test_repeated_source_rows_are_refused():
    subscribers = listkit.read_subscribers(b"email\na@example.com\n")
    with pytest.raises(listkit.InputError, match="source_row"):
        listkit.run(pl.concat([subscribers, subscribers]))


def test_funnel_counts_only_what_the_policy_prunes():
    result = listkit.run(
        listkit.read_subscribers(b"email\ninfo@example.com\nsales@example.com\nann@example.com\n"),
        policy=Policy(as_of=AS_OF, prune_role_accounts=False),
    )
    assert dict(result.funnel())["not suppressed"] == dict(result.funnel())["mailable (kept)"] == 3


@pytest.mark.parametrize("options", [{"score_half_life_days": float("nan")}, {"random_state": 2**40}])
def test_policy_refuses_values_that_would_break_a_run(options):
    with pytest.raises(listkit.ConfigError):
        Policy(**options)
