"""The read floor: polars reading CSV files with every column as text, nothing else.

    .venv/bin/python benchmarks/floor.py SUBSCRIBERS.csv EVENTS.csv

No work can be faster than reading its input, so this is what ``listkit run`` is compared with. Both frames
are held until the end, as a run holds its inputs; prints each file's rows and columns.
"""

from __future__ import annotations

import sys

import polars as pl


def main(paths: list[str]) -> None:
    """Read each file of ``paths`` as text columns and print its shape."""
    frames = [pl.read_csv(path, infer_schema=False) for path in paths]
    for path, frame in zip(paths, frames, strict=True):
        print(f"{path}: {frame.height:,} rows, {frame.width} columns")


if __name__ == "__main__":
    main(sys.argv[1:])
