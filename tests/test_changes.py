"""The change file between two runs, and reading an earlier run's output folder."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from listkit.changes import (
    CHANGE_COLUMNS,
    by_address,
    change_counts,
    changes,
    load_previous,
)
from listkit.errors import InputError
from listkit.layout import PROFILE_FILE

#: An earlier run's ledger: Ann kept twice over (the second row a duplicate), an invalid row, ...
BEFORE = pl.DataFrame(
    {
        "source_row": [1, 2, 3, 4, 5, 6, 7],
        "email": ["Ann@Example.com", "ann@example.com ", "bob@example.com", "cy@example.com", "bad@@x",
                  "dee@example.com", ""],
        "email_normalized": ["ann@example.com", "ann@example.com", "bob@example.com", "cy@example.com", None,
                             "dee@example.com", None],
        "outcome": ["keep", "prune", "keep", "keep", "prune", "keep", "prune"],
        "segment": ["engaged", None, "casual", "casual", None, "dormant", None],
        "reasons": ["", "duplicate", "", "", "invalid_syntax", "", "invalid_syntax"],
        "score": [80.0, 80.0, 30.0, 20.0, None, 0.0, None],
    }
)  # fmt: skip
#: This run's ledger: Bob went inactive, Cy is engaged now, Dee left the list, Eve joined, and the
#: invalid address is spelt in other case.
AFTER = pl.DataFrame(
    {
        "source_row": [1, 2, 3, 4, 5],
        "email": ["ann@example.com", "bob@example.com", "cy@example.com", " BAD@@x", "eve@example.com"],
        "email_normalized": ["ann@example.com", "bob@example.com", "cy@example.com", None, "eve@example.com"],
        "outcome": ["keep", "prune", "keep", "prune", "keep"],
        "segment": ["engaged", None, "engaged", None, "new"],
        "reasons": ["", "inactive", "", "invalid_syntax;typo_domain", ""],
    }
)  # fmt: skip


def test_changes_between_two_ledgers():
    # Ann (kept, same segment) and the invalid address (pruned both times) did not change.
    found = changes(BEFORE, AFTER)
    assert found.columns == list(CHANGE_COLUMNS)
    assert found.rows() == [
        ("bob@example.com", "outcome", "keep", "prune", "casual", None, "inactive"),
        ("cy@example.com", "segment", "keep", "keep", "casual", "engaged", None),
        ("dee@example.com", "removed", "keep", None, "dormant", None, None),
        ("eve@example.com", "new", None, "keep", None, "new", None),
    ]


def test_unchanged_ledgers_have_no_changes():
    assert changes(BEFORE, BEFORE).is_empty()
    assert changes(AFTER, AFTER.reverse()).is_empty()


def test_a_ledger_read_back_from_csv_compares_as_the_frame(tmp_path):
    path = tmp_path / "ledger.csv"
    BEFORE.write_csv(path)
    as_text = pl.read_csv(path, infer_schema=False)
    assert changes(as_text, AFTER).equals(changes(BEFORE, AFTER))
    assert changes(as_text, BEFORE).is_empty()


def test_duplicates_and_invalid_rows_collapse_to_one_address():
    addresses = by_address(BEFORE).sort("address")
    assert addresses["address"].to_list() == [
        "ann@example.com", "bad@@x", "bob@example.com", "cy@example.com", "dee@example.com",
    ]  # fmt: skip
    ann = addresses.row(0, named=True)
    assert (ann["outcome"], ann["segment"], ann["reasons"]) == ("keep", "engaged", None)
    both_pruned = pl.DataFrame(
        {
            "email": ["x@example.com", "X@example.com"],
            "email_normalized": ["x@example.com", "x@example.com"],
            "outcome": ["prune", "prune"],
            "segment": [None, None],
            "reasons": ["unsubscribed", "duplicate;unsubscribed"],
        }
    )
    assert by_address(both_pruned).row(0) == ("x@example.com", "prune", None, "duplicate;unsubscribed")


def test_change_counts_for_the_manifest():
    counts = change_counts(changes(BEFORE, AFTER))
    assert counts == {
        "total": 4,
        "by_change": {"new": 1, "removed": 1, "outcome": 1, "segment": 1},
        "outcome_moves": {"keep -> prune": 1},
        "segment_moves": {"casual -> engaged": 1},
    }
    assert json.dumps(counts)
    empty = change_counts(changes(BEFORE, BEFORE))
    assert empty["total"] == 0 and set(empty["by_change"].values()) == {0}


def write_run(folder: Path, *, profiles: bool = True) -> Path:
    """A folder shaped like a listkit run's output."""
    folder.mkdir(parents=True)
    BEFORE.write_csv(folder / "ledger.csv")
    (folder / "manifest.json").write_text("{}")
    if profiles:
        pl.DataFrame(
            {
                "segment": ["engaged", "new"],
                "size": [3, 1],
                "share_pct": [75.0, 25.0],
                "median_score": [80.0, 50.0],
                "open_rate_pct": [90.0, 50.0],
                "click_rate_pct": [20.0, 5.0],
                "median_days_since_engagement": [3.0, 5.0],
                "median_tenure_days": [400.0, 10.0],
                "kind": ["cluster", "rule"],
                "cluster": [0, None],
            }
        ).write_csv(folder / PROFILE_FILE)
    return folder


def test_load_previous_reads_ledger_and_profiles(tmp_path):
    ledger, profiles = load_previous(write_run(tmp_path / "run"))
    assert ledger.columns == ["email", "email_normalized", "outcome", "segment", "reasons"]
    assert set(ledger.dtypes) == {pl.String} and ledger.height == BEFORE.height
    assert profiles is not None and profiles["segment"].to_list() == ["engaged", "new"]
    assert changes(ledger, AFTER).equals(changes(BEFORE, AFTER))
    _, missing = load_previous(write_run(tmp_path / "older", profiles=False))
    assert missing is None


def ledger_only(folder: Path) -> None:
    folder.mkdir()
    (folder / "ledger.csv").write_text("email\nx@example.com\n")


def foreign_ledger(folder: Path) -> None:
    ledger_only(folder)
    (folder / "manifest.json").write_text("{}")


def foreign_profiles(folder: Path) -> None:
    write_run(folder)
    (folder / PROFILE_FILE).write_text("segment,size\nengaged,3\n")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda folder: None, "the previous run's folder does not exist"),
        (Path.mkdir, "is not a listkit output folder"),
        (ledger_only, "is not a listkit output folder"),
        (foreign_ledger, "ledger.csv: lacks the columns email_normalized, outcome, segment, reasons"),
        (foreign_profiles, "segment_profiles.csv: lacks the columns median_score"),
    ],
)
def test_load_previous_refuses_other_folders(tmp_path, setup, message):
    folder = tmp_path / "previous"
    setup(folder)
    with pytest.raises(InputError, match=message) as caught:
        load_previous(folder)
    text = str(caught.value)
    assert str(folder) in text and text.count("\n") == 0 and text.endswith(".")
