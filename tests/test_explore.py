"""Exploring a stored run (listkit.explore) and the explore notebook, on runs of the bundled sample."""

from __future__ import annotations

import dataclasses
import json
import re

import papermill
import polars as pl
import pytest
from conftest import ROOT, SAMPLE

import listkit
from listkit import explore
from listkit.hashing import hash_ledger

NOTEBOOK = ROOT / "notebooks" / "explore_segments.ipynb"
#: An address shown in full: text, "@", a domain. A masked one (j***@gmail.com) has "*" before the "@".
FULL_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
MASKED = re.compile(r"^[^@]?\*\*\*@[^@]+$")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    """The sample run as `listkit run` stores it (out/run), and the same list with a 180-day window."""
    folder = tmp_path_factory.mktemp("explore")
    result = listkit.run_files(SAMPLE / "subscribers.csv", SAMPLE / "events.csv")
    stricter = listkit.run_files(
        SAMPLE / "subscribers.csv", SAMPLE / "events.csv", policy=listkit.Policy(sunset_days=180)
    )
    result.save(folder / "out" / "run")
    stricter.save(folder / "stricter" / "run")
    return {
        "result": result,
        "stricter": stricter,
        "out": folder / "out",
        "stricter_out": folder / "stricter",
    }


def full_addresses(frame: pl.DataFrame) -> list[str]:
    """Every address shown in full in a frame's text cells."""
    found = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            for value in frame[name].drop_nulls():
                found += FULL_ADDRESS.findall(value)
    return found


def test_load_run_reads_the_output_folder_or_its_run_folder(runs, tmp_path):
    from_out = explore.load_run(runs["out"])
    from_run = explore.load_run(runs["out"] / "run")
    assert from_out.ledger.equals(runs["result"].ledger) and from_run.ledger.equals(runs["result"].ledger)
    with pytest.raises(listkit.InputError, match="holds no stored run"):
        explore.load_run(tmp_path)


def test_segment_rows_are_the_segment_most_engaged_first_with_addresses_masked(runs):
    result = runs["result"]
    summary = explore.segment_summary(result)
    assert summary["readers"].to_list() == sorted(summary["readers"].to_list(), reverse=True)
    assert summary["opened_pct"].max() <= 100 and summary["clicked_pct"].max() <= 100  # shares, honest
    segment = explore.default_segment(result)
    assert segment == summary["segment"][0]
    rows = explore.segment_rows(result, segment)
    kept = result.ledger.filter((pl.col("outcome") == "keep") & (pl.col("segment") == segment))
    assert rows.height == kept.height == summary["readers"][0]
    assert set(rows["segment"]) == {segment}
    scores = rows["score"].to_list()
    assert scores == sorted(scores, reverse=True)
    assert all(MASKED.match(email) for email in rows["email"]), "every address masked"
    assert full_addresses(rows) == []
    shown = explore.segment_rows(result, segment, show_addresses=True)
    assert sorted(shown["email"]) == sorted(kept["email"])


def test_unknown_segment_is_refused_with_the_run_segments(runs):
    with pytest.raises(listkit.ConfigError, match=r"its segments are .*lapsing"):
        explore.segment_rows(runs["result"], "champions-2")


def test_reason_summary_counts_every_code_and_follows_the_policy(runs):
    result = runs["result"]
    summary = explore.reason_summary(result)
    assert set(summary["reason"]) == set(listkit.REASON_CODES)
    counts = dict(summary.select("reason", "rows").iter_rows())
    assert counts == result.summary()["reason"]
    prunes = dict(summary.select("reason", "prunes").iter_rows())
    assert prunes["inactive"] and prunes["role_account"] and not prunes["engagement_unknown"]
    lenient = dataclasses.replace(result, policy=result.policy.replace(prune_role_accounts=False))
    assert not dict(explore.reason_summary(lenient).select("reason", "prunes").iter_rows())["role_account"]
    top = explore.default_reason(result)
    assert counts[top] == max(n for code, n in counts.items() if prunes[code])


def test_reason_rows_carry_the_code_and_its_evidence_without_addresses(runs):
    result = runs["result"]
    rows = explore.reason_rows(result, "hard_bounce")
    assert rows.height == result.summary()["reason"]["hard_bounce"] > 0
    assert rows["reasons"].str.split(";").list.contains("hard_bounce").all()
    assert rows["evidence"].str.contains("hard_bounce: ", literal=True).all()
    assert set(rows["outcome"]) == {"prune"}
    assert full_addresses(rows) == [], "bounce texts and evidence are redacted too"
    typos = explore.reason_rows(result, "typo_domain")
    assert typos["suggestion"].drop_nulls().len() > 0
    assert all(MASKED.match(fix) for fix in typos["suggestion"].drop_nulls())
    with pytest.raises(listkit.ConfigError, match="not a reason code"):
        explore.reason_rows(result, "bounced")


