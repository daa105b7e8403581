"""The column-wise batch engine: every rule evaluated over a whole chunk of cases at once.

1. Rows are screened (columnar_validate: cases the model must judge go to it) and become
   frames (columnar_frames: one row per event, keyed `step#n` as the model numbers them);
   cases are grouped by the packs in force and the procedure (here).
2. Rules the compiled plans cover (relational.py: every bundled rule, see `relational.supported`)
   are judged for the whole chunk by one query per step (columnar_compiled). Each finding they
   flag gets a ground finding — one grounding per shape of case (columnar_grounding; with value
   atoms, also the atoms' outcomes) — and rows the plans punt on are grounded on the case's own values.
3. Other rules (and every rule with `--all`) go to the *shape engine* (columnar_shape_engine):
   cases are grouped per rule by shape, one representative per shape is grounded, and its ground
   formulas are evaluated as Polars expressions over all cases of that shape (columnar_expr).
4. Only findings that are shown (violated / unknown; everything with show_all) are explained,
   by the direct evaluator's `judge` with that case's own dates (columnar_explain).

The per-case engine (`audit_case`) is the reference: tests check both agree finding for
finding, on the samples and on generated cases.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict

import polars as pl

from compliance.calendar import Calendar
from compliance.engine import relational
from compliance.engine.batch_worker import MAX_TIMELINES, SHOWN, CaseOutcome, Settings, check_documents
from compliance.engine.columnar_compiled import compiled_plan, compiled_tasks, pack_by_label
from compliance.engine.columnar_explain import explained
from compliance.engine.columnar_expr import CODE_STATUS, ShiftTables, date_range_of
from compliance.engine.columnar_frames import Batch, batch_from_cases, batch_from_rows
from compliance.engine.columnar_shape_engine import shape_engine_tasks
from compliance.engine.columnar_tasks import Tasks
from compliance.engine.columnar_validate import flagged_cases, parsed_dates
from compliance.findings import CaseResult
from compliance.importers.documents import ordered
from compliance.importers.normalize import Normalized, RawChunk
from compliance.model import Case
from compliance.rules.core import CoreRule
from compliance.rules.packs import NoPackError, RuleBook


def check_normalized(norm: Normalized, chunk: RawChunk, settings: Settings) -> list[CaseOutcome]:
    book = settings.book()
    frame, flagged = _screened(norm, book)
    results: dict[str, CaseOutcome] = {}
    if len(flagged):
        # The model decides these: an exact error, or (rarely) a case it accepts after all.
        subset = Normalized(norm.frame.filter(pl.col("case").is_in(flagged.implode())), [], norm.sources)
        for outcome in check_documents(subset, chunk, settings):
            results[str(outcome.result.case)] = outcome
    good = frame.filter(~pl.col("case").is_in(flagged.implode()))
    order = frame["case"].unique(maintain_order=True).to_list()
    if good.height:
        batch = batch_from_rows(good)
        ids = batch.cases["case"].to_list()
        found = evaluate(batch, book, settings)
        timelines = _timelines(batch, found)
        for cidx, result in found.items():
            results[ids[cidx]] = _outcome(batch, cidx, result, timelines)
    return [results[case] for case in order if case in results]


def _screened(norm: Normalized, book: RuleBook) -> tuple[pl.DataFrame, pl.Series]:
    """The rows with parsed dates, and the cases the model must look at (columnar_validate)."""
    frame = parsed_dates(ordered(norm.frame))
    return frame, flagged_cases(frame, book.vocabulary)


def _shift_tables(batch: Batch, calendar: Calendar) -> ShiftTables:
    """The calendar's shift tables, covering every date of the chunk."""
    shifts = _SHIFTS.setdefault(id(calendar), ShiftTables(calendar))
    span = date_range_of(batch.events, ["date", "start", "end"])
    if span:
        shifts.cover(*span)
    return shifts


def compiled_findings(norm: Normalized, settings: Settings) -> list[tuple[str, str, str, str]]:
    """Every finding the compiled plans decide, satisfied and not applicable included: (case, rule, key, status).

    A finding the plans leave to the exact evaluator has status "punt". For testing the plans
    against the per-case engine finding by finding; cases the model must look at are left out.
    """
    book = settings.book()
    frame, flagged = _screened(norm, book)
    good = frame.filter(~pl.col("case").is_in(flagged.implode()))
    if not good.height:
        return []
    batch = batch_from_rows(good)
    calendar = settings.calendar()
    shifts = _shift_tables(batch, calendar)
    _results, groups = _select_packs(batch.cases, book, settings.lang)
    compiled = compiled_plan(groups, book, shifts, values=True)
    compiled.plan.keep = tuple(CODE_STATUS)
    ids = batch.cases["case"].to_list()
    statuses = {**CODE_STATUS, relational.PUNT: "punt"}
    rules = compiled.plan.rules
    found = compiled.run(compiled.group_of(groups), batch).select("cidx", "key", "rule", "code").iter_rows()
    return sorted((ids[cidx], rules[number].id, key, statuses[code]) for cidx, key, number, code in found)


