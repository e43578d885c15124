"""Segments: rule segments, named clusters, determinism under shuffling, and stable names between runs."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

import listkit
from listkit import Policy
from listkit.errors import ConfigError
from listkit.segments import (
    CLUSTER_NAMES,
    RULE_SEGMENTS,
    Segmenter,
    cluster_names,
    match_previous,
    profile,
    segment,
)

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
#: Persona: share, open rate Beta(a, b), clicks per open, days since the last engagement (low, high;
#: None: never), days since sign-up (low, high).
PERSONAS = {
    "engaged": (0.2, (8, 3), 0.35, (0, 10), (60, 1500)),
    "casual": (0.35, (2, 8), 0.12, (3, 60), (60, 1500)),
    "lapsing": (0.15, (5, 5), 0.2, (150, 330), (400, 1500)),
    "dormant": (0.1, (1, 40), 0.0, None, (400, 1500)),
    "new": (0.1, (6, 4), 0.3, (0, 5), (0, 20)),
    "mpp": (0.1, None, 0.0, None, (60, 1500)),
}


def personas(n: int, *, seed: int = 0) -> pl.DataFrame:
    """``n`` kept subscribers with engagement features drawn per persona (a ``persona`` column says which)."""
    rng = np.random.default_rng(seed)
    names = list(PERSONAS)
    which = rng.choice(len(names), n, p=[p[0] for p in PERSONAS.values()])
    tenure, recency = np.zeros(n), np.full(n, np.nan)
    open_rate, clicks_per_open = np.zeros(n), np.zeros(n)
    for i, (_, beta, clicks, last, signup) in enumerate(PERSONAS.values()):
        rows = which == i
        tenure[rows] = rng.uniform(*signup, rows.sum())
        if beta:
            open_rate[rows] = rng.beta(*beta, rows.sum())
        clicks_per_open[rows] = clicks
        if last:
            recency[rows] = rng.uniform(*last, rows.sum())
    weekly = np.maximum(np.floor(np.minimum(tenure, 700) / 7), 0).astype(np.int64)
    deliveries = np.where(which == names.index("new"), rng.integers(0, 4, n), weekly)
    opens = rng.binomial(deliveries, open_rate)
    clicks = rng.binomial(opens, clicks_per_open)
    machine = np.where(which == names.index("mpp"), rng.binomial(deliveries, 0.9), 0)
    recency = np.where(opens + clicks > 0, recency, np.nan)
    # Roughly the engagement score: recent engagement per delivery, decayed with a 90-day half-life.
    rate = (opens + 3 * clicks) / (deliveries + 1) * 0.5 ** (np.nan_to_num(recency, nan=999) / 90)
    score = np.where(deliveries > 0, np.round(100 * rate / (rate + 0.5), 1), np.nan)
    in_window = np.minimum(deliveries, 52)
    engaged_in_window = np.where(np.nan_to_num(recency, nan=999) < 365, rng.binomial(in_window, open_rate), 0)

    def moment(days: np.ndarray) -> pl.Series:
        micros = pl.Series(AS_OF.timestamp() * 1e6 - days * 86_400e6).fill_nan(None).cast(pl.Int64)
        return micros.cast(pl.Datetime("us", "UTC"))

    return pl.DataFrame(
        {
            "persona": [names[i] for i in which],
            "signup_at": moment(tenure),
            "first_event_at": moment(np.where(deliveries > 0, np.minimum(tenure, 700), np.nan)),
            "deliveries": deliveries,
            "human_opens": opens,
            "clicks": clicks,
            "machine_opens": machine,
            "score": score,
            "last_engagement_at": moment(recency),
            "deliveries_in_window": in_window,
            "engagements_in_window": engaged_in_window,
        }
    ).with_columns(
        mailbox_key=pl.format("reader{}@example.com", pl.int_range(n).cast(pl.String).str.zfill(7))
    )


@pytest.fixture(scope="module")
def readers() -> pl.DataFrame:
    return personas(6000, seed=0)


@pytest.fixture(scope="module")
def fitted(readers) -> tuple[Segmenter, pl.Series]:
    segmenter = Segmenter(key="mailbox_key")
    return segmenter, segmenter.fit_predict(readers, as_of=AS_OF)


def base_name(name: str) -> str:
    """``engaged-2`` -> ``engaged``."""
    head, _, tail = name.rpartition("-")
    return head if tail.isdigit() else name


def share_in(frame: pl.DataFrame, persona: str, names: set[str]) -> float:
    """Share of a persona's rows whose segment (without suffix) is one of ``names``."""
    rows = frame.filter(pl.col("persona") == persona)
    return rows["segment"].map_elements(base_name, return_dtype=pl.String).is_in(list(names)).mean()


