"""Explaining the findings the column-wise engine shows: the direct evaluator's `judge`, with each case's dates.

The same ground finding read with the same dates explains the same way, so explanations are
remembered by the dates they read.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from compliance.calendar import Calendar
from compliance.engine.batch_worker import SHOWN
from compliance.engine.columnar_frames import Batch
from compliance.engine.columnar_tasks import Tasks
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.ground import GroundFinding, Truth, event_dates
from compliance.findings import STATUS_ORDER, Finding
from compliance.model import Occurrence


class RowReader(DateReader):
    """A DateReader over one case's dates as the columnar frames hold them (keys in event order)."""

    def __init__(self, dates: dict[tuple[str, str], dt.date | None], calendar: Calendar) -> None:
        self.calendar = calendar
        self.dates = dates


def explained(
    tasks: Tasks,
    batch: Batch,
    calendar: Calendar,
    lang: str,
    names: dict[str, str],
    show_all: bool,
) -> tuple[pl.DataFrame, list[Finding]]:
    """The chunk's findings, explained: rows (cidx, finding) in the order a case lists them, and the findings.

    A ground finding that reads no dates explains alike in every case: once. One that reads
    dates is explained once per distinct tuple of the dates it reads, gathered column-wise.
    Rows are sorted as `audit` lists findings (status, rule, key, then the rule's own order)
    and, unless `show_all`, only violations and unknowns are kept.
    """
    rows = tasks.frame()
    findings: list[Finding] = []
    leaves = [leaves_read(ground) for ground in tasks.grounds]
    constant = {}  # gid → finding number
    for gid, ground in enumerate(tasks.grounds):
        if not leaves[gid]:
            constant[gid] = len(findings)
            findings.append(judged(ground, (), calendar, lang, names))
    parts = [
        rows.filter(pl.col("gid").is_in(list(constant))).with_columns(
            pl.col("gid").replace_strict(constant, return_dtype=pl.Int32).alias("finding")
        )
    ]
    dated = [gid for gid in range(len(tasks.grounds)) if leaves[gid]]
    if dated:
        rows_dated = rows.filter(pl.col("gid").is_in(dated))
        # Each distinct (ground finding, dates) with the cases that read them.
        read = _dates_read(rows_dated, batch, leaves, dated)
        distinct = read.group_by("gid", "dates", maintain_order=True).agg("cidx")
        first, grounds = len(findings), tasks.grounds
        for gid, dates in distinct.select("gid", "dates").iter_rows():
            findings.append(judged(grounds[gid], tuple(dates), calendar, lang, names))
        numbers = pl.int_range(first, len(findings), dtype=pl.Int32, eager=True).alias("finding")
        keys = distinct.select("gid", "cidx").hstack([numbers])
        keys = keys.explode("cidx", empty_as_null=False)
        parts.append(rows_dated.join(keys, on=["cidx", "gid"]))
    # Findings in the order `audit` lists them: status (worst first), rule, key; then the rule's own order.
    # Findings alike in all three rank equal, so that the rule's own order decides between them.
    sort_keys = [(-STATUS_ORDER[f.status], f.rule, f.key) for f in findings]
    order = {k: i for i, k in enumerate(sorted(set(sort_keys)))}
    rank = pl.Series("rank", [order[k] for k in sort_keys], dtype=pl.Int32)
    listed = pl.concat([part.select("cidx", "finding", "position", "slot") for part in parts])
    if not show_all:
        shown = pl.Series([f.status in SHOWN for f in findings], dtype=pl.Boolean)
        listed = listed.filter(shown[listed.get_column("finding")])  # indexing gathers without a query
    listed = listed.hstack([rank[listed.get_column("finding")]])
    return listed.sort("cidx", "rank", "position", "slot").select("cidx", "finding"), findings


