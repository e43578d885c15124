"""The event log, summed up per address in streaming passes whose memory does not grow with the log.

A run reads the log a fixed number of times, whether it is a frame in memory or a Parquet file
scanned lazily (:func:`listkit.scan_events`), and each pass keeps one row per distinct address (or
per distinct user agent, status or name), never one per event:

1. :func:`survey_events`: the row count, the latest event (the default ``as_of``), whether the log
   has deliveries and agent-less opens; then its user agents, bounce statuses and unknown names;
2. :func:`address_activity`: the distinct addresses, then every per-address count, window count,
   earliest and latest time and decayed sum that the features, the compliance table and the run's
   statistics need;
3. :func:`sequence_counts`: the two counts that depend on a mailbox's own latest times (deliveries
   since its last engagement, soft bounces since its last delivery), then the bounces alone (for
   the status of the latest one);
4. :func:`monthly_activity`: the log's counts per calendar month (for the report's engagement over
   time), one row per month and class.

Only rare cases add a pass (:func:`event_context`): a log of sends only (to find the sends whose
campaign bounced) and opens without user agent (to find those fetched within seconds of their
delivery). Every event is classified by :func:`classified_events`; the rules are documented in
:mod:`listkit.engagement`.

The passes are written once, as narwhals queries, and run on the log's engine
(:mod:`listkit.engines`: polars, DuckDB or Spark), which gives the same results on each. On polars,
three habits keep a scanned log's memory flat (each measured, see :mod:`listkit.streaming`): the
aggregations run over batches of about :data:`~listkit.streaming.BATCH_ROWS` events (whole parts of
the log :func:`listkit.scan_events` stored, whose per-address results need no merging); text a pass
keeps is interned (:meth:`LogEngine.kept`) or copied out of its chunk; and the passes are collected
one after another. There addresses are grouped by a 64-bit hash of their text together with the
event's class in one integer (several times faster than by the text and the class); a second hash of
each address rides along, so two addresses sharing a hash are found exactly, and the aggregation is
then grouped by the text, as on the other engines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import narwhals as nw
import polars as pl

from listkit.bounces import classify_bounces
from listkit.engines import LogEngine, PolarsEngine, as_engine, polars_bounce_key
from listkit.policy import Policy
from listkit.schema import EPOCH
from listkit.streaming import in_batches

#: Decayed sums are accumulated as integers in these units, so the result does not depend on the
#: order in which a parallel group-by adds the events (reruns stay byte-identical).
DECAY_UNITS = 1_000_000
_MICROSECONDS_PER_DAY = 86_400 * 1_000_000

#: User agents of machines, not readers: Apple MPP's bare agent, link scanners and prefetchers.
MACHINE_AGENT_PATTERN = (
    r"(?i)^\s*Mozilla/5\.0\s*$|barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro"
    r"|forcepoint|cisco.?ironport|urldefense|safelinks|bitdefender|sophos|fortinet|zscaler|bot\b|crawler|spider"
)

#: Windows (days before ``as_of``) with their own delivery and engagement counts.
WINDOWS_DAYS = (30, 90, 180, 365)
#: The recent period of the provider compliance table.
RECENT_DAYS = 30
#: What the compliance table counts: event types as they are in the log (before listkit's
#: classes), and ``block``, the bounces that were reputation or policy blocks.
RAW_COUNTED = ("send", "delivered", "bounce", "block", "complaint", "unsubscribe")

#: Per-address columns whose mailbox value is the earliest, the latest, or the sum of its addresses'.
EARLIEST_COLUMNS = ("first_event_at", "first_engagement_at")
LATEST_COLUMNS = (
    "last_engagement_at",
    "last_delivery_at",
    "last_bounce_at",
    "hard_bounce_at",
    "complaint_at",
    "unsubscribed_at",
)


@dataclasses.dataclass(frozen=True)
class LogSurvey:
    """What a few cheap passes tell about an event log before it is aggregated.

    Attributes:
        rows: events in the log.
        latest: the latest timestamp (the default ``as_of``), ``None`` for an empty log.
        first_delivered_at: the earliest ``delivered`` event (``None`` in a log of sends only).
        first_unlabelled_open_at: the earliest open with neither ESP label nor user agent, but with
            a campaign (the only opens the fast-fetch test can judge).
        machine_agents: the log's distinct user agents that are machines' (sorted).
        bounce_reasons: each distinct (``smtp_status``, ``bounce_type``) pair of the log's bounces
            with its ``bounce_reason`` and ``bounce_class`` (:func:`listkit.bounces.classify_bounces`)
            and ``key_seed``, the seed under which polars' keys of the pairs all differ.
        unknown_types: event names listkit does not know, with their counts.
    """

    rows: int
    latest: datetime | None
    first_delivered_at: datetime | None
    first_unlabelled_open_at: datetime | None
    machine_agents: tuple[str, ...]
    bounce_reasons: pl.DataFrame
    unknown_types: dict[str, int]

    def sends_only(self, as_of: datetime) -> bool:
        """True when no ``delivered`` event happened by ``as_of``: sends then count as deliveries."""
        return self.first_delivered_at is None or self.first_delivered_at > as_of

    def unlabelled_opens(self, as_of: datetime) -> bool:
        """True when some open by ``as_of`` needs the fast-fetch test."""
        return self.first_unlabelled_open_at is not None and self.first_unlabelled_open_at <= as_of


def survey_events(events: pl.DataFrame | pl.LazyFrame | LogEngine) -> LogSurvey:
    """Passes on the log's engine: scalar aggregations, then the distinct user agents, statuses and
    unknown names."""
    engine = as_engine(events)
    log, kept = engine.log(), engine.kept
    timestamp = nw.col("timestamp")
    scalars = log.select(
        rows=nw.len(),
        latest=timestamp.max(),
        # when/then rather than filter: the streaming engine keeps this elementwise.
        first_delivered_at=nw.when(nw.col("event") == "delivered").then(timestamp).min(),
        first_unlabelled_open_at=nw.when(_unlabelled_open()).then(timestamp).min(),
    )
    # Separate queries, one after the other: collected together, polars would buffer the log for
    # the slower of them, and memory would grow with the log.
    scalars = engine.collect(scalars).cast(_SURVEY_SCHEMA)
    agents = engine.collect(log.select(kept(nw.col("user_agent"))).drop_nulls().unique())
    pairs = engine.collect(
        log.filter(nw.col("event") == "bounce")
        .select(kept(nw.col("smtp_status")), kept(nw.col("bounce_type")))
        .unique()
    )
    unknown = engine.collect(
        log.filter(nw.col("event") == "unknown")
        .select(kept(nw.col("event_raw").fill_null("(empty)")))
        .group_by("event_raw")
        .agg(n=nw.len())
    )
    agents = agents.to_series().cast(pl.String)
    # Regular expressions once per distinct pair (a few thousand), never per event.
    pairs = pairs.select(pl.all().cast(pl.String)).sort("smtp_status", "bounce_type", nulls_last=True)
    return LogSurvey(
        **scalars.row(0, named=True),
        machine_agents=tuple(agents.filter(agents.str.contains(MACHINE_AGENT_PATTERN)).sort()),
        bounce_reasons=_with_key_seed(classify_bounces(pairs)),
        unknown_types=dict(sorted((str(name), int(count)) for name, count in unknown.iter_rows())),
    )


#: The survey's scalars, whichever engine counted them.
_SURVEY_SCHEMA = {
    "rows": pl.Int64(),
    "latest": pl.Datetime("us", "UTC"),
    "first_delivered_at": pl.Datetime("us", "UTC"),
    "first_unlabelled_open_at": pl.Datetime("us", "UTC"),
}


def _with_key_seed(reasons: pl.DataFrame) -> pl.DataFrame:
    """``reasons`` with ``key_seed``: the first seed whose polars keys (:meth:`PolarsEngine.with_bounce_key`)
    are all distinct (other engines key the pair by its text, always distinct)."""
    seed = 0
    while reasons.select(polars_bounce_key(seed)).to_series().is_duplicated().any():
        seed += 1
    return reasons.with_columns(key_seed=pl.lit(seed, dtype=pl.UInt32))


def _key_seed(bounce_reasons: pl.DataFrame) -> int:
    return int(bounce_reasons["key_seed"][0]) if bounce_reasons.height else 0


def bounce_class(bounce_reasons: pl.DataFrame, engine: LogEngine) -> nw.Expr:
    """``hard``, ``soft``, ``policy`` or ``ignored`` for bounce events (null for other events).

    ``bounce_reasons`` is :class:`LogSurvey`'s: each distinct pair already classified by
    :func:`listkit.bounces.classify_bounces`, matched here by the ``bounce_key`` column that
    :meth:`LogEngine.with_bounce_key` gives each event (one ``is_in`` test per class, elementwise, so
    a scanned log still streams, unlike ``replace_strict``: see :mod:`listkit.streaming`).
    """
    keys = engine.bounce_keys(bounce_reasons, _key_seed(bounce_reasons))
    classes = pl.DataFrame({"key": keys, "value": bounce_reasons["bounce_class"]})
    groups = classes.drop_nulls("value").group_by("value", maintain_order=True).agg("key")
    result = nw.lit("soft")  # a pair the survey did not see cannot occur; soft is the cautious default
    for value, group in reversed(groups.rows()):
        result = nw.when(nw.col("bounce_key").is_in(group)).then(nw.lit(value)).otherwise(result)
    return nw.when(nw.col("event") == "bounce").then(result)


@dataclasses.dataclass(frozen=True)
class EventContext:
    """What classifying an event needs beyond the event itself, worked out once for the whole log.

    Attributes:
        as_of: events after it are ignored, except opt-outs (UTC).
        policy: the run's policy (score half-life, windows, fast-fetch seconds).
        survey: the log's :class:`LogSurvey`.
        bounced_sends: in a log of sends only, the (``email``, ``campaign``) pairs that bounced.
        fast_fetches: the unlabelled opens fetched within seconds of their delivery.
    """

    as_of: datetime
    policy: Policy
    survey: LogSurvey
    bounced_sends: pl.DataFrame | None = None
    fast_fetches: pl.DataFrame | None = None


def event_context(
    events: pl.DataFrame | pl.LazyFrame | LogEngine,
    *,
    as_of: datetime,
    policy: Policy,
    survey: LogSurvey | None = None,
) -> EventContext:
    """The :class:`EventContext` of a log; only a log of sends only or with unlabelled opens costs a pass."""
    engine = as_engine(events)
    survey = survey or survey_events(engine)
    as_of = _utc(as_of)
    log = engine.log().filter(nw.col("timestamp") <= as_of)
    bounced = None
    if survey.sends_only(as_of):
        # Some exports list only sends; a send whose campaign bounced for that address was not
        # delivered (sends and bounces without a campaign cannot be paired and stay deliveries).
        bounced = engine.collect(
            log.filter((nw.col("event") == "bounce") & ~nw.col("campaign").is_null())
            .select(engine.kept(nw.col("email")), engine.kept(nw.col("campaign")))
            .unique()
        ).select(pl.all().cast(pl.String), bounced=pl.lit(True))
    context = EventContext(as_of=as_of, policy=policy, survey=survey, bounced_sends=bounced)
    if survey.unlabelled_opens(as_of):
        deliveries = _with_deliveries(log, context, engine).filter(nw.col("delivery"))
        opens = _fast_fetches(engine, log, deliveries, seconds=policy.machine_open_seconds)
        context = dataclasses.replace(context, fast_fetches=opens)
    return context


def classified_events(log: nw.LazyFrame, context: EventContext, engine: LogEngine) -> nw.LazyFrame:
    """Every event of ``log`` (on ``engine``) with its classes, lazily: nothing is read until collected.

    Columns: ``email`` (and ``email_hash`` where the engine groups by hash), ``event``, ``timestamp``,
    ``smtp_status`` and ``bounce_type`` (bounces only), ``bounce_class``, ``in_range`` (at or before
    ``as_of``), and, for events in range, ``delivery`` and ``machine`` (an open or click by a machine);
    ``age_us`` and ``decay`` (in :data:`DECAY_UNITS`).
    """
    as_of, survey = context.as_of, context.survey
    in_range = nw.col("timestamp") <= as_of
    log = _with_deliveries(log, context, engine).with_columns(delivery=in_range & nw.col("delivery"))
    fast_fetch = nw.lit(False)
    if context.fast_fetches is not None:
        log = log.join(engine.table(context.fast_fetches), on=["email", "campaign", "timestamp"], how="left")
        fast_fetch = nw.col("fast_fetch")
    agent = nw.col("user_agent")
    # Null without an agent, as is_in is; an empty list is no valid IN () on every engine.
    machine_agent = (
        agent.is_in(list(survey.machine_agents))
        if survey.machine_agents
        else nw.when(~agent.is_null()).then(nw.lit(False))
    )
    # The ESP's label wins; then the agent; then the fetch time. A click by a link scanner is a
    # machine's too (no ESP labels clicks).
    kind = nw.col("event")
    machine = (
        (kind == "open") & nw.coalesce(nw.col("machine_open"), machine_agent, fast_fetch, nw.lit(False))
    ) | ((kind == "click") & machine_agent.fill_null(False))
    log = engine.with_bounce_key(log, _key_seed(survey.bounce_reasons))
    if engine.hashes_addresses:
        log = nw.from_native(log.to_native().with_columns(email_hash=address_hash()))
    log = engine.with_age(log, int(as_of.timestamp() * 1_000_000))
    age_us = nw.col("age_us")
    half_life = context.policy.score_half_life_days
    return log.select(
        "email",
        *(["email_hash"] if engine.hashes_addresses else []),
        "event",
        "timestamp",
        "delivery",
        in_range=in_range,
        smtp_status=nw.when(kind == "bounce").then(nw.col("smtp_status")),
        bounce_type=nw.when(kind == "bounce").then(nw.col("bounce_type")),
        # Classed whatever their date: a hard bounce after as_of still says the mailbox is dead.
        bounce_class=bounce_class(survey.bounce_reasons, engine),
        machine=in_range & machine,
        age_us=age_us,
        # Rounded half up, as floor(x + 0.5): the same integer on every engine. Events after as_of
        # weigh nothing (their units are never read, and grow past any integer long before).
        decay=nw.when(in_range)
        .then(((nw.lit(0.5) ** (age_us / _MICROSECONDS_PER_DAY / half_life)) * DECAY_UNITS + 0.5).floor())
        .otherwise(0)
        .cast(nw.Int64),
    )


def _with_deliveries(log: nw.LazyFrame, context: EventContext, engine: LogEngine) -> nw.LazyFrame:
    """Add ``delivery``: a ``delivered`` event, or in a log of sends only a send that did not bounce."""
    if context.bounced_sends is None:
        return log.with_columns(delivery=nw.col("event") == "delivered")
    return (
        log.join(engine.table(context.bounced_sends), on=["email", "campaign"], how="left")
        .with_columns(delivery=(nw.col("event") == "send") & nw.col("bounced").is_null())
        .drop("bounced")
    )


#: What each event is, once classified: the group-by keys of :func:`address_activity`. A ``send``
#: is a ``send_delivery`` when a log of sends only counts it as a delivery.
EVENT_CLASSES = (
    "send",
    "send_delivery",
    "delivered",
    "open_human",
    "open_machine",
    "click_human",
    "click_machine",
    "bounce_hard",
    "bounce_soft",
    "bounce_policy",
    "bounce_ignored",
    "complaint",
    "unsubscribe",
    "unknown",
    "after_as_of",
    "unsubscribe_after_as_of",
    "complaint_after_as_of",
    "bounce_hard_after_as_of",
)
_DELIVERIES = ("send_delivery", "delivered")
_HUMAN = ("open_human", "click_human")
#: Opt-outs dated after as_of: as_of decides what counts as engagement, it never makes listkit
#: forget what a recipient or a mail server said.
_LATE_OPT_OUTS = ("unsubscribe_after_as_of", "complaint_after_as_of", "bounce_hard_after_as_of")
_AFTER_AS_OF = ("after_as_of", *_LATE_OPT_OUTS)
_IN_RANGE = tuple(name for name in EVENT_CLASSES if name not in _AFTER_AS_OF)


def address_activity(events: pl.DataFrame | pl.LazyFrame | LogEngine, context: EventContext) -> pl.DataFrame:
    """One row per distinct address of the log (sorted by ``email``), from one pass on its engine.

    Counts are of events at or before ``as_of`` unless named otherwise: ``events``,
    ``events_after_as_of`` (and ``opt_outs_after_as_of``: unsubscribes, complaints and hard
    bounces after it), listkit's classes (``deliveries``, ``human_opens``, ``clicks``, machine
    opens and clicks, bounces by class, ``complaints``, ``unsubscribes``; the last three and
    their times include opt-outs after ``as_of``, which are never forgotten), the delivery and
    engagement counts of each window, the raw counts of :data:`RAW_COUNTED` (``raw_<type>``, and
    ``recent_<type>`` for the last :data:`RECENT_DAYS` days), the earliest and latest times of
    :data:`EARLIEST_COLUMNS` and :data:`LATEST_COLUMNS`, and the decayed ``engagement_units`` and
    ``delivery_units`` of the score. ``email_hash`` is unique unless two addresses share a hash.
    """
    engine = as_engine(events)
    windows = {
        "sunset": context.policy.sunset_days,
        **{str(days): days for days in (*WINDOWS_DAYS, RECENT_DAYS)},
    }
    # Grouped by address and class with a handful of aggregations (the per-event work), then
    # spread into columns on the much smaller result.
    sums = ["n", *(f"w_{name}" for name in windows), "units"]
    merged = [pl.col(sums).sum(), pl.col("first").min(), pl.col("last").max()]
    aggregations = [
        nw.len().alias("n"),
        *(
            _count(nw.col("age_us") < days * _MICROSECONDS_PER_DAY).alias(f"w_{name}")
            for name, days in windows.items()
        ),
        nw.col("decay").sum().alias("units"),
        nw.col("timestamp").min().alias("first"),
        nw.col("timestamp").max().alias("last"),
    ]
    schema = {
        **{name: pl.UInt32() for name in sums[:-1]},
        "units": pl.Int64(),
        "first": pl.Datetime("us", "UTC"),
        "last": pl.Datetime("us", "UTC"),
    }

    def by_class(
        key: Callable[[nw.LazyFrame], nw.LazyFrame], keys: list[str], *, checked: bool
    ) -> pl.DataFrame:
        check = {"low": nw.col("check").min(), "high": nw.col("check").max()} if checked else {}
        counted = engine.aggregate(
            lambda log: (
                key(classified_events(log, context, engine).with_columns(cls=_event_class()))
                .group_by(keys)
                .agg(*aggregations, **check)
            ),
            rows=context.survey.rows,
            keys=keys,
            merged=[*merged, *((pl.col("low").min(), pl.col("high").max()) if checked else ())],
            by_address=True,
        )
        return counted.with_columns(pl.col(sums).fill_null(0)).cast(schema)

    if engine.hashes_addresses:
        # Grouped by hash and class in one integer, a second hash of each address riding along
        # (checked): if two spellings share a hash, its minimum and maximum differ among the hash's
        # groups, and the pass is done again by the text.
        counted = by_class(_hashed_by_class, ["address_class"], checked=True).select(
            pl.exclude("address_class"),
            email_hash=pl.col("address_class") & _HASH_MASK,
            cls=(pl.col("address_class") & ((1 << _CLASS_BITS) - 1)).cast(pl.UInt8),
        )
        # Across all the classes of a hash: two spellings may share it with no class in common.
        checks = counted.group_by("email_hash").agg(pl.col("low").min(), pl.col("high").max())
        if (checks["low"] == checks["high"]).all():
            counted = counted.drop("low", "high")
            spellings = _spellings(engine, context.survey.rows)
            activity = spellings.join(_spread(counted, context.policy, key="email_hash"), on="email_hash")
            return activity.sort("email", nulls_last=True)
    # By the text: other engines always, polars when two spellings share a hash (rare).
    counted = by_class(
        lambda classified: classified.select(engine.kept(nw.col("email")), *_BY_CLASS_INPUTS),
        ["email", "cls"],
        checked=False,
    ).with_columns(pl.col("email").cast(pl.String), pl.col("cls").cast(pl.UInt8))
    spellings = counted.select("email").unique().with_columns(email_hash=address_hash())
    # Events without an address are one row too (their counts reach the run's statistics).
    activity = spellings.join(_spread(counted, context.policy, key="email"), on="email", nulls_equal=True)
    return activity.sort("email", nulls_last=True)


#: The columns of a classified event that :func:`address_activity`'s aggregations read.
_BY_CLASS_INPUTS = ("cls", "timestamp", "age_us", "decay")


def _hashed_by_class(classified: nw.LazyFrame) -> nw.LazyFrame:
    """Polars only: each classified event's ``address_class`` (its :func:`address_hash` with the class
    in the low bits) and ``check`` (a second hash of its address), with the columns the aggregations
    read."""
    native = classified.to_native().select(
        *_BY_CLASS_INPUTS,
        address_class=pl.col("email_hash") | pl.col("cls").cast(pl.UInt64),
        check=pl.col("email").hash(seed=1),
    )
    return nw.from_native(native)


def _spellings(engine: PolarsEngine, rows: int) -> pl.DataFrame:
    """Each distinct address (``email``) with its ``email_hash``, when no two of them share a hash.

    The first event of each hash is kept (a hash set of integers), so only the distinct addresses'
    text is gathered: grouping the text by hash cost three times as much.
    """

    def first_of_each(batch: pl.LazyFrame) -> pl.LazyFrame:
        keyed = batch.select(address_hash().alias("email_hash"), "email")  # the key first, as merged
        return keyed.filter(pl.col("email_hash").is_first_distinct())

    spellings = in_batches(
        engine.events,
        rows,
        first_of_each,
        keys=["email_hash"],
        merged=[pl.col("email").first()],
        by_address=True,
    )
    return spellings.select("email", "email_hash")


#: The columns of a classified event that its class is made of (:func:`_event_class` reads only these).
CLASS_PARTS = ("event", "in_range", "delivery", "machine", "bounce_class")


def _event_class() -> nw.Expr:
    """The :data:`EVENT_CLASSES` index of each classified event (from its :data:`CLASS_PARTS`), an Int8.

    Integer literals only: naming each event's class as text cost more than the rest of the pass.
    """
    # Int8: Spark has no unsigned integers.
    code = {name: nw.lit(index, dtype=nw.Int8) for index, name in enumerate(EVENT_CLASSES)}
    kind, late, bounce = nw.col("event"), ~nw.col("in_range"), nw.col("bounce_class")

    def either(condition: nw.Expr, yes: str, no: str) -> nw.Expr:
        return nw.when(condition).then(code[yes]).otherwise(code[no])

    by_bounce = nw.lit(None, dtype=nw.Int8)
    for name in ("hard", "soft", "policy", "ignored"):
        by_bounce = nw.when(bounce == name).then(code[f"bounce_{name}"]).otherwise(by_bounce)
    # The first condition that holds names the class (nested, as every engine's CASE nests).
    rules = [
        (late & (kind == "unsubscribe"), code["unsubscribe_after_as_of"]),
        (late & (kind == "complaint"), code["complaint_after_as_of"]),
        (late & (bounce == "hard"), code["bounce_hard_after_as_of"]),
        (late, code["after_as_of"]),
        (kind == "send", either(nw.col("delivery"), "send_delivery", "send")),
        (kind == "open", either(nw.col("machine"), "open_machine", "open_human")),
        (kind == "click", either(nw.col("machine"), "click_machine", "click_human")),
        (kind == "bounce", by_bounce),
        (kind == "delivered", code["delivered"]),
        (kind == "complaint", code["complaint"]),
        (kind == "unsubscribe", code["unsubscribe"]),
    ]
    result = code["unknown"]
    for condition, value in reversed(rules):
        result = nw.when(condition).then(value).otherwise(result)
    return result


def _is_class(classes: tuple[str, ...]) -> pl.Expr:
    """True where ``cls`` (an :func:`_event_class` index) is one of ``classes``."""
    return pl.col("cls").is_in([EVENT_CLASSES.index(name) for name in classes])


def _spread(by_class: pl.DataFrame, policy: Policy, *, key: str) -> pl.DataFrame:
    """One row per ``key`` from one per key and class: the columns :func:`address_activity` lists."""

    # Each output's value is picked per row first (vectorised), then aggregated plainly: a filter
    # inside the aggregation ran once per group, 4.3 s for 3.5 M rows against a fraction of that.
    picked: dict[str, pl.Expr] = {}

    def total(column: str, classes: tuple[str, ...], how: str = "sum", *, name: str) -> pl.Expr:
        picked[name] = pl.when(_is_class(classes)).then(pl.col(column))
        return getattr(pl.col(name), how)()

    raw_classes = {
        "send": ("send", "send_delivery"),
        "delivered": ("delivered",),
        "bounce": ("bounce_hard", "bounce_soft", "bounce_policy"),
        "block": ("bounce_policy",),
        "complaint": ("complaint",),
        "unsubscribe": ("unsubscribe",),
    }
    window_columns = {
        "deliveries_in_window": ("w_sunset", _DELIVERIES),
        "engagements_in_window": ("w_sunset", _HUMAN),
        **{f"deliveries_{days}d": (f"w_{days}", _DELIVERIES) for days in WINDOWS_DAYS},
        **{f"engagements_{days}d": (f"w_{days}", _HUMAN) for days in WINDOWS_DAYS},
    }
    latest = {
        "last_engagement_at": _HUMAN,
        "last_delivery_at": _DELIVERIES,
        "last_bounce_at": ("bounce_hard", "bounce_soft"),
        "hard_bounce_at": ("bounce_hard", "bounce_hard_after_as_of"),
        "complaint_at": ("complaint", "complaint_after_as_of"),
        "unsubscribed_at": ("unsubscribe", "unsubscribe_after_as_of"),
    }
    counts = {
        "events": _IN_RANGE,
        "events_after_as_of": _AFTER_AS_OF,
        "opt_outs_after_as_of": _LATE_OPT_OUTS,
        "deliveries": _DELIVERIES,
        "human_opens": ("open_human",),
        "clicks": ("click_human",),
        "machine_opens": ("open_machine",),
        "machine_clicks": ("click_machine",),
        "hard_bounces": ("bounce_hard", "bounce_hard_after_as_of"),
        "soft_bounces": ("bounce_soft",),
        "policy_bounces": ("bounce_policy",),
        "complaints": ("complaint", "complaint_after_as_of"),
        "unsubscribes": ("unsubscribe", "unsubscribe_after_as_of"),
    }
    aggregations = [
        *(total("n", classes, name=name).cast(pl.UInt32) for name, classes in counts.items()),
        *(
            total(column, classes, name=name).cast(pl.UInt32)
            for name, (column, classes) in window_columns.items()
        ),
        *(total("n", classes, name=f"raw_{name}").cast(pl.UInt32) for name, classes in raw_classes.items()),
        *(
            total(f"w_{RECENT_DAYS}", classes, name=f"recent_{name}").cast(pl.UInt32)
            for name, classes in raw_classes.items()
        ),
        *(total("last", classes, "max", name=name) for name, classes in latest.items()),
        total("first", _IN_RANGE, "min", name="first_event_at"),
        total("first", _HUMAN, "min", name="first_engagement_at"),
        total("units", ("open_human",), name="opens_units"),
        total("units", ("click_human",), name="click_units"),
        total("units", _DELIVERIES, name="delivery_units"),
    ]
    return (
        by_class.select(key, **picked)
        .group_by(key)
        .agg(*aggregations)
        # Clicks weigh more; the weight is applied to the (integer, order-free) sum.
        .with_columns(
            engagement_units=pl.col("opens_units")
            + (pl.col("click_units") * policy.click_weight).round().cast(pl.Int64)
        )
        .drop("opens_units", "click_units")
    )


def join_key(activity: pl.DataFrame, events: pl.DataFrame | pl.LazyFrame | LogEngine) -> str:
    """The column to match events to ``activity`` rows by: the hash where the engine groups by it,
    unless two addresses share one; else the text."""
    hashed = as_engine(events).hashes_addresses and activity["email_hash"].is_unique().all()
    return "email_hash" if hashed else "email"


#: The events :func:`sequence_counts` counts: deliveries (sends in a log of sends only) and bounces.
_COUNTED_IN_SEQUENCES = ("send", "delivered", "bounce")
#: The columns of :func:`sequence_counts`' bounces, after the address column, whichever engine found them.
_BOUNCE_SCHEMA = {
    "timestamp": pl.Datetime("us", "UTC"),
    "in_range": pl.Boolean(),
    "smtp_status": pl.String(),
    "bounce_type": pl.String(),
    "bounce_class": pl.String(),
}


def sequence_counts(
    events: pl.DataFrame | pl.LazyFrame | LogEngine,
    mailbox_times: pl.DataFrame,
    context: EventContext,
    *,
    on: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The counts that depend on each mailbox's own latest times, and the log's bounces (two passes).

    ``mailbox_times`` has the address column ``on`` (see :func:`join_key`) with its mailbox's
    ``last_engagement_at`` and ``last_delivery_at``. Returns per address (``on``):
    ``deliveries_since_engagement`` (deliveries after the mailbox's last engagement) and
    ``soft_bounce_streak`` (soft bounces after its last delivery: a delivery ends a streak); and
    every hard bounce, and every soft bounce and block up to ``as_of``, with ``on``, ``timestamp``,
    ``in_range``, ``smtp_status``, ``bounce_class`` and ``bounce_reason`` (a small subset of the log).
    """
    engine = as_engine(events)
    soft = nw.col("in_range") & (nw.col("bounce_class") == "soft")
    hard = nw.col("bounce_class") == "hard"
    block = nw.col("in_range") & (nw.col("bounce_class") == "policy")

    def after(column: str) -> nw.Expr:
        return nw.col("timestamp") > nw.col(column).fill_null(EPOCH)

    counts = engine.aggregate(
        lambda log: (
            # Deliveries are delivered events (or sends), and soft bounces bounces: the rest is never
            # classified (the filter is pushed into the scan).
            classified_events(log.filter(nw.col("event").is_in(_COUNTED_IN_SEQUENCES)), context, engine)
            .filter(nw.col("delivery") | soft)
            .select(on, "timestamp", "delivery", soft=soft)
            .join(engine.table(mailbox_times), on=on)
            .group_by(on)
            .agg(
                deliveries_since_engagement=_count(nw.col("delivery") & after("last_engagement_at")),
                soft_bounce_streak=_count(nw.col("soft") & after("last_delivery_at")),
            )
        ),
        rows=context.survey.rows,
        keys=[on],
        merged=[pl.col("deliveries_since_engagement", "soft_bounce_streak").sum()],
        by_address=True,
    )
    counts = counts.select(
        pl.col(on).cast(mailbox_times.schema[on]),
        pl.col("deliveries_since_engagement", "soft_bounce_streak").fill_null(0).cast(pl.UInt32),
    )
    text = [engine.kept(nw.col(name)) for name in ("smtp_status", "bounce_type", "bounce_class")]
    found = engine.collect(
        # A bounce's class depends on no other event: the rest of the log is never classified here.
        classified_events(engine.log().filter(nw.col("event") == "bounce"), context, engine)
        # Hard bounces whatever their date (they are never forgotten), soft ones and blocks up to as_of.
        .filter(hard | soft | block)
        .select(engine.kept(nw.col(on)) if on == "email" else on, "timestamp", "in_range", *text)
    )
    reasons = context.survey.bounce_reasons.select("smtp_status", "bounce_type", "bounce_reason")
    bounces = (
        found.select(
            pl.col(on).cast(mailbox_times.schema[on]), *(pl.col(n).cast(t) for n, t in _BOUNCE_SCHEMA.items())
        )
        .join(reasons, on=["smtp_status", "bounce_type"], how="left", nulls_equal=True)
        .drop("bounce_type")
    )
    return counts, bounces


