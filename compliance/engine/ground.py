"""Grounding: a core rule applied to one case becomes findings whose formulas speak only of
event dates.

Everything that does not depend on dates — which steps occur, facts, step data, ratios —
is decided here, once. What remains is a small formula over `EventDate` leaves, fixed
dates and calendar shifts. The direct evaluator reads it with the case's dates; the z3
planner reads the very same formula with the dates as unknowns. That is what makes the
engines agree by construction rather than by hope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from compliance.model import Case, Occurrence
from compliance.rules import expr as expressions
from compliance.rules.core import (
    AllOf,
    AnyOf,
    Check,
    ConstAtom,
    ContainsAtom,
    CoreRule,
    DateAtom,
    ExistsAtom,
    Fixed,
    IfThen,
    NotOf,
    OrderCheck,
    Ref,
    Shift,
    Term,
    ValueAtom,
    Yearly,
)
from compliance.rules.expr import UNKNOWN

# --- ground formulas ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventDate:
    key: str  # "hearing#1"
    part: str  # date | start | end


@dataclass(frozen=True)
class ConstDate:
    date: dt.date


@dataclass(frozen=True)
class ShiftOf:
    base: DateExpr
    n: int
    unit: str
    sign: int


@dataclass(frozen=True)
class Earliest:
    items: tuple[DateExpr, ...]


@dataclass(frozen=True)
class Latest:
    items: tuple[DateExpr, ...]


DateExpr = EventDate | ConstDate | ShiftOf | Earliest | Latest


@dataclass(frozen=True)
class Compare:
    left: DateExpr
    op: str
    right: DateExpr
    atom: DateAtom | None = None  # where it came from, for explanations


@dataclass(frozen=True)
class Truth:
    value: Any  # True | False | UNKNOWN
    reason: str = ""


@dataclass(frozen=True)
class And:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Not:
    part: Formula


Formula = Compare | Truth | And | Or | Not


@dataclass
class GroundFinding:
    rule: CoreRule
    key: str  # what this finding judges: an event key, a pair "a#1>b#1", or "case"
    events: list[str]
    formula: Formula | None  # None when not applicable
    guard: Formula | None = None  # the rule's `when`, if it depends on dates
    subject: Occurrence | None = None
    note: str = ""
    order_pair: tuple[str, str] | None = None


TYPE_MISMATCH = "数据类型不符"


class _NotApplicable(Exception):
    pass


# --- grounding ----------------------------------------------------------------------------


def ground_rule(rule: CoreRule, case: Case) -> list[GroundFinding]:
    """All findings of one rule for one case (none when the rule is for another procedure)."""
    if rule.procedures and case.procedure not in rule.procedures:
        return []
    guard = None
    when_events: list[str] = []  # what made the rule apply, shown on case-level findings
    if rule.when is not None:
        when_context = _Context(case, rule, None)
        try:
            guard = _ground(rule.when, when_context)
            when_events = list(dict.fromkeys(when_context.events))
        except _NotApplicable:
            guard = Truth(False)
        guard = simplify(guard)
        if isinstance(guard, Truth):
            if guard.value is UNKNOWN:
                if TYPE_MISMATCH in guard.reason:  # bad data is never a reason to skip a rule
                    return [GroundFinding(rule, "case", [], Truth(UNKNOWN, guard.reason))]
                if rule.when_unknown == "not_applicable":
                    return [GroundFinding(rule, "case", [], None, note="条件所需数据缺失")]
                return [GroundFinding(rule, "case", [], Truth(UNKNOWN if rule.when_unknown == "unknown" else False,
                                                               "条件所需数据缺失"))]  # fmt: skip
            if guard.value is False:
                return [GroundFinding(rule, "case", [], None)]
            guard = None
    if isinstance(rule.check, OrderCheck):
        return _ground_order(rule, rule.check, case, guard)
    occurrences = case.occurrences(rule.subject) if rule.subject else ()
    if rule.subject is not None and not occurrences:
        if rule.missing_subject == "not_applicable":
            return [GroundFinding(rule, "case", [], None, note=f"{rule.subject} 未发生")]
        value = {"violated": False, "unknown": UNKNOWN, "satisfied": True}[rule.missing_subject]
        return [GroundFinding(rule, "case", when_events, Truth(value, f"missing:{rule.subject}"), guard=guard)]
    if rule.subject is None:
        finding = _finding(rule, case, None, guard)
        finding.events = list(dict.fromkeys(when_events + finding.events))
        return [finding]
    return [_finding(rule, case, occurrence, guard) for occurrence in occurrences]


def _finding(rule: CoreRule, case: Case, subject: Occurrence | None, guard: Formula | None) -> GroundFinding:
    context = _Context(case, rule, subject)
    key = subject.key if subject else "case"
    try:
        formula = simplify(_ground(rule.check, context))
    except _NotApplicable:
        return GroundFinding(rule, key, [subject.key] if subject else [], None, subject=subject)
    events = list(dict.fromkeys(([subject.key] if subject else []) + context.events))
    return GroundFinding(rule, key, events, formula, guard=guard, subject=subject)


def _ground_order(rule: CoreRule, check: OrderCheck, case: Case, guard: Formula | None) -> list[GroundFinding]:
    present = [ref for ref in check.refs if case.has(ref.step)]
    findings = []
    for earlier, later in pairwise(present):
        for occurrence in case.occurrences(later.step):
            context = _Context(case, rule, None)
            left = _part_of(occurrence, later, context)
            right = _aggregate(earlier, context)
            atom = DateAtom(later, ">=", earlier)
            formula = Compare(left, ">=", right, atom)
            firsts = [o.key for o in case.occurrences(earlier.step)]
            findings.append(
                GroundFinding(
                    rule,
                    f"{firsts[0]}<={occurrence.key}",
                    [firsts[0], occurrence.key],
                    formula,
                    guard=guard,
                    subject=occurrence,
                    order_pair=(earlier.step, later.step),
                )
            )
    if not findings:
        return [GroundFinding(rule, "case", [], None, note="少于两个相关步骤")]
    return findings


@dataclass
class _Context:
    case: Case
    rule: CoreRule
    subject: Occurrence | None
    events: list[str] = field(default_factory=list)

    def occurrence_data(self, step: str) -> list[dict[str, Any]]:
        return [dict(o.data) for o in sorted(self.case.occurrences(step), key=_sort_key)]

    def scope(self, occurrence: Occurrence | None) -> expressions.Scope:
        if occurrence is None:
            return expressions.Scope(self.case.facts, None, self.occurrence_data)
        own = {"actor": occurrence.actor, "ref": occurrence.ref, "step": occurrence.step}
        return expressions.Scope(self.case.facts, dict(occurrence.data), self.occurrence_data, own)


def _sort_key(o: Occurrence) -> tuple:
    anchor = o.anchor_date
    return (anchor is None, anchor or dt.date.min, o.position)


def _policy(policy: str, reason: str) -> Truth:
    if policy == "not_applicable":
        raise _NotApplicable(reason)
    return Truth({"violated": False, "unknown": UNKNOWN, "satisfied": True}[policy], reason)


def _ground(check: Check, ctx: _Context) -> Formula:  # noqa: C901 - one dispatch over node kinds
    if isinstance(check, DateAtom):
        try:
            left = _date_of(check.subject, ctx)
        except _Missing as missing:
            if ctx.subject is not None and check.subject.step == ctx.subject.step:
                # The judged event happened but the date it should carry is not recorded.
                return Truth(UNKNOWN, f"missing:{missing.step}")
            return _policy(check.missing_subject, f"missing:{missing.step}")
        try:
            right = _term(check.term, ctx)
        except _Missing as missing:
            return _policy(check.missing_term, f"missing:{missing.step}")
        return Compare(left, check.op, right, check)
    if isinstance(check, ValueAtom):
        try:
            value = expressions.evaluate(check.expr, ctx.scope(ctx.subject))
        except expressions.ExprError as exc:
            # A fact or datum of the wrong kind (text where a number is compared): the case
            # cannot be judged on this rule, and the message says which value is at fault.
            return Truth(UNKNOWN, f"{TYPE_MISMATCH}（{check.expr.source}）: {exc}")
        if value is UNKNOWN:
            return _policy(check.missing, f"unknown:{check.expr.source}") if check.missing != "unknown" else Truth(
                UNKNOWN, f"数据缺失: {check.expr.source}"
            )
        return Truth(bool(value), check.expr.source)
    if isinstance(check, ExistsAtom):
        matches, undecided = [], []
        for occurrence in ctx.case.occurrences(check.step):
            if check.where is None:
                matches.append(occurrence)
                continue
            try:
                ok = expressions.evaluate(check.where, ctx.scope(occurrence))
            except expressions.ExprError:
                ok = UNKNOWN
            if ok is UNKNOWN:
                undecided.append(occurrence)
            elif ok:
                matches.append(occurrence)
        candidates = ctx.case.occurrences(check.step)
        ctx.events.extend(o.key for o in matches or undecided or candidates)
        if matches:
            return Truth(True, f"exists:{check.step}")
        if undecided:
            return Truth(UNKNOWN, f"{check.step} 的数据不足以判断: {check.where.source if check.where else ''}")
        if candidates and check.where is not None:
            return Truth(False, f"{check.step} 不满足条件: {check.where.source}")
        return Truth(False, f"missing:{check.step}")
    if isinstance(check, ContainsAtom):
        if ctx.subject is None:
            raise _NotApplicable("contains without a subject")
        value = ctx.subject.data.get(check.field)
        if not isinstance(value, list):
            return Truth(False, f"缺少 {check.field}")
        missing = [item for item in check.items if item not in [str(v) for v in value]]
        return Truth(not missing, "缺少: " + "、".join(missing) if missing else "")
    if isinstance(check, ConstAtom):
        return Truth(check.value, check.reason)
    if isinstance(check, AllOf | AnyOf):
        # A part that does not apply (an `if` without `else` whose condition is false, a
        # reference with a not_applicable policy) is left out; if none applies, neither does the whole.
        parts = []
        for part in check.parts:
            try:
                parts.append(_ground(part, ctx))
            except _NotApplicable:
                continue
        if not parts:
            raise _NotApplicable("no part applies")
        return And(tuple(parts)) if isinstance(check, AllOf) else Or(tuple(parts))
    if isinstance(check, NotOf):
        return Not(_ground(check.part, ctx))
    if isinstance(check, IfThen):
        cond = simplify(_ground(check.cond, ctx))
        if isinstance(cond, Truth) and cond.value is not UNKNOWN:
            if cond.value:
                return _ground(check.then, ctx)
            if check.otherwise is None:
                raise _NotApplicable("condition does not hold")
            return _ground(check.otherwise, ctx)
        then = _ground(check.then, ctx)
        otherwise = _ground(check.otherwise, ctx) if check.otherwise is not None else Truth(True)
        return Or((And((cond, then)), And((Not(cond), otherwise))))
    if isinstance(check, OrderCheck):
        raise ValueError("order chains are judged at rule level, not nested")
    raise TypeError(f"unknown check {check!r}")


class _Missing(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def _date_of(ref: Ref, ctx: _Context) -> DateExpr:
    if ctx.subject is not None and ref.step == ctx.subject.step:
        return _part_of(ctx.subject, ref, ctx)
    return _aggregate(ref, ctx)


def _aggregate(ref: Ref, ctx: _Context) -> DateExpr:
    occurrences = ctx.case.occurrences(ref.step)
    if ref.where is not None:  # only the occurrences whose data satisfy the condition count
        occurrences = tuple(o for o in occurrences if _satisfies(ref.where, o, ctx))
    if not occurrences:
        raise _Missing(ref.step)
    if ref.part == "data":
        chosen = sorted(occurrences, key=_sort_key)
        return _part_of(chosen[-1] if ref.last else chosen[0], ref, ctx)
    items = tuple(_part_of(o, ref, ctx) for o in occurrences)
    if len(items) == 1:
        return items[0]
    return Latest(items) if ref.last else Earliest(items)


def _satisfies(where: expressions.Expression, occurrence: Occurrence, ctx: _Context) -> bool:
    try:
        value = expressions.evaluate(where, ctx.scope(occurrence))
    except expressions.ExprError:
        return False
    return value is not UNKNOWN and bool(value)


def _part_of(occurrence: Occurrence, ref: Ref, ctx: _Context) -> DateExpr:
    ctx.events.append(occurrence.key)
    if ref.part == "data":
        value = occurrence.data.get(ref.data_field or "")
        if isinstance(value, dt.date):
            return ConstDate(value)
        if isinstance(value, str):
            try:
                return ConstDate(dt.date.fromisoformat(value))
            except ValueError:
                pass
        raise _Missing(f"{occurrence.step}.data.{ref.data_field}")
    return EventDate(occurrence.key, ref.part)


def _term(term: Term, ctx: _Context) -> DateExpr:
    if isinstance(term, Ref):
        return _date_of(term, ctx)
    if isinstance(term, Shift):
        return ShiftOf(_date_of(term.ref, ctx), term.n, term.unit, term.sign)
    if isinstance(term, Fixed):
        return ConstDate(term.date)
    if isinstance(term, Yearly):
        occurrences = sorted(ctx.case.occurrences(term.year_ref.step), key=_sort_key)
        if not occurrences:
            raise _Missing(term.year_ref.step)
        target = occurrences[-1] if term.year_ref.last else occurrences[0]
        if ctx.subject is not None and term.year_ref.step == ctx.subject.step:
            target = ctx.subject
        year = target.data.get(term.year_ref.data_field or "")
        try:
            return ConstDate(dt.date(int(year) + term.offset, term.month, term.day))
        except (TypeError, ValueError):
            raise _Missing(f"{term.year_ref.step}.data.{term.year_ref.data_field}") from None
    raise TypeError(f"unknown term {term!r}")


# --- reading formulas -----------------------------------------------------------------------


def date_leaves(formula: Formula | None) -> Iterator[EventDate | ConstDate]:
    """The event dates and fixed dates a formula reads, in order."""

    def dates(expr: DateExpr) -> Iterator[EventDate | ConstDate]:
        if isinstance(expr, EventDate | ConstDate):
            yield expr
        elif isinstance(expr, ShiftOf):
            yield from dates(expr.base)
        elif isinstance(expr, Earliest | Latest):
            for item in expr.items:
                yield from dates(item)

    if isinstance(formula, Compare):
        yield from dates(formula.left)
        yield from dates(formula.right)
    elif isinstance(formula, And | Or):
        for part in formula.parts:
            yield from date_leaves(part)
    elif isinstance(formula, Not):
        yield from date_leaves(formula.part)


def event_dates(*formulas: Formula | None) -> list[EventDate]:
    """Every event date the formulas read, in order of first appearance."""
    found = {leaf: None for f in formulas for leaf in date_leaves(f) if isinstance(leaf, EventDate)}
    return list(found)


# --- simplification -------------------------------------------------------------------------


def simplify(formula: Formula) -> Formula:
    """Fold constant parts away, so that a formula that does not depend on dates is a Truth."""
    if isinstance(formula, And | Or):
        parts = tuple(simplify(p) for p in formula.parts)
        consts = [p for p in parts if isinstance(p, Truth)]
        rest = tuple(p for p in parts if not isinstance(p, Truth))
        values = [c.value for c in consts]
        if isinstance(formula, And):
            falses = [c for c in consts if c.value is not UNKNOWN and not c.value]
            if falses:
                return falses[0]
            unknown = any(v is UNKNOWN for v in values)
            if not rest:
                return Truth(UNKNOWN if unknown else True, "; ".join(c.reason for c in consts if c.reason))
            keep = rest + ((Truth(UNKNOWN, "数据缺失"),) if unknown else ())
            return keep[0] if len(keep) == 1 else And(keep)
        trues = [c for c in consts if c.value is not UNKNOWN and c.value]
        if trues:
            return trues[0]
        unknown = any(v is UNKNOWN for v in values)
        if not rest:
            # Alternatives that all failed: " | " keeps them apart from the "; " of a conjunction.
            return Truth(UNKNOWN if unknown else False, " | ".join(c.reason for c in consts if c.reason))
        keep = rest + ((Truth(UNKNOWN, "数据缺失"),) if unknown else ())
        return keep[0] if len(keep) == 1 else Or(keep)
    if isinstance(formula, Not):
        inner = simplify(formula.part)
        if isinstance(inner, Truth):
            return Truth(expressions.not3(inner.value), inner.reason)
        return Not(inner)
    return formula
