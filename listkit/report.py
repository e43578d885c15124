"""The report: tables and figures for ``notebooks/list_health.ipynb``, and rendering it to HTML.

Every figure function returns a matplotlib ``Figure`` (usable on its own in JupyterLab); the notebook
shows them with :func:`show`, which embeds a PNG without timestamps so reports are reproducible.
:func:`render_report` executes the notebook with papermill and converts it with nbconvert, code
hidden.
"""

from __future__ import annotations

import contextlib
import html
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from listkit.errors import OutputError
from listkit.reasons import BY_CODE, pruning_reasons
from listkit.result import RunResult

_NOTEBOOK = "list_health.ipynb"
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


def show(item: Figure | pl.DataFrame | str) -> Any:
    """Display a figure (as a reproducible PNG), a table (as plain HTML) or Markdown text in a notebook."""
    from IPython.display import HTML, Image, Markdown, display

    if isinstance(item, Figure):
        buffer = io.BytesIO()
        item.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        return display(Image(data=buffer.getvalue(), format="png"))
    if isinstance(item, pl.DataFrame):
        return display(HTML(html_table(item)))
    return display(Markdown(item))


def html_table(frame: pl.DataFrame) -> str:
    """A plain, escaped HTML table: rates as percentages, counts with thousands separators."""

    def cell(name: str, value: Any) -> str:
        if value is None:
            return "<td></td>"
        if isinstance(value, float):
            if name.endswith("_pct"):  # already in percent
                return f"<td>{value:.1f}%</td>"
            return f"<td>{value:.2%}</td>" if name.endswith("_rate") else f"<td>{value:,.1f}</td>"
        if isinstance(value, int):
            return f"<td>{value:,}</td>"
        return f'<td style="text-align:left">{html.escape(str(value))}</td>'

    numeric = {name for name, dtype in frame.schema.items() if dtype.is_numeric()}
    head = "".join(
        f"<th>{html.escape(name)}</th>"
        if name in numeric
        else f'<th style="text-align:left">{html.escape(name)}</th>'
        for name in frame.columns
    )
    body = "".join(
        "<tr>" + "".join(cell(n, v) for n, v in zip(frame.columns, row, strict=True)) + "</tr>"
        for row in frame.iter_rows()
    )
    return f'<table class="listkit"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def notebook_path() -> Path:
    """The report notebook: packaged with listkit, or in the source tree's ``notebooks/``."""
    for candidate in (
        Path(__file__).parent / "notebooks" / _NOTEBOOK,
        Path(__file__).parent.parent / "notebooks" / _NOTEBOOK,
    ):
        if candidate.exists():
            return candidate
    raise OutputError(f"the report notebook {_NOTEBOOK} is missing from the installation; reinstall listkit")


def render_report(run_dir: Path, html_path: Path, *, scratch_dir: Path | None = None) -> None:
    """Execute the report notebook on a stored run (:data:`listkit.layout.RUN_DIR` of a written
    output, :meth:`RunResult.save`) with papermill and write it as HTML without code.

    The temporary files (the executed notebook, the kernel's connection file) live in a folder inside
    ``scratch_dir`` (default: the system's temporary folder) removed afterwards; export passes its
    private staging space, so even a killed run's files are removed by the next run.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    with tempfile.TemporaryDirectory(prefix="listkit-report-", dir=scratch_dir) as scratch:
        executed = Path(scratch) / "executed.ipynb"
        with _kernel_environment(Path(scratch)):
            try:
                papermill.execute_notebook(
                    str(notebook_path()),
                    str(executed),
                    parameters={"run_dir": str(Path(run_dir).resolve())},
                    kernel_name="python3",
                    progress_bar=False,
                    cwd=scratch,
                    # The kernel's own log (a warning about plain TCP on loopback) is noise to a CLI user.
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                )
            except papermill.PapermillExecutionError as error:
                raise OutputError(
                    f"the report notebook failed in cell {error.exec_count} ({error.ename}: {error.evalue}); "
                    "rerun with --no-report to get the other outputs"
                ) from None
        notebook = nbformat.read(executed, as_version=4)
    # papermill gives its injected cell a random id; fixed ids keep the HTML byte-identical.
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:02d}"
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": "listkit list health"}})
    html_path.write_text(body, encoding="utf-8")


@contextlib.contextmanager
def _kernel_environment(scratch: Path) -> Iterator[None]:
    """For the block: this environment's kernel spec named python3 first (over one a user installed
    elsewhere), and the temporary files of Jupyter, papermill and the kernel in ``scratch``.

    jupyter_client writes the kernel's connection file (it holds the kernel's key) with
    ``tempfile.mkstemp``, so ``tempfile.tempdir`` points there too (other threads' temporary files
    meanwhile as well); the kernel inherits the environment.
    """
    kernel_specs = (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH"))
    values = {
        "JUPYTER_PATH": os.pathsep.join(filter(None, kernel_specs)),
        "JUPYTER_RUNTIME_DIR": str(scratch),
        "TMPDIR": str(scratch),
    }
    saved, saved_tempdir = {name: os.environ.get(name) for name in values}, tempfile.tempdir
    os.environ.update(values)
    tempfile.tempdir = str(scratch)
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
