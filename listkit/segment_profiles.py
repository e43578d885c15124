"""Segment profiles: the table that describes each kind of reader, the naming rule, and matching.

:func:`profile` summarises segments (or clusters) for the report and for the next run.

Naming rule, from each cluster's profile (:func:`cluster_names`):

- *silent* clusters (median days since the last engagement above ``lapsing_after_days``) are
  ``lapsing`` (engaged earlier: win-back candidates) when at least half of them ever engaged (the
  median is below ``RECENCY_CAP_DAYS``, which stands for "never"), else ``dormant``;
- *active* clusters are ranked by median score (then click rate, open rate, recency): the best is
  ``champions``, the weakest ``casual``, those between ``engaged``; a single active cluster is
  ``engaged``, two are ``engaged`` and ``casual``;
- a name given twice gets ``-2``, ``-3``... in rank order.

Between runs, :func:`match_previous` pairs this run's clusters with an earlier run's by their
profiles, so that a segment name stays with the same kind of reader.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from listkit.cells import shown
from listkit.errors import InputError

RULE_SEGMENTS = ("new", "engagement-unknown")
CLUSTER_NAMES = ("champions", "engaged", "casual", "lapsing", "dormant")
#: Profile columns that describe a kind of reader (and that :func:`match_previous` compares).
PROFILE_METRICS = (
    "median_score",
    "open_rate_pct",
    "click_rate_pct",
    "median_days_since_engagement",
    "median_tenure_days",
)
#: Days since the last engagement count up to this; "never engaged" counts as this too.
RECENCY_CAP_DAYS = 730
#: Five years: beyond that, readers no longer differ by how long they have been on the list.
TENURE_CAP_DAYS = 1825
#: The values :func:`profile` can give each metric (rates pass 100 when readers open a mail twice,
#: but not 10,000); an earlier run's table is held to them (:func:`check_profiles`).
PROFILE_RANGES = {
    "median_score": (0.0, 100.0),
    "open_rate_pct": (0.0, 10_000.0),
    "click_rate_pct": (0.0, 10_000.0),
    "median_days_since_engagement": (0.0, float(RECENCY_CAP_DAYS)),
    "median_tenure_days": (0.0, float(TENURE_CAP_DAYS)),
}

#: Names an earlier run may hand on: they become file names (``segments/<name>.csv``).
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

_US_PER_DAY = 86_400 * 1_000_000
_FORBIDDEN = 1e6  # cost of pairing an active cluster with a silent one: never done


def measures(as_of: datetime) -> dict[str, pl.Expr]:
    """Per-row measures behind both the clustering features and the profiles."""
    deliveries = pl.col("deliveries").cast(pl.Float64)

    def per_delivery(column: str) -> pl.Expr:
        return (pl.col(column) / deliveries).fill_nan(0).clip(0, 1).fill_null(0)

    def days_since(moment: pl.Expr, cap: int, never: float) -> pl.Expr:
        return ((pl.lit(as_of) - moment).dt.total_microseconds() / _US_PER_DAY).clip(0, cap).fill_null(never)

    # The first thing known of a reader: the sign-up, or the first event for imported lists.
    first_seen = pl.min_horizontal("signup_at", "first_event_at")
    return {
        "_score": pl.col("score").fill_null(0.0),
        "_open_rate": per_delivery("human_opens"),
        "_click_rate": per_delivery("clicks"),
        "_recency": days_since(pl.col("last_engagement_at"), RECENCY_CAP_DAYS, RECENCY_CAP_DAYS),
        "_tenure": days_since(first_seen, TENURE_CAP_DAYS, 0.0),
        "_recent": pl.col("engagements_in_window").fill_null(0).cast(pl.Float64),
    }


def profile(frame: pl.DataFrame, *, as_of: datetime, by: str = "segment") -> pl.DataFrame:
    """Per ``segment`` (or ``by``): size, share and the medians and rates that describe its readers.

    Rates are per delivery, in percent (human opens may pass 100 when readers open a mail twice);
    days since engagement are capped at ``RECENCY_CAP_DAYS``, which "never" counts as. Sorted by ``by``.
    """
    opens, clicks, deliveries = (pl.col(c).sum() for c in ("human_opens", "clicks", "deliveries"))
    days = {name: expr for name, expr in measures(as_of).items() if name in ("_recency", "_tenure")}
    return (
        frame.with_columns(**days)
        .group_by(by)
        .agg(
            size=pl.len(),
            median_score=pl.col("score").median(),
            open_rate_pct=100 * opens / deliveries,
            click_rate_pct=100 * clicks / deliveries,
            median_days_since_engagement=pl.col("_recency").median(),
            median_tenure_days=pl.col("_tenure").median(),
        )
        .select(
            by,
            "size",
            (100 * pl.col("size") / pl.col("size").sum()).round(1).alias("share_pct"),
            *(pl.col(name).cast(pl.Float64).fill_nan(0).fill_null(0).round(1) for name in PROFILE_METRICS),
        )
        .sort(by)
    )


def cluster_names(profiles: pl.DataFrame, *, lapsing_after_days: int = 90) -> list[str]:
    """Names of the clusters that ``profiles`` describe (one row each), by the module's naming rule."""
    rows = _metric_rows(profiles)
    silent = [days > lapsing_after_days for _, _, _, days, _ in rows]
    # Best first: score, then clicks, opens, and the most recent engagement.
    rank = sorted(range(len(rows)), key=lambda i: (-rows[i][0], -rows[i][2], -rows[i][1], rows[i][3], i))
    active = [i for i in rank if not silent[i]]
    base = {}
    for position, i in enumerate(active):
        if len(active) <= 2:
            base[i] = ("engaged", "casual")[position]
        else:
            base[i] = "champions" if position == 0 else "casual" if i == active[-1] else "engaged"
    for i in rank:
        if silent[i]:
            base[i] = "lapsing" if rows[i][3] < RECENCY_CAP_DAYS else "dormant"
    unique = _unique([base[i] for i in rank])
    return [unique[rank.index(i)] for i in range(len(rows))]