#: The counts of :func:`monthly_activity`, each with the :data:`EVENT_CLASSES` it sums (events at or
#: before ``as_of`` only, so no ``*_after_as_of`` class).
MONTHLY_COUNTS = {
    "deliveries": _DELIVERIES,
    "human_opens": ("open_human",),
    "clicks": ("click_human",),
    "machine_opens": ("open_machine",),
    "machine_clicks": ("click_machine",),
    "hard_bounces": ("bounce_hard",),
    "soft_bounces": ("bounce_soft",),
    "blocks": ("bounce_policy",),
    "complaints": ("complaint",),
    "unsubscribes": ("unsubscribe",),
}
#: The columns of :func:`monthly_activity`: ``month`` (the first day of a calendar month, UTC), then
#: one count per :data:`MONTHLY_COUNTS`. A run without events has an empty frame of this schema.
MONTHLY_SCHEMA: dict[str, pl.DataType] = {"month": pl.Date(), **{n: pl.UInt64() for n in MONTHLY_COUNTS}}
#: :func:`monthly_activity`'s pass: events per day and :data:`CLASS_PARTS`, whichever engine counted them.
_BY_DAY_SCHEMA = {
    "day": pl.Date(),
    "event": pl.String(),
    "in_range": pl.Boolean(),
    "delivery": pl.Boolean(),
    "machine": pl.Boolean(),
    "bounce_class": pl.String(),
    "n": pl.UInt64(),
}


