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
from compliance.engine.evaluate import shift
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
)
from compliance.rules.expr import UNKNOWN

EPOCH = dt.date(1970, 1, 1)
# Status codes in frames: the order of findings.STATUS_ORDER.
NOT_APPLICABLE, SATISFIED, UNKNOWN_CODE, VIOLATED = 0, 1, 2, 3
CODE_STATUS = {NOT_APPLICABLE: "not_applicable", SATISFIED: "satisfied", UNKNOWN_CODE: "unknown", VIOLATED: "violated"}


def column_name(key: str, part: str) -> str:
    return f"{key}|{part}"


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
        self.low, self.high, self.tables = low - 31, high + 31, {}

    def table(self, n: int, unit: str, sign: int) -> pl.Series:
        spec = (n, unit, sign)
        if spec not in self.tables:
            days = [EPOCH + dt.timedelta(days=d) for d in range(self.low, self.high + 1)]
            shifted = [(shift(self.calendar, day, n, unit, sign).date - EPOCH).days for day in days]
            self.tables[spec] = pl.Series(shifted, dtype=pl.Int32)
        return self.tables[spec]

    def lookup(self, base: pl.Expr, n: int, unit: str, sign: int) -> pl.Expr:
        table = self.table(n, unit, sign)
        return pl.lit(table).gather(base.cast(pl.Int32) - self.low).cast(pl.Date)


def const_dates(grounds: list[GroundFinding]) -> list[dt.date]:
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

    for ground in grounds:
        if ground.formula is not None:
            truth(ground.formula)
            if ground.guard is not None:
                truth(ground.guard)
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

    def date(self, expr: DateExpr) -> pl.Expr:
        if isinstance(expr, EventDate):
            name = column_name(expr.key, expr.part)
            return pl.col(name) if name in self.columns else pl.lit(None, pl.Date)
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
            left, right = self.date(formula.left), self.date(formula.right)
            return {
                "<": left < right,
                "<=": left <= right,
                "==": left == right,
                ">=": left >= right,
                ">": left > right,
            }[formula.op]
        if isinstance(formula, And):
            return reduce(lambda a, b: a & b, [self.truth(p) for p in formula.parts])
        if isinstance(formula, Or):
            return reduce(lambda a, b: a | b, [self.truth(p) for p in formula.parts])
        if isinstance(formula, Not):
            return ~self.truth(formula.part)
        raise TypeError(formula)

    def statuses(self, grounds: list[GroundFinding], prefix: str = CONST) -> list[pl.Expr]:
        """Status expressions of the findings, fixed dates read from columns `{prefix}0`, `{prefix}1`, …"""
        self.consts, self.prefix = 0, prefix
        return [self.status(g) for g in grounds]

    def status(self, ground: GroundFinding) -> pl.Expr:
        """The finding's status code, as `judge` decides it."""
        if ground.formula is None:
            return pl.lit(NOT_APPLICABLE, pl.Int8)
        value = self.truth(ground.formula)
        status = pl.when(value.is_null()).then(UNKNOWN_CODE).when(value).then(SATISFIED).otherwise(VIOLATED)
        if ground.guard is not None:
            guard = self.truth(ground.guard)
            status = pl.when(guard.is_not_null() & ~guard).then(NOT_APPLICABLE).otherwise(status)
        return status.cast(pl.Int8)


def date_range_of(frame: pl.DataFrame, columns: list[str]) -> tuple[dt.date, dt.date] | None:
    if not columns or frame.height == 0:
        return None
    row = frame.select(
        pl.min_horizontal([pl.col(c).min() for c in columns]).alias("lo"),
        pl.max_horizontal([pl.col(c).max() for c in columns]).alias("hi"),
    ).row(0)
    return None if row[0] is None else (row[0], row[1])