def test_why_finds_every_spelling_of_the_mailbox(runs):
    result = runs["result"]
    ledger = result.ledger
    duplicate = ledger.filter(pl.col("duplicate_of").is_not_null()).row(0, named=True)
    kept_row = ledger.filter(pl.col("source_row") == duplicate["duplicate_of"]).row(0, named=True)
    rows = explore.why(result, f"  {duplicate['email'].strip().upper()} ", show_addresses=True)
    assert {duplicate["source_row"], kept_row["source_row"]} <= set(rows["source_row"])
    found = rows.filter(pl.col("source_row") == duplicate["source_row"]).row(0, named=True)
    assert found["outcome"] == "prune" and "duplicate" in found["reasons"].split(";")
    assert f"same mailbox as row {kept_row['source_row']}" in found["evidence"]


def test_why_reads_gmail_dots_tags_and_googlemail(runs):
    result = runs["result"]
    gmail = result.ledger.filter(
        pl.col("email_normalized").str.ends_with("@gmail.com")
        & pl.col("email_normalized").str.contains(r"\.")
    ).row(0, named=True)
    local = gmail["email_normalized"].split("@")[0].replace(".", "")
    spelling = f"{local[:2]}.{local[2:].upper()}+newsletter@googlemail.com"
    rows = explore.why(result, spelling)
    assert gmail["source_row"] in rows["source_row"].to_list()
    assert full_addresses(rows) == [] and all(MASKED.match(email) for email in rows["email"])


def test_why_tells_suppressed_addresses_and_invalid_text(runs):
    result = runs["result"]
    bounced = explore.reason_rows(result, "hard_bounce", show_addresses=True).row(0, named=True)
    assert explore.why(result, bounced["email"])["in_suppression"].to_list()[0] is True
    invalid = result.ledger.filter(
        pl.col("reasons").str.contains("invalid_syntax") & pl.col("email").str.contains("@")
    )
    text = invalid["email"][0]
    rows = explore.why(result, text.strip().upper())
    assert invalid["source_row"][0] in rows["source_row"].to_list()
    assert rows.filter(pl.col("source_row") == invalid["source_row"][0])["outcome"][0] == "prune"
    nobody = explore.why(result, "nobody.at.all@example.org")
    assert nobody.height == 0 and "reasons" in nobody.columns


def test_why_refuses_a_hashed_ledger(runs):
    result = runs["result"]
    hashed = dataclasses.replace(result, ledger=hash_ledger(result.ledger, "a-salt-of-sixteen-chars"))
    with pytest.raises(listkit.InputError, match="hash-emails"):
        explore.why(hashed, result.ledger["email"][0])


def test_compare_lists_the_moves_between_two_runs(runs):
    before, after = runs["result"], runs["stricter"]
    moved = explore.compare(before, after)
    assert moved.height == listkit.changes(before.ledger, after.ledger).height > 0
    assert all(MASKED.match(email) for email in moved["email"])
    summary = explore.change_summary(before, after)
    assert summary["addresses"].sum() == moved.height
    newly_inactive = summary.filter(
        (pl.col("change") == "outcome")
        & (pl.col("outcome_before") == "keep")
        & (pl.col("outcome_after") == "prune")
    )
    assert newly_inactive["addresses"].sum() > 0, "a 180-day window prunes readers a 365-day one keeps"
    reasons = moved.filter(pl.col("change") == "outcome")["reasons_after"]
    assert reasons.drop_nulls().str.contains("inactive").any()


def notebook_outputs(path) -> list[str]:
    """The text of every output of an executed notebook (not its code)."""
    texts = []
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for key in ("text/plain", "text/html", "text/markdown"):
                if key in data:
                    texts.append("".join(data[key]))
            if "text" in output:
                texts.append("".join(output["text"]))
    return texts


def test_explore_notebook_runs_on_a_stored_run(runs, tmp_path):
    result = runs["result"]
    duplicate = result.ledger.filter(pl.col("duplicate_of").is_not_null()).row(0, named=True)
    executed = tmp_path / "explore.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={
            "run_dir": str(runs["out"]),
            "previous_run_dir": str(runs["stricter_out"]),
            "address": duplicate["email"].upper(),
            "reason": "hard_bounce",
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    outputs = "\n".join(notebook_outputs(executed))
    assert f"same mailbox as row {duplicate['duplicate_of']}" in outputs, "why() shows the evidence"
    assert "hard_bounce: " in outputs and f"Segment **{explore.default_segment(result)}**" in outputs
    assert "outcome" in outputs and "reasons_after" in outputs, "the comparison with the other run"
    assert FULL_ADDRESS.findall(outputs) == [], "no address in full in any output"
