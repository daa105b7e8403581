"""The event-at-a-time engine ends where `audit` ends: differential tests on samples and generated cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from compliance.audit import audit_case
from compliance.engine.durable import CaseHeader, CaseSession, compile_ruleset, replay, rule_dependencies
from compliance.model import case_from_mapping, load_case
from compliance.rules.core import CoreRule, ValueAtom
from compliance.rules.expr import parse
from compliance.rules.packs import load_rulebook
from tests.hook_cases import generated_case

BOOK = load_rulebook()
SAMPLES = sorted((Path(__file__).resolve().parents[1] / "cases_samples").glob("*.yaml"))


def _audit_json(case):
    return audit_case(case, BOOK).to_json()


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_feeding_a_sample_event_by_event_ends_with_the_audit_findings(path: Path):
    case = load_case(path, BOOK.vocabulary)
    session = replay(case, BOOK)
    try:
        assert session.result().to_json() == _audit_json(case)
    finally:
        session.close()


@pytest.mark.parametrize("path", SAMPLES[:6], ids=[p.stem for p in SAMPLES[:6]])
def test_every_prefix_of_a_sample_matches_the_audit_of_that_prefix(path: Path):
    case = load_case(path, BOOK.vocabulary)
    session = CaseSession(CaseHeader.of(case), BOOK)
    try:
        for count, occurrence in enumerate(case.events, start=1):
            session.add(occurrence)
            prefix = session.case()
            assert len(prefix.events) == count
            assert session.result().to_json() == _audit_json(prefix)
    finally:
        session.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated_case(BOOK))
def test_generated_cases_in_any_order_end_with_the_audit_findings(mapping):
    case = case_from_mapping(mapping, BOOK.vocabulary)
    session = CaseSession(CaseHeader.of(case), BOOK)
    try:
        for event in mapping["events"]:
            session.add(event)  # raw mappings, validated one by one as the service does
        assert session.result().to_json() == _audit_json(case)
    finally:
        session.close()


def test_a_previewed_event_leaves_the_session_as_it_was_when_discarded():
    path = next(p for p in SAMPLES if p.stem == "changan-late-hearing")
    case = load_case(path, BOOK.vocabulary)
    session = CaseSession(CaseHeader.of(case), BOOK)
    for occurrence in case.events[:12]:
        session.add(occurrence)
    before = session.result().to_json()
    facts = session.compiled.facts(session.sid)
    update = session.preview({"step": "hearing", "date": "2024-10-09"})
    assert update.touched, "the hearing touches the rules that read it"
    assert any(f.status == "violated" for i in update.touched for f in update.after[i].findings)
    session.discard(update)
    assert session.result().to_json() == before
    assert session.compiled.facts(session.sid) == facts
    session.close()


def test_durable_fires_exactly_the_rules_that_read_the_step():
    case = load_case(next(p for p in SAMPLES if p.stem == "changan-late-hearing"), BOOK.vocabulary)
    packs = BOOK.select(case.jurisdiction, case.procedure, case.first_date())
    compiled = compile_ruleset(packs, case.procedure)
    session = CaseSession(CaseHeader.of(case), BOOK)
    session.add(case.events[0])
    update = session.preview({"step": "hearing_request", "date": "2024-05-21"})
    expected = {i for i, deps in enumerate(compiled.dependencies) if deps is None or "hearing_request" in deps}
    assert set(update.touched) == expected
    assert expected, "some rule reads hearing_request"
    session.discard(update)
    session.close()


def test_the_first_event_and_an_earlier_one_choose_the_packs_again():
    header = CaseHeader("C", "collective-expropriation", "xian-changan")
    session = CaseSession(header, BOOK)
    assert session.result().verdict == "error"  # no dated event yet: no pack can be chosen
    update = session.add({"step": "land_use_application", "date": "2024-05-20"})
    assert update.rebuilt and session.result().packs
    update = session.add({"step": "pre_announcement_review", "date": "2021-01-05"})  # before the pack was in force
    assert update.rebuilt and session.result().verdict == "error"
    assert session.result().to_json() == _audit_json(session.case())
    session.close()


def test_an_expression_naming_its_step_dynamically_depends_on_every_step():
    rule = CoreRule(id="x.dynamic", pack="x", title=None, severity="error", citation=None,  # type: ignore[arg-type]
                    check=ValueAtom(parse("count(facts.step) > 0")))  # fmt: skip
    assert rule_dependencies(rule) is None
    static = CoreRule(id="x.static", pack="x", title=None, severity="error", citation=None,  # type: ignore[arg-type]
                      check=ValueAtom(parse("count('payment') > 0")))  # fmt: skip
    assert rule_dependencies(static) == frozenset({"payment"})
