"""Planner ↔ audit: every schedule the planner outputs, carried out as planned, audits with no violation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.audit import audit_case
from compliance.model import Case, load_case
from compliance.planning.planner import plan_case
from tests.conftest import SAMPLES
from tests.plan_helpers import BOOK, DATA, opened, proposed, written_back

AUDIT_SAMPLES = sorted(p for p in SAMPLES.glob("*.yaml") if not p.name.startswith("plan-"))
PLAN_SAMPLES = sorted(SAMPLES.glob("plan-*.yaml")) + sorted(DATA.glob("*.yaml"))


def violated(case: Case) -> set[str]:
    return {f.rule for f in audit_case(case, BOOK).findings if f.status == "violated"}


def first_date(case: Case) -> dt.date:
    day = case.first_date()
    assert day is not None
    return day


def check_agreement(case: Case, objective: str = "earliest") -> None:
    result = plan_case(case, BOOK, objective=objective)
    if result.feasible:
        assert violated(written_back(case, result)) == set()
    else:
        assert result.schedule is None
        assert result.conflicts, "an infeasible plan says why"


@pytest.mark.parametrize("path", AUDIT_SAMPLES, ids=lambda p: p.stem)
def test_every_sample_with_all_its_dates_opened_plans_to_a_compliant_case(path: Path):
    case = load_case(path, BOOK.vocabulary)
    schedule = opened(case, lambda o: True, today=first_date(case))
    result = plan_case(schedule, BOOK)
    if result.feasible:
        assert violated(written_back(schedule, result)) == set()
    else:
        # Nothing is fixed: only what no date can mend (a missing step, a data condition) breaks it,
        # and the audit of the sample as filed says the same.
        assert {f.rule for f in result.violations} <= violated(case)


@pytest.mark.parametrize("path", AUDIT_SAMPLES, ids=lambda p: p.stem)
def test_every_sample_with_its_second_half_opened_plans_to_a_compliant_case(path: Path):
    case = load_case(path, BOOK.vocabulary)
    half = len(case.events) // 2
    check_agreement(opened(case, lambda o: o.position >= half))


@pytest.mark.parametrize("path", AUDIT_SAMPLES, ids=lambda p: p.stem)
def test_every_sample_proposed_as_filed_is_repaired_into_a_compliant_case(path: Path):
    case = load_case(path, BOOK.vocabulary)
    schedule = proposed(case, lambda o: True, today=first_date(case))
    result = plan_case(schedule, BOOK, objective="keep")
    if result.feasible:
        assert violated(written_back(schedule, result)) == set()
        if not violated(case):
            assert result.moves == [], "a compliant sample needs no repair"


@pytest.mark.parametrize("path", PLAN_SAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("objective", ["earliest", "keep"])
def test_every_planner_sample_plans_to_a_compliant_case(path: Path, objective: str):
    check_agreement(load_case(path, BOOK.vocabulary), objective)


COMPLIANT = load_case(SAMPLES / "changan-compliant-hearing.yaml", BOOK.vocabulary)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.booleans(), min_size=len(COMPLIANT.events), max_size=len(COMPLIANT.events)))
def test_any_events_of_a_compliant_case_opened_plan_to_a_compliant_case(which: list[bool]):
    check_agreement(opened(COMPLIANT, lambda o: which[o.position]))


@settings(max_examples=20, deadline=None)
@given(st.dictionaries(st.integers(min_value=0, max_value=len(COMPLIANT.events) - 1),
                       st.integers(min_value=-25, max_value=25), max_size=4))  # fmt: skip
def test_any_jittered_proposal_is_repaired_into_a_compliant_case(shifts: dict[int, int]):
    def jitter(day: dt.date | None, shift: int) -> dt.date | None:
        return None if day is None else day + dt.timedelta(days=shift)

    events = tuple(
        dataclasses.replace(o, planned=True, date=jitter(o.date, s), start=jitter(o.start, s), end=jitter(o.end, s))
        for o, s in ((o, shifts.get(o.position, 0)) for o in COMPLIANT.events)
    )
    schedule = dataclasses.replace(COMPLIANT, events=events, today=None)
    result = plan_case(schedule, BOOK, objective="keep")
    assert result.feasible  # every event can move: the compliant original shows a way
    assert violated(written_back(schedule, result)) == set()
