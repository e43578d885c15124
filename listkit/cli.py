"""The ``listkit`` command: ``run`` a list, render its ``report`` again, print the ``policy`` options,
or ``synth`` a realistic list.

No logic lives here: arguments become a :class:`~listkit.policy.Policy` and calls to the public
functions. Errors become one line on stderr and exit status 2, never a traceback.

Progress: while ``run`` and ``report`` work, a line per finished stage goes to stderr (what it did,
its counts, its seconds: ``listkit: read the inputs: 3,000 rows, 78,204 events (0.4 s)``) when stderr
is a terminal; ``--progress`` writes them anywhere (a scheduled job's log), ``--quiet`` never. So
scheduled runs and pipes stay quiet unless asked; warnings, errors and the summary on stdout are
printed either way.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from listkit.errors import ListkitError
from listkit.privacy import redact

if TYPE_CHECKING:
    from listkit.pipeline import Progress
    from listkit.policy import Policy

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


_EXAMPLES = """\
examples:
  listkit run --subscribers list.csv --events events.csv --out results/
  listkit report results/           # results/report.html again, from the run stored in results/run/
  listkit policy > policy.toml      # every policy option with its range, to edit and pass as --config
  listkit synth --subscribers 10000 --out synthetic/
  listkit features --events events.parquet --engine duckdb --out features.parquet
  listkit run --subscribers list.csv --features features.parquet --out results/
  listkit run --help                # every option of a run, and more examples

Exit status: 0 done, 2 bad input or options (one line on stderr says what to do), 1 an internal error.
"""

_RUN_EXAMPLES = """\
examples:
  listkit run --subscribers list.csv --events events.csv --out results/
  listkit run --subscribers list.csv --events events.csv --out results/2026-11 --previous results/2026-10
  listkit run --subscribers list.csv --events events.parquet --out results/ --config policy.toml \\
      --sunset-days 180 --as-of 2026-11-01
  listkit run --subscribers list.csv --events events.csv --out results/ \\
      --format mailchimp --suppression-format mailgun --warmup-days 14
  # a ledger to share, its addresses hashed with the secret in $LISTKIT_EMAIL_SALT:
  listkit run --subscribers list.csv --events events.csv --out share/ --hash-emails
  # the passes over the log on DuckDB (spills to disk) or Spark; the outputs are the same:
  listkit run --subscribers list.csv --events events.csv --out results/ --engine duckdb
  # the log summed up where it lives (listkit features), then the run without it:
  listkit run --subscribers list.csv --features features.parquet --out results/

Progress lines go to stderr when it is a terminal (--progress: always, --quiet: never); the summary
and the files written go to stdout.
"""

_FEATURES_EXAMPLES = """\
examples:
  listkit features --events events.csv --out features.parquet
  listkit features --events lake/events/ --engine duckdb --out features.parquet --as-of 2026-11-01
  # on a Spark cluster, against a table of its catalog ($LISTKIT: the installed package's folder):
  spark-submit --master yarn "$LISTKIT/__main__.py" features --events warehouse.email_events \\
      --engine spark --out features.parquet
  listkit run --subscribers list.csv --features features.parquet --out results/

The summary holds for its as-of date and the policy options it was made with:
{log_flags}. A run with other values is refused, as is a summary made by another listkit version.
"""

_REPORT_EXAMPLES = """\
examples:
  listkit report results/                          # results/report.html again, from results/run/
  listkit report results/ --out /tmp/report.html   # the report elsewhere; results/ stays as it is

