"""The command line as a clerk and a shell hook use it (CASES.md §4 exit codes and JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from compliance.cli import main

COMPLIANT = """case: OK-1
procedure: collective-expropriation
jurisdiction: xian-changan
events:
  - {step: land_use_application, date: 2024-05-06}
"""
VIOLATING = """case: BAD-1
procedure: collective-expropriation
jurisdiction: xian-changan
events:
  - {step: compensation_announcement, start: 2024-03-22, end: 2024-04-23}
  - {step: hearing_request, date: 2024-04-10}
  - {step: 听证会, date: 2024-05-20}
"""
BROKEN = """case: BROKEN-1
procedure: collective-expropriation
jurisdiction: xian-changan
events:
  - {step: hearnig, date: 2024-05-20}
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def files(tmp_path: Path, **named: str) -> Path:
    for name, text in named.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_all_compliant_exits_zero(tmp_path):
    result = run("audit", str(files(tmp_path, ok=COMPLIANT)))
    assert result.exit_code == 0
    assert "合规" in result.output


def test_a_violation_exits_one_and_names_rule_window_and_citation(tmp_path):
    result = run("audit", str(files(tmp_path, bad=VIOLATING)))
    assert result.exit_code == 1
    assert "changan.hearing-window" in result.output
    assert "hearing in (2024-04-23, 2024-05-13]" in result.output
    assert "三(五)" in result.output


def test_a_bad_file_in_a_batch_is_reported_and_the_rest_still_checked(tmp_path):
    result = run("audit", "--format", "json", str(files(tmp_path, a=COMPLIANT, b=VIOLATING, c=BROKEN)))
    assert result.exit_code == 2
    doc = json.loads(result.output)
    verdicts = {c["case"] or Path(c["file"]).name: c["verdict"] for c in doc["cases"]}
    assert verdicts == {"OK-1": "compliant", "BAD-1": "violations", "c.yaml": "error"}
    broken = next(c for c in doc["cases"] if c["verdict"] == "error")
    assert broken["error_detail"]["line"] == 5
    assert broken["error_detail"]["field"] == "events[0].step"
    assert "hearing" in broken["error_detail"]["suggestion"]
    assert doc["summary"] == {"cases": 3, "compliant": 1, "violations": 1, "incomplete": 0, "errors": 1}


def test_json_findings_have_the_contract_fields(tmp_path):
    result = run("audit", "--format", "json", str(files(tmp_path, bad=VIOLATING)))
    case = json.loads(result.output)["cases"][0]
    assert case["packs"] == ["changan@2021-12-09"]
    finding = next(f for f in case["findings"] if f["rule"] == "changan.hearing-window")
    assert finding["status"] == "violated"
    assert finding["severity"] == "error"
    assert finding["events"] == ["hearing#1", "compensation_announcement#1"]
    assert finding["expected"] == "hearing in (2024-04-23, 2024-05-13]"
    assert finding["citation"]["seed"] == "001_b601638a905635b9.txt"
    assert finding["citation"]["clause"] == "三(五)"


def test_text_hides_satisfied_findings_unless_all(tmp_path):
    path = str(files(tmp_path, bad=VIOLATING))
    assert "[符合]" not in run("audit", path).output
    assert "[符合]" in run("audit", "--all", path).output


def test_english_output(tmp_path):
    result = run("audit", "--lang", "en", str(files(tmp_path, bad=VIOLATING)))
    assert "VIOLATED" in result.output


def test_missing_path_is_a_usage_error(tmp_path):
    result = run("audit", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2


def test_rules_list_and_show(tmp_path):
    listing = run("rules", "list", "--pack", "changan")
    assert "changan.hearing-window" in listing.output
    shown = run("rules", "show", "changan.hearing-window")
    assert shown.exit_code == 0
    assert "公告期满后20日内" in shown.output


def test_rules_show_unknown_rule_fails():
    assert run("rules", "show", "changan.nope").exit_code != 0


def test_steps_lists_ids_and_chinese_names():
    result = run("steps")
    assert "hearing" in result.output and "听证会" in result.output


def test_rule_pack_tests_run_from_the_cli():
    result = run("test", "rules/changan")
    assert result.exit_code == 0
    assert " 0 failed" in result.output


def test_calendar_file_option_changes_working_days(tmp_path):
    # Declare 2024-05-13 a holiday: the hearing deadline (2024-05-13) moves to the 14th.
    calendar = tmp_path / "cal.yaml"
    calendar.write_text("years:\n  - year: 2024\n    holidays: [2024-05-13]\n", encoding="utf-8")
    case = VIOLATING.replace("2024-05-20", "2024-05-14")
    path = files(tmp_path, bad=case) / "bad.yaml"
    assert run("audit", str(path)).exit_code == 1
    assert "hearing-window" not in run("audit", "--calendar", str(calendar), str(path)).output
