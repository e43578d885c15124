"""Bounce reasons: the registry, the classifier on real-looking diagnostics, and sisimai's labelled corpus."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from listkit.bounces import (
    BOUNCE_REASONS,
    EFFECT_CLASSES,
    SISIMAI_REASONS,
    UNCLASSIFIED,
    classify_bounces,
    reason_effect,
    status_pattern,
)
from listkit.errors import InputError, ListkitError
from listkit.feedback import read_feedback

SISIMAI = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "sisimai"


def _classify(*statuses: str | None, bounce_type: str | None = None) -> list[tuple[str, str]]:
    frame = pl.DataFrame(
        {"smtp_status": list(statuses), "bounce_type": [bounce_type] * len(statuses)},
        schema={"smtp_status": pl.String, "bounce_type": pl.String},
    )
    return classify_bounces(frame).select("bounce_reason", "bounce_class").rows()


def test_the_registry_names_every_reason_once_with_its_effect_and_meaning():
    assert list(BOUNCE_REASONS) == [r.name for r in BOUNCE_REASONS.values()]
    for reason in BOUNCE_REASONS.values():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", reason.name)
        assert reason.effect in EFFECT_CLASSES and len(reason.meaning) > 20
    assert set(EFFECT_CLASSES) == {"dead", "temporary", "block", "ignore"}
    # The list's decisions: a disabled mailbox is dead; a block never is.
    assert reason_effect("mailbox_disabled") == "dead"
    assert {r.effect for r in BOUNCE_REASONS.values() if r.name in ("blocked", "policy_violation")} == {
        "block"
    }
    assert set(SISIMAI_REASONS.values()) <= set(BOUNCE_REASONS)


def test_an_unknown_reason_name_is_a_clear_error():
    with pytest.raises(ListkitError, match="'hardbounce' is not a bounce reason; use one of user_unknown"):
        reason_effect("hardbounce")


#: (diagnostic as MTAs and ESPs write it, expected reason); the class follows from the reason's effect.
DIAGNOSTICS = [
    # The permanent failures that a generic code or none used to hide: all dead.
    ("550 5.0.0 <kim@example.com>... User unknown", "user_unknown"),
    ("550 unknown user", "user_unknown"),
    ("No such user", "user_unknown"),
    ("Unknown Recipient", "user_unknown"),
    ("553 5.3.0 No such user here", "user_unknown"),
    ("mailbox unavailable", "user_unknown"),
    ("5.1.1 smtp; 550 5.1.1 <x@example.org>: Recipient address rejected: User unknown", "user_unknown"),
    ("550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking",
     "user_unknown"),
    ("550 5.5.0 Requested action not taken: mailbox unavailable", "user_unknown"),
    ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "user_unknown"),
    ("554 delivery error: dd This user doesn't have a yahoo.com account (kim@yahoo.com) [0]", "user_unknown"),
    ("550 sorry, no mailbox here by that name (#5.1.1 - chkuser)", "user_unknown"),
    ("550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "user_unknown"),
    ("Host or domain name not found. Name service error for name=example.invalid type=A: Host not found",
     "host_unknown"),
    ("550 Unrouteable address", "host_unknown"),
    ("556 5.1.10 Recipient address has null MX", "domain_accepts_no_mail"),
    ("an MX or SRV record indicated no SMTP service", "domain_accepts_no_mail"),
    ("Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", "domain_accepts_no_mail"),
    ("550 5.2.1 The email account that you tried to reach is disabled.", "mailbox_disabled"),
    ("554 delivery error: dd This account has been disabled or discontinued [#102].", "mailbox_disabled"),
    ("525 5.7.13 Disabled recipient address", "mailbox_disabled"),
    ("551 5.1.6 User not local; please try <kim@example.net>", "address_moved"),
    ("550 5.1.6 recipient no longer on server: kim@example.gov", "address_moved"),
    # Temporary: counts towards soft_bounce_repeated.
    ("552 5.2.2 Mailbox full", "mailbox_full"),
    ("452-4.2.2 The email account that you tried to reach is over quota.", "mailbox_full"),
    ("maildir over quota", "mailbox_full"),
    ("552 5.3.4 Message size exceeds fixed limit", "message_too_large"),
    ("552-5.2.3 Your message exceeded Google's message size limits.", "message_too_large"),
    ("4.4.7 smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Timed out>",
     "expired"),
    ("retry timeout exceeded", "expired"),
    ("450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional",
     "rate_limited"),
    ("421 Too many concurrent SMTP connections; please try again later.", "rate_limited"),
    ("450 4.7.1 <kim@example.com>: Recipient address rejected: Greylisted, see http://postgrey.example/",
     "rate_limited"),
    ("451 4.3.0 Error: queue file write error", "system_error"),
    ("4.4.1 X-Postfix; connect to mx.example.org[192.0.2.1]:25: Connection timed out", "system_error"),
    ("Host or domain name not found. Name service error for name=example.org type=MX: Host not found,"
     " try again",
     "system_error"),
    # Blocks: the receiver refused us, not the mailbox.
    ("550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using Spamhaus", "blocked"),
    ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]", "blocked"),
    ("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user"
     " complaints",
     "blocked"),
    ("450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", "blocked"),
    ("550-5.7.25 The IP address sending this message does not have a PTR record setup", "blocked"),
    ("550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy",
     "policy_violation"),
    ("550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users",
     "policy_violation"),
    ("554 5.7.1 <kim@example.org>: Relay access denied", "policy_violation"),
    ("SMTP error from remote mail server after MAIL FROM:<news@example.com>: 550 No such domain",
     "policy_violation"),
    ("550 5.7.1 Sender address rejected: Domain not found", "policy_violation"),
    ("550 5.7.1 Message rejected as spam by Content Filtering.", "content_filtered"),
    ("554 5.7.1 The message was rejected because it contains prohibited virus or spam content",
     "content_filtered"),
    ("552-5.7.0 This message was blocked because its content presents a potential security issue.",
     "content_filtered"),
    ("Automatic reply: I am out of the office until Monday", "auto_reply"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "reason"), DIAGNOSTICS)
def test_each_reason_from_real_looking_diagnostics(status, reason):
    bounce_class = EFFECT_CLASSES[BOUNCE_REASONS[reason].effect]
    if bounce_class == "hard" and re.match(r"^(4\d\d|4\.)", status):
        bounce_class = "soft"
    assert _classify(status) == [(reason, bounce_class)]


def test_the_six_generic_permanent_failures_are_dead_and_blocks_are_not():
    dead = [s for s, r in DIAGNOSTICS[:6]]
    assert {c for _, c in _classify(*dead)} == {"hard"}
    assert _classify("552 5.2.2 Mailbox full") == [("mailbox_full", "soft")]
    assert _classify("550 5.7.1 Service unavailable; client host blocked using Spamhaus")[0][1] == "policy"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # "Try again": a transient status never makes a mailbox dead, whatever it names.
        ("450 4.1.1 <kim@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
         ("user_unknown", "soft")),
        ("550 5.7.1 User kim@example.com temporary locked. Please try again later!", ("mailbox_disabled",
         "soft")),
        ("421 4.3.2 Service not available, closing transmission channel", ("system_error", "soft")),
        # An IP address is not an enhanced status code.
        ("451 4.4.1 connect to 192.5.1.1[192.5.1.1]:25: Connection timed out", ("system_error", "soft")),
        # A code alone names the cause when the text does not...
        ("5.1.1", ("user_unknown", "hard")),
        ("5.2.2", ("mailbox_full", "soft")),
        ("5.7.26", ("policy_violation", "policy")),
        ("X-Postfix; 550 5.6.0 Media error", ("content_filtered", "policy")),
        # ...and the most specific code counts, not the generic one before it.
        ("5.0.0 smtp; 550 5.1.1 something", ("user_unknown", "hard")),
        # With neither, the code's class: 5.1.x hard, 5.7.x policy, anything else soft.
        ("550 5.1.4 ambiguous", (UNCLASSIFIED, "hard")),
        ("554 5.7.1 Rejected", (UNCLASSIFIED, "policy")),
        ("550 5.0.0 Rejected", (UNCLASSIFIED, "soft")),
        ("451 4.0.0 hmm", (UNCLASSIFIED, "soft")),
        (None, (UNCLASSIFIED, "soft")),
    ],
)  # fmt: skip
def test_codes_and_transient_statuses(status, expected):
    assert _classify(status) == [expected]


@pytest.mark.parametrize(
    ("bounce_type", "expected"), [("hard", "hard"), ("Soft", "soft"), ("block", "policy"), (None, "soft")]
)
def test_the_esp_verdict_decides_when_the_text_says_nothing(bounce_type, expected):
    assert _classify(None, "550 Rejected", bounce_type=bounce_type) == [(UNCLASSIFIED, expected)] * 2


def test_the_esp_verdict_and_a_recognised_cause_combine_on_the_safe_side():
    # The ESP's "hard" is never softened: it may know more (retries, its own suppression list).
    assert _classify("552 5.2.2 Mailbox full", bounce_type="hard") == [("mailbox_full", "hard")]
    assert _classify("4.0.0 deferred", bounce_type="hard") == [("system_error", "hard")]
    # A dead text beats the ESP's "soft" or "block"; a recognised block beats its "hard".
    assert _classify("550 5.1.1 user unknown", bounce_type="soft") == [("user_unknown", "hard")]
    assert _classify("550 5.1.1 user unknown", bounce_type="block") == [("user_unknown", "hard")]
    assert _classify("550 5.7.1 blocked using zen.spamhaus.org", bounce_type="hard") == [
        ("blocked", "policy")
    ]


@pytest.mark.parametrize(
    "status",
    [
        "550 5.1.1 Recipient rejected: Access denied",
        "550-5.1.1 user does not exist; spam score 0",
        "550 5.1.1 unknown user; DMARC/SPF checks passed",
    ],
)
def test_a_dead_code_outranks_generic_policy_and_content_words(status):
    assert _classify(status) == [("user_unknown", "hard")]


def test_a_named_ip_block_still_outranks_a_dead_code():
    assert _classify("550 5.1.1 your IP is listed at zen.spamhaus.org")[0][1] == "policy"


def test_a_lazy_frame_stays_lazy_streams_and_agrees():
    frame = pl.DataFrame(
        {"smtp_status": [s for s, _ in DIAGNOSTICS], "bounce_type": [None] * len(DIAGNOSTICS), "n": 1},
        schema_overrides={"bounce_type": pl.String},
    )
    lazy = classify_bounces(frame.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect(engine="streaming").equals(classify_bounces(frame))
    assert classify_bounces(frame).columns == [*frame.columns, "bounce_reason", "bounce_class"]


def test_a_missing_column_is_a_clear_error():
    with pytest.raises(InputError, match="column 'bounce_type'"):
        classify_bounces(pl.DataFrame({"smtp_status": ["550 5.1.1"]}))


# --- The sisimai corpus (see its README; tests/test_feedback.py checks the reader) ------------------

#: sisimai's hard bounces that listkit does not class hard, and why: the text names no cause
#: listkit reads (Japanese text, a bare "rejected", a reason only in the subject) or names a block.
HARD_NOT_DEAD = {
    "lhost-domino-02.eml",  # Japanese (ISO-2022-JP) "not found in the Domino directory"
    "lhost-notes-02.eml",  # Japanese "not in the directory list"
    "lhost-imailserver-03.eml",  # "Invalid final delivery userid"
    "lhost-postfix-46.eml",  # "550 <x>: Recipient address rejected." and nothing more
    "lhost-x5-01.eml",  # the cause is only in the subject ("Returned mail: User unknown")
    "lhost-exim-31.eml",  # "may not exist, they may be blacklisted": the block wins
    "lhost-postfix-05.eml",  # "450 4.1.1 ... User unknown": a transient status is never dead
}
#: sisimai's reasons for which a block-family truth may be dead here: sisimai reads "user unknown"
#: after DATA, or from Japanese carriers' filters, as the recipient's filter; listkit believes the words.
SISIMAI_FILTER_READINGS = {"filtered", "rejected"}


def _pairs(labels: dict, events: pl.DataFrame) -> list[tuple[dict, tuple[str, str] | None]]:
    """Each labelled bounce with the (reason, class) paired with it: same reason first, then in order."""
    by_file: dict[str, list[tuple[str, str]]] = {}
    for file, reason, bounce_class in events.select("file", "bounce_reason", "bounce_class").iter_rows():
        by_file.setdefault(file, []).append((reason, bounce_class))
    pairs = []
    for file, entries in labels.items():
        left = list(by_file.get(file, []))
        truth = [e for e in entries if e["reason"] not in ("not_bounce", "delivered", "feedback")]
        matched = {}
        for index, entry in enumerate(truth):
            same = next((o for o in left if o[0] == SISIMAI_REASONS[entry["reason"]]), None)
            if same is not None:
                left.remove(same)
                matched[index] = same
        for index, entry in enumerate(truth):
            pairs.append(({**entry, "file": file}, matched.get(index) or (left.pop(0) if left else None)))
    return pairs


@pytest.fixture(scope="module")
def corpus_pairs():
    if not (SISIMAI / "labels.json").is_file():
        pytest.skip(f"the sisimai corpus is not at {SISIMAI}")
    labels = json.loads((SISIMAI / "labels.json").read_text())
    names = sorted(p.name for p in (SISIMAI / "maildir").glob("*.eml"))
    events = read_feedback(SISIMAI / "maildir").events.filter(pl.col("event") == "bounce")
    events = classify_bounces(events.with_columns(pl.Series("file", names).gather(events["source_row"] - 1)))
    return [(entry, ours) for entry, ours in _pairs(labels, events) if ours is not None]


def test_corpus_hard_bounces_are_dead(corpus_pairs):
    hard = [(e, o) for e, o in corpus_pairs if e["hard_bounce"]]
    assert len(hard) == 170
    assert {e["file"] for e, o in hard if o[1] != "hard"} == HARD_NOT_DEAD


def test_corpus_blocks_are_never_dead_unless_the_server_said_the_user_is_unknown(corpus_pairs):
    for entry, (reason, bounce_class) in corpus_pairs:
        if BOUNCE_REASONS[SISIMAI_REASONS[entry["reason"]]].effect == "block" and bounce_class == "hard":
            assert (entry["reason"], reason) in {(r, "user_unknown") for r in SISIMAI_FILTER_READINGS}, entry


def test_corpus_suspended_mailboxes_are_dead(corpus_pairs):
    """Our decision against sisimai's: a disabled or suspended mailbox prunes at once, unless the
    server says it is temporary ("temporary locked. Please try again later!")."""
    suspended = Counter(o for e, o in corpus_pairs if e["reason"] == "suspend")
    assert suspended == {("mailbox_disabled", "hard"): 14, ("mailbox_disabled", "soft"): 1}


def test_corpus_reason_and_class_agreement(corpus_pairs):
    """Floors a little under what was measured (benchmarks/bounce_corpus.py): 76% and 82%."""
    right = sum(o[0] == SISIMAI_REASONS[e["reason"]] for e, o in corpus_pairs)
    assert right / len(corpus_pairs) >= 0.75
    truth = Counter()
    for entry, (_, bounce_class) in corpus_pairs:
        effect = BOUNCE_REASONS[SISIMAI_REASONS[entry["reason"]]].effect
        expected = "hard" if entry["hard_bounce"] else "policy" if effect == "block" else "soft"
        truth[expected == bounce_class] += 1
    assert truth[True] / len(corpus_pairs) >= 0.80


def test_texts_that_differ_only_by_address_ip_time_or_id_share_one_pattern():
    texts = [
        f"550 5.1.1 <user{i}@example{i}.com>: Recipient address rejected; host 198.51.100.{i} "
        f"at 2024-03-0{i}T10:0{i}:00Z id a{i}b7c91d2e3f4{i}"
        for i in range(1, 6)
    ]
    frame = pl.DataFrame(
        {"smtp_status": texts, "bounce_type": [None] * 5}, schema_overrides={"bounce_type": pl.String}
    )
    assert frame.select(status_pattern(pl.col("smtp_status")).n_unique()).item() == 1
    # Codes, reply codes and the words the rules read are left as they are.
    kept = "550 5.7.1 [TSS04] S3150 RESOLVER.ADR.RecipientNotFound"
    assert pl.select(status_pattern(pl.lit(kept))).item() == kept
    assert classify_bounces(frame)["bounce_class"].to_list() == ["hard"] * 5
