"""The benchmark of issue 13: listkit against the read floor and a pandas notebook, side by side in one run.

    make bench                                  # the same as the next line, after installing the bench extra
    .venv/bin/python benchmarks/run.py [--quick] [--scaling] [--huge] [--no-main] [--data DIR] ...

Generates (once; cached under ``--data``, keyed by the generation parameters) the data with ``listkit
synth``: 382,000 subscribers with 28 campaigns a year (29.9 M events, CSV, and a Parquet copy made with
the same seed), and a 1,000,000-address list. Then measures, each command in its own fresh process (wall
time and peak memory: see ``harness.measure``):

- the read floor: polars reading both CSV files with every column as text (``benchmarks/floor.py``);
- ``listkit run`` with the report, ``--no-report``, and ``--no-report`` on the Parquet copy of the log,
  each with its stage timings;
- the pandas + email-validator notebook an analyst would otherwise write (``benchmarks/peer_pandas.py``);
- the 1,000,000-address list without events: ``listkit run --no-report`` and a per-row email-validator
  loop (``benchmarks/loop_validate.py``).

``--scaling`` adds ``listkit run --no-report`` on 100k, 1M and 3M subscribers (12 campaigns a year: ~34
events each), CSV and Parquet logs; ``--huge`` a 150 M-event CSV log (the 29.9 M log's data rows five
times). ``--quick`` uses tiny sizes to check the harness end to end. Results go to
``benchmarks/results/<name>.json`` (a rerun of some parts keeps the others) and, for full-size runs, to the
generated block of ``docs/benchmarks.md`` with ``docs/benchmarks.png`` and ``docs/scaling.png``. A failing
command is reported with its command and stderr tail (out of memory said as such), the others still run,
and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import harness
import writeup
from harness import HarnessError, Measured, SynthSpec

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


@dataclass(frozen=True)
class Preset:
    """The sizes of one kind of run."""

    main: SynthSpec  # the list and log of the side-by-side table
    list_only: SynthSpec  # its subscribers file is the list without events
    scaling: tuple[int, ...]  # subscribers per point of the scaling curve
    scaling_campaigns: int  # campaigns per year of every scaling point (one events-per-subscriber ratio)
    repeat: int  # the huge log is the main log's data rows this many times


PRESETS = {
    "full": Preset(SynthSpec(382_000, 28), SynthSpec(1_000_000), (100_000, 1_000_000, 3_000_000), 12, 5),
    "quick": Preset(SynthSpec(20_000, 28), SynthSpec(20_000), (5_000, 10_000, 20_000), 12, 5),
}

#: The rows of the side-by-side table: name -> (group, label). Groups: "events" (the list and its log),
#: "list" (the list without events).
MAIN_ROWS = {
    "floor": ("events", "polars reading both files, every column as text (the floor)"),
    "listkit": ("events", "`listkit run` (report included)"),
    "listkit-no-report": ("events", "`listkit run --no-report`"),
    "listkit-parquet": ("events", "`listkit run --no-report`, the log as Parquet"),
    "listkit-duckdb": ("events", "`listkit run --no-report --engine duckdb`"),
    "listkit-spark": ("events", "`listkit run --no-report --engine spark` (local mode)"),
    "pandas": ("events", "pandas + email-validator notebook (`benchmarks/peer_pandas.py`)"),
    "list-listkit": ("list", "`listkit run --no-report`"),
    "list-loop": ("list", "`validate_email` on each row (`benchmarks/loop_validate.py`)"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the harness end to end")
    parser.add_argument("--scaling", action="store_true", help="also the scaling curve (100k, 1M, 3M)")
    parser.add_argument("--huge", action="store_true", help="also the 150 M-event CSV log")
    parser.add_argument("--no-main", action="store_true", help="skip the side-by-side table")
    parser.add_argument(
        "--only", help=f"comma-separated rows of the table to measure ({','.join(MAIN_ROWS)})"
    )
    parser.add_argument("--data", type=Path, default=BENCH / "data", help="cache of generated data")
    parser.add_argument("--results", type=Path, default=BENCH / "results", help="folder of <name>.json")
    parser.add_argument("--name", help="results name (default: full, or quick with --quick)")
    parser.add_argument(
        "--doc",
        help="markdown file whose generated block is replaced (default: docs/benchmarks.md, "
        "none with --quick; '-' for none); its plots are written beside it",
    )
    parser.add_argument("--subscribers", type=int, help="subscribers of the table's list")
    parser.add_argument("--campaigns-per-year", type=int, help="campaigns per year of the table's log")
    parser.add_argument("--list-rows", type=int, help="rows of the list without events")
    parser.add_argument("--sizes", help="comma-separated subscribers of the scaling points")
    parser.add_argument("--repeat", type=int, help="how many times the huge log repeats the table's log")
    parser.add_argument("--seed", type=int, default=0, help="seed of listkit synth (0)")
    parser.add_argument(
        "--run-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument of every `listkit run` (repeat it; e.g. --run-arg=--stream-events)",
    )
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per command (10800)")
    parser.add_argument("--regenerate", action="store_true", help="generate the data again")
    parser.add_argument(
        "--render-only", action="store_true", help="measure nothing: write the doc and plots from <name>.json"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile `listkit run --no-report` on the table's data with pyinstrument (HTML, not timed)",
    )
    args = parser.parse_args(argv)
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(MAIN_ROWS))
        if unknown:
            parser.error(f"--only: unknown rows {', '.join(unknown)}; the rows are {', '.join(MAIN_ROWS)}")
    if args.no_main and not (args.scaling or args.huge or args.profile or args.render_only):
        parser.error("--no-main leaves nothing to measure: add --scaling, --huge or --profile")
    return args


def preset_of(args: argparse.Namespace) -> Preset:
    """The preset of ``--quick`` (or the full one) with the size options applied."""
    preset = PRESETS["quick" if args.quick else "full"]
    main = replace(preset.main, seed=args.seed)
    if args.subscribers:
        main = replace(main, subscribers=args.subscribers)
    if args.campaigns_per_year:
        main = replace(main, campaigns_per_year=args.campaigns_per_year)
    list_only = replace(
        preset.list_only, seed=args.seed, subscribers=args.list_rows or preset.list_only.subscribers
    )
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else preset.scaling
    return replace(preset, main=main, list_only=list_only, scaling=sizes, repeat=args.repeat or preset.repeat)


class Bench:
    """One invocation: where data, logs and run outputs go, and how commands are run."""

    def __init__(self, args: argparse.Namespace, preset: Preset) -> None:
        self.args, self.preset = args, preset
        self.data = args.data.resolve()
        self.name = args.name or ("quick" if args.quick else "full")
        self.logs = self.data / "logs" / self.name
        self.runs = self.data / "runs" / self.name
        self.failures: list[Measured] = []
        self.listkit_rows: set[str] = set()  # rows that are a `listkit run`: their stage timings are read

    def log(self, text: str) -> None:
        """A line of progress on stderr."""
        print(text, file=sys.stderr, flush=True)

    def dataset(self, spec: SynthSpec) -> dict:
        """Generate (or reuse) ``spec``'s files; their paths and counts."""
        harness.synthetic(spec, self.data, regenerate=self.args.regenerate, log=self.log)
        return {
            "spec": spec.__dict__ | {"key": spec.key},
            "subscribers_path": str(spec.path(self.data, "subscribers")),
            "events_path": str(spec.path(self.data, "events")),
            **harness.data_counts(spec, self.data),
        }

    def listkit_run(self, name: str, subscribers: str, events: str | None, *, report: bool) -> list[str]:
        """The command of ``listkit run`` writing into this row's own output folder."""
        return [*harness.listkit_command(), *self.run_args(name, subscribers, events, report=report)]

    def run_args(self, name: str, subscribers: str, events: str | None, *, report: bool) -> list[str]:
        """The arguments of ``listkit`` for :meth:`listkit_run` (from ``run`` on)."""
        self.listkit_rows.add(name)
        args = ["run", "--subscribers", subscribers, "--out", str(self.runs / name)]
        args += ["--events", events] if events else []
        args += [] if report else ["--no-report"]
        return [*args, "--progress", *self.args.run_arg]

    def measure(self, name: str, command: list[str], **extra) -> dict:
        """Measure ``command`` as row ``name``; a listkit run's stage timings are added. The row as a dict."""
        self.log(f"measuring {name}: {shlex.join(command)}")
        result = harness.measure(name, command, log_dir=self.logs, timeout=self.args.timeout, cwd=REPO)
        if name in self.listkit_rows:
            stages, source = harness.run_stages(self.runs / name, self.logs / f"{name}.stderr")
            result.extra.update(stages=stages, stages_from=source)
        result.extra.update(extra)
        if result.ok:
            others = (
                "" if result.others_cores is None else f", other processes {result.others_cores:.2f} cores"
            )
            self.log(
                f"  {result.wall_seconds:,.1f} s, peak {result.peak_bytes / harness.GIB:.2f} GiB{others}"
            )
        else:
            self.failures.append(result)
            self.log("  " + harness.describe_failure(result).replace("\n", "\n  "))
        return result.to_dict()


