"""The report's content: the tables behind ``notebooks/list_health.ipynb`` and the lines they are judged by.

Every function here is a pure function of a :class:`~listkit.result.RunResult` returning a polars frame
or Markdown text; :mod:`listkit.figures` draws the figures from these tables and
:mod:`listkit.conclusions` writes "What to do now" from them, so each number is computed once.

Honest numbers (issue 12):

- Every rate is a share from 0 to 100% of a stated base: ``*_rate`` columns are fractions (shown as
  percentages by :func:`listkit.display.html_table`), ``*_pct`` columns are already percentages.
  Readers' engagement is the share of a segment's readers with at least one human open (or click), not
  opens per delivery (which passes 100% when readers open a mail twice).
- "Never" is shown as never: the last engagement of readers who never opened or clicked is not a number.
- A rate on a small base says "too few to judge" instead of a verdict (:data:`MIN_DELIVERIES`,
  :data:`MIN_SOURCE_ROWS`, :data:`MIN_COHORT_ROWS`), unless the count alone already crosses the line
  on that minimum (4 complaints among 400 deliveries are over 0.3% however the next 600 go).

The lines:

- Spam complaints: Gmail and Yahoo require bulk senders to stay below 0.3% and advise below 0.1%
  (:data:`listkit.compliance.COMPLAINT_LIMIT`, :data:`~listkit.compliance.COMPLAINT_TARGET`; Google's
  Email sender guidelines, https://support.google.com/a/answer/81126, and Yahoo's Sender Best
  Practices, https://senders.yahooinc.com/best-practices/).
- Bounces: Amazon SES places an account under review at a bounce rate of 5% and recommends staying
  below 2% (Reputation metrics messages,
  https://docs.aws.amazon.com/ses/latest/dg/reputationdashboardmessages.html). SES counts hard
  bounces over "a representative volume" of mail rather than a fixed period
  (https://aws.amazon.com/blogs/messaging-and-targeting/announcing-the-reputation-dashboard/); the
  report counts every bounce (hard, soft and blocks) of the period, so its rate is SES's or higher.
"""

from __future__ import annotations

import html
from datetime import timedelta

import polars as pl

from listkit.compliance import COMPLAINT_LIMIT, COMPLAINT_TARGET
from listkit.policy import BY_NAME
from listkit.privacy import mask_address_expr, redact_expr
from listkit.reasons import BY_CODE, FUNNEL, REASONS, pruning_reasons
from listkit.result import RunResult
from listkit.schema import EPOCH

__all__ = [
    "BOUNCE_REVIEW_RATE",
    "BOUNCE_TARGET_RATE",
    "MIN_COHORT_ROWS",
    "MIN_DELIVERIES",
    "MIN_SOURCE_ROWS",
    "THRESHOLD_OPTIONS",
    "TOO_FEW",
    "base_segment",
    "cohort_table",
    "compliance_table",
    "counted",
    "definitions_text",
    "domain_table",
    "event_log_table",
    "funnel_removals",
    "funnel_table",
    "headline",
    "list_bad_address_rate",
    "monthly_table",
    "reasons_table",
    "removal_step",
    "segment_guide",
    "segment_table",
    "source_table",
    "thresholds_table",
    "typo_table",
    "warmup_table",
    "warnings_text",
]

#: Amazon SES places an account under review at this bounce rate...
BOUNCE_REVIEW_RATE = 0.05
#: ...and recommends staying below this one.
BOUNCE_TARGET_RATE = 0.02
#: Fewest deliveries (mails sent, for bounces) a rate is judged on: one complaint in fewer than 1,000
#: deliveries is already the 0.1% line, one bounce in fewer than 100 mails is already half the 2% line.
MIN_DELIVERIES = {"complaint": 1_000, "bounce": 100}
#: Fewest rows of an acquisition source whose rates are compared with the list's.
MIN_SOURCE_ROWS = 100
#: Fewest mailed rows of a sign-up cohort whose engagement is compared with the others'.
MIN_COHORT_ROWS = 50
#: The verdict of a rate whose base is below its minimum (and whose count crosses no line on it).
TOO_FEW = "too few to judge"
#: The policy options the conclusions state and try other values of (:mod:`listkit.conclusions`).
THRESHOLD_OPTIONS = (
    "sunset_days",
    "sunset_min_deliveries",
    "soft_bounce_limit",
    "prune_role_accounts",
    "prune_typo_domains",
    "prune_disposable",
)

