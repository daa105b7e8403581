"""The earliest compliant schedule: dates the law pins, working days, floors and bounds."""

from __future__ import annotations

import dataclasses
import datetime as dt

from compliance.calendar import DEFAULT_CALENDAR
from compliance.planning.planner import plan_case
from tests.plan_helpers import BOOK, load

D = dt.date.fromisoformat


def test_the_earliest_hearing_is_the_first_working_day_after_the_announcement_ends():
    # The announcement ends Tuesday 2025-05-06; the hearing must come after it.
    result = plan_case(load("hearing-open.yaml"), BOOK)
    assert result.feasible
    assert result.schedule is not None
    assert result.schedule["hearing#1"] == {"date": "2025-05-07"}


def test_a_pre_announcement_over_national_day_comes_down_on_its_tenth_working_day():
    # Posted Friday 2025-09-26: 09-28 (Sun, 调休) is the 1st working day, 10-01..10-08 are off,
    # 10-11 (Sat, 调休) the 6th, and Thursday 10-16 the 10th.
    result = plan_case(load("pre-announcement-national-day.yaml"), BOOK)
    assert result.schedule == {"pre_announcement#1": {"start": "2025-09-26", "end": "2025-10-16"}}


def test_the_revised_plan_after_a_hearing_runs_five_working_days_from_the_hearing():
    result = plan_case(load("hearing-open.yaml"), BOOK)
    assert result.schedule is not None
    # Hearing Wednesday 05-07; five working days after it: 05-08, 09, 12, 13, 14.
    assert result.schedule["revised_plan_publication#1"] == {"start": "2025-05-07", "end": "2025-05-14"}


def test_planned_acts_fall_on_working_days():
    # The announcement ends on a Friday before the Dragon Boat Festival weekend (05-31..06-02):
    # the hearing cannot be on the Saturday, Sunday or holiday Monday after it.
    case = load("hearing-open.yaml")
    announcement = {"start": D("2025-04-11"), "end": D("2025-05-30")}
    events = tuple(
        dataclasses.replace(o, **announcement) if o.step == "compensation_announcement" else o for o in case.events
    )
    result = plan_case(dataclasses.replace(case, events=events), BOOK)
    assert result.schedule is not None
    assert result.schedule["hearing#1"] == {"date": "2025-06-03"}
    assert DEFAULT_CALENDAR.is_workday(D("2025-06-03"))


def test_without_today_nothing_planned_goes_before_the_latest_done_event():
    # Nothing ties the notice to the announcement, yet it cannot be planned in the past:
    # the latest done event is the hearing request of 2025-04-15.
    case = load("hearing-open.yaml")
    notice = dataclasses.replace(case.events[0], key="hearing_notice#1", step="hearing_notice", position=99,
                                 date=None, planned=True)  # fmt: skip
    result = plan_case(dataclasses.replace(case, events=(*case.events, notice)), BOOK)
    assert result.schedule is not None
    assert result.schedule["hearing_notice#1"] == {"date": "2025-04-15"}


def test_with_today_nothing_planned_goes_before_today():
    case = dataclasses.replace(load("hearing-open.yaml"), today=D("2025-05-12"))
    result = plan_case(case, BOOK)
    assert result.schedule is not None
    assert result.schedule["hearing#1"] == {"date": "2025-05-12"}


def test_an_earliest_bound_moves_the_plan_to_the_next_working_day_on_or_after_it():
    case = load("hearing-open.yaml")
    events = tuple(dataclasses.replace(o, earliest=D("2025-05-10")) if o.step == "hearing" else o for o in case.events)
    result = plan_case(dataclasses.replace(case, events=events), BOOK)
    assert result.schedule is not None
    assert result.schedule["hearing#1"] == {"date": "2025-05-12"}  # 05-10/11 are a weekend


def test_the_plan_is_the_same_every_time():
    case = load("changan-all-open.yaml")
    first, second = plan_case(case, BOOK), plan_case(case, BOOK)
    assert first.schedule == second.schedule


def test_the_whole_procedure_opened_finishes_as_early_as_the_chain_of_periods_allows():
    # From Monday 2025-03-03: pre-announcement 10 working days (03-17), announcement 30 days
    # (04-02), hearing the next day (04-03), revised plan 5 working days, the first of them
    # Monday 04-07 since 04-04 is Qingming (04-11), then filing on the same day.
    result = plan_case(load("changan-all-open.yaml"), BOOK)
    assert result.feasible
    assert result.schedule is not None
    assert result.schedule["pre_announcement#1"] == {"start": "2025-03-03", "end": "2025-03-17"}
    assert result.schedule["compensation_announcement#1"]["end"] == "2025-04-02"
    assert result.schedule["hearing#1"] == {"date": "2025-04-03"}
    assert result.schedule["revised_plan_publication#1"] == {"start": "2025-04-03", "end": "2025-04-11"}
    assert result.schedule["approval_application#1"] == {"date": "2025-04-11"}


def test_a_schedule_in_an_unpublished_year_says_it_is_provisional():
    case = load("pre-announcement-national-day.yaml")
    events = tuple(dataclasses.replace(o, date=o.date and o.date.replace(year=2027),
                                       start=o.start and o.start.replace(year=2027)) for o in case.events)  # fmt: skip
    result = plan_case(dataclasses.replace(case, events=events), BOOK)
    assert result.feasible
    assert result.notes and "2027" in result.notes[0]
