"""The Python API an analyst uses in JupyterLab: each stage on its own, on polars frames."""

from __future__ import annotations

import polars as pl
from conftest import SAMPLE

import listkit


def test_each_stage_runs_on_its_own_and_composes_like_run():
    subscribers = listkit.read_subscribers(SAMPLE / "subscribers.csv")
    events = listkit.read_events(SAMPLE / "events.csv")
    policy = listkit.Policy(as_of="2026-11-01")

    checked = listkit.validate(subscribers, policy=policy)
    assert checked.height == subscribers.height
    assert {"email_normalized", "syntax_valid", "mailbox_key", "suggestion", "is_role"} <= set(
        checked.columns
    )

    scores = listkit.score(events, policy=policy)
    assert scores["mailbox_key"].is_unique().all()
    assert scores["score"].drop_nulls().is_between(0, 100).all()

    flagged = listkit.flag(checked.join(scores, on="mailbox_key", how="left"), policy=policy)
    assert listkit.flag(checked, policy=policy).height == subscribers.height, "flag works on addresses alone"
    kept = flagged.filter(pl.col("outcome") == "keep")
    names, profiles = listkit.segment(kept, policy=policy, as_of=policy.as_of)
    assert names.len() == kept.height and profiles.height == names.n_unique()

    result = listkit.run(subscribers, events, policy=policy)
    assert (
        flagged["outcome"]
        .value_counts()
        .sort("outcome")
        .equals(result.ledger["outcome"].value_counts().sort("outcome"))
    )
    text = repr(result)
    assert text.startswith("RunResult(as_of=2026-11-01, rows=3,000") and "segments:" in text
