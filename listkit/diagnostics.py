"""What a run must tell its user about itself: rules that cannot fire, input it did not understand.

A run never fails for these, and never stays silent about them either: each is a :class:`RunWarning`
that :func:`listkit.run` attaches to its result, the CLI prints as ``listkit: warning: ...``, the
manifest lists under ``warnings`` and the report shows at the top. A warning never shows an address
from the data: its message and details are masked (:func:`listkit.privacy.redact`) when it is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from listkit.compliance import BLOCK_ALERT_MIN, BLOCK_ALERT_RATE, PERIODS
from listkit.formula import EMAIL_COLUMNS, formula_like_addresses
from listkit.policy import Policy
from listkit.privacy import redact, redact_value
from listkit.schema import looks_suppressing

__all__ = [
    "RunWarning",
    "formula_address_warnings",
    "invalid_opt_out_warnings",
    "reputation_warnings",
    "sunset_warnings",
    "unknown_event_warnings",
]


@dataclass(frozen=True)
class RunWarning:
    """One thing the analyst must know about a run.

    code: a stable name (``inactive_unreachable``, ``unknown_suppressing_events``, ...).
    message: one sentence saying what is wrong, with the numbers, and what to do.
    details: the numbers behind the message, for the manifest.
    """

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Messages quote names and values from the data (event names, examples): none may be an address.
        object.__setattr__(self, "message", redact(self.message))
        object.__setattr__(self, "details", redact_value(self.details))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the manifest and stored results)."""
        return asdict(self)


def sunset_warnings(rows: pl.DataFrame, policy: Policy) -> list[RunWarning]:
    """Warn when no list row can ever be ``inactive`` because the delivery floor is out of reach.

    ``inactive`` needs ``sunset_min_deliveries`` deliveries since the last human open or click (so
    that nobody is judged on too few mails). When no address of the list received that many
    deliveries in the whole log, the rule would silently prune no one, whatever the window.
    ``rows`` are the flagged list rows (with ``deliveries``); nothing is said for a list without
    deliveries at all.
    """
    mailed = rows.filter(pl.col("syntax_valid") & (pl.col("deliveries").fill_null(0) > 0))
    if mailed.is_empty():
        return []
    deliveries = mailed["deliveries"]
    most, median = int(deliveries.max()), float(deliveries.median())
    floor = policy.sunset_min_deliveries
    if most >= floor:
        return []
    message = (
        f"no row can be pruned as inactive: sunset_min_deliveries is {floor} but no address of the list "
        f"received more than {most} deliveries in the whole log (median {median:g}); set "
        f"sunset_min_deliveries to at most {most}, or give a longer event history"
    )
    details = {
        "sunset_min_deliveries": floor,
        "most_deliveries": most,
        "median_deliveries": median,
    }
    return [RunWarning("inactive_unreachable", message, details)]


def reputation_warnings(compliance: pl.DataFrame) -> list[RunWarning]:
    """Warn when receiving servers blocked much mail for reputation or policy in the last 30 days.

    Much: at least :data:`~listkit.compliance.BLOCK_ALERT_MIN` blocks and
    :data:`~listkit.compliance.BLOCK_ALERT_RATE` of a provider's deliveries.
    ``compliance`` is :func:`listkit.compliance.compliance_table`'s result. Blocks never prune an
    address (the address is fine; the sender is not trusted), so they must be said aloud.
    """
    recent = compliance.filter((pl.col("period") == PERIODS[0]) & (pl.col("provider") != "all"))
    alert = (pl.col("blocks") >= BLOCK_ALERT_MIN) & (pl.col("block_rate").fill_null(1.0) >= BLOCK_ALERT_RATE)
    blocked = recent.filter(alert).sort("blocks", "provider", descending=[True, False])
    if blocked.is_empty():
        return []
    parts = [
        f"{row['provider']} {row['blocks']:,}"
        + (f" ({row['block_rate']:.1%} of deliveries)" if row["block_rate"] is not None else "")
        for row in blocked.iter_rows(named=True)
    ]
    message = (
        f"receiving servers blocked mail for reputation or policy reasons in the {PERIODS[0]}: "
        f"{', '.join(parts)}; those addresses are not pruned; check the sending IP's and domain's "
        "reputation and their SPF, DKIM and DMARC"
    )
    details = {row["provider"]: {"blocks": row["blocks"], "block_rate": row["block_rate"]}
               for row in blocked.iter_rows(named=True)}  # fmt: skip
    return [RunWarning("reputation_blocks", message, details)]


