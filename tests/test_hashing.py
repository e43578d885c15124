"""``--hash-emails``: a ledger to share, with keyed hashes for addresses and no address in its text."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli, tree_digest

from listkit.errors import ConfigError
from listkit.formula import EMAIL_COLUMNS, unguard
from listkit.hashing import SALT_VARIABLE, email_salt

SALT = "correct horse battery staple"


def run_hashed(tmp_path: Path, name: str, *extra: str | Path) -> Path:
    out = tmp_path / name
    args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv"]
    assert run_cli(*args, "--out", out, "--no-report", *extra) == 0
    return out


def read_text(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def keyed(address: str, salt: str = SALT) -> str:
    return hmac.new(salt.encode(), address.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def salt(monkeypatch):
    monkeypatch.setenv(SALT_VARIABLE, SALT)
    return SALT


def test_the_hashed_ledger_holds_no_address_and_the_rest_keeps_them(tmp_path, salt):
    plain, hashed = run_hashed(tmp_path, "plain"), run_hashed(tmp_path, "hashed", "--hash-emails")
    before, after = read_text(plain / "ledger.csv"), read_text(hashed / "ledger.csv")
    assert after.columns == before.columns and after.height == before.height
    for column in EMAIL_COLUMNS:
        # The hash is of the address as read (the plain ledger guards "@gmail.com" as "'@gmail.com").
        given = unguard(before)[column].to_list()
        expected = [keyed(value) if value is not None else None for value in given]
        assert after[column].to_list() == expected, column
    text = (hashed / "ledger.csv").read_text(encoding="utf-8")
    addresses = set(before["email"].drop_nulls()) | set(before["email_normalized"].drop_nulls())
    assert not [a for a in addresses if "@" in a and a in text], "no address anywhere in the ledger"
    # Evidence such as "role address info@x" keeps its meaning without the address.
    role = after.filter(pl.col("reasons").str.contains("role_account"))["evidence"]
    assert role.len() and role.str.contains("role address (address)", literal=True).all()
    # The stored run's ledger is the hashed one too.
    stored = pl.read_parquet(hashed / "run" / "ledger.parquet")
    assert stored["email"].to_list() == after["email"].to_list()
    assert stored["email_normalized"].to_list() == after["email_normalized"].to_list()
    # What a sending tool imports keeps the real addresses: every other file is the plain run's.
    skip = ("ledger.csv", "manifest.json", "run/ledger.parquet")
    assert tree_digest(hashed, skip=skip) == tree_digest(plain, skip=skip)
    manifest = json.loads((hashed / "manifest.json").read_text())
    assert manifest["ledger_hashed"] is True and SALT not in json.dumps(manifest)
    assert json.loads((plain / "manifest.json").read_text())["ledger_hashed"] is False


def test_same_salt_same_bytes_other_salt_other_hashes(tmp_path, salt, monkeypatch):
    first, second = run_hashed(tmp_path, "a", "--hash-emails"), run_hashed(tmp_path, "b", "--hash-emails")
    assert (first / "ledger.csv").read_bytes() == (second / "ledger.csv").read_bytes()
    monkeypatch.setenv(SALT_VARIABLE, SALT + "!")
    other = run_hashed(tmp_path, "c", "--hash-emails")
    old, new = read_text(first / "ledger.csv")["email"], read_text(other / "ledger.csv")["email"]
    assert not set(old.drop_nulls()) & set(new.drop_nulls())


@pytest.mark.parametrize("value", [None, "", "short-salt-15ch"])
def test_a_missing_or_short_salt_is_refused_before_the_run(tmp_path, monkeypatch, capsys, value):
    if value is None:
        monkeypatch.delenv(SALT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(SALT_VARIABLE, value)
    out = tmp_path / "out"
    args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--out", out, "--no-report", "--hash-emails"]
    assert run_cli(*args) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("listkit: error: ") and SALT_VARIABLE in line and "16 characters" in line
    assert not captured.out and not out.exists()


def test_the_salt_cannot_be_given_on_the_command_line():
    with pytest.raises(SystemExit):
        run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--out", "x", "--hash-emails", SALT)


def test_a_hashed_run_cannot_be_the_previous_run(tmp_path, salt, capsys):
    hashed = run_hashed(tmp_path, "hashed", "--hash-emails")
    capsys.readouterr()
    args = ["run", "--subscribers", SAMPLE / "subscribers.csv", "--out", tmp_path / "next", "--no-report"]
    assert run_cli(*args, "--previous", hashed) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "hashed addresses" in line and "--hash-emails" in line


def test_a_salt_that_is_not_utf8_is_refused_before_the_run(monkeypatch):
    monkeypatch.setenv("LISTKIT_EMAIL_SALT", os.fsdecode(b"\xff" * 20))
    with pytest.raises(ConfigError, match="not UTF-8"):
        email_salt()
