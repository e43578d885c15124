"""Tests for listkit.synth: determinism, shapes, persona behaviour checked against the events themselves."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from email_validator import EmailNotValidError, validate_email

from listkit.addresses import ROLE_NAMES, check_addresses
from listkit.synth import (
    ADDRESS_KINDS,
    DEFAULT_AS_OF,
    PERSONAS,
    SyntheticData,
    synthesize,
    to_mailchimp_export,
    write_synthetic,
)

N = 4000
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SUBSCRIBER_COLUMNS = ["email", "first_name", "last_name", "signup_at", "source", "status", "plan", "country"]
EVENT_COLUMNS = [
    "email",
    "event",
    "timestamp",
    "campaign",
    "bounce_type",
    "smtp_status",
    "user_agent",
    "machine_open",
]
ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return synthesize(N, seed=7, campaigns_per_year=12)


@pytest.fixture(scope="module")
def facts(data: SyntheticData) -> pl.DataFrame:
    """Per-mailbox facts recomputed from the event log alone (trimmed, lower-cased address)."""
    start = (DEFAULT_AS_OF - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ev = data.events.with_columns(pl.col(pl.Enum).cast(pl.String)).with_columns(
        mailbox=pl.col("email").str.strip_chars().str.to_lowercase(), recent=pl.col("timestamp") >= start
    )
    human = ((pl.col("event") == "open") & ~pl.col("machine_open")) | (pl.col("event") == "click")
    last_delivery = pl.col("timestamp").filter(pl.col("event") == "delivered").max()
    last_human = pl.col("timestamp").filter(human).max()
    soft = (pl.col("event") == "bounce") & pl.col("smtp_status").str.contains(r"\b4\.\d")
    return ev.group_by("mailbox").agg(
        deliveries_365d=((pl.col("event") == "delivered") & pl.col("recent")).sum(),
        human_365d=(human & pl.col("recent")).sum(),
        human=human.sum(),
        since_engagement=(
            (pl.col("event") == "delivered") & (pl.col("timestamp") > last_human.fill_null(""))
        ).sum(),
        soft_after_delivery=(soft & (pl.col("timestamp") > last_delivery.fill_null(""))).sum(),
        machine_opens=(pl.col("event") == "open").filter(pl.col("machine_open")).sum(),
    )


def _with_facts(data: SyntheticData, facts: pl.DataFrame) -> pl.DataFrame:
    return data.truth.join(facts, on="mailbox", how="left", maintain_order="left").with_columns(
        pl.col(
            "deliveries_365d_right", "human_365d", "human", "soft_after_delivery", "since_engagement"
        ).fill_null(0)
    )


def test_same_seed_same_frames_and_files(tmp_path: Path) -> None:
    one, two = synthesize(600, seed=3, campaigns_per_year=12), synthesize(600, seed=3, campaigns_per_year=12)
    for name in ("subscribers", "events", "truth"):
        assert getattr(one, name).equals(getattr(two, name)), name
    assert not synthesize(600, seed=4, campaigns_per_year=12).subscribers.equals(one.subscribers)
    digests = []
    for run, data in enumerate((one, two)):
        paths = write_synthetic(data, tmp_path / str(run))
        assert sorted(p.name for p in paths.values()) == ["events.csv", "subscribers.csv", "truth.csv"]
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()])
    assert digests[0] == digests[1]


def test_shapes_and_alignment(data: SyntheticData) -> None:
    subs, events, truth = data.subscribers, data.events, data.truth
    assert subs.columns == SUBSCRIBER_COLUMNS and events.columns == EVENT_COLUMNS
    assert subs.height == truth.height == N
    assert truth["source_row"].to_list() == list(range(1, N + 1))
    assert truth["email"].equals(subs["email"])
    assert subs["signup_at"].str.contains(ISO).all()
    assert set(subs["status"]) == {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
    assert (subs["status"] == "subscribed").mean() > 0.9
    shares = truth["address_kind"].value_counts(normalize=True)
    for kind, share in zip(shares["address_kind"], shares["proportion"], strict=True):
        assert abs(share - ADDRESS_KINDS[kind]) < 0.015, kind
    placeholder = subs["first_name"].is_in(["[name]", "{{first_name}}", "*|FNAME|*", "test", "N/A"])
    assert 0.01 < (placeholder | subs["first_name"].is_null()).mean() < 0.05


def test_persona_proportions(data: SyntheticData) -> None:
    drawn = data.truth.filter(pl.col("address_kind").is_in(["clean", "messy", "role", "disposable", "idn"]))
    shares = dict(drawn["persona"].value_counts(normalize=True).iter_rows())
    assert set(shares) == set(PERSONAS)
    for persona, share in PERSONAS.items():
        assert abs(shares[persona] - share) < max(0.03, share / 2), persona
    assert (data.truth.filter(pl.col("address_kind") == "invalid")["persona"] == "unmailable").all()


def test_dormant_rows_meet_the_inactivity_rule(data: SyntheticData, facts: pl.DataFrame) -> None:
    dormant = _with_facts(data, facts).filter(pl.col("persona") == "dormant")
    assert dormant.height > 0.1 * N
    assert (dormant["deliveries_365d_right"] >= 10).all()
    assert (dormant["human"] == 0).all()
    assert dormant["expected_reasons"].str.contains("inactive").all()


def test_mpp_mailboxes_only_have_machine_opens_right_after_delivery(data: SyntheticData) -> None:
    mpp = data.truth.filter(pl.col("persona") == "mpp", pl.col("duplicate_of").is_null())["mailbox"]
    ev = (
        data.events.with_columns(pl.col(pl.Enum).cast(pl.String))
        .with_columns(
            mailbox=pl.col("email").str.strip_chars().str.to_lowercase(),
            at=pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ"),
        )
        .filter(pl.col("mailbox").is_in(mpp.implode()))
    )
    assert ev.filter(pl.col("event") == "click").height == 0
    opens = ev.filter(pl.col("event") == "open")
    assert opens.height > 5 * mpp.len()
    assert opens["machine_open"].all() and (opens["user_agent"] == "Mozilla/5.0").all()
    delivered = ev.filter(pl.col("event") == "delivered").select("mailbox", "campaign", delivered="at")
    lag = opens.join(delivered, on=["mailbox", "campaign"])
    assert lag.height == opens.height
    assert ((lag["at"] - lag["delivered"]).dt.total_seconds().is_between(1, 60)).all()


def test_truth_agrees_with_the_events(data: SyntheticData, facts: pl.DataFrame) -> None:
    t = _with_facts(data, facts).filter(pl.col("mailbox").is_not_null())
    assert t["deliveries_365d"].equals(t["deliveries_365d_right"], check_names=False)
    assert t["human_engagements_365d"].equals(t["human_365d"], check_names=False)
    reasons = t["expected_reasons"].str.split(";")
    assert t["deliveries_since_engagement"].equals(t["since_engagement"], check_names=False)
    inactive = (t["since_engagement"] >= 10) & (t["human_365d"] == 0)
    assert reasons.list.contains("inactive").equals(inactive, check_names=False)
    streak = t["soft_after_delivery"] >= 3
    assert reasons.list.contains("soft_bounce_repeated").equals(streak, check_names=False)
    by_persona = t.group_by("persona").agg(
        hard=pl.col("expected_reasons").str.contains("hard_bounce").mean(),
        soft=pl.col("expected_reasons").str.contains("soft_bounce_repeated").mean(),
        complaint=pl.col("expected_reasons").str.contains("complaint").mean(),
        unsub=pl.col("expected_reasons").str.contains("unsubscribed").mean(),
    )
    rates = {row["persona"]: row for row in by_persona.iter_rows(named=True)}
    assert rates["hard_bounce"]["hard"] > 0.8 and rates["engaged"]["hard"] == 0
    assert rates["soft_bounce"]["soft"] > 0.7 and rates["complainer"]["complaint"] > 0.8
    assert rates["unsubscriber"]["unsub"] > 0.8 and rates["engaged"]["unsub"] == 0
    assert "hard_bounce" not in "".join(t.filter(pl.col("persona") == "policy_block")["expected_reasons"])


def test_address_truth(data: SyntheticData) -> None:
    t = data.truth

    def valid(email: str | None) -> bool:
        try:
            validate_email((email or "").strip(), check_deliverability=False)
        except EmailNotValidError:
            return False
        return True

    verdicts = [valid(e) for e in t["email"]]
    assert [not v for v in verdicts] == t["invalid"].to_list()
    typo = t.filter(pl.col("typo_of").is_not_null())
    assert (typo["address_kind"] == "typo").all() and typo.height > 0.005 * N
    assert (
        typo["typo_of"]
        .str.split("@")
        .list.last()
        .is_in(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com"])
        .all()
    )
    assert not typo["typo_of"].is_in(t["mailbox"].drop_nulls().implode()).any()
    assert (typo["email"].str.split("@").list.last() != typo["typo_of"].str.split("@").list.last()).all()
    assert t.filter(pl.col("address_kind") == "disposable")["disposable"].all()
    assert t.filter(pl.col("address_kind") == "clean")["disposable"].mean() < 0.01
    roles = t.filter(pl.col("role"))["email"].str.split("@").list.first()
    assert roles.is_in(list(ROLE_NAMES)).all(), "synthetic role addresses are role names listkit knows"
    assert t.filter(pl.col("idn"))["email"].str.contains(r"[^\x00-\x7f]").all()


def _mailbox_keys(emails: list[str]) -> list[str | None]:
    """listkit's own provider-aware mailbox key (Gmail dots and +tags, googlemail...)."""
    return check_addresses(pl.Series(emails, dtype=pl.String))["mailbox_key"].to_list()


