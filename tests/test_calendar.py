"""Day counting (CASES.md §3): Civil Code arts. 201/203, working days with 调休, user calendars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.calendar import DEFAULT_CALENDAR as CAL
from compliance.calendar import Calendar, CalendarFileError, build_calendar
from compliance.engine.evaluate import shift, shift_each

D = dt.date
# Shifts of up to 60 days must stay inside the years the package knows.
official_days = st.dates(min_value=D(2004, 1, 1), max_value=D(2026, 10, 1))


def test_thirty_day_announcement_from_september_first_runs_through_national_day():
    # CASES.md §3: posted 2026-09-01 for at least 30 days must stay up through 2026-10-08.
    assert CAL.days_after(D(2026, 9, 1), 30).date == D(2026, 10, 8)


def test_last_day_on_a_plain_weekend_rolls_to_monday():
    # 2024-06-01 + 20 days = Friday 2024-06-21; + 22 = Sunday 2024-06-23 → Monday 24th.
    assert CAL.days_after(D(2024, 6, 1), 20).date == D(2024, 6, 21)
    assert CAL.days_after(D(2024, 6, 1), 22).date == D(2024, 6, 24)


def test_last_day_in_spring_festival_rolls_past_the_holiday():
    # 2025 Spring Festival holiday: 2025-01-28 … 2025-02-04.
    assert CAL.days_after(D(2025, 1, 10), 20).date == D(2025, 2, 5)


def test_last_day_on_an_adjusted_working_sunday_does_not_roll():
    # 2024-09-29 is a Sunday worked in exchange for the National Day holiday.
    assert CAL.days_after(D(2024, 9, 19), 10).date == D(2024, 9, 29)


def test_rollover_can_be_limited_to_statutory_holidays():
    calendar = Calendar(weekend_rollover=False)
    assert calendar.days_after(D(2024, 6, 1), 22).date == D(2024, 6, 23)
    assert calendar.days_after(D(2026, 9, 1), 30).date == D(2026, 10, 8)


def test_adjusted_saturday_counts_as_a_working_day():
    assert CAL.is_workday(D(2024, 10, 12))
    assert CAL.workdays_after(D(2024, 10, 11), 1).date == D(2024, 10, 12)


def test_nth_working_day_after_a_rest_day_counts_from_the_next_working_day():
    # X = Saturday 2024-06-08 (rest), Monday 10th is the Dragon Boat holiday: the 1st
    # working day after X is Tuesday 2024-06-11.
    assert CAL.workdays_after(D(2024, 6, 8), 1).date == D(2024, 6, 11)


def test_working_days_before_a_wednesday_is_the_monday():
    assert CAL.workdays_before(D(2024, 5, 15), 2).date == D(2024, 5, 13)


def test_working_days_before_skip_holidays_and_use_adjusted_days():
    # Meeting Tuesday 2024-10-08: counting back, 10-01…07 is holiday, Sunday 2024-09-29 is worked.
    assert CAL.workdays_before(D(2024, 10, 8), 1).date == D(2024, 9, 30)
    assert CAL.workdays_before(D(2024, 10, 8), 2).date == D(2024, 9, 29)


def test_working_days_between_excludes_start_and_includes_end():
    assert CAL.workdays_between(D(2024, 9, 23), D(2024, 9, 27)) == 4
    assert CAL.workdays_between(D(2024, 9, 27), D(2024, 10, 8)) == 3  # 29th, 30th, 8th


def test_an_unpublished_year_is_weekends_only_and_provisional():
    shifted = CAL.workdays_after(D(2026, 12, 30), 3)
    assert shifted.date == D(2027, 1, 4)
    assert shifted.provisional_years == frozenset({2027})
    assert not CAL.days_after(D(2025, 3, 1), 10).provisional


def test_user_calendar_file_adds_a_year(tmp_path: Path):
    path = tmp_path / "cal.yaml"
    path.write_text(
        "years:\n  - year: 2027\n    holidays: [{from: 2027-01-01, to: 2027-01-03}]\n    workdays: [2027-01-09]\n",
        encoding="utf-8",
    )
    calendar = build_calendar([path])
    assert not calendar.is_workday(D(2027, 1, 1))
    assert calendar.is_workday(D(2027, 1, 9))  # a Saturday made a working day
    assert not calendar.workdays_after(D(2026, 12, 31), 1).provisional
    assert calendar.workdays_after(D(2026, 12, 31), 1).date == D(2027, 1, 4)


def test_user_calendar_file_overrides_a_known_year(tmp_path: Path):
    path = tmp_path / "cal.yaml"
    path.write_text("years:\n  - year: 2025\n    holidays: [2025-03-03]\n", encoding="utf-8")
    calendar = build_calendar([path])
    assert not calendar.is_workday(D(2025, 3, 3))
    assert calendar.is_workday(D(2025, 10, 1))  # the override replaces the whole year


def test_calendar_file_with_a_date_of_another_year_is_rejected(tmp_path: Path):
    path = tmp_path / "cal.yaml"
    path.write_text("years:\n  - year: 2027\n    holidays: [2028-01-01]\n", encoding="utf-8")
    with pytest.raises(CalendarFileError, match="2028-01-01"):
        build_calendar([path])


@settings(max_examples=300, deadline=None)
@given(official_days)
def test_working_days_agree_with_the_official_calendar(day: dt.date):
    assert CAL.is_workday(day) == chinese_calendar.is_workday(day)


@settings(max_examples=200, deadline=None)
@given(official_days, st.integers(min_value=1, max_value=25))
def test_nth_working_day_after_has_exactly_n_working_days_in_between(day: dt.date, n: int):
    target = CAL.workdays_after(day, n).date
    assert CAL.is_workday(target)
    assert CAL.workdays_between(day, target) == n


@settings(max_examples=200, deadline=None)
@given(official_days, st.integers(min_value=1, max_value=60))
def test_period_end_is_the_first_working_day_on_or_after_start_plus_n(day: dt.date, n: int):
    end = CAL.days_after(day, n).date
    plain = day + dt.timedelta(days=n)
    assert end >= plain
    assert chinese_calendar.is_workday(end)
    assert all(not chinese_calendar.is_workday(plain + dt.timedelta(days=k)) for k in range((end - plain).days))


@settings(max_examples=200, deadline=None)
@given(official_days, st.integers(min_value=1, max_value=25))
def test_counting_back_is_the_mirror_of_counting_forward(day: dt.date, n: int):
    earlier = CAL.workdays_before(day, n).date
    assert CAL.is_workday(earlier)
    assert CAL.workdays_between(earlier, day - dt.timedelta(days=1)) == n - 1


SHIFTS = [(n, unit, sign) for n in (0, 1, 5, 20) for unit in ("days", "working_days") for sign in (1, -1)]


@pytest.mark.parametrize("weekend_rollover", [True, False])
def test_a_range_of_days_shifts_as_each_day_does(weekend_rollover: bool):
    # Across the 2024 Spring Festival (调休 Sundays) and into 2027, which the package does not know.
    calendar = Calendar(weekend_rollover=weekend_rollover)
    first, last = D(2024, 1, 20), D(2024, 3, 1)
    for n, unit, sign in [*SHIFTS, (3, "calendar_days", 1)]:
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        each = [shift(calendar, d, n, unit, sign).date for d in days]
        assert shift_each(calendar, first, last, n, unit, sign) == each
    late = [D(2026, 12, 20) + dt.timedelta(days=i) for i in range(30)]
    assert shift_each(calendar, late[0], late[-1], 20, "working_days", 1) == [
        calendar.workdays_after(d, 20).date for d in late
    ]


@settings(max_examples=100, deadline=None)
@given(official_days, st.integers(min_value=0, max_value=40), st.sampled_from(SHIFTS))
def test_shifting_a_range_agrees_with_shifting_each_day(first: dt.date, length: int, spec: tuple[int, str, int]):
    n, unit, sign = spec
    last = first + dt.timedelta(days=length)
    each = [shift(CAL, first + dt.timedelta(days=i), n, unit, sign).date for i in range(length + 1)]
    assert shift_each(CAL, first, last, n, unit, sign) == each