def measure_main(bench: Bench) -> dict:
    """The side-by-side table: the floor, listkit, the pandas notebook, and the list without events."""
    chosen = bench.args.only.split(",") if bench.args.only else list(MAIN_ROWS)
    groups = {MAIN_ROWS[name][0] for name in chosen}
    data, commands = {}, {}
    if "events" in groups:
        data["events"] = bench.dataset(bench.preset.main)
        subscribers, events = data["events"]["subscribers_path"], data["events"]["events_path"]
        commands = {
            "floor": [sys.executable, str(BENCH / "floor.py"), subscribers, events],
            "listkit": bench.listkit_run("listkit", subscribers, events, report=True),
            "listkit-no-report": bench.listkit_run("listkit-no-report", subscribers, events, report=False),
            **{
                f"listkit-{engine}": [
                    *bench.listkit_run(f"listkit-{engine}", subscribers, events, report=False),
                    *("--engine", engine),
                ]
                for engine in ("duckdb", "spark")
            },
            "pandas": [sys.executable, str(BENCH / "peer_pandas.py"), "--subscribers", subscribers,
                       "--events", events, "--out", str(bench.runs / "pandas")],
        }  # fmt: skip
    if "listkit-parquet" in chosen:
        data["parquet"] = bench.dataset(replace(bench.preset.main, format="parquet"))
        parquet = data["parquet"]["events_path"]
        commands["listkit-parquet"] = bench.listkit_run("listkit-parquet", subscribers, parquet, report=False)
    if "list" in groups:
        data["list"] = bench.dataset(bench.preset.list_only)
    if "list" in data:
        addresses = data["list"]["subscribers_path"]
        commands["list-listkit"] = bench.listkit_run("list-listkit", addresses, None, report=False)
        commands["list-loop"] = [
            sys.executable,
            str(BENCH / "loop_validate.py"),
            addresses,
            str(bench.runs / "list-loop.csv"),
        ]
    bench.runs.mkdir(parents=True, exist_ok=True)
    harness.warm_cache(*{Path(d[key]) for d in data.values() for key in ("subscribers_path", "events_path")})
    rows = []
    for name in chosen:
        group, label = MAIN_ROWS[name]
        rows.append(bench.measure(name, commands[name], group=group, label=label))
    return {"machine": harness.machine(REPO), "data": data, "rows": rows}


