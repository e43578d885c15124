"""Conclusions first: the report's "What to do now", computed from a run.

:func:`what_to_do` is the Markdown section at the top of the report; :func:`actions` its items, each
one paragraph: the addresses to suppress and where the file is, the mailbox provider at risk and why
(its 30-day numbers against the line it crosses), the acquisition source to fix, the segment to win
back, and the thresholds the run used with what other values would do (:func:`threshold_effects`,
through :func:`listkit.sensitivity.what_if`, which re-evaluates the reason registry's own conditions).
The numbers come from the tables of :mod:`listkit.report`, so the conclusions and the figures agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from listkit import report, sensitivity
from listkit.compliance import PERIODS
from listkit.layout import SEGMENTS_DIR, SUPPRESSION_DIR, SUPPRESSION_FILE, segment_file
from listkit.policy import BY_NAME
from listkit.result import RunResult

__all__ = [
    "actions",
    "provider_action",
    "source_action",
    "suppress_action",
    "threshold_effects",
    "thresholds_action",
    "what_to_do",
    "winback_action",
]

#: Verdicts of :func:`listkit.report.compliance_table` that mean a line is crossed, worst first.
_SEVERITY = {
    "over the 0.3% limit": ("complaint", 4),
    "at or above 5% (SES review)": ("bounce", 3),
    "above the 0.1% target": ("complaint", 2),
    "above 2%": ("bounce", 1),
}
_LINE_WORDS = {
    "over the 0.3% limit": "over the 0.3% at which Gmail and Yahoo reject or junk bulk mail",
    "above the 0.1% target": "above the 0.1% Gmail and Yahoo advise staying below",
    "at or above 5% (SES review)": "at or above the 5% at which Amazon SES places an account under review",
    "above 2%": "above the 2% Amazon SES recommends staying below (it reviews accounts at 5%)",
}
_REASON_WORDS = {"unsubscribed": "unsubscribed", "complaint": "complained", "hard_bounce": "hard-bounced"}

#: :func:`listkit.sensitivity.what_if`, or a stand-in with its signature.
WhatIfFunction = Callable[..., sensitivity.WhatIf]


def suppress_action(result: RunResult) -> str:
    """How many addresses to suppress, why, and where the file is; and what to mail instead."""
    summary = result.summary()
    by_reason = (
        result.suppression.select(pl.col("reason").str.split(";").explode())
        .to_series()
        .value_counts(sort=True)
        .rows()
    )
    causes = ", ".join(f"{n:,} {_REASON_WORDS.get(code, code)}" for code, n in by_reason if code)
    where = (
        f"`{SUPPRESSION_FILE}` (in the run's output folder, beside this report; a sending tool's own "
        f"shape is in `{SUPPRESSION_DIR}/` when `--suppression-format` was given)"
    )
    text = (
        f"**Suppress {report.counted(summary['suppression_rows'], 'address')}.** Import {where} into your "
        "sending tool's suppression list"
        + (f": {causes} (an address can have several causes)." if causes else ".")
        if summary["suppression_rows"]
        else "**Nothing to suppress**: no address unsubscribed, complained or hard-bounced."
    )
    not_addresses = summary["suppression_not_addresses"]
    if not_addresses:
        text += (
            f" {report.counted(not_addresses, 'row')} that must not be mailed "
            f"{'holds' if not_addresses == 1 else 'hold'} no valid address, which no suppression file can "
            "hold: delete them from the list at the source."
        )
    kept, pruned = summary["outcome"]["keep"], summary["outcome"]["prune"]
    return text + (
        f" Mail only the {kept:,} kept rows (`{SEGMENTS_DIR}/`); the {pruned:,} pruned rows stay out "
        "(the ledger gives each one's reasons)."
    )


def provider_action(result: RunResult) -> str:
    """The mailbox provider most at risk in the last 30 days and why, or that none is (and what is too few
    to judge)."""
    table = report.compliance_table(result)
    if table.is_empty() or table["sent"].sum() == 0:
        return "**Providers:** the event log has no mail sent, so no provider can be judged."
    recent = table.filter((pl.col("period") == PERIODS[0]) & (pl.col("provider") != "all"))
    crossed = []
    for row in recent.iter_rows(named=True):
        for kind in ("complaint", "bounce"):
            verdict = row[f"{kind}_verdict"]
            if verdict in _SEVERITY:
                crossed.append((_SEVERITY[verdict][1], row[f"{kind}_rate"], kind, verdict, row))
    crossed.sort(key=lambda item: (-item[0], -item[1], item[4]["provider"]))
    few = {
        kind: recent.filter(pl.col(f"{kind}_verdict") == report.TOO_FEW)["provider"].to_list()
        for kind in ("complaint", "bounce")
    }
    if crossed:
        _, rate, kind, verdict, row = crossed[0]
        if kind == "complaint":
            numbers = (
                f"{rate:.2%} of its deliveries were marked as spam "
                f"({row['complaints']:,} of {row['deliveries']:,})"
            )
            advice = "send less often to readers who do not open, and make unsubscribing one click"
        else:
            numbers = f"{rate:.1%} of the mail sent to it bounced ({row['bounces']:,} of {row['sent']:,})"
            advice = (
                "a hard bounce prunes and suppresses its address, soft bounces prune it only after "
                f"{result.policy.soft_bounce_limit} in a row and a block never does (it is about the "
                "sender); check the bounce reasons in the ledger"
            )
        text = (
            f"**{row['provider']} is at risk.** In the last 30 days {numbers}, {_LINE_WORDS[verdict]}; "
            f"{advice}."
        )
        others = sorted({item[4]["provider"] for item in crossed[1:]} - {row["provider"]})
        if others:
            everyone = table.filter((pl.col("period") == PERIODS[0]) & (pl.col("provider") == "all")).row(
                0, named=True
            )
            text += (
                f" Also over a line: {', '.join(others)} (the figures below); all providers together: "
                f"{everyone['bounce_rate'] or 0:.1%} of mail bounced, {everyone['bounce_verdict']}, and "
                f"{everyone['complaint_rate'] or 0:.2%} complained, {everyone['complaint_verdict']}."
            )
    else:
        text = "**No mailbox provider is at risk**: none with enough mail crosses a line in the last 30 days."
    if few["complaint"]:
        minimum = report.MIN_DELIVERIES["complaint"]
        text += (
            f" Complaint rates of {', '.join(few['complaint'])} rest on fewer than {minimum:,} deliveries "
            "in 30 days: too few to judge."
        )
    return text


def source_action(result: RunResult) -> str:
    """The acquisition source bringing the most bad addresses, when one stands out (with enough rows)."""
    table = report.source_table(result)
    if table.is_empty():
        return (
            "**Sources:** the list has no `source` column, so which sign-up form brings bad addresses is "
            "unknown."
        )
    average = report.list_bad_address_rate(result)
    judged = table.filter(pl.col("verdict") != report.TOO_FEW)
    if judged.is_empty():
        return f"**Sources:** no source has {report.MIN_SOURCE_ROWS:,} rows or more: too few to judge."
    worst = judged.row(0, named=True)
    if worst["bad_address_rate"] == 0:
        return (
            "**No source brings bad addresses**: none of their rows is invalid, misspelt, disposable or "
            "hard-bounced."
        )
    detail = (
        f"{worst['bad_address_rate']:.1%} of its {worst['rows']:,} rows ({worst['invalid_rate']:.1%} "
        f"invalid, {worst['typo_rate']:.1%} typo domains, {worst['disposable_rate']:.1%} disposable, "
        f"{worst['hard_bounce_rate']:.1%} hard bounces) are invalid, misspelt, disposable or hard-bounced, "
        f"against {average:.1%} for the whole list"
    )
    if worst["verdict"] != "like the list":
        return (
            f"**Fix the source `{worst['source']}`.** {detail[0].upper()}{detail[1:]}. Check addresses as "
            "they are typed (a typo suggestion on the form) and confirm them by mail (double opt-in) there."
        )
    return (
        f"**No source stands out** (the worst would need {report.SOURCE_STANDS_OUT:g} times the list's "
        f"share of bad addresses): `{worst['source']}` is the worst, {detail}."
    )


def winback_action(result: RunResult) -> str:
    """The segment to win back: the biggest lapsing one (silent for longer than ``lapsing_after_days``),
    else a dormant one; how many of its readers never engaged at all is said, and what to send them."""
    segments = report.segment_table(result).sort("readers", "segment", descending=[True, False])
    for base, who in (("lapsing", ""), ("dormant", "mostly never opened or clicked and ")):
        # One row per segment (at most 32): the names are read one by one.
        candidates = [
            row for row in segments.iter_rows(named=True) if report.base_segment(row["segment"]) == base
        ]
        if candidates:
            row = candidates[0]
            policy = result.policy
            never = row["never_engaged_pct"]
            return (
                f"**Win back `{row['segment']}`.** {row['readers']:,} readers "
                f"({row['share_of_kept_pct']:.0f}% of the kept list) who {who}have had no human open or "
                f"click for longer than {policy.lapsing_after_days} days "
                f"(median last human open or click: {row['last_engaged']}; {row['opened_pct']:.0f}% ever "
                f"opened, {never:.0f}% never opened or clicked at all). "
                f"Send `{segment_file(row['segment'])}` a re-engagement mail with a reason to stay"
                + ("; to those who never engaged, a re-permission mail instead" if never else "")
                + f"; those who stay silent for {policy.sunset_days} days and {policy.sunset_min_deliveries} "
                "mails are pruned as inactive by a later run."
            )
    return "**Nothing to win back**: no segment is lapsing or dormant."


#: Round values analysts compare a threshold with: the nearest below and above the run's are tried.
_LADDERS = {
    "sunset_days": (30, 90, 180, 365, 730, 1095),
    "sunset_min_deliveries": (3, 5, 10, 15, 20, 30, 50),
    "soft_bounce_limit": (1, 2, 3, 4, 5, 7, 10),
}
_WORDS = {
    "sunset_days": "a {}-day sunset window",
    "sunset_min_deliveries": "a floor of {} mails ignored",
    "soft_bounce_limit": "{} soft bounces in a row",
}
_SWITCHES = {
    "prune_role_accounts": "role accounts",
    "prune_typo_domains": "typo domains",
    "prune_disposable": "disposable addresses",
}


def _neighbours(name: str, current: int) -> list[int]:
    """The ladder's values just below and just above ``current`` (halved or doubled off its ends)."""
    ladder, option = _LADDERS[name], BY_NAME[name]
    below = max((v for v in ladder if v < current), default=current // 2)
    above = min((v for v in ladder if v > current), default=current * 2)
    return [int(v) for v in (below, above) if option.low <= v <= option.high and v != current]


def _alternatives(result: RunResult) -> list[tuple[str, Any, str]]:
    """(option, other value, how to say it) for each threshold of :data:`listkit.report.THRESHOLD_OPTIONS`."""
    policy = result.policy
    tried: list[tuple[str, Any, str]] = []
    for name in report.THRESHOLD_OPTIONS:
        current = getattr(policy, name)
        if name in _SWITCHES:
            kept_as = "kept with a warning" if current else "pruned"
            tried.append((name, not current, f"{_SWITCHES[name]} {kept_as}"))
        else:
            tried += [(name, value, _WORDS[name].format(value)) for value in _neighbours(name, current)]
    return tried


def threshold_effects(result: RunResult, *, what_if: WhatIfFunction | None = None) -> pl.DataFrame:
    """What other values of the pruning thresholds would do, one row per value tried.

    Columns ``option``, ``now`` and ``tried`` (as text), ``newly_pruned``, ``newly_kept`` and
    ``sentence`` ("with a 180-day sunset window, 412 more rows would be pruned (inactive +412)").
    ``what_if`` is :func:`listkit.sensitivity.what_if` unless given (a stand-in for tests).
    """
    what_if = what_if or sensitivity.what_if
    schema = {"option": pl.String, "now": pl.String, "tried": pl.String, "newly_pruned": pl.Int64,
              "newly_kept": pl.Int64, "sentence": pl.String}  # fmt: skip
    rows = []
    for name, value, words in _alternatives(result):
        effect = what_if(result, **{name: value})
        pruned, kept = int(effect.newly_pruned), int(effect.newly_kept)
        changes = sorted(
            ((n, code) for code, n in dict(effect.by_reason).items() if n), key=lambda t: (-abs(t[0]), t[1])
        )
        reasons = ", ".join(f"{code} {n:+,}" for n, code in changes[:2])
        if pruned or kept:
            parts = [f"{report.counted(pruned, 'more row')} would be pruned"] if pruned else []
            parts += [f"{report.counted(kept, 'more row')} would be kept"] if kept else []
            sentence = f"with {words}, {' and '.join(parts)}" + (f" ({reasons})" if reasons else "")
        else:
            sentence = f"with {words}, nothing would change"
        now = getattr(result.policy, name)
        rows.append((name, _text(now), _text(value), pruned, kept, sentence))
    return pl.DataFrame(rows, schema=schema, orient="row")


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def thresholds_action(result: RunResult, *, what_if: WhatIfFunction | None = None) -> str:
    """The thresholds the run used and what other values would do."""
    table = report.thresholds_table(result)
    used = ", ".join(f"`{option} = {value}`" for option, value in table.select("option", "value").rows())
    text = f"**Thresholds used** (`listkit policy` explains every option): {used}."
    effects = threshold_effects(result, what_if=what_if)
    lines = "".join(f"\n   - {sentence[0].upper()}{sentence[1:]}." for sentence in effects["sentence"])
    return text + " What changing them would do:" + lines


def actions(result: RunResult, *, what_if: WhatIfFunction | None = None) -> list[str]:
    """The items of "What to do now", in order, each a Markdown paragraph."""
    return [
        suppress_action(result),
        provider_action(result),
        source_action(result),
        winback_action(result),
        thresholds_action(result, what_if=what_if),
    ]


def what_to_do(result: RunResult, *, what_if: WhatIfFunction | None = None) -> str:
    """The report's first section, "What to do now", as Markdown (a heading and a numbered list)."""
    items = "\n".join(f"{number}. {item}" for number, item in enumerate(actions(result, what_if=what_if), 1))
    return f"## What to do now\n\n{items}"
