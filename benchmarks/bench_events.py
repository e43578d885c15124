"""Benchmark: per-subscriber engagement features from a large event log, listkit (polars) vs pandas.

Generates (once, cached under --work) a synthetic list of N subscribers and its event log with
``listkit.synth``, stores the events as Parquet, then in the same run measures, each side in its own
process so peak memory is its own:

- listkit: ``read_events`` on the Parquet file, then ``engagement.event_features`` (polars);
- listkit-stream: the same features from ``scan_events`` (the log streamed from disk in slices,
  never loaded: what ``listkit run --stream-events`` does);
- pandas: ``read_parquet`` and a straightforward groupby computing the same counts, windows, last
  engagement, soft-bounce streak and decayed score sums.

Both sides get the same address-to-mailbox map (made once with ``check_addresses``). Prints wall time,
peak RSS and whether the two agree on the counts.

    python benchmarks/bench_events.py --subscribers 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import harness

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SIDES = ("listkit", "listkit-stream", "pandas")
COMPARED = (
    "deliveries", "human_opens", "clicks", "machine_opens", "hard_bounces", "complaints",
    "unsubscribes", "deliveries_in_window", "engagements_in_window", "soft_bounce_streak",
)  # fmt: skip


def prepare(work: Path, subscribers: int) -> None:
    """Write events.parquet and keys.parquet for ``subscribers`` rows, unless already there."""
    import polars as pl

    from listkit.addresses import check_addresses
    from listkit.synth import synthesize

    if (work / "events.parquet").exists() and (work / "keys.parquet").exists():
        return
    work.mkdir(parents=True, exist_ok=True)
    data = synthesize(subscribers, seed=1, as_of=AS_OF, campaigns_per_year=12)
    events = data.events.with_columns(pl.col(pl.Enum).cast(pl.String))
    events.write_parquet(work / "events.parquet", compression="zstd")
    emails = events.select(pl.col("email").unique().sort())
    keys = pl.concat([emails, check_addresses(emails["email"]).select("mailbox_key")], how="horizontal")
    keys.drop_nulls().write_parquet(work / "keys.parquet")


def run_listkit(work: Path, *, stream: bool) -> dict:
    import polars as pl

    from listkit.engagement import event_features
    from listkit.policy import Policy
    from listkit.readers import read_events, scan_events

    start = time.perf_counter()
    events = (scan_events if stream else read_events)(work / "events.parquet")
    read_seconds = time.perf_counter() - start
    keys = pl.read_parquet(work / "keys.parquet")
    features = event_features(events, keys, as_of=AS_OF, policy=Policy())
    total = time.perf_counter() - start
    name = "listkit-stream" if stream else "listkit"
    features.select("mailbox_key", *COMPARED).sort("mailbox_key").write_parquet(work / f"{name}.parquet")
    rows = events.select(pl.len()).collect().item() if stream else events.height
    return {"rows": rows, "read_seconds": read_seconds, "seconds": total}


def run_pandas(work: Path) -> dict:
    import numpy as np
    import pandas as pd

    start = time.perf_counter()
    events = pd.read_parquet(work / "events.parquet")
    read_seconds = time.perf_counter() - start
    keys = pd.read_parquet(work / "keys.parquet")
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True, format="ISO8601")
    events = events.merge(keys, on="email", how="inner")
    events = events[events["timestamp"] <= AS_OF]
    kind = events["event"]
    agent = events["user_agent"].fillna("")
    machine = (kind == "open") & events["machine_open"].fillna(agent.str.strip() == "Mozilla/5.0").astype(
        bool
    )
    status = events["smtp_status"].fillna("")
    by_code = status.str.contains(r"\b5\.1\.\d|\b5\.2\.1\b|user unknown|no such user", case=False)
    policy = status.str.contains(r"\b5\.7\.\d")
    given = events["bounce_type"]
    hard = (kind == "bounce") & ((given == "hard") | (given.isna() & by_code))
    soft = (kind == "bounce") & ((given == "soft") | (given.isna() & ~by_code & ~policy))
    age_days = (pd.Timestamp(AS_OF) - events["timestamp"]).dt.total_seconds() / 86400
    decay = 0.5 ** (age_days / 90)
    frame = pd.DataFrame({
        "key": events["mailbox_key"], "timestamp": events["timestamp"],
        "delivered": kind == "delivered", "human_open": (kind == "open") & ~machine, "click": kind == "click",
        "machine": machine, "hard": hard, "soft": soft, "complaint": kind == "complaint",
        "unsubscribe": kind == "unsubscribe", "in_window": age_days < 365,
    })  # fmt: skip
    frame["human"] = frame["human_open"] | frame["click"]
    frame["delivered_in_window"] = frame["delivered"] & frame["in_window"]
    frame["human_in_window"] = frame["human"] & frame["in_window"]
    frame["engagement_decay"] = decay * (frame["human_open"] + 3 * frame["click"])
    frame["delivery_decay"] = decay * frame["delivered"]
    frame["delivered_at"] = frame["timestamp"].where(frame["delivered"])
    frame["human_at"] = frame["timestamp"].where(frame["human"])
    grouped = frame.groupby("key", sort=False)
    features = grouped.agg(
        deliveries=("delivered", "sum"), human_opens=("human_open", "sum"), clicks=("click", "sum"),
        machine_opens=("machine", "sum"), hard_bounces=("hard", "sum"), complaints=("complaint", "sum"),
        unsubscribes=("unsubscribe", "sum"), deliveries_in_window=("delivered_in_window", "sum"),
        engagements_in_window=("human_in_window", "sum"), last_delivery_at=("delivered_at", "max"),
        last_engagement_at=("human_at", "max"), engagement=("engagement_decay", "sum"),
        delivery=("delivery_decay", "sum"),
    )  # fmt: skip
    last_delivery = frame["key"].map(features["last_delivery_at"])
    after_last = frame["soft"] & (last_delivery.isna() | (frame["timestamp"] > last_delivery))
    features["soft_bounce_streak"] = after_last.groupby(frame["key"]).sum()
    rate = features["engagement"] / (features["delivery"] + 1)
    features["score"] = np.where(features["deliveries"] > 0, (100 * rate / (rate + 0.5)).round(1), np.nan)
    total = time.perf_counter() - start
    out = features.reset_index().rename(columns={"key": "mailbox_key"})[["mailbox_key", *COMPARED]]
    out.sort_values("mailbox_key").to_parquet(work / "pandas.parquet")
    return {"rows": len(events), "read_seconds": read_seconds, "seconds": total}


def child(side: str, work: Path) -> None:
    result = run_pandas(work) if side == "pandas" else run_listkit(work, stream=side == "listkit-stream")
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/listkit-bench-events"))
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work / str(args.subscribers)
    if args.side:
        child(args.side, work)
        return
    prepare(work, args.subscribers)
    results = {}
    for side in SIDES:
        command = [sys.executable, __file__, "--side", side, "--work", str(args.work),
                   "--subscribers", str(args.subscribers)]  # fmt: skip
        measured = harness.measure(side, command, log_dir=work / "logs")  # its peak memory is its own
        if not measured.ok:
            sys.exit(harness.describe_failure(measured))
        output = (work / "logs" / f"{side}.stdout").read_text()
        results[side] = json.loads(output.strip().splitlines()[-1])
        results[side]["peak_rss_gb"] = measured.peak_bytes / 1024**3
    import polars as pl

    ours, streamed, theirs = (pl.read_parquet(work / f"{side}.parquet") for side in SIDES)
    joined = ours.join(theirs, on="mailbox_key", suffix="_pandas")
    disagreements = {c: int((joined[c] != joined[f"{c}_pandas"]).sum()) for c in COMPARED}
    print(f"events: {results['listkit']['rows']:,} for {args.subscribers:,} subscribers "
          f"({ours.height:,} mailboxes; pandas found {theirs.height:,})")  # fmt: skip
    for side, result in results.items():
        print(f"{side:14s} {result['seconds']:7.1f} s (read {result['read_seconds']:.1f} s)  "
              f"peak RSS {result['peak_rss_gb']:.2f} GB")  # fmt: skip
    print(
        f"speed-up: {results['pandas']['seconds'] / results['listkit']['seconds']:.1f}x; "
        f"memory ratio: {results['pandas']['peak_rss_gb'] / results['listkit']['peak_rss_gb']:.1f}x"
    )
    print("disagreements per feature with pandas:", disagreements)
    print("streamed features identical to loaded:", streamed.equals(ours))


if __name__ == "__main__":
    main()