def measure_scaling(bench: Bench) -> dict:
    """``listkit run --no-report`` per size of the scaling curve, on a CSV and on a Parquet log."""
    points = []
    for subscribers in bench.preset.scaling:
        for format in ("csv", "parquet"):
            spec = SynthSpec(subscribers, bench.preset.scaling_campaigns, bench.args.seed, format)
            name = f"scaling-{subscribers}-{format}"
            try:
                data = bench.dataset(spec)
            except HarnessError as error:  # one size that cannot be generated (memory) leaves the others
                if error.measured is None:
                    raise
                bench.log(f"  {name}: {error}")
                bench.failures.append(error.measured)
                failed = error.measured.to_dict() | {"name": name}
                failed["extra"] = {"format": format, "subscribers": subscribers, "events": None}
                failed["detail"] = f"generating its data failed: {failed['detail']}"
                points.append(failed)
                continue
            harness.warm_cache(Path(data["subscribers_path"]), Path(data["events_path"]))
            command = bench.listkit_run(name, data["subscribers_path"], data["events_path"], report=False)
            row = bench.measure(
                name,
                command,
                format=format,
                subscribers=data["subscribers"],
                events=data["events"],
                events_bytes=data["events_bytes"],
            )
            points.append(row)
    return {"machine": harness.machine(REPO), "points": points}


