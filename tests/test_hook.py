"""The validation hook: may this step happen now? (Python API and decision logic)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import compliance
from compliance import hook as hook_module
from compliance.audit import audit_case
from compliance.engine.durable import CaseHeader
from compliance.hook import Hook, check_step
from compliance.model import case_from_mapping, load_case
from compliance.rules.packs import load_rulebook
from compliance.sourcefile import InputError
from tests.hook_cases import generated_case

BOOK = load_rulebook()
SAMPLES = Path(__file__).resolve().parents[1] / "cases_samples"


def sample(name: str):
    return load_case(SAMPLES / f"{name}.yaml", BOOK.vocabulary)


def prefix(name: str, until_key: str) -> dict:
    """The sample as a case-file mapping, with its events before `until_key`."""
    case = sample(name)
    events = []
    for o in case.events:
        if o.key == until_key:
            break
        event = {"step": o.step, "data": dict(o.data)}
        event.update({p: o.part(p).isoformat() for p in ("date", "start", "end") if o.part(p)})
        events.append(event)
    return {"case": case.id, "jurisdiction": case.jurisdiction, "procedure": case.procedure,
            "facts": dict(case.facts), "events": events}  # fmt: skip


def test_a_late_hearing_is_denied_with_the_rule_and_its_citation():
    decision = check_step(prefix("changan-late-hearing", "hearing#1"), {"step": "听证会", "date": "2024-10-09"},
                          plan=False)  # fmt: skip
    assert not decision.allowed and decision.verdict == "deny"
    (broken,) = decision.broken
    assert broken.rule == "changan.hearing-window"
    assert broken.citation["clause"] == "三(五)" and broken.citation["seed"].startswith("001_")
    assert "2024-10-08" in broken.message  # the last allowed day, after the National Day roll-over
    assert decision.event["key"] == "hearing#1"


def test_the_hearing_on_its_last_allowed_day_is_allowed():
    decision = check_step(prefix("changan-late-hearing", "hearing#1"), {"step": "hearing", "date": "2024-10-08"},
                          plan=False)  # fmt: skip
    assert decision.allowed and not decision.broken
    # The hearing calls for the revised plan's republication: an open requirement, not a breach.
    assert any(n.rule == "changan.revised-plan-republication" for n in decision.pending)


def test_a_hearing_request_starts_the_hearing_deadline():
    decision = check_step(prefix("changan-late-hearing", "hearing_request#1"),
                          {"step": "hearing_request", "date": "2024-09-02"}, plan=False)  # fmt: skip
    assert decision.allowed
    messages = {d.message for d in decision.deadlines}
    assert "听证会最迟2024-10-08（不早于2024-09-12）" in messages
    deadline = next(d for d in decision.deadlines if d.step == "hearing")
    assert deadline.rule == "changan.hearing-window" and not deadline.overdue


def test_the_no_hearing_receipt_deadline_says_a_hearing_request_lifts_it():
    case = {"case": "T", "jurisdiction": "xian-changan", "procedure": "collective-expropriation", "events": []}
    announcement = {"step": "compensation_announcement", "start": "2024-03-04", "end": "2024-04-03"}
    messages = [d.message for d in check_step(case, announcement, plan=False).deadlines]
    assert "无需听证回执最迟2024-04-11（不早于2024-04-04；如有听证申请则不适用）" in messages
    assert "听证申请最迟2024-04-03（不早于2024-03-04）" in messages  # a deadline without a condition says none
    english = [d.message for d in check_step(case, announcement, plan=False, lang="en").deadlines]
    assert "no_hearing_receipt by 2024-04-11 (not before 2024-04-04; lifted by hearing_request)" in english


def test_a_hearing_request_lifts_the_no_hearing_receipt_deadline():
    # The receipt is due within 5 working days of the announcement's end only while no hearing is requested.
    case = {"case": "T", "jurisdiction": "xian-changan", "procedure": "collective-expropriation", "events": [
        {"step": "compensation_announcement", "start": "2024-03-04", "end": "2024-04-03"},
        {"step": "hearing_request", "date": "2024-04-02"},
    ]}  # fmt: skip
    decision = check_step(case, {"step": "no_hearing_receipt", "date": "2024-04-30"}, plan=False)
    assert "changan.no-hearing-receipt-window" not in {n.rule for n in decision.broken}
    final = audit_case(case_from_mapping({**case, "events": [*case["events"], {"step": "no_hearing_receipt",
                                                                                "date": "2024-04-30"}]},
                                         BOOK.vocabulary), BOOK)  # fmt: skip
    (finding,) = [f for f in final.findings if f.rule == "changan.no-hearing-receipt-window"]
    assert finding.status == "not_applicable"


def test_an_agreement_before_funding_is_denied_and_the_late_funding_is_not_blamed():
    case = prefix("changan-agreement-before-funding", "compensation_agreement#1")
    decision = check_step(case, {"step": "compensation_agreement", "date": "2023-06-16"}, plan=False)
    assert [n.rule for n in decision.broken] == ["changan.funding-before-agreement"]
    assert "补偿资金到位" in (decision.broken[0].reason or "")
    case["events"].append({"step": "compensation_agreement", "date": "2023-06-16"})
    later = check_step(case, {"step": "funding_confirmed", "date": "2023-06-20"}, plan=False)
    assert later.allowed
    assert [n.rule for n in later.already_broken] == ["changan.funding-before-agreement"]


def test_a_period_under_way_is_checked_with_its_end_open():
    case = prefix("changan-late-hearing", "compensation_announcement#1")
    decision = check_step(case, {"step": "compensation_announcement", "start": "2024-08-09"}, plan=False)
    assert decision.allowed and "end" not in decision.event


def test_an_unknown_step_is_an_input_error():
    with pytest.raises(InputError) as caught:
        check_step(prefix("changan-late-hearing", "hearing#1"), {"step": "听政会", "date": "2024-10-09"})
    assert "听政会" in str(caught.value)


def test_the_planner_says_whether_the_case_can_still_comply():
    pytest.importorskip("compliance.planning.planner")
    case = prefix("changan-late-hearing", "hearing#1")
    on_time = compliance.check_step(case, {"step": "hearing", "date": "2024-10-08"})
    assert on_time.can_comply is True
    assert "revised_plan_publication" in on_time.feasibility.assumed_steps
    late = compliance.check_step(case, {"step": "hearing", "date": "2024-10-09"})
    assert late.can_comply is False and late.feasibility.conflicts


def test_losing_every_compliant_completion_denies(monkeypatch):
    """No single rule broken, but the planner finds a completion before the step and none after."""

    def planner(case, book, calendar, lang):
        feasible = not any(o.key == "survey_confirmation#1" for o in case.events)
        return feasible, {"conflicts": [] if feasible else ["x"]}

    monkeypatch.setattr(hook_module, "plan_plainly", planner)
    decision = check_step(prefix("changan-late-hearing", "survey_confirmation#1"),
                          {"step": "survey_confirmation", "date": "2024-06-21"})  # fmt: skip
    assert not decision.broken and decision.lost_feasibility and not decision.allowed
    assert any("no compliant completion" in r or "无合规" in r for r in decision.reasons())


def test_open_deadlines_and_next_steps_of_a_session():
    case = sample("changan-late-hearing")
    hook = Hook.for_case(CaseHeader.of(case), list(case.events[:12]), BOOK, plan=False)
    try:
        deadlines = hook.open_deadlines(dt.date(2024, 10, 9))
        hearing = next(d for d in deadlines if d.step == "hearing")
        assert hearing.latest == "2024-10-08" and hearing.overdue
        steps = {s["step"]: s for s in hook.next_steps(dt.date(2024, 9, 20))}
        assert steps["hearing"]["allowed"]
        assert not steps["no_hearing_receipt"]["allowed"]  # a hearing was requested: one path only
    finally:
        hook.close()


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_denied_step_of_a_sample_is_a_violation_in_the_final_audit(path: Path):
    case = load_case(path, BOOK.vocabulary)
    violated = {f.rule for f in audit_case(case, BOOK).findings if f.status == "violated"}
    hook = Hook.for_case(CaseHeader.of(case), [], BOOK, plan=False)
    try:
        for occurrence in case.events:
            decision, update = hook.check(occurrence)
            hook.commit(update)
            assert {n.rule for n in decision.broken} <= violated, occurrence.key
    finally:
        hook.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated_case(BOOK, chronological=True))
def test_deny_is_sound_whatever_follows(mapping):
    """Fed in date order, a rule the hook calls broken for good is violated by the finished case,
    and a step recorded after a deadline the hook announced breaks that deadline's rule — unless a
    later event took the rule out of play (a hearing request ends the no-hearing receipt's deadline)."""
    case = case_from_mapping(mapping, BOOK.vocabulary)
    final = audit_case(case, BOOK)
    violated = {f.rule for f in final.findings if f.status == "violated"}
    hook = Hook.for_case(CaseHeader.of(case), [], BOOK, plan=False)
    deadlines = {}
    try:
        for occurrence in case.events:
            decision, update = hook.check(occurrence)
            hook.commit(update)
            assert {n.rule for n in decision.broken} <= violated
            for deadline in decision.open_deadlines:
                deadlines.setdefault((deadline.step, deadline.rule), deadline.latest)
        for (step, rule), latest in deadlines.items():
            late = [o for o in case.occurrences(step) if o.anchor_date and o.anchor_date.isoformat() > latest]
            if late and len(case.occurrences(step)) == len(late) and step not in ("status_survey",):
                statuses = {f.status for f in final.findings if f.rule == rule}
                assert rule in violated or statuses == {"not_applicable"}, (step, rule, latest, statuses)
    finally:
        hook.close()


def test_plan_is_part_of_the_python_api():
    pytest.importorskip("compliance.planning.planner")
    result = compliance.plan(SAMPLES / "changan-late-hearing.yaml")
    assert result.feasible is False and any(f.rule == "changan.hearing-window" for f in result.violations)
    mapping = prefix("changan-late-hearing", "hearing#1")
    mapping["events"] += [{"step": "hearing", "status": "planned", "date": None},
                          {"step": "revised_plan_publication", "status": "planned"}]  # fmt: skip
    planned = compliance.plan(mapping)
    assert planned.feasible and planned.schedule["hearing#1"]["date"] <= "2024-10-08"
