"""The report's figures: each a :class:`ReportFigure` (the matplotlib figure, its one-line takeaway
computed from the data, and its alt text), drawn from the tables of :mod:`listkit.report`.

Every figure has a title and labelled axes; a figure that does not apply to a run (no monthly counts,
no previous run, no warm-up plan, no source column) comes back with ``figure=None`` and a takeaway
saying why, so the notebook shows the sentence instead. :func:`present` shows one in a notebook;
:func:`report_figures` gives them all in report order. Figures are drawn with matplotlib's object API
(no pyplot state), so the same run gives the same PNG bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from listkit import report
from listkit.compliance import COMPLAINT_LIMIT, COMPLAINT_TARGET, PERIODS, PROVIDER_ORDER
from listkit.display import show
from listkit.result import RunResult
from listkit.segment_profiles import RULE_SEGMENTS

__all__ = [
    "FIGURES",
    "ReportFigure",
    "bounce_rates",
    "changes",
    "complaint_rates",
    "engagement_over_time",
    "funnel",
    "present",
    "reasons",
    "report_figures",
    "scores",
    "segment_profiles",
    "segment_sizes",
    "signup_cohorts",
    "source_quality",
    "top_domains",
    "typo_fixes",
    "warmup",
]

_COLOURS = {
    "keep": "#2a9d8f",
    "prune": "#e76f51",
    "bar": "#457b9d",
    "light": "#a8dadc",
    "warn": "#e9c46a",
    "rule": "#9aa5b1",
    "line": "#6c757d",
    "bad": "#b23a48",
}
_PROVIDER_COLOURS = ("#d62828", "#7b2cbf", "#0077b6", "#6c757d", "#f4a261")


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report.

    name: a stable identifier (``funnel``, ``complaint_rates``...).
    figure: the matplotlib figure; ``None`` when it does not apply to this run.
    takeaway: one sentence computed from the data (or why there is no figure).
    alt: one line describing the picture for who cannot see it (with the takeaway).
    """

    name: str
    figure: Figure | None
    takeaway: str
    alt: str


def present(item: ReportFigure) -> None:
    """Show a report figure in a notebook (with its alt text), then its takeaway."""
    if item.figure is None:
        show(f"*{item.takeaway}*")
        return
    show(item.figure, alt=item.alt)
    show(f"**Takeaway:** {item.takeaway}")


def _made(name: str, figure: Figure, kind: str, title: str, takeaway: str) -> ReportFigure:
    figure.tight_layout(rect=(0, 0, 1, 0.93) if figure.get_suptitle() else None)
    return ReportFigure(name, figure, takeaway, f"{kind}: {title}. {takeaway}")


def _absent(name: str, why: str) -> ReportFigure:
    return ReportFigure(name, None, why, why)


def _axes(width: float = 8.0, height: float = 3.4) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _style(axes: Axes, title: str, xlabel: str, ylabel: str) -> None:
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.spines[["top", "right"]].set_visible(False)


def _have(n: int) -> str:
    return "has" if n == 1 else "have"


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def funnel(result: RunResult) -> ReportFigure:
    """Rows left after each family of checks, each step labelled with what it removed, by reason."""
    table = report.funnel_table(result)
    removals = report.funnel_removals(result)
    rows = table["rows_left"][0]
    total = max(rows, 1)  # the scale of an empty list; the sentences say the real count
    labels = []
    for step, removed in table.select("step", "removed").iter_rows():
        by_reason = removals.filter(pl.col("step") == step)
        causes = ", ".join(
            f"{reason} {rows:,}" for reason, rows in by_reason.select("reason", "rows").rows()[:3]
        )
        labels.append(f"{step}\n{removed:,} removed: {causes}" if removed else step)
    title = "From list rows to mailable subscribers"
    figure, axes = _axes(9, 0.75 * table.height + 1.2)
    values = table["rows_left"].to_list()
    positions = np.arange(len(values))[::-1]
    colours = [_COLOURS["bar"]] * (len(values) - 1) + [_COLOURS["keep"]]
    axes.barh(positions, values, color=colours)
    axes.set_yticks(positions, labels, fontsize=8)
    for position, value in zip(positions, values, strict=True):
        axes.text(value, position, f" {value:,} ({value / total:.0%})", va="center", fontsize=8)
    axes.set_xlim(0, total * 1.2)
    _style(axes, title, "list rows left", "")
    kept = values[-1]
    steps = table.slice(1)
    biggest = steps.sort("removed", descending=True).row(0, named=True) if steps.height else None
    takeaway = f"{kept:,} of {report.counted(rows, 'list row')} ({kept / total:.0%}) are mailable"
    if biggest and biggest["removed"]:
        top = removals.filter(pl.col("step") == biggest["step"])
        cause = f", mostly {top['reason'][0]} ({top['rows'][0]:,})" if top.height else ""
        removed = report.counted(biggest["removed"], "row")
        takeaway += f"; the biggest cut, {removed}, is the step to '{biggest['step']}'{cause}"
    return _made("funnel", figure, "Horizontal bar chart", title, takeaway + ".")