def test_duplicates_point_at_an_earlier_row_of_the_same_mailbox(data: SyntheticData) -> None:
    t = data.truth
    dups = t.filter(pl.col("duplicate_of").is_not_null())
    assert dups.height > 0.02 * N and (dups["duplicate_of"] < dups["source_row"]).all()
    assert set(dups["duplicate_kind"]) == {"exact", "case", "space", "gmail_dots", "plus_tag", "googlemail"}
    originals = t["email"].gather(dups["duplicate_of"] - 1).to_list()
    assert _mailbox_keys(dups["email"].to_list()) == _mailbox_keys(originals)
    keys = _mailbox_keys(t.filter(pl.col("duplicate_of").is_null(), ~pl.col("invalid"))["email"].to_list())
    assert len(keys) == len(set(keys)), "only rows marked as duplicates may share a mailbox"


def test_events_look_like_an_esp_export(data: SyntheticData) -> None:
    ev = data.events.with_columns(pl.col(pl.Enum).cast(pl.String))
    assert set(ev["event"]) == {"send", "delivered", "open", "click", "bounce", "complaint", "unsubscribe"}
    assert ev["timestamp"].str.contains(ISO).all()
    assert ev["timestamp"].max() < DEFAULT_AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ev["timestamp"].min() < (DEFAULT_AS_OF - timedelta(days=700)).strftime("%Y-%m-%d")
    assert not ev["timestamp"].is_sorted()
    listed = set(data.truth["mailbox"].drop_nulls())
    unknown = ~ev["email"].str.strip_chars().str.to_lowercase().is_in(listed)
    assert 0.002 < unknown.mean() < 0.03
    assert 0.01 < (ev["email"] != ev["email"].str.strip_chars().str.to_lowercase()).mean() < 0.03
    opens = ev.filter(pl.col("event") == "open", ~pl.col("machine_open"))
    assert opens["user_agent"].str.len_chars().min() > 40
    bounces = ev.filter(pl.col("event") == "bounce")
    hard = bounces.filter(pl.col("bounce_type") == "hard")
    assert hard["smtp_status"].str.contains(r"\b5\.[12]\.").all()
    policy = bounces.filter(pl.col("smtp_status").str.contains("5.7.1", literal=True))
    assert policy.height > 0 and policy["bounce_type"].is_null().all()
    assert bounces.filter(pl.col("bounce_type") == "soft")["smtp_status"].str.contains(r"\b4\.").all()
    assert ev.filter(pl.col("event").is_in(["send", "delivered"]))["user_agent"].is_null().all()


