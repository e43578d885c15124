"""On synthetic lists whose right answers are known, listkit finds exactly those answers."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import SAMPLE

import listkit
from listkit.reasons import pruning_reasons

AS_OF = "2026-11-01"  # listkit.synth's default as_of


def pruning_codes(reasons: pl.Expr, codes: list[str]) -> pl.Expr:
    """The pruning codes of a ``;``-joined reasons column, sorted and joined again."""
    return (
        reasons.fill_null("")
        .str.split(";")
        .list.eval(pl.element().filter(pl.element().is_in(codes)))
        .list.sort()
    )


@pytest.mark.parametrize("dataset", ["sample", "synthetic"])
def test_every_reason_and_suggestion_matches_the_truth(dataset, synthetic_files):
    files = {"subscribers": SAMPLE / "subscribers.csv", "events": SAMPLE / "events.csv",
             "truth": SAMPLE / "truth.csv"} if dataset == "sample" else synthetic_files  # fmt: skip
    result = listkit.run_files(files["subscribers"], files["events"], as_of=AS_OF)
    truth = pl.read_csv(files["truth"], infer_schema=False).with_columns(pl.col("source_row").cast(pl.UInt32))
    codes = list(pruning_reasons(result.policy))
    compared = result.ledger.join(truth, on="source_row", suffix="_truth").with_columns(
        got=pruning_codes(pl.col("reasons"), codes), want=pruning_codes(pl.col("expected_reasons"), codes)
    )
    wrong = compared.filter(pl.col("got") != pl.col("want")).select("source_row", "email", "got", "want")
    assert wrong.height == 0, wrong
    assert (compared["outcome"] == compared["expected_outcome"]).all()

    typos = compared.filter(pl.col("typo_of").is_not_null())
    assert typos.height > 0
    assert (typos["suggestion"] == typos["typo_of"]).all(), "every typo row gets the right full address"
    assert (
        compared.filter(pl.col("typo_of").is_null())["suggestion"].null_count()
        == compared.height - typos.height
    )