def _unique(names: list[str], taken: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``names`` with ``-2``, ``-3``... appended where a name repeats (or is in ``taken``)."""
    used, result = set(taken), []
    for name in names:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name}-{n}"
        used.add(candidate)
        result.append(candidate)
    return result


def _metric_rows(profiles: pl.DataFrame) -> list[tuple[float, ...]]:
    """Profile metrics as float tuples (a table read back from CSV holds text)."""
    return profiles.select(pl.col(name).cast(pl.Float64) for name in PROFILE_METRICS).rows()


def check_profiles(profiles: pl.DataFrame, *, file: str | Path | None = None) -> pl.DataFrame:
    """An earlier run's profile table (typed, or read from CSV as text) with its metrics as numbers.

    Every metric of every row must be a number within :data:`PROFILE_RANGES`: an empty cell, text,
    ``inf``, ``nan`` or an absurd value (a hand edit, a damaged file) raises
    :class:`~listkit.errors.InputError` naming ``file``, the row (1 = first data row) and the column.
    """
    missing = [name for name in ("segment", *PROFILE_METRICS) if name not in profiles.columns]
    if missing:
        raise InputError(
            f"lacks the profile column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            file=file,
            hint=_PROFILE_HINT,
        )
    numbers = profiles.select(pl.col(PROFILE_METRICS).cast(pl.Float64, strict=False))
    for name, (low, high) in PROFILE_RANGES.items():
        bad = numbers[name].is_null() | numbers[name].is_nan() | ~numbers[name].is_between(low, high)
        if bad.any():
            row = int(bad.arg_true()[0])
            raise InputError(
                f"the value {_cell(profiles[name][row])} is not a number from {low:g} to {high:g}",
                file=file,
                row=row + 1,
                column=name,
                hint=_PROFILE_HINT,
            )
    return profiles.with_columns(numbers)


_PROFILE_HINT = "restore the file from the earlier run, or delete it to name segments afresh"


def _cell(value: object) -> str:
    """A cell as an error shows it (a hand-edited cell may hold anything, an address too)."""
    return shown(value) if value is None or isinstance(value, str) else repr(value)


def match_previous(
    profiles: pl.DataFrame, previous_profiles: pl.DataFrame, *, lapsing_after_days: int = 90
) -> dict[int, str]:
    """Cluster number -> name, keeping an earlier run's names on clusters of the same kind of reader.

    ``profiles`` is a :attr:`Segmenter.profiles_` (rows with a ``cluster`` number count);
    ``previous_profiles`` an earlier one, perhaps read from CSV and edited by hand: its metrics
    must pass :func:`check_profiles`; its rule segments, names that are not :data:`SAFE_NAME` and
    repeats of a name are ignored.
    Clusters are paired by the Hungarian method on the profile metrics (days log-compressed),
    standardised over both tables; an active cluster is never paired with a silent one. Unpaired
    clusters keep their own names, with a suffix if a kept earlier name took it.
    """
    current = profiles.filter(pl.col("cluster").is_not_null()).sort("cluster")
    previous = (
        check_profiles(previous_profiles)
        .filter(~pl.col("segment").is_in(RULE_SEGMENTS) & pl.col("segment").str.contains(SAFE_NAME))
        .unique("segment", keep="first", maintain_order=True)
    )
    clusters, own = current["cluster"].to_list(), current["segment"].to_list()
    if not clusters or previous.is_empty():
        return dict(zip(clusters, own, strict=True))
    from scipy.optimize import linear_sum_assignment  # scipy takes half a second to import: only here

    a, b = np.array(_metric_rows(current)), np.array(_metric_rows(previous))
    silent_a, silent_b = a[:, 3] > lapsing_after_days, b[:, 3] > lapsing_after_days
    both = np.vstack([a, b])
    both[:, 3:] = np.log1p(both[:, 3:].clip(0))
    z = (both - both.mean(axis=0)) / np.where(both.std(axis=0) > 0, both.std(axis=0), 1.0)
    cost = np.linalg.norm(z[: len(a), None, :] - z[None, len(a) :, :], axis=2)
    cost[silent_a[:, None] != silent_b[None, :]] += _FORBIDDEN
    pairs = [(i, j) for i, j in zip(*linear_sum_assignment(cost), strict=True) if cost[i, j] < _FORBIDDEN]
    kept = {clusters[i]: previous["segment"][int(j)] for i, j in pairs}
    rest = [(c, name) for c, name in zip(clusters, own, strict=True) if c not in kept]
    renamed = _unique([name for _, name in rest], taken=set(kept.values()))
    return kept | {c: name for (c, _), name in zip(rest, renamed, strict=True)}