def check_cases(cases: list[Case], settings: Settings) -> list[CaseOutcome]:
    """Already-loaded cases (from case files)."""
    if not cases:
        return []
    batch = batch_from_cases(cases)
    found = evaluate(batch, settings.book(), settings)
    timelines = _timelines(batch, found)
    return [_outcome(batch, i, found[i], timelines) for i in range(len(cases))]


def _outcome(batch: Batch, cidx: int, result: CaseResult, timelines: dict[int, list]) -> CaseOutcome:
    if result.error is not None:
        return CaseOutcome(result)
    first = batch.first_dates[cidx]
    return CaseOutcome(result, first.year if first else None, timelines.get(cidx))


def _timelines(batch: Batch, results: dict[int, CaseResult]) -> dict[int, list[tuple[str, str | None, str | None]]]:
    """Every event, in event order, of the cases whose timelines the report draws.

    Reports draw the timelines of the first MAX_TIMELINES cases with findings; a chunk never needs more.
    """
    chosen = [
        cidx
        for cidx, result in results.items()
        if result.error is None and any(f.status in SHOWN for f in result.findings)
    ][:MAX_TIMELINES]
    timelines: dict[int, list[tuple[str, str | None, str | None]]] = {cidx: [] for cidx in chosen}
    if chosen:
        rows = batch.events.filter(pl.col("cidx").is_in(chosen)).select("cidx", "key", "date", "start", "end")
        for cidx, key, date, begin, until in rows.iter_rows():
            timelines[cidx].append((key, _iso(date or begin), _iso(until)))
    return timelines


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


_SHIFTS: dict[int, ShiftTables] = {}


def evaluate(batch: Batch, book: RuleBook, settings: Settings) -> dict[int, CaseResult]:
    """Every case's result."""
    calendar = settings.calendar()
    shifts = _shift_tables(batch, calendar)
    results, groups = _select_packs(batch.cases, book, settings.lang)
    names = {s.id: (s.zh if settings.lang == "zh" else s.id) for s in book.vocabulary.steps.values()}
    tasks = Tasks()
    # Rules of the fragment are judged by compiled plans over the whole chunk (relational.py);
    # with --all every finding is explained anyway, so the shape engine takes every rule.
    # Cases given as Case objects carry typed values (a quoted "true" in YAML is text, not a flag):
    # the compiled plans read cells as a table holds them, so there they take date rules only.
    values = batch.payload is None
    compiled = compiled_plan(groups, book, shifts, values) if not settings.show_all else None
    left: list[tuple[int, str, CoreRule, list[int]]] = []  # for the shape engine: (position, procedure, rule, cases)
    for (labels, procedure), cidxs in groups.items():
        packs = [pack_by_label(book, label) for label in labels]
        for position, rule in enumerate(r for p in packs for r in p.core_rules(procedure)):
            if compiled is None or id(rule) not in compiled.numbers:
                left.append((position, procedure, rule, cidxs))
    if left:
        for cidx, order, ground, _representative in shape_engine_tasks(left, batch, book, shifts, settings.show_all):
            tasks.add(cidx, order, ground)
    if compiled is not None:
        compiled_tasks(compiled, groups, batch, book, tasks)
    listed, findings = explained(tasks, batch, calendar, settings.lang, names, settings.show_all)
    for cidx, number in zip(listed["cidx"].to_list(), listed["finding"].to_list(), strict=True):
        results[cidx].findings.append(findings[number])
    return results


def _select_packs(
    cases: pl.DataFrame, book: RuleBook, lang: str
) -> tuple[dict[int, CaseResult], dict[tuple, list[int]]]:
    """Each case's packs (as `audit_case` picks them), or its error; cases grouped by (packs, procedure)."""
    results: dict[int, CaseResult] = {}
    groups: dict[tuple, list[int]] = defaultdict(list)
    chosen: dict[tuple, tuple[str, ...] | NoPackError] = {}
    failed: dict[tuple, tuple[str, ...] | NoPackError] = {}
    eras = book.eras()
    for cidx, case, file, jurisdiction, procedure, first_date in cases.select(
        "cidx", "case", "file", "jurisdiction", "procedure", "first_date"
    ).iter_rows():
        result = CaseResult(case, file, jurisdiction=jurisdiction, procedure=procedure)
        results[cidx] = result
        # Packs are chosen once per era (see RuleBook.eras); an error once per day, as it names the day.
        era = (jurisdiction, procedure, first_date and bisect_right(eras, first_date))
        picked = chosen.get(era)
        if picked is None:
            picked = chosen[era] = _packs_in_force(book, jurisdiction, procedure, first_date)
        if isinstance(picked, NoPackError):
            day = (jurisdiction, procedure, first_date)
            picked = failed.get(day) or failed.setdefault(day, _packs_in_force(book, *day))
        if isinstance(picked, NoPackError):
            result.error = picked.en if lang == "en" else picked.zh
            continue
        result.packs = list(picked)
        groups[(picked, procedure)].append(cidx)
    return results, groups


def _packs_in_force(
    book: RuleBook, jurisdiction: str, procedure: str, first_date: dt.date | None
) -> tuple[str, ...] | NoPackError:
    try:
        return tuple(p.label for p in book.select(jurisdiction, procedure, first_date))
    except NoPackError as exc:
        return exc


__all__ = ["CODE_STATUS", "check_cases", "check_normalized", "compiled_findings", "evaluate"]
