"""The result of a run: every decision as frames, with summaries for the manifest and the report.

:class:`RunResult` is what :func:`listkit.run` returns and :func:`listkit.export` writes; it can be
stored and read back (:meth:`RunResult.save`, :meth:`RunResult.load`), which is how the report
notebook gets a run without computing it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from listkit.activity import MONTHLY_SCHEMA
from listkit.cells import named
from listkit.changes import change_counts
from listkit.diagnostics import RunWarning
from listkit.layout import RUN_FILES
from listkit.policy import Policy
from listkit.presets import SEGMENT_FIELDS
from listkit.reasons import FUNNEL, REASON_CODES, REASONS, SUPPRESSING_REASONS, pruning_reasons


@dataclass(frozen=True)
class RunResult:
    """Everything one run decided, as frames; :func:`listkit.export.export` writes it out.

    ledger: one row per input subscriber row, sorted by ``source_row`` (all columns of the run).
    suppression: addresses never to mail again, with the reasons, sorted by address.
    passthrough: names of the input's extra columns, in input order.
    event_stats: counts about the event log (rows used, after ``as_of``, for unknown addresses...)
        and, when raw feedback mail was read, what it held (``feedback``).
    compliance: complaint, bounce and unsubscribe rates per mailbox provider (last 30 days and all
        history) against the Google/Yahoo limits (:func:`listkit.compliance.provider_compliance`).
    segment_profiles: one row per segment describing its readers (:func:`listkit.segments.profile`).
    monthly: the event log per calendar month up to ``as_of`` (UTC): deliveries, human opens, clicks,
        machine opens and clicks, bounces by kind, complaints and unsubscribes
        (:func:`listkit.activity.monthly_activity`, :data:`~listkit.activity.MONTHLY_SCHEMA`); empty
        without events.
    changes: per address, what changed since the previous run (:func:`listkit.changes.changes`;
        ``None`` without a previous run).
    warnings: what the analyst must know about the run (:class:`listkit.diagnostics.RunWarning`):
        rules that cannot fire on this data, input that was not understood.
    stage_seconds: the wall-clock seconds of each stage of the run, in the order they ran (``reading``
        when :func:`listkit.run_files` read the inputs, ``survey`` ... ``segments``, ``changes``);
        :func:`listkit.export` adds ``export`` and ``report`` in the manifest's ``run_time``. Not
        stored by :meth:`save` (the run's files hold no wall-clock value: promise 5), so empty after
        :meth:`load`.
    engine: where the passes over the event log ran (:data:`listkit.engines.ENGINES`), or the engine
        of the summary the run read; in the manifest's ``run_time``, like the stages' seconds.
    """

    ledger: pl.DataFrame
    suppression: pl.DataFrame
    policy: Policy
    as_of: datetime
    passthrough: tuple[str, ...] = ()
    event_stats: dict[str, Any] = field(default_factory=dict)
    compliance: pl.DataFrame = field(default_factory=pl.DataFrame)
    segment_profiles: pl.DataFrame = field(default_factory=pl.DataFrame)
    monthly: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MONTHLY_SCHEMA))
    changes: pl.DataFrame | None = None
    warnings: tuple[RunWarning, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict, compare=False)
    engine: str = field(default="polars", compare=False)

    def mailable(self) -> pl.DataFrame:
        """The kept rows in listkit's generic import shape, by ``source_row`` (its first column).

        ``email`` is the normalised address; then the merge fields, ``segment``, ``score`` and the
        pass-through columns. :mod:`listkit.presets` turns this shape into each sending tool's.
        """
        kept = self.ledger.filter(pl.col("outcome") == "keep").with_columns(email=pl.col("email_normalized"))
        return kept.select("source_row", *SEGMENT_FIELDS, *(named(name) for name in self.passthrough))

    def segments(self) -> dict[str, pl.DataFrame]:
        """Kept rows per segment in the generic import shape (:meth:`mailable`), each sorted by ``email``."""
        by_segment = (
            self.mailable()
            .drop("source_row")
            .sort("email", "segment")
            .partition_by("segment", as_dict=True, maintain_order=True)
        )
        return {name: by_segment[(name,)] for (name,) in sorted(by_segment)}

    def summary(self) -> dict[str, Any]:
        """Counts per outcome, reason and segment (every known code listed, zero or not)."""
        return self._summary

    @cached_property
    def _summary(self) -> dict[str, Any]:
        # Computed once: the manifest, the repr and the report all ask for it. A list holds a few dozen
        # combinations of codes: they are counted first, and each is split into codes once.
        ledger = self.ledger
        combinations, outcomes = pl.collect_all(
            [
                ledger.lazy().group_by("reasons", no_address=pl.col("email_normalized").is_null()).len(),
                ledger.lazy().group_by("outcome", "segment").len(),
            ]
        )
        combinations = combinations.with_columns(code=pl.col("reasons").str.split(";"))
        reason_counts = (
            combinations.explode("code")
            .filter(pl.col("code") != "")
            .group_by("code")
            .agg(pl.col("len").sum())
        )
        by_reason = dict.fromkeys(REASON_CODES, 0) | dict(reason_counts.iter_rows())
        kept = outcomes.filter(pl.col("outcome") == "keep").sort("segment")
        suppressing = pl.col("code").list.eval(pl.element().is_in(SUPPRESSING_REASONS)).list.any()
        return {
            "input_rows": ledger.height,
            "outcome": {
                name: int(outcomes.filter(pl.col("outcome") == name)["len"].sum())
                for name in ("keep", "prune")
            },
            "reason": by_reason,
            "segment": dict(kept.select("segment", "len").iter_rows()),
            "suppression_rows": self.suppression.height,
            # Rows that must not be mailed whose text is no address: no suppression file can hold them.
            "suppression_not_addresses": int(
                combinations.filter(pl.col("no_address") & suppressing)["len"].sum()
            ),
            "events": self.event_stats,
            "changes": change_counts(self.changes) if self.changes is not None else None,
        }

    def funnel(self) -> list[tuple[str, int]]:
        """Rows left after each family of checks, from the input to the mailable list."""
        codes = pl.col("reasons").str.split(";")

        def without(*names: str) -> pl.Expr:
            return ~codes.list.eval(pl.element().is_in(list(names))).list.any()

        pruning = set(pruning_reasons(self.policy))  # codes the policy only warns about remove nothing
        removed: list[str] = []
        rows = pl.col("len")  # counted per combination of codes and outcome, each judged once
        steps = [("input rows", rows.sum())]
        for name, family in FUNNEL[:-1]:
            removed += [r.code for r in REASONS if r.family == family and r.code in pruning]
            steps.append((name, rows.filter(without(*removed)).sum()))
        steps.append((FUNNEL[-1][0], rows.filter(pl.col("outcome") == "keep").sum()))
        combinations = self.ledger.lazy().group_by("reasons", "outcome").len().collect()
        counts = combinations.select(**{name: expr for name, expr in steps}).row(0)
        return [(name, int(count)) for (name, _), count in zip(steps, counts, strict=True)]

    def save(self, folder: str | Path, *, prefix: str = "") -> dict[str, int | None]:
        """Store the result in ``folder`` (:data:`listkit.layout.RUN_FILES`) for :meth:`load`.

        Returns the rows of each file written (``None`` for the JSON), by ``prefix`` + its name.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        frames = {
            "ledger": self.ledger,
            "suppression": self.suppression,
            "compliance": self.compliance,
            "segment_profiles": self.segment_profiles,
            "monthly": self.monthly,
            "changes": self.changes,
        }
        written: dict[str, int | None] = {}
        for role, frame in frames.items():
            if frame is not None:
                # Row groups follow the frame's chunks: one chunk, so the same rows give the same bytes
                # however the frame was put together (promise 5).
                frame.rechunk().write_parquet(folder / RUN_FILES[role])
                written[prefix + RUN_FILES[role]] = frame.height
        meta = {
            "policy": self.policy.to_dict(),
            "as_of": self.as_of.isoformat(),
            "passthrough": list(self.passthrough),
            "event_stats": self.event_stats,
            "warnings": [warning.to_dict() for warning in self.warnings],
        }
        (folder / RUN_FILES["meta"]).write_text(json.dumps(meta), encoding="utf-8")
        written[prefix + RUN_FILES["meta"]] = None
        return written

    @classmethod
    def load(cls, folder: str | Path) -> RunResult:
        """Read a result stored by :meth:`save`."""
        folder = Path(folder)
        meta = json.loads((folder / RUN_FILES["meta"]).read_text(encoding="utf-8"))
        changes = folder / RUN_FILES["changes"]
        monthly = folder / RUN_FILES["monthly"]  # absent from runs stored before it was kept
        return cls(
            ledger=pl.read_parquet(folder / RUN_FILES["ledger"]),
            suppression=pl.read_parquet(folder / RUN_FILES["suppression"]),
            compliance=pl.read_parquet(folder / RUN_FILES["compliance"]),
            policy=Policy(**meta["policy"]),  # whole: an unset option stays unset
            as_of=datetime.fromisoformat(meta["as_of"]),
            passthrough=tuple(meta["passthrough"]),
            event_stats=meta["event_stats"],
            segment_profiles=pl.read_parquet(folder / RUN_FILES["segment_profiles"]),
            monthly=pl.read_parquet(monthly) if monthly.exists() else pl.DataFrame(schema=MONTHLY_SCHEMA),
            changes=pl.read_parquet(changes) if changes.exists() else None,
            warnings=tuple(RunWarning(**warning) for warning in meta.get("warnings", [])),
        )

    def __repr__(self) -> str:
        summary = self.summary()
        reasons = ", ".join(f"{code} {n:,}" for code, n in summary["reason"].items() if n)
        segments = ", ".join(f"{name} {n:,}" for name, n in summary["segment"].items())
        return (
            f"RunResult(as_of={self.as_of:%Y-%m-%d}, rows={summary['input_rows']:,}, "
            f"keep={summary['outcome']['keep']:,}, prune={summary['outcome']['prune']:,}, "
            f"suppression={summary['suppression_rows']:,})\n"
            f"  reasons:  {reasons or 'none'}\n  segments: {segments or 'none'}"
            + "".join(f"\n  warning:  {warning.message}" for warning in self.warnings)
        )
