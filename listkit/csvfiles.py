"""Writing CSV files: formula-safe cells, UTF-8 with a BOM for Excel, gzip, and numbered parts.

Every CSV file of a run goes through :func:`write_csv`, so each is formula-safe (promise 4) and
byte-identical for the same frame and options (promise 5: a gzip member records no time or name).
:class:`FileOptions` holds the choices an analyst makes for the files (``--excel``, ``--gzip``,
``--max-rows``), checked when it is made.
"""

from __future__ import annotations

import gzip as gzip_module
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import polars as pl

from listkit.errors import ConfigError
from listkit.formula import EMAIL_COLUMNS, formula_safe
from listkit.layout import csv_names

__all__ = ["MAX_ROWS_LIMIT", "TIMESTAMP_FORMAT", "FileOptions", "write_csv"]

#: How timestamps are written: ISO-8601 in UTC (listkit's own files; presets format theirs).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: The largest ``max_rows`` accepted: beyond it no part would be smaller than a whole file.
MAX_ROWS_LIMIT = 100_000_000
_BOM = "\ufeff".encode()


@dataclass(frozen=True, kw_only=True)
class FileOptions:
    """How import files are written.

    excel: begin the CSV files people open (listkit's own, and the imports of tools whose upload
        page takes a file saved by Excel) with a UTF-8 byte-order mark, so that Excel reads accents
        and non-Latin names right (it reads a CSV without one in the system's legacy code page).
    gzip: compress the import files (segments, suppression files, warm-up days) as ``.csv.gz``.
    max_rows: split an import file into numbered parts of at most this many rows (several tools cap
        the rows or bytes of one import); ``None`` writes each whole.
    """

    excel: bool = False
    gzip: bool = False
    max_rows: int | None = None

    def __post_init__(self) -> None:
        for name in ("excel", "gzip"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, not {getattr(self, name)!r}")
        rows = self.max_rows
        if rows is not None and (
            isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS_LIMIT
        ):
            raise ConfigError(
                f"max_rows must be a whole number from 1 to {MAX_ROWS_LIMIT:,} (rows per import file), "
                f"not {rows!r}"
            )

    def to_dict(self) -> dict[str, bool | int | None]:
        """The options as the manifest records them."""
        return {"excel": self.excel, "gzip": self.gzip, "max_rows": self.max_rows}


def write_csv(
    frame: pl.DataFrame,
    folder: Path,
    name: str,
    *,
    options: FileOptions | None = None,
    import_file: bool = False,
    address_columns: Sequence[str] = EMAIL_COLUMNS,
    header: bool = True,
    tool_max_rows: int | None = None,
    bom: bool = True,
) -> dict[str, int]:
    """Write ``frame`` as formula-safe UTF-8 CSV at ``folder/name``; return each file's rows by name.

    An ``import_file`` (one a sending tool imports) is gzipped and split into parts as ``options``
    say, and into parts of at most ``tool_max_rows`` (the tool's own cap on one file) in any case.
    The Excel BOM goes before the header line when ``options.excel`` asks for it, unless ``bom`` is
    false (a file a program reads, where it would become part of the first header) or there is no
    header (it would become part of the first address). ``address_columns`` name the columns whose
    valid addresses the formula guard leaves as they are. An empty frame still gives one file (its
    header alone), so a tool's import of it adds nothing.
    """
    options = options or FileOptions()
    limits = [rows for rows in (options.max_rows, tool_max_rows) if rows is not None] if import_file else []
    max_rows = min(limits, default=None)
    split = max_rows is not None
    parts = max(1, math.ceil(frame.height / max_rows)) if split else 1
    names = csv_names(name, parts, gzip=import_file and options.gzip)
    safe = formula_safe(frame, address_columns=address_columns)
    written = {}
    # No BOM before a first line that is data: the tool would read it as part of the first address.
    mark = _BOM if options.excel and header and bom else b""
    for number, written_name in enumerate(names):
        part = safe.slice(number * max_rows, max_rows) if split else safe
        path = folder / written_name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            if written_name.endswith(".gz"):
                data = io.BytesIO()
                data.write(mark)
                _write_rows(part, data, header=header)
                # No file name and a zero time in the gzip header: the same rows give the same bytes.
                with gzip_module.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as compressed:
                    compressed.write(data.getbuffer())
            else:
                handle.write(mark)
                _write_rows(part, handle, header=header)  # polars writes the file itself: no copy in Python
        written[written_name] = part.height
    return written


def _write_rows(frame: pl.DataFrame, handle: BinaryIO, *, header: bool) -> None:
    """``frame`` as CSV (listkit's dialect: UTC timestamps, one decimal) into an open binary file."""
    frame.write_csv(handle, include_header=header, datetime_format=TIMESTAMP_FORMAT, float_precision=1)
