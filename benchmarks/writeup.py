"""The results of ``benchmarks/run.py`` as markdown tables, two plots and the generated block of the doc.

The block sits between :data:`BEGIN` and :data:`END` in ``docs/benchmarks.md``; a rerun replaces it and
nothing else. Targets and linearity are computed here from the measured rows, in one place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

GIB = 1024**3
MIB = 1024**2
BEGIN = "<!-- benchmarks/run.py: begin (generated; `make bench` replaces this block) -->"
END = "<!-- benchmarks/run.py: end -->"
NAMES = {"csv": "CSV", "parquet": "Parquet"}  # of the formats of an event log
#: A fit is called linear when no point is further than this share from the fitted line.
LINEAR_TOLERANCE = 0.10


def write(results: dict, *, results_dir: Path, doc: Path | None) -> list[Path]:
    """Write ``<results_dir>/<name>.md`` and the plots; with ``doc``, replace its block and put the plots
    beside it (``benchmarks.png``, ``scaling.png``), else beside the results (``<name>-benchmarks.png``...).
    Returns the paths written."""
    folder = doc.parent if doc else results_dir
    prefix = "" if doc else f"{results['name']}-"
    plots = {"main": folder / f"{prefix}benchmarks.png", "scaling": folder / f"{prefix}scaling.png"}
    written = []
    parts = results.get("parts", {})
    if "main" in parts and plot_main(parts["main"], plots["main"]):
        written.append(plots["main"])
    if "scaling" in parts and plot_scaling(parts["scaling"], parts.get("huge"), plots["scaling"]):
        written.append(plots["scaling"])
    block = render(results, plots={k: v.name for k, v in plots.items() if v in written})
    markdown = results_dir / f"{results['name']}.md"
    _replace_file(markdown, block + "\n")
    written.append(markdown)
    if doc:
        _replace_file(doc, replace_block(doc.read_text() if doc.is_file() else "", block))
        written.append(doc)
    return written


def _replace_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def replace_block(text: str, block: str) -> str:
    """``text`` with the generated block replaced by ``block`` (which holds the markers); without markers,
    ``block`` goes before the first second-level section (or at the end)."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    at = text.find("\n## ")
    if at < 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[: at + 1] + block + "\n\n" + text[at + 1 :]


def summary(results: dict) -> str:
    """The block without its markers, for the terminal."""
    return render(results, plots={}).removeprefix(BEGIN + "\n").removesuffix("\n" + END)


# --- formatting


def seconds(row: dict) -> str:
    """Wall time of a row, or what went wrong."""
    return f"{row['wall_seconds']:,.1f} s" if row["ok"] else f"**{row['status']}**"


def memory(row: dict) -> str:
    """Peak memory of a row in GiB (MiB below 1 GiB)."""
    if not row["ok"]:
        return "-"
    peak = row["peak_bytes"]
    return f"{peak / GIB:.2f} GiB" if peak >= GIB else f"{peak / MIB:,.0f} MiB"


def disk_read(row: dict) -> str:
    """What the machine read from disk while ``row``'s command ran, or "-" when not measured."""
    value = row.get("disk_read_bytes")
    return "-" if value is None else size(value)


def size(count: int) -> str:
    """A byte count in GiB or MiB."""
    if count >= GIB:
        return f"{count / GIB:.2f} GiB"
    return f"{count / MIB:,.0f} MiB" if count >= 10 * MIB else f"{count / MIB:.1f} MiB"


def ratio(numerator: dict | None, denominator: dict | None) -> float | None:
    """The ratio of two rows' wall times, when both succeeded."""
    if not (numerator and denominator and numerator["ok"] and denominator["ok"]):
        return None
    return numerator["wall_seconds"] / denominator["wall_seconds"]


def by_name(part: dict | None) -> dict[str, dict]:
    """A part's rows by name."""
    return {row["name"]: row for row in (part or {}).get("rows", [])}


def machine_line(machine: dict, like: dict | None = None) -> str:
    """The machine and versions in one sentence; only the date and load when they are those of ``like``."""
    load = f"load average {machine['load_average'][0]:.1f} when the part ended"
    same = ("cores", "cpu", "memory_bytes", "python", "versions", "commit")
    if like and all(machine.get(key) == like.get(key) for key in same):
        return f"{machine['date']}, the same machine and versions; {load}"
    versions = machine["versions"]
    shown = ", ".join(
        f"{name} {versions.get(name) or 'absent'}"
        for name in ("polars", "pandas", "pyarrow", "email-validator", "scikit-learn")
    )
    cpu = f" ({machine['cpu']})" if machine.get("cpu") else ""
    return (
        f"{machine['date']}; {machine['cores']} cores{cpu}, "
        f"{machine['memory_bytes'] / GIB:.1f} GiB of memory; Python {machine['python']}, {shown}; "
        f"listkit {versions.get('listkit')} at commit {machine['commit']}; {load}"
    )


