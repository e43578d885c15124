"""No subscriber address in what a run says about itself: stdout, stderr, manifest.json, report.html.

The hostile input puts address-like text with a marker domain in every free-text field; the ledger,
segments, suppression list and changes may hold addresses (that is what they are for), nothing else.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import polars as pl
import pytest
from conftest import run_cli
from hypothesis import example, given, settings
from hypothesis import strategies as st

import listkit.pipeline
from listkit.diagnostics import RunWarning
from listkit.errors import InputError
from listkit.privacy import MASK, redact, redact_expr, redact_labels

# Anchored at the start of a word: unanchored, every position of the report's base64 images began a
# scan to the end of the image (a minute of the suite); the matches are the same.
MARKER = re.compile(r"(?<![^\s\"'<>])[^\s\"'<>]*@marker\.example|leak-\w+")
ALLOWED_TO_HOLD_ADDRESSES = {"ledger.csv", "suppression.csv", "changes.csv"}
#: Folders of files for the sending tool, and the stored run (the ledger's data, for the report to read).
FOLDERS_HOLDING_ADDRESSES = {"segments", "suppression", "warmup", "run"}


def leaks(text: str) -> list[str]:
    return MARKER.findall(text)


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def hostile_inputs(folder: Path) -> dict[str, Path]:
    """A list, an event log and feedback mail whose every free-text field holds a marker address."""
    header = ["email", "first_name", "last_name", "source", "status", "notes", "leak-header@marker.example"]
    rows = [header]
    for n in range(12):
        status = "subscribed" if n % 3 else f"leak-status{n}@marker.example"
        names = [f"Ann <leak-first{n}@marker.example>", f"leak-last{n}@marker.example"]
        free = [f"form on leak-source{n}@marker.example", status, f"ask leak-note{n}@marker.example"]
        rows.append([f"sub{n}@marker.example", *names, *free, f"leak-extra{n}@marker.example"])
    rows.append(["mailto:leak-invalid@marker.example", "", "", "", "", "", ""])
    listing = write_rows(folder / "list.csv", rows)
    events = [["email", "event", "timestamp", "campaign", "smtp_status", "user_agent"]]
    for n in range(12):
        address = f"sub{n}@marker.example"
        campaign = f"leak-camp{n}@marker.example"
        events += [
            [address, "delivered", f"2026-{day:02d}-01T00:00:00Z", campaign, "", ""] for day in range(1, 13)
        ]
        events.append([address, "open", "2026-06-02T00:00:00Z", "", "", f"Mozilla leak-ua{n}@marker.example"])
    events += [
        ["sub1@marker.example", f"leak-event{n}@marker.example", "2026-06-03T00:00:00Z", "", "", ""]
        for n in range(3)
    ]
    events.append(["sub2@marker.example", "unsubscribe leak-unsub@marker.example", "2026-06-03T00:00:00Z",
                   "", "", ""])  # fmt: skip
    events.append(["sub3@marker.example", "bounce", "2026-06-04T00:00:00Z", "",
                   "550 5.1.1 <leak-bounce@marker.example>: user unknown", ""])  # fmt: skip
    events.append(["mailto:leak-optout@marker.example", "unsubscribe", "2026-06-04T00:00:00Z", "", "", ""])
    events.append(["nobody-on-list@marker.example", "complaint", "2026-06-04T00:00:00Z", "", "", ""])
    log = write_rows(folder / "events.csv", events)
    mail = folder / "feedback"
    mail.mkdir()
    (mail / "leak-file@marker.example.eml").write_bytes(b"\x00\x01 not mail at all leak-nul@marker.example")
    (mail / "ses.eml").write_text(
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\nDate: Fri, 15 Mar 2026 16:05:11 +0000\n"
        'Subject: AWS Notification Message\n\n{"notificationType":"leak-type@marker.example","mail":{}}\n'
    )
    (mail / "arf.eml").write_text(
        "From: fbl@isp.example\nDate: Sat, 9 Mar 2026 11:20:03 +0000\nSubject: complaint\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n--b\n'
        "Content-Type: message/feedback-report\n\nFeedback-Type: not-spam\n"
        "Original-Rcpt-To: leak-arf@marker.example\n\n--b--\n"
    )
    return {"subscribers": listing, "events": log, "feedback": mail}


def said(capsys, out: Path | None) -> str:
    """Everything the run printed, and every file of its output that must not hold an address."""
    captured = capsys.readouterr()
    texts = [captured.out, captured.err]
    if out is not None and out.exists():
        files = [
            p
            for p in out.rglob("*")
            if p.is_file()
            and p.relative_to(out).parts[0] not in FOLDERS_HOLDING_ADDRESSES
            and p.name not in ALLOWED_TO_HOLD_ADDRESSES
        ]
        texts += [p.read_text(encoding="utf-8") for p in files]
    return "\n".join(texts)


def test_a_hostile_run_names_no_address_outside_the_address_files(tmp_path, capsys):
    files = hostile_inputs(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--subscribers", files["subscribers"], "--events", files["events"],
            "--feedback", files["feedback"], "--out", out]  # fmt: skip
    assert run_cli(*args) == 0
    text = said(capsys, out)
    assert "report.html" in {p.name for p in out.iterdir()}
    assert leaks(text) == []
    manifest = json.loads((out / "manifest.json").read_text())
    events = manifest["counts"]["events"]
    # The facts are still there, with the addresses masked.
    assert events["unknown_types"] == {MASK: 3, f"unsubscribe {MASK}": 1}
    assert events["invalid_opt_out_examples"] == [f"mailto:{MASK}"]
    assert f"{MASK}: not an email message (no mail headers)" in events["feedback_problems"]
    codes = {w["code"] for w in manifest["warnings"]}
    assert {"unknown_suppressing_events", "invalid_opt_out_addresses"} <= codes
    # ...and the files made to hold addresses do hold them.
    assert "sub0@marker.example" in (out / "ledger.csv").read_text()


def test_a_log_with_address_and_event_columns_swapped_names_no_address(tmp_path, capsys):
    listing = write_rows(tmp_path / "list.csv", [["email"], *([f"sub{n}@marker.example"] for n in range(5))])
    swapped = [["event", "email", "timestamp"]]
    swapped += [[f"sub{n}@marker.example", "delivered", f"2026-01-0{n + 1}T00:00:00Z"] for n in range(5)]
    log = write_rows(tmp_path / "events.csv", swapped)
    out = tmp_path / "out"
    status = run_cli("run", "--subscribers", listing, "--events", log, "--out", out, "--no-report")
    text = said(capsys, out)
    assert leaks(text) == [], text
    if status == 0:  # read, with every event unknown: counted under a neutral label
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["events"]["unknown_types"] == {MASK: 5}
    else:  # refused by what the values look like: one line
        assert status == 2 and len(text.strip().splitlines()) == 1


def test_failures_name_no_address(tmp_path, capsys, monkeypatch):
    files = hostile_inputs(tmp_path)
    base = ["run", "--subscribers", files["subscribers"], "--no-report"]
    bad_rows = [["email", "event", "timestamp"], ["a@x.com", "open", "leak-time@marker.example"]]
    bad_time = write_rows(tmp_path / "bad_time.csv", bad_rows)
    assert run_cli(*base, "--events", bad_time, "--out", tmp_path / "o1") == 2
    assert leaks(said(capsys, None)) == []

    previous = tmp_path / "previous"
    assert run_cli(*base, "--out", previous) == 0
    profiles = pl.read_csv(previous / "segment_profiles.csv", infer_schema=False)
    profiles.with_columns(median_score=pl.lit("leak-profile@marker.example")).write_csv(
        previous / "segment_profiles.csv"
    )
    capsys.readouterr()
    assert run_cli(*base, "--out", tmp_path / "o2", "--previous", previous) == 2
    assert leaks(said(capsys, None)) == []

    def crash(*args, **kwargs):
        raise RuntimeError("cannot compare 'leak-internal@marker.example' with 3")

    monkeypatch.setattr(listkit.pipeline, "run_files", crash)
    assert run_cli(*base, "--out", tmp_path / "o3") == 1
    err = said(capsys, None)
    assert "listkit: internal error: RuntimeError: cannot compare '(address)' with 3" in err
    assert leaks(err) == []


def test_the_users_own_paths_stay_readable_in_error_lines(tmp_path, capsys):
    home = tmp_path / "ann@corp.example"  # a home folder named after its user (SSSD, AD)
    home.mkdir()
    listing = write_rows(home / "list.csv", [["email", "signup_at"], ["leak-row@marker.example", "soon"]])
    assert run_cli("run", "--subscribers", listing, "--out", home / "out", "--no-report") == 2
    err = capsys.readouterr().err
    assert str(listing) in err and leaks(err) == []


def test_input_errors_and_run_warnings_mask_addresses_when_they_are_made():
    error = InputError("the value 'x@leak.example' is not a time", file="/data/ann@corp.example/list.csv",
                       column="bob@leak.example", hint="fix cy@leak.example")  # fmt: skip
    assert "leak.example" not in str(error) and "/data/ann@corp.example/list.csv" in str(error)
    warning = RunWarning("code", "unknown 'x@leak.example'", {"names": {"y@leak.example": 2}, "n": [1]})
    assert "leak.example" not in json.dumps(warning.to_dict()) and warning.details["n"] == [1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("550 5.1.1 <j.doe@example.com>: user unknown", f"550 5.1.1 <{MASK}>: user unknown"),
        ('"john doe"@example.com bounced', f"{MASK} bounced"),
        ("for example 'a@b', 'c@d.e'", f"for example '{MASK}', '{MASK}'"),
        ("mailto:amy@x.com?subject=hi", f"mailto:{MASK}"),
        ("[x@y.z] and @SUM(A1) and x@ and @", f"{MASK} and @SUM(A1) and x@ and @"),
        ("no address here", "no address here"),
    ],
)
def test_redact_masks_what_looks_like_an_address(text, expected):
    assert redact(text) == expected


def test_redacted_labels_add_up():
    assert redact_labels({"a@x.com": 2, "b@y.org": 3, "open it": 1}) == {MASK: 5, "open it": 1}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab.@ \"'<>:\n-+=")), max_size=40))
@example("=@='=@=")  # a token glued to the end of the previous one (found by this test in CI)
def test_python_and_polars_redaction_agree(text):
    frame = pl.DataFrame({"t": [text]})
    assert frame.select(redact_expr(pl.col("t"))).item() == redact(text)
    assert redact(redact(text)) == redact(text)


def test_redaction_stays_linear_on_huge_text():
    # A 2 MB run of address characters ending in "@" is tried once from its start, not once per character.
    assert redact("a" * 2_000_000 + "@") == "a" * 2_000_000 + "@"


def test_no_address_in_the_report_of_the_sample_either(sample_run):
    ledger = pl.read_csv(sample_run / "ledger.csv", infer_schema=False)
    addresses = {
        a.lstrip("'") for a in [*ledger["email"].drop_nulls(), *ledger["email_normalized"].drop_nulls()]
    }
    for name in ("report.html", "manifest.json"):
        text = (sample_run / name).read_text(encoding="utf-8")
        tokens = {t for t in re.split(r"[\s\"'<>(),;:`{}]+", text) if "@" in t}
        assert not tokens & addresses, name
