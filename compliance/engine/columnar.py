"""The column-wise batch engine: every rule evaluated over a whole chunk of cases at once.

1. Events become a frame (one row per event, keyed `step#n` as the model numbers them); cases
   are grouped by the packs in force and the procedure.
2. Rules the compiled plans cover (relational.py: every bundled rule, see `relational.supported`)
   are judged for the whole chunk by one query per step. Each finding they flag gets a ground
   finding — one grounding per shape of case (step counts; with value atoms, also the atoms'
   outcomes) — and rows the plans punt on are grounded on the case's own values.
3. Other rules (and every rule with `--all`) go to the *shape engine*: cases are grouped per
   rule by shape (columnar_shapes), one representative per shape is grounded, and its ground
   formulas are evaluated as Polars expressions over all cases of that shape (columnar_expr).
4. Only findings that are shown (violated / unknown; everything with show_all) are explained,
   by the direct evaluator's `judge` with that case's own dates.

The per-case engine (`audit_case`) is the reference: tests check both agree finding for
finding, on the samples and on generated cases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

import polars as pl

from compliance.calendar import Calendar
from compliance.engine import relational, relational_plan
from compliance.engine.batch_worker import MAX_TIMELINES, SHOWN, CaseOutcome, Settings, check_documents, shown
from compliance.engine.columnar_expr import (
    CODE_STATUS,
    CONST,
    ExprBuilder,
    ShiftTables,
    const_dates,
    date_range_of,
    rewrite_aggregates,
)
from compliance.engine.columnar_shapes import Item, RuleInfo, projected_case, rule_info
from compliance.engine.columnar_validate import flagged_cases, parsed_dates
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.ground import GroundFinding, Truth, event_dates, ground_rule
from compliance.findings import STATUS_ORDER, CaseResult, Finding
from compliance.importers.cells import cell_text, parse_cell
from compliance.importers.documents import ordered
from compliance.importers.normalize import Normalized, RawChunk
from compliance.model import Case, Occurrence
from compliance.rules.core import CoreRule
from compliance.rules.packs import NoPackError, Pack, RuleBook

Payload = Callable[[int], tuple[dict[str, Any], list[Item]]]
SHOWN_CODES = (2, 3)


class RowReader(DateReader):
    """A DateReader over one case's dates as the columnar frames hold them (keys in event order)."""

    def __init__(self, dates: dict[tuple[str, str], dt.date | None], calendar: Calendar) -> None:
        self.calendar = calendar
        self.dates = dates


@dataclasses.dataclass
class Batch:
    """One chunk's cases, in frames; a table's values are read back from the value keys, a Case's from the Case."""

    events: pl.DataFrame  # cidx seq step kind key rank date start end dtext
    cases: pl.DataFrame  # cidx case file jurisdiction procedure title first_date facts.*
    payload: Payload | None  # a case's facts and events, for cases given as Case objects
    value_keys: dict[tuple, pl.DataFrame] = dataclasses.field(default_factory=dict)  # rules reading the same values

    @property
    def first_dates(self) -> list[dt.date | None]:
        if not hasattr(self, "_first"):
            self._first = self.cases["first_date"].to_list()
        return self._first


# --- entry points -------------------------------------------------------------------------------


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
        batch = _batch_from_rows(good)
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
    batch = _batch_from_rows(good)
    calendar = settings.calendar()
    shifts = _shift_tables(batch, calendar)
    _results, groups = _select_packs(batch.cases, book, settings.lang)
    compiled = _relational_plan(groups, book, shifts, values=True)
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
    batch = _batch_from_cases(cases)
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


# --- building the frames -----------------------------------------------------------------------


def _batch_from_rows(frame: pl.DataFrame) -> Batch:
    # Rows come grouped by case in order of first appearance (`ordered`): a case's number is a run count.
    frame = frame.with_columns(
        (pl.col("case").ne_missing(pl.col("case").shift(1)).cum_sum() - 1).cast(pl.Int32).alias("cidx")
    )
    facts_cols = [c for c in frame.columns if c.startswith("facts.")]
    data_cols = [c for c in frame.columns if c.startswith("data.")]
    cases = frame.group_by("cidx", maintain_order=True).agg(
        pl.col("case", "file", "jurisdiction", "procedure", "title", *facts_cols).first()
    )
    events = frame.filter(pl.col("step").is_not_null()).select(
        "cidx",
        "seq",
        pl.col("step_id").alias("step"),
        "kind",
        pl.col("date_d").alias("date"),
        pl.col("start_d").alias("start"),
        pl.col("end_d").alias("end"),
        "actor",
        "ref",
        *data_cols,
    )
    events = _number(events)
    return Batch(events, _with_first_date(cases, events), None)