def monthly_activity(events: pl.DataFrame | pl.LazyFrame | LogEngine, context: EventContext) -> pl.DataFrame:
    """The log month by month, from one pass on its engine: :data:`MONTHLY_SCHEMA`, sorted by ``month``.

    One row per calendar month (UTC) from the month of the first event at or before ``as_of`` to the
    month of ``as_of``, months without events included (as zeros, so a gap in the mailing shows);
    events after ``as_of`` are left out, opt-outs included (this is what happened up to ``as_of``,
    not what the rules honour). Events are classified by :func:`classified_events`, as for the
    score: machine opens and clicks are counted apart from the human ones, and in a log of sends
    only a send that did not bounce is a delivery. Empty (with the schema) when no event is in range.
    """
    engine = as_engine(events)
    # Grouped by day (the UTC date costs half what the month does per event) and by what the classes
    # are made of (:data:`CLASS_PARTS`), then named and summed per month on the few thousand groups:
    # naming the class of every event would cost several times the rest of the pass.
    by_day = engine.aggregate(
        lambda log: (
            classified_events(log, context, engine)
            .filter(nw.col("in_range"))
            .with_columns(day=nw.col("timestamp").dt.date())
            .group_by("day", *CLASS_PARTS)
            .agg(n=nw.len())
        ),
        rows=context.survey.rows,
        keys=["day", *CLASS_PARTS],
        merged=[pl.col("n").sum()],
    ).cast(_BY_DAY_SCHEMA)
    by_class = (
        nw.from_native(by_day.lazy())
        .with_columns(cls=_event_class())
        .to_native()
        .group_by(month=pl.col("day").dt.truncate("1mo"), cls="cls")
        .agg(pl.col("n").sum())
        .collect()
    )
    if by_class.is_empty():
        return pl.DataFrame(schema=MONTHLY_SCHEMA)
    last = context.as_of.astimezone(UTC).date().replace(day=1)
    months = pl.date_range(by_class["month"].min(), last, "1mo", eager=True).to_frame("month")
    counts = by_class.group_by("month").agg(
        pl.col("n").filter(_is_class(classes)).sum().alias(name) for name, classes in MONTHLY_COUNTS.items()
    )
    return (
        months.join(counts, on="month", how="left")
        .with_columns(pl.col(list(MONTHLY_COUNTS)).fill_null(0))
        .cast(MONTHLY_SCHEMA)
        .sort("month")
    )


