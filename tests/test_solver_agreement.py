"""z3 and the audit engine read ground formulas the same way: random schedules, same verdicts."""

from __future__ import annotations

import datetime as dt

import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.audit import audit_case, ground_case, packs_for
from compliance.calendar import DEFAULT_CALENDAR
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.schedule import ScheduleProblem
from compliance.engine.solver import make_solver
from compliance.model import Case, case_from_mapping
from compliance.rules.packs import load_rulebook

BOOK = load_rulebook()

# The full 长安 procedure, hearing path and receipt path mixed in, some steps repeated.
STEPS = [
    "land_use_application", "pre_announcement_review", "pre_announcement", "status_survey", "survey_extension",
    "survey_confirmation", "survey_publicity", "risk_assessment", "risk_opinion", "compensation_plan_joint_review",
    "compensation_plan_signoff", "compensation_announcement", "hearing_request", "hearing", "revised_plan_publication",
    "no_hearing_receipt", "compensation_registration", "cost_estimate_approval", "funding_application",
    "funding_confirmed", "compensation_agreement", "compensation_agreement", "social_security_opinion",
    "approval_application", "approval", "expropriation_announcement", "insurance_roster_publicity",
    "resettlement_completed",
]  # fmt: skip


@st.composite
def schedules(draw) -> Case:
    """A case whose steps, in order, are spread at random over 2024-2027 (2027: provisional)."""
    base = draw(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 12, 31)))
    chosen = draw(st.lists(st.booleans(), min_size=len(STEPS), max_size=len(STEPS)))
    day, events = base, []
    for step, keep in zip(STEPS, chosen, strict=True):
        day += dt.timedelta(days=draw(st.integers(min_value=-3, max_value=12)))
        if not keep:
            continue
        if BOOK.vocabulary.get(step).is_period:
            length = draw(st.integers(min_value=0, max_value=40))
            events.append({"step": step, "start": str(day), "end": str(day + dt.timedelta(days=length))})
        else:
            data = {"reason": "雨季"} if step == "survey_extension" else {}
            events.append({"step": step, "date": str(day), "data": data})
    if not events:
        events.append({"step": "approval", "date": str(base)})
    doc = {"case": "R", "procedure": "collective-expropriation", "jurisdiction": "xian-changan",
           "facts": {"compensation_parties": draw(st.integers(1, 3))}, "events": events}  # fmt: skip
    return case_from_mapping(doc, BOOK.vocabulary)


def z3_problem(case: Case) -> ScheduleProblem:
    findings = ground_case(case, packs_for(case, BOOK))
    return ScheduleProblem(case, findings, lambda s: BOOK.vocabulary.get(s).is_period, DEFAULT_CALENDAR)


@settings(max_examples=120, deadline=None)
@given(schedules())
def test_each_finding_is_violated_in_z3_exactly_when_the_audit_says_so(case: Case):
    problem = z3_problem(case)
    solver = make_solver()
    solver.add(*problem.hard, *[t.expr for t in problem.tracked if t.kind == "fixed"])
    assert solver.check() == z3.sat
    model = solver.model()
    reader = DateReader(case, DEFAULT_CALENDAR)
    for finding in problem.findings:
        audited = judge(finding, reader, "zh", {}).status == "violated"
        in_z3 = z3.is_true(model.eval(problem.encoder.violated(finding), model_completion=True))
        assert in_z3 == audited, (finding.rule.id, finding.key)


@settings(max_examples=120, deadline=None)
@given(schedules())
def test_z3_with_every_date_fixed_is_satisfiable_exactly_when_the_audit_finds_no_violation(case: Case):
    problem = z3_problem(case)
    audited = audit_case(case, BOOK)
    no_violation = not any(f.status == "violated" for f in audited.findings)
    assert problem.feasible() == no_violation
