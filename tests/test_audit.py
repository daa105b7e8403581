"""Auditing cases: statuses, windows, every occurrence, packs in force, provisional years."""

from __future__ import annotations

from typing import Any

from compliance.audit import audit_case
from compliance.findings import CaseResult
from compliance.model import case_from_mapping


def audit(
    book,
    events: list[dict[str, Any]],
    jurisdiction: str = "xian-changan",
    procedure: str = "collective-expropriation",
    facts: dict | None = None,
    lang: str = "zh",
) -> CaseResult:
    case = case_from_mapping(
        {"case": "T", "jurisdiction": jurisdiction, "procedure": procedure, "facts": facts or {}, "events": events},
        book.vocabulary,
    )
    return audit_case(case, book, lang=lang)


def findings(result: CaseResult, rule: str) -> list:
    return [f for f in result.findings if f.rule == rule]


ANNOUNCEMENT = {"step": "compensation_announcement", "start": "2024-03-22", "end": "2024-04-23"}


def test_hearing_on_the_last_allowed_day_satisfies_the_window(book):
    # 2024-04-23 + 20 days = 2024-05-13 (a Monday).
    result = audit(book, [ANNOUNCEMENT, {"step": "hearing_request", "date": "2024-04-10"},
                          {"step": "hearing", "date": "2024-05-13"}])  # fmt: skip
    (finding,) = findings(result, "changan.hearing-window")
    assert finding.status == "satisfied"


def test_hearing_a_week_late_is_violated_with_the_compliant_window(book):
    result = audit(book, [ANNOUNCEMENT, {"step": "hearing_request", "date": "2024-04-10"},
                          {"step": "hearing", "date": "2024-05-20"}])  # fmt: skip
    (finding,) = findings(result, "changan.hearing-window")
    assert finding.status == "violated"
    assert finding.expected == "hearing in (2024-04-23, 2024-05-13]"
    assert finding.latest == "2024-05-13"
    assert finding.events == ["hearing#1", "compensation_announcement#1"]
    assert finding.citation["clause"] == "三(五)"
    assert "2024-05-13" in finding.message


def test_hearing_deadline_on_national_day_rolls_to_the_first_working_day(book):
    # Announcement ends 2024-09-11: +20 days = 2024-10-01 (holiday) → 2024-10-08.
    events = [{"step": "compensation_announcement", "start": "2024-08-09", "end": "2024-09-11"},
              {"step": "hearing_request", "date": "2024-09-02"}]  # fmt: skip
    on_time = audit(book, [*events, {"step": "hearing", "date": "2024-10-08"}])
    late = audit(book, [*events, {"step": "hearing", "date": "2024-10-09"}])
    assert findings(on_time, "changan.hearing-window")[0].status == "satisfied"
    assert findings(late, "changan.hearing-window")[0].status == "violated"
    assert findings(late, "changan.hearing-window")[0].latest == "2024-10-08"


def test_requested_hearing_never_held_is_a_violation(book):
    result = audit(book, [ANNOUNCEMENT, {"step": "hearing_request", "date": "2024-04-10"}])
    assert [f.status for f in findings(result, "changan.hearing-window")] == ["violated"]


def test_every_agreement_is_judged_on_its_own(book):
    result = audit(book, [
        {"step": "funding_confirmed", "date": "2024-05-06"},
        {"step": "compensation_agreement", "date": "2024-05-05"},
        {"step": "compensation_agreement", "date": "2024-05-06"},
        {"step": "compensation_agreement", "date": "2024-05-10"},
    ])  # fmt: skip
    statuses = {f.key: f.status for f in findings(result, "changan.funding-before-agreement")}
    assert statuses == {
        "compensation_agreement#1": "violated",
        "compensation_agreement#2": "satisfied",
        "compensation_agreement#3": "satisfied",
    }


def test_agreement_without_any_funding_confirmation_is_a_violation(book):
    result = audit(book, [{"step": "compensation_agreement", "date": "2024-05-05"}])
    assert [f.status for f in findings(result, "changan.funding-before-agreement")] == ["violated"]


def test_rule_whose_triggering_step_is_absent_is_not_applicable(book):
    result = audit(book, [{"step": "funding_confirmed", "date": "2024-05-06"}])
    assert [f.status for f in findings(result, "changan.funding-before-agreement")] == ["not_applicable"]


