"""What a run must tell its user about itself: rules that cannot fire, input it did not understand.

A run never fails for these, and never stays silent about them either: each is a :class:`RunWarning`
that :func:`listkit.run` attaches to its result, the CLI prints as ``listkit: warning: ...``, the
manifest lists under ``warnings`` and the report shows at the top.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from listkit.policy import Policy

__all__ = ["RunWarning", "sunset_warnings"]


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