def test_as_of_moves_the_window() -> None:
    as_of = datetime(2024, 6, 1, 12, tzinfo=UTC)
    data = synthesize(300, seed=1, as_of=as_of, campaigns_per_year=24)
    stamps = data.events["timestamp"]
    assert stamps.max() < "2024-06-01T12:00:00Z" and stamps.min() > "2022-05-01"
    with pytest.raises(ValueError, match="campaigns_per_year"):
        synthesize(10, campaigns_per_year=4)
    with pytest.raises(ValueError, match="n_subscribers"):
        synthesize(-1)
    assert synthesize(0).subscribers.height == 0


def test_parquet_and_mailchimp_export(data: SyntheticData, tmp_path: Path) -> None:
    paths = write_synthetic(data, tmp_path, format="parquet")
    back = pl.read_parquet(paths["events"]).with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.String))
    assert back.equals(data.events.with_columns(pl.col(pl.Enum).cast(pl.String)))
    mc = to_mailchimp_export(data.subscribers.head(500))
    assert mc.columns == [
        "Email Address",
        "First Name",
        "Last Name",
        "Address",
        "Phone Number",
        "MEMBER_RATING",
        "OPTIN_TIME",
        "OPTIN_IP",
        "CONFIRM_TIME",
        "CONFIRM_IP",
        "LATITUDE",
        "LONGITUDE",
        "GMTOFF",
        "DSTOFF",
        "TIMEZONE",
        "CC",
        "REGION",
        "LAST_CHANGED",
        "LEID",
        "EUID",
        "NOTES",
        "TAGS",
    ]
    assert mc.height == 500
    assert mc["Email Address"].equals(data.subscribers["email"].head(500), check_names=False)
    assert mc["OPTIN_TIME"].str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").all()
    assert (mc["CONFIRM_TIME"] >= mc["OPTIN_TIME"]).all()


@pytest.mark.skipif(not (SAMPLE / "events.csv").exists(), reason="no bundled sample")
def test_bundled_sample_is_reproducible(tmp_path: Path) -> None:
    paths = write_synthetic(synthesize(3000, seed=0, campaigns_per_year=10), tmp_path)
    for path in paths.values():
        assert path.read_bytes() == (SAMPLE / path.name).read_bytes(), path.name
    assert (SAMPLE / "events.csv").stat().st_size < 8_000_000
    mailchimp = pl.read_csv(SAMPLE / "mailchimp_subscribed_members_export.csv", infer_schema=False)
    assert mailchimp.height == 500
