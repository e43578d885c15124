"""Regression tests for the shapes real senders' data comes in: every opt-out honoured, whatever its form.

Each test feeds a list and an event log as an ESP would export them (CSV text through the readers)
and checks the contract's suppression promise on the result.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli

import listkit


def run_csv(subscribers: str, events: str | None = None, **policy) -> listkit.RunResult:
    """``listkit.run`` on CSV text, as read from files."""
    log = listkit.read_events(events.encode()) if events is not None else None
    return listkit.run(listkit.read_subscribers(subscribers.encode()), log, policy=listkit.Policy(**policy))


def outcome(result: listkit.RunResult, email: str) -> dict:
    return result.ledger.filter(pl.col("email") == email).row(0, named=True)


LIST = "email,first_name\nana@example.com,Ana\nbo@example.com,Bo\ncy@example.com,Cy\ndee@example.com,Dee\n"
HISTORY = "".join(
    f"{who}@example.com,delivered,2026-0{month}-01T10:00:00Z\n{who}@example.com,open,2026-0{month}-01T12:00:00Z\n"
    for who in ("ana", "bo", "cy", "dee")
    for month in range(1, 7)
)


def test_opt_outs_after_as_of_are_honoured():
    late = (
        "ana@example.com,unsubscribe,2026-07-02T00:00:00Z\n"
        "bo@example.com,complaint,2026-07-03T00:00:00Z\n"
        "cy@example.com,hard_bounce,2026-07-04T00:00:00Z\n"
        "ghost@example.com,unsubscribe,2026-07-05T00:00:00Z\n"  # not on the list
        "dee@example.com,open,2026-07-05T00:00:00Z\n"  # engagement after as_of still does not count
    )
    result = run_csv(LIST, "email,event,timestamp\n" + HISTORY + late, as_of="2026-06-30")
    assert [outcome(result, f"{w}@example.com")["reasons"] for w in ("ana", "bo", "cy", "dee")] == [
        "unsubscribed",
        "complaint",
        "hard_bounce",
        "",
    ]
    assert outcome(result, "ana@example.com")["evidence"] == "unsubscribed: unsubscribe event on 2026-07-02"
    assert outcome(result, "dee@example.com")["human_opens"] == 6
    suppressed = dict(result.suppression.select("email", "reason").iter_rows())
    assert suppressed == {
        "ana@example.com": "unsubscribed",
        "bo@example.com": "complaint",
        "cy@example.com": "hard_bounce",
        "ghost@example.com": "unsubscribed",
    }
    assert result.summary()["events"]["opt_outs_after_as_of"] == 4
    assert result.summary()["events"]["after_as_of"] == 5


@pytest.fixture(scope="module")
def sample_result_180() -> listkit.RunResult:
    """The README's example policy on the bundled sample."""
    policy = listkit.Policy(sunset_days=180)
    return listkit.run_files(SAMPLE / "subscribers.csv", SAMPLE / "events.csv", policy=policy)


def test_a_short_sunset_window_still_prunes_the_silent_on_a_monthly_list(sample_result_180):
    # The sample is mailed about monthly: 10 deliveries never fit in 180 days, so the floor counts the
    # deliveries since the last human open or click instead (HubSpot's graymail rule does the same).
    inactive = sample_result_180.ledger.filter(pl.col("reasons").str.contains("inactive"))
    assert inactive.height > 100
    assert (inactive["deliveries_in_window"] < 10).all()
    assert inactive["evidence"].str.contains(r"inactive: \d+ deliveries (since|and never)").all()
    assert not sample_result_180.warnings


def test_a_delivery_floor_no_one_reaches_is_said_with_its_numbers(tmp_path, capsys):
    out = tmp_path / "out"
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv",
                     "--out", out, "--sunset-min-deliveries", "50", "--no-report")  # fmt: skip
    assert status == 0
    err = capsys.readouterr().err
    assert err.startswith("listkit: warning: no row can be pruned as inactive: sunset_min_deliveries is 50")
    assert "received more than 20 deliveries" in err and err.count("\n") == 1
    manifest = json.loads((out / "manifest.json").read_text())
    [warning] = manifest["warnings"]
    assert warning["code"] == "inactive_unreachable" and warning["details"]["most_deliveries"] == 20
    assert manifest["counts"]["reason"]["inactive"] == 0


