"""Case files (CASES.md §1–2): what loads, and how bad input is reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from compliance.model import load_case
from compliance.rules.packs import RuleBook
from compliance.sourcefile import InputError

HEADER = "case: T-1\nprocedure: collective-expropriation\njurisdiction: xian-changan\n"


def write(tmp_path: Path, body: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def error_of(tmp_path: Path, book: RuleBook, body: str, name: str = "case.yaml") -> InputError:
    with pytest.raises(InputError) as caught:
        load_case(write(tmp_path, body, name), book.vocabulary)
    return caught.value


def test_chinese_step_names_resolve_to_step_ids(tmp_path, book):
    case = load_case(write(tmp_path, HEADER + "events:\n  - {step: 听证会, date: 2024-05-20}\n"), book.vocabulary)
    assert case.events[0].step == "hearing"
    assert case.events[0].key == "hearing#1"


def test_shared_chinese_name_resolves_by_procedure_family(tmp_path, book):
    body = HEADER + "events:\n  - {step: 补偿款支付, date: 2024-05-20}\n"
    collective = load_case(write(tmp_path, body), book.vocabulary)
    state = load_case(
        write(
            tmp_path,
            "case: T-2\nprocedure: state-land-acquisition\njurisdiction: changzhou\n"
            "events:\n  - {step: 补偿款支付, date: 2024-05-20}\n",
            "state.yaml",
        ),
        book.vocabulary,
    )
    assert collective.events[0].step == "compensation_paid"
    assert state.events[0].step == "payment"


def test_repeated_steps_are_numbered_in_file_order(tmp_path, book):
    body = HEADER + "events:\n" + "".join(
        f"  - {{step: compensation_agreement, date: 2024-05-{d}}}\n" for d in (20, 10, 30)
    )
    case = load_case(write(tmp_path, body), book.vocabulary)
    assert [e.key for e in case.events] == [
        "compensation_agreement#1",
        "compensation_agreement#2",
        "compensation_agreement#3",
    ]


def test_json_case_files_load_like_yaml(tmp_path, book):
    body = (
        '{"case": "J-1", "procedure": "collective-expropriation", "jurisdiction": "xian-changan",\n'
        ' "events": [{"step": "pre_announcement", "start": "2024-03-01", "end": "2024-03-15"}]}'
    )
    case = load_case(write(tmp_path, body, "case.json"), book.vocabulary)
    assert case.events[0].start == dt.date(2024, 3, 1)


def test_misspelt_step_names_file_line_field_and_closest_step(tmp_path, book):
    err = error_of(tmp_path, book, HEADER + "events:\n  - step: hearnig\n    date: 2024-05-20\n")
    assert err.line == 5
    assert err.field == "events[0].step"
    assert "hearnig" in err.message
    assert "hearing" in (err.suggestion or "")


def test_impossible_date_names_its_line_and_field(tmp_path, book):
    err = error_of(tmp_path, book, HEADER + "events:\n  - step: hearing\n    date: 2024-02-30\n")
    assert err.field == "events[0].date"
    assert err.line == 6
    assert err.expected == "ISO 日期 YYYY-MM-DD"


def test_period_end_before_start_is_an_input_error(tmp_path, book):
    err = error_of(
        tmp_path, book, HEADER + "events:\n  - {step: pre_announcement, start: 2024-03-15, end: 2024-03-01}\n"
    )
    assert err.field == "events[0].end"
    assert "2024-03-01" in err.message


def test_period_step_given_only_a_date_is_an_input_error(tmp_path, book):
    err = error_of(tmp_path, book, HEADER + "events:\n  - {step: pre_announcement, date: 2024-03-15}\n")
    assert err.field == "events[0].date"
    assert "start" in (err.expected or "")


def test_instant_step_given_a_period_is_an_input_error(tmp_path, book):
    err = error_of(tmp_path, book, HEADER + "events:\n  - {step: hearing, start: 2024-03-15, end: 2024-03-16}\n")
    assert err.field == "events[0].start"


def test_vote_with_more_in_favour_than_members_is_an_input_error(tmp_path, book):
    body = HEADER + (
        "events:\n  - step: villager_vote\n    date: 2024-04-02\n"
        "    data: {motion: waive_retained_land, body: representatives, members: 60, present: 52, in_favour: 61}\n"
    )
    err = error_of(tmp_path, book, body)
    assert err.field == "events[0].data.in_favour"
    assert err.line == 7


def test_missing_required_field_is_named(tmp_path, book):
    err = error_of(tmp_path, book, "case: T-1\nprocedure: collective-expropriation\nevents: []\n")
    assert err.field == "jurisdiction"


def test_unknown_procedure_lists_the_known_ones(tmp_path, book):
    err = error_of(tmp_path, book, "case: T\nprocedure: expropriation\njurisdiction: xian-changan\n")
    assert err.field == "procedure"
    assert "collective-expropriation" in (err.expected or "")


def test_yaml_syntax_error_names_the_line(tmp_path, book):
    err = error_of(tmp_path, book, HEADER + "events:\n  - {step: hearing, date: 2024-05-20\n")
    assert err.line is not None
    assert "语法错误" in err.message


def test_planned_events_may_leave_dates_open(tmp_path, book):
    body = HEADER + (
        "events:\n  - {step: hearing, status: planned, date: null, earliest: 2025-06-01, latest: 2025-06-30}\n"
        "  - {step: compensation_announcement, status: planned, start: 2025-04-01, end: null}\n"
    )
    case = load_case(write(tmp_path, body), book.vocabulary)
    hearing, announcement = case.events
    assert hearing.planned and hearing.date is None and hearing.latest == dt.date(2025, 6, 30)
    assert announcement.start == dt.date(2025, 4, 1) and announcement.end is None


def test_done_event_after_today_is_an_input_error(tmp_path, book):
    body = HEADER + "today: 2025-03-20\nevents:\n  - {step: hearing, date: 2025-03-21}\n"
    err = error_of(tmp_path, book, body)
    assert err.field == "events[0].date"


def test_a_date_in_step_data_must_be_iso(tmp_path, book):
    body = HEADER + (
        "events:\n  - step: committee_meeting\n    date: 2024-05-15\n"
        "    data: {members: 15, present: 12, notice_date: '20240510'}\n"
    )
    err = error_of(tmp_path, book, body.replace("xian-changan", "jieyang"))
    assert err.field == "events[0].data.notice_date"
    assert err.expected == "YYYY-MM-DD"
