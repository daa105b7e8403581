"""Repairing a proposed schedule: keep what can be kept, move as few events by as few days as possible."""

from __future__ import annotations

import dataclasses
import datetime as dt

from compliance.planning.planner import plan_case
from tests.plan_helpers import BOOK, load

D = dt.date.fromisoformat


def test_a_late_hearing_is_moved_to_the_last_allowed_day_naming_the_rule():
    result = plan_case(load("hearing-late-proposal.yaml"), BOOK, objective="keep")
    assert result.feasible
    assert [m.text("zh") for m in result.moves] == ["听证会 2025-06-20 → 2025-05-26, 依据 changan.hearing-window"]


def test_what_can_stay_stays():
    result = plan_case(load("hearing-late-proposal.yaml"), BOOK, objective="keep")
    assert result.schedule is not None
    assert result.schedule["revised_plan_publication#1"] == {"start": "2025-06-23", "end": "2025-06-30"}


def test_a_compliant_proposal_is_kept_as_it_is():
    case = load("hearing-late-proposal.yaml")
    events = tuple(dataclasses.replace(o, date=D("2025-05-20")) if o.step == "hearing" else o for o in case.events)
    result = plan_case(dataclasses.replace(case, events=events), BOOK, objective="keep")
    assert result.moves == []
    assert result.schedule is not None
    assert result.schedule["hearing#1"] == {"date": "2025-05-20"}


def test_a_short_period_is_lengthened_rather_than_moved():
    # The revised plan is proposed 06-03..06-06 (3 working days): only its end moves, to the
    # fifth working day 06-10 (06-09 is the fourth), not its start.
    case = load("hearing-late-proposal.yaml")
    events = []
    for o in case.events:
        if o.step == "hearing":
            o = dataclasses.replace(o, date=D("2025-05-20"))
        if o.step == "revised_plan_publication":
            o = dataclasses.replace(o, start=D("2025-06-03"), end=D("2025-06-06"))
        events.append(o)
    result = plan_case(dataclasses.replace(case, events=tuple(events)), BOOK, objective="keep")
    assert [(m.event, m.part, str(m.before), str(m.after)) for m in result.moves] == [
        ("revised_plan_publication#1", "end", "2025-06-06", "2025-06-10")
    ]
    assert result.moves[0].rules == ["changan.revised-plan-republication"]


def test_the_keep_output_lists_moves_in_json():
    data = plan_case(load("hearing-late-proposal.yaml"), BOOK, objective="keep").to_json()
    assert data["moves"][0] | {"text": ""} == {
        "event": "hearing#1", "step": "hearing", "part": "date", "from": "2025-06-20", "to": "2025-05-26",
        "days": -25, "rules": ["changan.hearing-window"], "bounds": [], "text": "",
    }  # fmt: skip
