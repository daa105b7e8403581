"""What can still happen: findings read against the future, for the validation hook.

`audit` judges what the case says. The hook must also know whether a bad finding is final
or can still be cured by steps not recorded yet ("a hearing was requested: the hearing is
due by 2024-10-08" is an open obligation, not a breach). This module answers that with the
same ground formulas, read with *spans* instead of dates:

- a recorded date is exact; the date of a step not recorded yet is any day from `now` on;
- an act not recorded yet happens after every recorded act — in real time, even on the same
  day — so it can no longer be "on or before" a recorded act (an agreement recorded while
  funding is unconfirmed cannot be cured by confirming funding later that day);
- comparisons are decided when every date in the spans decides them the same way, else
  unknown (Kleene logic), so "broken" is only ever claimed when it is certain.

Shifts go through `evaluate.shift`, i.e. the calendar; nothing here counts days itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from compliance.calendar import Calendar
from compliance.engine.evaluate import DateReader, judge, shift
from compliance.engine.ground import (
    And,
    Compare,
    ConstDate,
    DateExpr,
    Earliest,
    EventDate,
    Formula,
    GroundFinding,
    Latest,
    Not,
    Or,
    ShiftOf,
    Truth,
    ground_rule,
)
from compliance.findings import Finding
from compliance.model import Case, Occurrence
from compliance.rules.core import (
    AllOf,
    AnyOf,
    Check,
    CoreRule,
    DateAtom,
    ExistsAtom,
    IfThen,
    NotOf,
    OrderCheck,
    ValueAtom,
    term_refs,
    walk,
)
from compliance.rules.expr import UNKNOWN, and3, not3, or3

MAX_TRIES = 64  # hypothetical completions tried per finding before giving up (and not claiming "broken")

# --- spans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A date known to lie in [lo, hi]; None is unbounded."""

    lo: dt.date | None
    hi: dt.date | None
    moment: bool = False  # exactly the date of a recorded act (an instant, a period's start)
    future: bool = False  # the date of an act not recorded yet

    @property
    def exact(self) -> bool:
        return self.lo is not None and self.lo == self.hi


UNBOUNDED = Span(None, None)


class SpanReader:
    """Spans of the date expressions of one (possibly hypothetical) case as of `now`."""

    def __init__(self, case: Case, calendar: Calendar, now: dt.date, future: Iterable[str] = ()) -> None:
        self.calendar = calendar
        self.spans: dict[tuple[str, str], Span] = {}
        future_keys = set(future)
        for event in case.events:
            to_come = event.key in future_keys
            for part in ("date", "start", "end"):
                self.spans[(event.key, part)] = _span_of(event, part, to_come, now)

    def value(self, expr: DateExpr) -> Span:
        if isinstance(expr, EventDate):
            return self.spans.get((expr.key, expr.part), UNBOUNDED)
        if isinstance(expr, ConstDate):
            return Span(expr.date, expr.date)
        if isinstance(expr, ShiftOf):
            base = self.value(expr.base)
            # Every shift is monotone (a later base never gives an earlier day), so the
            # bounds of the span shift to the bounds of the result.
            lo = None if base.lo is None else shift(self.calendar, base.lo, expr.n, expr.unit, expr.sign).date
            hi = None if base.hi is None else shift(self.calendar, base.hi, expr.n, expr.unit, expr.sign).date
            return Span(lo, hi)
        if isinstance(expr, Earliest | Latest):
            return _aggregate([self.value(i) for i in expr.items], earliest=isinstance(expr, Earliest))
        raise TypeError(expr)


def _span_of(event: Occurrence, part: str, to_come: bool, now: dt.date) -> Span:
    """A given date is exact (and, for an act, a recorded moment); a date still open — of a step to
    come, of a planned step, the end of a period under way — lies from `now` (or its bounds) on."""
    value = event.part(part)
    act = part in ("date", "start")
    if value is not None:
        return Span(value, value, moment=act and not to_come)
    if not (to_come or event.planned):
        return UNBOUNDED  # a recorded event without that date: nothing to say about it
    lo = max(d for d in (now, event.earliest, event.start if part == "end" else None) if d is not None)
    # The end of a period that has not started is to come like its start; the end of a period
    # under way is just a day, which may well be today.
    to_come_whole = act or event.start is None
    return Span(lo, event.latest if act else None, future=to_come_whole)