def reasons(result: RunResult) -> ReportFigure:
    """Rows per reason code, pruning reasons and warnings in different colours."""
    table = report.reasons_table(result).sort("rows", "reason")
    title = "Rows per reason (red prunes, yellow only warns)"
    if table.is_empty():
        return _absent("reasons", "No row carries a reason: every row is kept without a warning.")
    figure, axes = _axes(8, max(2.2, 0.35 * table.height + 1.2))
    colours = [_COLOURS["prune"] if effect == "prune" else _COLOURS["warn"] for effect in table["effect"]]
    axes.barh(table["reason"].to_list(), table["rows"].to_list(), color=colours)
    for position, (rows, share) in enumerate(table.select("rows", "share_of_list_rate").rows()):
        axes.text(rows, position, f" {rows:,} ({share:.1%})", va="center", fontsize=8)
    axes.set_xlim(0, table["rows"].max() * 1.25)
    _style(axes, title, "list rows (a row can carry several reasons)", "reason code")
    pruning = table.filter(pl.col("effect") == "prune").sort("rows", descending=True)
    warnings = table.filter(pl.col("effect") == "warning").sort("rows", descending=True)
    parts = []
    if pruning.height:
        top = pruning.row(0, named=True)
        parts.append(
            f"the most common reason to prune is {top['reason']}: {report.counted(top['rows'], 'row')} "
            f"({top['share_of_list_rate']:.0%} of the list)"
        )
    if warnings.height:
        top = warnings.row(0, named=True)
        parts.append(f"the most common warning is {top['reason']} ({report.counted(top['rows'], 'row')})")
    takeaway = "; ".join(parts)
    return _made("reasons", figure, "Horizontal bar chart", title, takeaway[0].upper() + takeaway[1:] + ".")


def scores(result: RunResult) -> ReportFigure:
    """Distribution of engagement scores (0-100), kept and pruned rows stacked."""
    ledger = result.ledger
    scored = ledger.filter(pl.col("score").is_not_null())
    title = "Engagement scores (machine opens never count)"
    figure, axes = _axes()
    groups = [scored.filter(pl.col("outcome") == o)["score"].to_numpy() for o in ("keep", "prune")]
    axes.hist(groups, bins=20, range=(0, 100), stacked=True, label=["kept", "pruned"],
              color=[_COLOURS["keep"], _COLOURS["prune"]])  # fmt: skip
    axes.legend(frameon=False)
    _style(axes, title, "engagement score (0-100; opening every mail scores about 67)", "list rows")
    kept = scored.filter(pl.col("outcome") == "keep")["score"]
    unscored = ledger.height - scored.height
    if kept.len():
        low = int((kept < 20).sum())
        takeaway = (
            f"Kept readers score a median {kept.median():.0f} of 100, and {low:,} of them "
            f"({_share(low, kept.len()):.0%}) score under 20"
        )
    else:
        takeaway = "No kept row has a score"
    takeaway += (
        f"; {report.counted(unscored, 'row')} {_have(unscored)} no score (no mail was ever delivered)."
    )
    return _made("scores", figure, "Histogram", title, takeaway)


