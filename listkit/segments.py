"""Segments: which kind of reader each kept subscriber is, as named, stable clusters.

Two segments come from rules first, as there is nothing to cluster them on:

- ``new``: signed up within ``new_subscriber_days`` of ``as_of``, or never delivered to;
- ``engagement-unknown``: only machine (Apple MPP) opens, no human open or click.

The rest are clustered with k-means on six standardised features: the engagement score, human
opens and clicks per delivery (each capped at 1), ``log1p`` of the days since the last human open
or click (capped at ``RECENCY_CAP_DAYS``, which also stands for "never"), ``log1p`` of the tenure in
days since the sign-up or first event (capped at ``TENURE_CAP_DAYS``, and weighed half, so that
tenure alone does not split one kind of reader in two) and ``log1p`` of the engagements in the
sunset window. Unless ``n_segments`` fixes k, k is the one in ``[min_segments, max_segments]`` with
the best silhouette (to 3 decimals; ties go to fewer clusters) on a fixed sample of
``cluster_sample_size`` rows; the k-means on all rows then starts from the sample's centres.
Clusters are named from their profiles by the rule in :mod:`listkit.segment_profiles`
(``champions``, ``engaged``, ``casual``, ``lapsing``, ``dormant``), so a run has ``min_segments``
to ``max_segments`` clusters plus at most the two rule segments.

Determinism: rows are sorted by a stable ``key`` (the mailbox key), then by the features, before
fitting and sampling; clusters are numbered by their sorted centres; the random state is fixed.
So the same rows in any order get the same segments. Between runs, an earlier run's profile table
keeps names on the same kinds of reader (:func:`match_previous`).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from listkit.policy import Policy, check_options
from listkit.segment_profiles import (
    CLUSTER_NAMES,
    PROFILE_METRICS,
    RECENCY_CAP_DAYS,
    RULE_SEGMENTS,
    TENURE_CAP_DAYS,
    cluster_names,
    match_previous,
    measures,
    profile,
)

__all__ = [
    "CLUSTER_NAMES",
    "PROFILE_METRICS",
    "RECENCY_CAP_DAYS",
    "RULE_SEGMENTS",
    "SEGMENTER_OPTIONS",
    "SOURCE_COLUMNS",
    "TENURE_CAP_DAYS",
    "Segmenter",
    "cluster_names",
    "match_previous",
    "profile",
    "segment",
    "segmenter_options",
]

#: Engagement columns read (see :data:`listkit.engagement.FEATURE_COLUMNS`).
SOURCE_COLUMNS = (
    "signup_at",
    "first_event_at",
    "deliveries",
    "human_opens",
    "clicks",
    "machine_opens",
    "score",
    "last_engagement_at",
    "engagements_in_window",
)
#: The policy options a :class:`Segmenter` takes (its parameters of the same names).
SEGMENTER_OPTIONS = (
    "n_segments",
    "min_segments",
    "max_segments",
    "random_state",
    "cluster_sample_size",
    "new_subscriber_days",
    "lapsing_after_days",
)
_DEFAULTS = Policy()
#: Weights of the standardised features: score, open rate, click rate, recency, tenure, recent.
_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 1.0])
_N_INIT = 4  # k-means restarts on the sample (cheap); the full fit starts from the best of them


def _feature_matrix(frame: pl.DataFrame, as_of: datetime) -> np.ndarray:
    """The clustering features of every row (skewed ones log-compressed), before scaling."""
    columns = measures(as_of)
    logs = {name: columns[name].log1p() for name in ("_recency", "_tenure", "_recent")}
    return frame.select(**(columns | logs)).to_numpy(order="c")


#: The scikit-learn modules segmenting imports (for :func:`listkit.preload.import_in_background`).
ESTIMATOR_MODULES = ("sklearn.cluster", "sklearn.metrics", "sklearn.preprocessing", "threadpoolctl")


def _standard_scaler() -> Any:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


def _one_thread() -> contextlib.AbstractContextManager:
    """BLAS and OpenMP (k-means) limited to one thread for the block."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _rule(as_of: datetime, new_subscriber_days: int) -> pl.Expr:
    """The rule segment of each row, null for the rows to cluster."""
    new_since = as_of - timedelta(days=new_subscriber_days)
    engaged = pl.col("human_opens").fill_null(0) + pl.col("clicks").fill_null(0) > 0
    return (
        pl.when((pl.col("signup_at") > new_since) | (pl.col("deliveries").fill_null(0) == 0))
        .then(pl.lit("new"))
        .when((pl.col("machine_opens").fill_null(0) > 0) & ~engaged)
        .then(pl.lit("engagement-unknown"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _silhouettes(sample: np.ndarray, labelings: dict[int, np.ndarray], chunk: int = 512) -> dict[int, float]:
    """Mean silhouette of each labelling of ``sample`` (as :func:`sklearn.metrics.silhouette_score`).

    The O(n^2) distances are computed once for every candidate k, in float32, and summed per
    cluster with one matrix product: about ten times faster than scoring each k on its own.
    """
    onehots = [np.eye(labels.max() + 1, dtype=np.float32)[labels] for labels in labelings.values()]
    x = sample.astype(np.float32)
    squares, n = (x**2).sum(axis=1), len(x)
    sums = np.empty((n, sum(o.shape[1] for o in onehots)))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        distances = np.sqrt(np.maximum(squares[start:stop, None] - 2 * x[start:stop] @ x.T + squares, 0))
        distances[np.arange(stop - start), np.arange(start, stop)] = 0.0
        sums[start:stop] = distances @ np.hstack(onehots)
    scores, offset, rows = {}, 0, np.arange(n)
    for (k, labels), onehot in zip(labelings.items(), onehots, strict=True):
        block, sizes = sums[:, offset : offset + onehot.shape[1]], onehot.sum(axis=0)
        offset += onehot.shape[1]
        own = sizes[labels]
        inner = block[rows, labels] / np.maximum(own - 1, 1)
        means = np.where(sizes > 0, block / np.maximum(sizes, 1), np.inf)
        means[rows, labels] = np.inf
        nearest = means.min(axis=1)
        values = (nearest - inner) / np.maximum(np.maximum(inner, nearest), 1e-12)
        scores[k] = float(np.where(own > 1, values, 0.0).mean())
    return scores


class Segmenter:
    """Rule segments plus k-means clusters named from their profiles (see the module docstring).

    ``n_segments`` fixes the number of clusters (rule segments come on top); otherwise it is chosen
    in ``[min_segments, max_segments]``. The options are the policy's :data:`SEGMENTER_OPTIONS`,
    with its defaults, checked by its table (:func:`listkit.policy.check_options`) when fitting.
    ``key`` names a column identifying each row (the mailbox key). Learned: ``as_of_``,
    ``scaler_``, ``centers_`` (weighted standardised space, canonical order), ``n_clusters_``,
    ``silhouettes_`` (k -> mean silhouette; empty when k was fixed), ``names_`` (cluster -> name)
    and ``profiles_`` (:func:`profile` plus ``kind`` and ``cluster``).

    It has scikit-learn's parameter protocol (``get_params``, ``set_params``, so ``sklearn.base.clone``
    works) without deriving from its ``BaseEstimator``: scikit-learn is imported only when there are
    rows to cluster (it takes a second to import, longer than segmenting a list without history).
    """

    def __init__(
        self,
        *,
        n_segments: int | None = _DEFAULTS.n_segments,
        min_segments: int = _DEFAULTS.min_segments,
        max_segments: int = _DEFAULTS.max_segments,
        random_state: int = _DEFAULTS.random_state,
        cluster_sample_size: int = _DEFAULTS.cluster_sample_size,
        new_subscriber_days: int = _DEFAULTS.new_subscriber_days,
        lapsing_after_days: int = _DEFAULTS.lapsing_after_days,
        key: str = "mailbox_key",
    ) -> None:
        self.n_segments = n_segments
        self.min_segments = min_segments
        self.max_segments = max_segments
        self.random_state = random_state
        self.cluster_sample_size = cluster_sample_size
        self.new_subscriber_days = new_subscriber_days
        self.lapsing_after_days = lapsing_after_days
        self.key = key

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments by name (``deep`` is scikit-learn's; nothing here is nested)."""
        return {name: getattr(self, name) for name in (*SEGMENTER_OPTIONS, "key")}

    def set_params(self, **params: Any) -> Segmenter:
        """Set constructor arguments by name; returns the segmenter."""
        unknown = sorted(set(params) - set(self.get_params()))
        if unknown:
            raise ValueError(
                f"Segmenter has no parameter {unknown[0]!r}; it takes {', '.join(self.get_params())}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        # As scikit-learn shows an estimator: the arguments that differ from the defaults.
        defaults = Segmenter().get_params()
        given = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k])
        return f"Segmenter({given})"

    def fit(
        self, features: pl.DataFrame, *, as_of: datetime, previous_profiles: pl.DataFrame | None = None
    ) -> Segmenter:
        """Learn clusters and their names from ``features`` (engagement columns and ``key``) at ``as_of``.

        With ``previous_profiles`` (an earlier run's ``profiles_``), clusters keep the earlier names.
        """
        self.fit_predict(features, as_of=as_of, previous_profiles=previous_profiles)
        return self

    def fit_predict(
        self, features: pl.DataFrame, *, as_of: datetime, previous_profiles: pl.DataFrame | None = None
    ) -> pl.Series:
        """:meth:`fit`, returning the segment name of every row of ``features`` (in its order)."""
        self._check(features)
        self.as_of_ = as_of
        rules, to_cluster = self._split(features)
        matrix = _feature_matrix(to_cluster, as_of)
        self.scaler_ = _standard_scaler().fit(matrix) if len(matrix) else None
        scaled = self._scale(matrix)
        # One thread: k-means' OpenMP threads stall on a busy machine (7 s instead of 0.13 s for the
        # sample fits when another process takes a core), and the result then cannot depend on the
        # number of cores. The fit on all rows starts at the sample's centres and needs few passes.
        with _one_thread() if len(scaled) else contextlib.nullcontext():
            self.centers_, self.silhouettes_ = self._cluster(scaled)
        labels = self._nearest(scaled)
        if len(np.unique(labels)) < len(self.centers_):  # a centre no row is nearest to gets no name
            self.centers_ = self.centers_[np.unique(labels)]
            labels = self._nearest(scaled)
        self.n_clusters_ = len(self.centers_)
        clustered = to_cluster.with_columns(cluster=pl.Series(labels, dtype=pl.Int32))
        table = profile(clustered, as_of=as_of, by="cluster")
        names = cluster_names(table, lapsing_after_days=self.lapsing_after_days)
        self.names_ = dict(zip(table["cluster"].to_list(), names, strict=True))
        if previous_profiles is not None:
            table = table.with_columns(segment=pl.col("cluster").replace_strict(self.names_))
            self.names_ = match_previous(table, previous_profiles, lapsing_after_days=self.lapsing_after_days)
        segments = self._name_rows(rules, clustered)
        self.profiles_ = self._profiles(features.select(SOURCE_COLUMNS).with_columns(segment=segments))
        return segments

    def predict(self, features: pl.DataFrame) -> pl.Series:
        """The segment name of every row of ``features`` (in its order), from the fitted clusters."""
        rules, to_cluster = self._split(features)
        labels = self._nearest(self._scale(_feature_matrix(to_cluster, self.as_of_)))
        return self._name_rows(rules, to_cluster.with_columns(cluster=pl.Series(labels, dtype=pl.Int32)))

    def _check(self, features: pl.DataFrame) -> None:
        """Refuse options outside the policy's ranges and missing columns, before any work."""
        check_options({name: getattr(self, name) for name in SEGMENTER_OPTIONS})
        missing = [c for c in (self.key, *SOURCE_COLUMNS) if c not in features.columns]
        if missing:
            raise ValueError(f"segmenting needs the columns {', '.join(missing)}, which are missing")

    def _split(self, features: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
        """The rule segment of every row (null for the rows to cluster), and the rows to cluster with
        their position (``_row``), sorted by key and then every feature (so ties sort too).

        Only the rows to cluster are sorted: a list without history has none.
        """
        rows = (
            features.select(self.key, *SOURCE_COLUMNS)
            .with_row_index("_row")
            .with_columns(_rule=_rule(self.as_of_, self.new_subscriber_days))
        )
        to_cluster = rows.filter(pl.col("_rule").is_null()).drop("_rule")
        return rows.get_column("_rule"), to_cluster.sort(self.key, *SOURCE_COLUMNS, nulls_last=True)

    def _scale(self, matrix: np.ndarray) -> np.ndarray:
        """Standardised, weighted features."""
        if len(matrix) == 0:
            return matrix
        if self.scaler_ is None:
            raise ValueError(
                "this Segmenter was fitted on rows that all had rule segments; it has no clusters"
            )
        return self.scaler_.transform(matrix) * _WEIGHTS

    def _cluster(self, scaled: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
        """Centres in canonical order (sorted by coordinates, best score first) and the silhouettes."""
        if len(scaled) == 0:
            return np.empty((0, scaled.shape[1])), {}
        from sklearn.cluster import KMeans

        size = min(len(scaled), self.cluster_sample_size)
        picked = np.random.default_rng(self.random_state).choice(len(scaled), size, replace=False)
        sample = scaled[np.sort(picked)]
        distinct = len(np.unique(sample, axis=0))  # k-means cannot find more clusters than points
        low, high = (self.n_segments,) * 2 if self.n_segments else (self.min_segments, self.max_segments)
        ks = list(range(min(low, distinct), min(high, distinct) + 1))
        fits = {k: KMeans(k, n_init=_N_INIT, random_state=self.random_state).fit(sample) for k in ks}
        silhouettes = _silhouettes(sample, {k: fits[k].labels_ for k in ks}) if len(ks) > 1 else {}
        best = max(ks, key=lambda k: (round(silhouettes.get(k, 0.0), 3), -k))
        final = fits[best]
        if size < len(scaled):
            final = KMeans(best, init=final.cluster_centers_, n_init=1).fit(scaled)
        centers = final.cluster_centers_
        return centers[sorted(range(best), key=lambda i: tuple(-np.round(centers[i], 6)))], silhouettes

    def _nearest(self, scaled: np.ndarray) -> np.ndarray:
        """The number of the nearest centre of every row."""
        if not len(scaled):
            return np.zeros(0, np.int32)
        from sklearn.metrics import pairwise_distances_argmin

        return pairwise_distances_argmin(scaled, self.centers_)

    def _name_rows(self, rules: pl.Series, clustered: pl.DataFrame) -> pl.Series:
        """The rule or cluster name of each row, in input order."""
        names = clustered.get_column("cluster").replace_strict(
            self.names_, default=None, return_dtype=pl.String
        )
        segments = pl.Series("segment", rules, dtype=pl.String)  # a copy: filled in place
        return segments.scatter(clustered.get_column("_row"), names)

    def _profiles(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The profile table: clusters best first, then the rule segments."""
        numbers = {name: cluster for cluster, name in self.names_.items()}
        is_rule = pl.col("segment").is_in(RULE_SEGMENTS)
        return (
            profile(frame, as_of=self.as_of_)
            .with_columns(
                kind=pl.when(is_rule).then(pl.lit("rule")).otherwise(pl.lit("cluster")),
                cluster=pl.col("segment").replace_strict(numbers, default=None, return_dtype=pl.Int32),
            )
            .sort("kind", "median_score", "segment", descending=[False, True, False])
        )


def segmenter_options(policy: Policy) -> dict[str, Any]:
    """:class:`Segmenter` arguments from a policy (its clustering options)."""
    return {name: getattr(policy, name) for name in SEGMENTER_OPTIONS}


def segment(
    kept: pl.DataFrame, *, policy: Policy, as_of: datetime, previous_profiles: pl.DataFrame | None = None
) -> tuple[pl.Series, pl.DataFrame]:
    """The segment of every kept row (in its order) and the profile table: what the pipeline calls.

    Rows are keyed by ``mailbox_key`` (``email_normalized`` without it). ``previous_profiles`` is an
    earlier run's ``segment_profiles.csv``, so that its segment names stay on the same kinds of reader.
    """
    key = "mailbox_key" if "mailbox_key" in kept.columns else "email_normalized"
    segmenter = Segmenter(**segmenter_options(policy), key=key)
    names = segmenter.fit_predict(kept, as_of=as_of, previous_profiles=previous_profiles)
    return names.alias("segment"), segmenter.profiles_
