"""The event log summed up: everything a run needs from the log, one row per address or per mailbox.

:func:`summarise_log` runs the passes of :mod:`listkit.activity` on an engine
(:mod:`listkit.engines`); its :class:`LogSummary` is what the rest of a run reads, so a run can take
it from a file (``listkit features`` writes it, ``listkit run --features`` reads it) instead of the
log: on a cluster, the log never leaves it. The summary depends on the log, ``as_of`` and the policy
options the passes read (:data:`LOG_OPTIONS`); a run refuses a summary made under other ones.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from listkit.activity import (
    LogSurvey,
    address_activity,
    event_context,
    monthly_activity,
    survey_events,
)
from listkit.addresses import check_addresses
from listkit.engagement import event_features
from listkit.engines import LogEngine
from listkit.errors import InputError
from listkit.feedback import FeedbackResult
from listkit.layout import SUMMARY_FILES
from listkit.policy import LOG_OPTIONS, Policy
from listkit.schema import EPOCH

#: The version of the stored form (:meth:`LogSummary.save`); a newer listkit refuses an older one.
SUMMARY_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class LogSummary:
    """The event log as a run needs it.

    Attributes:
        survey: the log's :class:`~listkit.activity.LogSurvey`.
        as_of: the date the passes judged the log at (UTC).
        options: the values of :data:`LOG_OPTIONS` they used.
        activity: one row per address (:func:`listkit.activity.address_activity`).
        mailbox_keys: each address's mailbox key and normalised form
            (:func:`event_mailbox_keys`).
        features: one row per mailbox (:func:`listkit.engagement.event_features`).
        monthly: the log per month (:func:`listkit.activity.monthly_activity`).
        engine: the engine that ran the passes.
    """

    survey: LogSurvey
    as_of: datetime
    options: dict[str, Any]
    activity: pl.DataFrame
    mailbox_keys: pl.DataFrame
    features: pl.DataFrame
    monthly: pl.DataFrame
    engine: str = "polars"
    feedback: dict[str, Any] | None = None
    version: str = dataclasses.field(default_factory=lambda: _listkit_version())
    #: Where :meth:`load` read it (named by the errors of :meth:`check_matches`).
    source: str = dataclasses.field(default="the event summary", compare=False)

    def check_matches(self, policy: Policy) -> None:
        """Raise :class:`~listkit.errors.InputError` when this summary cannot stand for the log in a run
        under ``policy``: another listkit version made it (its mailbox keys may differ), or it was made
        with other :data:`LOG_OPTIONS` or another ``as_of`` than the run would use."""
        if self.version != _listkit_version():
            raise InputError(
                f"the event summary was made by listkit {self.version}, this is listkit {_listkit_version()}",
                file=self.source,
                hint="make it again with this version's listkit features",
            )
        wanted = log_options(policy)
        for name in LOG_OPTIONS:
            if self.options.get(name) != wanted[name]:
                raise InputError(
                    f"the event summary was made with {name} = {self.options.get(name)}, the policy asks "
                    f"for {wanted[name]}",
                    file=self.source,
                    hint="make it again with listkit features and the same --config, or drop the option",
                )
        # A log without events means the same on any date: only then may the dates differ. Without
        # --as-of a run judges the log at its latest event, as the summary must have been.
        expected = policy.as_of or self.survey.latest
        if expected is not None and expected != self.as_of and self.survey.rows:
            raise InputError(
                f"the event summary was made as of {self.as_of:%Y-%m-%d %H:%M:%S}, the run asks for "
                f"{expected:%Y-%m-%d %H:%M:%S}",
                file=self.source,
                hint="make it again with listkit features --as-of, or give the run the same --as-of",
            )

    def save(self, folder: str | Path) -> None:
        """Store the summary in ``folder`` (the files of :data:`listkit.layout.SUMMARY_FILES`)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for role in ("activity", "mailbox_keys", "features", "monthly"):
            getattr(self, role).rechunk().write_parquet(folder / SUMMARY_FILES[role])
        self.survey.bounce_reasons.write_parquet(folder / SUMMARY_FILES["bounce_reasons"])
        survey = {
            field.name: getattr(self.survey, field.name)
            for field in dataclasses.fields(self.survey)
            if field.name != "bounce_reasons"
        }
        meta = {
            "format": SUMMARY_FORMAT,
            "as_of": self.as_of.isoformat(),
            "options": self.options,
            "engine": self.engine,
            "listkit_version": self.version,
            "feedback": self.feedback,
            "survey": {k: v.isoformat() if isinstance(v, datetime) else v for k, v in survey.items()},
        }
        (folder / SUMMARY_FILES["meta"]).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> LogSummary:
        """Read a summary stored by :meth:`save`; :class:`~listkit.errors.InputError` if it is not one."""
        folder = Path(folder)
        meta_file = folder / SUMMARY_FILES["meta"]
        hint = "give --features the --out folder of listkit features"
        if not meta_file.is_file():
            raise InputError(
                f"this is not an event summary (no {SUMMARY_FILES['meta']} inside)", file=folder, hint=hint
            )
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InputError(
                "the event summary's manifest is not readable JSON", file=meta_file, hint=hint
            ) from None
        if not isinstance(meta, dict) or "survey" not in meta:
            raise InputError(
                "this is not an event summary (a listkit run's output, perhaps)", file=folder, hint=hint
            )
        if meta.get("format") != SUMMARY_FORMAT:
            raise InputError(
                f"this event summary is of format {meta.get('format')}, this listkit reads format "
                f"{SUMMARY_FORMAT}",
                file=folder,
                hint="make it again with this version's listkit features",
            )
        survey = dict(meta["survey"])
        for name in ("latest", "first_delivered_at", "first_unlabelled_open_at"):
            survey[name] = datetime.fromisoformat(survey[name]) if survey[name] else None
        survey["machine_agents"] = tuple(survey["machine_agents"])
        frames = {}
        for role in ("activity", "mailbox_keys", "features", "monthly", "bounce_reasons"):
            path = folder / SUMMARY_FILES[role]
            if not path.is_file():
                raise InputError(f"the event summary has no {path.name}", file=folder, hint=hint)
            frames[role] = pl.read_parquet(path)
        return cls(
            survey=LogSurvey(**survey, bounce_reasons=frames.pop("bounce_reasons")),
            as_of=datetime.fromisoformat(meta["as_of"]),
            options=meta["options"],
            engine=meta["engine"],
            feedback=meta.get("feedback"),
            version=meta.get("listkit_version", ""),
            source=str(folder),
            **frames,
        )