# --- targets and linearity


def targets(parts: dict) -> list[dict]:
    """Issue 13's targets: each with its goal, the measured value in words, and whether it is met (None:
    not measured)."""
    rows, huge = by_name(parts.get("main")), by_name(parts.get("huge")).get("huge")
    listkit, floor, pandas = rows.get("listkit"), rows.get("floor"), rows.get("pandas")
    out = []

    def add(target: str, value: float | None, shown: str, met: bool | None) -> None:
        out.append(
            {
                "target": target,
                "value": value,
                "measured": shown if value is not None else "not measured",
                "met": met if value is not None else None,
            }
        )

    floor_ratio = ratio(listkit, floor)
    add(
        "`listkit run` with the report within 1.5 x the read floor",
        floor_ratio,
        f"{floor_ratio or 0:.2f} x",
        floor_ratio is not None and floor_ratio <= 1.5,
    )
    peak = listkit["peak_bytes"] if listkit and listkit["ok"] else None
    add(
        "its peak memory at most 2 GiB",
        peak,
        f"{(peak or 0) / GIB:.2f} GiB",
        peak is not None and peak <= 2 * GIB,
    )
    faster = ratio(pandas, listkit)
    add(
        "at least 8 x faster than the pandas notebook",
        faster,
        f"{faster or 0:.1f} x",
        faster is not None and faster >= 8,
    )
    listed = rows.get("list-listkit")
    wall = listed["wall_seconds"] if listed and listed["ok"] else None
    add(
        "the list without events: `listkit run --no-report` within 4 s",
        wall,
        f"{wall or 0:.1f} s",
        wall is not None and wall <= 4,
    )
    if huge is not None:
        value = huge["peak_bytes"] if huge["ok"] else None
        shown = f"completes, {(value or 0) / GIB:.2f} GiB" if huge["ok"] else huge["status"]
        out.append(
            {
                "target": "the repeated (150 M-event) CSV log completes with peak memory at most 4 GiB",
                "value": value,
                "measured": shown,
                "met": huge["ok"] and value <= 4 * GIB,
            }
        )
    return out


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    """The line through ``(xs, ys)`` with the least squared *relative* residuals: intercept, slope, each
    point's residual as a share of its value, and whether every point is within
    :data:`LINEAR_TOLERANCE` of the line.

    Relative, because the verdict is: a plain least-squares fit is ruled by the largest point, so a
    few percent of noise there tilts the line by tens of percent at the smallest one (whose start-up
    share is larger), and a straight line is called bent. Weighted by ``1 / y``, every point counts
    as a share of itself, as it is judged.
    """
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    slope, intercept = np.polyfit(x, y, 1, w=1 / y)
    residuals = (y - (intercept + slope * x)) / y
    worst = float(np.max(np.abs(residuals)))
    return {
        "intercept": float(intercept),
        "slope": float(slope),
        "residuals": residuals.tolist(),
        "worst": worst,
        "linear": len(x) > 2 and worst <= LINEAR_TOLERANCE,
    }


def scaling_lines(scaling: dict) -> list[str]:
    """One sentence per input format and measure: the fitted line and whether the growth is linear."""
    lines = []
    for format in ("csv", "parquet"):
        points = [p for p in scaling["points"] if p["extra"]["format"] == format and p["ok"]]
        if len(points) < 2:
            lines.append(f"- {NAMES[format]}: fewer than two sizes completed, no fit.")
            continue
        events = [p["extra"]["events"] / 1e6 for p in points]
        addresses = [p["extra"]["subscribers"] / 1e6 for p in points]
        time = linear_fit(events, [p["wall_seconds"] for p in points])
        peak = linear_fit(addresses, [p["peak_bytes"] / GIB for p in points])
        per_event = ", ".join(f"{p['wall_seconds'] / e:.2f}" for p, e in zip(points, events, strict=True))
        lines.append(
            f"- {NAMES[format]}: time = {time['intercept']:.1f} s + {time['slope']:.2f} s "
            f"per million events (seconds per million events by size: {per_event}); "
            f"largest residual {100 * time['worst']:.0f}%: {_verdict(time, len(points))}. "
            f"Peak memory = {peak['intercept']:.2f} GiB + {peak['slope']:.2f} GiB per million subscribers; "
            f"largest residual {100 * peak['worst']:.0f}%: {_verdict(peak, len(points))}."
        )
    return lines


