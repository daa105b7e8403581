"""Rule outcomes against an independent reading of CASES.md §3, straight from the official calendar."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import chinese_calendar
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.audit import audit_case
from compliance.model import case_from_mapping
from compliance.rules.packs import load_rulebook

BOOK = load_rulebook()
DAYS = st.dates(min_value=dt.date(2022, 3, 1), max_value=dt.date(2026, 9, 30))


def status(rule: str, events: list[dict], jurisdiction: str = "xian-changan", facts: dict | None = None) -> set[str]:
    case = case_from_mapping(
        {"case": "P", "jurisdiction": jurisdiction, "procedure": "collective-expropriation",
         "facts": facts or {}, "events": events},
        BOOK.vocabulary,
    )  # fmt: skip
    return {f.status for f in audit_case(case, BOOK).findings if f.rule == rule}


def civil_code_last_day(start: dt.date, days: int) -> dt.date:
    last = start + dt.timedelta(days=days)
    while not chinese_calendar.is_workday(last):
        last += dt.timedelta(days=1)
    return last


@settings(max_examples=150, deadline=None)
@given(DAYS, st.integers(min_value=1, max_value=40))
def test_hearing_window_is_after_the_end_and_within_twenty_days_rolled_off_rest_days(end: dt.date, offset: int):
    hearing = end + dt.timedelta(days=offset)
    events = [
        {"step": "compensation_announcement", "start": str(end - dt.timedelta(days=35)), "end": str(end)},
        {"step": "hearing_request", "date": str(end - dt.timedelta(days=3))},
        {"step": "hearing", "date": str(hearing)},
    ]
    compliant = hearing <= civil_code_last_day(end, 20)
    assert status("changan.hearing-window", events) == {"satisfied" if compliant else "violated"}


@settings(max_examples=150, deadline=None)
@given(DAYS, st.integers(min_value=1, max_value=30))
def test_pre_announcement_needs_ten_working_days_in_start_to_end(start: dt.date, length: int):
    end = start + dt.timedelta(days=length)
    working = sum(chinese_calendar.is_workday(start + dt.timedelta(days=k)) for k in range(1, length + 1))
    events = [{"step": "pre_announcement", "start": str(start), "end": str(end)}]
    assert status("changan.pre-announcement-min-period", events) == {"satisfied" if working >= 10 else "violated"}


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=3, max_value=120), st.data())
def test_waiver_vote_needs_two_thirds_of_all_members_exactly(members: int, data):
    present = data.draw(st.integers(min_value=0, max_value=members))
    in_favour = data.draw(st.integers(min_value=0, max_value=present))
    events = [
        {"step": "villager_vote", "date": "2023-06-16",
         "data": {"motion": "waive_retained_land", "body": "assembly", "members": members, "present": present,
                  "in_favour": in_favour}},
        {"step": "compensation_agreement", "date": "2023-06-26"},
    ]  # fmt: skip
    facts = {"expropriated_area_mu": 100, "resettlement_area_mu": 0, "retained_land_mode": "monetary"}
    passes = Fraction(in_favour) >= Fraction(2, 3) * members
    result = status("jieyang.retained-land-waiver-vote", events, "jieyang", facts)
    assert ("violated" not in result) == passes
