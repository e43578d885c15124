"""The pipeline: canonical frames in, one explained outcome per subscriber row out.

:func:`run` is pure (frames and a :class:`~listkit.policy.Policy` in, a :class:`RunResult` out);
:func:`run_files` reads the inputs first. Writing is :func:`listkit.export.export`'s job alone.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from listkit.activity import LogSurvey
from listkit.addresses import check_addresses, in_shared_mailbox
from listkit.cells import named
from listkit.changes import changes, load_previous
from listkit.compliance import compliance_table
from listkit.diagnostics import (
    formula_address_warnings,
    invalid_opt_out_warnings,
    reputation_warnings,
    sunset_warnings,
    unknown_event_warnings,
)
from listkit.domains import apply_suggestions, check_mx
from listkit.engagement import last_engagement_by_address
from listkit.engines import DEFAULT_ENGINE, LogEngine, as_engine, engine_for, engine_where, events_source
from listkit.errors import InputError
from listkit.feedback import FeedbackResult, read_feedback
from listkit.formula import unguard
from listkit.hashing import ledger_is_hashed
from listkit.log_summary import LogSummary, summarise_log
from listkit.merge_fields import is_placeholder_name
from listkit.policy import Policy, parse_as_of
from listkit.preload import import_in_background
from listkit.privacy import redact, redact_labels
from listkit.readers import read_events, read_subscribers, scan_stored, store_events
from listkit.reasons import SUPPRESSING_REASONS
from listkit.result import RunResult
from listkit.rules import flag
from listkit.schema import EPOCH, EVENT_COLUMNS, SUBSCRIBER_COLUMNS
from listkit.segments import ESTIMATOR_MODULES, segment
from listkit.segments import SOURCE_COLUMNS as SEGMENT_COLUMNS

#: The ledger's leading columns (the contract's, then listkit's evidence); merge fields, the
#: ESP status and pass-through columns follow.
LEDGER_COLUMNS = (
    "source_row",
    "email",
    "email_normalized",
    "outcome",
    "segment",
    "score",
    "reasons",
    "suggestion",
    "duplicate_of",
    "evidence",
    "domain",
    "free_provider",
    "tenure_days",
    "deliveries",
    "deliveries_in_window",
    "deliveries_since_engagement",
    "human_opens",
    "clicks",
    "machine_opens",
    "last_engagement_at",
    "soft_bounce_streak",
    "last_bounce_at",
    "last_bounce_status",
    "bounce_reason",
    "complaint_at",
    "unsubscribed_at",
)


#: A progress hook: called after each stage of a run with the stage's name, the seconds it took
#: (``time.perf_counter``) and what it counted (``{"rows": 1000}``). listkit never prints progress
#: itself; the command line turns these calls into stage lines or a live line.
Progress = Callable[[str, float, dict[str, int]], None]


class _Stages:
    """Times the stages of a run: ``seconds`` holds each stage's, in the order they ran, and a
    :data:`Progress` hook (if any) is told of each as it ends."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    def done(self, stage: str, **counts: int) -> None:
        """Record ``stage`` as finished, with ``counts``; the next stage is timed from now."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - self._started
        if self._progress is not None:
            self._progress(stage, self.seconds[stage], {k: int(v) for k, v in counts.items()})
        self._started = time.perf_counter()  # the hook's own time is no stage's


def run(
    subscribers: pl.DataFrame,
    events: pl.DataFrame | pl.LazyFrame | LogEngine | None = None,
    *,
    policy: Policy | None = None,
    feedback: FeedbackResult | None = None,
    previous_profiles: pl.DataFrame | None = None,
    progress: Progress | None = None,
    engine: str = DEFAULT_ENGINE,
    scratch: str | Path | None = None,
    summary: LogSummary | None = None,
) -> RunResult:
    """Validate, score, flag and segment a list: one explained outcome per subscriber row.

    ``subscribers`` and ``events`` are canonical frames (see :func:`listkit.read_subscribers` and
    :func:`listkit.read_events`); ``events`` may be omitted for a list without history, or be a
    ``LazyFrame`` (:func:`listkit.scan_events`) streamed from disk in each pass, for logs larger
    than memory, or a :class:`~listkit.engines.LogEngine` holding the log (``engine`` is then its).
    ``feedback`` (from :func:`listkit.read_feedback`) adds the bounces and complaints found in raw
    DSN and ARF mail to the events.
    ``engine`` (one of :data:`listkit.engines.ENGINES`) is where the passes over the log run (DuckDB
    and Spark work in ``scratch``, default the system's temporary folder); the outputs are the same
    on every engine. ``summary`` (a :class:`~listkit.log_summary.LogSummary`, from ``listkit
    features``) replaces the log: ``events`` and ``feedback`` must then be omitted.
    ``progress`` (a :data:`Progress` hook) is called after each stage: ``survey``, ``activity``,
    ``monthly``, ``features``, ``addresses``, ``rules`` and ``segments`` (the first four only when
    the log is read here).
    """
    stages = _Stages(progress)
    policy = policy or Policy()
    if not subscribers["source_row"].is_unique().all():
        raise InputError(
            "the subscriber frame repeats source_row values; give each row its own number "
            "(read_subscribers does, concatenated frames need renumbering)"
        )
    if summary is None:
        # A frame stays a frame (aggregated whole); a LazyFrame is streamed in slices.
        events = events if events is not None else pl.DataFrame(schema=EVENT_COLUMNS)
        if isinstance(events, LogEngine) or _has_rows(events):
            # scikit-learn is imported during the passes over the log (after its reading, whose
            # memory peaks), not after them.
            import_in_background(*ESTIMATOR_MODULES)
        # An engine made here is closed here; one the caller passed stays the caller's.
        log = events if isinstance(events, LogEngine) else engine_for(engine, events, scratch=scratch)
        try:
            summary = summarise_log(
                log,
                policy=policy,
                feedback=feedback,
                default_as_of=_latest_signup(subscribers),
                done=stages.done,
            )
        finally:
            if log is not events:
                log.close()
    elif events is not None or feedback is not None:
        raise InputError("give run either the events (and feedback) or their summary, not both")
    else:
        summary.check_matches(policy)
        if summary.survey.rows:
            import_in_background(*ESTIMATOR_MODULES)
        else:  # a summary of no events serves any date: the policy's, else the latest sign-up
            as_of = policy.as_of or _latest_signup(subscribers) or EPOCH
            summary = dataclasses.replace(summary, as_of=as_of)
    survey, as_of, activity = summary.survey, summary.as_of, summary.activity
    event_keys, features, monthly = summary.mailbox_keys, summary.features, summary.monthly

    rows = validate(subscribers, policy=policy)
    if features.is_empty():  # a list without history: nothing to look up among a million keys
        rows = rows.with_columns(
            pl.lit(None, dtype).alias(name) for name, dtype in features.drop("mailbox_key").schema.items()
        )
    else:
        rows = rows.join(features, on="mailbox_key", how="left", nulls_equal=False, maintain_order="left")
    if not rows["source_row"].is_sorted():  # the one sort of a run: every later step keeps this order
        rows = rows.sort("source_row")
    rows = rows.with_columns(
        free_provider=pl.col("is_free"),
        # Why the mailbox bounced: its hard bounce if it had one, else its latest bounce, else its
        # latest block (a block says nothing of the address, but the analyst should see it).
        bounce_reason=pl.coalesce("hard_bounce_reason", "last_bounce_reason", "last_block_reason"),
        # Tenure: days on the list, since the sign-up or the first event seen, whichever is earlier.
        tenure_days=(pl.lit(as_of) - pl.min_horizontal("signup_at", "first_event_at"))
        .dt.total_days()
        .clip(lower_bound=0),
    )
    rows = _with_address_engagement(rows, activity, event_keys)
    stages.done("addresses", rows=rows.height)
    flagged = flag(rows, policy=policy)
    compliance = compliance_table(activity)
    unmatched = _not_on_list(features, flagged)
    event_stats = _event_stats(survey, activity, event_keys, features, unmatched)
    warnings = [
        *unknown_event_warnings(event_stats["unknown_types"]),
        *invalid_opt_out_warnings(event_stats),
        *sunset_warnings(flagged, policy),
        *reputation_warnings(compliance),
    ]
    kept = flagged["outcome"] == "keep"
    stages.done("rules", keep=kept.sum(), prune=flagged.height - kept.sum())
    # previous_profiles (an earlier run's segment_profiles.csv) keeps segment names on the same readers.
    segment_names, segment_profiles = segment(
        flagged.select("source_row", "mailbox_key", *SEGMENT_COLUMNS).filter(kept),
        policy=policy,
        as_of=as_of,
        previous_profiles=previous_profiles,
    )
    flagged = _attach_segments(flagged, kept, segment_names)

    merge_fields = [c for c in SUBSCRIBER_COLUMNS if c not in ("source_row", "email")]
    extras = _passthrough_columns(subscribers, reserved={*LEDGER_COLUMNS, *merge_fields})
    passthrough = tuple(extras.columns[1:])
    ledger = flagged.select(*LEDGER_COLUMNS, *merge_fields)
    if extras["source_row"].equals(ledger["source_row"]):  # the input's order, the usual case: no join
        ledger = ledger.hstack(extras.drop("source_row"))
    else:
        ledger = ledger.join(extras, on="source_row", how="left", maintain_order="left")
    suppression = _suppression(flagged, unmatched, event_keys)
    warnings += formula_address_warnings(ledger, suppression)
    stages.done("segments", segments=segment_profiles.height, rows=kept.sum())
    return RunResult(
        ledger=ledger,
        suppression=suppression,
        policy=policy,
        as_of=as_of,
        passthrough=passthrough,
        event_stats=event_stats | (summary.feedback or {}),
        compliance=compliance,
        segment_profiles=segment_profiles,
        monthly=monthly,
        warnings=tuple(warnings),
        stage_seconds=stages.seconds,
        engine=summary.engine,
    )


def validate(subscribers: pl.DataFrame, *, policy: Policy | None = None) -> pl.DataFrame:
    """The address stage: the canonical subscriber columns with every address check, row for row.

    Adds email-validator's verdict and normalised form, the mailbox key, the disposable, role and
    free flags, a typo ``suggestion``, ``dns_status`` (when ``policy.check_dns``) and the
    ``placeholder_name`` audit of the first name. Pass-through columns are left out.
    """
    policy = policy or Policy()
    canonical = subscribers.select(list(SUBSCRIBER_COLUMNS))
    checked = check_addresses(subscribers["email"])
    # One lookup per domain serves both the no_mx check and the typo rule (no mail: surely a typo).
    answers = _mx_answers(checked["domain"], policy) if policy.check_dns else None
    addresses = apply_suggestions(checked, mx=answers)
    rows = pl.concat([canonical, addresses], how="horizontal")
    if answers is None:
        rows = rows.with_columns(
            dns_status=pl.lit(None, dtype=pl.String), dns_detail=pl.lit(None, dtype=pl.String)
        )
    else:
        rows = rows.join(answers, on="domain", how="left", nulls_equal=False, maintain_order="left")
    # A list without first names at all is not a list of placeholder names. A list repeats its first
    # names: each distinct one is judged once.
    names = subscribers["first_name"]
    if names.null_count() == subscribers.height:
        return rows.with_columns(placeholder_name=pl.lit(False))
    distinct = names.unique()
    judged = pl.select(is_placeholder_name(pl.lit(distinct))).to_series()
    return rows.with_columns(placeholder_name=names.replace_strict(distinct, judged, return_dtype=pl.Boolean))


def score(
    events: pl.DataFrame | pl.LazyFrame | LogEngine,
    *,
    as_of: datetime | None = None,
    policy: Policy | None = None,
) -> pl.DataFrame:
    """The engagement stage: one row per mailbox of the event log with its features and 0-100 score.

    ``as_of`` defaults to the policy's, else the latest event (:func:`summarise_log`'s passes).
    """
    policy = policy or Policy()
    policy = policy.replace(as_of=as_of) if as_of is not None else policy
    return summarise_log(as_engine(events), policy=policy).features


def run_files(
    subscribers: str | Path,
    events: str | Path | None = None,
    *,
    policy: Policy | None = None,
    config: str | Path | None = None,
    as_of: str | datetime | None = None,
    encoding: str | None = None,
    feedback: str | Path | None = None,
    previous: str | Path | None = None,
    stream_events: bool = True,
    scratch: str | Path | None = None,
    progress: Progress | None = None,
    engine: str = DEFAULT_ENGINE,
    features: str | Path | None = None,
) -> RunResult:
    """Read the input files and :func:`run` them.

    ``config`` is a policy TOML file; ``as_of`` overrides it. The event log (CSV, gzip-compressed CSV or
    Parquet) is streamed (:func:`listkit.scan_events`): read once in chunks into Parquet files in a
    temporary folder inside ``scratch`` (default: the system's temporary folder), removed when the run
    ends, so memory depends on the number of addresses, not on the length of the log. With
    ``stream_events=False`` it is loaded whole instead (:func:`listkit.read_events`); the outputs are
    the same either way. ``feedback`` is a folder of ``.eml`` files or an mbox of bounce and complaint
    mail. ``engine`` is where the passes over the log run (:func:`run`). ``features`` (the folder
    :func:`summarise_files` or ``listkit features`` wrote) replaces ``events`` and ``feedback``, which
    must then be omitted. ``progress`` (a :data:`Progress` hook) is called after ``reading`` (the
    inputs), after each stage of :func:`run`, and after ``changes`` when there is a ``previous`` run.
    """
    stages = _Stages(progress)
    policy = _policy(policy, config, as_of)
    if features is not None and (events is not None or feedback is not None):
        raise InputError(
            "--features replaces the event log and the feedback mail",
            file=features,
            hint="give either --features or --events (and --feedback), not both",
        )
    # An earlier run's output folder: its segment names are kept and ``changes`` is filled in.
    previous_ledger, previous_profiles = _previous_run(previous) if previous is not None else (None, None)
    subscriber_frame = read_subscribers(subscribers, encoding=encoding)
    summary = LogSummary.load(features) if features is not None else None  # run checks it
    with tempfile.TemporaryDirectory(prefix="listkit-run-", dir=scratch) as work:
        event_frame, feedback_result, read = _read_log(
            events, feedback, encoding, stream_events, work, engine
        )
        stages.done("reading", rows=subscriber_frame.height, **read)
        try:
            result = run(
                subscriber_frame,
                event_frame,
                policy=policy,
                feedback=feedback_result,
                previous_profiles=previous_profiles,
                progress=progress,
                engine=engine,
                scratch=work,
                summary=summary,
            )
        finally:
            if isinstance(event_frame, LogEngine):
                event_frame.close()
    seconds = stages.seconds | result.stage_seconds
    stages = _Stages(progress)  # timed from the end of run's last stage
    if previous_ledger is not None:
        result = dataclasses.replace(result, changes=changes(previous_ledger, result.ledger))
        stages.done("changes", rows=result.changes.height)
    return dataclasses.replace(result, stage_seconds=seconds | stages.seconds)


def summarise_files(
    events: str | Path | None,
    *,
    policy: Policy | None = None,
    config: str | Path | None = None,
    as_of: str | datetime | None = None,
    encoding: str | None = None,
    feedback: str | Path | None = None,
    engine: str = DEFAULT_ENGINE,
    scratch: str | Path | None = None,
    progress: Progress | None = None,
) -> LogSummary:
    """Read an event log (and feedback mail) and sum it up on ``engine``: what ``listkit features`` writes.

    ``events`` is a file listkit's reader reads (CSV, gzip-compressed CSV or Parquet), or where the
    events live, read in place by the engine (:func:`listkit.engines.engine_where`): a folder of
    Parquet files in the canonical columns, or with Spark a table name (a ``str`` that is no path). The
    other options mean what they mean to :func:`run_files`; the summary is then given to
    ``run_files(features=...)`` (after :meth:`LogSummary.save`) in place of the log. ``as_of``
    defaults to the latest event.
    """
    stages = _Stages(progress)
    policy = _policy(policy, config, as_of)
    source = events_source(events, engine) if events is not None else None
    with tempfile.TemporaryDirectory(prefix="listkit-features-", dir=scratch) as work:
        if isinstance(source, str) or (source is not None and source.is_dir()):  # read where they live
            feedback_result = read_feedback(feedback) if feedback is not None else None
            log = engine_where(engine, source, scratch=work)
            stages.done("reading")
        else:
            log, feedback_result, read = _read_log(events, feedback, encoding, True, work, engine)
            stages.done("reading", **read)
            if not isinstance(log, LogEngine):
                log = engine_for(
                    engine, log if log is not None else pl.DataFrame(schema=EVENT_COLUMNS), scratch=work
                )
        try:
            return summarise_log(
                log,
                policy=policy,
                feedback=feedback_result,
                done=stages.done,
            )
        finally:
            log.close()


def _policy(policy: Policy | None, config: str | Path | None, as_of: str | datetime | None) -> Policy:
    """The run's policy: ``policy``, else the ``config`` file's, else the default; ``as_of`` overrides."""
    policy = policy or (Policy.from_toml(config) if config else Policy())
    return policy.replace(as_of=parse_as_of(as_of)) if as_of is not None else policy


def _read_log(
    events: str | Path | None,
    feedback: str | Path | None,
    encoding: str | None,
    stream_events: bool,
    work: str,
    engine: str = DEFAULT_ENGINE,
) -> tuple[pl.DataFrame | pl.LazyFrame | LogEngine | None, FeedbackResult | None, dict[str, int]]:
    """The event log (streamed into ``work`` unless not ``stream_events``; on another engine than
    polars, the engine reading those files in place), the feedback mail, and what was read (the
    ``reading`` stage's counts)."""
    read: dict[str, int] = {}
    log: pl.DataFrame | pl.LazyFrame | LogEngine | None = None
    feedback_result = read_feedback(feedback) if feedback is not None else None  # before an engine starts
    if events is not None and stream_events:  # never whole in memory
        stored = store_events(events, encoding=encoding, scratch=work)
        read["events"] = scan_stored(stored).select(pl.len()).collect().item()  # from the files' footers
        if engine == "polars":
            log = scan_stored(stored)
        else:  # the files listkit's reader wrote: canonical, no names to check
            log = engine_where(engine, stored, scratch=work, check_names=False)
    elif events is not None:
        log = read_events(events, encoding=encoding)
        read["events"] = log.height
    if feedback_result is not None:
        read["feedback_events"] = feedback_result.events.height
    return log, feedback_result, read


def _previous_run(folder: str | Path) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """An earlier run's ledger and segment profiles, as they were before the formula guard wrote them."""
    if ledger_is_hashed(folder):
        raise InputError(
            "the previous run's ledger holds hashed addresses (--hash-emails), which cannot be matched "
            "with this run's",
            file=folder,
            hint="give --previous the output of a run without --hash-emails",
        )
    ledger, profiles = load_previous(folder)
    return unguard(ledger), unguard(profiles) if profiles is not None else None


def _passthrough_columns(subscribers: pl.DataFrame, *, reserved: set[str]) -> pl.DataFrame:
    """``source_row`` and the input's extra columns; a name listkit uses itself gets ``_input`` appended."""
    extra = [c for c in subscribers.columns if c not in SUBSCRIBER_COLUMNS]
    taken = set(subscribers.columns) | reserved
    renamed = {}
    for name in extra:
        if name in reserved:
            new = f"{name}_input"
            while new in taken:
                new += "_"
            renamed[name] = new
            taken.add(new)
    # By exact name: an input's header may be "*" or "^...$", which pl.col reads as patterns.
    return subscribers.select("source_row", *(named(name) for name in extra)).rename(renamed)


def _latest_signup(subscribers: pl.DataFrame) -> datetime | None:
    """The list's latest sign-up: ``as_of`` when neither the policy nor the log gives one."""
    latest = subscribers["signup_at"].max()
    return latest if isinstance(latest, datetime) else None


def _has_rows(events: pl.DataFrame | pl.LazyFrame) -> bool:
    """False for a frame without rows (a LazyFrame is not read to find out)."""
    return not isinstance(events, pl.DataFrame) or events.height > 0


def _mx_answers(domains: pl.Series, policy: Policy) -> pl.DataFrame:
    """``domain``, ``dns_status`` (ok, no_mx, unknown) and ``dns_detail``: one MX lookup per domain."""
    return check_mx(
        domains.drop_nulls().unique().sort(),
        nameservers=list(policy.dns_nameservers) if policy.dns_nameservers else None,
        port=policy.dns_port,
        timeout=policy.dns_timeout,
        cache_path=Path(policy.dns_cache).expanduser() if policy.dns_cache else None,
        cache_ttl_seconds=policy.dns_cache_hours * 3600,
    )


def _with_address_engagement(
    rows: pl.DataFrame, activity: pl.DataFrame, event_keys: pl.DataFrame
) -> pl.DataFrame:
    """Add ``address_last_engagement_at``: when the reader last answered mail sent to this spelling.

    Only the addresses of mailboxes listed more than once need it (to pick which row to keep).
    """
    if event_keys.is_empty():  # a list without history: no spelling was ever answered
        wanted = event_keys
    else:
        repeated = rows["mailbox_key"].filter(in_shared_mailbox(rows["mailbox_key"]))
        wanted = event_keys.filter(pl.col("mailbox_key").is_in(repeated.implode()))
    latest = last_engagement_by_address(activity, wanted)
    return rows.join(latest, on="email_normalized", how="left", nulls_equal=False, maintain_order="left")


def _attach_segments(flagged: pl.DataFrame, kept: pl.Series, names: pl.Series) -> pl.DataFrame:
    """Put each kept row's segment name in ``segment`` (null on pruned rows); ``names`` are in row order."""
    blank = pl.repeat(None, flagged.height, dtype=pl.String, eager=True)
    return flagged.with_columns(blank.scatter(kept.arg_true(), names).alias("segment"))


#: A suppressing code among the ``;``-joined codes of ``reasons``.
_SUPPRESSING_CODE = f"(?:^|;)(?:{'|'.join(map(re.escape, SUPPRESSING_REASONS))})(?:;|$)"
_SUPPRESSION_FACTS = (
    "unsubscribed_at",
    "complaint_at",
    "hard_bounce_at",
    "hard_bounce_status",
    "hard_bounce_reason",
)


def _suppression(flagged: pl.DataFrame, unmatched: pl.DataFrame, event_keys: pl.DataFrame) -> pl.DataFrame:
    """Addresses never to mail again: suppressed list rows, and event-only addresses that must stop.

    ``unmatched`` holds the features of the event log's mailboxes that are not on the list
    (:func:`_not_on_list`). Only addresses: a row whose text is not one (``invalid_syntax``) has
    nothing a sending tool could suppress; it stays in the ledger, counted as
    ``suppression_not_addresses``. One row per address, sorted: ``email``, ``reason``, the earliest
    date of each opt-out, the earliest of those (``suppressed_at``; empty when only the list's status
    said so), and the status and listkit reason of its hard bounce (``bounce_status``,
    ``bounce_reason``): what the tools' suppression imports take (:mod:`listkit.presets`).
    """
    suppressing = pl.element().is_in(SUPPRESSING_REASONS)
    listed = (
        flagged.select("email_normalized", "reasons", *_SUPPRESSION_FACTS)
        # A text search finds the few rows with a suppressing code; only they are split into codes.
        .filter(pl.col("email_normalized").is_not_null() & pl.col("reasons").str.contains(_SUPPRESSING_CODE))
        .with_columns(reason=pl.col("reasons").str.split(";").list.eval(pl.element().filter(suppressing)))
        .select("email_normalized", "reason", *_SUPPRESSION_FACTS)
    )
    from_events = (
        unmatched.with_columns(
            reason=pl.concat_list(
                pl.when(pl.col("unsubscribes") > 0).then(pl.lit("unsubscribed")),
                pl.when(pl.col("complaints") > 0).then(pl.lit("complaint")),
                pl.when(pl.col("hard_bounces") > 0).then(pl.lit("hard_bounce")),
            ).list.drop_nulls()
        )
        .filter(pl.col("reason").list.len() > 0)
        .join(event_keys.select("mailbox_key", "email_normalized"), on="mailbox_key")
        .select("email_normalized", "reason", *_SUPPRESSION_FACTS)
    )
    bounce = pl.col("hard_bounce_status", "hard_bounce_reason").sort_by("hard_bounce_at", nulls_last=True)
    return (
        pl.concat([listed, from_events])
        .lazy()  # eager group_by is several times slower in polars 2.1
        .filter(pl.col("email_normalized") != "")
        .group_by(email="email_normalized")
        .agg(
            pl.col("reason").explode().unique().sort().str.join(";"),
            pl.col("unsubscribed_at", "complaint_at", "hard_bounce_at").min(),
            bounce.first(),
        )
        .select(
            "email",
            "reason",
            suppressed_at=pl.min_horizontal("unsubscribed_at", "complaint_at", "hard_bounce_at"),
            unsubscribed_at="unsubscribed_at",
            complaint_at="complaint_at",
            hard_bounce_at="hard_bounce_at",
            bounce_status="hard_bounce_status",
            bounce_reason="hard_bounce_reason",
        )
        .sort("email")
        .collect()
    )


def _not_on_list(features: pl.DataFrame, flagged: pl.DataFrame) -> pl.DataFrame:
    """The features of the event log's mailboxes that no row of the list has (in ``features``' order)."""
    if features.is_empty():  # a list without history: nothing to look up among a million keys
        return features
    return features.filter(pl.col("mailbox_key").is_not_null()).join(
        flagged.select("mailbox_key"), on="mailbox_key", how="anti", maintain_order="left"
    )


def _event_stats(
    survey: LogSurvey,
    activity: pl.DataFrame,
    event_keys: pl.DataFrame,
    features: pl.DataFrame,
    unmatched: pl.DataFrame,
) -> dict[str, Any]:
    """What happened to the event log: used, ignored, unknown types, addresses not on the list
    (``unmatched``: :func:`_not_on_list`)."""
    # Events without an address, or whose address is not one, have no mailbox key.
    invalid = activity.join(event_keys, on="email", how="left").filter(pl.col("mailbox_key").is_null())
    for_unknown = int(unmatched["events"].sum())
    # Opt-outs nobody can honour: their address is not one (a warning says so, with examples).
    opt_outs = pl.sum_horizontal("unsubscribes", "complaints", "hard_bounces")
    lost = invalid.filter(opt_outs > 0)
    return {
        "rows": survey.rows,
        "after_as_of": int(activity["events_after_as_of"].sum()),
        # Honoured although dated after as_of (they are part of after_as_of too).
        "opt_outs_after_as_of": int(activity["opt_outs_after_as_of"].sum()),
        "with_invalid_address": int(invalid["events"].sum() + invalid["events_after_as_of"].sum()),
        "opt_outs_with_invalid_address": int(lost.select(opt_outs.sum()).item()),
        # Examples of what stood in the address column, never an address itself (the manifest shows them).
        "invalid_opt_out_examples": [redact(e) for e in lost["email"].drop_nulls().sort().head(3).to_list()],
        "for_unknown_addresses": for_unknown,
        "unknown_addresses": unmatched.height,
        "matched_to_list": int(features["events"].sum()) - for_unknown,
        # A log with its address and event columns swapped would list every address as an event name.
        "unknown_types": redact_labels(survey.unknown_types),
    }