def _dates_read(
    rows: pl.DataFrame, batch: Batch, leaves: list[list[tuple[str, str]]], dated: list[int]
) -> pl.DataFrame:
    """For each (case, ground finding) of `rows`: cidx, gid and the dates it reads (a list, in `leaves` order)."""
    reads = pl.DataFrame(
        [(gid, key, part) for gid in dated for key, part in leaves[gid]],
        schema={"gid": pl.Int32, "key": pl.Utf8, "part": pl.Utf8},
        orient="row",
    )
    pairs = rows.select("cidx", "gid").unique(maintain_order=True)
    # An event keeps a date, or a start and an end: the parts it lacks read as missing (as DateReader reads them).
    value = (
        pl.when(pl.col("part") == "date")
        .then(pl.col("date"))
        .when(pl.col("date").is_null())
        .then(pl.when(pl.col("part") == "start").then(pl.col("start")).otherwise(pl.col("end")))
    )
    # The events read, found by a scan before the join: a join would hash every event of the chunk.
    events = batch.events.select("cidx", "key", "date", "start", "end").filter(
        pl.col("cidx").is_in(pairs["cidx"].unique().implode()) & pl.col("key").is_in(reads["key"].unique().implode())
    )
    # The joins keep each pair's leaves in `reads` order: the lists are in leaf order without a sort.
    return (
        pairs.join(reads, on="gid", maintain_order="left_right")
        .join(events, on=["cidx", "key"], how="left", maintain_order="left")
        .group_by("cidx", "gid", maintain_order=True)
        .agg(value.alias("dates"))
    )


# Explanations already made: the same ground finding read with the same dates explains the same way.
_JUDGED: dict[tuple, tuple[GroundFinding, Calendar, Finding]] = {}
_LEAVES: dict[int, tuple[GroundFinding, list[tuple[str, str]]]] = {}


def judged(ground: GroundFinding, dates: tuple, calendar: Calendar, lang: str, names: dict[str, str]) -> Finding:
    """`judge` of the ground finding with a case's dates (those it reads, in `leaves_read` order),
    remembered by those dates."""
    key = (id(ground), id(calendar), lang, dates)
    cached = _JUDGED.get(key)
    if cached is not None and cached[0] is ground and cached[1] is calendar:
        return cached[2]
    reader = RowReader(dict(zip(leaves_read(ground), dates, strict=True)), calendar)
    finding = judge(_for_case(ground, reader), reader, lang, names)
    if len(_JUDGED) > JUDGED_LIMIT:
        _JUDGED.clear()
        _LEAVES.clear()
    _JUDGED[key] = (ground, calendar, finding)
    return finding


JUDGED_LIMIT = 100_000


def _names_subject_date(ground: GroundFinding) -> bool:
    """Whether `judge` may write the judged occurrence's own date into the explanation.

    A constant formula (a step missing, a value decided) compares no dates: its explanation
    names the judged date only through the rule's own message, and only when violated for a
    reason other than a missing step (as `evaluate._message` writes it).
    """
    formula = ground.formula
    if not isinstance(formula, Truth):
        return formula is not None
    return formula.value is False and ground.rule.message is not None and not formula.reason.startswith("missing:")


def leaves_read(ground: GroundFinding) -> list[tuple[str, str]]:
    """The (occurrence key, part) dates explaining the ground finding reads: its formula's and its subject's."""
    known = _LEAVES.get(id(ground))
    if known is None or known[0] is not ground:
        leaves = [(e.key, e.part) for e in event_dates(ground.formula, ground.guard)]
        if ground.subject is not None and _names_subject_date(ground):
            leaves += [(ground.subject.key, part) for part in ("date", "start", "end")]
        known = _LEAVES[id(ground)] = (ground, leaves)
    return known[1]


def _for_case(ground: GroundFinding, reader: RowReader) -> GroundFinding:
    """The representative's ground finding, with the judged occurrence carrying this case's dates."""
    subject = ground.subject
    if subject is None:
        return ground
    # Copied field by field: `dataclasses.replace` re-runs __init__ and cost more than judging the finding.
    dates = reader.dates
    real = object.__new__(Occurrence)
    real.__dict__.update(  # Occurrence is frozen: a fresh copy is filled in, never changed after
        subject.__dict__,
        date=dates.get((subject.key, "date")),
        start=dates.get((subject.key, "start")),
        end=dates.get((subject.key, "end")),
    )
    found = object.__new__(GroundFinding)
    found.__dict__.update(ground.__dict__, subject=real)
    return found