def _batch_from_cases(cases: list[Case]) -> Batch:
    rows: dict[str, list[Any]] = defaultdict(list)
    case_rows: dict[str, list[Any]] = defaultdict(list)
    fact_names = sorted({k for c in cases for k in c.facts})
    data_names = sorted({k for c in cases for e in c.events for k in e.data})
    for cidx, case in enumerate(cases):
        for name, value in (
            ("cidx", cidx),
            ("case", case.id),
            ("file", case.file),
            ("jurisdiction", case.jurisdiction),
            ("procedure", case.procedure),
            ("title", case.title),
        ):
            case_rows[name].append(value)
        for name in fact_names:
            case_rows["facts." + name].append(cell_text(case.facts.get(name)))
        for event in case.events:
            for name, value in (
                ("cidx", cidx),
                ("seq", event.position),
                ("step", event.step),
                ("kind", "period" if event.date is None and event.start else "instant"),
                ("date", event.date),
                ("start", event.start),
                ("end", event.end),
                ("actor", event.actor),
                ("ref", event.ref),
            ):
                rows[name].append(value)
            for name in data_names:
                rows["data." + name].append(cell_text(event.data.get(name)))
    schema = {
        "cidx": pl.Int32,
        "seq": pl.Int64,
        "step": pl.Utf8,
        "kind": pl.Utf8,
        "date": pl.Date,
        "start": pl.Date,
        "end": pl.Date,
        "actor": pl.Utf8,
        "ref": pl.Utf8,
        **{"data." + n: pl.Utf8 for n in data_names},
    }
    events = _number(pl.DataFrame({k: rows.get(k, []) for k in schema}, schema=schema))
    frame = pl.DataFrame(dict(case_rows), schema={**{k: pl.Utf8 for k in case_rows}, "cidx": pl.Int32})

    def payload(cidx: int) -> tuple[dict[str, Any], list[Item]]:
        case = cases[cidx]
        ranks = _ranks(case)
        return dict(case.facts), [(e.step, ranks[e.key], dict(e.data), e.actor, e.ref) for e in case.events]

    return Batch(events, _with_first_date(frame, events), payload)


def _ranks(case: Case) -> dict[str, int]:
    """Each occurrence's place among its step's occurrences by date, as grounding orders them."""
    ranks: dict[str, int] = {}
    by_step: dict[str, list] = defaultdict(list)
    for event in case.events:
        by_step[event.step].append(event)
    for occurrences in by_step.values():
        ordered_ = sorted(occurrences, key=lambda o: (o.anchor_date is None, o.anchor_date or dt.date.min, o.position))
        ranks.update({o.key: i for i, o in enumerate(ordered_)})
    return ranks


def _number(events: pl.DataFrame) -> pl.DataFrame:
    """`key`: step#n in event order, as the model numbers occurrences (rows sorted by case, then order)."""
    numbers = _place_in_step(events, []) + 1
    return events.with_columns((pl.col("step") + "#" + numbers.cast(pl.Utf8)).alias("key"))


def _ranked(events: pl.DataFrame) -> pl.DataFrame:
    """`rank`: each occurrence's place among its step's occurrences by date, as grounding orders them."""
    anchor = pl.coalesce("date", "start")
    return events.with_columns(_place_in_step(events, [anchor.is_null(), anchor, pl.col("seq")]).alias("rank"))


def _place_in_step(events: pl.DataFrame, by: list[pl.Expr]) -> pl.Series:
    """Each row's place (from 0) among its case's rows of the same step, ordered by `by`, ties in row order."""
    # A window over (case, step) costs ~4x this sort: nearly every such group holds one row.
    order = [e.alias(f"by{i}") for i, e in enumerate(by)]
    code = pl.col("step").cast(pl.Categorical).to_physical().alias("code")
    keyed = events.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), "cidx", code, *order)
    runs = keyed.sort(["cidx", "code", *[f"by{i}" for i in range(len(by))], "row"])
    first = pl.col("cidx").ne_missing(pl.col("cidx").shift(1)) | pl.col("code").ne_missing(pl.col("code").shift(1))
    start = pl.when(first).then(pl.int_range(pl.len(), dtype=pl.Int64)).forward_fill()
    return runs.select("row", (pl.int_range(pl.len(), dtype=pl.Int64) - start).alias("place")).sort("row")["place"]


