"""Cutting an event table into chunks of whole cases, without holding the whole table.

A log sorted by case (the usual export) is streamed batch by batch, holding back the
trailing case until its last row is seen. A log in another order (pm4py logs are often
sorted by time) is read in hash buckets of case ids: one pass per bucket, each bucket
holding whole cases, so memory stays bounded by the bucket size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

ROWS_PER_CHUNK = 200_000  # about 9,000 cases: amortises a chunk's per-rule work, keeps a worker near 1.5 GB


def bytes_holding(path: Path, marker: bytes, count: int) -> int:
    """About how many bytes of the file hold `count` records (each with one `marker`), judged
    from its first megabyte; at least a megabyte.

    A worker's memory and a chunk's fixed cost both go by records; exports differ twofold in
    bytes per record (every facts/data column, or a few), so a size in bytes alone would not do.
    """
    with open(path, "rb") as handle:
        sample = handle.read(1 << 20)
    return max(1 << 20, len(sample) * count // max(1, sample.count(marker)))


def part_size(total: int, target: int, workers: int = 1) -> int:
    """The size of equal parts of `total`, each about `target`, their number a multiple of `workers`.

    With 7 parts and 2 workers, one worker checks the last part alone while the other waits;
    with 8 a little smaller, they finish together. (Parts much smaller than `target` would cost
    more: a chunk has a fixed cost, mostly planning its queries.)
    """
    parts = max(1, -(-total // max(1, target)))
    parts = -(-parts // max(1, workers)) * max(1, workers)
    return max(1, -(-total // parts))


def case_count_and_order(lf: pl.LazyFrame, case_col: str) -> tuple[int, int, bool]:
    """(rows, cases, contiguous): whether every case's rows are adjacent."""
    ids = lf.select(pl.col(case_col)).collect()[case_col]
    runs = int((ids.ne_missing(ids.shift(1))).sum()) if len(ids) else 0
    cases = ids.n_unique()
    return len(ids), cases, runs == cases


def whole_case_chunks(
    lf: pl.LazyFrame, case_col: str, rows: int, contiguous: bool, rows_per_chunk: int = ROWS_PER_CHUNK
) -> Iterator[pl.DataFrame]:
    if contiguous:
        yield from _stream(lf, case_col, rows_per_chunk)
        return
    buckets = max(1, -(-rows // (rows_per_chunk * 4)))
    for bucket in range(buckets):
        bucket_of = pl.col(case_col).fill_null("").hash(seed=7) % buckets
        frame = lf.filter(bucket_of == bucket).collect()
        # Within a bucket, split again on whole cases to keep chunks near rows_per_chunk.
        yield from _split_sorted(frame.sort(case_col, maintain_order=True, nulls_last=True), case_col, rows_per_chunk)


def _stream(lf: pl.LazyFrame, case_col: str, rows_per_chunk: int) -> Iterator[pl.DataFrame]:
    yield from whole_cases(lf.collect_batches(chunk_size=rows_per_chunk), case_col, rows_per_chunk)


def whole_cases(batches: Iterable[pl.DataFrame], case_col: str, rows_per_chunk: int) -> Iterator[pl.DataFrame]:
    """Batches of rows (a case's rows adjacent, possibly split across batches) → chunks of whole cases."""
    pending: list[pl.DataFrame] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.height
        if size < rows_per_chunk:
            continue
        frame = pl.concat(pending, how="vertical_relaxed")
        cut = _trailing_case_start(frame, case_col)
        if cut > 0:
            yield frame[:cut]
            frame = frame[cut:]
        pending, size = [frame], frame.height
    if pending:
        frame = pl.concat(pending, how="vertical_relaxed")
        if frame.height:
            yield frame


def _split_sorted(frame: pl.DataFrame, case_col: str, rows_per_chunk: int) -> Iterator[pl.DataFrame]:
    """Chunks of about rows_per_chunk rows, cut only where the case changes."""
    ids = frame[case_col]
    starts = ids.ne_missing(ids.shift(1)).arg_true().to_list()
    begin = 0
    for start in [*starts, frame.height]:
        if start - begin >= rows_per_chunk:
            yield frame[begin:start]
            begin = start
    if begin < frame.height:
        yield frame[begin:]


def _trailing_case_start(frame: pl.DataFrame, case_col: str) -> int:
    """Index of the first row of the frame's last case (0 when the frame is one case)."""
    ids = frame[case_col]
    last = ids[-1]
    differs = ids.ne_missing(pl.Series([last] * len(ids), dtype=ids.dtype)) if last is None else ids.ne_missing(last)
    positions = differs.arg_true()
    return int(positions[-1]) + 1 if len(positions) else 0
