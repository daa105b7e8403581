"""`--window STEP`: the earliest and latest compliant date of one step, everything else as planned."""

from __future__ import annotations

import dataclasses
import datetime as dt

from compliance.planning.planner import plan_case, window_for
from tests.plan_helpers import BOOK, load

D = dt.date.fromisoformat


def test_the_hearing_window_runs_from_the_day_after_the_announcement_to_its_twentieth_day():
    result = window_for(load("hearing-open.yaml"), "hearing", BOOK)
    assert result.window is not None
    assert (result.window.earliest, result.window.latest) == (D("2025-05-07"), D("2025-05-26"))


def test_the_step_may_be_named_in_chinese_or_by_its_event_key():
    case = load("hearing-open.yaml")
    assert window_for(case, "听证会", BOOK).window == window_for(case, "hearing#1", BOOK).window


def test_a_window_ignores_the_date_the_plan_already_gives_the_step():
    result = window_for(load("hearing-late-proposal.yaml"), "hearing", BOOK)
    assert result.window is not None
    assert (result.window.earliest, result.window.latest) == (D("2025-05-07"), D("2025-05-26"))


def test_a_window_can_be_asked_for_a_step_not_yet_in_the_plan():
    # No receipt path here: a no-hearing receipt cannot coexist with the hearing request.
    case = load("hearing-open.yaml")
    events = tuple(o for o in case.events if o.step not in ("hearing", "revised_plan_publication"))
    result = window_for(dataclasses.replace(case, events=events), "hearing", BOOK)
    assert result.window is not None
    assert result.window.event == "hearing#1"
    assert (result.window.earliest, result.window.latest) == (D("2025-05-07"), D("2025-05-26"))


def test_a_step_with_no_upper_limit_has_an_open_latest_date():
    # Registration follows the hearing; nothing bounds it from above.
    result = window_for(load("hearing-open.yaml"), "compensation_registration", BOOK)
    assert result.window is not None
    assert result.window.earliest == D("2025-05-07")
    assert result.window.latest is None


def test_the_window_contains_the_date_the_earliest_plan_chooses():
    case = load("hearing-open.yaml")
    planned = plan_case(case, BOOK).schedule
    window = window_for(case, "hearing", BOOK).window
    assert planned is not None and window is not None
    assert window.earliest == D(planned["hearing#1"]["date"])
