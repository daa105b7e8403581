"""`compliance plan`: output as CASES.md §5, exit codes 0 feasible / 1 infeasible or violations / 2 input error."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from compliance.cli import main
from tests.plan_helpers import DATA


def plan(*args: str):
    return CliRunner().invoke(main, ["plan", *args])


def test_json_output_has_exactly_the_fields_of_the_contract():
    result = plan(str(DATA / "hearing-open.yaml"), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert list(doc) == ["case", "feasible", "schedule", "violations", "conflicts"]
    assert doc["schedule"]["hearing#1"] == {"date": "2025-05-07"}
    assert doc["schedule"]["revised_plan_publication#1"] == {"start": "2025-05-07", "end": "2025-05-14"}


def test_an_infeasible_plan_exits_1_with_null_schedule_and_conflicts():
    result = plan(str(DATA / "hearing-too-early.yaml"), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["feasible"] is False and doc["schedule"] is None
    assert {c["rule"] for c in doc["conflicts"]} == {"changan.announcement-min-period", "changan.hearing-window"}


def test_text_output_shows_the_conflicting_rules_with_their_clauses():
    result = plan(str(DATA / "hearing-too-early.yaml"))
    assert result.exit_code == 1
    assert "changan.hearing-window  三(五)" in result.output
    assert "hearing#1 = 2025-04-20" in result.output


def test_keep_prints_each_move_with_the_rule_behind_it():
    result = plan(str(DATA / "hearing-late-proposal.yaml"), "--objective", "keep")
    assert result.exit_code == 0
    assert "听证会 2025-06-20 → 2025-05-26, 依据 changan.hearing-window" in result.output


def test_window_prints_the_earliest_and_latest_day():
    result = plan(str(DATA / "hearing-open.yaml"), "--window", "hearing", "--lang", "en")
    assert result.exit_code == 0
    assert "earliest 2025-05-07, latest 2025-05-26" in result.output


def test_window_json_holds_the_window():
    result = plan(str(DATA / "hearing-open.yaml"), "--window", "听证会", "--format", "json")
    assert json.loads(result.output)["window"] == {
        "event": "hearing#1", "part": "date", "earliest": "2025-05-07", "latest": "2025-05-26"}  # fmt: skip


def test_a_missing_file_is_an_input_error():
    assert plan("no/such/file.yaml").exit_code == 2


def test_an_unknown_window_step_is_an_input_error_with_a_suggestion():
    result = plan(str(DATA / "hearing-open.yaml"), "--window", "hearin")
    assert result.exit_code == 2
    assert "hearing" in result.output


def test_a_schedule_without_any_date_is_an_input_error(tmp_path: Path):
    path = tmp_path / "undated.yaml"
    path.write_text(
        "case: U\nprocedure: collective-expropriation\njurisdiction: xian-changan\n"
        "events:\n  - {step: hearing, status: planned}\n",
        encoding="utf-8",
    )
    result = plan(str(path))
    assert result.exit_code == 2
    assert "today" in result.output


def test_a_bad_case_file_is_an_input_error(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("case: B\nprocedure: collective-expropriation\njurisdiction: xian-changan\n"
                    "events:\n  - {step: heering, date: 2025-01-01}\n", encoding="utf-8")  # fmt: skip
    result = plan(str(path))
    assert result.exit_code == 2
    assert "hearing" in result.output
