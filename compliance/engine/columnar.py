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
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice

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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a chunk is checked.

    A chunk makes a few objects per case and per finding, none of them in cycles (reference
    counting frees them); each full collection it set off walked everything alive, the results
    kept so far included: ~10 % of a chunk. The collector runs again, as it was, afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_normalized(norm: Normalized, chunk: RawChunk, settings: Settings) -> list[CaseOutcome]:
    with _collector_paused():
        return _check_normalized(norm, chunk, settings)


def _check_normalized(norm: Normalized, chunk: RawChunk, settings: Settings) -> list[CaseOutcome]:
    book = settings.book()
    frame, flagged = _screened(norm, book)
    results: dict[str, CaseOutcome] = {}
    if len(flagged):
        # The model decides these: an exact error, or (rarely) a case it accepts after all.
        subset = Normalized(norm.frame.filter(pl.col("case").is_in(flagged.implode())), [], norm.sources)
        for outcome in check_documents(subset, chunk, settings):
            results[str(outcome.result.case)] = outcome
    if not len(flagged):  # the usual chunk: every case checked here, numbered in order
        return list(_outcomes(batch_from_rows(frame), book, settings).values()) if frame.height else []
    good = frame.filter(~pl.col("case").is_in(flagged.implode()))
    order = frame["case"].unique(maintain_order=True).to_list()
    if good.height:
        batch = batch_from_rows(good)
        ids = batch.cases["case"].to_list()
        for cidx, outcome in _outcomes(batch, book, settings).items():
            results[ids[cidx]] = outcome
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
    with _collector_paused():
        batch = batch_from_cases(cases)
        outcomes = _outcomes(batch, settings.book(), settings)
        return [outcomes[i] for i in range(len(cases))]


def _outcomes(batch: Batch, book: RuleBook, settings: Settings) -> dict[int, CaseOutcome]:
    """Each case's outcome, in cidx order: its result, the year it started and (for the cases
    reports draw) its timeline."""
    results = evaluate(batch, book, settings)
    timelines = _timelines(batch, results)
    years = batch.cases["first_date"].dt.year().to_list()
    return {
        cidx: CaseOutcome(result) if result.error is not None else CaseOutcome(result, years[cidx], timelines.get(cidx))
        for cidx, result in results.items()
    }


def _timelines(batch: Batch, results: dict[int, CaseResult]) -> dict[int, list[tuple[str, str | None, str | None]]]:
    """Every event, in event order, of the cases whose timelines the report draws.

    Reports draw the timelines of the first MAX_TIMELINES cases with findings; a chunk never needs more.
    """
    with_findings = (
        cidx
        for cidx, result in results.items()
        if result.error is None and any(f.status in SHOWN for f in result.findings)
    )
    chosen = list(islice(with_findings, MAX_TIMELINES))
    timelines: dict[int, list[tuple[str, str | None, str | None]]] = {cidx: [] for cidx in chosen}
    if chosen:
        rows = batch.events.select("cidx", "key", pl.coalesce("date", "start"), "end")
        rows = rows.filter(pl.col("cidx").is_in(chosen)).with_columns(pl.col("date", "end").dt.to_string("%Y-%m-%d"))
        for cidx, key, begin, until in rows.iter_rows():
            timelines[cidx].append((key, begin, until))
    return timelines


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
    # Packs are chosen once per era (see RuleBook.eras); an error once per day, as it names the day.
    eras = pl.Series(book.eras(), dtype=pl.Date)
    era = pl.when(pl.col("first_date").is_not_null()).then(eras.search_sorted(cases["first_date"], side="right"))
    frame = cases.select("cidx", "case", "file", "jurisdiction", "procedure", "first_date", era.alias("era"))
    by_era = ["jurisdiction", "procedure", "era"]
    # Each choice — (packs, procedure), or an error's text — numbered in order of first sight.
    numbers: dict[tuple[tuple[str, ...], str] | str, int] = {}
    era_rows, day_rows = [], []
    for jurisdiction, procedure, number, day in frame.unique(by_era).select(*by_era, "first_date").iter_rows():
        picked = _packs_in_force(book, jurisdiction, procedure, day)
        if isinstance(picked, NoPackError):
            continue
        choice = (picked, procedure)
        era_rows.append((jurisdiction, procedure, number, numbers.setdefault(choice, len(numbers))))
    keys = pl.DataFrame(era_rows, schema={**frame.select(by_era).schema, "choice": pl.Int32}, orient="row")
    frame = frame.join(keys, on=by_era, how="left", nulls_equal=True, maintain_order="left")
    by_day = ["jurisdiction", "procedure", "first_date"]
    for jurisdiction, procedure, day in frame.filter(pl.col("choice").is_null()).select(by_day).unique().iter_rows():
        error = _packs_in_force(book, jurisdiction, procedure, day)
        assert isinstance(error, NoPackError)
        text = error.en if lang == "en" else error.zh
        day_rows.append((jurisdiction, procedure, day, numbers.setdefault(text, len(numbers))))
    if day_rows:
        days = pl.DataFrame(day_rows, schema={**frame.select(by_day).schema, "error": pl.Int32}, orient="row")
        frame = frame.join(days, on=by_day, how="left", nulls_equal=True, maintain_order="left")
        frame = frame.with_columns(pl.coalesce("choice", "error").alias("choice"))
    choices = list(numbers)
    # Per choice: the packs and the error a case of it gets (CaseResult's fields, in its order).
    packs = [() if isinstance(c, str) else c[0] for c in choices]
    errors = [c if isinstance(c, str) else None for c in choices]
    columns = [frame[c].to_list() for c in ("case", "file", "jurisdiction", "procedure", "choice")]
    made = [
        CaseResult(case, file, list(packs[n]), [], errors[n], None, jurisdiction, procedure)
        for case, file, jurisdiction, procedure, n in zip(*columns, strict=True)
    ]
    results = dict(zip(frame["cidx"].to_list(), made, strict=True))
    groups: dict[tuple, list[int]] = {}
    grouped = frame.group_by("choice", maintain_order=True).agg("cidx")
    for number, cidxs in grouped.iter_rows():
        choice = choices[number]
        if not isinstance(choice, str):
            groups[choice] = cidxs
    return results, groups


def _packs_in_force(
    book: RuleBook, jurisdiction: str, procedure: str, first_date: dt.date | None
) -> tuple[str, ...] | NoPackError:
    try:
        return tuple(p.label for p in book.select(jurisdiction, procedure, first_date))
    except NoPackError as exc:
        return exc


__all__ = ["CODE_STATUS", "check_cases", "check_normalized", "compiled_findings", "evaluate"]