def _verdict(fit: dict, points: int) -> str:
    if points < 3:
        return "two points, no test of linearity"
    return "linear" if fit["linear"] else f"**not linear** (more than {100 * LINEAR_TOLERANCE:.0f}% off)"


# --- the block


def render(results: dict, *, plots: dict[str, str]) -> str:
    """The generated block (markers included) for ``results``; ``plots`` names the plot files written."""
    parts = results.get("parts", {})
    quick = results.get("preset") == "quick"
    out = [BEGIN, ""]
    title = (
        "Quick run (tiny sizes, a check of the harness: the targets are for the full sizes)"
        if quick
        else ("Latest measurement")
    )
    out += [f"### {title}: `benchmarks/results/{results['name']}.json`", ""]
    reference = parts["main"]["machine"] if "main" in parts else None  # later parts name only what differs
    if "main" in parts:
        out += _render_main(parts["main"], plots.get("main"))
        out += ["Targets of issue 13:", "", "| target | measured | met |", "|---|---:|---|"]
        for target in targets(parts):
            met = {True: "yes", False: "**no**", None: "-"}[target["met"]]
            out.append(f"| {target['target']} | {target['measured']} | {met} |")
        out.append("")
    if "scaling" in parts:
        out += _render_scaling(parts["scaling"], plots.get("scaling"), reference)
    if "huge" in parts:
        out += _render_huge(parts["huge"], parts.get("main"), reference)
    if "profile" in parts:
        out += [
            "Profile of `listkit run --no-report` (pyinstrument, not a timing): "
            f"`{parts['profile']['profile']}`.",
            "",
        ]
    failed = [
        row for part in parts.values() for row in part.get("rows", part.get("points", [])) if not row["ok"]
    ]
    if failed:
        out += ["Failed commands:", ""]
        for row in failed:
            out += [
                f"- `{row['name']}`: {row['status']} ({row['detail']}); command `{' '.join(row['command'])}`",
                "",
                "  ```",
                *[f"  {line}" for line in row["stderr_tail"].splitlines()],
                "  ```",
            ]
        out.append("")
    out.append(END)
    # Parts leave a blank line before and after themselves: one between two is enough.
    return "\n".join(line for i, line in enumerate(out) if line or (i and out[i - 1]))


def _render_main(main: dict, plot: str | None) -> list[str]:
    rows, data = by_name(main), main["data"]
    out = [f"Machine: {machine_line(main['machine'])}.", ""]
    if "events" in data:
        out += _render_events(main)
    listed = [row for row in main["rows"] if row["extra"]["group"] == "list"]
    if listed:
        info = data["list"]
        out += [
            "",
            f"**A list of {info['subscribers']:,} addresses without events** (the subscribers file of "
            f"`listkit synth --subscribers {info['spec']['subscribers']}`, "
            f"{size(info['subscribers_bytes'])}):",
            "",
            "| what | wall | peak memory |",
            "|---|---:|---:|",
        ]
        out += [f"| {row['extra']['label']} | {seconds(row)} | {memory(row)} |" for row in listed]
        loop = ratio(rows.get("list-loop"), rows.get("list-listkit"))
        if loop is not None:
            speed = f"{loop:.1f} x faster than" if loop >= 1 else f"{1 / loop:.1f} x slower than"
            out += [
                "",
                f"listkit is {speed} the per-row loop (and it also de-duplicates, scores and writes "
                "every output).",
            ]
    others = [row for row in main["rows"] if row.get("others_cores") is not None]
    if others:
        shown = ", ".join(f"{row['name']} {row['others_cores']:.2f}" for row in others)
        out += ["", f"Cores kept busy by other processes while each command ran (of "
                f"{main['machine']['cores']}; near 0 on an idle machine): {shown}.", ""]  # fmt: skip
    stage_rows = [row for row in main["rows"] if row["extra"].get("stages")]
    if stage_rows:
        stages = list(dict.fromkeys(stage for row in stage_rows for stage in row["extra"]["stages"]))
        sources = sorted({row["extra"]["stages_from"] for row in stage_rows})
        head = " | ".join(f"`{row['name']}`" for row in stage_rows)
        out += [
            f"Stages of `listkit run` (seconds, from {' and '.join(sources)}; the rest of the wall time is "
            "start-up, the summary and the output folder's swap):",
            "",
            f"| stage | {head} |",
            "|---|" + "---:|" * len(stage_rows),
        ]
        for stage in [*stages, "total"]:
            cells = []
            for row in stage_rows:
                values = row["extra"]["stages"]
                value = sum(values.values()) if stage == "total" else values.get(stage)
                cells.append("" if value is None else f"{value:,.1f}")
            out.append(f"| {stage} | {' | '.join(cells)} |")
        out.append("")
    if plot:
        out += [f"![Wall time and peak memory of each command of the table above, one run]({plot})", ""]
    return out