def test_suppressing_events_of_every_esp_are_honoured():
    rows = {
        "postmark@example.com": "SpamComplaint",
        "sparkpost1@example.com": "spam_complaint",
        "sparkpost2@example.com": "list_unsubscribe",
        "sparkpost3@example.com": "link_unsubscribe",
        "klaviyo@example.com": "Unsubscribed from Email Marketing",
        "mandrill@example.com": "spam",
        "customerio@example.com": "spammed",
        "iterable@example.com": "emailUnSubscribe",
    }
    subscribers = "email\n" + "".join(f"{e}\n" for e in rows) + "reader@example.com\n"
    events = "email,event,timestamp\n" + "".join(
        f"{e},{name},2026-05-01T00:00:00Z\n" for e, name in rows.items()
    )
    events += "reader@example.com,Email Unsubscribe Requested Forever,2026-05-02T00:00:00Z\n"
    events += "reader@example.com,delivered,2026-05-02T00:00:00Z\n"
    result = run_csv(subscribers, events)
    for email in rows:
        assert outcome(result, email)["outcome"] == "prune", email
        assert outcome(result, email)["reasons"] in ("complaint", "unsubscribed"), email
    assert result.event_stats["unknown_types"] == {"Email Unsubscribe Requested Forever": 1}
    [warning] = [w for w in result.warnings if w.code == "unknown_suppressing_events"]
    assert "Email Unsubscribe Requested Forever" in warning.message


def test_every_esp_fixture_runs_and_suppresses_what_it_says():
    fixtures = sorted((Path(__file__).parent / "fixtures" / "esp").glob("*.csv"))
    assert len(fixtures) >= 14
    for path in fixtures:
        events = listkit.read_events(path)
        addresses = events["email"].drop_nulls().unique().sort()
        subscribers = listkit.read_subscribers(("email\n" + "\n".join(addresses) + "\n").encode())
        result = listkit.run(subscribers, events)
        suppressing = events.filter(
            pl.col("event").is_in(["complaint", "unsubscribe"]) | (pl.col("bounce_type") == "hard")
        )
        must_not_mail = set(listkit.check_addresses(suppressing["email"])["email_normalized"].drop_nulls())
        kept = set(result.ledger.filter(pl.col("outcome") == "keep")["email_normalized"])
        assert not must_not_mail & kept, path.name
        assert must_not_mail <= set(result.suppression["email"]), path.name


# Bounce mail as real MTAs write it: the cause is in the text, not in a generic 5.0.0 code.
DEAD_MAILBOX_TEXTS = (
    "550 5.0.0 <ana@example.com>... User unknown",
    "550 unknown user",
    "No such user",
    "Unknown Recipient",
    "553 5.3.0 No such user here",
    "mailbox unavailable",
)


def test_real_permanent_failure_texts_prune_as_hard_bounces():
    people = [f"p{i}@example.com" for i in range(len(DEAD_MAILBOX_TEXTS))]
    subscribers = "email\n" + "".join(f"{p}\n" for p in people) + "ok@example.com\n"
    blocked = "550 5.7.1 Service unavailable; client host blocked using Spamhaus"
    lines = [
        f'{p},bounce,2026-05-01T00:00:00Z,"{t}"' for p, t in zip(people, DEAD_MAILBOX_TEXTS, strict=True)
    ]
    lines.append(f'ok@example.com,bounce,2026-05-01T00:00:00Z,"{blocked}"')
    events = "email,event,timestamp,smtp_status\n" + "\n".join(lines) + "\n"
    result = run_csv(subscribers, events)
    assert [outcome(result, p)["reasons"] for p in people] == ["hard_bounce"] * len(people)
    assert all(outcome(result, p)["bounce_reason"] == "user_unknown" for p in people)
    blocked = outcome(result, "ok@example.com")
    assert blocked["outcome"] == "keep" and blocked["reasons"] == ""
    assert set(result.suppression["email"]) == set(people)