def _aggregate(spans: list[Span], earliest: bool) -> Span:
    if not spans:
        return UNBOUNDED
    if earliest:
        lo = None if any(s.lo is None for s in spans) else min(s.lo for s in spans)  # type: ignore[type-var]
        highs = [s.hi for s in spans if s.hi is not None]
        hi = min(highs) if highs else None
    else:
        lows = [s.lo for s in spans if s.lo is not None]
        lo = max(lows) if lows else None
        hi = None if any(s.hi is None for s in spans) else max(s.hi for s in spans)  # type: ignore[type-var]
    # Which item is surely the earliest (latest)? Recorded acts come before acts to come.
    for candidate in spans:
        others = [s for s in spans if s is not candidate]
        if earliest and all(_surely_not_after(candidate, s) for s in others):
            return Span(lo, hi, moment=candidate.moment, future=candidate.future)
        if not earliest and all(_surely_not_after(s, candidate) for s in others):
            return Span(lo, hi, moment=candidate.moment, future=candidate.future)
    return Span(lo, hi)


def _surely_not_after(a: Span, b: Span) -> bool:
    if a.moment and b.future:
        return a.hi is not None and b.lo is not None and a.hi <= b.lo
    return (a.hi is not None and b.lo is not None and a.hi < b.lo) or (a.exact and b.exact and a.lo == b.lo)


def compare(left: Span, op: str, right: Span) -> Any:
    """True, False or UNKNOWN: whether `left op right` holds for every / no choice of dates."""
    # Real-time order: an act to come is after every recorded act, so "act to come <= recorded
    # act" holds only on a strictly earlier day, i.e. never (the act to come is not before now).
    if left.future and right.moment and op == "<=":
        op = "<"
    elif left.moment and right.future and op == ">=":
        op = ">"
    a_lo, a_hi, b_lo, b_hi = left.lo, left.hi, right.lo, right.hi
    if op in (">=", ">"):
        a_lo, a_hi, b_lo, b_hi = b_lo, b_hi, a_lo, a_hi
        op = "<=" if op == ">=" else "<"
    if op == "<=":
        if a_hi is not None and b_lo is not None and a_hi <= b_lo:
            return True
        if a_lo is not None and b_hi is not None and a_lo > b_hi:
            return False
        return UNKNOWN
    if op == "<":
        if a_hi is not None and b_lo is not None and a_hi < b_lo:
            return True
        if a_lo is not None and b_hi is not None and a_lo >= b_hi:
            return False
        return UNKNOWN
    if op == "==":
        if left.exact and right.exact:
            return left.lo == right.lo
        if (a_hi is not None and b_lo is not None and a_hi < b_lo) or (
            b_hi is not None and a_lo is not None and b_hi < a_lo
        ):
            return False
        return UNKNOWN
    raise ValueError(op)


def read(formula: Formula, reader: SpanReader) -> Any:
    if isinstance(formula, Truth):
        return formula.value
    if isinstance(formula, Compare):
        return compare(reader.value(formula.left), formula.op, reader.value(formula.right))
    if isinstance(formula, And):
        return and3([read(p, reader) for p in formula.parts])
    if isinstance(formula, Or):
        return or3([read(p, reader) for p in formula.parts])
    if isinstance(formula, Not):
        return not3(read(formula.part, reader))
    raise TypeError(formula)


def can_hold(ground: GroundFinding, reader: SpanReader) -> bool:
    """Whether some choice of the dates still open makes the finding anything but violated."""
    if ground.formula is None:
        return True
    if ground.guard is not None and read(ground.guard, reader) is False:
        return True  # the rule may not apply at all
    return read(ground.formula, reader) is not False


# --- hypothetical completions -----------------------------------------------------------------


def hypothetical(case: Case, steps: Iterable[str]) -> tuple[Case, list[str]]:
    """The case plus one not-yet-recorded occurrence of each step (no dates: the future)."""
    events = list(case.events)
    added = []
    for step in steps:
        number = sum(1 for e in events if e.step == step) + 1
        occurrence = Occurrence(key=f"{step}#{number}", step=step, position=len(events), planned=True)
        events.append(occurrence)
        added.append(occurrence.key)
    return replace(case, events=tuple(events)), added


