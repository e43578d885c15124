"""How listkit keeps polars' streaming engine in bounded memory: every workaround, in one place.

An event log is read in a fixed number of passes (:mod:`listkit.activity`), each a polars query run by
the streaming engine over the log (a frame in memory, or the Parquet files :func:`listkit.scan_events`
wrote). Left to itself, the engine holds far more than the query keeps; each habit below was measured
on a 102-million-event log (polars 2.1, 2 cores):

- a streaming group-by keeps partial results in proportion to its input (a plain count by address
  hash: 0.5 GB for 34 M events, 1.3 GB for 102 M): a scanned log is aggregated in batches of about
  :data:`BATCH_ROWS` events (:func:`in_batches`). A log :func:`listkit.scan_events` wrote is stored in
  parts by a hash of the address (:data:`PART_COLUMN`), and a batch is a few whole parts, so the
  per-address results of two batches never need merging; slices of any other log are merged. Slices
  of a log in file order each hold nearly every address: grouping 10 M events of 3 M addresses found
  8 M groups, and the merges grew with batches x addresses;
- strings kept from a stream are views into the chunk they were read in, so keeping a few per chunk
  keeps the log (distinct addresses as text: 5.8 GB; as Categorical: 1.1 GB): text a pass keeps is
  interned as Categorical (:meth:`listkit.engines.PolarsEngine.kept`), or copied out of the chunk
  (:func:`compacted`);
- ``replace_strict`` and ``collect_all`` over one scan hold the input (3.7 GB and 11 GB): mappings of a
  scanned column are ``is_in`` tests per distinct value (:func:`listkit.activity.bounce_class`), and
  the passes are collected one after another (:func:`collect`);
- ``int_range(1, pl.len() + 1)`` as a row number holds the column (3.5 GB): a row index
  (``with_row_index``) is used instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl

__all__ = [
    "BATCH_ROWS",
    "MAX_PARTS",
    "PART_COLUMN",
    "collect",
    "compacted",
    "in_batches",
    "parts_for",
]

#: Events of a scanned log (a LazyFrame) aggregated at a time by :func:`in_batches`. A frame already
#: in memory is aggregated whole (faster; its memory is spent anyway).
BATCH_ROWS = 10_000_000


#: The column of a log stored in parts (:func:`listkit.scan_events`): the part an event's address is
#: in, a function of the address alone, so all the events of an address are in one part.
PART_COLUMN = "log_part"


#: At most this many parts (every chunk of the log writes a file per part).
MAX_PARTS = 64


def parts_for(rows: int) -> int:
    """The parts a log of about ``rows`` events is stored in: :data:`BATCH_ROWS` events or fewer each."""
    return max(1, min(MAX_PARTS, -(-rows // BATCH_ROWS)))


def collect(query: pl.LazyFrame) -> pl.DataFrame:
    """Run one pass with the streaming engine (never several at once: see the module's notes)."""
    return query.collect(engine="streaming")


def in_batches(
    events: pl.DataFrame | pl.LazyFrame,
    rows: int,
    aggregate: Callable[[pl.LazyFrame], pl.LazyFrame],
    *,
    keys: list[str],
    merged: list[pl.Expr],
    by_address: bool = False,
) -> pl.DataFrame:
    """``aggregate`` over batches of about :data:`BATCH_ROWS` events of a scanned log, merged by ``keys``.

    ``rows`` is the log's length; ``merged`` the aggregations that combine two partial results (sums of
    counts, the min of minima...). A frame in memory is aggregated in one batch. A log stored in parts
    (:data:`PART_COLUMN`, as :func:`listkit.scan_events` writes it) is aggregated a few whole parts at
    a time: each address's events are then in one batch, so when ``keys`` depend on the address alone
    (``by_address``) the batches' results are disjoint and only put together, never merged; events
    outside the parts (feedback mail added to the log) are one more batch, merged.
    """
    lazy = isinstance(events, pl.LazyFrame)
    if lazy and PART_COLUMN in events.collect_schema().names():
        whole, extra = _part_batches(events)
    else:
        step = BATCH_ROWS if lazy else max(rows, 1)
        whole, extra = [events.lazy().slice(offset, step) for offset in range(0, max(rows, 1), step)], None
        by_address = False
    partials = (compacted(collect(aggregate(batch))) for batch in whole)
    total = pl.concat(list(partials)) if by_address else _merged(partials, keys, merged)
    if extra is not None:
        total = _merged(iter([total, compacted(collect(aggregate(extra)))]), keys, merged)
    return total


def _part_batches(events: pl.LazyFrame) -> tuple[list[pl.LazyFrame], pl.LazyFrame | None]:
    """Consecutive parts of ``events`` grouped into batches of about :data:`BATCH_ROWS` rows (at least
    one batch), and the rows outside any part (None if there are none)."""
    part = pl.col(PART_COLUMN)
    sizes = collect(events.group_by(PART_COLUMN).len()).sort(PART_COLUMN, nulls_last=True)
    groups: list[list[int]] = [[]]
    count = 0
    for value, size in sizes.filter(part.is_not_null()).iter_rows():
        if groups[-1] and count + size > BATCH_ROWS:
            groups.append([])
            count = 0
        groups[-1].append(value)
        count += size
    whole = [events.filter(part.is_in(group)) for group in groups]
    return whole, events.filter(part.is_null()) if sizes[PART_COLUMN].null_count() else None


def _merged(partials: Iterator[pl.DataFrame], keys: list[str], merged: list[pl.Expr]) -> pl.DataFrame:
    """``partials`` merged by ``keys`` as a binary counter merges: two results of as many batches at a time.

    Merging each batch into one running total re-grouped the total once per batch, so the work grew
    with batches x addresses (quadratic in the list's size: the activity pass of 102 M events and 4 M
    addresses took 5 times that of 34 M and 1.4 M); this way each row is merged log2(batches) times.
    """

    def merge(first: pl.DataFrame, second: pl.DataFrame) -> pl.DataFrame:
        return pl.concat([first, second]).group_by(keys).agg(*merged)

    pending: list[tuple[int, pl.DataFrame]] = []  # (batches merged into it, result)
    for partial in partials:
        batches = 1
        while pending and pending[-1][0] == batches:
            batches, partial = 2 * batches, merge(pending.pop()[1], partial)
        pending.append((batches, partial))
    total = pending.pop()[1]
    while pending:
        total = merge(pending.pop()[1], total)
    return total


def compacted(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its text copied out of the buffers of the stream it was kept from.

    A result's strings are views into the chunks they were read in (see the module's notes); joining
    each to an empty string writes it into new buffers, so the chunks can be freed. (1.4 M addresses
    kept from 10 M events: 0.05 s and 630 MB, against 0.65 s and 690 MB for a round trip through
    Categorical and 1,090 MB for views left as they were.)
    """
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    copied = (pl.concat_str([pl.col(name), pl.lit("")]).alias(name) for name in text)
    return frame.with_columns(copied) if text else frame
