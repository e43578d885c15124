"""The event log's passes on DuckDB and Spark give byte for byte what they give on polars.

DuckDB and Spark (in local mode, on a Java runtime) run for real. A machine without them skips these
tests saying why; ``make test`` installs both (the ``duckdb`` and ``spark`` extras, and Debian's Java).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, run_cli, tree_digest

import listkit
from listkit.engines import ENGINES, engine_for
from listkit.errors import ConfigError
from listkit.policy import Policy
from listkit.schema import EVENT_COLUMNS
from listkit.synth import synthesize, write_synthetic

FEEDBACK = Path(__file__).parent / "fixtures" / "feedback"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def _engine_missing(name: str) -> str | None:
    """Why ``name`` cannot run here, or None."""
    if name == "duckdb" and importlib.util.find_spec("duckdb") is None:
        return "duckdb is not installed (pip install 'listkit[duckdb]'; make test does)"
    if name == "spark":
        if importlib.util.find_spec("pyspark") is None:
            return "pyspark is not installed (pip install 'listkit[spark]'; make test does)"
        if shutil.which("java") is None:
            return "Spark needs a Java runtime (Debian's openjdk-17-jre-headless; make test installs it)"
    return None


OTHER_ENGINES = [
    pytest.param(
        name, marks=pytest.mark.skipif(bool(_engine_missing(name)), reason=_engine_missing(name) or "")
    )
    for name in ENGINES
    if name != "polars"
]


def outputs(result: listkit.RunResult) -> dict[str, object]:
    """Everything a run decides, by name (the seconds of its stages left out)."""
    frames = ("ledger", "suppression", "compliance", "segment_profiles", "monthly")
    return {
        **{name: getattr(result, name) for name in frames},
        "event_stats": result.event_stats,
        "warnings": result.warnings,
        "as_of": result.as_of,
    }


def assert_same_run(got: listkit.RunResult, expected: listkit.RunResult) -> None:
    got, expected = outputs(got), outputs(expected)
    for name, value in expected.items():
        if isinstance(value, pl.DataFrame):
            assert got[name].equals(value), f"{name} differs"
            assert got[name].schema == value.schema, f"{name}'s columns differ"
        else:
            assert got[name] == value, f"{name} differs"


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, tuple[pl.DataFrame, pl.DataFrame, Policy]]:
    """Synthetic logs that take every path of the passes: subscribers, events and policy by name."""
    files = write_synthetic(synthesize(400, seed=11, campaigns_per_year=24), tmp_path_factory.mktemp("logs"))
    subscribers = listkit.read_subscribers(files["subscribers"])
    events = listkit.read_events(files["events"])
    event, dtype = pl.col("event"), events.schema["event"]
    unknown = events.head(25).with_columns(event=pl.lit("unknown").cast(dtype), event_raw=pl.lit("forwarded"))
    anonymous = events.slice(100, 50).with_columns(email=pl.lit(None, dtype=pl.String))
    return {
        # As synth writes it: sends and deliveries, opens with machine agents, clicks, every bounce
        # class, opt-outs.
        "synthetic": (subscribers, events, Policy(as_of=AS_OF)),
        # Judged a year before its end, with a short half-life: events after as_of are ignored (their
        # decay would overflow any integer), its opt-outs honoured; events naming no address counted.
        "early as_of": (
            subscribers,
            pl.concat([events, unknown, anonymous]),
            Policy(as_of="2025-12-01", sunset_days=120, score_half_life_days=7),
        ),
        # An export of sends only: a send whose campaign bounced was not delivered.
        "sends only": (subscribers, events.filter(event != "delivered"), Policy(as_of=AS_OF)),
        # Opens without agent or label: judged by how soon after the delivery they were fetched.
        "unlabelled opens": (
            subscribers,
            events.with_columns(
                user_agent=pl.when(event == "open").then(None).otherwise(pl.col("user_agent")),
                machine_open=pl.lit(None, dtype=pl.Boolean),
            ),
            Policy(as_of=AS_OF, machine_open_seconds=600),
        ),
    }


@pytest.fixture(scope="module")
def on_polars(logs):
    return {name: listkit.run(s, e, policy=p) for name, (s, e, p) in logs.items()}


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_every_kind_of_log_gives_the_same_run_on_every_engine(engine, logs, on_polars):
    for name, (subscribers, events, policy) in logs.items():
        got = listkit.run(subscribers, events, policy=policy, engine=engine)
        assert got.event_stats["rows"] == events.height, name
        assert_same_run(got, on_polars[name])


def test_feedback_counts_survive_the_summary(tmp_path):
    one, summary, two = tmp_path / "one", tmp_path / "features.parquet", tmp_path / "two"
    files = ("--subscribers", SAMPLE / "subscribers.csv")
    log = ("--events", SAMPLE / "events.csv", "--feedback", FEEDBACK)
    assert run_cli("run", *files, *log, "--out", one, "--no-report") == 0
    assert run_cli("features", *log, "--out", summary) == 0
    assert run_cli("run", *files, "--features", summary, "--out", two, "--no-report") == 0
    assert tree_digest(two, skip=("manifest.json",)) == tree_digest(one, skip=("manifest.json",))
    counts = [json.loads((d / "manifest.json").read_text())["counts"]["events"] for d in (one, two)]
    assert counts[0]["feedback"] == counts[1]["feedback"] and counts[0]["feedback"]


def test_what_is_not_a_summary_is_refused_with_one_line(tmp_path, sample_run, capsys):
    files = ("--subscribers", SAMPLE / "subscribers.csv", "--out", tmp_path / "out")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    for folder, words in (
        (sample_run, "not an event summary"),
        (broken, "not readable JSON"),
        (tmp_path / "missing", "not an event summary"),
    ):
        assert run_cli("run", *files, "--features", folder) == 2
        error = capsys.readouterr().err.strip()
        assert words in error and "\n" not in error


@pytest.mark.parametrize("engine", OTHER_ENGINES)
def test_feedback_mail_and_a_streamed_log_give_the_same_run_on_every_engine(engine):
    subscribers = listkit.read_subscribers(SAMPLE / "subscribers.csv")
    feedback = listkit.read_feedback(FEEDBACK)
    assert feedback.events["timestamp"].null_count() < feedback.events.height
    policy = Policy(as_of="2026-11-01")
    expected = listkit.run(
        subscribers, listkit.read_events(SAMPLE / "events.csv"), policy=policy, feedback=feedback
    )
    streamed = listkit.scan_events(SAMPLE / "events.csv")  # with its log_part column
    got = listkit.run(subscribers, streamed, policy=policy, feedback=feedback, engine=engine)
    assert got.event_stats["feedback"] == expected.event_stats["feedback"]
    assert_same_run(got, expected)


# Spark's CLI bytes are checked by the summary's round trip below (features on Spark, then a run).
@pytest.mark.parametrize("engine", [e for e in OTHER_ENGINES if e.values[0] != "spark"])
def test_listkit_run_writes_the_same_bytes_on_every_engine(engine, sample_run, tmp_path):
    out = tmp_path / engine
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv",
                     "--out", out, "--engine", engine)  # fmt: skip
    assert status == 0
    assert tree_digest(out, skip=("manifest.json",)) == tree_digest(sample_run, skip=("manifest.json",))
    got, expected = (json.loads((d / "manifest.json").read_text()) for d in (out, sample_run))
    assert (got.pop("run_time")["engine"], expected.pop("run_time")["engine"]) == (engine, "polars")
    assert got == expected


@pytest.mark.parametrize("engine", ["polars", *OTHER_ENGINES])
def test_features_then_a_run_without_the_log_writes_the_same_bytes(engine, tmp_path):
    one_run, summary, two_steps = tmp_path / "one", tmp_path / "features.parquet", tmp_path / "two"
    options = ("--as-of", "2026-11-01", "--sunset-days", "200", "--no-report")
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--events", SAMPLE / "events.csv",
                     "--out", one_run, *options)  # fmt: skip
    assert status == 0
    status = run_cli("features", "--events", SAMPLE / "events.csv", "--out", summary, "--engine", engine,
                     "--as-of", "2026-11-01", "--sunset-days", "200")  # fmt: skip
    assert status == 0
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--features", summary,
                     "--out", two_steps, *options)  # fmt: skip
    assert status == 0
    assert tree_digest(two_steps, skip=("manifest.json",)) == tree_digest(one_run, skip=("manifest.json",))
    assert json.loads((summary / "manifest.json").read_text())["engine"] == engine


def test_a_summary_made_under_other_options_is_refused_with_one_line(tmp_path, capsys):
    summary = tmp_path / "features.parquet"
    assert run_cli("features", "--events", SAMPLE / "events.csv", "--out", summary) == 0
    capsys.readouterr()
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--features", summary,
                     "--out", tmp_path / "out", "--sunset-days", "90")  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in error
    assert "sunset_days = 365" in error and "listkit features" in error
    assert not (tmp_path / "out").exists()
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--features", summary,
                     "--events", SAMPLE / "events.csv", "--out", tmp_path / "out")  # fmt: skip
    assert status == 2 and "not both" in capsys.readouterr().err


def test_a_summary_round_trips_through_its_files(tmp_path):
    events = listkit.read_events(SAMPLE / "events.csv")
    summary = listkit.summarise_files(SAMPLE / "events.csv", as_of="2026-11-01")
    summary.save(tmp_path / "summary")
    again = listkit.LogSummary.load(tmp_path / "summary")
    assert again.survey.rows == events.height
    for field in dataclasses.fields(summary):
        value = getattr(summary, field.name)
        if isinstance(value, pl.DataFrame):
            assert getattr(again, field.name).equals(value), field.name
        elif field.name != "survey" and field.compare:  # where it was read from is no content
            assert getattr(again, field.name) == value, field.name
    assert dataclasses.replace(again.survey, bounce_reasons=None) == dataclasses.replace(
        summary.survey, bounce_reasons=None
    )


def test_an_unknown_or_missing_engine_is_a_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match="one of polars, duckdb, spark"):
        engine_for("sqlite", pl.DataFrame())
    real = importlib.import_module

    def without_duckdb(name, *args):
        if name == "duckdb":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_duckdb)
    with pytest.raises(ConfigError, match=r"pip install 'listkit\[duckdb\]'"):
        engine_for("duckdb", pl.DataFrame())


def canonical_lake(folder: Path) -> Path:
    """The sample's events as a data lake would hold them: canonical Parquet files split by month."""
    events = listkit.read_events(SAMPLE / "events.csv").with_columns(pl.col("event").cast(pl.String))
    events.with_columns(month=pl.col("timestamp").dt.strftime("%Y-%m")).write_parquet(
        folder, partition_by="month"
    )
    return folder


