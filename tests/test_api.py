"""The Python API an analyst uses in JupyterLab: each stage on its own, on polars frames."""

from __future__ import annotations

import gzip

import polars as pl
import pytest
from conftest import SAMPLE

import listkit
import listkit.pipeline
import listkit.readers


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


def test_a_run_carries_the_seconds_of_each_stage_in_order_but_never_stores_them(tmp_path):
    stages = ["survey", "activity", "monthly", "features", "addresses", "rules", "segments"]
    subscribers = listkit.read_subscribers(SAMPLE / "subscribers.csv")
    result = listkit.run(subscribers, listkit.read_events(SAMPLE / "events.csv"))
    assert list(result.stage_seconds) == stages
    assert all(seconds >= 0 for seconds in result.stage_seconds.values())
    assert list(listkit.run(subscribers).stage_seconds) == stages, "a list without history has each stage"

    earlier = tmp_path / "earlier"
    listkit.export(result, earlier, report=False)
    again = listkit.run_files(SAMPLE / "subscribers.csv", SAMPLE / "events.csv", previous=earlier)
    assert list(again.stage_seconds) == ["reading", *stages, "changes"]
    # The stored run holds no wall-clock value (promise 5): the manifest's run_time has them.
    assert "stage" not in (earlier / "run" / "result.json").read_text()
    assert listkit.RunResult.load(earlier / "run").stage_seconds == {}


def test_a_streamed_parquet_log_gives_the_same_run_as_a_loaded_one(tmp_path):
    events = listkit.read_events(SAMPLE / "events.csv")
    parquet = tmp_path / "events.parquet"
    events.drop("source_row", "event_raw").with_columns(pl.col("event").cast(pl.String)).write_parquet(
        parquet
    )
    streamed_log = listkit.scan_events(parquet).collect().drop("event_raw", "log_part")
    assert streamed_log.equals(events.drop("event_raw"))
    loaded = listkit.run_files(SAMPLE / "subscribers.csv", parquet, as_of="2026-11-01", stream_events=False)
    streamed = listkit.run_files(SAMPLE / "subscribers.csv", parquet, as_of="2026-11-01")
    assert streamed.ledger.equals(loaded.ledger)
    assert streamed.compliance.equals(loaded.compliance) and streamed.event_stats == loaded.event_stats


@pytest.mark.parametrize("form", ["csv", "csv.gz", "parquet"])
def test_event_files_are_streamed_in_chunks_by_default_and_give_the_loaded_run(tmp_path, monkeypatch, form):
    """run_files streams every event log (CSV, gzip CSV, Parquet) in chunks, as if it were loaded."""
    csv_bytes = (SAMPLE / "events.csv").read_bytes()
    path = tmp_path / f"events.{form}"
    if form == "parquet":
        pl.read_csv(SAMPLE / "events.csv", infer_schema=False).write_parquet(path)
    else:
        path.write_bytes(gzip.compress(csv_bytes, mtime=0) if form.endswith("gz") else csv_bytes)
    loaded = listkit.run_files(SAMPLE / "subscribers.csv", path, as_of="2026-11-01", stream_events=False)
    monkeypatch.setattr(listkit.readers, "CHUNK_ROWS", 997)  # many chunks, none aligned with anything
    monkeypatch.setattr(listkit.streaming, "BATCH_ROWS", 20_000)  # stored in four parts
    scanned = []

    def recording_store(source, **options):
        scanned.append(source)
        return listkit.readers.store_events(source, **options)

    monkeypatch.setattr(listkit.pipeline, "store_events", recording_store)
    streamed = listkit.run_files(SAMPLE / "subscribers.csv", path, as_of="2026-11-01")
    assert scanned == [path]
    assert streamed.ledger.equals(loaded.ledger) and streamed.suppression.equals(loaded.suppression)
    assert streamed.event_stats == loaded.event_stats and streamed.monthly.equals(loaded.monthly)
    chunked = listkit.scan_events(path, scratch=tmp_path).collect()
    assert chunked.drop("log_part").sort("source_row").equals(listkit.read_events(path))
    parts = chunked["log_part"].unique().sort().to_list()  # 78,000 rows in parts of 20,000 or fewer:
    assert parts in ([0, 1, 2, 3], [0, 1, 2, 3, 4])  # exact for Parquet, estimated from a CSV's size
    assert chunked.group_by("email").agg(pl.col("log_part").n_unique())["log_part"].max() == 1
    assert len(list(tmp_path.glob("listkit-events-*/log_part=*/chunk-*.parquet"))) > 70 * 4  # chunks of 997


def test_a_streamed_run_leaves_no_temporary_files(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    listkit.run_files(SAMPLE / "subscribers.csv", SAMPLE / "events.csv", as_of="2026-11-01", scratch=scratch)
    assert list(scratch.iterdir()) == []


def test_a_streamed_log_refuses_bad_timestamps_with_their_row(tmp_path):
    parquet = tmp_path / "events.parquet"
    pl.DataFrame({"email": ["a@x.com", "b@x.com"], "event": ["open", "open"],
                  "timestamp": ["2026-01-01T00:00:00Z", "yesterday"]}).write_parquet(parquet)  # fmt: skip
    with pytest.raises(listkit.InputError, match=r"row 2.*'yesterday'"):
        listkit.scan_events(parquet)
