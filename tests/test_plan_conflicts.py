"""When no schedule complies: a minimal set of colliding rules and fixed dates, and what is already broken."""

from __future__ import annotations

import dataclasses
import datetime as dt

import z3

from compliance.audit import ground_case, packs_for
from compliance.calendar import DEFAULT_CALENDAR
from compliance.engine.schedule import ScheduleProblem
from compliance.planning.planner import plan_case
from tests.plan_helpers import BOOK, load

D = dt.date.fromisoformat


def test_conflicts_name_exactly_the_rules_in_collision():
    # The announcement starts 04-01 and must run 30 days; the hearing comes after it ends,
    # but is fixed for 04-20.
    result = plan_case(load("hearing-too-early.yaml"), BOOK)
    assert not result.feasible
    assert result.schedule is None
    assert result.violations == []
    assert {c.rule for c in result.conflicts} == {"changan.announcement-min-period", "changan.hearing-window"}


def test_each_conflict_carries_its_citation_and_the_fixed_dates_it_meets():
    result = plan_case(load("hearing-too-early.yaml"), BOOK)
    by_rule = {c.rule: c for c in result.conflicts}
    assert by_rule["changan.hearing-window"].dates == {"hearing#1": "2025-04-20"}
    assert by_rule["changan.hearing-window"].citation["clause"] == "三(五)"
    assert by_rule["changan.announcement-min-period"].dates == {"compensation_announcement#1.start": "2025-04-01"}
    assert "30" in by_rule["changan.announcement-min-period"].message


def test_a_planning_bound_in_the_way_is_part_of_the_conflict():
    # The hearing may be planned no later than 05-06, the day the announcement ends.
    case = load("hearing-open.yaml")
    events = tuple(dataclasses.replace(o, latest=D("2025-05-06")) if o.step == "hearing" else o for o in case.events)
    result = plan_case(dataclasses.replace(case, events=events), BOOK)
    assert not result.feasible
    assert [c.rule for c in result.conflicts] == ["changan.hearing-window"]
    conflict = result.conflicts[0]
    assert conflict.dates == {"compensation_announcement#1.end": "2025-05-06"}
    assert [(b["kind"], b["date"]) for b in conflict.bounds] == [("latest", "2025-05-06")]


def test_a_rule_already_broken_by_fixed_dates_is_a_violation_and_makes_the_plan_infeasible():
    # The hearing was held on 06-20, past the last allowed day 05-26: nothing planned can fix that.
    case = load("hearing-open.yaml")
    events = tuple(dataclasses.replace(o, planned=False, date=D("2025-06-20")) if o.step == "hearing" else o
                   for o in case.events)  # fmt: skip
    result = plan_case(dataclasses.replace(case, events=events), BOOK)
    assert not result.feasible
    assert [f.rule for f in result.violations] == ["changan.hearing-window"]
    assert result.violations[0].status == "violated"
    assert [c.rule for c in result.conflicts] == ["changan.hearing-window"]


def test_the_conflict_is_minimal_dropping_any_member_makes_it_satisfiable():
    case = load("hearing-too-early.yaml")
    findings = [g for g in ground_case(case, packs_for(case, BOOK)) if g.formula is not None]
    problem = ScheduleProblem(case, findings, lambda s: BOOK.vocabulary.get(s).is_period, DEFAULT_CALENDAR)
    solver = problem.solver()
    core = problem.minimal_core(solver)
    assert core
    for member in core:
        rest = [t.literal for t in core if t is not member]
        assert solver.check(*rest) == z3.sat, member.name
