"""Planning a schedule (CASES.md §2, §5): can it comply, the earliest compliant dates, repairs.

The rules are grounded exactly as for an audit (`audit.ground_case`); what fixed dates
already break is judged by the audit evaluator itself; everything else goes to z3
(`engine.schedule`), which chooses the open dates. One semantics, two engines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from compliance.audit import ground_case
from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.evaluate import DateReader, Trace, evaluate, judge
from compliance.engine.ground import GroundFinding, Truth
from compliance.engine.lexmin import Objective
from compliance.engine.schedule import Goal, NoAnchorError, ScheduleProblem, Tracked
from compliance.findings import Finding
from compliance.model import Case, Occurrence
from compliance.planning.explain import Conflict, Move, conflicts_from_core, violation_conflict
from compliance.rules.packs import NoPackError, Pack, RuleBook, load_rulebook

OBJECTIVES = ("earliest", "keep")
WIDENING = (1, 4, 16)  # horizon multipliers tried before a plan is called infeasible for lack of time


class PlanError(ValueError):
    """The schedule cannot be planned at all: no pack in force, no date to start from, unknown step."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(zh)
        self.zh, self.en = zh, en

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass
class Window:
    """The earliest and latest compliant date of one event, everything else as planned."""

    event: str
    part: str
    earliest: dt.date | None
    latest: dt.date | None  # None: no limit within the planning horizon

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "part": self.part,
            "earliest": self.earliest.isoformat() if self.earliest else None,
            "latest": self.latest.isoformat() if self.latest else None,
        }


@dataclass
class PlanResult:
    case: str
    file: str | None
    objective: str
    feasible: bool
    schedule: dict[str, dict[str, str]] | None
    violations: list[Finding] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    window: Window | None = None
    packs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lang: str = "zh"

    def to_json(self) -> dict[str, Any]:
        """CASES.md §5, plus `moves` for a repair and `window` for a window question."""
        data: dict[str, Any] = {
            "case": self.case,
            "feasible": self.feasible,
            "schedule": self.schedule,
            "violations": [f.to_json() for f in self.violations],
            "conflicts": [c.to_json() for c in self.conflicts],
        }
        if self.objective == "keep":
            data["moves"] = [m.to_json(self.lang) for m in self.moves]
        if self.window is not None:
            data["window"] = self.window.to_json()
        if self.notes:
            data["notes"] = self.notes
        return data


# --- preparing a case: packs, ground findings, what fixed dates already break ----------------


def plan_date(case: Case) -> dt.date | None:
    """The date that selects the packs: the first dated event, else today, else a bound."""
    first = case.first_date()
    if first is not None:
        return first
    if case.today is not None:
        return case.today
    bounds = [d for o in case.events for d in (o.earliest, o.latest) if d is not None]
    return min(bounds) if bounds else None


def _packs(case: Case, book: RuleBook) -> list[Pack]:
    day = plan_date(case)
    if day is None:
        raise PlanError(
            "计划中没有任何日期：请给出 today、某个事件的 earliest/latest 或一个已定日期",
            "the schedule has no date at all: give today, an earliest/latest bound or a fixed date",
        )
    try:
        return book.select(case.jurisdiction, case.procedure, day)
    except NoPackError as exc:
        raise PlanError(exc.zh, exc.en) from exc


def _without_dates(case: Case, keep: Callable[[Occurrence], bool]) -> Case:
    """The case with the dates of the occurrences `keep` rejects left open."""
    events = tuple(
        o if keep(o) else dataclasses.replace(o, date=None, start=None, end=None) for o in case.events
    )
    return dataclasses.replace(case, events=events)


def _with_dates(case: Case, dates: dict[tuple[str, str], dt.date]) -> Case:
    events = []
    for o in case.events:
        parts = {part: day for (key, part), day in dates.items() if key == o.key}
        events.append(dataclasses.replace(o, **parts) if parts else o)
    return dataclasses.replace(case, events=tuple(events))


def committed(finding: GroundFinding, reader: DateReader) -> bool:
    """Broken by the fixed dates alone: false whatever the open dates, and its guard holds."""
    if finding.formula is None:
        return False
    if evaluate(finding.formula, reader, Trace()) is not False:
        return False
    return finding.guard is None or evaluate(finding.guard, reader, Trace()) is True


def violated(finding: GroundFinding, reader: DateReader) -> bool:
    """What the audit engine reports as violated (`evaluate.judge`), for a fully dated case."""
    if finding.formula is None or evaluate(finding.formula, reader, Trace()) is not False:
        return False
    return finding.guard is None or evaluate(finding.guard, reader, Trace()) is not False


def _constant(finding: GroundFinding) -> bool:
    """True or unknown whatever the dates: nothing for the solver to do."""
    return finding.formula is None or (isinstance(finding.formula, Truth) and finding.formula.value is not False)


