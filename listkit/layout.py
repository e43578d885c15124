"""The layout of a run's output folder: the name of every file a run writes, in one place.

:func:`listkit.export.export` writes these files, :mod:`listkit.changes` and the report read them back,
the CLI prints them and :meth:`listkit.result.RunResult.save` stores a run under :data:`RUN_DIR`. The
names of import files (segments, suppression files, warm-up days) depend on the export options:
``.csv.gz`` with ``gzip``, and numbered parts (``engaged.part-01.csv``) when ``max_rows`` splits a file.
"""

from __future__ import annotations

__all__ = [
    "CHANGES_FILE",
    "LEDGER_FILE",
    "MANIFEST_FILE",
    "PROFILE_FILE",
    "REPORT_FILE",
    "RUN_DIR",
    "RUN_FILES",
    "SEGMENTS_DIR",
    "SUMMARY_FILES",
    "SUPPRESSION_DIR",
    "SUPPRESSION_FILE",
    "WARMUP_DIR",
    "csv_names",
    "segment_file",
    "suppression_file",
    "warmup_file",
]

#: One row per input subscriber row, with its outcome, reasons and evidence.
LEDGER_FILE = "ledger.csv"
#: The kept rows, one file (or several parts) per segment, in the chosen sending tool's shape.
SEGMENTS_DIR = "segments"
#: Every address never to mail again, with its reasons and date (listkit's own shape).
SUPPRESSION_FILE = "suppression.csv"
#: The suppression list in a sending tool's import shape (``--suppression-format``), beside the generic one.
SUPPRESSION_DIR = "suppression"
#: One row per segment describing its readers (at the top: ``segments/`` holds segments only).
PROFILE_FILE = "segment_profiles.csv"
#: What changed since the previous run (only with ``--previous``).
CHANGES_FILE = "changes.csv"
#: The warm-up plan, one file per day (only with ``warmup_days``).
WARMUP_DIR = "warmup"
#: Counts, parameters, versions, and the rows and sha256 of every other file.
MANIFEST_FILE = "manifest.json"
#: The human report.
REPORT_FILE = "report.html"
#: The run itself, stored for the report and for reading it back (:meth:`RunResult.load`).
RUN_DIR = "run"
#: The files of a stored run (:data:`RUN_DIR`), by what they hold; ``changes`` only after ``--previous``.
RUN_FILES = {
    "meta": "result.json",
    "ledger": "ledger.parquet",
    "suppression": "suppression.parquet",
    "compliance": "compliance.parquet",
    "segment_profiles": "segment_profiles.parquet",
    "monthly": "monthly.parquet",
    "changes": "changes.parquet",
}

#: The files of an event summary (``listkit features --out``, a folder read by ``listkit run
#: --features``): see :meth:`listkit.log_summary.LogSummary.save`.
SUMMARY_FILES = {
    # A manifest, as every listkit output folder has: a later --out may replace it whole.
    "meta": MANIFEST_FILE,
    "activity": "addresses.parquet",
    "mailbox_keys": "mailbox_keys.parquet",
    "features": "mailboxes.parquet",
    "monthly": "monthly.parquet",
    "bounce_reasons": "bounce_reasons.parquet",
}


def segment_file(segment: str) -> str:
    """The import file of a segment (before gzip or parts: :func:`csv_names`)."""
    return f"{SEGMENTS_DIR}/{segment}.csv"


def suppression_file(preset: str, kind: str = "") -> str:
    """A sending tool's suppression import (``kind``: ``bounces``, ``complaints``... where it has several).

    The generic preset's file is :data:`SUPPRESSION_FILE`, at the top of the folder.
    """
    if preset == "generic":
        return SUPPRESSION_FILE
    return f"{SUPPRESSION_DIR}/{preset}-{kind}.csv" if kind else f"{SUPPRESSION_DIR}/{preset}.csv"


def warmup_file(day: int, days: int) -> str:
    """The file of a warm-up day: ``warmup/day-01.csv`` (three digits for plans of 100 days or more)."""
    return f"{WARMUP_DIR}/day-{day:0{max(2, len(str(days)))}d}.csv"


def csv_names(name: str, parts: int, *, gzip: bool = False) -> list[str]:
    """The names a CSV file ``name`` is written under in ``parts`` parts: ``x.csv``, or ``x.part-01.csv``...

    ``gzip`` gives ``.csv.gz`` names. Parts are numbered from 1, as wide as their count needs; the
    ``.`` before ``part`` is never in a segment name (:data:`listkit.segment_profiles.SAFE_NAME`), so a
    part can never take another segment's file name.
    """
    stem = name.removesuffix(".csv")
    extension = ".csv.gz" if gzip else ".csv"
    if parts <= 1:
        return [stem + extension]
    width = max(2, len(str(parts)))
    return [f"{stem}.part-{part:0{width}d}{extension}" for part in range(1, parts + 1)]
