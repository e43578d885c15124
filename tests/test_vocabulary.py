"""The ESP vocabulary: every ESP's suppressing events read right, loaded or streamed, whatever the spelling.

The fixtures under tests/fixtures/esp/ follow each ESP's documentation (see their README); each row's
expected meaning is written below as ``event`` or ``event/verdict``.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listkit import read_events, read_subscribers, scan_events
from listkit.schema import (
    EVENT_ALIASES,
    EVENT_NAME_CHOICES,
    EVENT_VOCABULARY,
    SUBSCRIBER_ALIASES,
    SUBTYPE_MEANINGS,
    SUBTYPE_VOCABULARY,
    looks_suppressing,
    status_cause,
    vocabulary_keys,
)

ESP = Path(__file__).parent / "fixtures" / "esp"
SUPPRESSING = {"bounce", "complaint", "unsubscribe"}
MEANING = ["event", "bounce_type", "machine_open"]

# fixture: (ESP in EVENT_VOCABULARY, the meaning of each row)
# fmt: off
FIXTURES: dict[str, tuple[str, list[str]]] = {
    "mailchimp_webhooks.csv": ("mailchimp", [
        "unknown", "unknown", "unsubscribe", "bounce/hard", "complaint", "unknown", "unknown"
    ]),
    "mailchimp_email_activity.csv": ("mailchimp", [
        "send", "open", "click", "bounce/hard", "bounce/soft", "unsubscribe", "complaint"
    ]),
    "mandrill_webhooks.csv": ("mandrill", [
        "send", "unknown", "bounce/hard", "bounce/soft", "open", "click", "complaint", "unsubscribe",
        "bounce/hard", "complaint", "unsubscribe", "unsubscribe", "unknown"
    ]),
    "sendgrid_events.csv": ("sendgrid", [
        "send", "delivered", "unknown", "bounce/hard", "bounce/block", "bounce/hard", "unsubscribe",
        "complaint", "unknown", "complaint", "unsubscribe", "unsubscribe", "unknown"
    ]),
    "mailgun_events.csv": ("mailgun", [
        "send", "delivered", "bounce/hard", "bounce/soft", "bounce/hard", "unsubscribe", "complaint",
        "open", "click", "unsubscribe", "complaint", "unknown"
    ]),
    "ses_events.csv": ("ses", [
        "send", "delivered", "bounce/hard", "bounce/hard", "bounce/soft", "bounce/block", "bounce",
        "complaint", "unknown", "open", "click", "unknown", "unsubscribe", "unknown"
    ]),
    "postmark_webhooks.csv": ("postmark", [
        "delivered", "bounce/hard", "bounce/soft", "bounce/soft", "bounce/block", "complaint",
        "unknown", "complaint", "open", "click", "unsubscribe", "bounce/hard", "unknown"
    ]),
    "sparkpost_events.csv": ("sparkpost", [
        "send", "delivered", "bounce/hard", "bounce/soft", "bounce/block", "unsubscribe",
        "bounce/hard", "unsubscribe", "unknown", "open", "open", "click", "click", "complaint",
        "unsubscribe", "unsubscribe", "unknown"
    ]),
    "mailjet_events.csv": ("mailjet", [
        "send", "open", "click", "bounce/hard", "bounce/soft", "bounce/hard", "unsubscribe",
        "unknown", "complaint", "unsubscribe"
    ]),
    "brevo_webhooks.csv": ("brevo", [
        "send", "delivered", "bounce/hard", "bounce/soft", "bounce/hard", "unsubscribe", "unknown",
        "open", "open", "click", "complaint", "unsubscribe", "unknown"
    ]),
    "klaviyo_events.csv": ("klaviyo", [
        "delivered", "open", "click", "bounce/hard", "bounce/soft", "unsubscribe", "complaint",
        "unsubscribe", "unsubscribe", "unsubscribe", "unknown"
    ]),
    "hubspot_email_events.csv": ("hubspot", [
        "send", "send", "delivered", "unknown", "bounce/hard", "bounce/soft", "bounce/block",
        "bounce/hard", "complaint", "unsubscribe", "unknown", "open", "click", "complaint",
        "unsubscribe", "unknown"
    ]),
    "braze_currents.csv": ("braze", [
        "send", "delivered", "open", "open", "click", "bounce/hard", "bounce/soft", "complaint",
        "unsubscribe", "unknown"
    ]),
    "iterable_events.csv": ("iterable", [
        "send", "open", "click", "bounce", "complaint", "unsubscribe", "unsubscribe", "unknown",
        "unknown"
    ]),
    "customerio_webhooks.csv": ("customer.io", [
        "send", "delivered", "open", "click", "unknown", "bounce", "complaint", "unsubscribe",
        "unsubscribe", "unsubscribe", "bounce"
    ]),
    "listmonk_bounces.csv": ("listmonk", ["bounce/hard", "bounce/soft", "complaint"]),
}
# fmt: on


def meanings(frame: pl.DataFrame) -> list[str]:
    return [
        event if verdict is None else f"{event}/{verdict}"
        for event, verdict in zip(frame["event"].cast(pl.String), frame["bounce_type"], strict=True)
    ]


def as_parquet(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_esp_event_means_what_its_documentation_says(name: str) -> None:
    loaded = read_events(ESP / name)
    assert meanings(loaded) == FIXTURES[name][1]
    assert loaded["event_raw"].null_count() == 0  # the names as the ESP wrote them


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_fixture_streamed_from_parquet_reads_as_it_loads(name: str, tmp_path: Path) -> None:
    text = pl.read_csv(ESP / name, infer_schema=False)
    parquet = as_parquet(text, tmp_path / "log.parquet")
    loaded, scanned = read_events(parquet), scan_events(parquet).collect().drop("log_part")
    assert scanned.equals(loaded)
    assert loaded.select(MEANING).equals(read_events(ESP / name).select(MEANING))
    # Low-cardinality columns often come as Enum (polars writes them so): mapped by code, same result.
    keys = vocabulary_keys(text.columns)
    coded = [
        c for c, k in zip(text.columns, keys, strict=True) if k in SUBTYPE_MEANINGS or c == text.columns[0]
    ]
    enums = text.with_columns(pl.col(c).cast(pl.Enum(text[c].drop_nulls().unique().sort())) for c in coded)
    parquet = as_parquet(enums, tmp_path / "enums.parquet")
    assert scan_events(parquet).collect().select(MEANING).equals(loaded.select(MEANING))


def test_brevo_proxy_opens_and_braze_flags_are_machine_opens() -> None:
    assert read_events(ESP / "brevo_webhooks.csv")["machine_open"].to_list()[7:9] == [None, True]
    assert read_events(ESP / "braze_currents.csv")["machine_open"].to_list()[2:4] == [True, False]


def test_every_esp_has_a_fixture_with_every_suppressing_kind_it_reports() -> None:
    covered: dict[str, set[str]] = {}
    for esp, rows in FIXTURES.values():
        covered.setdefault(esp, set()).update(row.split("/")[0] for row in rows)
    assert set(covered) == set(EVENT_VOCABULARY) - {"listkit"}
    for esp, names in EVENT_VOCABULARY.items():
        reported = {meaning.event for meaning in names.values()} & SUPPRESSING
        assert esp == "listkit" or reported <= covered[esp], esp


# --- spellings ----------------------------------------------------------------------------------

INVISIBLE = ["\u200b", "\ufeff", "\u00ad", "\u2060", "\u200e", "\u200d", "\u202a", " ", "\u00a0", "\t"]


@pytest.mark.parametrize("noise", INVISIBLE)
def test_invisible_characters_do_not_hide_a_suppressing_event(noise: str) -> None:
    names = ["unsubscribed", "SpamComplaint", "hard_bounce", "Marked Email as Spam", "spam_complaint"]
    spellings = [[name, f"{noise}{name}", f"{name}{noise}", f"{name[:3]}{noise}{name[3:]}"] for name in names]
    rows = [["email", "event", "timestamp"]]
    rows += [["a@x.com", spelling, "2024-03-01"] for group in spellings for spelling in group]
    frame = read_events("\n".join(",".join(f'"{cell}"' for cell in row) for row in rows).encode())
    spelled = meanings(frame)
    assert spelled == [meaning for meaning in spelled[::4] for _ in range(4)]
    assert set(spelled) == {"unsubscribe", "complaint", "bounce/hard"}
    assert frame["event_raw"].to_list()[1] == f"{noise}unsubscribed"  # kept as given


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        ("unsubscribed", "unsubscribed"),
        ("\u200bunsubscribed", "unsubscribed"),
        ("unsubscribed\ufeff", "unsubscribed"),
        ("un\u00adsubscribed", "unsubscribed"),
        (" Unsubscribed\u2060 ", "unsubscribed"),
        ("Cleaned", "hard_bounce"),
        ("\u200eCLEANED", "hard_bounce"),
        ("bounced", "hard_bounce"),
        ("Hard Bounced", "hard_bounce"),
        ("HARD_BOUNCE", "hard_bounce"),
        ("complained", "complaint"),
        ("SPAM_COMPLAINT", "complaint"),
        ("spam", "complaint"),
        ("blocklisted", "unsubscribed"),
        ("blacklisted", "unsubscribed"),
        ("suppressed", "unsubscribed"),
        ("Opted out", "unsubscribed"),
        ("opt-out", "unsubscribed"),
        ("NOT_SUBSCRIBED", "unsubscribed"),
        ("subscribed", None),
        ("SUBSCRIBED", None),
        ("pending", None),
        ("soft bounced", None),
        ("", None),
        (None, None),
    ],
)
def test_status_cause_reads_every_spelling(status: str | None, cause: str | None) -> None:
    frame = pl.DataFrame({"status": [status]}, schema={"status": pl.String})
    assert frame.select(status_cause(pl.col("status"))).item() == cause


def test_the_status_column_is_kept_as_given_and_only_its_meaning_is_normalised() -> None:
    data = 'email,status\na@x.com,"\u200bunsubscribed"\nb@x.com,"complained\ufeff"\nc@x.com,subscribed\n'
    frame = read_subscribers(data.encode())
    assert frame["status"].to_list() == ["\u200bunsubscribed", "complained\ufeff", "subscribed"]
    causes = frame.lazy().select(status_cause(pl.col("status"))).collect(engine="streaming")
    assert causes.to_series().to_list() == ["unsubscribed", "complaint", None]


@pytest.mark.parametrize(
    "name",
    ["list_suppression", "Opt-Out", "optedout", "email.blocklisted", "Marked as Junk", "feedback_loop",
     "soft-fail", "address_invalid", "\u200bspam_trap_hit", "ABUSE_REPORT", "Unsubscribe Request",
     "bounce.permanent", "message_rejected", "Email Dropped"],
)  # fmt: skip
def test_unknown_names_that_may_mean_do_not_mail_look_suppressing(name: str) -> None:
    assert looks_suppressing(name)
    assert (
        read_events(f"email,event,timestamp\na@x.com,{name},2024-03-01\n".encode())["event"][0] == "unknown"
    )


@pytest.mark.parametrize(
    "name",
    ["Opened Email", "page_view", "deferred", "", "converted",
     # known names: their meaning is decided in the vocabulary, whatever they say
     "dropped", "blocked", "hard_bounce", "SUPPRESSED", "emailSendSkip", "Reject", "\u200bunsubscribed"],
)  # fmt: skip
def test_other_names_do_not_look_suppressing(name: str) -> None:
    assert not looks_suppressing(name)


# --- the vocabulary itself ----------------------------------------------------------------------


@pytest.mark.parametrize("aliases", [EVENT_ALIASES, SUBSCRIBER_ALIASES])
def test_no_header_is_claimed_by_two_canonical_columns(aliases: dict[str, tuple[str, ...]]) -> None:
    owners: dict[str, set[str]] = {}
    for canonical, names in aliases.items():
        for name in names:
            owners.setdefault(name.strip().casefold(), set()).add(canonical)
    assert {name: found for name, found in owners.items() if len(found) > 1} == {}


def test_every_recorded_choice_settles_a_real_disagreement() -> None:
    for key, chosen in EVENT_NAME_CHOICES.items():
        given = {
            meaning
            for names in EVENT_VOCABULARY.values()
            for name_key, meaning in zip(vocabulary_keys(names), names.values(), strict=True)
            if name_key == key
        }
        assert len(given) > 1 and chosen in given, key


def test_type_is_the_event_alone_and_a_subtype_beside_an_event_column() -> None:
    alone = read_events(b"recipient,type,created\na@x.com,BOUNCE,1709287200000\n")
    beside = read_events(b"email,event,type,timestamp\na@x.com,bounce,blocked,1709287200\n")
    assert meanings(alone) == ["bounce"] and meanings(beside) == ["bounce/block"]
    assert "type" in beside.columns  # a subtype column passes through


# --- loaded and streamed agree on anything ------------------------------------------------------

NAMES = sorted({name for names in EVENT_VOCABULARY.values() for name in names})
# The subtype columns of several ESPs side by side (a mix no ESP writes, which makes it a harder test).
SUBTYPE_HEADERS = [
    "type",
    "reason",
    "severity",
    "bounceSubType",
    "bounce_class",
    "dropReason",
    "SuppressSending",
]
VALUES = sorted(
    {value for columns in SUBTYPE_VOCABULARY.values() for values in columns.values() for value in values}
)
JUNK = st.sampled_from(["", "mystery", "list_suppression", "5.1.1", "Permanent", "true"])


def spelled(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), f" {word}", f"\u200b{word}", word.replace("_", "-")])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(NAMES).flatmap(spelled) | JUNK,
            *[st.none() | st.sampled_from(VALUES) | JUNK for _ in SUBTYPE_HEADERS],
            st.sampled_from([None, "true", "false", "yes"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_property_loaded_and_streamed_give_the_same_meaning(rows: list[tuple], tmp_path_factory) -> None:
    headers = ["event", *SUBTYPE_HEADERS, "machine_open"]
    text = pl.DataFrame(
        [dict(zip(headers, row, strict=True)) for row in rows], schema=dict.fromkeys(headers, pl.String)
    )
    text = text.with_columns(email=pl.lit("a@x.com"), timestamp=pl.lit("2024-03-01T10:00:00Z"))
    parquet = as_parquet(text, tmp_path_factory.mktemp("log") / "log.parquet")
    loaded = read_events(parquet)
    assert scan_events(parquet).collect().drop("log_part").equals(loaded)
    csv = io.BytesIO()
    text.write_csv(csv)
    assert read_events(csv.getvalue()).select(MEANING).equals(loaded.select(MEANING))
    assert loaded.filter(pl.col("event") != "bounce")["bounce_type"].is_null().all()


def test_a_row_means_what_it_means_alone_whatever_rows_share_its_chunk(tmp_path: Path) -> None:
    """A row's meaning depends on its own values only; values that compare equal but read
    differently (a float's -0.0 and 0.0) may mean different things."""
    log = pl.DataFrame(
        {
            "email": [f"u{i}@example.com" for i in range(4)],
            "event": ["open"] * 4,
            "timestamp": ["2026-01-01T00:00:00Z"] * 4,
            "machine_open": [-0.0, 0.0, 0.0, -0.0],
        }
    )
    whole = read_events(as_parquet(log, tmp_path / "whole.parquet"))
    alone = pl.concat(
        read_events(as_parquet(log.slice(i, 1), tmp_path / f"row{i}.parquet")).drop("source_row")
        for i in range(log.height)
    )
    assert whole.select(MEANING).equals(alone.select(MEANING))
