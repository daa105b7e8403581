"""The calendar tables inside z3 are the calendar itself: every lookup agrees with compliance.calendar."""

from __future__ import annotations

import datetime as dt

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.daytables import EPOCH, DayTables, compress
from compliance.engine.evaluate import shift

TABLES = DayTables(DEFAULT_CALENDAR)
# 2024-2026 are published; 2027 is not (weekends only, provisional), so the range crosses into it.
DAYS = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 6, 30))
SHIFTS = st.tuples(
    st.integers(min_value=0, max_value=40),
    st.sampled_from(["days", "working_days", "calendar_days"]),
    st.sampled_from([1, -1]),
)
LOW, HIGH = EPOCH.of(dt.date(2024, 1, 1)), EPOCH.of(dt.date(2027, 6, 30))


def lookup(day: dt.date, n: int, unit: str, sign: int, calendar: Calendar = DEFAULT_CALENDAR) -> dt.date:
    term = DayTables(calendar).shift_term(z3.IntVal(EPOCH.of(day)), n, unit, sign, LOW, HIGH)
    return EPOCH.day(z3.simplify(term).as_long())  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(DAYS, SHIFTS)
def test_a_shift_looked_up_in_z3_equals_the_calendar_shift(day: dt.date, spec: tuple[int, str, int]):
    n, unit, sign = spec
    assert lookup(day, n, unit, sign) == shift(DEFAULT_CALENDAR, day, n, unit, sign).date


@settings(max_examples=300, deadline=None)
@given(DAYS)
def test_the_working_day_predicate_in_z3_equals_the_calendar(day: dt.date):
    predicate = TABLES.is_workday(z3.IntVal(EPOCH.of(day)), LOW, HIGH)
    assert z3.is_true(z3.simplify(predicate)) == DEFAULT_CALENDAR.is_workday(day)


def test_the_tenth_working_day_across_national_day_2025_counts_the_adjusted_saturday():
    # 09-28 (Sunday) and 10-11 (Saturday) are 调休 working days; 10-01..10-08 are off.
    assert lookup(dt.date(2025, 9, 26), 10, "working_days", 1) == dt.date(2025, 10, 16)


def test_thirty_days_landing_on_labour_day_roll_to_the_next_working_day():
    assert lookup(dt.date(2025, 4, 1), 30, "days", 1) == dt.date(2025, 5, 6)


def test_two_working_days_before_a_monday_after_a_holiday_is_the_previous_week():
    # Monday 2025-10-13: counting back, Saturday 10-11 (调休) is one, Friday 10-10 is two.
    assert lookup(dt.date(2025, 10, 13), 2, "working_days", -1) == dt.date(2025, 10, 10)


def test_holiday_rollover_only_calendar_gives_other_tables():
    # A plain Sunday ends a period only on the next Monday when weekends count as rest days.
    sunday = dt.date(2025, 3, 2)
    assert lookup(sunday, 0, "days", 1) == dt.date(2025, 3, 3)
    assert lookup(sunday, 0, "days", 1, Calendar(weekend_rollover=False)) == sunday


@given(st.lists(st.integers(min_value=-5, max_value=5), min_size=1, max_size=60), st.integers(-100, 100))
def test_compressed_pieces_reproduce_any_table(steps: list[int], first: int):
    images = [first]
    for step in steps[1:]:
        images.append(images[-1] + step)
    pieces = compress(first, images)
    for i, image in enumerate(images):
        x = first + i
        piece = next(p for p in reversed(pieces) if p.start <= x)
        assert (x + piece.value if piece.kind == "offset" else piece.value) == image