def unknown_event_warnings(unknown_types: dict[str, int]) -> list[RunWarning]:
    """Warn about event names listkit does not know that may mean "do not mail".

    ``unknown_types`` counts the log's unknown names (:class:`listkit.activity.LogSurvey`). Such
    events are ignored, so an unsubscribe in a vocabulary listkit has not learnt would be lost
    without a word: :func:`listkit.schema.looks_suppressing` picks the names that mention
    unsubscribing, spam, complaints, bounces, blocks...
    """
    suspicious = {name: count for name, count in unknown_types.items() if looks_suppressing(name)}
    if not suspicious:
        return []
    shown = ", ".join(f"{name!r} ({count:,})" for name, count in sorted(suspicious.items())[:5])
    more = f" and {len(suspicious) - 5} more" if len(suspicious) > 5 else ""
    message = (
        "event names listkit does not know were ignored although they may mean 'do not mail': "
        f"{shown}{more}; map them to unsubscribe, complaint or bounce in the event column and run again"
    )
    return [RunWarning("unknown_suppressing_events", message, {"names": suspicious})]


def invalid_opt_out_warnings(event_stats: dict[str, Any]) -> list[RunWarning]:
    """Warn about unsubscribes, complaints and hard bounces whose address is not an address.

    ``event_stats`` is the run's (``opt_outs_with_invalid_address`` and a few examples): such an
    opt-out reaches no mailbox, so the list row it was meant for may still be mailed.
    """
    count = event_stats.get("opt_outs_with_invalid_address", 0)
    if not count:
        return []
    examples = ", ".join(repr(e) for e in event_stats.get("invalid_opt_out_examples", []))
    message = (
        f"{count:,} unsubscribes, complaints or hard bounces name no valid address (for example {examples}) "
        "and reach no list row; correct those addresses in the event log and run again"
    )
    return [RunWarning("invalid_opt_out_addresses", message, {"count": count})]


def formula_address_warnings(ledger: pl.DataFrame, suppression: pl.DataFrame) -> list[RunWarning]:
    """Warn about valid addresses that begin with ``=``, ``+`` or ``-``, written unaltered.

    A sending tool must get an address as it is, so the formula guard leaves valid addresses alone
    (:mod:`listkit.formula`); a spreadsheet opening the file could still read such a cell as a
    formula. ``ledger`` and ``suppression`` are the run's; the addresses themselves are never named.
    """
    flags = [formula_like_addresses(ledger[name]) for name in EMAIL_COLUMNS if name in ledger.columns]
    rows = int(pl.DataFrame(flags).select(pl.any_horizontal(pl.all()).sum()).item()) if flags else 0
    listed = int(formula_like_addresses(suppression["email"]).sum())
    if not rows and not listed:
        return []
    message = (
        f"valid addresses that begin with =, + or - are written unaltered in {_rows(rows, 'ledger')} and "
        f"{_rows(listed, 'suppression-list')} (a sending tool needs each address as it is); a spreadsheet "
        "may read them as formulas, so import those files as text instead of opening them"
    )
    return [RunWarning("formula_like_address", message, {"ledger_rows": rows, "suppression_rows": listed})]


def _rows(count: int, where: str) -> str:
    return f"{count:,} {where} row{'' if count == 1 else 's'}"