#: Address problems an acquisition source is judged by (reason code -> column of :func:`source_table`).
_SOURCE_PROBLEMS = {
    "invalid_syntax": "invalid_rate",
    "typo_domain": "typo_rate",
    "disposable": "disposable_rate",
    "hard_bounce": "hard_bounce_rate",
    "complaint": "complaint_rate",
}
#: The problems that make a bad address (a complaint is about consent, not the address).
_BAD_ADDRESS = ("invalid_syntax", "typo_domain", "disposable", "hard_bounce")
_US_PER_DAY = 86_400 * 1_000_000


def counted(n: int, noun: str) -> str:
    """``n`` (with separators) and ``noun`` in the singular or plural: "1 row", "2 rows", "3 addresses"."""
    plural = noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")
    return f"{n:,} {noun if n == 1 else plural}"


def _codes() -> pl.Expr:
    return pl.col("reasons").fill_null("").str.split(";")


def _has(code: str) -> pl.Expr:
    return _codes().list.contains(code)


def _days_ago(result: RunResult, column: str) -> pl.Expr:
    """Whole days from ``column`` to ``as_of`` (null where ``column`` is)."""
    return (pl.lit(result.as_of) - pl.col(column)).dt.total_microseconds() / _US_PER_DAY


def headline(result: RunResult) -> str:
    """Two sentences in Markdown: how many rows are kept and pruned, and the main causes."""
    summary = result.summary()
    total = max(summary["input_rows"], 1)
    keep, prune = summary["outcome"]["keep"], summary["outcome"]["prune"]
    causes = sorted(((n, code) for code, n in summary["reason"].items() if n), reverse=True)[:3]
    cause_text = ", ".join(f"**{code}** ({n:,})" for n, code in causes) or "none"
    return (
        # With no event at all as_of falls back to the epoch: no date to show.
        (f"Scored as of **{result.as_of:%Y-%m-%d}**" if result.as_of > EPOCH else "With no events to score")
        + f": of **{summary['input_rows']:,}** list rows, "
        f"**{keep:,}** ({keep / total:.1%}) are kept for mailing and **{prune:,}** ({prune / total:.1%}) "
        f"pruned; **{summary['suppression_rows']:,}** addresses go to the suppression list. "
        f"Most frequent reasons: {cause_text}."
    )


def warnings_text(result: RunResult) -> str:
    """The run's warnings as a Markdown list under a heading (empty when there are none)."""
    if not result.warnings:
        return ""
    items = "\n".join(f"- **{html.escape(w.code)}**: {html.escape(w.message)}" for w in result.warnings)
    return f"### Warnings\n\n{items}"


def reasons_table(result: RunResult, *, every_code: bool = False) -> pl.DataFrame:
    """Rows per reason code, their share of the list, whether it prunes under this run's policy (else it
    only warns), its step of the funnel and what it means; the codes no row carries only with
    ``every_code`` (the explore notebook lists them all)."""
    pruning = set(pruning_reasons(result.policy))
    counts = result.summary()["reason"]
    total = max(result.ledger.height, 1)
    table = pl.DataFrame(
        {
            "reason": list(counts),
            "rows": list(counts.values()),
            "share_of_list_rate": [n / total for n in counts.values()],
            "effect": ["prune" if code in pruning else "warning" for code in counts],
            "step": [BY_CODE[code].family for code in counts],
            "meaning": [BY_CODE[code].meaning for code in counts],
        }
    )
    return table if every_code else table.filter(pl.col("rows") > 0)


