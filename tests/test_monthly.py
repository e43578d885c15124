"""The facts a run keeps for the report: the log month by month, deliveries since the last engagement,
and the progress hooks of a run.

The hand-written log below follows the contract's event columns (docs/CONTRACT.md, "Events"); every
event is written next to the monthly column it must count in (``None``: counted nowhere), so the
expected months are derived from the annotations, not from a run.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import listkit
import listkit.activity
import listkit.streaming
from listkit.activity import MONTHLY_COUNTS, MONTHLY_SCHEMA
from listkit.layout import RUN_FILES
from listkit.pipeline import LEDGER_COLUMNS
from listkit.policy import Policy
from listkit.result import RunResult

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
AS_OF = datetime(2024, 4, 10, 12, 0, tzinfo=UTC)
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)"
APPLE_MPP = "Mozilla/5.0"
SCANNER = "Mozilla/5.0 (compatible; Mimecast URL Protect)"
USER_UNKNOWN = "550 5.1.1 <noone@example.net>: Recipient address rejected: User unknown"
FULL = "452 4.2.2 Mailbox full"
SPAMHAUS = "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


#: (column it counts in, email, event, timestamp, campaign, bounce_type, smtp_status, user_agent,
#: machine_open). February has no event at all: it must still be a month, with zeros.
LOG = [
    ("deliveries", "ann@example.com", "delivered", "2024-01-05T09:00:00", "jan-news", "", "", "", ""),
    ("human_opens", "ann@example.com", "open", "2024-01-05T18:30:00", "jan-news", "", "", THUNDERBIRD, ""),
    ("clicks", "ann@example.com", "click", "2024-01-05T18:31:00", "jan-news", "", "", THUNDERBIRD, ""),
    (None, "ann@example.com", "send", "2024-01-05T08:59:00", "jan-news", "", "", "", ""),
    ("deliveries", "bob@example.org", "delivered", "2024-01-05T09:00:02", "jan-news", "", "", "", ""),
    # Apple Mail Privacy Protection, labelled by the ESP.
    ("machine_opens", "bob@example.org", "open", "2024-01-05T09:00:40", "jan-news", "", "", "", "true"),
    ("deliveries", "cem@example.net", "delivered", "2024-01-05T09:00:03", "jan-news", "", "", "", ""),
    # A bare Mozilla/5.0 agent is Apple's proxy; a Mimecast agent clicking is a link scanner.
    ("machine_opens", "cem@example.net", "open", "2024-01-06T07:00:00", "jan-news", "", "", APPLE_MPP, ""),
    ("machine_clicks", "cem@example.net", "click", "2024-01-05T09:00:09", "jan-news", "", "", SCANNER, ""),
    ("hard_bounces", "noone@example.net", "bounce", "2024-01-05T09:00:05", "jan-news", "hard", USER_UNKNOWN,
     "", ""),
    ("deliveries", "ann@example.com", "delivered", "2024-03-12T09:00:00", "mar-news", "", "", "", ""),
    # No user agent: fetched 4 s after delivery is a prefetch, 2 minutes after is a reader.
    ("machine_opens", "ann@example.com", "open", "2024-03-12T09:00:04", "mar-news", "", "", "", ""),
    ("human_opens", "ann@example.com", "open", "2024-03-12T09:02:00", "mar-news", "", "", "", ""),
    ("deliveries", "bob@example.org", "delivered", "2024-03-12T09:00:01", "mar-news", "", "", "", ""),
    ("complaints", "bob@example.org", "complaint", "2024-03-13T08:00:00", "mar-news", "", "", "", ""),
    ("deliveries", "cem@example.net", "delivered", "2024-03-12T09:00:02", "mar-news", "", "", "", ""),
    ("unsubscribes", "cem@example.net", "unsubscribe", "2024-03-14T20:00:00", "mar-news", "", "", "", ""),
    ("soft_bounces", "dan@example.com", "bounce", "2024-03-12T09:00:03", "mar-news", "soft", FULL, "", ""),
    ("blocks", "eve@example.com", "bounce", "2024-03-12T09:00:03", "mar-news", "", SPAMHAUS, "", ""),
    ("deliveries", "ann@example.com", "delivered", "2024-04-02T09:00:00", "apr-news", "", "", "", ""),
    ("deliveries", "dan@example.com", "delivered", "2024-04-02T09:00:01", "apr-news", "", "", "", ""),
    # After as_of: what happened up to as_of is counted, nothing later (not even an opt-out).
    (None, "ann@example.com", "open", "2024-04-20T10:00:00", "apr-news", "", "", THUNDERBIRD, ""),
    (None, "dan@example.com", "unsubscribe", "2024-05-01T10:00:00", "apr-news", "", "", OUTLOOK, ""),
    (None, "ann@example.com", "delivered", "2024-05-03T09:00:00", "may-news", "", "", "", ""),
]  # fmt: skip
SUBSCRIBERS = [
    ("ann@example.com", "Ann", "2023-11-02T10:00:00Z", "web form"),
    ("bob@example.org", "Bob", "2023-11-20T10:00:00Z", "checkout"),
    ("cem@example.net", "Cem", "2023-12-01T10:00:00Z", "web form"),
    ("dan@example.com", "Dan", "2023-12-15T10:00:00Z", "import"),
    ("eve@example.com", "Eve", "2023-12-20T10:00:00Z", "import"),
]
#: What the events after as_of count as once as_of is later than them (by timestamp).
IN_RANGE_LATER = {
    "2024-04-20T10:00:00": "human_opens",
    "2024-05-01T10:00:00": "unsubscribes",
    "2024-05-03T09:00:00": "deliveries",
}
EVENT_HEADER = ["email", "event", "timestamp", "campaign", "bounce_type", "smtp_status", "user_agent",
                "machine_open"]  # fmt: skip


@pytest.fixture
def hand_files(tmp_path) -> dict[str, Path]:
    subscribers, events = tmp_path / "subscribers.csv", tmp_path / "events.csv"
    with subscribers.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "signup_at", "source"])
        writer.writerows(SUBSCRIBERS)
    with events.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_HEADER)
        writer.writerows(event_rows(LOG))
    return {"subscribers": subscribers, "events": events}


def event_rows(log: list[tuple]) -> list[tuple]:
    """The CSV rows of an annotated log (the annotation left out, times in UTC)."""
    return [(*row[1:3], row[3] + "Z", *row[4:]) for row in log]


def expected_months(log: list[tuple], first: date, last: date) -> pl.DataFrame:
    """The monthly frame the annotations of ``log`` describe, every month from ``first`` to ``last``."""
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    counts = {m: dict.fromkeys(MONTHLY_COUNTS, 0) for m in months}
    for column, _email, _event, stamp, *_ in log:
        if column is not None:
            moment = at(stamp)
            counts[date(moment.year, moment.month, 1)][column] += 1
    return pl.DataFrame([{"month": m, **counts[m]} for m in months], schema=MONTHLY_SCHEMA, orient="row")


def test_months_count_each_event_where_the_score_classes_it(hand_files):
    result = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=AS_OF)
    assert result.monthly.schema == pl.Schema(MONTHLY_SCHEMA)
    assert result.monthly.equals(expected_months(LOG, date(2024, 1, 1), date(2024, 4, 1)))


def test_months_run_to_as_of_and_leave_later_events_out(hand_files):
    later = datetime(2024, 6, 15, tzinfo=UTC)  # the late open, opt-out and delivery now count
    result = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=later)
    log = [(IN_RANGE_LATER.get(row[3], row[0]), *row[1:]) for row in LOG]
    # June holds no event: a month of zeros up to as_of.
    assert result.monthly.equals(expected_months(log, date(2024, 1, 1), date(2024, 6, 1)))
    early = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of="2024-01-31T23:59:59Z")
    january = [row for row in LOG if row[3] < "2024-02"]
    assert early.monthly.equals(expected_months(january, date(2024, 1, 1), date(2024, 1, 1)))


def test_feedback_mail_counts_in_its_month(hand_files):
    """Bounces and complaints read from DSN and ARF mail are part of the log (tests/fixtures/feedback)."""
    feedback = Path(__file__).resolve().parent / "fixtures" / "feedback"
    found = listkit.read_feedback(feedback).events
    plain = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=AS_OF)
    mixed = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=AS_OF, feedback=feedback)
    # Mail without a date counts as of the run (as the pipeline dates it); the fixtures are of March 2024.
    months = found.select(
        month=pl.col("timestamp").fill_null(AS_OF).dt.truncate("1mo").dt.date(), event=pl.col("event")
    )
    bounce_columns = ["hard_bounces", "soft_bounces", "blocks"]
    added = mixed.monthly.join(plain.monthly, on="month", suffix="_plain").select(
        "month",
        bounces=pl.sum_horizontal(bounce_columns) - pl.sum_horizontal(f"{c}_plain" for c in bounce_columns),
        complaints=pl.col("complaints") - pl.col("complaints_plain"),
    )
    expected = months.group_by("month").agg(
        bounces=(pl.col("event") == "bounce").sum().cast(pl.UInt64),
        complaints=(pl.col("event") == "complaint").sum().cast(pl.UInt64),
    )
    got = added.filter((pl.col("bounces") > 0) | (pl.col("complaints") > 0)).sort("month")
    assert got.equals(expected.sort("month").select(got.columns))
    assert found.height > 0 and int(got["bounces"].sum() + got["complaints"].sum()) == found.height


def test_a_streamed_log_gives_the_same_months_as_a_loaded_one(tmp_path, monkeypatch):
    events = listkit.read_events(SAMPLE / "events.csv")
    parquet = tmp_path / "events.parquet"
    events.drop("source_row", "event_raw").with_columns(pl.col("event").cast(pl.String)).write_parquet(
        parquet
    )
    loaded = listkit.run_files(SAMPLE / "subscribers.csv", parquet, as_of="2026-11-01", stream_events=False)
    # Slices of a seventh of the log: months that straddle slices must be merged, not repeated.
    monkeypatch.setattr(listkit.streaming, "BATCH_ROWS", events.height // 7)
    streamed = listkit.run_files(SAMPLE / "subscribers.csv", parquet, as_of="2026-11-01")
    assert streamed.monthly.equals(loaded.monthly)
    assert loaded.monthly.height >= 12 and loaded.monthly["month"].is_sorted()
    assert loaded.ledger.equals(streamed.ledger)


def test_monthly_totals_are_the_log_totals_the_ledger_is_built_from():
    """With as_of at the last event every event is in range: the months add up to the per-address sums."""
    subscribers = listkit.read_subscribers(SAMPLE / "subscribers.csv")
    events = listkit.read_events(SAMPLE / "events.csv")
    result = listkit.run(subscribers, events)
    context = listkit.activity.event_context(events, as_of=result.as_of, policy=result.policy)
    activity = listkit.activity.address_activity(events, context)
    same_names = {name: name for name in MONTHLY_COUNTS} | {"blocks": "policy_bounces"}
    assert result.monthly.select(list(MONTHLY_COUNTS)).sum().row(0) == tuple(
        int(activity[column].sum()) for column in same_names.values()
    )
    months = result.monthly["month"]
    first = events["timestamp"].min()
    assert months[0] == date(first.year, first.month, 1)
    assert months[-1] == date(result.as_of.year, result.as_of.month, 1)
    # Consecutive calendar months, none missing.
    assert months.to_list() == pl.date_range(months[0], months[-1], "1mo", eager=True).to_list()


def test_a_log_of_sends_only_counts_sends_that_did_not_bounce_as_deliveries(tmp_path):
    # Dan's send bounced for his campaign: it was not delivered.
    sends = [
        ("deliveries", "ann@example.com", "send", "2024-03-12T09:00:00", "mar-news", "", "", "", ""),
        ("deliveries", "bob@example.org", "send", "2024-03-12T09:00:00", "mar-news", "", "", "", ""),
        (None, "dan@example.com", "send", "2024-03-12T09:00:00", "mar-news", "", "", "", ""),
        (
            "soft_bounces",
            "dan@example.com",
            "bounce",
            "2024-03-12T09:00:05",
            "mar-news",
            "soft",
            FULL,
            "",
            "",
        ),
    ]
    events = tmp_path / "sends.csv"
    with events.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_HEADER)
        writer.writerows(event_rows(sends))
    pl.DataFrame({"email": [row[0] for row in SUBSCRIBERS]}).write_csv(tmp_path / "list.csv")
    result = listkit.run_files(tmp_path / "list.csv", events)
    assert result.monthly.equals(expected_months(sends, date(2024, 3, 1), date(2024, 3, 1)))


def test_without_events_the_months_are_an_empty_frame_with_the_schema(hand_files):
    result = listkit.run_files(hand_files["subscribers"])
    assert result.monthly.is_empty() and result.monthly.schema == pl.Schema(MONTHLY_SCHEMA)
    by_hand = RunResult(ledger=result.ledger, suppression=result.suppression, policy=Policy(), as_of=AS_OF)
    assert by_hand.monthly.is_empty() and by_hand.monthly.schema == pl.Schema(MONTHLY_SCHEMA)


def test_the_stored_run_keeps_the_months(hand_files, tmp_path):
    result = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=AS_OF)
    written = result.save(tmp_path / "run", prefix="run/")
    assert written[f"run/{RUN_FILES['monthly']}"] == result.monthly.height > 0
    assert RunResult.load(tmp_path / "run").monthly.equals(result.monthly)
    # A run stored before the months were kept still loads, with no months.
    (tmp_path / "run" / RUN_FILES["monthly"]).unlink()
    assert RunResult.load(tmp_path / "run").monthly.schema == pl.Schema(MONTHLY_SCHEMA)
    out = tmp_path / "out"
    listkit.export(result, out, report=False)
    assert pl.read_parquet(out / "run" / RUN_FILES["monthly"]).equals(result.monthly)


def test_the_ledger_keeps_the_deliveries_since_the_last_engagement(hand_files):
    result = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=AS_OF)
    columns = list(LEDGER_COLUMNS)
    assert columns.index("deliveries_since_engagement") == columns.index("deliveries_in_window") + 1
    ledger = result.ledger
    assert ledger.schema["deliveries_since_engagement"] == pl.UInt32
    assert ledger.schema["soft_bounce_streak"] == pl.UInt32
    # The oracle, from the annotations: deliveries up to as_of after the address's last human open or click.
    for email, *_ in SUBSCRIBERS:
        mine = [row for row in LOG if row[1] == email and at(row[3]) <= AS_OF]
        engaged = [at(r[3]) for r in mine if r[0] in ("human_opens", "clicks")]
        last = max(engaged, default=datetime.min.replace(tzinfo=UTC))
        want = sum(1 for r in mine if r[0] == "deliveries" and at(r[3]) > last)
        got = ledger.filter(pl.col("email") == email)["deliveries_since_engagement"].item()
        assert got == want, email


def test_progress_is_reported_after_each_stage_and_nothing_is_printed(hand_files, tmp_path, capsys):
    calls = []
    result = listkit.run_files(
        hand_files["subscribers"], hand_files["events"], as_of=AS_OF, progress=lambda *c: calls.append(c)
    )
    stages = [stage for stage, _, _ in calls]
    assert stages == [
        "reading",
        "survey",
        "activity",
        "monthly",
        "features",
        "addresses",
        "rules",
        "segments",
    ]
    assert all(isinstance(s, float) and s >= 0 for _, s, _ in calls)
    assert all(isinstance(v, int) for _, _, counts in calls for v in counts.values())
    counts = dict((stage, counts) for stage, _, counts in calls)
    assert counts["reading"] == {"rows": len(SUBSCRIBERS), "events": len(LOG)}
    assert counts["survey"] == {"events": len(LOG)}
    assert counts["rules"]["keep"] + counts["rules"]["prune"] == len(SUBSCRIBERS)
    assert counts["monthly"] == {"months": result.monthly.height}
    exported = []
    listkit.export(result, tmp_path / "out", report=False, progress=lambda *c: exported.append(c))
    assert [stage for stage, _, _ in exported] == ["export"]
    assert exported[0][2]["files"] >= 4
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_the_report_stage_is_reported_after_the_report_is_rendered(hand_files, tmp_path, monkeypatch):
    import listkit.render

    rendered = []

    def render(run_dir, target, **_):
        rendered.append(target)
        Path(target).write_text("<html></html>")

    monkeypatch.setattr(listkit.render, "render_report", render)
    result = listkit.run_files(hand_files["subscribers"], hand_files["events"], as_of=AS_OF)
    calls = []
    listkit.export(result, tmp_path / "out", progress=lambda stage, *_: calls.append((stage, len(rendered))))
    assert calls == [("export", 0), ("report", 1)]


def test_a_streamed_run_reports_the_same_stages(tmp_path):
    events = listkit.read_events(SAMPLE / "events.csv")
    parquet = tmp_path / "events.parquet"
    events.drop("source_row", "event_raw").with_columns(pl.col("event").cast(pl.String)).write_parquet(
        parquet
    )
    calls = []
    listkit.run_files(
        SAMPLE / "subscribers.csv",
        parquet,
        policy=Policy(n_segments=3),
        stream_events=True,
        progress=lambda *c: calls.append(c),
    )
    assert calls[0][0] == "reading" and calls[0][2]["events"] == events.height  # read into Parquet first
    assert dict((s, c) for s, _, c in calls)["survey"] == {"events": events.height}
    assert timedelta(seconds=sum(s for _, s, _ in calls)) < timedelta(minutes=1)