def test_rule_segments_come_first(readers, fitted):
    _, names = fitted
    frame = readers.with_columns(segment=names)
    assert share_in(frame, "new", {"new"}) == 1.0
    assert share_in(frame, "mpp", {"engagement-unknown"}) == 1.0
    assert frame.filter(pl.col("segment") == "new")["persona"].unique().to_list() == ["new"]


def test_segments_are_few_named_and_fit_the_personas(readers, fitted):
    segmenter, names = fitted
    frame = readers.with_columns(segment=names)
    segments = set(names.unique())
    assert 3 <= len(segments) <= 10
    assert {base_name(s) for s in segments} <= {*CLUSTER_NAMES, *RULE_SEGMENTS}
    assert share_in(frame, "engaged", {"champions", "engaged"}) > 0.9
    assert share_in(frame, "casual", {"casual", "engaged"}) > 0.8
    assert share_in(frame, "lapsing", {"lapsing"}) > 0.8
    assert share_in(frame, "dormant", {"dormant"}) > 0.8
    assert segmenter.n_clusters_ == len(segmenter.names_) == len(segmenter.centers_)
    assert min(segmenter.silhouettes_) == 3 and max(segmenter.silhouettes_) == 8


def test_shuffled_rows_get_the_same_segments(readers, fitted):
    segmenter, names = fitted
    shuffled = readers.sample(fraction=1.0, shuffle=True, seed=11)
    again = Segmenter(key="mailbox_key")
    shuffled_names = again.fit_predict(shuffled, as_of=AS_OF)
    original = dict(zip(readers["mailbox_key"], names, strict=True))
    assert [original[k] for k in shuffled["mailbox_key"]] == shuffled_names.to_list()
    assert again.profiles_.equals(segmenter.profiles_)
    np.testing.assert_array_equal(again.centers_, segmenter.centers_)


def test_predict_agrees_with_fit(readers, fitted):
    segmenter, names = fitted
    assert segmenter.predict(readers).equals(names)
    assert segmenter.predict(readers.reverse()).equals(names.reverse())


def test_fixed_number_of_clusters():
    segmenter = Segmenter(n_segments=5, key="mailbox_key").fit(personas(3000, seed=2), as_of=AS_OF)
    assert segmenter.n_clusters_ == 5 and segmenter.silhouettes_ == {}
    profiles = segmenter.profiles_
    assert profiles.filter(pl.col("kind") == "cluster").height == 5
    assert profiles["segment"].n_unique() == profiles.height == 7
    assert profiles["size"].sum() == 3000 and abs(profiles["share_pct"].sum() - 100) < 0.5


def test_profile_describes_each_segment(readers, fitted):
    _, names = fitted
    table = profile(readers.with_columns(segment=names), as_of=AS_OF)
    assert table.columns == [
        "segment", "size", "share_pct", "median_score", "open_rate_pct", "click_rate_pct",
        "median_days_since_engagement", "median_tenure_days",
    ]  # fmt: skip
    rows = {row["segment"]: row for row in table.iter_rows(named=True)}
    assert rows["dormant"]["median_days_since_engagement"] == 730
    assert rows["new"]["median_tenure_days"] < 30
    best = table.filter(pl.col("segment").is_in(["champions", "engaged"]))
    assert best["open_rate_pct"].min() > rows["casual"]["open_rate_pct"]


def metrics(rows: list[tuple]) -> pl.DataFrame:
    """A profile table: (segment, score, open %, click %, days since engagement, tenure days)."""
    columns = ["segment", "median_score", "open_rate_pct", "click_rate_pct",
               "median_days_since_engagement", "median_tenure_days"]  # fmt: skip
    return pl.DataFrame(rows, schema=columns, orient="row").with_columns(cluster=pl.int_range(len(rows)))