def test_pre_announcement_of_ten_working_days_over_national_day(book):
    # From 2024-09-25: working days 26, 27, 29 (adjusted Sunday), 30, 10-08, 09, 10, 11, 12 (adjusted Saturday), 14.
    ok = audit(book, [{"step": "pre_announcement", "start": "2024-09-25", "end": "2024-10-14"}])
    short = audit(book, [{"step": "pre_announcement", "start": "2024-09-25", "end": "2024-10-12"}])
    assert findings(ok, "changan.pre-announcement-min-period")[0].status == "satisfied"
    finding = findings(short, "changan.pre-announcement-min-period")[0]
    assert finding.status == "violated"
    assert finding.earliest == "2024-10-14"


def test_exactly_two_thirds_of_all_members_carries_the_waiver_vote(book):
    facts = {"expropriated_area_mu": 100, "resettlement_area_mu": 0, "retained_land_mode": "monetary"}

    def vote(in_favour: int) -> list[dict]:
        return [
            {"step": "villager_vote", "date": "2023-06-16",
             "data": {"motion": "waive_retained_land", "body": "representatives", "members": 60, "present": 45,
                      "in_favour": in_favour}},
            {"step": "compensation_agreement", "date": "2023-06-26"},
        ]  # fmt: skip

    passed = audit(book, vote(40), jurisdiction="jieyang", facts=facts)
    failed = audit(book, vote(39), jurisdiction="jieyang", facts=facts)
    worst = {f.status for f in findings(passed, "jieyang.retained-land-waiver-vote")}
    assert worst == {"satisfied"}
    assert "violated" in {f.status for f in findings(failed, "jieyang.retained-land-waiver-vote")}


def test_no_pack_in_force_is_an_error_not_an_empty_pass(book):
    result = audit(book, [{"step": "ownership_verification", "date": "2014-06-01"}],
                   jurisdiction="changzhou", procedure="state-land-acquisition")  # fmt: skip
    assert result.verdict == "error"
    assert "changzhou" in (result.error or "")
    assert "2014-06-01" in (result.error or "")


def test_unknown_jurisdiction_is_an_error(book):
    result = audit(book, [{"step": "hearing", "date": "2024-05-20"}], jurisdiction="beijing")
    assert result.verdict == "error"


def test_case_is_judged_by_the_packs_in_force_on_its_first_event(book):
    result = audit(book, [{"step": "pre_announcement", "start": "2024-03-01", "end": "2024-03-15"}])
    assert result.packs == ["changan@2021-12-09"]


def test_finding_that_used_an_unpublished_year_is_marked_provisional(book):
    # Announcement ends 2026-12-25; the hearing deadline +20 days falls in 2027.
    result = audit(book, [{"step": "compensation_announcement", "start": "2026-11-20", "end": "2026-12-25"},
                          {"step": "hearing_request", "date": "2026-12-01"},
                          {"step": "hearing", "date": "2027-01-12"}])  # fmt: skip
    (finding,) = findings(result, "changan.hearing-window")
    assert finding.status == "satisfied"
    assert finding.provisional == [2027]


def test_provisional_violation_says_so_in_its_message(book):
    result = audit(book, [{"step": "compensation_announcement", "start": "2026-11-20", "end": "2026-12-25"},
                          {"step": "hearing_request", "date": "2026-12-01"},
                          {"step": "hearing", "date": "2027-01-20"}])  # fmt: skip
    (finding,) = findings(result, "changan.hearing-window")
    assert finding.status == "violated"
    assert "2027" in finding.message and "暂定" in finding.message


def test_english_messages_on_request(book):
    result = audit(book, [ANNOUNCEMENT, {"step": "hearing_request", "date": "2024-04-10"},
                          {"step": "hearing", "date": "2024-05-20"}], lang="en")  # fmt: skip
    (finding,) = findings(result, "changan.hearing-window")
    assert finding.message.isascii()


def test_verdicts(book):
    assert audit(book, [{"step": "land_use_application", "date": "2024-05-06"}]).verdict == "compliant"
    assert audit(book, [{"step": "compensation_agreement", "date": "2024-05-05"}]).verdict == "violations"


def test_text_where_a_number_is_compared_is_unknown_with_the_value_named(book):
    facts = {"relocation_subsidy": "区征收办", "benchmark_land_value": 10000, "land_appraisal": 4000,
             "building_appraisal": 2000}  # fmt: skip
    result = audit(book, [{"step": "ownership_verification", "date": "2024-03-01"}],
                   jurisdiction="changzhou", procedure="state-land-acquisition", facts=facts)  # fmt: skip
    (finding,) = findings(result, "changzhou.relocation-subsidy-cap")
    assert finding.status == "unknown"
    assert "'区征收办'" in finding.message