def removal_step(result: RunResult) -> pl.DataFrame:
    """For every pruned row, the funnel step that removes it and the reason it is counted under there.

    Columns ``source_row``, ``step`` (a name of :data:`listkit.reasons.FUNNEL`) and ``reason``: the
    first pruning code (in registry order) of the earliest family among the row's codes, which is the
    step of :meth:`RunResult.funnel` at which the row stops being counted.
    """
    pruning = set(pruning_reasons(result.policy))
    order = {family: i for i, (_, family) in enumerate(FUNNEL)}
    registry = pl.DataFrame(
        [(r.code, order[r.family], position) for position, r in enumerate(REASONS) if r.code in pruning],
        schema={"reason": pl.String, "_step": pl.Int32, "_order": pl.Int32},
        orient="row",
    )
    steps = pl.DataFrame({"_step": list(range(len(FUNNEL))), "step": [name for name, _ in FUNNEL]})
    return (
        result.ledger.filter(pl.col("outcome") == "prune")
        .select("source_row", reason=_codes())
        .explode("reason")
        .join(registry, on="reason", how="inner")
        .sort("source_row", "_step", "_order")
        .unique("source_row", keep="first", maintain_order=True)
        .join(steps, on="_step", how="left")
        .select("source_row", pl.col("step").cast(pl.String), "reason")
    )


def funnel_table(result: RunResult) -> pl.DataFrame:
    """The funnel: rows left after each step (:meth:`RunResult.funnel`), rows it removed and its share."""
    steps = result.funnel()
    total = max(steps[0][1], 1)
    rows = [
        (name, count, previous - count)
        for (name, count), (_, previous) in zip(steps, [steps[0], *steps[:-1]], strict=True)
    ]
    return pl.DataFrame(rows, schema=["step", "rows_left", "removed"], orient="row").with_columns(
        share_left_rate=pl.col("rows_left") / total
    )


def funnel_removals(result: RunResult) -> pl.DataFrame:
    """Rows each funnel step removed, per reason (:func:`removal_step`), largest first within a step."""
    names = [name for name, _ in FUNNEL]
    return (
        removal_step(result)
        .group_by("step", "reason")
        .agg(rows=pl.len())
        .with_columns(_position=pl.col("step").replace_strict(names, list(range(len(names)))))
        .sort("_position", "rows", "reason", descending=[False, True, False])
        .drop("_position")
    )


def _segment_order(result: RunResult, names: list[str]) -> list[str]:
    """Segments in the profile table's order (clusters best first, then the rule segments)."""
    listed = (
        result.segment_profiles["segment"].to_list() if "segment" in result.segment_profiles.columns else []
    )
    return [n for n in listed if n in names] + sorted(n for n in names if n not in listed)


def segment_table(result: RunResult) -> pl.DataFrame:
    """One row per segment of the kept list, from the ledger, with honest rates.

    ``opened_pct`` and ``clicked_pct`` are the shares of the segment's readers with at least one human
    open (click) in the event log up to ``as_of``; ``never_engaged_pct`` those with neither;
    ``last_engaged`` the median reader's last human open or click, "never" when at least half never
    engaged (the stored ``segment_profiles.csv`` keeps its own metrics for ``--previous``).
    """
    kept = result.ledger.filter(pl.col("outcome") == "keep")
    days = _days_ago(result, "last_engagement_at").fill_null(float("inf"))
    table = kept.group_by("segment").agg(
        readers=pl.len(),
        median_score=pl.col("score").median(),
        opened_pct=100 * (pl.col("human_opens").fill_null(0) > 0).mean(),
        clicked_pct=100 * (pl.col("clicks").fill_null(0) > 0).mean(),
        never_engaged_pct=100 * pl.col("last_engagement_at").is_null().mean(),
        _days=days.quantile(0.5, interpolation="higher"),
        median_deliveries=pl.col("deliveries").fill_null(0).median(),
        median_tenure_days=pl.col("tenure_days").median(),
    )
    order = _segment_order(result, table["segment"].to_list())
    return (
        table.with_columns(
            share_of_kept_pct=100 * pl.col("readers") / max(kept.height, 1),
            last_engaged=pl.when(pl.col("_days").is_infinite())
            .then(pl.lit("never"))
            .otherwise(pl.format("{} days ago", pl.col("_days").round(0).cast(pl.Int64))),
            _position=pl.col("segment").replace_strict(order, list(range(len(order)))),
        )
        .sort("_position")
        .select(
            "segment", "readers", "share_of_kept_pct", "median_score", "opened_pct", "clicked_pct",
            "never_engaged_pct", "last_engaged", "median_deliveries", "median_tenure_days",
        )
    )  # fmt: skip


def base_segment(name: str) -> str:
    """The name a segment was given by the namer, without the ``-2``, ``-3``... of a repeated name."""
    head, _, tail = name.rpartition("-")
    return head if head and tail.isdigit() else name