def test_naming_rule():
    table = metrics([
        ("a", 40.0, 30.0, 3.0, 20.0, 500.0), ("b", 80.0, 90.0, 30.0, 2.0, 500.0),
        ("c", 20.0, 40.0, 5.0, 200.0, 800.0), ("d", 0.0, 1.0, 0.0, 730.0, 900.0),
        ("e", 60.0, 60.0, 8.0, 7.0, 90.0), ("f", 55.0, 50.0, 6.0, 9.0, 600.0),
        ("g", 5.0, 10.0, 1.0, 300.0, 800.0),
    ])  # fmt: skip
    assert cluster_names(table) == [
        "casual",
        "champions",
        "lapsing",
        "dormant",
        "engaged",
        "engaged-2",
        "lapsing-2",
    ]
    assert cluster_names(table[:2]) == ["casual", "engaged"]
    assert cluster_names(table[1:2]) == ["engaged"]
    assert cluster_names(table[2:4]) == ["lapsing", "dormant"]


def test_match_previous_keeps_earlier_names_on_the_same_readers():
    earlier = metrics(
        [
            ("vip", 80.0, 90.0, 30.0, 2.0, 500.0),
            ("regulars", 40.0, 30.0, 3.0, 20.0, 500.0),
            ("fading", 20.0, 40.0, 5.0, 200.0, 800.0),
            ("new", 50.0, 50.0, 5.0, 5.0, 10.0),
        ]
    )
    now = metrics(
        [
            ("casual", 38.0, 28.0, 2.5, 25.0, 520.0),
            ("champions", 82.0, 88.0, 31.0, 2.0, 510.0),
            ("engaged", 60.0, 60.0, 8.0, 7.0, 90.0),
            ("lapsing", 22.0, 41.0, 5.0, 190.0, 790.0),
        ]
    )
    assert match_previous(now, earlier) == {0: "regulars", 1: "vip", 2: "engaged", 3: "fading"}
    # Active clusters never take a silent cluster's name, even when nothing else is left.
    only_silent = earlier.filter(pl.col("segment") == "fading")
    assert match_previous(now, only_silent) == {0: "casual", 1: "champions", 2: "engaged", 3: "fading"}
    clash = earlier.with_columns(segment=pl.Series(["engaged", "casual", "lapsing", "new"]))
    assert match_previous(now[1:], clash.filter(pl.col("segment") != "casual")) == {
        1: "engaged", 2: "engaged-2", 3: "lapsing"
    }  # fmt: skip


def test_match_previous_hands_on_only_plain_unique_names():
    now = metrics([("champions", 82.0, 88.0, 31.0, 2.0, 510.0), ("casual", 38.0, 28.0, 2.5, 25.0, 520.0)])
    earlier = metrics(
        [
            ("../../etc/evil", 80.0, 90.0, 30.0, 2.0, 500.0),
            ("regulars", 40.0, 30.0, 3.0, 20.0, 500.0),
            ("regulars", 81.0, 90.0, 30.0, 2.0, 500.0),
        ]
    )
    assert match_previous(now, earlier) == {0: "champions", 1: "regulars"}


def test_names_survive_a_perturbed_rerun(tmp_path):
    first = Segmenter(n_segments=6, key="mailbox_key")
    first_names = first.fit_predict(personas(6000, seed=3), as_of=AS_OF)
    # Earlier profiles come back from CSV as text, as the pipeline will read them.
    first.profiles_.write_csv(tmp_path / "segment_profiles.csv")
    earlier = pl.read_csv(tmp_path / "segment_profiles.csv", infer_schema=False)
    later_data = personas(6000, seed=4)
    later = Segmenter(n_segments=6, key="mailbox_key")
    later_names = later.fit_predict(later_data, as_of=AS_OF, previous_profiles=earlier)
    assert set(later_names.unique()) == set(first_names.unique())

    def majority(frame: pl.DataFrame) -> dict[str, str]:
        counts = frame.group_by("persona", "segment").len().sort("len", "segment", descending=[True, False])
        return dict(counts.unique("persona", keep="first").select("persona", "segment").iter_rows())

    assert majority(later_data.with_columns(segment=later_names)) == majority(
        personas(6000, seed=3).with_columns(segment=first_names)
    )


