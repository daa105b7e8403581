"""The translator reads every ground formula or refuses it loudly; unknowns stay unknown."""

from __future__ import annotations

import datetime as dt

import pytest
import z3

from compliance.calendar import DEFAULT_CALENDAR
from compliance.engine.daytables import EPOCH, DayTables
from compliance.engine.ground import And, Compare, ConstDate, EventDate, Not, Or, ShiftOf, Truth
from compliance.engine.solver import Bounded, EncodingError, FormulaEncoder
from compliance.rules.expr import UNKNOWN

HEARING = EventDate("hearing#1", "date")
DAY = z3.Int("hearing")


def encoder() -> FormulaEncoder:
    low, high = EPOCH.of(dt.date(2025, 1, 1)), EPOCH.of(dt.date(2025, 12, 31))

    def lookup(expr: EventDate) -> Bounded:
        if expr != HEARING:
            raise EncodingError(f"no date {expr}")
        return Bounded(DAY, low, high)

    return FormulaEncoder(DayTables(DEFAULT_CALENDAR), lookup)


def decide(formula) -> tuple[bool, bool]:
    """(definitely true, definitely false) with the hearing on 2025-05-07."""
    tri = encoder().formula(formula)
    fix = [(DAY, z3.IntVal(EPOCH.of(dt.date(2025, 5, 7))))]
    true, false = (z3.is_true(z3.simplify(z3.substitute(side, *fix))) for side in (tri.true, tri.false))
    return true, false


def test_an_unknown_truth_is_neither_true_nor_false():
    assert decide(Truth(UNKNOWN, "数据缺失")) == (False, False)


def test_kleene_and_of_false_and_unknown_is_false():
    late = Compare(HEARING, ">", ConstDate(dt.date(2025, 6, 1)))
    assert decide(And((late, Truth(UNKNOWN)))) == (False, True)


def test_kleene_or_of_true_and_unknown_is_true():
    early = Compare(HEARING, "<", ConstDate(dt.date(2025, 6, 1)))
    assert decide(Or((early, Truth(UNKNOWN)))) == (True, False)


def test_not_swaps_true_and_false():
    early = Compare(HEARING, "<", ConstDate(dt.date(2025, 6, 1)))
    assert decide(Not(early)) == (False, True)


def test_a_shift_of_a_fixed_date_compares_on_the_calendar():
    # 2025-05-06 + 20 days is Monday 05-26: the hearing on 05-07 is within it.
    within = Compare(HEARING, "<=", ShiftOf(ConstDate(dt.date(2025, 5, 6)), 20, "days", 1))
    assert decide(within) == (True, False)


@pytest.mark.parametrize(
    "formula",
    [
        Compare(HEARING, "!=", ConstDate(dt.date(2025, 1, 1))),
        Compare(HEARING, "<", ShiftOf(HEARING, 3, "weeks", 1)),
        Compare(EventDate("approval#1", "date"), "<", HEARING),
        Truth("maybe"),
        And(()),
        "not a formula",
    ],
    ids=["unknown operator", "unknown unit", "unknown event", "odd truth", "empty and", "foreign object"],
)
def test_what_cannot_be_encoded_is_an_error(formula):
    with pytest.raises(EncodingError):
        encoder().formula(formula)