def event_mailbox_keys(addresses: pl.Series) -> pl.DataFrame:
    """Each distinct raw event address (``email``) with its mailbox key and normalised form."""
    distinct = addresses.drop_nulls().unique().sort().to_frame("email")
    checked = check_addresses(distinct["email"]).select("mailbox_key", "email_normalized")
    return pl.concat([distinct, checked], how="horizontal")


def _listkit_version() -> str:
    from importlib.metadata import version

    return version("listkit")


def log_options(policy: Policy) -> dict[str, Any]:
    """The values of :data:`LOG_OPTIONS` in ``policy``."""
    return {name: getattr(policy, name) for name in LOG_OPTIONS}


#: Called after each pass with its stage name and counts (a run's stage timer).
StageDone = Callable[..., None]


def summarise_log(
    engine: LogEngine,
    *,
    policy: Policy,
    feedback: FeedbackResult | None = None,
    default_as_of: datetime | None = None,
    done: StageDone | None = None,
) -> LogSummary:
    """The :class:`LogSummary` of the log on ``engine``, from its fixed number of passes.

    ``feedback`` (raw bounce and complaint mail, :func:`listkit.read_feedback`) adds its events to the
    log (those without a date count as of ``as_of``) and its counts to the summary. ``as_of`` is the
    policy's, else the latest event, else ``default_as_of`` (a run gives its latest sign-up); a log
    of undated events only, without either, raises :class:`~listkit.errors.InputError`; an empty
    log is judged at the epoch. ``done(stage, **counts)`` is called after the ``survey``,
    ``activity``, ``monthly`` and ``features`` passes.
    """
    done = done or (lambda stage, **counts: None)
    found = feedback.events if feedback is not None else None
    survey = survey_events(engine.with_extra(found))
    as_of = policy.as_of or survey.latest or default_as_of
    if as_of is None and survey.rows:  # only undated feedback mail: the run's list would date it
        raise InputError(
            "no event of the log has a date, so nothing says when to judge it",
            hint="give --as-of (the date the log was exported)",
        )
    as_of = as_of or EPOCH
    done("survey", events=survey.rows)
    # Feedback mail with no date at all counts as of the run: a complaint is never dropped for want
    # of a date (as_of is the latest event unless set, so this changes no other date).
    if found is not None:
        found = found.with_columns(pl.col("timestamp").fill_null(as_of))
    log = engine.with_extra(found)
    context = event_context(log, as_of=as_of, policy=policy, survey=survey)
    activity = address_activity(log, context)
    mailbox_keys = event_mailbox_keys(activity["email"])
    done("activity", addresses=activity.height)
    # One more pass, month by month, for the report's engagement over time.
    monthly = monthly_activity(log, context)
    done("monthly", months=monthly.height)
    features = event_features(
        log, mailbox_keys, as_of=as_of, policy=policy, context=context, activity=activity
    )
    done("features", mailboxes=features.height)
    return LogSummary(
        survey=survey,
        as_of=as_of,
        options=log_options(policy),
        activity=activity,
        mailbox_keys=mailbox_keys,
        features=features,
        monthly=monthly,
        engine=engine.name,
        feedback=None
        if feedback is None
        else {"feedback": feedback.stats, "feedback_problems": feedback.problems},
    )