@dataclass(frozen=True)
class Prospect:
    """Whether a finding that is not (yet) satisfied is final, and what would cure it."""

    broken: bool
    needs: tuple[str, ...] = ()  # steps to come whose occurrence lets the finding hold
    conclusive: bool = True  # False when the search for a cure was cut short (then never "broken")


def prospect(
    rule: CoreRule,
    ground: GroundFinding,
    case: Case,
    now: dt.date,
    calendar: Calendar,
    dependencies: frozenset[str] | None,
) -> Prospect:
    """Can this finding still hold once steps not recorded yet have happened (on or after `now`)?"""
    if can_hold(ground, SpanReader(case, calendar, now)):
        return Prospect(False)
    if isinstance(rule.check, OrderCheck) or dependencies is None:
        # An order pair compares two recorded acts; nothing to come changes it. A rule whose
        # steps we cannot know is judged as recorded.
        return Prospect(True, conclusive=dependencies is not None)
    present = {e.step for e in case.events}
    helps, free = _polarities(rule, dependencies, present, ground.key == "case")
    tries = 0
    for size in range(len(free) + 1):
        for extra in itertools.combinations(free, size):
            tries += 1
            if tries > MAX_TRIES:
                return Prospect(False, conclusive=False)
            steps = (*helps, *extra)
            if not steps:
                continue
            if _cured(rule, ground.key, case, steps, now, calendar):
                return Prospect(False, needs=steps)
    return Prospect(True)


def _cured(rule: CoreRule, key: str, case: Case, steps: tuple[str, ...], now: dt.date, calendar: Calendar) -> bool:
    future_case, added = hypothetical(case, steps)
    reader = SpanReader(future_case, calendar, now)
    added_keys = set(added)
    matched = [
        g for g in ground_rule(rule, future_case)
        if g.key == key or (key == "case" and g.subject is not None and g.subject.key in added_keys)
    ]  # fmt: skip
    return all(can_hold(g, reader) for g in matched)


