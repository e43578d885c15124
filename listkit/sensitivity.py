"""What if the thresholds were different: a run's pruning rules evaluated again on its ledger.

:func:`what_if` answers "with a 180-day window, how many more would be inactive?" without reading the
inputs again. It evaluates the reason registry's own conditions (:data:`listkit.reasons.REASONS`) with
the changed policy on the ledger, which keeps the engagement facts behind the rules
(``last_engagement_at``, ``deliveries_since_engagement``, ``soft_bounce_streak``) and, through its
reason codes, every address check; no rule is written a second time here.

A reason is evaluated again only when the change can move it: its condition differs under the new
policy (``soft_bounce_limit``, ``sunset_min_deliveries``), or it reads a fact the ledger does not keep
but that follows from one it does (``engagements_in_window`` for another ``sunset_days``). Every other
code is taken from ``reasons`` as the run wrote it, and a switch (``prune_role_accounts``...) only
changes whether its code prunes (:func:`listkit.reasons.pruning_reasons`). Options whose effect needs
the event log or the address checks (the score's half-life, the machine-open rule, ``as_of``, DNS) are
refused: only a new run can answer them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from listkit.cells import shown
from listkit.errors import ConfigError, InputError
from listkit.policy import BY_NAME, Policy
from listkit.reasons import REASONS, Reason, pruning_reasons
from listkit.result import RunResult

__all__ = ["LEDGER_OPTIONS", "WhatIf", "what_if"]

#: Facts the rules read that the ledger does not keep, derived from the ledger for a policy: with the
#: option they depend on. A human open or click is in the sunset window when it is less than
#: ``sunset_days`` before ``as_of`` (:func:`listkit.activity.address_activity` counts ages below the
#: window), so a mailbox engaged in the window exactly when its last engagement is.
_DERIVED: dict[str, tuple[str, Callable[[Policy, datetime], pl.Expr]]] = {
    "engagements_in_window": (
        "sunset_days",
        lambda policy, as_of: (
            (pl.col("last_engagement_at") > pl.lit(as_of - timedelta(days=policy.sunset_days)))
            .fill_null(False)
            .cast(pl.UInt32)
        ),
    ),
}
#: The policy options :func:`what_if` can change: the thresholds of the rules over the ledger's facts,
#: and the registry's switches.
LEDGER_OPTIONS: tuple[str, ...] = (
    "sunset_days",
    "sunset_min_deliveries",
    "soft_bounce_limit",
    *sorted({reason.switch for reason in REASONS if reason.switch}),
)


@dataclass(frozen=True)
class WhatIf:
    """What a run would have decided under another policy, row by row and in counts.

    policy: the policy evaluated (the run's, with the changes).
    changed: the options asked for, with their checked values.
    newly_pruned: rows the run kept that the policy prunes.
    newly_kept: rows the run pruned that the policy keeps.
    by_reason: per pruning reason code, the change in rows it prunes (after minus before; a code the
        new policy only warns about prunes none): ``{"inactive": 412, ...}``; every code that can prune
        is listed, zero or not.
    rows: one row per ledger row: ``source_row``, ``outcome_before``, ``outcome_after`` and
        ``reasons_after`` (the ``;``-joined codes under the policy; warnings that depend on the outcome,
        such as ``placeholder_name``, are as the run wrote them), sorted by ``source_row``.
    """

    policy: Policy
    changed: dict[str, Any]
    newly_pruned: int
    newly_kept: int
    by_reason: dict[str, int]
    rows: pl.DataFrame

    def moved(self) -> pl.DataFrame:
        """The rows whose outcome changes (:attr:`rows` filtered)."""
        return self.rows.filter(pl.col("outcome_before") != pl.col("outcome_after"))


def what_if(result: RunResult, **options: Any) -> WhatIf:
    """Evaluate ``result``'s pruning rules again with some policy ``options`` changed.

    ``options`` are among :data:`LEDGER_OPTIONS` (``sunset_days=180``, ``prune_role_accounts=False``...),
    checked as every policy value is (:meth:`listkit.policy.Policy.with_options`: same ranges, same
    errors); ``None`` leaves an option as it was. Raises :class:`ConfigError` for an option the ledger
    cannot answer, and :class:`InputError` when the ledger lacks a fact a rule needs (a run stored by
    an older listkit).
    """
    for name in options:
        if name not in LEDGER_OPTIONS:
            raise ConfigError(_refusal(name))
    before, policy = result.policy, result.policy.with_options(options, source="what_if")
    changed = {name: getattr(policy, name) for name, value in options.items() if value is not None}
    again = {reason.code for reason in _reevaluated(before, policy)}
    reads = {column for reason in REASONS if reason.code in again for column in _reads(reason)}
    derived = {name: derive(policy, result.as_of) for name, (_, derive) in _DERIVED.items() if name in reads}
    needed = sorted(reads - set(derived) | {c for expr in derived.values() for c in expr.meta.root_names()})
    missing = [column for column in needed if column not in result.ledger.columns]
    if missing:
        raise InputError(
            f"the run's ledger lacks the column {missing[0]}, which what_if needs for "
            f"{', '.join(sorted(changed))}",
            hint="run listkit again to store a ledger that keeps it",
        )
    frame = (
        result.ledger.select("source_row", "outcome", *needed, _reasons=pl.col("reasons").fill_null(""))
        .join(_codes_carried(result.ledger["reasons"]), on="_reasons", how="left", maintain_order="left")
        .drop("_reasons")
        .with_columns(**derived)
    )
    frame = frame.with_columns(
        (
            reason.condition(policy).fill_null(False) & (pl.col("_valid") if reason.needs_mailbox else True)
            if reason.code in again
            else pl.col(f"_was_{reason.code}")
        ).alias(f"_is_{reason.code}")
        for reason in REASONS
    )
    pruned_after = pl.any_horizontal(pl.col(f"_is_{code}") for code in pruning_reasons(policy))
    # The codes of each row as bits, spelt out once per distinct combination.
    bits = pl.sum_horizontal(
        pl.col(f"_is_{r.code}").cast(pl.UInt32) * (1 << i) for i, r in enumerate(REASONS)
    )
    rows = frame.with_columns(
        outcome_after=pl.when(pruned_after).then(pl.lit("prune")).otherwise(pl.lit("keep")), _bits=bits
    ).rename({"outcome": "outcome_before"})
    spelt = rows.select(pl.col("_bits").unique()).with_columns(
        reasons_after=pl.concat_str(
            [pl.when(pl.col("_bits") & (1 << i) != 0).then(pl.lit(r.code)) for i, r in enumerate(REASONS)],
            separator=";",
            ignore_nulls=True,
        )
    )
    rows = rows.join(spelt, on="_bits", how="left", maintain_order="left")
    counts = rows.select(
        newly_pruned=_moved("keep", "prune"),
        newly_kept=_moved("prune", "keep"),
        **{
            reason.code: _pruned_by(reason, "_is_", policy) - _pruned_by(reason, "_was_", before)
            for reason in REASONS
            if reason.prunes
        },
    ).row(0, named=True)
    return WhatIf(
        policy=policy,
        changed=changed,
        newly_pruned=int(counts.pop("newly_pruned")),
        newly_kept=int(counts.pop("newly_kept")),
        by_reason={code: int(change) for code, change in counts.items()},
        rows=rows.select("source_row", "outcome_before", "outcome_after", "reasons_after").sort("source_row"),
    )


def _codes_carried(reasons: pl.Series) -> pl.DataFrame:
    """Per distinct ``reasons`` text (``_reasons``, empty for none): ``_valid`` and ``_was_<code>``.

    Split once per combination of codes (a few hundred at most), not once per ledger row.
    """
    distinct = reasons.fill_null("").unique().to_frame("_reasons")
    codes = pl.col("_reasons").str.split(";")
    return distinct.with_columns(
        # Invalid addresses have no mailbox: the rules about one never apply to them (as in rules.flag).
        _valid=~codes.list.contains("invalid_syntax"),
        **{f"_was_{reason.code}": codes.list.contains(reason.code) for reason in REASONS},
    )


def _reevaluated(before: Policy, after: Policy) -> list[Reason]:
    """The reasons the change can move: their condition differs, or reads a derived fact that does."""
    moved_facts = {
        name for name, (option, _) in _DERIVED.items() if getattr(before, option) != getattr(after, option)
    }
    return [
        reason
        for reason in REASONS
        if not reason.condition(before).meta.eq(reason.condition(after)) or moved_facts & set(_reads(reason))
    ]


def _reads(reason: Reason) -> list[str]:
    """The columns ``reason``'s condition reads (the same for every policy)."""
    return reason.condition(Policy()).meta.root_names()


def _moved(before: str, after: str) -> pl.Expr:
    return ((pl.col("outcome_before") == before) & (pl.col("outcome_after") == after)).sum().cast(pl.Int64)


def _pruned_by(reason: Reason, prefix: str, policy: Policy) -> pl.Expr:
    """Rows that carry ``reason`` (column ``prefix`` + code) while it prunes under ``policy``."""
    if not reason.prunes_under(policy):
        return pl.lit(0, dtype=pl.Int64)
    return pl.col(f"{prefix}{reason.code}").sum().cast(pl.Int64)


def _refusal(name: str) -> str:
    """Why ``name`` cannot be asked of a ledger, and what can."""
    can = ", ".join(LEDGER_OPTIONS)
    if name in BY_NAME:
        return (
            f"what_if: policy option {name} needs the event log, the address checks or the segmentation "
            f"again, which the ledger does not keep; what_if can change {can}, and a new run with {name} "
            "shows its effect."
        )
    close = difflib.get_close_matches(str(name), LEDGER_OPTIONS, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"what_if: unknown policy option {shown(str(name))}; {hint}what_if can change {can}."
