"""Where the event log's passes run: polars (the default), DuckDB or Spark.

Every pass of :mod:`listkit.activity` is written once, as narwhals queries (``narwhals`` runs one
polars-like API lazily on polars, DuckDB and PySpark; see ``docs/engines.md`` for why it was chosen
over Ibis and generated SQL). An engine says only *where* they run and what differs by engine, never
what is counted:

- :meth:`LogEngine.log` gives the log as a narwhals LazyFrame on the engine, and
  :meth:`LogEngine.table` moves a small polars frame there (for joins);
- :meth:`LogEngine.aggregate` runs a pass: polars over batches of whole parts
  (:func:`listkit.streaming.in_batches`), DuckDB and Spark in one query (they spill to disk and
  split the work themselves);
- :meth:`LogEngine.with_bounce_key` keys an event's bounce status and type, :meth:`LogEngine.with_age`
  gives its age in microseconds (spelt by each engine), and :attr:`LogEngine.hashes_addresses` says
  whether addresses are grouped by a 64-bit hash (polars: several times faster) or by their text.

Results come back as polars frames, cast to one schema per pass by the caller, so the rest of a run
never knows which engine ran.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl

from listkit.errors import ConfigError, InputError
from listkit.schema import BOUNCE_VERDICTS, EVENT_COLUMNS, EVENT_TYPES
from listkit.streaming import collect, in_batches

#: The engines ``--engine`` accepts; polars is the default.
ENGINES = ("polars", "duckdb", "spark")
DEFAULT_ENGINE = "polars"

#: The package each engine imports, and the extra of ``pyproject.toml`` that installs it.
_EXTRAS = {"duckdb": "duckdb", "pyspark": "spark"}

Query = Callable[[nw.LazyFrame], nw.LazyFrame]

#: The memory DuckDB may take before it spills to disk (docs/benchmarks.md has what this costs).
DUCKDB_MEMORY_LIMIT = "2GB"

#: The separator of the text bounce key (a control character no status or type contains).
_KEY_SEPARATOR = "\x1f"


class LogEngine:
    """An event log on one engine. Subclasses give :meth:`_main`, :meth:`table` and :meth:`collect`."""

    name = ""
    #: Addresses grouped by :func:`listkit.activity.address_hash` (polars) rather than by text.
    hashes_addresses = False
    #: A few events added to the log (from feedback mail), kept in this process and moved to the engine.
    extra: pl.DataFrame | None = None

    def log(self) -> nw.LazyFrame:
        """The canonical event log, lazily, on this engine (with :attr:`extra`, if any)."""
        if self.extra is None or self.extra.is_empty():
            return self._main()
        extra = lake_events(self.table(_event_as_text(self.extra)), "feedback mail")
        return nw.concat([self._main(), extra], how="vertical")

    def with_extra(self, extra: pl.DataFrame | None) -> LogEngine:
        """The same log with ``extra`` events (canonical columns) instead of the earlier ones."""
        engine = copy.copy(self)
        engine.extra = extra
        return engine

    def _main(self) -> nw.LazyFrame:
        raise NotImplementedError

    def table(self, frame: pl.DataFrame) -> nw.LazyFrame:
        """A small polars ``frame`` (a lookup table) on this engine, to join with the log."""
        raise NotImplementedError

    def collect(self, query: nw.LazyFrame) -> pl.DataFrame:
        """Run ``query`` and bring its (small) result back as a polars frame."""
        raise NotImplementedError

    def aggregate(
        self, query: Query, *, rows: int, keys: list[str], merged: list[pl.Expr], by_address: bool = False
    ) -> pl.DataFrame:
        """``query`` (a pass: the log in, an aggregation out) run over the whole log.

        ``rows``, ``keys``, ``merged`` and ``by_address`` say how polars may split the pass into batches
        (:func:`listkit.streaming.in_batches`); other engines run it in one query.
        """
        return self.collect(query(self.log()))

    def kept(self, text: nw.Expr) -> nw.Expr:
        """``text`` as a pass keeps it in its result (polars interns it: see
        :func:`listkit.streaming.interned`)."""
        return text

    def with_bounce_key(self, frame: nw.LazyFrame, seed: int) -> nw.LazyFrame:
        """``frame`` with ``bounce_key``: one value per (``smtp_status``, ``bounce_type``) pair.

        Here the pair's text with a separator (nulls spelt apart from every text); polars hashes it.
        ``seed`` is the polars hash's and changes nothing here.
        """
        return frame.with_columns(bounce_key=text_bounce_key())

    def with_age(self, frame: nw.LazyFrame, as_of_us: int) -> nw.LazyFrame:
        """``frame`` with ``age_us``: microseconds from each event's ``timestamp`` to ``as_of_us`` (the
        epoch microsecond of ``as_of``). narwhals has no epoch time that runs everywhere, so each engine
        spells it."""
        raise NotImplementedError

    def bounce_keys(self, pairs: pl.DataFrame, seed: int) -> pl.Series:
        """The ``bounce_key`` of each row of ``pairs`` (distinct status and type pairs), as
        :meth:`with_bounce_key` gives it to events."""
        return self.with_bounce_key(nw.from_native(pairs.lazy()), seed).to_native().collect()["bounce_key"]

    def close(self) -> None:
        """Free what the engine holds (a connection, a session, scratch files)."""


def text_bounce_key() -> nw.Expr:
    """(``smtp_status``, ``bounce_type``) as one text, a null apart from every text (``\\x00``)."""
    status, kind = (nw.col(name).fill_null("\x00") for name in ("smtp_status", "bounce_type"))
    return nw.concat_str([status, nw.lit(_KEY_SEPARATOR), kind])


class PolarsEngine(LogEngine):
    """The log as a polars frame (in memory) or LazyFrame (streamed), the default engine."""

    name = "polars"
    hashes_addresses = True

    def __init__(self, events: pl.DataFrame | pl.LazyFrame) -> None:
        self._events = events

    @property
    def events(self) -> pl.DataFrame | pl.LazyFrame:
        """The log as polars holds it, :attr:`extra` included (a LazyFrame stays lazy)."""
        if self.extra is None or self.extra.is_empty():
            return self._events
        extra = self.extra if isinstance(self._events, pl.DataFrame) else self.extra.lazy()
        return pl.concat([self._events, extra], how="diagonal")

    def log(self) -> nw.LazyFrame:
        return nw.from_native(self.events.lazy())

    def table(self, frame: pl.DataFrame) -> nw.LazyFrame:
        return nw.from_native(frame.lazy())

    def collect(self, query: nw.LazyFrame) -> pl.DataFrame:
        return collect(query.to_native())

    def aggregate(
        self, query: Query, *, rows: int, keys: list[str], merged: list[pl.Expr], by_address: bool = False
    ) -> pl.DataFrame:
        def native(batch: pl.LazyFrame) -> pl.LazyFrame:
            return query(nw.from_native(batch)).to_native()

        return in_batches(self.events, rows, native, keys=keys, merged=merged, by_address=by_address)

    def kept(self, text: nw.Expr) -> nw.Expr:
        return text.cast(nw.Categorical)

    def with_bounce_key(self, frame: nw.LazyFrame, seed: int) -> nw.LazyFrame:
        return nw.from_native(frame.to_native().with_columns(bounce_key=polars_bounce_key(seed)))

    def with_age(self, frame: nw.LazyFrame, as_of_us: int) -> nw.LazyFrame:
        age = as_of_us - pl.col("timestamp").dt.epoch("us")
        return nw.from_native(frame.to_native().with_columns(age_us=age))


def polars_bounce_key(seed: int) -> pl.Expr:
    """The polars engine's 64-bit key of an event's (``smtp_status``, ``bounce_type``) pair.

    Two seeded string hashes combined: ten times cheaper per event than hashing a struct, and only the
    few thousand distinct pairs of a log need to differ (:mod:`listkit.activity` picks the first seed
    under which they do).
    """
    return pl.col("smtp_status").hash(seed=2 * seed + 1) ^ pl.col("bounce_type").hash(seed=2 * seed + 2)


def as_engine(events: pl.DataFrame | pl.LazyFrame | LogEngine) -> LogEngine:
    """``events`` as a :class:`LogEngine`: a polars frame runs on polars."""
    return events if isinstance(events, LogEngine) else PolarsEngine(events)


class DuckDBEngine(LogEngine):
    """The log in an embedded DuckDB database: it spills to disk, for logs far larger than memory.

    ``events`` is a polars frame (written to a Parquet file in ``scratch`` first) or a folder of Parquet
    files where the events live (read in place).
    """

    name = "duckdb"

    def __init__(
        self, events: pl.DataFrame | pl.LazyFrame | Path, *, scratch: str | Path | None = None
    ) -> None:
        duckdb = _imported("duckdb")
        self._folder = Path(tempfile.mkdtemp(prefix="listkit-duckdb-", dir=scratch))
        # Bounded, spilling the rest to scratch: DuckDB's default (80% of the machine) would crowd out
        # this process, which holds one row per address beside it.
        settings = {"temp_directory": str(self._folder / "spill"), "memory_limit": DUCKDB_MEMORY_LIMIT}
        self.connection = duckdb.connect(config=settings)
        try:
            self.connection.execute("SET TimeZone = 'UTC'")
            if isinstance(events, Path):
                log = self.connection.read_parquet(str(events / "**" / "*.parquet"), hive_partitioning=True)
                self._log = lake_events(nw.from_native(log), events)
            else:
                log = self.connection.read_parquet(str(_as_parquet(events, self._folder)))
                self._log = lake_events(nw.from_native(log), "the event log")
        except BaseException:
            self.close()
            raise

    def _main(self) -> nw.LazyFrame:
        return self._log

    def table(self, frame: pl.DataFrame) -> nw.LazyFrame:
        return nw.from_native(self.connection.from_arrow(frame.to_arrow()))

    def collect(self, query: nw.LazyFrame) -> pl.DataFrame:
        return query.to_native().pl()

    def with_age(self, frame: nw.LazyFrame, as_of_us: int) -> nw.LazyFrame:
        import duckdb

        epoch = duckdb.FunctionExpression("epoch_us", duckdb.ColumnExpression("timestamp"))
        age = (duckdb.ConstantExpression(as_of_us) - epoch).alias("age_us")
        return nw.from_native(frame.to_native().select(duckdb.StarExpression(), age))

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self._folder, ignore_errors=True)


class SparkEngine(LogEngine):
    """The log as a Spark DataFrame, on the running session (``spark-submit``), else a local one.

    ``events`` is a polars frame (written to a Parquet file in ``scratch`` first), a folder of Parquet
    files where the events live, or the name of a table of the session's catalog (both read in place).
    """

    name = "spark"

    def __init__(
        self, events: pl.DataFrame | pl.LazyFrame | Path | str, *, scratch: str | Path | None = None
    ) -> None:
        _imported("pyspark")
        from pyspark.sql import SparkSession

        # listkit's Arrow conversions work with pandas 3; pyspark warns on every one that it may not.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)

        self.session = SparkSession.getActiveSession() or _session()
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        self._folder = Path(tempfile.mkdtemp(prefix="listkit-spark-", dir=scratch))
        if isinstance(events, str):
            from pyspark.errors import AnalysisException

            try:
                table = self.session.table(events)
            except AnalysisException:
                self.close()
                raise InputError(
                    "is neither a file nor a folder, nor a table of Spark's catalog",
                    file=events,
                    hint="check the path, or the table's name (database.table)",
                ) from None
            self._log = lake_events(nw.from_native(table), events)
        elif isinstance(events, Path):
            self._log = lake_events(nw.from_native(self.session.read.parquet(str(events))), events)
        else:
            log = self.session.read.parquet(str(_as_parquet(events, self._folder)))
            self._log = lake_events(nw.from_native(log), "the event log")

    def _main(self) -> nw.LazyFrame:
        return self._log

    def table(self, frame: pl.DataFrame) -> nw.LazyFrame:
        # Spark has no unsigned integers: the few a lookup table has (row numbers) fit in a long.
        signed = frame.with_columns(pl.col(pl.UInt8, pl.UInt16, pl.UInt32).cast(pl.Int64))
        return nw.from_native(self.session.createDataFrame(signed.to_arrow()))

    def collect(self, query: nw.LazyFrame) -> pl.DataFrame:
        return pl.from_arrow(query.to_native().toArrow())

    def with_age(self, frame: nw.LazyFrame, as_of_us: int) -> nw.LazyFrame:
        from pyspark.sql import functions

        age = functions.lit(as_of_us) - functions.unix_micros(functions.col("timestamp"))
        return nw.from_native(frame.to_native().withColumn("age_us", age))

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)


def engine_for(
    name: str, events: pl.DataFrame | pl.LazyFrame | Any, *, scratch: str | Path | None = None
) -> LogEngine:
    """The :class:`LogEngine` called ``name`` (one of :data:`ENGINES`) over ``events``.

    Raises :class:`~listkit.errors.ConfigError` for an unknown name or an engine not installed.
    """
    if name == "polars":
        return PolarsEngine(events)
    if name == "duckdb":
        return DuckDBEngine(events, scratch=scratch)
    if name == "spark":
        return SparkEngine(events, scratch=scratch)
    raise ConfigError(f"--engine {name!r} is not one of {', '.join(ENGINES)}; choose one of them")


def _imported(package: str) -> Any:
    """``package`` imported, or a :class:`ConfigError` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        extra = _EXTRAS[package]
        raise ConfigError(
            f"this engine needs the Python package {package}, which is not installed; "
            f"install it with: pip install 'listkit[{extra}]'"
        ) from None