@dataclass
class _Prepared:
    case: Case
    book: RuleBook
    packs: list[Pack]
    findings: list[GroundFinding]
    broken: list[tuple[GroundFinding, Finding]]
    to_solve: list[GroundFinding]
    fixed: dict[str, dt.date]
    names: dict[str, str]


def _prepare(
    case: Case, book: RuleBook, calendar: Calendar, lang: str, fixed: Callable[[Occurrence], bool]
) -> _Prepared:
    packs = _packs(case, book)
    findings = ground_case(case, packs)
    names = {s.id: (s.zh if lang == "zh" else s.id) for s in book.vocabulary.steps.values()}
    fixed_case = _without_dates(case, fixed)
    reader = DateReader(fixed_case, calendar)
    broken = [(g, judge(g, reader, lang, names)) for g in findings if committed(g, reader)]
    broken_ids = {id(g) for g, _ in broken}
    to_solve = [g for g in findings if id(g) not in broken_ids and not _constant(g)]
    known = {
        (o.key if part == "date" else f"{o.key}.{part}"): day
        for o in fixed_case.events
        for part in ("date", "start", "end")
        if (day := o.part(part)) is not None
    }
    return _Prepared(case, book, packs, findings, broken, to_solve, known, names)


def _is_period(book: RuleBook) -> Callable[[str], bool]:
    return lambda step: book.vocabulary.get(step).is_period


def _solve(build: Callable[[int], ScheduleProblem]) -> tuple[ScheduleProblem, list[Tracked]]:
    """A problem that is feasible (empty core), or a minimal core that owes nothing to the horizon."""
    core: list[Tracked] = []
    for widen in WIDENING:
        try:
            problem = build(widen)
        except NoAnchorError as exc:
            raise PlanError("计划中没有任何日期", "the schedule has no date at all") from exc
        solver = problem.solver()
        if problem.feasible(solver):
            return problem, []
        core = problem.minimal_core(solver)
        if not any(t.kind == "horizon" for t in core):
            break
    return problem, core


def _conflicts(prepared: _Prepared, core: list[Tracked], lang: str) -> list[Conflict]:
    conflicts = [violation_conflict(g, prepared.fixed, f.message, lang) for g, f in prepared.broken]
    return conflicts + conflicts_from_core(core, lang)


def _schedule(case: Case, dates: dict[tuple[str, str], dt.date]) -> dict[str, dict[str, str]]:
    schedule: dict[str, dict[str, str]] = {}
    for o in case.events:
        if not o.planned:
            continue
        parts = {part: day.isoformat() for (key, part), day in dates.items() if key == o.key}
        schedule[o.key] = {p: parts[p] for p in ("date", "start", "end") if p in parts}
    return schedule


def _notes(dates: dict[tuple[str, str], dt.date], calendar: Calendar, lang: str) -> list[str]:
    years = sorted({d.year for d in dates.values() if not calendar.is_official_year(d.year)})
    if not years:
        return []
    listed = "、".join(map(str, years))
    if lang == "zh":
        return [f"暂定：{listed}年节假日未公布，按周末计算"]
    return [f"provisional: {', '.join(map(str, years))} holidays not published, weekends only"]


# --- planning -----------------------------------------------------------------------------------


def plan_case(
    case: Case,
    book: RuleBook | None = None,
    calendar: Calendar = DEFAULT_CALENDAR,
    objective: str = "earliest",
    lang: str = "zh",
) -> PlanResult:
    """Plan the open dates of a schedule (CASES.md §5).

    `earliest`: the earliest finish of the whole case, then every event as early as the
    rules allow, in file order. `keep`: planned dates in the file are proposals; keep as
    many as possible, move the rest by as few days as possible.
    """
    if objective not in OBJECTIVES:
        raise PlanError(f"未知目标 {objective!r}", f"unknown objective {objective!r}")
    book = book or load_rulebook()
    keep = objective == "keep"
    prepared = _prepare(case, book, calendar, lang, fixed=lambda o: not (keep and o.planned))
    result = PlanResult(case.id, case.file, objective, False, None, [f for _, f in prepared.broken],
                        packs=[p.label for p in prepared.packs], lang=lang)  # fmt: skip
    problem, core = _solve(
        lambda widen: ScheduleProblem(case, prepared.to_solve, _is_period(book), calendar, proposals=keep, widen=widen)
    )
    if core or prepared.broken:
        result.conflicts = _conflicts(prepared, core, lang)
        return result
    dates = problem.optimize(problem.keep() if keep else problem.earliest())
    result.feasible = True
    result.schedule = _schedule(case, dates)
    result.notes = _notes({k: v for k, v in dates.items() if case.event(k[0]).planned}, calendar, lang)
    if keep:
        result.moves = _moves(case, prepared, problem, dates, calendar)
    return result


