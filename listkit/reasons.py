"""The reason registry: every reason code, what it means, what it does, and its evidence.

Each :class:`Reason` says whether it prunes or only warns, whether it puts the address on the
suppression list, which policy switch can turn its pruning into a warning, which step of the
funnel it belongs to, what it means in the report, when it applies (a polars condition over a
row of the ledger) and the evidence clause written next to it. :func:`listkit.rules.flag`, the
suppression list, :meth:`listkit.result.RunResult.funnel` and the report all read it from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from listkit.policy import Policy

__all__ = [
    "BY_CODE",
    "FUNNEL",
    "LIST_STATUS",
    "REASONS",
    "REASON_CODES",
    "SUPPRESSING_REASONS",
    "Reason",
    "pruning_reasons",
]

#: The funnel's steps after "input rows": each removes the rows pruned by its family's reasons.
FUNNEL = (
    ("valid addresses", "syntax"),
    ("deliverable addresses", "address"),
    ("unique mailboxes", "duplicate"),
    ("not suppressed", "suppressed"),
    ("mailable (kept)", "engagement"),
)
_FAMILIES = {family for _, family in FUNNEL} | {"warning"}


@dataclass(frozen=True)
class Reason:
    """One reason code.

    code: the code written in ``reasons``.
    prunes: True when it prunes under the default policy; False for a warning on kept rows.
    family: the funnel step that removes its rows (:data:`FUNNEL`), ``warning`` for warnings.
    meaning: what it means, in the report's words.
    condition: the polars condition, for a policy, under which a row carries the code.
    evidence: the readable clause written after ``code:`` in ``evidence``.
    suppresses: the address must never be mailed again (it goes to ``suppression.csv``).
    switch: the :class:`~listkit.policy.Policy` option that, set to false, keeps such rows with
        the code as a warning.
    needs_mailbox: applies only to valid addresses (an invalid address has no domain or mailbox);
        False for the codes an invalid row can carry too (its own status).
    """

    code: str
    prunes: bool
    family: str
    meaning: str
    condition: Callable[[Policy], pl.Expr]
    evidence: pl.Expr
    suppresses: bool = False
    switch: str | None = None
    needs_mailbox: bool = True

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES or (self.family == "warning") == self.prunes:
            raise ValueError(f"reason {self.code}: family {self.family!r} does not fit prunes={self.prunes}")

    def prunes_under(self, policy: Policy) -> bool:
        """Whether this code prunes a row under ``policy`` (else it only warns)."""
        return self.prunes and (self.switch is None or getattr(policy, self.switch))


#: The columns, one per suppressing cause, that :func:`listkit.rules.flag` fills from the list's
#: status (true when any row of the mailbox has a status meaning that cause); conditions read them.
LIST_STATUS = {cause: f"_status_{cause}" for cause in ("unsubscribed", "complaint", "hard_bounce")}


def _day(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%d")


def _text(*pieces: pl.Expr | str) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in pieces], ignore_nulls=True)


def _status_or(event_at: str, *event_text: pl.Expr | str) -> pl.Expr:
    """The event's clause when the cause came from the events, else the list's status."""
    return (
        pl.when(pl.col(event_at).is_not_null())
        .then(_text(*event_text))
        .otherwise(_text("status ", pl.col("status").fill_null(""), " on the list"))
    )


def _bounce(reason: str, status: str) -> pl.Expr:
    """``(reason: status)`` of a bounce, whichever of the two is known."""
    known = pl.concat_str(pl.col(reason), pl.lit(": "), pl.col(status))
    return _text(" (", pl.coalesce(known, pl.col(reason), pl.col(status), pl.lit("no status")), ")")


def _is(column: str) -> Callable[[Policy], pl.Expr]:
    return lambda _policy: pl.col(column)


REASONS: tuple[Reason, ...] = (
    Reason(
        "invalid_syntax", True, "syntax", "not a valid email address",
        condition=lambda _: ~pl.col("syntax_valid"),
        evidence=pl.col("syntax_error").fill_null("not a valid address"),
        suppresses=True, needs_mailbox=False,
    ),
    Reason(
        "no_mx", True, "address", "the domain accepts no mail (DNS)",
        condition=lambda _: pl.col("dns_status") == "no_mx",
        evidence=_text(pl.col("domain"), ": ", pl.col("dns_detail").fill_null("accepts no mail")),
    ),
    Reason(
        "disposable", True, "address", "throw-away (disposable) domain",
        condition=_is("is_disposable"), evidence=_text("throw-away domain ", pl.col("domain")),
        switch="prune_disposable",
    ),
    Reason(
        "role_account", True, "address", "role address (info@, sales@...), not a person",
        condition=_is("is_role"), evidence=_text("role address ", pl.col("email_normalized")),
        switch="prune_role_accounts",
    ),
    Reason(
        "typo_domain", True, "address", "domain looks misspelt; a correction is suggested",
        condition=lambda _: pl.col("suggestion").is_not_null(),
        evidence=_text("probably meant ", pl.col("suggestion")), switch="prune_typo_domains",
    ),
    Reason(
        "duplicate", True, "duplicate", "the same mailbox appears on an earlier or more complete row",
        condition=lambda _: pl.col("duplicate_of").is_not_null(),
        evidence=_text("same mailbox as row ", pl.col("duplicate_of").cast(pl.String)),
    ),
    Reason(
        "unsubscribed", True, "suppressed", "unsubscribed (status or event, whatever its date)",
        condition=lambda _: pl.col(LIST_STATUS["unsubscribed"]) | (pl.col("unsubscribes") > 0),
        evidence=_status_or("unsubscribed_at", "unsubscribe event on ", _day("unsubscribed_at")),
        suppresses=True, needs_mailbox=False,
    ),
    Reason(
        "complaint", True, "suppressed", "marked a mail as spam (status or event, whatever its date)",
        condition=lambda _: pl.col(LIST_STATUS["complaint"]) | (pl.col("complaints") > 0),
        evidence=_status_or("complaint_at", "spam complaint on ", _day("complaint_at")),
        suppresses=True, needs_mailbox=False,
    ),
    Reason(
        "hard_bounce", True, "suppressed",
        "the mailbox or its domain does not exist or is disabled (hard bounce, or cleaned by the ESP)",
        condition=lambda _: pl.col(LIST_STATUS["hard_bounce"]) | (pl.col("hard_bounces") > 0),
        evidence=_status_or(
            "hard_bounce_at", "bounced on ", _day("hard_bounce_at"),
            _bounce("hard_bounce_reason", "hard_bounce_status"),
        ),
        suppresses=True, needs_mailbox=False,
    ),
    Reason(
        "soft_bounce_repeated", True, "engagement", "soft bounces in a row with no delivery since",
        condition=lambda policy: pl.col("soft_bounce_streak") >= policy.soft_bounce_limit,
        evidence=_text(
            pl.col("soft_bounce_streak").cast(pl.String), " soft bounces in a row, the last on ",
            _day("last_bounce_at"), _bounce("last_bounce_reason", "last_bounce_status"),
        ),
    ),
    Reason(
        "inactive", True, "engagement",
        "no human open or click in the sunset window, and enough mails ignored since the last one",
        condition=lambda policy: (pl.col("engagements_in_window") == 0)
        & (pl.col("deliveries_since_engagement") >= policy.sunset_min_deliveries),
        evidence=_text(
            pl.col("deliveries_since_engagement").cast(pl.String), " deliveries ",
            pl.when(pl.col("last_engagement_at").is_null())
            .then(pl.lit("and never a human open or click"))
            .otherwise(_text("since the last human open or click on ", _day("last_engagement_at"))),
            ", none in the window",
        ),
    ),
    Reason(
        "engagement_unknown", False, "warning",
        "only machine (Apple MPP) opens: engagement cannot be seen (warning)",
        condition=lambda _: (pl.col("machine_opens") > 0) & (pl.col("human_opens") + pl.col("clicks") == 0),
        evidence=_text(pl.col("machine_opens").cast(pl.String), " machine opens only (Apple MPP)"),
    ),
    Reason(
        "dns_unknown", False, "warning", "the MX lookup did not answer (warning)",
        condition=lambda _: pl.col("dns_status") == "unknown",
        evidence=_text(pl.col("domain"), ": ", pl.col("dns_detail").fill_null("no answer"), "; not pruned"),
    ),
    Reason(
        "placeholder_name", False, "warning", "first name is a placeholder or junk (warning)",
        condition=_is("placeholder_name"),
        evidence=_text("first name looks like a placeholder: ", pl.col("first_name").fill_null("empty")),
    ),
)  # fmt: skip

#: Every reason code, in the order they are listed in ``reasons``.
REASON_CODES: tuple[str, ...] = tuple(reason.code for reason in REASONS)
#: Codes that put an address on the suppression list: it must never be mailed again.
SUPPRESSING_REASONS: tuple[str, ...] = tuple(reason.code for reason in REASONS if reason.suppresses)
BY_CODE = {reason.code: reason for reason in REASONS}


def pruning_reasons(policy: Policy) -> tuple[str, ...]:
    """The reason codes that prune a row under ``policy`` (the others only warn)."""
    return tuple(reason.code for reason in REASONS if reason.prunes_under(policy))