def _guide(name: str, row: dict, result: RunResult) -> tuple[str, str]:
    """(plain-language description, what to send) of one segment."""
    policy = result.policy
    facts = (
        f"{row['readers']:,} readers ({row['share_of_kept_pct']:.0f}% of the kept list); "
        f"{row['opened_pct']:.0f}% ever opened a mail, {row['clicked_pct']:.0f}% ever clicked; "
        f"last human open or click: {row['last_engaged']} (median)."
    )
    sunset = (
        f"those who stay silent for {policy.sunset_days} days and {policy.sunset_min_deliveries} "
        "more mails are pruned as inactive by a later run"
    )
    known = {
        "champions": (
            "Your most engaged readers: the highest scores, opening and clicking most often.",
            "Your best content and offers first; early access, referrals, reviews. Mail them first in a "
            "warm-up.",
        ),
        "engaged": (
            "Regular readers who open and click.",
            "Your normal programme at its usual pace.",
        ),
        "casual": (
            "Readers who open now and then and rarely click.",
            "Fewer, stronger mails; a preference centre (topics, frequency) to find what they want.",
        ),
        "lapsing": (
            f"Readers with no human open or click in the last {policy.lapsing_after_days} days (median)"
            + (
                f", {row['never_engaged_pct']:.0f}% of whom never opened or clicked at all."
                if row["never_engaged_pct"]
                else ", who engaged before."
            ),
            f"A win-back: one or two re-engagement mails with a clear reason to stay; {sunset}.",
        ),
        "dormant": (
            "Readers most of whom never opened or clicked a mail.",
            f"One re-permission mail asking whether they still want to hear from you; {sunset}.",
        ),
        "new": (
            f"Signed up in the last {policy.new_subscriber_days} days, or never mailed yet: too new to "
            "judge.",
            "A welcome series that sets expectations; judge them after a few mails.",
        ),
        "engagement-unknown": (
            "Only machine opens (Apple Mail Privacy Protection and the like): whether they read cannot be "
            "seen.",
            "Mails with something to click (a poll, an offer) and judge them by clicks, not opens.",
        ),
    }
    base = base_segment(name)
    if base in known:
        description, send = known[base]
    elif row["last_engaged"] == "never":  # a name kept from an earlier run's profile file
        description, send = "Readers most of whom never opened or clicked.", known["dormant"][1]
    else:
        description, send = "Readers described by the numbers that follow.", known["engaged"][1]
    return f"{description} {facts}", send


def segment_guide(result: RunResult) -> pl.DataFrame:
    """Each segment in plain language (what kind of reader, with its numbers) and what to send it."""
    table = segment_table(result)
    guides = [_guide(row["segment"], row, result) for row in table.iter_rows(named=True)]
    return pl.DataFrame(
        {
            "segment": table["segment"],
            "readers": table["readers"],
            "who they are": [description for description, _ in guides],
            "what to send": [send for _, send in guides],
        },
        schema_overrides={"readers": pl.UInt32},
    )


def _verdict(count: pl.Expr, base: pl.Expr, minimum: int, lines: tuple[tuple[float, str], ...], below: str):
    """The verdict of ``count / base`` against ``lines`` (highest first), honest about small bases.

    On a base of at least ``minimum`` the rate itself is judged; on a smaller one a line is crossed
    only when the count alone goes beyond it on ``minimum`` (else the verdict is :data:`TOO_FEW`).
    """
    enough = base >= minimum

    def crosses(rate: float) -> pl.Expr:
        # At the line counts as crossing it on a base big enough to judge; on a smaller one only a
        # count beyond the line on the minimum base does (1 complaint in 864 deliveries is not 0.1%).
        return pl.when(enough).then(count / base >= rate).otherwise(count / minimum > rate)

    verdict = pl.when(base == 0).then(pl.lit("no mail"))
    for rate, label in lines:
        verdict = verdict.when(crosses(rate)).then(pl.lit(label))
    return verdict.when(base < minimum).then(pl.lit(TOO_FEW)).otherwise(pl.lit(below))