def _moves(
    case: Case, prepared: _Prepared, problem: ScheduleProblem, dates: dict[tuple[str, str], dt.date], calendar: Calendar
) -> list[Move]:
    """Each moved proposal, with what forbids keeping it: the rules it would break if it alone stayed put."""
    moves: list[Move] = []
    for o in case.events:
        slots = [s for s in problem.slots.values() if s.key == o.key and s.status == "proposed"]
        changed = [s for s in slots if dates[(s.key, s.part)] != s.given]
        if not changed:
            continue
        reverted = dict(dates)
        reverted.update({(s.key, s.part): s.given for s in slots if s.given is not None})
        reader = DateReader(_with_dates(case, reverted), calendar)
        rules = sorted({g.rule.id for g in prepared.to_solve if o.key in g.events and violated(g, reader)})
        bounds = _broken_bounds(problem, o, reverted)
        for slot in changed:
            assert slot.given is not None
            moves.append(Move(o.key, o.step, prepared.names.get(o.step, o.step), slot.part, slot.given,
                              dates[(slot.key, slot.part)], rules, bounds))  # fmt: skip
    return moves


def _broken_bounds(
    problem: ScheduleProblem, occurrence: Occurrence, dates: dict[tuple[str, str], dt.date]
) -> list[str]:
    """Planner bounds (earliest, latest, today, after the last done event) a kept proposal would break."""
    broken = []
    for item in problem.tracked:
        if item.slot is None or item.slot.key != occurrence.key or item.day is None:
            continue
        day = dates[(item.slot.key, item.slot.part)]
        too_late = item.kind == "latest" and day > item.day
        too_early = item.kind in ("earliest", "today", "after_done") and day < item.day
        if too_late or too_early:
            broken.append(f"{item.kind} {item.day}")
    return broken


# --- windows --------------------------------------------------------------------------------------


def resolve_event(case: Case, step: str, book: RuleBook) -> tuple[Case, Occurrence]:
    """The occurrence a window question is about: an event key, or a step (first planned occurrence).

    A step the schedule does not hold yet is added as a planned event, so that "when may we
    hold the hearing?" can be asked before the hearing is in the plan.
    """
    for o in case.events:
        if o.key == step:
            return case, o
    resolved = book.vocabulary.resolve(step, case.procedure)
    if resolved is None:
        close = book.vocabulary.suggest(step, case.procedure)
        hint = f"（是否指 {close.id}？）" if close else ""
        english = f" (did you mean {close.id}?)" if close else ""
        raise PlanError(f"未知步骤 {step!r}{hint}", f"unknown step {step!r}{english}")
    occurrences = case.occurrences(resolved.id)
    if occurrences:
        return case, next((o for o in occurrences if o.planned), occurrences[0])
    added = Occurrence(key=f"{resolved.id}#1", step=resolved.id, position=len(case.events), planned=True)
    return dataclasses.replace(case, events=(*case.events, added)), added


def window_for(
    case: Case,
    step: str,
    book: RuleBook | None = None,
    calendar: Calendar = DEFAULT_CALENDAR,
    lang: str = "zh",
) -> PlanResult:
    """The earliest and latest compliant date of one step, with everything else as planned.

    The step's own date and bounds are set aside (that is the question); other fixed
    dates stay, other open dates may be anything compliant.
    """
    book = book or load_rulebook()
    case, target = resolve_event(case, step, book)
    opened = dataclasses.replace(target, date=None, start=None, end=None, earliest=None, latest=None, planned=True)
    case = dataclasses.replace(case, events=tuple(opened if o.key == target.key else o for o in case.events))
    prepared = _prepare(case, book, calendar, lang, fixed=lambda o: o.key != target.key)
    result = PlanResult(case.id, case.file, "window", False, None, [f for _, f in prepared.broken],
                        packs=[p.label for p in prepared.packs], lang=lang)  # fmt: skip
    opened_keys = frozenset({target.key})
    problem, core = _solve(
        lambda widen: ScheduleProblem(
            case, prepared.to_solve, _is_period(book), calendar, open_keys=opened_keys, widen=widen
        )
    )
    part = "start" if book.vocabulary.get(target.step).is_period else "date"
    if core:
        result.conflicts = _conflicts(prepared, core, lang)
        result.window = Window(target.key, part, None, None)
        return result
    var = problem.slots[(target.key, part)].var
    low, high = problem.domain
    earliest = problem.optimize(Goal(groups=[[Objective(var, low)]]))[(target.key, part)]
    latest = problem.optimize(Goal(groups=[[Objective(-var, -high)]]))[(target.key, part)]
    inner_low, inner_high = problem.inner
    result.feasible = not prepared.broken
    result.window = Window(
        target.key,
        part,
        None if problem.index.of(earliest) <= inner_low and problem.floor is None else earliest,
        None if problem.index.of(latest) >= inner_high else latest,
    )
    if prepared.broken:
        result.conflicts = _conflicts(prepared, [], lang)
    return result


__all__ = ["OBJECTIVES", "PlanError", "PlanResult", "Window", "plan_case", "window_for"]