def _polarities(
    rule: CoreRule, dependencies: frozenset[str], present: set[str], case_level: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split the rule's steps into those whose later occurrence can only help a failing finding
    (always assumed), and those that may help or hurt (searched both ways).

    The ground formula is monotone in Kleene's information order, so a leaf that is unknown
    without the step never turns a definite failure into success; a leaf that is a definite
    failure without the step (a `missing: violated` policy, an `exists`) only gains from it.
    """
    labels: dict[str, set[str]] = {step: set() for step in dependencies}
    _label(rule.check, True, present, labels)
    if rule.when is not None:
        # Under a guard the finding is "not applicable or holds": the guard counts negated.
        _label(rule.when, False, present, labels)
    if case_level and rule.subject is not None and rule.subject not in present:
        labels.setdefault(rule.subject, set()).add(_policy_label(rule.missing_subject, True))
    helps, free = [], []
    for step in sorted(labels):
        found = labels[step]
        if found and found <= {"up"}:
            helps.append(step)
        elif found - {"none", "down"}:
            free.append(step)
    return tuple(helps), tuple(free)


def _policy_label(policy: str, positive: bool) -> str:
    if policy == "violated":
        return "up" if positive else "down"
    if policy == "satisfied":
        return "down" if positive else "up"
    if policy == "unknown":
        return "none"
    return "free"  # not_applicable: the part appears or disappears


def _label(check: Check, positive: bool, present: set[str], labels: dict[str, set[str]]) -> None:
    def add(step: str, label: str) -> None:
        labels.setdefault(step, set()).add(label)

    if isinstance(check, DateAtom):
        _label_dates(check, positive, present, add)
    elif isinstance(check, ExistsAtom):
        add(check.step, "up" if positive else "down")
        for step in (check.where.steps() if check.where is not None else set()) - {check.step}:
            add(step, "free")
    elif isinstance(check, ValueAtom):
        for step in check.expr.steps():
            add(step, "free")
    elif isinstance(check, AllOf | AnyOf):
        for part in check.parts:
            _label(part, positive, present, labels)
    elif isinstance(check, NotOf):
        _label(check.part, not positive, present, labels)
    elif isinstance(check, IfThen):
        # The condition counts both ways: it selects a branch.
        _label(check.cond, positive, present, labels)
        _label(check.cond, not positive, present, labels)
        _label(check.then, positive, present, labels)
        if check.otherwise is not None:
            _label(check.otherwise, positive, present, labels)
    elif isinstance(check, OrderCheck):
        for ref in check.refs:
            add(ref.step, "free")


def _label_dates(check: DateAtom, positive: bool, present: set[str], add: Any) -> None:
    sides = [(check.subject.step, check.missing_subject)]
    sides += [(ref.step, check.missing_term) for ref in term_refs(check.term)]
    for step, policy in sides:
        if step in present:
            # A later occurrence leaves first-occurrence dates as they are and only moves
            # `@last` ones later: never assumed to help.
            add(step, "none")
        else:
            add(step, _policy_label(policy, positive))


# --- windows of steps to come ---------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When a step not recorded yet may happen under one rule: from `earliest` to `latest`."""

    rule: CoreRule
    step: str
    part: str  # which date of the step the bounds are on: date, start or end
    earliest: str | None
    latest: str | None
    finding: Finding  # the rule's judgement of the hypothetical step (status unknown: no date yet)


def windows(
    rule: CoreRule,
    case: Case,
    calendar: Calendar,
    lang: str,
    step_names: dict[str, str],
    reader: DateReader | None = None,
) -> list[Window]:
    """The window the rule sets for its judged step, when that step has not happened yet.

    The rule is grounded with a hypothetical, undated occurrence; the evaluator then reports
    the bounds that occurrence is compared with, i.e. the compliant window (calendar-shifted,
    holidays rolled over) without this module counting a single day.
    """
    if rule.subject is None or case.has(rule.subject) or not may_bound_from_above(rule):
        return []
    future_case, added = hypothetical(case, [rule.subject])
    # The case's own reader serves: the hypothetical occurrence has no date to read.
    reader = reader or DateReader(case, calendar)
    result = []
    for ground in ground_rule(rule, future_case):
        if ground.subject is None or ground.subject.key not in added or ground.formula is None:
            continue
        finding = judge(ground, reader, lang, step_names)
        if finding.status != "unknown" or not (finding.earliest or finding.latest):
            continue  # decided without the step's date (or no date bound): not a window
        part = _judged_part(ground.formula, ground.subject.key)
        result.append(Window(rule, rule.subject, part, finding.earliest, finding.latest, finding))
    return result


_UPPER = {"<", "<=", "=="}
_LOWER = {">", ">=", "=="}
_bounded_above: dict[int, tuple[CoreRule, bool]] = {}  # by id; the rule is kept so its id stays its own


def may_bound_from_above(rule: CoreRule) -> bool:
    """Whether the rule can set a last day for its judged step (a deadline), read off its atoms once.

    Most rules only say "not before"; skipping them keeps deadline questions cheap.
    """
    cached = _bounded_above.get(id(rule))
    if cached is not None and cached[0] is rule:
        return cached[1]
    known = False
    if not isinstance(rule.check, OrderCheck):
        for node in (*walk(rule.check), *walk(rule.when)):
            if isinstance(node, NotOf):
                known = True  # a negated comparison flips its direction: assume it may
            elif isinstance(node, DateAtom):
                subject_side = node.subject.step == rule.subject and node.op in _UPPER
                term_side = node.op in _LOWER and any(r.step == rule.subject for r in term_refs(node.term))
                known = known or subject_side or term_side
    _bounded_above[id(rule)] = (rule, known)
    return known


def _judged_part(formula: Formula | None, key: str) -> str:
    """The date of the judged occurrence a formula bounds first (as the evaluator's bounds pick it)."""
    if isinstance(formula, Compare):
        if isinstance(formula.left, EventDate) and formula.left.key == key:
            return formula.left.part
    elif isinstance(formula, And | Or):
        for part in formula.parts:
            found = _judged_part(part, key)
            if found:
                return found
    elif isinstance(formula, Not):
        return _judged_part(formula.part, key)
    return ""
