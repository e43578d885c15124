"""The report's content: tables and figures for ``notebooks/list_health.ipynb``.

Every figure function returns a matplotlib ``Figure`` (usable on its own in JupyterLab); the notebook
shows them with :func:`listkit.display.show`; :mod:`listkit.render` turns the executed notebook into
``report.html``.
"""

from __future__ import annotations

import html

import polars as pl
from matplotlib.figure import Figure

from listkit.reasons import BY_CODE, pruning_reasons
from listkit.result import RunResult

_COLOURS = {"keep": "#2a9d8f", "prune": "#e76f51", "bar": "#457b9d", "warn": "#e9c46a"}


def headline(result: RunResult) -> str:
    """Two sentences in Markdown: how many rows are kept and pruned, and the main causes."""
    summary = result.summary()
    total = max(summary["input_rows"], 1)
    keep, prune = summary["outcome"]["keep"], summary["outcome"]["prune"]
    causes = sorted(((n, code) for code, n in summary["reason"].items() if n), reverse=True)[:3]
    cause_text = ", ".join(f"**{code}** ({n:,})" for n, code in causes) or "none"
    return (
        f"Scored as of **{result.as_of:%Y-%m-%d}**: of **{summary['input_rows']:,}** list rows, "
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


def reasons_table(result: RunResult) -> pl.DataFrame:
    """Rows per reason code, with what it means and whether it prunes under this run's policy."""
    pruning = set(pruning_reasons(result.policy))
    counts = result.summary()["reason"]
    return pl.DataFrame(
        {
            "reason": list(counts),
            "rows": list(counts.values()),
            "effect": ["prune" if code in pruning else "warning" for code in counts],
            "meaning": [BY_CODE[code].meaning for code in counts],
        }
    ).filter(pl.col("rows") > 0)


def segment_table(result: RunResult) -> pl.DataFrame:
    """Profile of each segment of the kept list (:func:`listkit.segments.profile`), largest first."""
    profiles = result.segment_profiles
    return profiles.drop("kind", "cluster", strict=False).sort("size", "segment", descending=[True, False])


def compliance_table(result: RunResult) -> pl.DataFrame:
    """Complaint, bounce and unsubscribe rates per mailbox provider against Google's and Yahoo's limits."""
    return result.compliance.select(
        "provider", "period", "deliveries", "complaints", "complaint_rate", "bounce_rate", "block_rate",
        "unsubscribe_rate", "complaint_status",
    )  # fmt: skip


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


def funnel_figure(result: RunResult) -> Figure:
    """Horizontal funnel from input rows to the mailable list."""
    steps = result.funnel()
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    labels = [name for name, _ in steps][::-1]
    values = [count for _, count in steps][::-1]
    bars = axes.barh(labels, values, color=_COLOURS["bar"])
    bars[0].set_color(_COLOURS["keep"])
    total = max(steps[0][1], 1)
    for bar, value in zip(bars, values, strict=True):
        axes.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {value:,} ({value / total:.0%})",
            va="center",
        )
    axes.set_xlim(0, total * 1.25)
    axes.set_title("From list rows to mailable subscribers")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return figure


def reasons_figure(result: RunResult) -> Figure:
    """Rows per reason, pruning reasons and warnings in different colours."""
    table = reasons_table(result).sort("rows")
    figure = Figure(figsize=(8, max(2.0, 0.4 * table.height + 1)))
    axes = figure.subplots()
    colours = [_COLOURS["prune"] if effect == "prune" else _COLOURS["warn"] for effect in table["effect"]]
    axes.barh(table["reason"].to_list(), table["rows"].to_list(), color=colours)
    axes.set_title("Rows per reason (red prunes, yellow warns; a row can have several)")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return figure


def score_figure(result: RunResult) -> Figure:
    """Distribution of engagement scores, kept and pruned rows stacked."""
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    scored = result.ledger.filter(pl.col("score").is_not_null())
    groups = [scored.filter(pl.col("outcome") == o)["score"].to_list() for o in ("keep", "prune")]
    axes.hist(groups, bins=20, range=(0, 100), stacked=True, label=["kept", "pruned"],
              color=[_COLOURS["keep"], _COLOURS["prune"]])  # fmt: skip
    axes.set_xlabel("engagement score (0-100)")
    axes.set_ylabel("subscribers")
    axes.set_title("Engagement scores (machine opens never count)")
    axes.legend(frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return figure
