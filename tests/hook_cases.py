"""Generated cases for the event-at-a-time tests: steps the packs' rules read, random dates and data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from compliance.engine.durable import rule_dependencies
from compliance.rules.core import expressions_of
from compliance.rules.packs import RuleBook

PROCEDURES = [
    ("xian-changan", "collective-expropriation"),
    ("jieyang", "collective-expropriation"),
    ("jieyang", "committee-meeting"),
    ("jieyang", "annual-planning"),
    ("changzhou", "state-land-acquisition"),
    ("taojiang", "state-land-acquisition"),
    ("taojiang", "state-land-revocation"),
    ("taojiang", "new-construction-land"),
    ("changchun-erdao", "state-land-reserve"),
]
FIRST_DAY = dt.date(2022, 6, 1)
LAST_DAY = dt.date(2026, 6, 30)


def _rules(book: RuleBook, jurisdiction: str, procedure: str) -> list[Any]:
    return [
        rule
        for pack in book.packs
        if jurisdiction in pack.spec.jurisdictions and procedure in pack.spec.procedures
        for rule in pack.core_rules(procedure)
    ]


def steps_read(book: RuleBook, jurisdiction: str, procedure: str) -> list[str]:
    families = set(book.vocabulary.families_of(procedure))
    steps: set[str] = set()
    for rule in _rules(book, jurisdiction, procedure):
        steps |= rule_dependencies(rule) or set()
    return sorted(s for s in steps if s in book.vocabulary.steps and families & set(book.vocabulary.get(s).families))


def _names_read(book: RuleBook, jurisdiction: str, procedure: str, prefix: str) -> set[str]:
    names: set[str] = set()
    for rule in _rules(book, jurisdiction, procedure):
        for expression in (*expressions_of(rule.check), *expressions_of(rule.when)):
            names |= {n.split(".")[1] for n in expression.names() if n.startswith(prefix)}
    return names


def fact_names(book: RuleBook, jurisdiction: str, procedure: str) -> list[str]:
    return sorted(_names_read(book, jurisdiction, procedure, "facts."))


def data_names(book: RuleBook, jurisdiction: str, procedure: str) -> list[str]:
    names = _names_read(book, jurisdiction, procedure, "data.")
    for step in book.vocabulary.steps.values():
        names |= set(step.data)
    return sorted(names)


NUMBERS = {"year", "total", "amount", "members", "present", "in_favour"}
FLAGS = {"paid", "agency_in_roster", "jointly_commissioned", "payment_deferred_after_handover"}
LISTS = {"contents", "documents", "budget_items"}
WORDS = {
    "motion": ["waive_retained_land", "other"],
    "body": ["representatives", "assembly"],
    "signer": ["区征收办", "区土储中心", "街道办事处"],
    "applicant_type": ["enterprise", "institution", "individual"],
    "retained_land_mode": ["land", "monetary"],
    "retained_land_ownership": ["collective", "state"],
}


@st.composite
def _value(draw: Any, name: str) -> Any:
    """A value of the kind the rules expect for that field (they compare numbers with numbers)."""
    if name.endswith("_date"):
        return draw(st.dates(FIRST_DAY, LAST_DAY)).isoformat()
    if name == "year":
        return draw(st.integers(2022, 2027))
    if name in WORDS:
        return draw(st.sampled_from(WORDS[name]))
    if name in FLAGS or name.startswith("retained_land_in") or name.startswith("retained_land_on"):
        return draw(st.booleans())
    if name in LISTS:
        return draw(st.lists(st.sampled_from(["价款", "期限", "面积", "违约责任", "位置", "营业执照"]), max_size=5))
    if name in NUMBERS or name.endswith(("_mu", "_value", "_appraisal", "_rate", "_subsidy", "_parties")):
        return draw(st.one_of(st.integers(0, 500), st.decimals(0, 50, places=2).map(str)))
    return draw(st.sampled_from(["区征收办", "评估公司", "说明"]))


@st.composite
def _data(draw: Any, names: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)) if names else []:
        if name in ("members", "present", "in_favour"):
            continue
        data[name] = draw(_value(name))
    if draw(st.booleans()):
        members = draw(st.integers(1, 80))
        present = draw(st.integers(0, members))
        data.update(members=members, present=present, in_favour=draw(st.integers(0, present)))
    return data


@st.composite
def generated_case(draw: Any, book: RuleBook, chronological: bool = False, max_events: int = 14) -> dict[str, Any]:
    """A case file mapping; with `chronological`, each event starts strictly after the one before."""
    jurisdiction, procedure = draw(st.sampled_from(PROCEDURES))
    steps = steps_read(book, jurisdiction, procedure)
    facts = {name: draw(_value(name)) for name in fact_names(book, jurisdiction, procedure) if draw(st.booleans())}
    names = data_names(book, jurisdiction, procedure)
    count = draw(st.integers(1, max_events))
    day = draw(st.dates(FIRST_DAY, LAST_DAY - dt.timedelta(days=40 * max_events)))
    events = []
    for _ in range(count):
        step = book.vocabulary.get(draw(st.sampled_from(steps)))
        if chronological:
            day = day + dt.timedelta(days=draw(st.integers(1, 25)))
        else:
            day = draw(st.dates(FIRST_DAY, LAST_DAY))
        event: dict[str, Any] = {"step": step.id, "data": draw(_data(names))}
        if step.is_period:
            event.update(start=day.isoformat(), end=(day + dt.timedelta(days=draw(st.integers(0, 45)))).isoformat())
        else:
            event["date"] = day.isoformat()
        if draw(st.integers(0, 5)) == 0:
            event["actor"] = draw(st.sampled_from(["区征收办", "区土储中心", "某街道办事处"]))
        events.append(event)
    return {"case": "GEN-1", "jurisdiction": jurisdiction, "procedure": procedure, "facts": facts, "events": events}
