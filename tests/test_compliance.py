"""Provider compliance: complaint, bounce and unsubscribe rates against the bulk-sender limits."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from listkit.compliance import PERIODS, PROVIDER_ORDER, provider_compliance
from listkit.diagnostics import reputation_warnings
from listkit.providers import group_of
from listkit.schema import EVENT_COLUMNS

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
RECENT = datetime(2024, 6, 20, tzinfo=UTC)  # inside the last 30 days
OLD = datetime(2024, 3, 1, tzinfo=UTC)  # only in "all history"
LATER = datetime(2024, 7, 5, tzinfo=UTC)  # after as_of: ignored


def _events(spec: list[tuple[str, str, datetime, int]]) -> pl.DataFrame:
    """A canonical event frame with ``count`` copies of each (email, event, timestamp)."""
    rows = [(email, event, when) for email, event, when, count in spec for _ in range(count)]
    schema = {"email": pl.String, "event": pl.String, "timestamp": EVENT_COLUMNS["timestamp"]}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.select(
        pl.int_range(1, pl.len() + 1).cast(pl.UInt32).alias("source_row"),
        "email",
        pl.col("event").cast(EVENT_COLUMNS["event"]),
        pl.col("event").alias("event_raw"),
        "timestamp",
        **{name: pl.lit(None, dtype) for name, dtype in list(EVENT_COLUMNS.items())[5:]},
    ).select(list(EVENT_COLUMNS))


SPEC = [
    # Gmail: 3 complaints per 1,000 recent deliveries (the limit), diluted by 1,000 older ones.
    ("reader@gmail.com", "delivered", RECENT, 1000),
    ("reader@googlemail.com", "complaint", RECENT, 3),
    ("reader@gmail.com", "delivered", OLD, 1000),
    ("reader@gmail.com", "complaint", LATER, 50),
    # Yahoo/AOL through regional and sister domains: 1 per 1,000 (the target).
    ("a@yahoo.co.uk", "delivered", RECENT, 600),
    ("b@ymail.com", "delivered", RECENT, 300),
    ("c@aol.com", "delivered", RECENT, 100),
    ("a@yahoo.co.uk", "complaint", RECENT, 1),
    # Microsoft, spelled untidily: no complaints, some bounces and unsubscribes.
    ("  Someone@Hotmail.FR ", "delivered", RECENT, 500),
    ("x@outlook.com", "bounce", RECENT, 5),
    ("x@live.com", "unsubscribe", OLD, 2),
    # other: a company "live." domain is not Microsoft; one old complaint.
    ("ceo@live.example.org", "delivered", OLD, 100),
    ("ceo@live.example.org", "complaint", OLD, 1),
    ("not-an-address", "bounce", OLD, 1),
]


@pytest.fixture(scope="module")
def report() -> pl.DataFrame:
    return provider_compliance(_events(SPEC), as_of=AS_OF)


def _row(report: pl.DataFrame, provider: str, period: str) -> dict:
    return report.filter(provider=provider, period=period).row(0, named=True)


def test_group_of_exact_and_regional_domains():
    domains = pl.Series(
        ["gmail.com", "GoogleMail.com ", "yahoo.com.br", "rocketmail.com", "aol.de", "hotmail.co.uk",
         "live.fr", "msn.com", "outlook.com.", "icloud.com", "me.com", "mac.com", "example.com",
         "live.example.org", "yahoo.example.com", None]
    )  # fmt: skip
    assert pl.select(group_of(pl.lit(domains))).to_series().to_list() == [
        "Gmail", "Gmail", "Yahoo/AOL", "Yahoo/AOL", "Yahoo/AOL", "Microsoft", "Microsoft", "Microsoft",
        "Microsoft", "Apple", "Apple", "Apple", "other", "other", "other", "other",
    ]  # fmt: skip


def test_rows_columns_and_order(report):
    assert report.select("provider", "period").rows() == [
        (provider, period) for provider in (*PROVIDER_ORDER, "all") for period in PERIODS
    ]
    assert report.columns == [
        "provider", "period", "deliveries", "complaints", "complaint_rate", "bounces", "bounce_rate",
        "blocks", "block_rate", "unsubscribes", "unsubscribe_rate", "complaint_status", "deliveries_from",
    ]  # fmt: skip
    assert report.schema["complaint_rate"] == pl.Float64 and report.schema["deliveries"] == pl.Int64


def test_counts_rates_and_verdicts(report):
    gmail_recent = _row(report, "Gmail", "last 30 days")
    assert gmail_recent["deliveries"] == 1000 and gmail_recent["complaints"] == 3  # the later 50 are ignored
    assert gmail_recent["complaint_rate"] == pytest.approx(0.003)
    assert gmail_recent["complaint_status"] == "over 0.3% limit"
    gmail_all = _row(report, "Gmail", "all history")
    assert gmail_all["deliveries"] == 2000 and gmail_all["complaint_rate"] == pytest.approx(0.0015)
    assert gmail_all["complaint_status"] == "above 0.1% target"

    yahoo = _row(report, "Yahoo/AOL", "last 30 days")
    assert (yahoo["deliveries"], yahoo["complaints"]) == (1000, 1)
    assert yahoo["complaint_status"] == "above 0.1% target"

    ms_recent = _row(report, "Microsoft", "last 30 days")
    assert (ms_recent["deliveries"], ms_recent["bounces"], ms_recent["unsubscribes"]) == (500, 5, 0)
    assert ms_recent["bounce_rate"] == pytest.approx(0.01)
    assert ms_recent["complaint_rate"] == 0.0 and ms_recent["complaint_status"] == "ok"
    microsoft_all = _row(report, "Microsoft", "all history")
    assert microsoft_all["unsubscribes"] == 2 and microsoft_all["unsubscribe_rate"] == pytest.approx(0.004)

    apple = _row(report, "Apple", "all history")
    assert apple["deliveries"] == 0 and apple["complaint_rate"] is None and apple["bounce_rate"] is None
    assert apple["complaint_status"] == "no deliveries"

    other_recent, other_all = _row(report, "other", "last 30 days"), _row(report, "other", "all history")
    assert other_recent["complaint_status"] == "no deliveries"
    assert (other_all["deliveries"], other_all["complaints"], other_all["bounces"]) == (100, 1, 1)
    assert other_all["complaint_status"] == "over 0.3% limit"


def test_all_row_sums_the_providers(report):
    everyone = _row(report, "all", "all history")
    assert (everyone["deliveries"], everyone["complaints"], everyone["bounces"]) == (3600, 5, 6)
    assert everyone["complaint_rate"] == pytest.approx(5 / 3600)
    recent = _row(report, "all", "last 30 days")
    assert (recent["deliveries"], recent["complaints"]) == (2500, 4)
    assert set(report["deliveries_from"]) == {"delivered"}


def test_sends_are_the_denominator_when_the_log_has_no_deliveries(report):
    sends_only = [
        (email, "send" if event == "delivered" else event, when, n) for email, event, when, n in SPEC
    ]
    from_sends = provider_compliance(_events(sends_only), as_of=AS_OF)
    assert set(from_sends["deliveries_from"]) == {"send"}
    assert from_sends.drop("deliveries_from").equals(report.drop("deliveries_from"))


def test_delivered_wins_over_send_when_both_are_logged():
    both = provider_compliance(
        _events([("a@gmail.com", "send", RECENT, 10), ("a@gmail.com", "delivered", RECENT, 8)]),
        as_of=AS_OF,
    )
    assert _row(both, "Gmail", "last 30 days")["deliveries"] == 8
    assert set(both["deliveries_from"]) == {"delivered"}


def test_empty_log_and_naive_as_of():
    empty = provider_compliance(_events([]), as_of=datetime(2024, 6, 30))
    assert empty.height == 12
    assert set(empty["complaint_status"]) == {"no deliveries"}
    assert empty["deliveries"].sum() == 0


def test_reputation_blocks_are_counted_apart_and_said_aloud():
    spec = [("a@hotmail.com", "delivered", RECENT, 400), ("b@gmail.com", "delivered", RECENT, 400)]
    events = _events([*spec, ("a@hotmail.com", "bounce", RECENT, 6), ("b@gmail.com", "bounce", RECENT, 2)])
    events = events.with_columns(
        smtp_status=pl.when(pl.col("event") == "bounce").then(
            pl.lit(
                "550 5.7.1 Unfortunately, messages from [203.0.113.9] weren't sent. Our servers blocked it"
            )
        )
    )
    table = provider_compliance(events, as_of=AS_OF)
    microsoft = _row(table, "Microsoft", "last 30 days")
    assert (microsoft["bounces"], microsoft["blocks"]) == (6, 6)
    assert microsoft["block_rate"] == pytest.approx(0.015)
    [warning] = reputation_warnings(table)  # Gmail's 2 blocks (0.5%) are too few to warn about
    assert warning.code == "reputation_blocks" and list(warning.details) == ["Microsoft"]
    assert "Microsoft 6 (1.5% of deliveries)" in warning.message
    assert reputation_warnings(provider_compliance(_events(spec), as_of=AS_OF)) == []