def engagement_over_time(result: RunResult) -> ReportFigure:
    """Human opens and clicks per calendar month, and the share of opens that were machine opens."""
    table = report.monthly_table(result)
    if table.is_empty():
        why = (
            "the run was stored by a listkit that kept no monthly counts: run it again"
            if result.event_stats.get("rows")
            else "the event log is empty"
        )
        return _absent("engagement_over_time", f"No monthly counts in this run ({why}).")
    title = "Engagement per month: human opens and clicks, and the machine share of opens"
    figure = Figure(figsize=(9, 5))
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    months = table["month"].to_list()
    top.plot(months, table["human_opens"].to_list(), marker="o", markersize=3, color=_COLOURS["bar"],
             label="human opens")  # fmt: skip
    top.plot(
        months, table["clicks"].to_list(), marker="o", markersize=3, color=_COLOURS["keep"], label="clicks"
    )
    top.legend(frameon=False, loc="upper left")
    _style(top, title, "", "events per month")
    share = table["machine_open_rate"].to_list()
    bottom.plot(months, [np.nan if s is None else s for s in share], color=_COLOURS["prune"], marker="o",
                markersize=3)  # fmt: skip
    bottom.set_ylim(0, 1)
    bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    _style(bottom, "", "month (UTC)", "machine share of opens")
    bottom.tick_params(axis="x", labelrotation=45)
    # The last month with mail in it (a scoring date early in a month leaves that month empty).
    mailed = table.filter(pl.col("deliveries") + pl.col("human_opens") + pl.col("machine_opens") > 0)
    last = (mailed if mailed.height else table).row(-1, named=True)
    partial = (last["month"].year, last["month"].month) == (result.as_of.year, result.as_of.month)
    partial = partial and result.as_of.day < 28
    machine = last["machine_open_rate"]
    takeaway = (
        f"In {last['month']:%B %Y}{' (up to the scoring date)' if partial else ''}: "
        f"{last['human_opens']:,} human opens and {last['clicks']:,} clicks"
    )
    if machine is not None:
        takeaway += f"; machine opens were {machine:.0%} of all opens"
        year_before = table.filter(pl.col("month") == last["month"].replace(year=last["month"].year - 1))
        if year_before.height and year_before["machine_open_rate"][0] is not None:
            takeaway += f" ({year_before['machine_open_rate'][0]:.0%} a year before)"
    return _made("engagement_over_time", figure, "Line charts", title, takeaway + ".")


def segment_sizes(result: RunResult) -> ReportFigure:
    """Readers per segment of the kept list (rule segments in grey)."""
    table = report.segment_table(result)
    if table.is_empty():
        return _absent("segment_sizes", "Nothing is kept, so there are no segments.")
    title = "Segments of the kept list"
    ordered = table.reverse()
    figure, axes = _axes(8, max(2.2, 0.45 * table.height + 1.2))
    colours = [_COLOURS["rule"] if name in RULE_SEGMENTS else _COLOURS["bar"] for name in ordered["segment"]]
    axes.barh(ordered["segment"].to_list(), ordered["readers"].to_list(), color=colours)
    for position, (readers, share) in enumerate(ordered.select("readers", "share_of_kept_pct").rows()):
        axes.text(readers, position, f" {readers:,} ({share:.0f}%)", va="center", fontsize=8)
    axes.set_xlim(0, table["readers"].max() * 1.25)
    _style(axes, title + " (grey: rule segments, not clusters)", "kept readers", "segment")
    largest = table.sort("readers", descending=True).row(0, named=True)
    takeaway = (
        f"{report.counted(table.height, 'segment')}; the largest is {largest['segment']} with "
        f"{largest['readers']:,} readers ({largest['share_of_kept_pct']:.0f}% of the kept list)."
    )
    return _made("segment_sizes", figure, "Horizontal bar chart", title, takeaway)


