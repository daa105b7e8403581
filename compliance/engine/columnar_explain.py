"""Explaining the findings the column-wise engine shows: the direct evaluator's `judge`, with each case's dates.

The same ground finding read with the same dates explains the same way, so explanations are
remembered by the dates they read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import polars as pl

from compliance.calendar import Calendar
from compliance.engine.columnar_frames import Batch
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.ground import GroundFinding, Truth, event_dates
from compliance.findings import Finding
from compliance.model import Case, Occurrence


class RowReader(DateReader):
    """A DateReader over one case's dates as the columnar frames hold them (keys in event order)."""

    def __init__(self, dates: dict[tuple[str, str], dt.date | None], calendar: Calendar) -> None:
        self.calendar = calendar
        self.dates = dates


def explained(
    tasks: list[tuple[int, tuple, GroundFinding, Case]],
    batch: Batch,
    calendar: Calendar,
    lang: str,
    names: dict[str, str],
) -> dict[int, list[tuple[tuple, Finding]]]:
    """Each case's findings, explained, with the order key of each (cidx, order, ground finding, representative)."""
    findings: dict[int, list[tuple[tuple, Finding]]] = defaultdict(list)
    leaves = {id(ground): leaves_read(ground) for _c, _o, ground, _r in tasks}
    # Only findings that read dates need the case's dates; the others explain the same way in every case.
    wanted = {(cidx, key) for cidx, _o, ground, _r in tasks for key, _part in leaves[id(ground)]}
    readers = date_readers(batch, wanted, calendar)
    undated = RowReader({}, calendar)
    constant: dict[int, Finding] = {}
    for cidx, order, ground, _representative in tasks:
        if leaves[id(ground)]:
            finding = judged(ground, readers[cidx], lang, names)
        else:
            finding = constant.get(id(ground))
            if finding is None:
                finding = constant[id(ground)] = judged(ground, undated, lang, names)
        findings[cidx].append((order, finding))
    return findings


# Explanations already made: the same ground finding read with the same dates explains the same way.
_JUDGED: dict[tuple, tuple[GroundFinding, Calendar, Finding]] = {}
_LEAVES: dict[int, tuple[GroundFinding, list[tuple[str, str]]]] = {}


def judged(ground: GroundFinding, reader: RowReader, lang: str, names: dict[str, str]) -> Finding:
    """`judge` of the ground finding with the case's dates, remembered by the dates it reads."""
    dates = reader.dates
    key = (id(ground), id(reader.calendar), lang, tuple(dates.get(leaf) for leaf in leaves_read(ground)))
    cached = _JUDGED.get(key)
    if cached is not None and cached[0] is ground and cached[1] is reader.calendar:
        return cached[2]
    finding = judge(_for_case(ground, reader), reader, lang, names)
    if len(_JUDGED) > JUDGED_LIMIT:
        _JUDGED.clear()
        _LEAVES.clear()
    _JUDGED[key] = (ground, reader.calendar, finding)
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


def date_readers(batch: Batch, wanted: set[tuple[int, str]], calendar: Calendar) -> dict[int, RowReader]:
    """Date readers for the cases that need explanations, read from the events frame in one pass.

    Only the dates of the occurrences `wanted` ((case, occurrence key) pairs the explanations
    read) and only those an event has are stored; a reader answers None for the others, as
    DateReader does.
    """
    dates: dict[int, dict[tuple[str, str], dt.date | None]] = defaultdict(dict)
    cidxs = {cidx for cidx, _key in wanted}
    if wanted:
        pairs = pl.DataFrame(list(wanted), schema={"cidx": pl.Int32, "key": pl.Utf8}, orient="row")
        rows = batch.events.join(pairs, on=["cidx", "key"], how="semi")
        columns = [rows[c].to_list() for c in ("cidx", "key", "date", "start", "end")]
        for cidx, key, date, start, end in zip(*columns, strict=True):
            found = dates[cidx]
            if date is not None:
                found[(key, "date")] = date
            else:
                found[(key, "start")], found[(key, "end")] = start, end
    return {cidx: RowReader(dates[cidx], calendar) for cidx in cidxs}


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
