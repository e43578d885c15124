"""Shared fixtures: the bundled sample, a realistic synthetic list, and the CLI run in-process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dns_server import INSTALL_HINT, Dnsmasq, dnsmasq_binary

from listkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


def run_cli(*args: str | Path) -> int:
    """Run the ``listkit`` command in-process; returns its exit status."""
    return main([str(a) for a in args])


#: What makes a spreadsheet read a cell as a formula (OWASP's CSV-injection list, and NUL from its ASVS).
SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


def runs_as_formula(cell: str) -> bool:
    """Whether a spreadsheet would evaluate ``cell`` as a formula: it begins with a trigger and is not
    a signed number (``-5``, ``+44``, ``-3,5``, ``-1e5``) or a UTC offset (``-05:00``).

    Written apart from listkit's own regular expressions, as the oracle of the formula-guard tests.
    """
    if not cell.startswith(SPREADSHEET_TRIGGERS):
        return False
    if cell[0] in "+-" and set(cell[1:]) <= set("0123456789.,eE+-:"):
        unsigned = cell[1:]
        offset = len(unsigned) in (4, 5) and unsigned.replace(":", "").isdigit() and unsigned[:2].isdigit()
        if offset and (len(unsigned) == 4 or unsigned[2] == ":"):
            return False
        try:
            float(cell.replace(",", "."))
        except ValueError:
            return True
        return False
    return True


def tree_digest(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file below ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and str(p.relative_to(folder)) not in skip
    }


@pytest.fixture(scope="session")
def synthetic_files(tmp_path_factory) -> dict[str, Path]:
    """A 1,500-subscriber synthetic list and event log written as CSV."""
    from listkit.synth import synthesize, write_synthetic

    folder = tmp_path_factory.mktemp("synthetic")
    return write_synthetic(synthesize(1500, seed=7), folder)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """``listkit run`` on the bundled sample, with the report, once per test session."""
    out = tmp_path_factory.mktemp("sample-run") / "out"
    status = run_cli(
        "run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv", "--out", out
    )
    assert status == 0
    return out


@pytest.fixture(scope="session")
def dnsmasq(tmp_path_factory):
    """A real dnsmasq on a free loopback port for the whole session; fails (not skips) without it."""
    if dnsmasq_binary() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = Dnsmasq(tmp_path_factory.mktemp("dnsmasq")).start()
    yield server
    server.stop()