def _with_first_date(cases: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    first = events.group_by("cidx").agg(
        pl.min_horizontal(pl.col("date").min(), pl.col("start").min()).alias("first_date")
    )
    return cases.join(first, on="cidx", how="left", maintain_order="left").sort("cidx")


# --- evaluation --------------------------------------------------------------------------------


_SHIFTS: dict[int, ShiftTables] = {}
# Ground findings per (rule, procedure, shape), kept across chunks; value shapes are often
# one per case, so the oldest are dropped beyond a bound to keep memory flat.
_GROUNDED: OrderedDict[tuple, _Shape] = OrderedDict()
GROUNDED_LIMIT = 20_000
_INFO: dict[int, RuleInfo] = {}


def evaluate(batch: Batch, book: RuleBook, settings: Settings) -> dict[int, CaseResult]:
    """Every case's result."""
    calendar = settings.calendar()
    shifts = _shift_tables(batch, calendar)
    results, groups = _select_packs(batch.cases, book, settings.lang)
    names = {s.id: (s.zh if settings.lang == "zh" else s.id) for s in book.vocabulary.steps.values()}
    tasks: list[tuple[int, tuple, GroundFinding, Case]] = []
    # Rules of the fragment are judged by compiled plans over the whole chunk (relational.py);
    # with --all every finding is explained anyway, so the shape engine takes every rule.
    # Cases given as Case objects carry typed values (a quoted "true" in YAML is text, not a flag):
    # the compiled plans read cells as a table holds them, so there they take date rules only.
    values = batch.payload is None
    compiled = _relational_plan(groups, book, shifts, values) if not settings.show_all else None
    left: list[tuple[int, str, CoreRule, list[int]]] = []  # for the shape engine: (position, procedure, rule, cases)
    for (labels, procedure), cidxs in groups.items():
        packs = [_pack_by_label(book, label) for label in labels]
        for position, rule in enumerate(r for p in packs for r in p.core_rules(procedure)):
            if compiled is None or id(rule) not in compiled.numbers:
                left.append((position, procedure, rule, cidxs))
    if left:
        wide = _wide(batch, {s for _p, _proc, rule, _c in left for s in rule.steps})
        builder = ExprBuilder(set(wide.columns), shifts, lift_constants=True)
        builder.column_list = wide.columns
        frames: dict[int, pl.DataFrame] = {}
        for position, procedure, rule, cidxs in left:
            group = frames.get(id(cidxs))
            if group is None:
                group = frames[id(cidxs)] = wide.filter(pl.col("cidx").is_in(cidxs))
            tasks.extend(_rule_tasks(rule, position, procedure, group, batch, book, builder, settings.show_all))
    if compiled is not None:
        tasks.extend(_relational_tasks(compiled, groups, batch, book))
    findings: dict[int, list[tuple[tuple, Finding]]] = defaultdict(list)
    # Only findings that read dates need the case's dates; the others explain the same way in every case.
    dated = [(cidx, ground) for cidx, _order, ground, _r in tasks if _leaves(ground)]
    readers = _readers(batch, {cidx for cidx, _g in dated}, calendar, {s for _c, g in dated for s in g.rule.steps})
    undated = RowReader({}, calendar)
    for cidx, order, ground, _representative in tasks:
        findings[cidx].append((order, _judged(ground, readers.get(cidx, undated), settings.lang, names)))
    for cidx, result in results.items():
        if result.error is None:
            listed = sorted(
                findings.get(cidx, []), key=lambda x: (-STATUS_ORDER[x[1].status], x[1].rule, x[1].key, x[0])
            )
            result.findings = [f for _, f in listed]
            shown(result, settings.show_all)
    return results


# Explanations already made: the same ground finding read with the same dates explains the same way.
_JUDGED: dict[tuple, tuple[GroundFinding, Calendar, Finding]] = {}
_LEAVES: dict[int, tuple[GroundFinding, list[tuple[str, str]]]] = {}


def _judged(ground: GroundFinding, reader: RowReader, lang: str, names: dict[str, str]) -> Finding:
    """`judge` of the ground finding with the case's dates, remembered by the dates it reads."""
    dates = reader.dates
    key = (id(ground), id(reader.calendar), lang, tuple(dates.get(leaf) for leaf in _leaves(ground)))
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


def _leaves(ground: GroundFinding) -> list[tuple[str, str]]:
    """The (occurrence key, part) dates explaining the ground finding reads: its formula's and its subject's."""
    known = _LEAVES.get(id(ground))
    if known is None or known[0] is not ground:
        leaves = [(e.key, e.part) for e in event_dates(ground.formula, ground.guard)]
        if ground.subject is not None and _names_subject_date(ground):
            leaves += [(ground.subject.key, part) for part in ("date", "start", "end")]
        known = _LEAVES[id(ground)] = (ground, leaves)
    return known[1]


@dataclasses.dataclass
class _Compiled:
    """The chunk's rules of the date fragment, numbered, with where each sits in its group's rule list."""

    plan: relational_plan.Plan
    numbers: dict[int, int]  # id(rule) → its number in the plan
    positions: dict[tuple[int, int], int]  # (group, number) → the rule's position in that group's list
    groups: dict[int, tuple[tuple[str, ...], str]]  # group number → (pack labels, procedure)

    def group_of(self, groups: dict[tuple, list[int]]) -> dict[int, int]:
        """Each case's group number."""
        return {cidx: _GROUP_NUMBERS[key] for key, cidxs in groups.items() for cidx in cidxs}

    def run(self, group_of: dict[int, int], batch: Batch) -> pl.DataFrame:
        """The plan's findings on the chunk's cases (those with packs in force: `group_of`)."""
        cases = pl.DataFrame(
            {"cidx": list(group_of), "grp": list(group_of.values())}, schema={"cidx": pl.Int32, "grp": pl.Int32}
        )
        facts = batch.cases.select("cidx", *[c for c in batch.cases.columns if c.startswith("facts.")])
        return self.plan.run(cases, batch.events, facts)


_SUPPORTED: dict[tuple[int, bool], bool] = {}
# Groups are numbered once per process, so that chunk after chunk makes the same plan (compiled once).
_GROUP_NUMBERS: dict[tuple, int] = {}


def _relational_plan(groups: dict[tuple, list[int]], book: RuleBook, shifts: ShiftTables, values: bool) -> _Compiled:
    rules: list[CoreRule] = []
    applies: list[list[int]] = []
    numbers: dict[int, int] = {}
    positions: dict[tuple[int, int], int] = {}
    numbered = {_GROUP_NUMBERS.setdefault(key, len(_GROUP_NUMBERS)): key for key in groups}
    for group, (labels, procedure) in sorted(numbered.items()):
        packs = [_pack_by_label(book, label) for label in labels]
        for position, rule in enumerate(r for p in packs for r in p.core_rules(procedure)):
            if not _SUPPORTED.setdefault((id(rule), values), relational.supported(rule, values)):
                continue
            if id(rule) not in numbers:
                numbers[id(rule)] = len(rules)
                rules.append(rule)
                applies.append([])
            applies[numbers[id(rule)]].append(group)
            positions[(group, numbers[id(rule)])] = position
    plan = relational_plan.Plan(rules, applies, shifts, SHOWN_CODES)
    return _Compiled(plan, numbers, positions, numbered)


def _relational_tasks(
    compiled: _Compiled,
    groups: dict[tuple, list[int]],
    batch: Batch,
    book: RuleBook,
) -> list[tuple[int, tuple, GroundFinding, Case]]:
    """Run the compiled plans; each finding they flag gets its ground finding, to be explained.

    A rule without value atoms is grounded once per shape (step counts); one with value atoms
    once per (step counts, atom outcomes), on a case that has them. Where a plan punts (a value
    only exact arithmetic can decide), the rule is grounded on that case's own values and each
    of its findings judged by the direct evaluator.
    """
    group_of = compiled.group_of(groups)
    if not compiled.plan.rules or not group_of:
        return []
    found = compiled.run(group_of, batch)
    punted = found.filter(pl.col("code") == relational.PUNT).select("rule", "cidx").unique()
    found = found.join(punted, on=["rule", "cidx"], how="anti")
    if len(_BY_ATOMS) > GROUNDED_LIMIT:
        _BY_ATOMS.clear()
    # Rules with value atoms: grounded once per (shape, atom outcomes), on a case that has them.
    atoms = {}
    for number, cidx, text in compiled.plan.atom_outcomes.iter_rows():
        atoms[(number, cidx)] = (id(compiled.plan.rules[number]), compiled.groups[group_of[cidx]][1], text)
    shape_of = {(number, cidx): shape for cidx, number, shape in found.select("cidx", "rule", "shape").iter_rows()}
    atoms = {pair: (*key, shape_of.get(pair)) for pair, key in atoms.items()}
    # One case per new (rule, procedure, atom outcomes, shape) is enough to ground it: its values are read.
    new: dict[tuple, tuple[int, int]] = {}
    for pair, key in atoms.items():
        if key not in _BY_ATOMS:
            new.setdefault(key, pair)
    need = set(punted.iter_rows()) | set(new.values())
    infos = [_info(compiled.plan.rules[number]) for number in {number for number, _c in need}]
    steps = {s for info in infos for s in info.steps}
    fields = None if any(i.data_fields is None for i in infos) else {f for i in infos for f in i.data_fields or ()}
    values = _case_values(batch, sorted({cidx for _n, cidx in need}), steps, fields) if need else {}
    for key, (number, cidx) in new.items():
        procedure = compiled.groups[group_of[cidx]][1]
        _BY_ATOMS[key] = _grounded_from_values(compiled.plan.rules[number], procedure, values[cidx], book)
    tasks = []
    for number, cidx in punted.iter_rows():
        group = group_of[cidx]
        shape = _grounded_from_values(compiled.plan.rules[number], compiled.groups[group][1], values[cidx], book)
        position = compiled.positions[(group, number)]
        tasks.extend((cidx, (position, i), ground, shape.case) for i, ground in enumerate(shape.grounds))
    known: dict[tuple, tuple[_Shape, int]] = {}  # (rule, group, shape) → its grounding and position
    for cidx, key, number, _code, shape_text in found.iter_rows():
        group = group_of[cidx]
        pair_key = atoms.get((number, cidx))
        memo = (number, group, shape_text, pair_key)
        entry = known.get(memo)
        if entry is None:
            rule = compiled.plan.rules[number]
            procedure = compiled.groups[group][1]
            if pair_key is not None:
                shape = _BY_ATOMS[pair_key]
            else:
                counts = tuple(int(n) for n in shape_text.split(",")) if shape_text else ()
                shape = _grounded(rule, procedure, _info(rule), counts, cidx, batch, book)
            entry = known[memo] = (shape, compiled.positions[(group, number)])
        shape, position = entry
        slot = shape.slot(key)
        tasks.append((cidx, (position, slot), shape.grounds[slot], shape.case))
    return tasks


_BY_ATOMS: dict[tuple, _Shape] = {}


def _grounded_from_values(rule: CoreRule, procedure: str, values: tuple[dict, list[Item]], book: RuleBook) -> _Shape:
    """The rule grounded on a case holding the case's own values (dates stand-ins, as for any shape)."""
    info = _info(rule)
    all_facts, items = values
    kinds = {s: book.vocabulary.steps[s].kind for s in info.steps if s in book.vocabulary.steps}
    events = [item for item in items if item[0] in info.steps]
    counts = {s: sum(1 for item in events if item[0] == s) for s in info.steps}
    facts = all_facts if info.facts is None else {k: v for k, v in all_facts.items() if k in info.facts}
    case = projected_case(procedure, counts, kinds, events, facts)
    return _Shape(case, ground_rule(rule, case))


def _case_values(
    batch: Batch, cidxs: list[int], steps: set[str], fields: set[str] | None = None
) -> dict[int, tuple[dict[str, Any], list[Item]]]:
    """Facts and events of `steps` (step, rank by date, data, actor, ref) of some cases, typed as a case file
    types them: what grounding a rule on those steps reads (`fields`: the step data it reads; None: any)."""
    if batch.payload is not None:
        return {cidx: batch.payload(cidx) for cidx in cidxs}
    chosen = pl.Series(cidxs, dtype=pl.Int32).implode()
    events = _ranked(batch.events.filter(pl.col("cidx").is_in(chosen) & pl.col("step").is_in(sorted(steps))))
    data_cols = [c for c in events.columns if c.startswith("data.") and (fields is None or c[5:] in fields)]
    found: dict[int, tuple[dict[str, Any], list[Item]]] = {cidx: ({}, []) for cidx in cidxs}
    typed = _typed_cells()
    names = [c[5:] for c in data_cols]
    for cidx, step, rank, actor, ref, *data in events.select(
        "cidx", "step", "rank", "actor", "ref", *data_cols
    ).iter_rows():
        cells = {name: typed(value) for name, value in zip(names, data, strict=True) if value is not None}
        found[cidx][1].append((step, rank, {k: v for k, v in cells.items() if v is not None}, actor, ref))
    fact_cols = [c for c in batch.cases.columns if c.startswith("facts.")]
    cases = batch.cases.filter(pl.col("cidx").is_in(chosen)).select("cidx", *fact_cols)
    for cidx, *facts in cases.iter_rows():
        parsed = {name[6:]: parse_cell(value) for name, value in zip(fact_cols, facts, strict=True)}
        found[cidx][0].update({k: v for k, v in parsed.items() if v is not None})
    return found


def _typed_cells() -> Callable[[str], Any]:
    """`parse_cell`, remembering scalar results: a chunk's cells repeat the same few flags, numbers and dates."""
    known: dict[str, Any] = {}

    def typed(text: str) -> Any:
        if text in known:
            return known[text]
        value = parse_cell(text)
        if not isinstance(value, list | dict):  # a list or map is handed out fresh: its reader may change it
            known[text] = value
        return value

    return typed


def _pack_by_label(book: RuleBook, label: str) -> Pack:
    return next(p for p in book.packs if p.label == label)


def _select_packs(
    cases: pl.DataFrame, book: RuleBook, lang: str
) -> tuple[dict[int, CaseResult], dict[tuple, list[int]]]:
    """Each case's packs (as `audit_case` picks them), or its error; cases grouped by (packs, procedure)."""
    results: dict[int, CaseResult] = {}
    groups: dict[tuple, list[int]] = defaultdict(list)
    chosen: dict[tuple, tuple[str, ...] | NoPackError] = {}
    for cidx, case, file, jurisdiction, procedure, first_date in cases.select(
        "cidx", "case", "file", "jurisdiction", "procedure", "first_date"
    ).iter_rows():
        result = CaseResult(case, file, jurisdiction=jurisdiction, procedure=procedure)
        results[cidx] = result
        key = (jurisdiction, procedure, first_date)
        if key not in chosen:
            try:
                chosen[key] = tuple(p.label for p in book.select(jurisdiction, procedure, first_date))
            except NoPackError as exc:
                chosen[key] = exc
        picked = chosen[key]
        if isinstance(picked, NoPackError):
            result.error = picked.en if lang == "en" else picked.zh
            continue
        result.packs = list(picked)
        groups[(picked, procedure)].append(cidx)
    return results, groups


def _wide(batch: Batch, steps: set[str] | None = None) -> pl.DataFrame:
    """One row per case, a Date column per `step#n|part` (counts and aggregates are expressions over these).

    `steps`: only those steps' columns (the rules left to the shape engine read no others).
    """
    events = batch.events if steps is None else batch.events.filter(pl.col("step").is_in(sorted(steps)))
    long = pl.concat(
        [
            events.select("cidx", (pl.col("key") + "|" + part).alias("column"), pl.col(part).alias("value"))
            for part in ("date", "start", "end")
        ]
    ).drop_nulls("value")
    ids = batch.cases.select("cidx")
    if long.height == 0:
        return ids
    columns = long["column"].unique().sort().to_list()
    dates = long.with_columns(pl.col("column").cast(pl.Categorical)).pivot(
        on="column", index="cidx", values="value", on_columns=columns
    )
    return ids.join(dates, on="cidx", how="left")


def _info(rule: CoreRule) -> RuleInfo:
    info = _INFO.get(id(rule))
    if info is None:
        info = _INFO[id(rule)] = rule_info(rule)
    return info


def _rule_tasks(
    rule: CoreRule,
    position: int,
    procedure: str,
    group_frame: pl.DataFrame,
    batch: Batch,
    book: RuleBook,
    builder: ExprBuilder,
    show_all: bool,
) -> list[tuple[int, tuple, GroundFinding, Case]]:
    """Evaluate one rule over a group of cases; return the findings that need an explanation.

    Shapes whose ground findings come out identical (most value shapes decide the same way)
    are evaluated together: one Polars select per distinct set of ground formulas.
    """
    info = _info(rule)
    counts = [builder.count(s).alias(f"n:{s}") for s in info.steps]
    keys = [f"n:{s}" for s in info.steps]
    frame = group_frame.select("cidx", *counts)
    if info.reads_values:
        frame = frame.join(_value_key(batch, info), on="cidx", how="left").with_columns(pl.col("vkey").fill_null(""))
        keys.append("vkey")
    if keys:
        shapes = frame.group_by(keys, maintain_order=True).agg(pl.col("cidx")).iter_rows()
    else:
        shapes = iter([(frame["cidx"].to_list(),)])
    groups: list[_SlotGroup] = []
    for row in shapes:
        shape, cidxs = tuple(row[:-1]), row[-1]
        found = _grounded(rule, procedure, info, shape, cidxs[0], batch, book)
        if not found.grounds:
            continue
        group = next((g for g in groups if g.accepts(found.signatures)), None)
        if group is None:
            group = _SlotGroup()
            groups.append(group)
        group.add(found.signatures, found.slots)
        group.members.append((cidxs, found.consts, found.grounds, found.case))
    if not groups:
        return []
    prefixes = tuple(f"{s}#" for s in info.steps)
    date_cols = [c for c in builder.column_list if c.startswith(prefixes)]
    members = [g.members for g in groups]
    shapes_all = [shape for shapes_of in members for shape in shapes_of]
    rows = _rows_with_constants(group_frame.select("cidx", *date_cols), members, builder)
    tasks = []
    parts = rows.partition_by("__sig", as_dict=True) if len(groups) > 1 else {(0,): rows}
    for (k,), part in parts.items():
        exprs = _expressions(builder, rule, groups[k], k, date_cols)
        query = part.lazy().select("cidx", "__shape", *[e.alias(f"s{i}") for i, e in enumerate(exprs)])
        if not show_all:
            query = query.filter(pl.any_horizontal([pl.col(f"s{i}").is_in(SHOWN_CODES) for i in range(len(exprs))]))
        for row in query.collect().iter_rows():
            cidx, (_, _, own, representative) = row[0], shapes_all[row[1]]
            for i in range(len(own)):  # slots past this shape's findings belong to longer shapes
                code = row[2 + i]
                if show_all or code in SHOWN_CODES:
                    tasks.append((cidx, (position, i), own[i], representative))
    return tasks


@dataclasses.dataclass
class _SlotGroup:
    """Shapes whose findings agree slot by slot (up to fixed dates): one expression per slot serves them all.

    A case with 3 payments has 3 findings, one with 7 has 7; with their first-agreement
    dates as aggregate columns, slot i reads the same for both, so they share a select.
    """

    signatures: list[str] = dataclasses.field(default_factory=list)
    slots: list[tuple] = dataclasses.field(default_factory=list)
    members: list[tuple] = dataclasses.field(default_factory=list)

    def accepts(self, signatures: list[str]) -> bool:
        return all(a == b for a, b in zip(self.signatures, signatures, strict=False))

    def add(self, signatures: list[str], slots: list[tuple]) -> None:
        if len(signatures) > len(self.signatures):
            self.signatures.extend(signatures[len(self.signatures) :])
            self.slots.extend(slots[len(self.slots) :])


def _rows_with_constants(rows: pl.DataFrame, members: list, builder: ExprBuilder) -> pl.DataFrame:
    """The cases of every shape with their signature, shape number and their shape's fixed dates as columns."""
    cidxs: list[int] = []
    signature_ids: list[int] = []
    shape_ids: list[int] = []
    consts: dict[str, list] = {}
    shape_number = 0
    every: list[dt.date] = []
    for k, shapes_of in enumerate(members):
        width = max(len(dates) for _m, dates, _g, _c in shapes_of)
        start = len(cidxs)
        for group_members, dates, _grounds, _case in shapes_of:
            cidxs.extend(group_members)
            signature_ids.extend([k] * len(group_members))
            shape_ids.extend([shape_number] * len(group_members))
            shape_number += 1
            every.extend(dates)
            for j in range(width):
                value = dates[j] if j < len(dates) else None
                consts.setdefault(f"{CONST}{k}_{j}", [None] * start).extend([value] * len(group_members))
        for column in consts.values():
            column.extend([None] * (len(cidxs) - len(column)))
    if every:
        builder.shifts.cover(min(every), max(every))  # a shift of a fixed date is looked up like any other
    table = pl.DataFrame(
        {
            "cidx": pl.Series(cidxs, dtype=pl.Int32),
            "__sig": pl.Series(signature_ids, dtype=pl.Int32),
            "__shape": pl.Series(shape_ids, dtype=pl.Int32),
            **{name: pl.Series(values, dtype=pl.Date) for name, values in consts.items()},
        }
    )
    return table.join(rows, on="cidx", how="left", maintain_order="left")


_CONST_DATE = re.compile(r"ConstDate\(date=datetime\.date\(\d+, \d+, \d+\)\)")


def _value_key(batch: Batch, info: RuleInfo) -> pl.DataFrame:
    """Per case, the text of everything value-reading grounding looks at: step data, date order, facts."""
    data_cols = [c for c in batch.events.columns if c.startswith("data.")]
    if info.data_fields is not None:
        data_cols = [c for c in data_cols if c[5:] in info.data_fields]
    data_text = (
        pl.concat_str(
            [pl.lit(c[5:] + "=") + pl.col(c) for c in data_cols], separator="\x1f", ignore_nulls=True
        ).fill_null("")
        if data_cols
        else pl.lit("")
    )
    cache_key = (info.steps, tuple(data_cols), info.needs_order, info.facts, info.reads_event)
    if cache_key in batch.value_keys:
        return batch.value_keys[cache_key]
    events = batch.events.filter(pl.col("step").is_in(list(info.steps)))
    if info.needs_order:
        events = _ranked(events)
    rank = pl.col("rank").cast(pl.Utf8) if info.needs_order else pl.lit("0")
    # `event.actor` / `event.ref` in an expression: the judged occurrence's own fields belong in the key too.
    own = [pl.col(c).fill_null("\x00") if info.reads_event else pl.lit("\x00") for c in ("actor", "ref")]
    events = events.select("cidx", pl.concat_str([pl.col("key"), rank, data_text, *own], separator="\x1e"))
    per_case = events.group_by("cidx", maintain_order=True).agg(pl.col("key").str.join("\x1d").alias("ev"))
    facts = [c for c in batch.cases.columns if c.startswith("facts.")]
    if info.facts is not None:
        facts = [c for c in facts if c[6:] in info.facts]
    fact_text = (
        pl.concat_str([pl.lit(c + "=") + pl.col(c).fill_null("\x00") for c in facts], separator="\x1f")
        if facts
        else pl.lit("")
    )
    cases = batch.cases.select("cidx", fact_text.alias("fk"))
    joined = cases.join(per_case, on="cidx", how="left")
    batch.value_keys[cache_key] = joined.select(
        "cidx", pl.concat_str([pl.col("fk"), pl.col("ev").fill_null("")], separator="\x1c").alias("vkey")
    )
    return batch.value_keys[cache_key]


@dataclasses.dataclass
class _Shape:
    """A shape's representative, its ground findings, and what evaluating them column-wise needs."""

    case: Case
    grounds: list[GroundFinding]
    slots: list[tuple] = dataclasses.field(default_factory=list)  # (formula, guard), aggregates rewritten
    signatures: list[str] = dataclasses.field(default_factory=list)  # each slot, its fixed dates blanked
    consts: list[dt.date] = dataclasses.field(default_factory=list)  # those fixed dates, in order
    slots_by_key: dict[str, int] | None = None

    def slot(self, key: str) -> int:
        """The number of the ground finding with this key (the compiled plans name findings by key)."""
        if self.slots_by_key is None:
            self.slots_by_key = {g.key: i for i, g in enumerate(self.grounds)}
        if key not in self.slots_by_key:
            raise RuntimeError(f"engines disagree: {self.grounds[0].rule.id} has no finding {key!r} in grounding")
        return self.slots_by_key[key]


_EXPRESSIONS: dict[tuple, list[pl.Expr]] = {}


def _expressions(
    builder: ExprBuilder, rule: CoreRule, group: _SlotGroup, number: int, columns: list[str]
) -> list[pl.Expr]:
    """A slot group's status expressions; the same groups recur chunk after chunk, so they are built once.

    The key holds the date columns of the rule's steps that exist (an expression reads a missing
    one as null) and the shift tables' range (lookups are offsets into them).
    """
    shifts = builder.shifts
    key = (id(rule), tuple(group.signatures), number, id(shifts), shifts.low, shifts.high, tuple(columns))
    exprs = _EXPRESSIONS.get(key)
    if exprs is None:
        if len(_EXPRESSIONS) > 20_000:
            _EXPRESSIONS.clear()
        exprs = _EXPRESSIONS[key] = builder.statuses(group.slots, prefix=f"{CONST}{number}_")
    return exprs


def _grounded(
    rule: CoreRule, procedure: str, info: RuleInfo, shape: tuple, cidx: int, batch: Batch, book: RuleBook
) -> _Shape:
    key = (id(rule), procedure, shape)
    cached = _GROUNDED.get(key)
    if cached is not None:
        _GROUNDED.move_to_end(key)
        return cached
    kinds = {s: book.vocabulary.steps[s].kind for s in info.steps if s in book.vocabulary.steps}
    counts = {s: int(n) for s, n in zip(info.steps, shape, strict=False) if n}
    events = facts = None
    if info.reads_values:
        all_facts, items = batch.payload(cidx) if batch.payload else _parse_value_key(shape[-1])
        events = [item for item in items if item[0] in info.steps]
        facts = all_facts if info.facts is None else {k: v for k, v in all_facts.items() if k in info.facts}
    case = projected_case(procedure, counts, kinds, events, facts)
    found = _Shape(case, ground_rule(rule, case))
    if found.grounds:
        present = {s: len(case.occurrences(s)) for s in info.steps}
        found.slots = [
            (rewrite_aggregates(g.formula, present), rewrite_aggregates(g.guard, present)) for g in found.grounds
        ]
        found.signatures = [_CONST_DATE.sub("ConstDate(?)", repr(slot)) for slot in found.slots]
        found.consts = const_dates(found.slots)
    _GROUNDED[key] = found
    if len(_GROUNDED) > GROUNDED_LIMIT:
        _GROUNDED.popitem(last=False)
    return found


def _parse_value_key(text: str) -> tuple[dict[str, Any], list[Item]]:
    """The facts and events a value key spells (see `_value_key`): cheaper than fetching them again."""
    fact_text, _, event_text = text.partition("\x1c")
    facts = {}
    for item in fact_text.split("\x1f") if fact_text else []:
        name, _, value = item.partition("=")
        if value != "\x00":
            facts[name[6:]] = parse_cell(value)
    events = []
    for item in event_text.split("\x1d") if event_text else []:
        key, rank, data_text, actor, ref = item.split("\x1e")
        data = {}
        for pair in data_text.split("\x1f") if data_text else []:
            name, _, value = pair.partition("=")
            data[name] = parse_cell(value)
        events.append((key.split("#")[0], int(rank), data, None if actor == "\x00" else actor,
                       None if ref == "\x00" else ref))  # fmt: skip
    return facts, events


def _readers(batch: Batch, cidxs: set[int], calendar: Calendar, steps: set[str]) -> dict[int, RowReader]:
    """Date readers for the cases that need explanations, read from the events frame in one pass.

    Only the dates of `steps` (those the explained rules read) and only those an event has are
    stored; a reader answers None for the others, as DateReader does.
    """
    dates: dict[int, dict[tuple[str, str], dt.date | None]] = defaultdict(dict)
    if cidxs:
        rows = batch.events.filter(pl.col("cidx").is_in(list(cidxs)) & pl.col("step").is_in(sorted(steps)))
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


__all__ = ["CODE_STATUS", "check_cases", "check_normalized", "compiled_findings", "evaluate"]
