"""The contract's five promises, checked on the bundled sample and on realistic synthetic lists."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli, runs_as_formula, tree_digest
from dns_server import free_port

import listkit

OUTPUTS = ("ledger.csv", "suppression.csv", "manifest.json", "report.html")


def read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def segment_rows(out: Path) -> pl.DataFrame:
    files = sorted((out / "segments").glob("*.csv"))
    return pl.concat([read_csv(f).with_columns(file=pl.lit(f.stem)) for f in files])


def test_run_writes_every_output_with_one_ledger_row_per_input_row(sample_run):
    for name in OUTPUTS:
        assert (sample_run / name).stat().st_size > 0
    ledger = read_csv(sample_run / "ledger.csv")
    with (SAMPLE / "subscribers.csv").open(newline="", encoding="utf-8") as handle:
        input_rows = sum(1 for _ in csv.reader(handle)) - 1
    assert ledger.height == input_rows
    assert ledger["source_row"].cast(pl.Int64).to_list() == list(range(1, input_rows + 1))
    assert set(ledger["outcome"]) == {"keep", "prune"}
    pruned = ledger.filter(pl.col("outcome") == "prune")
    assert pruned["reasons"].null_count() == 0, "every pruned row says why"
    assert set(ledger.columns[:8]) == {
        "source_row",
        "email",
        "email_normalized",
        "outcome",
        "segment",
        "score",
        "reasons",
        "suggestion",
    }


def test_kept_rows_are_exactly_the_segment_rows(sample_run):
    ledger = read_csv(sample_run / "ledger.csv")
    kept = ledger.filter(pl.col("outcome") == "keep")
    segments = segment_rows(sample_run)
    assert segments.height == kept.height
    assert sorted(segments["email"].to_list()) == sorted(kept["email_normalized"].to_list())
    assert segments["email"].n_unique() == segments.height, "every kept row is in exactly one file"
    by_file = dict(segments.group_by("file").len().iter_rows())
    assert by_file == dict(kept.group_by("segment").len().iter_rows())


def test_nothing_suppressed_reaches_a_segment_in_any_spelling(sample_run):
    ledger = read_csv(sample_run / "ledger.csv")
    suppressed_rows = ledger.filter(pl.col("reasons").str.contains("unsubscribed|complaint|hard_bounce"))
    assert suppressed_rows.height > 0
    keys = listkit.check_addresses(suppressed_rows["email"])["mailbox_key"].drop_nulls()
    segment_keys = listkit.check_addresses(segment_rows(sample_run)["email"])["mailbox_key"]
    assert not segment_keys.is_in(keys.implode()).any()
    suppression = read_csv(sample_run / "suppression.csv")
    normalized = set(suppressed_rows["email_normalized"].drop_nulls())
    assert normalized <= set(suppression["email"])


def test_suppression_and_manifest_are_complete(sample_run):
    manifest = json.loads((sample_run / "manifest.json").read_text())
    ledger = read_csv(sample_run / "ledger.csv")
    assert manifest["counts"]["input_rows"] == ledger.height
    assert sum(manifest["counts"]["outcome"].values()) == ledger.height
    assert set(manifest["files"]) >= {"ledger.csv", "suppression.csv", "report.html"}
    assert manifest["policy"]["sunset_days"] == 365
    assert manifest["as_of"].startswith("20")
    assert "polars" in manifest["package_versions"]
    digests = tree_digest(sample_run)
    for name, entry in manifest["files"].items():
        assert digests[name] == entry["sha256"], name
    for name in ("ledger.csv", "run/ledger.parquet"):
        assert manifest["files"][name]["rows"] == ledger.height
    kept = sum(manifest["files"][name]["rows"] for name in manifest["files"] if name.startswith("segments/"))
    assert kept == manifest["counts"]["outcome"]["keep"]
    assert manifest["files"]["suppression.csv"]["rows"] == manifest["counts"]["suppression_rows"]
    assert manifest["files"]["report.html"]["rows"] is None


#: The stages of a run with events and the report, in the order they run.
RUN_STAGES = ["reading", "survey", "activity", "monthly", "features", "addresses", "rules", "segments"]


def test_manifest_times_every_stage_in_the_order_they_ran(sample_run):
    # run_time is the one place wall-clock values may be (promise 5); a benchmark harness reads it.
    run_time = json.loads((sample_run / "manifest.json").read_text())["run_time"]
    assert set(run_time) == {"started_at", "seconds", "engine", "stages"}
    assert run_time["engine"] == "polars"
    stages = run_time["stages"]
    assert list(stages) == [*RUN_STAGES, "export", "report"]  # as written in the file, not sorted
    assert all(isinstance(seconds, float) and seconds >= 0 for seconds in stages.values())
    assert stages["export"] <= run_time["seconds"]


def test_report_has_counts_and_plots(sample_run):
    page = (sample_run / "report.html").read_text()
    assert "List health report" in page
    assert page.count("data:image/png;base64") >= 3
    assert "inactive" in page and "Traceback" not in page
    assert "def " not in page, "code is hidden"


def test_rerun_gives_identical_bytes(sample_run, tmp_path):
    again = tmp_path / "again"
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv",
                     "--out", again)  # fmt: skip
    assert status == 0
    assert tree_digest(again, skip=("manifest.json",)) == tree_digest(sample_run, skip=("manifest.json",))
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (sample_run, again))
    first.pop("run_time"), second.pop("run_time")
    assert first == second


def test_mailchimp_export_runs(tmp_path):
    out = tmp_path / "mc"
    status = run_cli("run", "--subscribers", SAMPLE / "mailchimp_subscribed_members_export.csv",
                     "--events", SAMPLE / "events.csv", "--out", out, "--no-report")  # fmt: skip
    assert status == 0
    ledger = read_csv(out / "ledger.csv")
    assert ledger.height == 500
    assert "MEMBER_RATING" in ledger.columns and "LEID" in ledger.columns  # pass-through columns kept


def test_bad_input_gets_one_line_and_leaves_previous_outputs_untouched(sample_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--out", out, "--no-report") == 0
    before = tree_digest(out)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("email,first_name\na@example.com,Ann\nb@example.com,Bob,extra\n")
    capsys.readouterr()
    assert run_cli("run", "--subscribers", ragged, "--out", out, "--no-report") == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert "ragged.csv" in message and "row 2" in message
    assert tree_digest(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.listkit-")], "no staging folder left"


def test_failed_report_leaves_previous_run_whole(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--out", out, "--no-report") == 0
    before = tree_digest(out)

    def broken(*_args, **_kwargs):
        raise listkit.OutputError("the report notebook failed in cell 3 (ValueError: boom)")

    monkeypatch.setattr("listkit.render.render_report", broken)
    assert run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--out", out) == 2
    assert "report notebook failed" in capsys.readouterr().err
    assert tree_digest(out) == before


@pytest.mark.parametrize("missing", ["subscribers", "events"])
def test_missing_files_and_columns_are_one_line_errors(tmp_path, capsys, missing):
    no_email = tmp_path / "list.csv"
    no_email.write_text("name,phone\nAnn,123\n")
    args = ["run", "--subscribers", no_email, "--out", tmp_path / "o", "--no-report"]
    if missing == "events":
        args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--events", tmp_path / "nope.csv",
                "--out", tmp_path / "o", "--no-report"]  # fmt: skip
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert ("name" in err and "phone" in err) if missing == "subscribers" else "nope.csv" in err
    assert not (tmp_path / "o").exists()


def test_exported_cells_cannot_run_as_formulas(tmp_path):
    listing = tmp_path / "list.csv"
    with listing.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "last_name", "note"])
        writer.writerow(["=1+1@example.com", "=HYPERLINK(1)", "+44 20", "@SUM(A1)"])
        writer.writerow(["ann@example.com", "-2", "\tTab", "\rCR"])
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", listing, "--out", out, "--no-report") == 0
    for path in [out / "ledger.csv", *(out / "segments").glob("*.csv")]:
        frame = read_csv(path)
        for name in frame.columns:
            if name in ("email", "email_normalized"):
                continue
            assert not any(runs_as_formula(cell) for cell in frame[name].drop_nulls()), (path.name, name)
    ledger = read_csv(out / "ledger.csv")
    assert ledger["email"].to_list() == ["=1+1@example.com", "ann@example.com"], (
        "the email column is never altered"
    )
    assert ledger["note"].to_list()[0] == "'@SUM(A1)"


def test_synthetic_list_round_trip(synthetic_files, tmp_path):
    out = tmp_path / "synth"
    files = synthetic_files
    status = run_cli("run", "--subscribers", files["subscribers"], "--events", files["events"], "--out", out,
                     "--no-report")  # fmt: skip
    assert status == 0
    ledger = read_csv(out / "ledger.csv")
    assert ledger.height == read_csv(synthetic_files["subscribers"]).height
    assert segment_rows(out).height == ledger.filter(pl.col("outcome") == "keep").height


def test_no_cwd_or_clock_leaks_into_outputs(sample_run):
    for name in ("ledger.csv", "suppression.csv", "report.html"):
        text = (sample_run / name).read_text()
        assert str(sample_run) not in text and os.getcwd() not in text


def test_dns_checks_prune_dead_domains_and_only_warn_when_dns_is_silent(dnsmasq, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text(
        "email\nann@example.com\nbob@nxdomain.example\ncat@null-mx.example\ndan@a-only.example\n"
    )
    out, cache = tmp_path / "out", tmp_path / "mx.json"
    args = ["run", "--subscribers", listing, "--out", out, "--no-report", "--check-dns",
            "--dns-server", "127.0.0.1", "--dns-cache", cache]  # fmt: skip
    assert run_cli(*args, "--dns-port", dnsmasq.port) == 0
    ledger = read_csv(out / "ledger.csv")
    assert dict(ledger.select("email", "reasons").iter_rows()) == {
        "ann@example.com": "",
        "bob@nxdomain.example": "no_mx",
        "cat@null-mx.example": "no_mx",
        "dan@a-only.example": "",
    }
    silent = tmp_path / "silent"
    config = write_config(tmp_path, "dns_timeout = 0.3")
    silent_args = ["run", "--subscribers", listing, "--out", silent, "--no-report", "--config", config]
    dead_server = ["--check-dns", "--dns-server", "127.0.0.1", "--dns-port", free_port()]
    assert run_cli(*silent_args, *dead_server, "--dns-cache", tmp_path / "n.json") == 0
    ledger = read_csv(silent / "ledger.csv")
    assert ledger["reasons"].to_list() == ["dns_unknown"] * 4
    assert ledger["outcome"].to_list() == ["keep"] * 4


def write_config(folder: Path, text: str) -> Path:
    path = folder / "policy.toml"
    path.write_text("[policy]\n" + text + "\n")
    return path


def test_raw_bounce_and_complaint_mail_prunes_and_suppresses(tmp_path):
    feedback = Path(__file__).parent / "fixtures" / "feedback"
    listing = tmp_path / "list.csv"
    listing.write_text("email\nj.doe@example.org\nLisa.M@yahoo.com\nt.berg@corp.example\nok@example.com\n")
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", listing, "--feedback", feedback, "--out", out, "--no-report") == 0
    ledger = read_csv(out / "ledger.csv")
    assert ledger["reasons"].fill_null("").to_list() == ["hard_bounce", "complaint", "", ""]
    suppression = set(read_csv(out / "suppression.csv")["email"])
    assert {"j.doe@example.org", "Lisa.M@yahoo.com", "mark.otto@hotmail.com"} <= suppression
    manifest = json.loads((out / "manifest.json").read_text())
    feedback_counts = manifest["counts"]["events"]["feedback"]
    assert feedback_counts["auto_replies"] == 1 and feedback_counts["unreadable"] == 1
    assert len(manifest["counts"]["events"]["feedback_problems"]) >= 2


def test_out_never_replaces_a_folder_that_is_not_a_listkit_output(tmp_path, capsys):
    folder = tmp_path / "work"
    folder.mkdir()
    listing = folder / "list.csv"
    listing.write_text("email\nann@example.com\n")
    (folder / "notes.txt").write_text("keep me")
    assert run_cli("run", "--subscribers", listing, "--out", folder, "--no-report") == 2
    assert "not an earlier listkit output" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "keep me" and listing.exists()


def test_headers_are_formula_safe_too(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text('email,"=HYPERLINK(1)"\nann@example.com,x\n')
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", listing, "--out", out, "--no-report") == 0
    for path in [out / "ledger.csv", *(out / "segments").glob("*.csv")]:
        header = path.read_text().splitlines()[0]
        assert ",'=HYPERLINK(1)" in header and ",=HYPERLINK" not in header


def test_config_keys_outside_the_policy_table_are_refused(tmp_path, capsys):
    config = tmp_path / "policy.toml"
    config.write_text("sunset_days = 10\n[policy]\nsoft_bounce_limit = 2\n")
    args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--out", tmp_path / "o", "--config", config]
    assert run_cli(*args) == 2
    assert "outside the [policy] table" in capsys.readouterr().err


def test_hand_edited_previous_profiles_get_one_line(sample_run, tmp_path, capsys):
    previous = tmp_path / "previous"
    shutil.copytree(sample_run, previous)
    profiles = (previous / "segment_profiles.csv").read_text().splitlines()
    header, first = profiles[0].split(","), profiles[1].split(",")
    first[header.index("median_score")] = "abc"
    (previous / "segment_profiles.csv").write_text(
        "\n".join([profiles[0], ",".join(first), *profiles[2:]]) + "\n"
    )
    args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--out", tmp_path / "o", "--no-report"]
    assert run_cli(*args, "--previous", previous) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "segment_profiles.csv" in err and "'abc'" in err


def test_tenure_is_never_negative(tmp_path):
    out = tmp_path / "out"
    args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv"]
    assert run_cli(*args, "--out", out, "--no-report", "--as-of", "2026-06-30") == 0
    tenure = read_csv(out / "ledger.csv")["tenure_days"].drop_nulls().cast(pl.Int64)
    assert tenure.min() >= 0