def segment_profiles(result: RunResult) -> ReportFigure:
    """Per segment: the share of readers who opened, who clicked, and the median reader's last engagement."""
    table = report.segment_table(result)
    if table.is_empty():
        return _absent("segment_profiles", "Nothing is kept, so there are no segment profiles.")
    title = "What the readers of each segment do"
    ordered = table.reverse()
    names = ordered["segment"].to_list()
    figure = Figure(figsize=(10, max(2.4, 0.45 * table.height + 1.4)))
    panels = figure.subplots(1, 3, sharey=True)
    for axes, column, label, colour in (
        (panels[0], "opened_pct", "Ever opened a mail", _COLOURS["bar"]),
        (panels[1], "clicked_pct", "Ever clicked", _COLOURS["keep"]),
    ):
        values = ordered[column].to_list()
        axes.barh(names, values, color=colour)
        axes.set_xlim(0, 115)
        for position, value in enumerate(values):
            axes.text(value, position, f" {value:.0f}%", va="center", fontsize=8)
        _style(axes, "", "% of the segment's readers", "")
        axes.set_title(label, fontsize=9)
    days = ordered.select(
        pl.when(pl.col("last_engaged") == "never")
        .then(None)
        .otherwise(pl.col("last_engaged").str.extract(r"^(\d+)", 1).cast(pl.Float64))
    ).to_series()
    recency = panels[2]
    recency.barh(names, days.fill_null(0).to_list(), color=_COLOURS["line"])
    limit = max(days.max() or 0, 30) * 1.3
    recency.set_xlim(0, limit)
    for position, value in enumerate(days.to_list()):
        recency.text(
            value or 0, position, " never" if value is None else f" {value:.0f}", va="center", fontsize=8
        )
    _style(recency, "", "days ago (median reader)", "")
    recency.set_title("Last human open or click", fontsize=9)
    panels[0].set_ylabel("segment")
    figure.suptitle(title, x=0.01, ha="left", fontsize=11, fontweight="bold")
    most = table.sort("clicked_pct", descending=True).row(0, named=True)
    never = table.filter(pl.col("last_engaged") == "never")["segment"].to_list()
    engaged = table.filter(pl.col("last_engaged") != "never").sort("opened_pct")
    takeaway = (
        f"The most active segment is {most['segment']} ({most['clicked_pct']:.0f}% of its readers clicked "
        "at least once)"
        if most["clicked_pct"] > 0
        else "No reader of the kept list has clicked yet"
    )
    silent = engaged.row(0, named=True) if engaged.height else most
    if silent["segment"] != most["segment"]:
        takeaway += f"; {silent['segment']} last engaged {silent['last_engaged']} (median)"
    if never:
        takeaway += f"; in {', '.join(never)} most readers never opened or clicked"
    return _made("segment_profiles", figure, "Three bar charts", title, takeaway + ".")