def compliance_table(result: RunResult) -> pl.DataFrame:
    """Per provider and period (last 30 days, all history): complaint, bounce, block and unsubscribe rates
    with their verdicts (the counts of blocks and unsubscribes are in ``result.compliance``).

    ``complaint_rate`` is complaints per delivery (as Gmail and Yahoo count it), ``bounce_rate`` bounces
    (hard, soft and blocks) per mail sent (``sent``: deliveries plus bounces, or the send events when the
    log has no deliveries), so it cannot pass 100%. Verdicts: :func:`_verdict` with
    :data:`MIN_DELIVERIES`.
    """
    stored = result.compliance
    if stored.is_empty():
        return pl.DataFrame()
    from_sends = pl.col("deliveries_from") == "send"
    complaint_lines = ((COMPLAINT_LIMIT, "over the 0.3% limit"), (COMPLAINT_TARGET, "above the 0.1% target"))
    bounce_lines = ((BOUNCE_REVIEW_RATE, "at or above 5% (SES review)"), (BOUNCE_TARGET_RATE, "above 2%"))
    return (
        stored.with_columns(
            sent=pl.when(from_sends).then("deliveries").otherwise(pl.col("deliveries") + pl.col("bounces"))
        )
        .with_columns(
            complaint_rate=pl.when(pl.col("deliveries") > 0).then(
                pl.col("complaints") / pl.col("deliveries")
            ),
            bounce_rate=pl.when(pl.col("sent") > 0).then(pl.col("bounces") / pl.col("sent")),
            block_rate=pl.when(pl.col("sent") > 0).then(pl.col("blocks") / pl.col("sent")),
            unsubscribe_rate=pl.when(pl.col("deliveries") > 0).then(
                pl.col("unsubscribes") / pl.col("deliveries")
            ),
            complaint_verdict=_verdict(
                pl.col("complaints"), pl.col("deliveries"), MIN_DELIVERIES["complaint"], complaint_lines,
                "below 0.1%",
            ),
            bounce_verdict=_verdict(
                pl.col("bounces"), pl.col("sent"), MIN_DELIVERIES["bounce"], bounce_lines, "below 2%"
            ),
        )
        .select(
            "provider", "period", "deliveries", "complaints", "complaint_rate", "complaint_verdict", "sent",
            "bounces", "bounce_rate", "bounce_verdict", "block_rate", "unsubscribe_rate",
        )
    )  # fmt: skip


#: A source brings more bad addresses than the list when its share is at least this many times the list's
#: (the table's verdict, the heat map's takeaway and the conclusion all judge by it).
SOURCE_STANDS_OUT = 1.25


def source_table(result: RunResult) -> pl.DataFrame:
    """Address quality per acquisition source (``source``), worst first.

    Each ``*_rate`` is the share of the source's list rows carrying that reason (invalid syntax, typo
    domain, disposable domain, hard bounce, complaint; status or event); ``bad_address_rate`` the share
    with any of the first four; ``verdict`` compares it with the whole list's
    (:func:`list_bad_address_rate`), or is :data:`TOO_FEW` below :data:`MIN_SOURCE_ROWS` rows. Judged
    sources come first. Rows without a source are ``(no source)``; empty when no row has one. A source
    is free text from the list: address-like text in it reads ``(address)``, as in every message
    (:func:`listkit.privacy.redact_expr`), and sources that differ only there are counted together.
    """
    ledger = result.ledger
    if ledger["source"].null_count() == ledger.height:
        return pl.DataFrame()
    return (
        ledger.group_by(source=redact_expr(pl.col("source")).fill_null("(no source)"))
        .agg(
            rows=pl.len(),
            **{column: _has(code).mean() for code, column in _SOURCE_PROBLEMS.items()},
            bad_address_rate=pl.any_horizontal(*(_has(code) for code in _BAD_ADDRESS)).mean(),
            kept_rate=(pl.col("outcome") == "keep").mean(),
        )
        .with_columns(
            verdict=pl.when(pl.col("rows") < MIN_SOURCE_ROWS)
            .then(pl.lit(TOO_FEW))
            .when(
                (pl.col("bad_address_rate") >= SOURCE_STANDS_OUT * list_bad_address_rate(result))
                & (pl.col("bad_address_rate") > 0)
            )
            .then(pl.lit(f"over {SOURCE_STANDS_OUT:g} times the list's bad addresses"))
            .otherwise(pl.lit("like the list"))
        )
        .sort(
            pl.col("verdict") == TOO_FEW,
            "bad_address_rate",
            "rows",
            "source",
            descending=[False, True, True, False],
        )
    )


