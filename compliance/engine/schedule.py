"""One case as a z3 scheduling problem: a day variable per event date, tracked constraints.

Every date part of every event (an instant's date, a period's start and end) is a z3
integer day. Done dates and fixed planned dates are pinned by *tracked* equalities, and so
is every rule finding, bound and working-day requirement, so that an infeasible plan can be
explained by an unsat core naming rules and dates (CASES.md §5). Structural facts (a day
lies in the horizon, a period ends on or after its start) are hard.

What the planner adds to the rules, per CASES.md §5:
- planned acts (an instant, the start of a period) fall on working days; a period's end is
  free;
- `earliest`/`latest` bound a planned event's date (or start);
- with `today`, nothing planned goes before it; without, nothing planned goes before the
  latest done event (its date, or its start: a done period may still be running).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import z3

from compliance.calendar import Calendar
from compliance.engine.daytables import EPOCH, DayTables
from compliance.engine.ground import EventDate, GroundFinding
from compliance.engine.lexmin import Objective, lexmin
from compliance.engine.solver import Bounded, EncodingError, FormulaEncoder, constant_dates, is_sat, make_solver
from compliance.model import Case, Occurrence

SlotStatus = Literal["fixed", "open", "proposed"]
Kind = Literal["rule", "fixed", "earliest", "latest", "today", "after_done", "workday", "horizon"]

# How far the planner may look beyond the dates the case gives (widened when a plan needs more).
BEFORE_DAYS = 62
AFTER_DAYS = 183
# The hard domain is a little wider than the tracked horizon, so that the horizon itself can
# appear in an unsat core (and be widened) while every table lookup stays inside its table.
SLACK_DAYS = 31


def _shrink_order(item: Tracked) -> int:
    """Which constraints an explanation gives up first (see ScheduleProblem.minimal_core)."""
    if item.kind == "rule":
        return 0
    if item.kind != "fixed":
        return 1
    return 2 if item.slot is not None and not item.slot.occurrence.planned else 3


class NoAnchorError(ValueError):
    """A schedule with no date at all: nothing tells the planner where the calendar starts."""


@dataclass
class Slot:
    """One date part of one event."""

    occurrence: Occurrence
    part: str  # date | start | end
    var: z3.ArithRef
    given: dt.date | None
    status: SlotStatus
    act: bool  # an instant or a period's start: offices act on working days

    @property
    def key(self) -> str:
        return self.occurrence.key

    @property
    def label(self) -> str:
        return self.key if self.part == "date" else f"{self.key}.{self.part}"


@dataclass
class Tracked:
    """A constraint that may appear in an explanation."""

    name: str
    kind: Kind
    expr: z3.BoolRef
    finding: GroundFinding | None = None
    slot: Slot | None = None
    day: dt.date | None = None
    literal: z3.BoolRef = field(init=False)

    def __post_init__(self) -> None:
        self.literal = z3.Bool(f"track!{self.name}")


class ScheduleProblem:
    """The z3 model of one schedule.

    `proposals`: planned dates given in the file are proposals to keep where possible
    (the `keep` objective), not fixed. `open_keys`: events whose dates are opened whatever
    the file says (a `--window` question).
    """

    def __init__(
        self,
        case: Case,
        findings: Sequence[GroundFinding],
        is_period: Callable[[str], bool],
        calendar: Calendar,
        *,
        proposals: bool = False,
        open_keys: frozenset[str] = frozenset(),
        widen: int = 1,
    ) -> None:
        self.case = case
        self.findings = list(findings)
        self.slots: dict[tuple[str, str], Slot] = {}
        for occurrence in case.events:
            parts = ("start", "end") if is_period(occurrence.step) else ("date",)
            for part in parts:
                given = occurrence.part(part)
                status = _status(occurrence, given, proposals, occurrence.key in open_keys)
                var = z3.Int(f"{occurrence.key}.{part}")
                self.slots[(occurrence.key, part)] = Slot(occurrence, part, var, given, status, part != "end")
        self.periods = [o.key for o in case.events if is_period(o.step)]
        self._horizon(widen)
        self.tables = DayTables(calendar)
        self.index = self.tables.index
        self.encoder = FormulaEncoder(self.tables, self._lookup)
        self.hard: list[z3.BoolRef] = []
        self.tracked: list[Tracked] = []
        self._build()

    # --- the calendar window the problem lives in ------------------------------------
    def _horizon(self, widen: int) -> None:
        known = [s.given for s in self.slots.values() if s.given is not None]
        for occurrence in self.case.events:
            known += [d for d in (occurrence.earliest, occurrence.latest) if d is not None]
        if self.case.today is not None:
            known.append(self.case.today)
        if not known:
            raise NoAnchorError("no date anywhere in the schedule")
        known += constant_dates(f for g in self.findings for f in (g.formula, g.guard))
        first, last = EPOCH.of(min(known)), EPOCH.of(max(known))
        floor = self.floor
        # With a floor nothing planned can go before it; without, planned events may precede
        # the first date the file gives (a review before a fixed pre-announcement).
        low = EPOCH.of(floor) if floor is not None else first - BEFORE_DAYS * widen
        self.inner = (low, last + AFTER_DAYS * widen)
        # Whole months: problems over the same months share their tables (and trees). No
        # wider than that, though: the trees grow with the domain, and z3 with the trees.
        start = EPOCH.day(min(low, first) - SLACK_DAYS).replace(day=1)
        end = EPOCH.day(self.inner[1] + SLACK_DAYS)
        end = (end.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        self.domain = (EPOCH.of(start), EPOCH.of(end))
        self.anchor = min(known)

    def _lookup(self, expr: EventDate) -> Bounded:
        slot = self.slots.get((expr.key, expr.part))
        if slot is None:
            raise EncodingError(f"the case has no date {expr.key}.{expr.part}")
        return Bounded(slot.var, *self.domain)

    # --- constraints -------------------------------------------------------------------
    def _track(self, name: str, kind: Kind, expr: z3.BoolRef, **about) -> None:
        self.tracked.append(Tracked(name, kind, expr, **about))

    def _build(self) -> None:
        low, high = self.domain
        for slot in self.slots.values():
            self.hard.append(z3.And(slot.var >= low, slot.var <= high))
            if slot.status == "fixed" and slot.given is not None:
                self._track(f"fixed:{slot.label}", "fixed", slot.var == self.index.of(slot.given), slot=slot,
                            day=slot.given)  # fmt: skip
        for key in self.periods:
            self.hard.append(self.slots[(key, "end")].var >= self.slots[(key, "start")].var)
        self._planner_rules()
        for number, finding in enumerate(self.findings):
            self._track(f"rule:{number}:{finding.rule.id}:{finding.key}", "rule", self.encoder.holds(finding),
                        finding=finding)  # fmt: skip

    def _planner_rules(self) -> None:
        floor_kind, floor = self._floor()
        inner_low, inner_high = self.inner
        movable = [s for s in self.slots.values() if s.status != "fixed"]
        if movable:
            inside = [z3.And(s.var >= inner_low, s.var <= inner_high) for s in movable]
            self._track("horizon", "horizon", z3.And(inside))
        for slot in movable:
            if slot.act:
                working = self.tables.is_workday(slot.var, *self.domain)
                if slot.status == "proposed" and slot.given is not None:
                    # A proposal kept as it is stays where the office put it; a moved act lands on a working day.
                    working = z3.Or(working, slot.var == self.index.of(slot.given))
                self._track(f"workday:{slot.label}", "workday", working, slot=slot)
        for slot in self.slots.values():
            if not slot.occurrence.planned or not slot.act or slot.status == "fixed":
                continue
            occurrence = slot.occurrence
            if occurrence.earliest is not None:
                self._track(f"earliest:{slot.label}", "earliest", slot.var >= self.index.of(occurrence.earliest),
                            slot=slot, day=occurrence.earliest)  # fmt: skip
            if occurrence.latest is not None:
                self._track(f"latest:{slot.label}", "latest", slot.var <= self.index.of(occurrence.latest),
                            slot=slot, day=occurrence.latest)  # fmt: skip
            if floor is not None:
                self._track(f"{floor_kind}:{slot.label}", floor_kind, slot.var >= self.index.of(floor), slot=slot,
                            day=floor)  # fmt: skip

    def _floor(self) -> tuple[Kind, dt.date | None]:
        if self.case.today is not None:
            return "today", self.case.today
        done = [o.anchor_date for o in self.case.events if not o.planned and o.anchor_date is not None]
        return "after_done", (max(done) if done else None)

    @property
    def floor(self) -> dt.date | None:
        return self._floor()[1]

    # --- solving -----------------------------------------------------------------------
    def solver(self) -> z3.Solver:
        solver = make_solver()
        solver.add(*self.hard)
        for item in self.tracked:
            solver.add(z3.Implies(item.literal, item.expr))
        return solver

    def feasible(self, solver: z3.Solver | None = None) -> bool:
        """Whether every tracked constraint can hold at once."""
        return is_sat(solver or self.solver(), *[t.literal for t in self.tracked])

    def minimal_core(self, solver: z3.Solver | None = None) -> list[Tracked]:
        """An irreducible set of tracked constraints that cannot hold together.

        Several irreducible sets may exist, and z3's own core depends on the solver's history
        in the process, so shrinking starts from every tracked constraint in a fixed order:
        drop each in turn and keep the drop whenever what is left is still unsat. Rules are
        tried first, then bounds, then done dates, then planned fixed dates — so what
        survives names the planned dates the office can change and the rules that pin them.
        """
        solver = solver or self.solver()
        if is_sat(solver, *[t.literal for t in self.tracked]):
            return []
        order = sorted(range(len(self.tracked)), key=lambda i: (_shrink_order(self.tracked[i]), i))
        kept = set(range(len(self.tracked)))
        for index in order:
            trial = kept - {index}
            if not is_sat(solver, *[self.tracked[i].literal for i in sorted(trial)]):
                kept = trial
        return [self.tracked[i] for i in sorted(kept)]

    def optimize(self, goal: Goal) -> dict[tuple[str, str], dt.date]:
        """The assignment that best meets the goal, every constraint in force."""
        solver = make_solver()
        solver.add(*self.hard, *goal.constraints)
        solver.add(*[t.expr for t in self.tracked])
        return self.dates(lexmin(solver, goal.groups))

    def dates(self, model: z3.ModelRef) -> dict[tuple[str, str], dt.date]:
        return {
            key: self.index.day(model.eval(slot.var, model_completion=True).as_long())  # type: ignore[union-attr]
            for key, slot in self.slots.items()
        }

    # --- objectives --------------------------------------------------------------------
    def movable(self) -> list[Slot]:
        return [s for s in self.slots.values() if s.status != "fixed"]

    def earliest(self) -> Goal:
        """The earliest finish of the whole case, then every event as early as allowed, in file order.

        With a floor (today, or the latest done event) "early" is plain. Without one, an event
        no rule bounds from below could go back indefinitely: first keep every event as little
        before the schedule's first known date as possible, then as early as allowed.
        """
        goal = Goal()
        slots = self.movable()
        if not slots:
            return goal
        low = self.domain[0]
        finish = z3.Int("finish!")
        goal.constraints.extend(finish >= s.var for s in slots)
        goal.groups.append([Objective(finish, low)])
        if self.floor is None:
            anchor = self.index.of(self.anchor)
            below = [z3.Int(f"below!{s.label}") for s in slots]
            goal.constraints.extend(z3.And(b >= 0, b >= anchor - s.var) for b, s in zip(below, slots, strict=True))
            goal.groups.append([Objective(z3.Sum(below), 0)])
        goal.groups.append([Objective(s.var, low) for s in slots])
        return goal

    def keep(self) -> Goal:
        """Move as few events as possible, by as few days as possible; then as early as allowed.

        Between equal repairs, fewer dates moved wins: a posting period lengthened by two
        days keeps its posting date rather than moving both ends by one.

        Written the way z3 handles best: booleans "moved" per event and per date (at most k of
        them: pseudo-boolean bounds) and a day count per proposed date bounded by the distance
        both ways (minimised, it is the distance), rather than sums of if-then-elses.
        """
        earliest = self.earliest()
        goal = Goal()
        events: dict[str, z3.BoolRef] = {}
        dates: list[z3.BoolRef] = []
        distances = []
        for slot in self.movable():
            if slot.status != "proposed" or slot.given is None:
                continue
            given = self.index.of(slot.given)
            event = events.setdefault(slot.key, z3.Bool(f"moved!{slot.key}"))
            date = z3.Bool(f"moved!{slot.label}!date")
            distance = z3.Int(f"distance!{slot.label}")
            goal.constraints.extend([z3.Or(date, slot.var == given), z3.Implies(date, event),
                                     distance >= slot.var - given, distance >= given - slot.var])  # fmt: skip
            dates.append(date)
            distances.append(distance)
        for flags in (tuple(events.values()), tuple(dates)):
            if flags:
                goal.groups.append([Objective(z3.Sum([z3.If(f, 1, 0) for f in flags]), 0, counts=flags)])
        if distances:
            goal.groups.append([Objective(z3.Sum(distances), 0)])
        goal.constraints.extend(earliest.constraints)
        goal.groups.extend(earliest.groups)
        return goal


@dataclass
class Goal:
    """What to optimise: objective groups in order of priority, and the helper variables' definitions."""

    constraints: list[z3.BoolRef] = field(default_factory=list)
    groups: list[list[Objective]] = field(default_factory=list)


def _status(occurrence: Occurrence, given: dt.date | None, proposals: bool, opened: bool) -> SlotStatus:
    if opened or given is None:
        return "open"
    if occurrence.planned and proposals:
        return "proposed"
    return "fixed"