def _provider_rates(result: RunResult, kind: str) -> ReportFigure:
    """Complaint or bounce rates per provider and period, against their lines; small bases hatched."""
    table = report.compliance_table(result)
    name = f"{kind}_rates"
    if table.is_empty() or table["sent"].sum() == 0:
        return _absent(name, "No mail was sent in the event log, so there are no rates per provider.")
    if kind == "complaint":
        lines = (
            (COMPLAINT_TARGET, "0.1%: Google and Yahoo advise staying below"),
            (COMPLAINT_LIMIT, "0.3%: their limit"),
        )
        title, unit, count, base, base_name = (
            "Spam complaint rate per mailbox provider", "spam complaints per delivery", "complaints",
            "deliveries", "deliveries",
        )  # fmt: skip
    else:
        lines = (
            (report.BOUNCE_TARGET_RATE, "2%: Amazon SES recommends staying below"),
            (report.BOUNCE_REVIEW_RATE, "5%: Amazon SES reviews the account"),
        )
        title, unit, count, base, base_name = (
            "Bounce rate per mailbox provider", "bounces per mail sent", "bounces", "sent", "mails sent",
        )  # fmt: skip
    rate, verdict = f"{kind}_rate", f"{kind}_verdict"
    providers = [*PROVIDER_ORDER, "all"]
    figure, axes = _axes(10, 3.8)
    width = 0.38
    top = max(lines[-1][0] * 1.25, (table[rate].max() or 0) * 1.15)
    handles = []
    for offset, period, colour in (
        (-width / 2, PERIODS[0], _COLOURS["bar"]),
        (width / 2, PERIODS[1], _COLOURS["light"]),
    ):
        by_provider = {
            row["provider"]: row for row in table.filter(pl.col("period") == period).iter_rows(named=True)
        }
        for position, provider in enumerate(providers):
            row = by_provider[provider]
            value = row[rate] or 0.0
            few = row[verdict] in (report.TOO_FEW, "no mail")
            axes.bar(position + offset, value, width, color="white" if few else colour, edgecolor=colour,
                     hatch="///" if few else None)  # fmt: skip
            text = "no mail" if row[verdict] == "no mail" else f"{value:.2%}" + ("\ntoo few" if few else "")
            axes.text(position + offset, value, text, ha="center", va="bottom", fontsize=6.5)
        handles.append(Patch(facecolor=colour, edgecolor=colour, label=period))
    handles.append(Patch(facecolor="white", edgecolor=_COLOURS["bar"], hatch="///", label=report.TOO_FEW))
    for (level, label), style in zip(lines, ("--", "-"), strict=True):
        handles.append(axes.axhline(level, color=_COLOURS["bad"], linestyle=style, linewidth=1, label=label))
    axes.set_xticks(range(len(providers)), providers)
    axes.set_ylim(0, top)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=2 if kind == "complaint" else 0))
    axes.legend(handles=handles, frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(axes, title, "mailbox provider", unit)
    recent = table.filter(pl.col("period") == PERIODS[0])
    providers_recent = recent.filter(pl.col("provider") != "all")
    flagged = providers_recent.filter(
        ~pl.col(verdict).is_in([report.TOO_FEW, "no mail", "below 0.1%", "below 2%"])
    )
    few = providers_recent.filter(pl.col(verdict) == report.TOO_FEW)["provider"].to_list()
    minimum = report.MIN_DELIVERIES[kind]
    everyone = recent.filter(pl.col("provider") == "all").row(0, named=True)

    def stated(row: dict) -> str:
        return f"{(row[rate] or 0):.2%} ({row[count]:,} of {row[base]:,} {base_name})"

    if flagged.height:
        worst = flagged.sort(rate, descending=True).row(0, named=True)
        takeaway = f"{worst['provider']} is {worst[verdict]} in the last 30 days: {stated(worst)}"
        if flagged.height > 1:
            others = flagged.filter(pl.col("provider") != worst["provider"]).sort(rate, descending=True)
            takeaway += "; also " + ", ".join(
                f"{row['provider']} {(row[rate] or 0):.1%}" for row in others.iter_rows(named=True)
            )
        if few:
            takeaway += f"; {', '.join(few)}: fewer than {minimum:,} {base_name}, too few to judge"
    elif len(few) == providers_recent.height:
        takeaway = (
            f"Every provider had fewer than {minimum:,} {base_name} in the last 30 days, too few to judge "
            f"one by one; all together: {stated(everyone)}, {everyone[verdict]}"
        )
    else:
        takeaway = f"No provider with enough {base_name} is above {lines[0][0] * 100:g}% in the last 30 days"
        if few:
            takeaway += f"; {', '.join(few)}: fewer than {minimum:,} {base_name}, too few to judge"
    return _made(name, figure, "Grouped bar chart", title, takeaway + ".")


def complaint_rates(result: RunResult) -> ReportFigure:
    """Spam complaints per delivery per provider (last 30 days, all history) against 0.1% and 0.3%."""
    return _provider_rates(result, "complaint")


def bounce_rates(result: RunResult) -> ReportFigure:
    """Bounces per mail sent per provider (last 30 days, all history) against SES's 2% and 5%."""
    return _provider_rates(result, "bounce")


def source_quality(result: RunResult) -> ReportFigure:
    """A heat map of address problems per acquisition source (shares of each source's rows)."""
    table = report.source_table(result)
    if table.is_empty():
        return _absent("source_quality", "The list has no source column, so quality by source is unknown.")
    columns = {
        "invalid_rate": "invalid",
        "typo_rate": "typo domain",
        "disposable_rate": "disposable",
        "hard_bounce_rate": "hard bounce",
        "complaint_rate": "complaint",
        "bad_address_rate": "any bad address",
    }
    title = "Address problems by acquisition source (share of the source's rows)"
    values = table.select(list(columns)).to_numpy().astype(float)
    labels = [
        f"{source} ({rows:,} rows{', ' + verdict if verdict == report.TOO_FEW else ''})"
        for source, rows, verdict in table.select("source", "rows", "verdict").rows()
    ]
    figure, axes = _axes(9, 0.42 * table.height + 1.8)
    axes.imshow(values, aspect="auto", cmap="Reds", vmin=0, vmax=max(values.max(), 0.05))
    for (i, j), value in np.ndenumerate(values):
        axes.text(j, i, f"{value:.1%}", ha="center", va="center", fontsize=7.5,
                  color="white" if value > 0.6 * max(values.max(), 0.05) else "black")  # fmt: skip
    axes.set_xticks(range(len(columns)), list(columns.values()), fontsize=8)
    axes.set_yticks(range(table.height), labels, fontsize=8)
    axes.axvline(len(columns) - 1.5, color="white", linewidth=4)  # "any bad address" sums the first four
    _style(axes, title, "problem", "acquisition source")
    axes.spines[["left", "bottom"]].set_visible(False)
    average = report.list_bad_address_rate(result)
    judged = table.filter(pl.col("verdict") != report.TOO_FEW)
    if judged.height:
        worst = judged.row(0, named=True)
        takeaway = (
            f"{worst['source']} brings the most bad addresses: {worst['bad_address_rate']:.1%} of its "
            f"{worst['rows']:,} rows are invalid, misspelt, disposable or hard-bounced (list: {average:.1%})"
        )
    else:
        takeaway = f"No source has {report.MIN_SOURCE_ROWS:,} rows or more: too few to judge"
    return _made("source_quality", figure, "Heat map", title, takeaway + ".")


def signup_cohorts(result: RunResult) -> ReportFigure:
    """Per sign-up cohort: the share of mailed readers engaged recently, and the share of rows kept."""
    table = report.cohort_table(result)
    if table.is_empty():
        return _absent("signup_cohorts", "The list has no sign-up dates, so there are no cohorts.")
    days = result.policy.lapsing_after_days
    title = "Engagement by sign-up cohort"
    figure, axes = _axes(9, 3.6)
    positions = np.arange(table.height)
    width = 0.4
    for offset, column, colour, label in (
        (-width / 2, "engaged_recently_rate", _COLOURS["bar"],
         f"mailed readers who opened or clicked in the last {days} days"),
        (width / 2, "kept_rate", _COLOURS["keep"], "rows kept"),
    ):  # fmt: skip
        values = table[column].fill_null(0).to_list()
        judged = (table["verdict"] != report.TOO_FEW).to_list()
        for position, value, ok in zip(positions, values, judged, strict=True):
            axes.bar(position + offset, value, width, color=colour if ok else "white", edgecolor=colour,
                     hatch=None if ok else "///", label=label if position == 0 else None)  # fmt: skip
    axes.set_xticks(positions, table["label"].to_list(), rotation=45, ha="right", fontsize=8)
    axes.set_ylim(0, 1.1)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    axes.legend(frameon=False, fontsize=8, loc="upper left")
    _style(axes, title + " (hatched: too few mailed to judge)", "sign-up cohort", "share of the cohort")
    judged = table.filter(
        (pl.col("verdict") != report.TOO_FEW) & pl.col("engaged_recently_rate").is_not_null()
    )
    if judged.height >= 2:
        ranked = judged.sort("engaged_recently_rate", "cohort", descending=[True, False])
        best, worst = ranked.row(0, named=True), ranked.row(-1, named=True)
        takeaway = (
            f"Readers who signed up in {best['label']} engage most ({best['engaged_recently_rate']:.0%} of "
            f"the mailed opened or clicked in the last {days} days); those of {worst['label']} least "
            f"({worst['engaged_recently_rate']:.0%})"
        )
    else:
        takeaway = (
            f"Fewer than two cohorts have {report.MIN_COHORT_ROWS:,} mailed readers: too few to compare"
        )
    unknown = result.ledger["signup_at"].null_count()
    if unknown:
        takeaway += f"; {report.counted(unknown, 'row')} {_have(unknown)} no sign-up date"
    return _made("signup_cohorts", figure, "Grouped bar chart", title, takeaway + ".")


def top_domains(result: RunResult) -> ReportFigure:
    """The biggest domains of the list, rows kept and pruned stacked."""
    table = report.domain_table(result)
    if table.is_empty():
        return _absent("top_domains", "No row has a valid domain.")
    title = (
        "The biggest domain of the list"
        if table.height == 1
        else f"The {table.height} biggest domains of the list"
    )
    ordered = table.reverse()
    figure, axes = _axes(8, 0.35 * table.height + 1.4)
    names = ordered["domain"].to_list()
    axes.barh(names, ordered["kept"].to_list(), color=_COLOURS["keep"], label="kept")
    axes.barh(names, ordered["pruned"].to_list(), left=ordered["kept"].to_list(), color=_COLOURS["prune"],
              label="pruned")  # fmt: skip
    for position, (rows, share) in enumerate(ordered.select("rows", "share_of_list_rate").rows()):
        axes.text(rows, position, f" {rows:,} ({share:.0%})", va="center", fontsize=8)
    axes.set_xlim(0, table["rows"].max() * 1.25)
    axes.legend(frameon=False, fontsize=8, loc="lower right")
    _style(axes, title, "list rows", "domain")
    first = table.row(0, named=True)
    takeaway = f"{first['domain']} holds {first['share_of_list_rate']:.0%} of the list" + (
        f"; these {table.height} domains hold {table['share_of_list_rate'].sum():.0%}."
        if table.height > 1
        else "."
    )
    return _made("top_domains", figure, "Stacked horizontal bar chart", title, takeaway)


def typo_fixes(result: RunResult) -> ReportFigure:
    """The misspelt domains found and the domain suggested for each, by rows."""
    table = report.typo_table(result, top=None)
    if table.is_empty():
        hashed = result.ledger["suggestion"].drop_nulls().len() > 0  # suggestions, but none an address
        return _absent(
            "typo_fixes",
            "The typo fixes are not shown: the run's addresses are hashed (--hash-emails)."
            if hashed
            else "No misspelt domain was found.",
        )
    shown = table.head(12).reverse()
    title = "Misspelt domains found and their fixes"
    figure, axes = _axes(8, 0.35 * shown.height + 1.4)
    labels = [f"{typed} → {suggested}" for typed, suggested in shown.select("typed", "suggested").rows()]
    axes.barh(labels, shown["rows"].to_list(), color=_COLOURS["warn"])
    for position, rows in enumerate(shown["rows"].to_list()):
        axes.text(rows, position, f" {rows:,}", va="center", fontsize=8)
    axes.set_xlim(0, shown["rows"].max() * 1.2)
    _style(axes, title, "list rows", "typed domain → suggested domain")
    top = table.row(0, named=True)
    effect = "pruned" if result.policy.prune_typo_domains else "kept with a warning"
    typos = int(table["rows"].sum())
    takeaway = (
        f"{report.counted(typos, 'row')} {_have(typos)} a misspelt domain ({effect}, with the fix in the "
        f"ledger's suggestion column); the most common is {top['typed']} → {top['suggested']} "
        f"({report.counted(top['rows'], 'row')})."
    )
    return _made("typo_fixes", figure, "Horizontal bar chart", title, takeaway)


def changes(result: RunResult) -> ReportFigure:
    """Addresses that came, went, or changed outcome or segment since the previous run (``--previous``)."""
    if result.changes is None:
        return _absent(
            "changes", "No previous run was given (listkit run --previous DIR), so nothing to compare."
        )
    counts = result.summary()["changes"]
    if not counts["total"]:
        return _absent("changes", "Nothing changed since the previous run.")
    kinds = counts["by_change"]
    kind_words = {"new": "new on the list", "removed": "gone from the list", "outcome": "outcome changed",
                  "segment": "segment changed"}  # fmt: skip
    moves = {
        k.replace(" -> ", " → "): v for k, v in (counts["outcome_moves"] | counts["segment_moves"]).items()
    }
    top_moves = sorted(moves.items(), key=lambda item: (-item[1], item[0]))[:8]
    labels = [kind_words[kind] for kind in kinds] + [name for name, _ in top_moves]
    values = list(kinds.values()) + [n for _, n in top_moves]
    colours = [_COLOURS["bar"]] * len(kinds) + [_COLOURS["light"]] * len(top_moves)
    title = "Changes since the previous run"
    figure, axes = _axes(8, 0.35 * len(labels) + 1.4)
    positions = np.arange(len(labels))[::-1]
    axes.barh(positions, values, color=colours)
    axes.set_yticks(positions, labels, fontsize=8)
    for position, value in zip(positions, values, strict=True):
        axes.text(value, position, f" {value:,}", va="center", fontsize=8)
    axes.set_xlim(0, max(values) * 1.2)
    _style(axes, title, "addresses", "change (dark), largest moves (light)")
    takeaway = (
        f"Since the previous run: {report.counted(kinds['new'], 'new address')}, "
        f"{kinds['removed']:,} gone, {kinds['outcome']:,} changed outcome and {kinds['segment']:,} changed "
        "segment"
    )
    if top_moves:
        takeaway += f"; the largest move is {top_moves[0][0]} ({top_moves[0][1]:,})"
    return _made("changes", figure, "Horizontal bar chart", title, takeaway + ".")


def warmup(result: RunResult) -> ReportFigure:
    """The warm-up plan: addresses per day and mailbox provider (only with ``warmup_days``)."""
    table = report.warmup_table(result)
    if table.is_empty():
        return _absent("warmup", "No warm-up plan was asked for (warmup_days is 0).")
    planned = table.filter(pl.col("day").is_not_null())
    days = sorted(planned["day"].unique().to_list())
    title = "Warm-up plan: addresses per day and mailbox provider"
    figure, axes = _axes(9, 3.6)
    bottom = np.zeros(len(days))
    for provider, colour in zip(PROVIDER_ORDER, _PROVIDER_COLOURS, strict=True):
        rows = dict(planned.filter(pl.col("provider") == provider).select("day", "rows").rows())
        values = np.array([rows.get(day, 0) for day in days], dtype=float)
        if values.any():
            axes.bar(days, values, bottom=bottom, color=colour, label=provider)
            bottom += values
    axes.set_xticks(days)
    axes.legend(frameon=False, fontsize=8, loc="upper left")
    _style(axes, title, "warm-up day", "addresses mailed")
    totals = planned.group_by("day").agg(pl.col("rows").sum()).sort("day")
    after = int(table.filter(pl.col("day").is_null())["rows"].sum())
    takeaway = (
        f"The plan mails on {totals.height} of the {result.policy.warmup_days} days: {totals['rows'][0]:,} "
        f"addresses on day 1, at most {totals['rows'].max():,} a day; "
        + (
            f"{after:,} kept readers are mailed after the warm-up"
            if after
            else "every kept reader fits in it"
        )
    )
    return _made("warmup", figure, "Stacked bar chart", title, takeaway + ".")


#: Every figure in report order.
FIGURES: tuple[Callable[[RunResult], ReportFigure], ...] = (
    segment_sizes,
    segment_profiles,
    funnel,
    reasons,
    scores,
    engagement_over_time,
    signup_cohorts,
    complaint_rates,
    bounce_rates,
    source_quality,
    top_domains,
    typo_fixes,
    changes,
    warmup,
)


def report_figures(result: RunResult) -> list[ReportFigure]:
    """Every figure of the report for ``result``, in report order (those that do not apply included)."""
    return [make(result) for make in FIGURES]