def list_bad_address_rate(result: RunResult) -> float:
    """The share of all list rows with a bad address (the list's average for :func:`source_table`)."""
    bad = result.ledger.select(pl.any_horizontal(*(_has(code) for code in _BAD_ADDRESS)).mean()).item()
    return float(bad or 0.0)


def cohort_table(result: RunResult) -> pl.DataFrame:
    """Engagement by sign-up cohort: quarters when the sign-ups span more than two years, else months.

    Per cohort (``cohort`` the first day, ``label`` such as ``2025 Q3``): ``rows``; ``mailed``, those
    delivered at least once; ``engaged_recently_rate``, the share of the mailed with a human open or
    click in the ``lapsing_after_days`` days before ``as_of``; ``kept_rate``, the share of rows kept;
    ``verdict`` compares the engagement with all mailed rows with a sign-up date, or is :data:`TOO_FEW`
    below :data:`MIN_COHORT_ROWS` mailed rows. Empty without sign-up dates.
    """
    ledger = result.ledger.filter(pl.col("signup_at").is_not_null())
    if ledger.is_empty():
        return pl.DataFrame()
    first, last = ledger["signup_at"].min(), ledger["signup_at"].max()
    quarters = (last - first) > timedelta(days=2 * 365)
    cohort = pl.col("signup_at").dt.truncate("1q" if quarters else "1mo").dt.date()
    label = (
        pl.concat_str(cohort.dt.year().cast(pl.String), pl.lit(" Q"), cohort.dt.quarter().cast(pl.String))
        if quarters
        else cohort.dt.strftime("%Y-%m")
    )
    since = result.as_of - timedelta(days=result.policy.lapsing_after_days)
    mailed = pl.col("deliveries").fill_null(0) > 0
    return (
        ledger.group_by(cohort=cohort, label=label)
        .agg(
            rows=pl.len(),
            mailed=mailed.sum(),
            _engaged=(mailed & (pl.col("last_engagement_at") >= since)).sum(),
            kept_rate=(pl.col("outcome") == "keep").mean(),
        )
        .with_columns(
            engaged_recently_rate=pl.when(pl.col("mailed") > 0).then(pl.col("_engaged") / pl.col("mailed"))
        )
        .with_columns(
            verdict=pl.when(pl.col("mailed") < MIN_COHORT_ROWS)
            .then(pl.lit(TOO_FEW))
            .when(pl.col("_engaged") / pl.col("mailed") >= pl.col("_engaged").sum() / pl.col("mailed").sum())
            .then(pl.lit("as engaged as the list or more"))
            .otherwise(pl.lit("less engaged than the list"))
        )
        .select("cohort", "label", "rows", "mailed", "engaged_recently_rate", "kept_rate", "verdict")
        .sort("cohort")
    )


def domain_table(result: RunResult, top: int = 10) -> pl.DataFrame:
    """The ``top`` domains by list rows, with their share of the list and rows kept and pruned."""
    ledger = result.ledger
    return (
        ledger.filter(pl.col("domain").is_not_null())
        .group_by("domain")
        .agg(rows=pl.len(), kept=(pl.col("outcome") == "keep").sum())
        .with_columns(
            pruned=pl.col("rows") - pl.col("kept"), share_of_list_rate=pl.col("rows") / ledger.height
        )
        .sort("rows", "domain", descending=[True, False])
        .head(top)
        .select("domain", "rows", "share_of_list_rate", "kept", "pruned")
    )


def typo_table(result: RunResult, top: int | None = 20) -> pl.DataFrame:
    """The typo fixes found: typed domain, suggested domain, rows and one masked example, most rows first
    (the ``top`` ones; all with ``None``)."""
    table = (
        # A hashed ledger (--hash-emails) holds no suggested address to read a domain from.
        result.ledger.filter(pl.col("suggestion").str.contains("@"))
        .sort("source_row")
        .group_by(
            typed=pl.col("domain"),
            suggested=pl.col("suggestion").str.extract(r"@([^@]+)$", 1),
            maintain_order=True,
        )
        .agg(rows=pl.len(), example=mask_address_expr(pl.col("email_normalized").first()))
        .sort("rows", "typed", descending=[True, False])
    )
    return table if top is None else table.head(top)


