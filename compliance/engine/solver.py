"""Ground formulas → z3, over integer day variables.

The audit engine grounds every rule into a formula over event dates
(`compliance.engine.ground`); this module reads the very same formulas with the open
dates as z3 unknowns. It adds no rule semantics of its own: comparisons, Kleene logic and
the guard are read exactly as `compliance.engine.evaluate` reads them, and every calendar
operation is a lookup table built from `compliance.calendar` (`daytables`).

A finding is *violated* when its guard is not definitely false and its formula is
definitely false (`evaluate.judge`). Formulas are three-valued (a `Truth(UNKNOWN)` left by
missing data), so each is encoded as a pair of z3 booleans: "definitely true" and
"definitely false". The planner's constraint for a finding is "not violated".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import z3

from compliance.engine.daytables import DayTables
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
    date_leaves,
)
from compliance.rules.expr import UNKNOWN

UNITS = ("days", "working_days", "calendar_days")


class EncodingError(ValueError):
    """A ground formula the translator cannot read: never dropped silently."""


class SolverGaveUp(RuntimeError):
    """z3 answered `unknown`: never read as either answer."""


def make_solver() -> z3.Solver:
    """A solver for these problems: linear integer arithmetic, no quantifiers.

    z3's automatic configuration sometimes takes these formulas for difference logic, whose
    solver then gives up on the calendar tables' if-then-else terms ("incomplete (theory
    difference-logic)"); without it z3 uses its general arithmetic solver, which decides them.
    """
    solver = z3.Solver()
    solver.set("auto_config", False)
    return solver


def is_sat(solver: z3.Solver, *assumptions: z3.BoolRef) -> bool:
    result = solver.check(*assumptions)
    if result == z3.unknown:
        raise SolverGaveUp(solver.reason_unknown())
    return result == z3.sat


@dataclass(frozen=True)
class Tri:
    """A three-valued formula: `true` when it definitely holds, `false` when it definitely fails."""

    true: z3.BoolRef
    false: z3.BoolRef


@dataclass(frozen=True)
class Bounded:
    """A z3 day term and the day-index interval it is known to lie in (for table lookups)."""

    term: z3.ArithRef
    low: int
    high: int


def _compare(left: z3.ArithRef, op: str, right: z3.ArithRef) -> z3.BoolRef:
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == "==":
        return left == right
    if op == ">=":
        return left >= right
    if op == ">":
        return left > right
    raise EncodingError(f"unknown comparison {op!r}")


def _min(items: list[Bounded]) -> Bounded:
    term = items[0].term
    for item in items[1:]:
        term = z3.If(item.term < term, item.term, term)
    return Bounded(term, min(i.low for i in items), min(i.high for i in items))


def _max(items: list[Bounded]) -> Bounded:
    term = items[0].term
    for item in items[1:]:
        term = z3.If(item.term > term, item.term, term)
    return Bounded(term, max(i.low for i in items), max(i.high for i in items))


class FormulaEncoder:
    """Translates ground date expressions and formulas for one problem.

    `lookup` gives the z3 term of an event date (a variable, or a constant); `constant`
    may map a fixed date to something else (the rule-pack analysis uses it for dates held
    in step data, which it leaves to the solver to choose).
    """

    def __init__(
        self,
        tables: DayTables,
        lookup: Callable[[EventDate], Bounded],
        constant: Callable[[dt.date], Bounded] | None = None,
    ) -> None:
        self.tables = tables
        self.lookup = lookup
        self.constant = constant or self._constant
        self._dates: dict[DateExpr, Bounded] = {}

    def _constant(self, day: dt.date) -> Bounded:
        index = self.tables.index.of(day)
        return Bounded(z3.IntVal(index), index, index)

    def date(self, expr: DateExpr) -> Bounded:
        cached = self._dates.get(expr)
        if cached is None:
            cached = self._dates[expr] = self._date(expr)
        return cached

    def _date(self, expr: DateExpr) -> Bounded:
        if isinstance(expr, EventDate):
            return self.lookup(expr)
        if isinstance(expr, ConstDate):
            return self.constant(expr.date)
        if isinstance(expr, ShiftOf):
            if expr.unit not in UNITS or expr.sign not in (1, -1) or expr.n < 0:
                raise EncodingError(f"cannot encode shift {expr!r}")
            base = self.date(expr.base)
            term = self.tables.shift_term(base.term, expr.n, expr.unit, expr.sign, base.low, base.high)
            low, high = self.tables.shift_image(expr.n, expr.unit, expr.sign, base.low, base.high)
            return Bounded(term, low, high)
        if isinstance(expr, Earliest | Latest):
            if not expr.items:
                raise EncodingError("first/last occurrence of nothing")
            items = [self.date(i) for i in expr.items]
            return _min(items) if isinstance(expr, Earliest) else _max(items)
        raise EncodingError(f"cannot encode date expression {expr!r}")

    def formula(self, formula: Formula) -> Tri:
        if isinstance(formula, Truth):
            if formula.value is UNKNOWN:
                return Tri(z3.BoolVal(False), z3.BoolVal(False))
            if formula.value is True or formula.value is False:
                return Tri(z3.BoolVal(formula.value), z3.BoolVal(not formula.value))
            raise EncodingError(f"truth value {formula.value!r} is neither true, false nor unknown")
        if isinstance(formula, Compare):
            holds = _compare(self.date(formula.left).term, formula.op, self.date(formula.right).term)
            return Tri(holds, z3.Not(holds))
        if isinstance(formula, And | Or):
            if not formula.parts:
                raise EncodingError(f"empty {type(formula).__name__}")
            parts = [self.formula(p) for p in formula.parts]
            trues, falses = [p.true for p in parts], [p.false for p in parts]
            if isinstance(formula, And):
                return Tri(z3.And(trues), z3.Or(falses))
            return Tri(z3.Or(trues), z3.And(falses))
        if isinstance(formula, Not):
            inner = self.formula(formula.part)
            return Tri(inner.false, inner.true)
        raise EncodingError(f"cannot encode formula {formula!r}")

    def violated(self, finding: GroundFinding) -> z3.BoolRef:
        """z3 condition under which the audit engine would report this finding violated."""
        if finding.formula is None:  # not applicable, whatever the dates
            return z3.BoolVal(False)
        value = self.formula(finding.formula)
        if finding.guard is None:
            return value.false
        return z3.And(z3.Not(self.formula(finding.guard).false), value.false)

    def holds(self, finding: GroundFinding) -> z3.BoolRef:
        return z3.Not(self.violated(finding))


def constant_dates(formulas: Iterable[Formula | None]) -> list[dt.date]:
    """Fixed dates written in formulas (deadlines such as 31 March), for sizing the horizon."""
    return [leaf.date for f in formulas for leaf in date_leaves(f) if isinstance(leaf, ConstDate)]