# Spark reads a lake through the same lake_events as the table of the next test.
@pytest.mark.parametrize("engine", ["polars", *(e for e in OTHER_ENGINES if e.values[0] != "spark")])
def test_features_of_a_parquet_lake_read_in_place_give_the_same_run(engine, tmp_path, sample_run):
    lake, summary, out = canonical_lake(tmp_path / "lake"), tmp_path / "features.parquet", tmp_path / "out"
    assert len(list(lake.rglob("*.parquet"))) > 1
    assert run_cli("features", "--events", lake, "--out", summary, "--engine", engine) == 0
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--features", summary, "--out", out)
    assert status == 0
    assert tree_digest(out, skip=("manifest.json",)) == tree_digest(sample_run, skip=("manifest.json",))


@pytest.mark.skipif(bool(_engine_missing("spark")), reason=_engine_missing("spark") or "")
def test_features_of_a_spark_table_give_the_same_run(tmp_path, sample_run):
    from pyspark.sql import SparkSession

    from listkit.engines import SparkEngine

    lake = canonical_lake(tmp_path / "lake")
    SparkEngine(pl.DataFrame(schema=EVENT_COLUMNS))  # the session listkit starts, or the running one
    SparkSession.getActiveSession().read.parquet(str(lake)).createOrReplaceTempView("email_events")
    summary, out = tmp_path / "features.parquet", tmp_path / "out"
    assert run_cli("features", "--events", "email_events", "--out", summary, "--engine", "spark") == 0
    status = run_cli("run", "--subscribers", SAMPLE / "subscribers.csv", "--features", summary, "--out", out)
    assert status == 0
    assert tree_digest(out, skip=("manifest.json",)) == tree_digest(sample_run, skip=("manifest.json",))