def monthly_table(result: RunResult) -> pl.DataFrame:
    """Engagement per calendar month (:attr:`RunResult.monthly`) with the machine share of opens.

    ``machine_open_rate`` is machine opens over all opens (human and machine) of the month; null in a
    month without opens. Empty when the run has no monthly counts.
    """
    monthly = result.monthly
    if monthly.is_empty():
        return pl.DataFrame()
    opens = pl.col("human_opens") + pl.col("machine_opens")
    return monthly.sort("month").with_columns(
        machine_open_rate=pl.when(opens > 0).then(pl.col("machine_opens") / opens)
    )


def warmup_table(result: RunResult) -> pl.DataFrame:
    """Addresses per warm-up day and provider (:func:`listkit.warmup.warmup_schedule`); empty without a
    plan."""
    from listkit.warmup import warmup_schedule

    if result.policy.warmup_days == 0:
        return pl.DataFrame()
    return warmup_schedule(result.ledger, result.policy)


def thresholds_table(result: RunResult) -> pl.DataFrame:
    """The pruning thresholds this run used (:data:`THRESHOLD_OPTIONS`), their values and meanings."""
    policy = result.policy

    def text(value: object) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else f"{value}"

    return pl.DataFrame(
        {
            "option": list(THRESHOLD_OPTIONS),
            "value": [text(getattr(policy, name)) for name in THRESHOLD_OPTIONS],
            "default": [text(BY_NAME[name].default) for name in THRESHOLD_OPTIONS],
            "meaning": [BY_NAME[name].meaning.split(";")[0] for name in THRESHOLD_OPTIONS],
        }
    )


def event_log_table(result: RunResult) -> pl.DataFrame:
    """How the event log was used: rows read, ignored after ``as_of``, unmatched, unknown types."""
    stats = result.event_stats
    rows = [
        ("event rows read", stats.get("rows", 0)),
        ("matched to a list row", stats.get("matched_to_list", 0)),
        ("after as_of (ignored for engagement)", stats.get("after_as_of", 0)),
        ("of which opt-outs, honoured", stats.get("opt_outs_after_as_of", 0)),
        ("for addresses not on the list", stats.get("for_unknown_addresses", 0)),
        ("addresses not on the list", stats.get("unknown_addresses", 0)),
        ("with an invalid address", stats.get("with_invalid_address", 0)),
    ]
    rows += [(f"unknown event type {name!r}", n) for name, n in stats.get("unknown_types", {}).items()]
    rows += [(f"feedback mail: {name}", n) for name, n in stats.get("feedback", {}).items()]
    return pl.DataFrame(rows, schema=["what", "count"], orient="row")


def definitions_text(result: RunResult) -> str:
    """Markdown: how the report's rates are defined and when it says "too few to judge"."""
    return (
        "### How the numbers are computed\n\n"
        "- Every rate is a share from 0 to 100% of the base named with it. A segment's *opened* and "
        "*clicked* are the shares of its readers with at least one human open (click) in the log up to "
        f"{result.as_of:%Y-%m-%d}; machine opens (Apple Mail Privacy Protection, link scanners) never "
        "count.\n"
        "- *Never* means no human open or click at all; it is not a number of days.\n"
        "- Complaint rate: spam complaints per delivery. Bounce rate: bounces (hard, soft and blocks) per "
        "mail sent (delivered or bounced); Amazon SES counts hard bounces only, so its rate is this one "
        "or lower.\n"
        "- Lines: spam complaints below 0.1% (Google, Yahoo advise) and never 0.3% (their limit); bounces "
        "below 2% (Amazon SES recommends) and never 5% (SES reviews the account).\n"
        f"- *{TOO_FEW}*: a complaint rate on fewer than {MIN_DELIVERIES['complaint']:,} deliveries, a "
        f"bounce rate on fewer than {MIN_DELIVERIES['bounce']:,} mails, an acquisition source with fewer "
        f"than {MIN_SOURCE_ROWS:,} rows or a sign-up cohort with fewer than {MIN_COHORT_ROWS:,} mailed "
        "rows, unless the count alone goes beyond the line on that many (one complaint in 864 deliveries is "
        "too few; 4 in 400 are over 0.3% whatever follows).\n"
        f"- *Engaged recently*: a human open or click in the {result.policy.lapsing_after_days} days "
        "before the scoring date (the policy's `lapsing_after_days`)."
    )