#: The low bits of :func:`address_hash` left zero, for an event's class (:data:`EVENT_CLASSES` fit).
_CLASS_BITS = 5
_HASH_MASK = (1 << 64) - (1 << _CLASS_BITS)


def address_hash() -> pl.Expr:
    """The 64-bit hash of ``email`` that polars groups and matches addresses by.

    Its lowest :data:`_CLASS_BITS` bits are zero, so that an event's class is added into the same
    integer (:func:`_hashed_by_class`): polars groups by one integer faster than by two keys.
    """
    return pl.col("email").hash() & _HASH_MASK


def _count(condition: nw.Expr) -> nw.Expr:
    """Inside an aggregation: the rows where ``condition`` holds (Spark sums no booleans)."""
    return condition.cast(nw.Int64).sum()


def _utc(moment: datetime) -> datetime:
    """``moment`` with a time zone (UTC when naive), to compare with the log's UTC timestamps."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _unlabelled_open() -> nw.Expr:
    """Opens the ESP did not label and that carry no user agent, but name their campaign."""
    return (
        (nw.col("event") == "open")
        & nw.col("machine_open").is_null()
        & nw.col("user_agent").is_null()
        & ~nw.col("campaign").is_null()
    )


def _fast_fetches(
    engine: LogEngine, log: nw.LazyFrame, deliveries: nw.LazyFrame, *, seconds: int
) -> pl.DataFrame:
    """Unlabelled opens fetched within ``seconds`` of their campaign's delivery to the same address.

    Only these opens (rare: most ESPs give a user agent) are joined to the delivery times, so the
    log is never joined to itself.
    """
    pair = [engine.kept(nw.col("email")), engine.kept(nw.col("campaign"))]
    opens = engine.collect(log.filter(_unlabelled_open()).select(*pair, "timestamp")).with_columns(
        pl.col("email", "campaign").cast(pl.String), pl.col("timestamp").cast(pl.Datetime("us", "UTC"))
    )
    wanted = engine.table(opens.select("email", "campaign").unique())
    delivered_at = engine.collect(
        deliveries.filter(~nw.col("campaign").is_null())
        .join(wanted, on=["email", "campaign"], how="semi")
        .select(*pair, "timestamp")
        .group_by("email", "campaign")
        .agg(delivered_at=nw.col("timestamp").min())
    ).with_columns(
        pl.col("email", "campaign").cast(pl.String), pl.col("delivered_at").cast(pl.Datetime("us", "UTC"))
    )
    return (
        opens.join(delivered_at, on=["email", "campaign"])
        .filter((pl.col("timestamp") - pl.col("delivered_at")).dt.total_seconds().is_between(0, seconds))
        .select("email", "campaign", "timestamp", fast_fetch=pl.lit(True))
        .unique()
    )