def test_every_spelling_of_a_mailbox_is_suppressed_by_one_opt_out():
    subscribers = (
        "email,status\n"
        "Pia Lee <pia@example.com>,subscribed\n"
        "quinn@example.com,subscribed\n"
        '"""Rosa"" <Rosa@GMail.com>",subscribed\n'
        "olga@example.com.,subscribed\n"
        '"""ivan""@example.com",subscribed\n'
        "zoe@example.com,\u200bunsubscribed\n"
        "yan@example.com,unsubscribed\ufeff\n"
        "xia@example.com,unsub\u00adscribed\n"
    )
    events = (
        "email,event,timestamp\n"
        "pia@example.com,unsubscribe,2026-05-01T00:00:00Z\n"
        "<quinn@example.com>,unsubscribe,2026-05-01T00:00:00Z\n"
        "r.o.s.a+news@gmail.com,complaint,2026-05-01T00:00:00Z\n"
        "Olga <OLGA@example.com>,unsubscribe,2026-05-01T00:00:00Z\n"
        "ivan@example.com.,hard_bounce,2026-05-01T00:00:00Z\n"
    )
    result = run_csv(subscribers, events)
    assert result.ledger["outcome"].to_list() == ["prune"] * 8
    assert result.ledger["email_normalized"].to_list()[:5] == [
        "pia@example.com", "quinn@example.com", "Rosa@gmail.com", "olga@example.com", "ivan@example.com",
    ]  # fmt: skip
    assert result.ledger["reasons"].to_list() == [
        "unsubscribed", "unsubscribed", "complaint", "unsubscribed", "hard_bounce",
        "unsubscribed", "unsubscribed", "unsubscribed",
    ]  # fmt: skip
    assert not result.segments()


def test_a_lone_surrogate_is_an_invalid_address_not_a_crash():
    checked = listkit.check_addresses(["\ud800@test", "a\udfff@example.com", "ok@example.com"])
    assert checked["syntax_valid"].to_list() == [False, False, True]
    assert checked["syntax_error"][0]


def test_bounce_and_complaint_mail_without_dates_or_with_odd_actions_still_prunes(tmp_path):
    fixtures = Path(__file__).parent / "fixtures" / "feedback"
    mail = tmp_path / "mail"
    mail.mkdir()
    for name in (
        "bounces/undated_postfix_dsn.eml",
        "bounces/action_failure.eml",
        "complaints/undated_arf.eml",
    ):
        shutil.copy(fixtures / name, mail)
    # The same report with no date anywhere (no Received either): it counts as of the run.
    arf = (fixtures / "complaints/undated_arf.eml").read_text()
    arf = re.sub(r"(?m)^Received:.*\n(?:[ \t].*\n)*", "", arf).replace(
        "r.costa@mailbox.example", "nodate@example.com"
    )
    (mail / "no_date_at_all.eml").write_text(arf)
    listing = tmp_path / "list.csv"
    people = ["k.lee@example.net", "h.sato@isp.example", "p.moreau@isp.example", "r.costa@mailbox.example",
              "nodate@example.com", "keeper@example.com"]  # fmt: skip
    listing.write_text("email\n" + "\n".join(people) + "\n")
    result = listkit.run_files(listing, feedback=mail, as_of="2024-04-01")
    assert result.ledger.select("email", "reasons").rows() == [
        ("k.lee@example.net", "hard_bounce"),  # undated DSN: the newest Received header dates it
        ("h.sato@isp.example", "hard_bounce"),  # "Action: failure"
        ("p.moreau@isp.example", ""),  # the same report's other recipient: mailbox full, one soft bounce
        ("r.costa@mailbox.example", "complaint"),
        ("nodate@example.com", "complaint"),
        ("keeper@example.com", ""),
    ]
    assert outcome(result, "nodate@example.com")["complaint_at"] == datetime(2024, 4, 1, tzinfo=UTC)
    assert outcome(result, "h.sato@isp.example")["bounce_reason"] == "user_unknown"
    assert outcome(result, "p.moreau@isp.example")["bounce_reason"] == "mailbox_full"