def test_silhouettes_equal_scikit_learn():
    from sklearn.metrics import silhouette_score

    from listkit.segments import _silhouettes

    rng = np.random.default_rng(0)
    points = rng.normal(size=(1500, 6)) + np.repeat(np.eye(6)[:3] * 4, 500, axis=0)
    labelings = {2: rng.integers(0, 2, 1500), 3: np.repeat(np.arange(3), 500), 5: rng.integers(0, 5, 1500)}
    ours = _silhouettes(points, labelings, chunk=256)
    for k, labels in labelings.items():
        assert ours[k] == pytest.approx(silhouette_score(points, labels), abs=1e-5)


def test_small_and_empty_inputs():
    tiny = personas(40, seed=5)
    names = Segmenter(key="mailbox_key").fit_predict(tiny, as_of=AS_OF)
    assert names.len() == 40 and names.null_count() == 0
    empty = Segmenter(key="mailbox_key").fit(tiny.clear(), as_of=AS_OF)
    assert empty.n_clusters_ == 0 and empty.profiles_.height == 0
    only_new = tiny.filter(pl.col("persona") == "new")
    assert set(Segmenter(key="mailbox_key").fit_predict(only_new, as_of=AS_OF)) == {"new"}
    two = tiny.filter(pl.col("persona") == "engaged").head(2)
    assert Segmenter(key="mailbox_key").fit(two, as_of=AS_OF).n_clusters_ <= 2


def test_options_are_checked():
    frame = personas(200, seed=6)
    with pytest.raises(ConfigError, match="min_segments"):
        Segmenter(min_segments=5, max_segments=4).fit(frame, as_of=AS_OF)
    with pytest.raises(ConfigError, match="n_segments"):
        Segmenter(n_segments=0).fit(frame, as_of=AS_OF)
    with pytest.raises(ValueError, match="mailbox_key"):
        Segmenter().fit(frame.drop("mailbox_key"), as_of=AS_OF)


def test_segment_is_what_the_pipeline_calls(readers, fitted):
    _, names = fitted
    segments, profiles = segment(readers, policy=Policy(), as_of=AS_OF)
    assert segments.name == "segment" and segments.equals(names.alias("segment"))
    assert set(profiles["segment"]) == set(names)
    assert profiles.columns[-2:] == ["kind", "cluster"]


class _Kept(Exception):
    """Carries the frame the pipeline hands to ``segment``."""


def test_segments_of_a_synthetic_list(synthetic_files, monkeypatch):
    def capture(kept: pl.DataFrame, **options) -> None:
        raise _Kept(kept, options)

    monkeypatch.setattr(listkit.pipeline, "segment", capture)
    subscribers = listkit.read_subscribers(synthetic_files["subscribers"])
    events = listkit.read_events(synthetic_files["events"])
    with pytest.raises(_Kept) as caught:
        listkit.run(subscribers, events)
    kept, options = caught.value.args
    segments, profiles = segment(kept, policy=options["policy"], as_of=options["as_of"])
    truth = pl.read_csv(synthetic_files["truth"]).select("source_row", "persona")
    frame = kept.with_columns(segments).join(truth, on="source_row")
    assert 3 <= profiles.height <= 10 and profiles["size"].sum() == kept.height
    assert share_in(frame, "engaged", {"champions", "engaged"}) > 0.8
    assert share_in(frame, "mpp", {"engagement-unknown"}) > 0.9
    assert share_in(frame, "new_signup", {"new"}) > 0.9
    shuffled = kept.sample(fraction=1.0, shuffle=True, seed=1)
    again, _ = segment(shuffled, policy=options["policy"], as_of=options["as_of"])
    assert dict(zip(shuffled["source_row"], again, strict=True)) == dict(
        zip(kept["source_row"], segments, strict=True)
    )


def test_the_segmenter_has_scikit_learns_parameter_protocol():
    from sklearn.base import clone

    segmenter = Segmenter(n_segments=5, key="email_normalized")
    assert (
        repr(segmenter) == "Segmenter(n_segments=5, key='email_normalized')"
        and repr(Segmenter()) == "Segmenter()"
    )
    copy = clone(segmenter)
    assert copy is not segmenter and copy.get_params() == segmenter.get_params()
    assert segmenter.set_params(n_segments=6) is segmenter and segmenter.n_segments == 6
    with pytest.raises(ValueError, match="no parameter 'clusters'"):
        segmenter.set_params(clusters=3)