def _as_parquet(events: pl.DataFrame | pl.LazyFrame, folder: Path) -> Path:
    """``events`` written to one Parquet file in ``folder`` (streamed from a LazyFrame), for an engine
    outside this process's memory to read."""
    target = folder / "events.parquet"
    _event_as_text(events.lazy()).sink_parquet(target, compression="lz4")
    return target


def _event_as_text(events: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """``events`` with the event name as plain text (polars' Enum is no type of the other engines);
    :func:`lake_events` then picks and casts the canonical columns on the engine."""
    return events.with_columns(pl.col("event").cast(pl.String))


def _session() -> Any:
    """A Spark session: on the cluster ``spark-submit`` names, else in local mode on every core."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("listkit").config("spark.sql.session.timeZone", "UTC")
    local = not SparkConf().contains("spark.master")  # not started by spark-submit: this machine alone
    if local:  # quiet, as a command on a terminal should be: no web UI, progress bars or INFO lines
        builder = builder.master("local[*]").config("spark.ui.enabled", "false")
        builder = builder.config("spark.ui.showConsoleProgress", "false")
    session = builder.getOrCreate()
    if local:
        session.sparkContext.setLogLevel("ERROR")
    return session


#: The columns a table where the events live must have; the others of :data:`EVENT_COLUMNS` may be absent.
LAKE_REQUIRED = ("email", "event", "timestamp")


def lake_events(frame: nw.LazyFrame, source: str | Path) -> nw.LazyFrame:
    """A table of events where they live (a Parquet folder, a Spark table) as the canonical columns.

    Such a table is read in place, not by listkit's reader, so it must already be canonical: ``email``,
    ``event`` (listkit's names: :data:`listkit.schema.EVENT_TYPES`) and ``timestamp`` (a timestamp),
    with any of the other columns of :data:`EVENT_COLUMNS`; the rest are left out. Raises
    :class:`~listkit.errors.InputError` naming what is missing or mistyped.
    """
    schema = frame.collect_schema()
    missing = [name for name in LAKE_REQUIRED if name not in schema]
    if missing:
        raise InputError(
            f"the events table has no column {', '.join(missing)} (it has {', '.join(schema) or 'none'})",
            file=source,
            hint="a table read in place needs listkit's column names: email, event, timestamp, ...",
        )
    stamp = schema["timestamp"]
    # Microseconds or coarser: engines convert nanoseconds differently (truncated or rounded).
    if not isinstance(stamp, nw.Datetime) or stamp.time_unit not in ("s", "ms", "us"):
        raise InputError(
            f"the events table's timestamp column is {stamp}, not a timestamp in microseconds or coarser",
            file=source,
            hint="store them as timestamps in microseconds (UTC), or give the file to listkit's reader",
        )
    columns = []
    for name, wanted in _LAKE_TYPES.items():
        if name in schema:
            columns.append(nw.col(name).cast(wanted))
        elif name == "event_raw":  # the name as the table spells it, as the reader keeps it
            columns.append(nw.col("event").cast(nw.String()).alias(name))
        else:
            columns.append(nw.lit(None, dtype=wanted).alias(name))
    return frame.select(*columns)


#: The canonical event columns (:data:`EVENT_COLUMNS`, in order) as every engine can hold them: the event
#: name as text, the row number signed (Spark has no unsigned integers).
_LAKE_TYPES = {
    "source_row": nw.Int64(),
    "email": nw.String(),
    "event": nw.String(),
    "event_raw": nw.String(),
    "timestamp": nw.Datetime("us", "UTC"),
    "campaign": nw.String(),
    "bounce_type": nw.String(),
    "smtp_status": nw.String(),
    "user_agent": nw.String(),
    "machine_open": nw.Boolean(),
}
assert tuple(_LAKE_TYPES) == tuple(EVENT_COLUMNS)


def events_source(events: str | Path, engine: str) -> str | Path:
    """``events`` as where a command reads them: a path (``~`` expanded), or for Spark the name of a
    table when no such file or folder exists (a misspelt path is then refused as an unknown table)."""
    path = Path(events).expanduser()
    return events if engine == "spark" and isinstance(events, str) and not path.exists() else path


def engine_where(
    name: str, source: str | Path, *, scratch: str | Path | None = None, check_names: bool = True
) -> LogEngine:
    """The engine called ``name`` over events where they live, read in place (:func:`lake_events`): a
    folder of Parquet files, or for Spark a table of its catalog.

    Raises :class:`~listkit.errors.InputError` when the table lacks a canonical column or holds event
    names listkit does not know (``opened``, ``Delivered``: the ESP's, which only listkit's reader
    translates); ``check_names=False`` skips that pass, for the files listkit's reader wrote itself.
    """
    if Path(source).is_dir() and not any(Path(source).rglob("*.parquet")):
        raise InputError(
            "the folder holds no Parquet files",
            file=source,
            hint="give a folder of .parquet files, or a CSV or Parquet file to listkit's reader",
        )
    if name == "polars":
        scan = pl.scan_parquet(Path(source) / "**" / "*.parquet", hive_partitioning=True)
        engine: LogEngine = PolarsEngine(lake_events(nw.from_native(scan), source).to_native())
    elif name == "duckdb":
        engine = DuckDBEngine(Path(source), scratch=scratch)
    elif name == "spark":
        engine = SparkEngine(source if isinstance(source, str) else Path(source), scratch=scratch)
    else:
        engine = engine_for(name, pl.DataFrame(), scratch=scratch)  # refuses the name
    if not check_names:
        return engine
    # One pass: each distinct (event, bounce_type) pair, with its events that have no date. An ESP's
    # words would be read as unknown events and unlabelled bounces (a hard bounce missed), and an
    # undated event is refused by listkit's reader too.
    undated = nw.col("timestamp").is_null().cast(nw.Int64).sum().alias("undated")
    pairs = engine.collect(engine.log().group_by("event", "bounce_type").agg(undated))
    problems = []
    for column, known in (("event", EVENT_TYPES), ("bounce_type", BOUNCE_VERDICTS)):
        unknown = sorted(set(pairs[column].drop_nulls()) - set(known))
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            problems.append(
                (f"the events table's {column} column holds values listkit does not know: {shown}",
                 f"use listkit's ({', '.join(known)}), or give the file to listkit's reader")
            )  # fmt: skip
    if pairs["undated"].sum():
        problems.append(
            (f"{pairs['undated'].sum():,} events of the table have no timestamp",
             "give every event its time, or leave the undated ones out")
        )  # fmt: skip
    if problems:
        engine.close()
        message, hint = problems[0]
        raise InputError(message, file=source, hint=hint)
    return engine


__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "DuckDBEngine",
    "LogEngine",
    "PolarsEngine",
    "SparkEngine",
    "as_engine",
    "engine_for",
    "engine_where",
    "events_source",
    "lake_events",
    "polars_bounce_key",
    "text_bounce_key",
]