@pytest.mark.parametrize(
    ("log", "must_not_mail"),
    [
        # SparkPost bounce classes as pandas writes an integer column with gaps: 10.0 is class 10.
        ("type,timestamp,rcpt_to,bounce_class,raw_reason\n"
         "bounce,2024-03-01T10:00:02Z,gone@x.com,10.0,550 5.1.1 user unknown\n"
         "delivery,2024-03-01T10:00:03Z,ok@x.com,,\n", {"gone@x.com"}),
        # A Mailchimp webhook log flattened with data[action] as "action": "type" is still the event.
        ("type,fired_at,email,action,reason\n"
         "cleaned,2024-03-02 09:00:00,gone@x.com,,hard\n"
         "cleaned,2024-03-02 09:00:00,abuse@x.com,,abuse\n"
         "unsubscribe,2024-03-02 09:00:00,del@x.com,delete,\n"
         "subscribe,2024-03-02 09:00:00,ok@x.com,,\n", {"gone@x.com", "abuse@x.com", "del@x.com"}),
        # Mandrill's sync event: the address was put on the rejection list after a hard bounce.
        ("event,ts,email,reason\nblacklist,1709287200,gone@x.com,hard-bounce\nsend,1709287200,ok@x.com,\n",
         {"gone@x.com"}),
        # A bounce type spelled as its ESP's report writes it.
        ("email,event,timestamp,bounce_type\ngone@x.com,bounce,2024-03-01T00:00:00Z,Hard Bounce\n"
         "ok@x.com,delivered,2024-03-01T00:00:00Z,\n", {"gone@x.com"}),
    ],
)  # fmt: skip
def test_esp_logs_in_the_shapes_exports_really_take(tmp_path, log, must_not_mail):
    addresses = sorted(must_not_mail | {"ok@x.com"})
    subscribers = listkit.read_subscribers(("email\n" + "\n".join(addresses) + "\n").encode())
    parquet = tmp_path / "log.parquet"
    pl.read_csv(log.encode(), infer_schema=False).write_parquet(parquet)
    for events in (listkit.read_events(log.encode()), listkit.scan_events(parquet)):
        result = listkit.run(subscribers, events)
        assert set(result.ledger.filter(pl.col("outcome") == "prune")["email"]) == must_not_mail
        assert set(result.suppression["email"]) == must_not_mail


def test_a_singular_bounce_status_is_honoured():
    result = run_csv("email,status\nl@x.com,bounce\nok@x.com,subscribed\n")
    assert result.ledger["reasons"].to_list() == ["hard_bounce", ""]


def test_opt_outs_whose_address_cannot_be_read_are_said_aloud():
    events = (
        "email,event,timestamp\n"
        "mailto:amy@x.com,unsubscribe,2024-01-01T00:00:00Z\n"
        '"Doe, John <john@x.com>",complaint,2024-01-01T00:00:00Z\n'
        "amy@x.com,delivered,2024-01-01T00:00:00Z\n"
    )
    result = run_csv("email\namy@x.com\n", events)
    assert result.event_stats["opt_outs_with_invalid_address"] == 2
    [warning] = [w for w in result.warnings if w.code == "invalid_opt_out_addresses"]
    # The example shows what is wrong with the value (the scheme) without the address itself.
    assert "'mailto:(address)'" in warning.message and warning.details == {"count": 2}
    assert "@x.com" not in warning.message


def test_a_mailbox_only_ever_blocked_is_kept_and_shows_why():
    events = (
        "email,event,timestamp,smtp_status\n"
        "kim@x.com,delivered,2024-01-01T00:00:00Z,\n"
        'kim@x.com,bounce,2024-01-02T00:00:00Z,"554 5.7.1 client host blocked using Spamhaus"\n'
    )
    row = outcome(run_csv("email\nkim@x.com\n", events), "kim@x.com")
    assert (row["outcome"], row["reasons"], row["bounce_reason"]) == ("keep", "", "blocked")