@pytest.mark.parametrize("engine", ["polars", *OTHER_ENGINES])
def test_a_lake_in_an_esps_vocabulary_is_refused_with_one_line(engine, tmp_path, capsys):
    lake = tmp_path / "lake"
    lake.mkdir()
    pl.DataFrame({"email": ["a@x.com"], "event": ["opened"], "timestamp": [AS_OF]}).write_parquet(
        lake / "part-0.parquet"
    )
    status = run_cli("features", "--events", lake, "--out", tmp_path / "f", "--engine", engine)
    error = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in error and "opened" in error and "listkit's reader" in error
    # An ESP's bounce types would make its hard bounces soft ones: refused too.
    pl.DataFrame(
        {"email": ["a@x.com"], "event": ["bounce"], "timestamp": [AS_OF], "bounce_type": ["Permanent"]}
    ).write_parquet(lake / "part-0.parquet")
    assert run_cli("features", "--events", lake, "--out", tmp_path / "f", "--engine", engine) == 2
    assert "Permanent" in capsys.readouterr().err
    pl.DataFrame({"email": ["a@x.com"], "timestamp": [AS_OF]}).write_parquet(lake / "part-0.parquet")
    assert run_cli("features", "--events", lake, "--out", tmp_path / "f", "--engine", engine) == 2
    assert "no column event" in capsys.readouterr().err
    # Undated events are refused, as listkit's reader refuses them.
    pl.DataFrame(
        {"email": ["a@x.com"], "event": ["complaint"], "timestamp": [None]},
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    ).write_parquet(lake / "part-0.parquet")
    assert run_cli("features", "--events", lake, "--out", tmp_path / "f", "--engine", engine) == 2
    assert "no timestamp" in capsys.readouterr().err
    (lake / "part-0.parquet").unlink()
    assert run_cli("features", "--events", lake, "--out", tmp_path / "f", "--engine", engine) == 2
    assert "no Parquet files" in capsys.readouterr().err


def test_a_summary_of_an_empty_log_serves_any_as_of(tmp_path):
    log = tmp_path / "events.csv"
    log.write_text("email,event,timestamp\n")
    summary, one, two = tmp_path / "features.parquet", tmp_path / "one", tmp_path / "two"
    assert run_cli("features", "--events", log, "--out", summary) == 0
    options = ("--subscribers", SAMPLE / "subscribers.csv", "--as-of", "2026-11-01", "--no-report")
    assert run_cli("run", *options, "--events", log, "--out", one) == 0
    assert run_cli("run", *options, "--features", summary, "--out", two) == 0
    assert tree_digest(two, skip=("manifest.json",)) == tree_digest(one, skip=("manifest.json",))
