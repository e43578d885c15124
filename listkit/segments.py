"""Segments: which kind of reader each kept subscriber is.

This first version is a documented rule on the engagement features; clustering with scikit-learn
replaces it later behind the same function.

Rules, first match wins (``score`` is the 0-100 engagement score):
- ``new``: signed up within ``new_subscriber_days`` of ``as_of``, or never delivered to;
- ``engagement-unknown``: only machine (Apple MPP) opens, so nothing is known of the reader;
- ``engaged``: score 50 or more (opens most mail, or clicks);
- ``casual``: score 15 or more;
- ``lapsing``: the rest, who were mailed but rarely or no longer respond: candidates for a win-back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from listkit.policy import Policy

SEGMENT_NAMES = ("engaged", "casual", "lapsing", "new", "engagement-unknown")


def segment(kept: pl.DataFrame, *, policy: Policy, as_of: datetime) -> pl.Series:
    """The segment name of every row of ``kept`` (same order), from its engagement features."""
    new_since = as_of - timedelta(days=policy.new_subscriber_days)
    rule = (
        pl.when((pl.col("signup_at") > new_since) | (pl.col("deliveries").fill_null(0) == 0))
        .then(pl.lit("new"))
        .when((pl.col("machine_opens") > 0) & (pl.col("human_opens") + pl.col("clicks") == 0))
        .then(pl.lit("engagement-unknown"))
        .when(pl.col("score") >= 50)
        .then(pl.lit("engaged"))
        .when(pl.col("score") >= 15)
        .then(pl.lit("casual"))
        .otherwise(pl.lit("lapsing"))
    )
    return kept.select(segment=rule).to_series()
