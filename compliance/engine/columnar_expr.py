"""Ground formulas as Polars expressions over a frame whose columns are event dates.

A column `hearing#1|date` holds every case's date of its first hearing. Calendar shifts
are lookups in tables that `compliance.engine.evaluate.shift` (hence compliance/calendar.py,
the only day counting there is) filled for every day of the batch's range: no date
arithmetic happens here. Unknown is null, and Polars' `&`, `|` and `~` on nullable
booleans are Kleene's, as the direct evaluator's and3/or3/not3.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import reduce

import polars as pl

from compliance.calendar import Calendar
from compliance.engine.evaluate import OPS, shift, shift_each
from compliance.engine.ground import (
    And,
    Compare,
    ConstDate,
    DateExpr,
    Earliest,
    EventDate,
    Formula,
    Latest,
    Not,
    Or,
    ShiftOf,
    Truth,
)
from compliance.rules.expr import UNKNOWN

EPOCH = dt.date(1970, 1, 1)
# Status codes in frames: the order of findings.STATUS_ORDER.
NOT_APPLICABLE, SATISFIED, UNKNOWN_CODE, VIOLATED = 0, 1, 2, 3
CODE_STATUS = {NOT_APPLICABLE: "not_applicable", SATISFIED: "satisfied", UNKNOWN_CODE: "unknown", VIOLATED: "violated"}
SHOWN_CODES = (UNKNOWN_CODE, VIOLATED)  # the findings a report shows (without --all)


def column_name(key: str, part: str) -> str:
    return f"{key}|{part}"


@dataclass(frozen=True)
class StepAggregate:
    """The earliest (or latest) `part` over *all* occurrences of a step: a per-case column.

    Grounding spells "the first agreement" as Earliest(agreement#1, …, agreement#m); written
    this way instead, the formula no longer depends on m, so cases with 2 and with 7
    agreements share one expression. Unknown when any occurrence lacks the date, as Earliest is.
    """

    step: str
    part: str
    earliest: bool


def rewrite_aggregates(formula: Formula | None, counts: dict[str, int]) -> Formula | None:
    """Earliest/Latest over every occurrence of one step → StepAggregate (see there)."""
    if formula is None:
        return None

    def date(expr: DateExpr):
        if isinstance(expr, Earliest | Latest):
            items = expr.items
            if all(isinstance(i, EventDate) for i in items):
                steps = {i.key.rsplit("#", 1)[0] for i in items}
                parts = {i.part for i in items}
                if len(steps) == 1 and len(parts) == 1:
                    step, part = steps.pop(), parts.pop()
                    wanted = {f"{step}#{n}" for n in range(1, counts.get(step, 0) + 1)}
                    if {i.key for i in items} == wanted and len(items) == len(wanted):
                        return StepAggregate(step, part, isinstance(expr, Earliest))
            return type(expr)(tuple(date(i) for i in items))
        if isinstance(expr, ShiftOf):
            return ShiftOf(date(expr.base), expr.n, expr.unit, expr.sign)
        return expr

    def truth(node: Formula) -> Formula:
        if isinstance(node, Compare):
            return Compare(date(node.left), node.op, date(node.right), node.atom)
        if isinstance(node, And | Or):
            return type(node)(tuple(truth(p) for p in node.parts))
        if isinstance(node, Not):
            return Not(truth(node.part))
        return node

    return truth(formula)


@dataclass
class ShiftTables:
    """For each shift (n, unit, sign): the shifted day of every day in [low, high]."""

    calendar: Calendar
    low: int = 0  # days since 1970-01-01
    high: int = -1
    tables: dict[tuple[int, str, int], pl.Series] = field(default_factory=dict)

    def cover(self, first: dt.date, last: dt.date) -> None:
        low, high = (first - EPOCH).days, (last - EPOCH).days
        if self.high >= self.low and low >= self.low and high <= self.high:
            return
        if self.high >= self.low:
            low, high = min(low, self.low), max(high, self.high)
        # Whole years and a month beyond: the next chunk's dates then rarely fall outside, and a
        # change of range rebuilds every table and recompiles every plan that looks them up.
        first_day = dt.date((EPOCH + dt.timedelta(days=low)).year, 1, 1)
        last_day = dt.date((EPOCH + dt.timedelta(days=high)).year, 12, 31)
        self.low, self.high, self.tables = (first_day - EPOCH).days - 31, (last_day - EPOCH).days + 31, {}

    def table(self, n: int, unit: str, sign: int) -> pl.Series:
        spec = (n, unit, sign)
        if spec not in self.tables:
            first, last = EPOCH + dt.timedelta(days=self.low), EPOCH + dt.timedelta(days=self.high)
            shifted = [(day - EPOCH).days for day in shift_each(self.calendar, first, last, n, unit, sign)]
            self.tables[spec] = pl.Series(shifted, dtype=pl.Int32)
        return self.tables[spec]

    def lookup(self, base: pl.Expr, n: int, unit: str, sign: int) -> pl.Expr:
        table = self.table(n, unit, sign)
        return pl.lit(table).gather(base.cast(pl.Int32) - self.low).cast(pl.Date)


def const_dates(slots: list[tuple[Formula | None, Formula | None]]) -> list[dt.date]:
    """Every fixed date in the findings' formulas, in the order `ExprBuilder` meets them.

    Dates read from step data (a committee's notice date, an appraisal's valuation date)
    differ from case to case; lifting them into columns lets cases whose formulas differ
    only there share one expression.
    """
    found: list[dt.date] = []

    def date(expr: DateExpr) -> None:
        if isinstance(expr, ConstDate):
            found.append(expr.date)
        elif isinstance(expr, ShiftOf):
            date(expr.base)
        elif isinstance(expr, Earliest | Latest):
            for item in expr.items:
                date(item)

    def truth(formula: Formula) -> None:
        if isinstance(formula, Compare):
            date(formula.left)
            date(formula.right)
        elif isinstance(formula, And | Or):
            for part in formula.parts:
                truth(part)
        elif isinstance(formula, Not):
            truth(formula.part)

    for formula, guard in slots:
        if formula is not None:
            truth(formula)
            if guard is not None:
                truth(guard)
    return found


CONST = "__const"


class ExprBuilder:
    """Builds expressions; with `lift_constants`, the i-th fixed date met is read from column `__const{i}`."""

    def __init__(self, columns: set[str], shifts: ShiftTables, lift_constants: bool = False) -> None:
        self.columns = columns
        self.shifts = shifts
        self.lift = lift_constants
        self.consts = 0
        self.prefix = CONST
        self.column_list: list[str] = sorted(columns)
        self._occurrences: dict[tuple[str, str], list[str]] = {}

    def date(self, expr: DateExpr) -> pl.Expr:
        if isinstance(expr, EventDate):
            name = column_name(expr.key, expr.part)
            return pl.col(name) if name in self.columns else pl.lit(None, pl.Date)
        if isinstance(expr, StepAggregate):
            # Every occurrence of a step has the same kind, so a part is either present for all of them or
            # for none: ignoring the nulls of occurrences a case does not have loses nothing.
            items = [pl.col(c) for c in self.occurrence_columns(expr.step, expr.part)]
            if not items:
                return pl.lit(None, pl.Date)
            return pl.min_horizontal(items) if expr.earliest else pl.max_horizontal(items)
        if isinstance(expr, ConstDate):
            if self.lift:
                self.consts += 1
                return pl.col(f"{self.prefix}{self.consts - 1}")
            return pl.lit(expr.date, pl.Date)
        if isinstance(expr, ShiftOf):
            if isinstance(expr.base, ConstDate) and not self.lift:  # a fixed date: shift it once, here
                return pl.lit(shift(self.shifts.calendar, expr.base.date, expr.n, expr.unit, expr.sign).date, pl.Date)
            return self.shifts.lookup(self.date(expr.base), expr.n, expr.unit, expr.sign)
        if isinstance(expr, Earliest | Latest):
            items = [self.date(i) for i in expr.items]
            # Like DateReader: one missing date makes the aggregate unknown.
            combined = pl.min_horizontal(items) if isinstance(expr, Earliest) else pl.max_horizontal(items)
            return pl.when(pl.any_horizontal([i.is_null() for i in items])).then(None).otherwise(combined)
        raise TypeError(expr)

    def truth(self, formula: Formula) -> pl.Expr:
        if isinstance(formula, Truth):
            value = None if formula.value is UNKNOWN else bool(formula.value)
            return pl.lit(value, pl.Boolean)
        if isinstance(formula, Compare):
            return OPS[formula.op](self.date(formula.left), self.date(formula.right))
        if isinstance(formula, And):
            return reduce(lambda a, b: a & b, [self.truth(p) for p in formula.parts])
        if isinstance(formula, Or):
            return reduce(lambda a, b: a | b, [self.truth(p) for p in formula.parts])
        if isinstance(formula, Not):
            return ~self.truth(formula.part)
        raise TypeError(formula)

    def occurrence_columns(self, step: str, part: str) -> list[str]:
        found = self._occurrences.get((step, part))
        if found is None:
            numbers = sorted(
                int(c.split("|")[0].rsplit("#", 1)[1])
                for c in self.column_list
                if c.startswith(step + "#") and c.endswith("|" + part) and c.split("#")[0] == step
            )
            found = self._occurrences[(step, part)] = [f"{step}#{n}|{part}" for n in numbers]
        return found

    def count(self, step: str) -> pl.Expr:
        """How often the step occurs in each case: its occurrences with a date (or a start)."""
        present = [pl.col(c).is_not_null() for part in ("date", "start") for c in self.occurrence_columns(step, part)]
        return pl.sum_horizontal(present).cast(pl.UInt32) if present else pl.lit(0, pl.UInt32)

    def statuses(self, slots: list[tuple[Formula | None, Formula | None]], prefix: str = CONST) -> list[pl.Expr]:
        """Status expressions of (formula, guard) pairs, fixed dates read from columns `{prefix}0`, `{prefix}1`, …"""
        self.consts, self.prefix = 0, prefix
        return [self.status(formula, guard) for formula, guard in slots]

    def status(self, formula: Formula | None, guard: Formula | None) -> pl.Expr:
        """A finding's status code, as `judge` decides it."""
        if formula is None:
            return pl.lit(NOT_APPLICABLE, pl.Int8)
        value = self.truth(formula)
        status = pl.when(value.is_null()).then(UNKNOWN_CODE).when(value).then(SATISFIED).otherwise(VIOLATED)
        if guard is not None:
            guarded = self.truth(guard)
            status = pl.when(guarded.is_not_null() & ~guarded).then(NOT_APPLICABLE).otherwise(status)
        return status.cast(pl.Int8)


def date_range_of(frame: pl.DataFrame, columns: list[str]) -> tuple[dt.date, dt.date] | None:
    if not columns or frame.height == 0:
        return None
    row = frame.select(
        pl.min_horizontal([pl.col(c).min() for c in columns]).alias("lo"),
        pl.max_horizontal([pl.col(c).max() for c in columns]).alias("hi"),
    ).row(0)
    return None if row[0] is None else (row[0], row[1])
