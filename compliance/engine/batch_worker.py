"""Checking one chunk of a batch: what each worker process does, for either engine."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from compliance.audit import audit_case, audit_file
from compliance.calendar import Calendar, build_calendar
from compliance.engine.bookcache import cached_rulebook
from compliance.engine.projection import source_columns
from compliance.findings import CaseResult
from compliance.importers import CaseFilesChunk, Chunk, FailedSource
from compliance.importers.documents import case_documents, error_result
from compliance.importers.mapping import EMPTY, Mapping
from compliance.importers.normalize import Normalized, RawChunk, normalize
from compliance.importers.sql import SqlRange
from compliance.importers.tables import CsvRange
from compliance.importers.xes import XesRange
from compliance.model import Case, case_from_document, load_case
from compliance.rules.packs import RuleBook
from compliance.sourcefile import InputError

SHOWN = ("violated", "unknown")
MAX_TIMELINES = 200  # the HTML report draws the timelines of this many cases with findings
TimelineEvent = tuple[str, str | None, str | None]  # (event key, date or start, end) as ISO text


@dataclass
class CaseOutcome:
    """A case's result, the year it started (for reports) and, when it has findings to show, its events."""

    result: CaseResult
    year: int | None = None
    timeline: list[TimelineEvent] | None = None


def outcome_of_case(result: CaseResult, case: Case | None) -> CaseOutcome:
    if case is None or result.error is not None:
        return CaseOutcome(result)
    first = case.first_date()
    timeline = None
    if result.findings and any(f.status in SHOWN for f in result.findings):
        timeline = [(e.key, _iso(e.date or e.start), _iso(e.end)) for e in case.events]
    return CaseOutcome(result, first.year if first else None, timeline)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs, small enough to send to every process."""

    engine: str = "columnar"  # columnar | direct
    lang: str = "zh"
    show_all: bool = False  # keep satisfied / not applicable findings too (each then gets a full explanation)
    rules_dir: Path | None = None
    calendar_files: tuple[Path, ...] = ()
    weekend_rollover: bool = True
    mapping: Mapping = field(default_factory=lambda: EMPTY)

    def book(self) -> RuleBook:
        book = _PRELOADED.get(self.rules_dir)
        if book is None:
            book = _PRELOADED[self.rules_dir] = cached_rulebook(self.rules_dir)
        return book

    def calendar(self) -> Calendar:
        return _calendar(self.calendar_files, self.weekend_rollover)


# Rule books handed to worker processes when they start: parsing rules/ again in every
# worker would cost seconds each; unpickling the parent's takes milliseconds.
_PRELOADED: dict[Path | None, RuleBook] = {}


def preload(rules_dir: Path | None, book: RuleBook, cpus: tuple[int, ...] = (), started: Any = None) -> None:
    """A worker's start: the parent's rule book; and with `cpus`, the worker's own CPU
    (the `started`-th worker takes the `started`-th CPU, round the list)."""
    _PRELOADED[rules_dir] = book
    if cpus and started is not None:
        with started.get_lock():
            number = started.value
            started.value += 1
        pin_threads(cpus[number % len(cpus)])


def pin_threads(cpu: int) -> None:
    """Keep every thread of this process, and those it starts later, on one CPU.

    A process with one Polars thread hands each query to that thread and waits for it. On two
    cores every hand-off waits for the other core to wake up: a small query took 100 µs
    instead of 20 on the benchmark machine, a chunk 10–15 % longer (docs/batch.md).
    """
    # Again until none is left over: a thread not yet pinned may start others meanwhile (Polars'
    # pool starts its threads lazily), and they take its CPUs.
    for _ in range(10):
        moved = False
        for task in os.listdir("/proc/self/task"):
            try:
                if os.sched_getaffinity(int(task)) != {cpu}:
                    os.sched_setaffinity(int(task), {cpu})
                    moved = True
            except OSError:  # a thread that ended meanwhile
                pass
        if not moved:
            return


@lru_cache(maxsize=4)
def _calendar(files: tuple[Path, ...], weekend_rollover: bool) -> Calendar:
    return build_calendar(list(files), weekend_rollover=weekend_rollover)


def check_chunk(chunk: Chunk, settings: Settings) -> list[CaseOutcome]:
    if isinstance(chunk, FailedSource):
        return [
            CaseOutcome(CaseResult(None, chunk.error.file, error=str(chunk.error), error_detail=chunk.error.to_json()))
        ]
    if isinstance(chunk, CaseFilesChunk):
        return _check_files(chunk, settings)
    if isinstance(chunk, CsvRange | XesRange | SqlRange):
        try:
            # The rows of a range are read here, in the worker; of a CSV only the columns that matter.
            chunk = (
                chunk.read(source_columns(chunk.plan, settings.book())) if isinstance(chunk, CsvRange) else chunk.read()
            )
        except InputError as exc:
            return [CaseOutcome(CaseResult(None, exc.file, error=str(exc), error_detail=exc.to_json()))]
    norm = normalize(chunk, settings.mapping, settings.book().vocabulary)
    results = [CaseOutcome(error_result(exc, None, norm.sources, chunk.line_label)) for _case, exc in norm.errors]
    for (case, _exc), outcome in zip(norm.errors, results, strict=True):
        outcome.result.case = outcome.result.case or case
    if settings.engine == "columnar":
        from compliance.engine.columnar import check_normalized

        return results + check_normalized(norm, chunk, settings)
    return results + check_documents(norm, chunk, settings)


def check_documents(norm: Normalized, chunk: RawChunk, settings: Settings) -> list[CaseOutcome]:
    """The per-case engine: the model builds each case, `audit_case` judges it."""
    book, calendar = settings.book(), settings.calendar()
    results = []
    for doc in case_documents(norm):
        try:
            case = case_from_document(doc, book.vocabulary)
        except InputError as exc:
            results.append(CaseOutcome(error_result(exc, doc, norm.sources, chunk.line_label)))
            continue
        result = shown(audit_case(case, book, calendar, settings.lang), settings.show_all)
        results.append(outcome_of_case(result, case))
    return results


def _check_files(chunk: CaseFilesChunk, settings: Settings) -> list[CaseOutcome]:
    """Case files, in file order; an unreadable file is an error result, as `audit_file` makes it."""
    book, calendar = settings.book(), settings.calendar()
    loaded: list[Case | CaseOutcome] = []
    for path in chunk.paths:
        try:
            loaded.append(load_case(path, book.vocabulary))
        except InputError:
            loaded.append(CaseOutcome(audit_file(path, book, calendar, settings.lang)))
    cases = [c for c in loaded if isinstance(c, Case)]
    if settings.engine == "columnar":
        from compliance.engine.columnar import check_cases

        checked = iter(check_cases(cases, settings))
    else:
        checked = iter(
            outcome_of_case(shown(audit_case(c, book, calendar, settings.lang), settings.show_all), c) for c in cases
        )
    return [item if isinstance(item, CaseOutcome) else next(checked) for item in loaded]


def shown(result: CaseResult, show_all: bool) -> CaseResult:
    """Batch reports list violations and unknowns unless asked for everything (like `audit` text)."""
    if not show_all:
        result.findings = [f for f in result.findings if f.status in SHOWN]
    return result