def measure_huge(bench: Bench) -> dict:
    """``listkit run --no-report`` on the table's CSV log repeated ``preset.repeat`` times."""
    base = bench.dataset(bench.preset.main)
    target = bench.data / f"repeat{bench.preset.repeat}-{bench.preset.main.key}" / "events.csv"
    harness.repeated_log(Path(base["events_path"]), bench.preset.repeat, target, log=bench.log)
    data = {
        **base,
        "events_path": str(target),
        "events": base["events"] * bench.preset.repeat,
        "events_bytes": target.stat().st_size,
        "repeat": bench.preset.repeat,
    }
    command = bench.listkit_run("huge", data["subscribers_path"], str(target), report=False)
    row = bench.measure("huge", command, subscribers=data["subscribers"], events=data["events"])
    return {"machine": harness.machine(REPO), "data": data, "rows": [row]}


def profile(bench: Bench) -> dict:
    """A pyinstrument profile (HTML) of ``listkit run --no-report`` on the table's data; not a timing."""
    data = bench.dataset(bench.preset.main)
    target = bench.args.results.resolve() / f"{bench.name}-profile.html"
    command = [
        sys.executable,
        "-m",
        "pyinstrument",
        "-r",
        "html",
        "-o",
        str(target),
        "-m",
        "listkit.cli",
        *bench.run_args("profile", data["subscribers_path"], data["events_path"], report=False),
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    row = bench.measure("profile", command)
    return {"machine": harness.machine(REPO), "profile": str(target), "rows": [row]}


def save(results: dict, path: Path) -> None:
    """Write ``results`` as JSON, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    """Run the parts asked for, write the results and the doc; 1 when a command failed, 2 when the harness
    could not go on."""
    args = parse_args(argv)
    bench = Bench(args, preset_of(args))
    results_path = args.results / f"{bench.name}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    preset = "quick" if args.quick else "full"
    if args.render_only:
        if not results:
            bench.log(f"benchmark: error: {results_path} does not exist; measure first")
            return 2
    elif results.get("preset", preset) != preset:  # never one table of quick and full parts
        bench.log(f"note: {results_path} held a {results['preset']} run; its parts are replaced")
        results = {}
    results.setdefault("name", bench.name)
    results.setdefault("preset", preset)
    parts = results.setdefault("parts", {})
    steps = (
        []
        if args.render_only
        else [
            (part, step)
            for part, step, wanted in (
                ("main", measure_main, not args.no_main),
                ("scaling", measure_scaling, args.scaling),
                ("huge", measure_huge, args.huge),
                ("profile", profile, args.profile),
            )
            if wanted
        ]
    )
    if steps and (load := os.getloadavg()[0]) > 0.5:
        bench.log(
            f"note: the 1-minute load average is {load:.1f}: other jobs are running; figures will be noisy"
        )
    try:
        for part, step in steps:
            parts[part] = step(bench)
            save(results, results_path)  # each part kept as soon as it is measured
    except HarnessError as error:
        bench.log(f"benchmark: error: {error}")
        return 2
    doc = Path(args.doc) if args.doc and args.doc != "-" else None
    if args.doc is None and results["preset"] != "quick":  # a quick run's tiny figures never go into the doc
        doc = REPO / "docs" / "benchmarks.md"
    written = writeup.write(results, results_dir=args.results, doc=doc)
    print(writeup.summary(results))
    bench.log("written: " + ", ".join(str(path) for path in [results_path, *written]))
    for failure in bench.failures:
        bench.log("failed: " + harness.describe_failure(failure))
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
