"""Exploring a stored run: segments, reasons, one address's rows, and two runs compared.

``notebooks/explore_segments.ipynb`` calls these functions (it holds no logic of its own); they are as
useful in an analyst's own notebook::

    from listkit import explore
    result = explore.load_run("results/")              # the --out folder of `listkit run`
    explore.segment_rows(result, "lapsing")             # who is in it, with the evidence
    explore.reason_rows(result, "soft_bounce_repeated")  # who a rule pruned, and why
    explore.why(result, "John.Smith+news@gmail.com")   # every row of that mailbox, in any spelling
    explore.compare(explore.load_run("results/2026-09"), result)

Every table shows addresses masked (``j***@gmail.com``, :func:`listkit.privacy.mask_address_expr`) and
other text with addresses in it redacted (bounce texts, evidence), so an explore notebook can be saved
or shared like the report; ``show_addresses=True`` shows them as they are, for the analyst's own eyes.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from listkit import report
from listkit.addresses import check_addresses
from listkit.cells import named
from listkit.changes import changes
from listkit.errors import ConfigError, InputError
from listkit.formula import EMAIL_COLUMNS
from listkit.layout import RUN_DIR, RUN_FILES
from listkit.privacy import mask_address_expr, redact_expr
from listkit.reasons import REASON_CODES
from listkit.result import RunResult

__all__ = [
    "ADDRESS_COLUMNS",
    "change_summary",
    "compare",
    "default_reason",
    "default_segment",
    "load_run",
    "reason_rows",
    "reason_summary",
    "segment_rows",
    "segment_summary",
    "why",
]

#: The columns of the tables below that hold a whole address (masked unless ``show_addresses``).
ADDRESS_COLUMNS = EMAIL_COLUMNS  # the ledger's address columns, named once in listkit.formula

# What a drill-down shows of a row: who, what was decided, and the facts behind the decision.
_SEGMENT_COLUMNS = (
    "source_row", "email", "segment", "score", "deliveries", "deliveries_in_window", "human_opens",
    "clicks", "machine_opens", "last_engagement_at", "tenure_days", "signup_at", "source", "domain",
    "reasons", "evidence",
)  # fmt: skip
_REASON_COLUMNS = (
    "source_row", "email", "outcome", "reasons", "evidence", "suggestion", "duplicate_of", "domain",
    "deliveries", "last_engagement_at", "bounce_reason", "last_bounce_status", "last_bounce_at",
    "complaint_at", "unsubscribed_at", "status", "source",
)  # fmt: skip
_WHY_COLUMNS = (
    "source_row", "email", "email_normalized", "outcome", "segment", "reasons", "evidence",
    "duplicate_of", "suggestion", "in_suppression", "score", "deliveries", "human_opens", "clicks",
    "last_engagement_at", "bounce_reason", "last_bounce_status", "complaint_at", "unsubscribed_at",
    "status", "source", "signup_at",
)  # fmt: skip


def load_run(run_dir: str | Path) -> RunResult:
    """The run stored in ``run_dir``: the ``--out`` folder of ``listkit run`` (its :data:`RUN_DIR`
    folder is read), or that ``run`` folder itself."""
    folder = Path(run_dir).expanduser()
    for candidate in (folder / RUN_DIR, folder):
        if (candidate / RUN_FILES["meta"]).is_file():
            return RunResult.load(candidate)
    raise InputError(
        f"holds no stored run ({RUN_DIR}/{RUN_FILES['meta']} is missing)",
        file=folder,
        hint="give the --out folder of a listkit run (one written by this version, which stores run/)",
    )


def segment_summary(result: RunResult) -> pl.DataFrame:
    """The segments of the kept rows, largest first, as the report shows them: readers, share, score,
    the shares of readers who ever opened and clicked (0-100%), and the last engagement ("never"
    where most never engaged), from :func:`listkit.report.segment_table`."""
    return report.segment_table(result).sort("readers", "segment", descending=[True, False])


def default_segment(result: RunResult) -> str | None:
    """The largest segment (the first one :func:`segment_summary` lists); ``None`` when no row was kept."""
    summary = segment_summary(result)
    return summary["segment"][0] if summary.height else None


def segment_rows(result: RunResult, segment: str, *, show_addresses: bool = False) -> pl.DataFrame:
    """The kept rows of ``segment``, most engaged first, with the engagement facts behind their place.

    An unknown segment is refused with the names of the run's segments.
    """
    names = sorted(segment_summary(result)["segment"])
    if segment not in names:
        raise ConfigError(
            f"segment {segment!r} is not in this run; its segments are {', '.join(names) or 'none'}."
        )
    rows = result.ledger.filter((pl.col("outcome") == "keep") & (pl.col("segment") == segment))
    rows = rows.sort("score", "source_row", descending=[True, False], nulls_last=True)
    return _shown(rows.select(_present(rows, _SEGMENT_COLUMNS)), show_addresses)


def reason_summary(result: RunResult) -> pl.DataFrame:
    """One row per reason code, most rows first: how many rows carry it (``share_pct`` of the list),
    whether it prunes under the run's policy (else it only warns), its step of the funnel and what it
    means (:func:`listkit.report.reasons_table`, codes no row carries included)."""
    return (
        report.reasons_table(result, every_code=True)
        .select(
            "reason",
            pl.col("rows").cast(pl.UInt32),
            share_pct=pl.col("share_of_list_rate") * 100,
            prunes=pl.col("effect") == "prune",
            step="step",
            meaning="meaning",
        )
        .sort("rows", descending=True, maintain_order=True)
    )


def default_reason(result: RunResult) -> str | None:
    """The pruning reason on the most rows (``None`` when nothing was pruned)."""
    summary = reason_summary(result).filter(pl.col("prunes") & (pl.col("rows") > 0))
    return summary["reason"][0] if summary.height else None


def reason_rows(result: RunResult, reason: str, *, show_addresses: bool = False) -> pl.DataFrame:
    """The rows that carry ``reason`` (any code of :data:`listkit.REASON_CODES`), by ``source_row``,
    with their outcome, every reason and its evidence, and the facts a reason rests on (suggested fix,
    the row kept instead, bounce, complaint and unsubscribe)."""
    if reason not in REASON_CODES:
        raise ConfigError(f"reason {reason!r} is not a reason code; the codes are {', '.join(REASON_CODES)}.")
    rows = result.ledger.filter(pl.col("reasons").str.split(";").list.contains(reason))
    return _shown(rows.select(_present(rows, _REASON_COLUMNS)), show_addresses)


def why(result: RunResult, address: str, *, show_addresses: bool = False) -> pl.DataFrame:
    """Every ledger row of the mailbox of ``address``, in whichever spelling the list holds it
    (``John.Smith+news@GMAIL.com`` finds ``johnsmith@gmail.com``: the mailbox key of
    :func:`listkit.check_addresses`), with its outcome, reasons, evidence and whether the address is
    on the suppression list. An address that is no valid address finds the rows spelled like it
    (case and surrounding white space aside). No row: an empty table.

    A run written with ``--hash-emails`` holds no address to look up, and is refused.
    """
    ledger = result.ledger
    if ledger.height and not ledger["email"].str.contains("@", literal=True).any():
        raise InputError(
            "the ledger of this run holds no address to look up (it was written with --hash-emails)",
            hint="explore the output of a run without --hash-emails",
        )
    wanted = check_addresses([address])["mailbox_key"][0]
    # The rows spelled like it (all an invalid address can match), and every row of its mailbox.
    match = pl.col("email").str.strip_chars().str.to_lowercase() == address.strip().lower()
    if wanted is not None:
        match = match | (check_addresses(ledger["email"])["mailbox_key"] == wanted).fill_null(False)
    rows = ledger.filter(match).with_columns(
        in_suppression=pl.col("email_normalized")
        .is_in(result.suppression["email"].implode())
        .fill_null(False)
    )
    return _shown(rows.select(_present(rows, _WHY_COLUMNS)).sort("source_row"), show_addresses)


def compare(before: RunResult, after: RunResult, *, show_addresses: bool = False) -> pl.DataFrame:
    """Every address whose outcome or segment differs between two runs, or that came or went
    (:func:`listkit.changes`: ``change`` is ``new``, ``removed``, ``outcome`` or ``segment``), with the
    reasons it carries now; sorted by address."""
    return _shown(changes(before.ledger, after.ledger), show_addresses)


def change_summary(before: RunResult, after: RunResult) -> pl.DataFrame:
    """How many addresses made each move between two runs (kind of change, outcome and segment before
    and after), largest move first."""
    moves = ("change", "outcome_before", "outcome_after", "segment_before", "segment_after")
    return (
        changes(before.ledger, after.ledger)
        .group_by(moves)
        .agg(addresses=pl.len())
        .sort(["addresses", *moves], descending=[True, *[False] * len(moves)], nulls_last=True)
    )


def _present(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[str]:
    """``columns`` that ``frame`` has (a run without events or sign-up dates lacks none, an older
    stored run may)."""
    return [column for column in columns if column in frame.columns]


def _shown(frame: pl.DataFrame, show_addresses: bool) -> pl.DataFrame:
    """``frame`` as a notebook may show it: addresses masked, address-like text in other cells redacted."""
    if show_addresses:
        return frame
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        mask_address_expr(named(name)) if name in ADDRESS_COLUMNS else redact_expr(named(name))
        for name in text
    )