def _render_events(main: dict) -> list[str]:
    """The table of the list with its event log."""
    data, floor = main["data"], by_name(main).get("floor")
    events = data["events"]
    parquet = f"; Parquet copy {size(data['parquet']['events_bytes'])}" if "parquet" in data else ""
    out = [
        f"**{events['subscribers']:,} subscribers and {events['events']:,} events** (`listkit synth "
        f"--subscribers {events['spec']['subscribers']} "
        f"--campaigns-per-year {events['spec']['campaigns_per_year']}"
        f"`; CSV {size(events['subscribers_bytes'])} + {size(events['events_bytes'])}{parquet}):",
        "",
        "| what | wall | peak memory | wall / floor |",
        "|---|---:|---:|---:|",
    ]
    for row in main["rows"]:
        if row["extra"]["group"] == "events":
            shown = ratio(row, floor)
            out.append(
                f"| {row['extra']['label']} | {seconds(row)} | {memory(row)} | "
                f"{'-' if shown is None else f'{shown:.2f} x'} |"
            )
    return out


def _render_scaling(scaling: dict, plot: str | None, reference: dict | None) -> list[str]:
    out = [
        "**Scaling** (`--scaling`: `listkit synth --subscribers N`, 12 campaigns a year, so about 34 events "
        "per "
        "subscriber at every size; `listkit run --no-report`):",
        "",
        "| subscribers | events | CSV wall | CSV peak | CSV read from disk | Parquet wall | Parquet peak "
        "| Parquet read from disk |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    sizes = dict.fromkeys(p["extra"]["subscribers"] for p in scaling["points"])
    for subscribers in sizes:
        cells = {
            p["extra"]["format"]: p for p in scaling["points"] if p["extra"]["subscribers"] == subscribers
        }
        events = next(
            (c["extra"]["events"] for c in cells.values() if c["extra"]["events"] is not None), None
        )
        shown = " | ".join(
            f"{seconds(cells[f])} | {memory(cells[f])} | {disk_read(cells[f])}" if f in cells else "- | - | -"
            for f in ("csv", "parquet")
        )
        out.append(f"| {subscribers:,} | {'-' if events is None else f'{events:,}'} | {shown} |")
    out += ["", *scaling_lines(scaling), "", f"Machine: {machine_line(scaling['machine'], reference)}.", ""]
    if plot:
        out += [
            "![Wall time and peak memory of listkit run against the number of events, CSV and Parquet]"
            f"({plot})",
            "",
        ]
    return out


def _render_huge(huge: dict, main: dict | None, reference: dict | None) -> list[str]:
    row, data = huge["rows"][0], huge["data"]
    out = [
        f"**{data['events']:,} events** (`--huge`: the CSV log of the table with its data rows written "
        f"{data['repeat']} times under one header, a streaming copy; {size(data['events_bytes'])}; the same "
        f"{data['subscribers']:,} subscribers): `listkit run --no-report` {seconds(row)}, peak {memory(row)}."
    ]
    base = by_name(main).get("listkit-no-report")
    if base and base["ok"] and row["ok"]:
        out[-1] += (
            f" Against the {data['repeat']} x shorter log: "
            f"{row['wall_seconds'] / base['wall_seconds']:.1f} x "
            f"the time and {row['peak_bytes'] / base['peak_bytes']:.2f} x the memory."
        )
    out += ["", f"Machine: {machine_line(huge['machine'], reference)}.", ""]
    return out


# --- plots


def _bars(ax, labels: list[str], values: list[float], colors: list[str], unit: str) -> None:
    positions = np.arange(len(labels))
    ax.barh(positions, values, color=colors)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    for position, value in zip(positions, values, strict=True):
        ax.text(value, position, f" {value:,.1f} {unit}", va="center", fontsize=8)


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported only when a plot is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> None:
    """Lay out ``fig``, write it to ``path`` (its folder made if missing) and free it."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_main(main: dict, path: Path) -> bool:
    """Bars of wall time and peak memory of each successful row; False when none succeeded."""
    plt = _pyplot()

    rows = [row for row in main["rows"] if row["ok"]]
    if not rows:
        return False
    events, listed = main["data"].get("events"), main["data"].get("list")
    labels = [row["extra"]["label"].replace("`", "") for row in rows]
    labels = [
        f"{label} [list]" if row["extra"]["group"] == "list" else label
        for label, row in zip(labels, rows, strict=True)
    ]
    colors = ["tab:blue" if row["extra"]["group"] == "events" else "tab:orange" for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.5 * len(rows)), sharey=True)
    _bars(left, labels, [row["wall_seconds"] for row in rows], colors, "s")
    _bars(right, labels, [row["peak_bytes"] / GIB for row in rows], colors, "GiB")
    left.set_xlabel("wall time (s)")
    right.set_xlabel("peak memory (GiB)")
    right.axvline(2, color="black", linestyle="--", linewidth=1, label="target: 2 GiB")
    floor = by_name(main).get("floor")
    if floor and floor["ok"]:
        left.axvline(
            1.5 * floor["wall_seconds"],
            color="black",
            linestyle="--",
            linewidth=1,
            label="target: 1.5 x the floor",
        )
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
        ax.margins(x=0.25)
    shown = (
        [f"{events['subscribers']:,} subscribers, {events['events'] / 1e6:.1f} M events (CSV)"]
        if events
        else []
    )
    shown += [f"[list]: {listed['subscribers']:,} addresses without events"] if listed else []
    fig.suptitle(
        f"Wall time and peak memory, one run ({main['machine']['date']}): {'; '.join(shown)}", fontsize=10
    )
    _save(plt, fig, path)
    return True


def plot_scaling(scaling: dict, huge: dict | None, path: Path) -> bool:
    """Time and peak memory against events, one line per input format; False when nothing succeeded."""
    plt = _pyplot()

    points = [p for p in scaling["points"] if p["ok"]]
    if not points:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for format, color in (("csv", "tab:blue"), ("parquet", "tab:green")):
        mine = sorted(
            (p for p in points if p["extra"]["format"] == format), key=lambda p: p["extra"]["events"]
        )
        if not mine:
            continue
        events = [p["extra"]["events"] / 1e6 for p in mine]
        label = f"{NAMES[format]} log"
        left.plot(events, [p["wall_seconds"] for p in mine], "o-", color=color, label=label)
        right.plot(events, [p["peak_bytes"] / GIB for p in mine], "o-", color=color, label=label)
        if format == "csv":  # the subscribers of each size, once
            for p, x in zip(mine, events, strict=True):
                left.annotate(
                    f"{p['extra']['subscribers']:,} subscribers",
                    (x, p["wall_seconds"]),
                    textcoords="offset points",
                    xytext=(5, 5),
                    fontsize=7,
                )
    row = (huge or {}).get("rows", [None])[0]
    if row and row["ok"]:
        label = (
            f"{row['extra']['events'] / 1e6:,.1f} M events, {row['extra']['subscribers']:,} subscribers (CSV)"
        )
        left.plot(
            [row["extra"]["events"] / 1e6],
            [row["wall_seconds"]],
            "*",
            color="tab:red",
            markersize=12,
            label=label,
        )
        right.plot(
            [row["extra"]["events"] / 1e6],
            [row["peak_bytes"] / GIB],
            "*",
            color="tab:red",
            markersize=12,
            label=label,
        )
        right.axhline(4, color="black", linestyle=":", linewidth=1, label="bound for the repeated log: 4 GiB")
    left.set(xlabel="events in the log (millions)", ylabel="wall time (s)", title="Wall time")
    right.set(xlabel="events in the log (millions)", ylabel="peak memory (GiB)", title="Peak memory")
    for ax in (left, right):
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"listkit run --no-report against the size of the log ({scaling['machine']['date']})", fontsize=10
    )
    _save(plt, fig, path)
    return True