The report is written to a temporary file beside it and renamed into place, so a failing notebook
leaves the previous report; in the output folder, manifest.json's sha256 of report.html is updated.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="listkit",
        description="Email list hygiene with explained outcomes.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="validate, score, segment and prune a list; write every output",
        description="Validate, score, segment and prune a list; write every output into --out.",
        epilog=_RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--subscribers", required=True, type=Path, help="subscriber list (CSV or Parquet)")
    run.add_argument("--events", type=Path, help="event history (CSV or Parquet)")
    run.add_argument(
        "--features",
        type=Path,
        help="the event log summed up by `listkit features --out`, in place of --events and --feedback",
    )
    _add_engine_flag(run)
    run.add_argument("--feedback", type=Path, help="folder of .eml files or an mbox of bounce/complaint mail")
    run.add_argument("--out", required=True, type=Path, help="output folder (replaced whole)")
    run.add_argument("--config", type=Path, help="policy TOML file")
    run.add_argument(
        "--encoding", help="text encoding of CSV inputs that are not UTF-8 or UTF-16 (e.g. cp1252)"
    )
    run.add_argument("--no-report", action="store_true", help="skip report.html (faster)")
    run.add_argument(
        "--hash-emails",
        action="store_true",
        help="write the ledger's addresses as salted SHA-256 for sharing (salt from $LISTKIT_EMAIL_SALT)",
    )
    run.add_argument(
        "--stream-events",
        action="store_true",
        help="accepted for old scripts; changes nothing (event logs are always streamed from disk)",
    )
    run.add_argument(
        "--previous",
        type=Path,
        help="an earlier run's output folder: keep its segment names, write changes.csv",
    )
    _add_progress_flags(run)
    _add_export_flags(run)
    _add_policy_flags(run)
    run.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")

    report = commands.add_parser(
        "report",
        help="render report.html again from the run stored in an output folder",
        description="Render the report of a listkit output folder again, from the run it stores in run/.",
        epilog=_REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("dir", type=Path, metavar="DIR", help="the --out folder of a listkit run")
    report.add_argument(
        "--out", type=Path, metavar="FILE", help="where to write the report (default: DIR/report.html)"
    )
    _add_progress_flags(report)
    report.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")

    listing = commands.add_parser(
        "policy", help="print every policy option (meaning, range, default, flag) as a TOML file for --config"
    )
    listing.add_argument("--config", type=Path, help="policy TOML file: print the complete policy it gives")
    listing.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")

    from listkit.policy import LOG_OPTIONS, OPTIONS

    flags = {option.name: option.cli_flags[0] for option in OPTIONS}
    features = commands.add_parser(
        "features",
        help="sum up an event log per address and mailbox, for `listkit run --features`",
        description=(
            "Read an event log (and feedback mail) and sum it up on an engine into the folder --out, "
            "which `listkit run --features` reads in place of the log."
        ),
        epilog=_FEATURES_EXAMPLES.format(log_flags=", ".join(flags[name] for name in LOG_OPTIONS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    features.add_argument(
        "--events",
        required=True,
        help="event history (CSV or Parquet), a folder of canonical Parquet files (read in place), "
        "or with --engine spark a table name",
    )
    features.add_argument(
        "--feedback", type=Path, help="folder of .eml files or an mbox of bounce/complaint mail"
    )
    features.add_argument("--out", required=True, type=Path, help="output folder (replaced whole)")
    features.add_argument("--config", type=Path, help="policy TOML file (the run must use the same)")
    features.add_argument("--encoding", help="text encoding of a CSV log that is not UTF-8 or UTF-16")
    _add_engine_flag(features)
    _add_progress_flags(features)
    _add_policy_flags(features)
    features.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")

    synth = commands.add_parser("synth", help="write a realistic synthetic list and event log")
    synth.add_argument("--subscribers", required=True, type=int, help="number of subscriber rows")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    synth.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    synth.add_argument("--campaigns-per-year", type=int, default=12, help="campaigns mailed per year (12)")
    synth.add_argument("--mailchimp", type=int, default=0, metavar="K",
                       help="also write the first K rows as a Mailchimp export")  # fmt: skip
    synth.add_argument("--format", choices=("csv", "parquet"), default="csv")
    synth.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return parser


class _Version(argparse.Action):
    """``--version``: the package metadata is read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from listkit import __version__

        print(f"listkit {__version__}")  # on stdout, as argparse's own version action does
        parser.exit()


def _add_engine_flag(command: argparse.ArgumentParser) -> None:
    from listkit.engines import DEFAULT_ENGINE, ENGINES

    command.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help=f"where the passes over the event log run (default {DEFAULT_ENGINE}; the outputs are the same)",
    )


def _add_progress_flags(command: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--progress``: whether stage lines go to stderr (by default: when a terminal)."""
    group = command.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="no progress lines (warnings and errors stay)")
    group.add_argument(
        "--progress", action="store_true", help="progress lines on stderr even when it is not a terminal"
    )


def _add_export_flags(run: argparse.ArgumentParser) -> None:
    """The flags that shape the files (not the decisions): the sending tool's format, BOM, gzip, parts."""
    from listkit.presets import SEGMENT_PRESETS, SUPPRESSION_PRESETS

    group = run.add_argument_group("file options (what the files look like; no decision changes)")
    flags = {
        "--format": dict(choices=tuple(SEGMENT_PRESETS), default="generic", type=str.lower,
                         help="the sending tool whose contact import the segment and warm-up files match"),
        "--suppression-format": dict(choices=tuple(SUPPRESSION_PRESETS), default="generic", type=str.lower,
                                     help="also write the suppression list as this tool imports it"),
        "--excel": dict(action="store_true", help="begin every CSV file with a UTF-8 BOM, for Excel"),
        "--gzip": dict(action="store_true", help="gzip the import files (segments, suppression, warm-up)"),
        "--max-rows": dict(type=int, metavar="N", help="split each import file into parts of at most N rows"),
    }  # fmt: skip
    for flag, settings in flags.items():
        group.add_argument(flag, **settings)


#: argparse ``type=`` of the policy's kinds of value (the others stay text for the policy to read).
_FLAG_TYPES = {"integer": int, "number": float}


def _add_policy_flags(run: argparse.ArgumentParser) -> None:
    """One flag per policy option, from the table (a boolean's flag sets the opposite of its default)."""
    from listkit.policy import OPTIONS

    group = run.add_argument_group("policy options (override --config; `listkit policy` describes them)")
    for option in OPTIONS:
        text = option.describe().replace("%", "%%")
        flags = {"dest": option.name, "default": None}
        if option.kind == "boolean":
            flags |= {"action": "store_const", "const": not option.default}
            text = f"set {option.name} to {str(not option.default).lower()}: {text}"
        elif option.kind == "addresses":
            flags |= {"action": "append", "metavar": "IP"}
        else:
            flags |= {"type": _FLAG_TYPES.get(option.kind, str), "metavar": option.kind.upper()}
        group.add_argument(*option.cli_flags, help=text, **flags)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``listkit`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    # Error lines never show an address from the data; the paths the user gave are theirs to see.
    paths = [str(value) for value in vars(args).values() if isinstance(value, Path)]
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "report":
            return _report(args)
        if args.command == "policy":
            return _policy(args)
        if args.command == "features":
            return _features(args)
        return _synth(args)
    except ListkitError as error:
        print(redact(f"listkit: error: {error}", keep=paths), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader of our summary went away (``listkit run ... | head``); the run itself is complete.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter from writing to the pipe
        return 0
    except KeyboardInterrupt:
        print("listkit: interrupted; the output folder was left as it was", file=sys.stderr)
        return 130
    except OSError as error:
        line = f"listkit: error: {error.filename or ''}: {error.strerror or error}; check the path"
        print(redact(line, keep=paths), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:
        if args.debug:
            raise
        first_line = (str(error).splitlines() or [""])[0]
        line = f"listkit: internal error: {type(error).__name__}: {first_line}; rerun with --debug, report it"
        print(redact(line, keep=paths), file=sys.stderr)
        return EXIT_INTERNAL


def _run(args: argparse.Namespace) -> int:
    from listkit.csvfiles import FileOptions
    from listkit.export import export, run_inputs
    from listkit.hashing import email_salt
    from listkit.outdir import output_lock, scratch_space
    from listkit.pipeline import run_files

    policy = policy_from_args(args)  # refused before the output folder is touched
    # Likewise the file options (export checks them again, so the Python API refuses them too).
    FileOptions(excel=args.excel, gzip=args.gzip, max_rows=args.max_rows)
    salt = email_salt() if args.hash_emails else None  # likewise: refused before the run, not after it
    inputs = run_inputs(
        policy,
        subscribers=args.subscribers,
        events=args.events,
        feedback=args.feedback,
        previous=args.previous,
        config=args.config,
        features=args.features,
    )
    # The pipeline's and export's stage hooks are asked for only when their lines are shown.
    hooks = {"progress": progress} if (progress := stage_printer(args)) else {}
    with output_lock(args.out, inputs=inputs):  # a second run on the same --out is refused before it reads
        # The streamed log beside the output, not in the system's temporary folder: there a killed run's
        # would stay forever, here the next run removes it.
        with scratch_space(args.out) as scratch:
            result = run_files(
                args.subscribers,
                args.events,
                policy=policy,
                encoding=args.encoding,
                feedback=args.feedback,
                previous=args.previous,
                scratch=scratch,
                engine=args.engine,
                features=args.features,
                **hooks,
            )
        written = export(
            result,
            args.out,
            inputs=inputs,
            report=not args.no_report,
            email_salt=salt,
            format=args.format,
            suppression_format=args.suppression_format,
            excel=args.excel,
            gzip=args.gzip,
            max_rows=args.max_rows,
            **hooks,
        )
    for warning in result.warnings:
        print(f"listkit: warning: {warning.message}", file=sys.stderr)
    print(repr(result))
    print(_files_written(written))
    return 0


def _files_written(written: dict[str, Path]) -> str:
    """Lines naming the files of a run, by what they are (the layout's folders listed file by file)."""
    from listkit import layout

    def under(*prefixes: str) -> list[str]:
        return [str(path) for name, path in sorted(written.items()) if name.startswith(prefixes)]

    lines = [
        ("ledger", under(layout.LEDGER_FILE)),
        ("segments", under(layout.SEGMENTS_DIR + "/") or ["none (no row was kept)"]),
        ("suppression", under(layout.SUPPRESSION_FILE.removesuffix(".csv"), layout.SUPPRESSION_DIR + "/")),
        ("warm-up", under(layout.WARMUP_DIR + "/")),
        ("changes", under(layout.CHANGES_FILE)),
        ("report", under(layout.REPORT_FILE)),
        ("manifest", under(layout.MANIFEST_FILE)),
    ]
    # Many parts (--max-rows) or segments: their count and folder, not a screenful of names.
    shown = {label: paths if len(paths) <= 6 else [f"{len(paths)} files in {Path(paths[0]).parent}/"]
             for label, paths in lines}  # fmt: skip
    return "\n".join(f"{label + ':':<13}{', '.join(paths)}" for label, paths in shown.items() if paths)


#: What each stage of a run did, as its progress line says it; a stage not listed is shown by its name.
STAGE_LABELS = {
    "reading": "read the inputs",
    "survey": "surveyed the event log",
    "activity": "counted each address's events",
    "monthly": "counted the events of each month",
    "addresses": "checked the addresses",
    "features": "scored engagement",
    "rules": "applied the rules",
    "segments": "segmented the kept rows",
    "changes": "compared with the previous run",
    "export": "wrote the files",
    "report": "rendered the report",
}


def stage_line(stage: str, seconds: float, counts: dict[str, int]) -> str:
    """The progress line of a finished stage: ``listkit: read the inputs: 3,000 rows, 78,204 events (0.4 s)``.

    Counts are shown in their order, names with ``_`` read as spaces.
    """
    label = STAGE_LABELS.get(stage, stage.replace("_", " "))
    shown = ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in counts.items())
    return f"listkit: {label}{': ' + shown if shown else ''} ({seconds:,.1f} s)"


def stage_printer(args: argparse.Namespace, stream: TextIO | None = None) -> Progress | None:
    """The progress hook of :func:`listkit.run_files` and :func:`listkit.export` that prints each
    :func:`stage_line` to ``stream`` (stderr); ``None`` when no line is to be shown: with ``--quiet``,
    or when the stream is not a terminal and ``--progress`` was not given."""
    stream = stream or sys.stderr
    if args.quiet or not (args.progress or stream.isatty()):
        return None

    def hook(stage: str, seconds: float, counts: dict[str, int]) -> None:
        print(stage_line(stage, seconds, counts), file=stream, flush=True)

    return hook


def _features(args: argparse.Namespace) -> int:
    from listkit.outdir import replacement
    from listkit.pipeline import summarise_files

    policy = policy_from_args(args)  # refused before the output folder is touched
    hooks = {"progress": progress} if (progress := stage_printer(args)) else {}
    # A table name is no path, but checking it as one is harmless: --out may not be it either.
    inputs = {"events": Path(args.events), "feedback": args.feedback, "config": args.config}
    with replacement(args.out, inputs=inputs) as staging:
        summary = summarise_files(
            args.events,
            policy=policy,
            encoding=args.encoding,
            feedback=args.feedback,
            engine=args.engine,
            scratch=staging.scratch,
            **hooks,
        )
        summary.save(staging.folder)
    print(
        f"listkit: summed up {summary.survey.rows:,} events of {summary.activity.height:,} addresses "
        f"as of {summary.as_of:%Y-%m-%d} on {summary.engine} into {args.out}"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    """``listkit report DIR [--out FILE]``: the report of a stored run, rendered again and swapped in."""
    from listkit.export import export_report

    written = export_report(args.dir, out=args.out, progress=stage_printer(args))
    print(f"{'report:':<13}{written}")
    return 0


def policy_from_args(args: argparse.Namespace) -> Policy:
    """The ``--config`` file's policy (else the defaults) with the policy flags given applied.

    Every value is checked by the policy's table; an error names the flag it came from.
    """
    from listkit.policy import OPTIONS, Policy

    policy = Policy.from_toml(args.config) if args.config else Policy()
    flags = {option.name: getattr(args, option.name) for option in OPTIONS}
    return policy.with_options(flags, source={option.name: option.cli_flags[0] for option in OPTIONS})


def _policy(args: argparse.Namespace) -> int:
    from listkit.policy import Policy, render_toml

    print(render_toml(Policy.from_toml(args.config) if args.config else Policy()), end="")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from listkit.synth import synthesize, write_synthetic

    data = synthesize(args.subscribers, seed=args.seed, campaigns_per_year=args.campaigns_per_year)
    written = write_synthetic(data, args.out, format=args.format, mailchimp_rows=args.mailchimp)
    for name, path in sorted(written.items()):
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
