"""`compliance rules check`: z3 proves each pack admits compliant cases and finds colliding or redundant rules."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance.cli import main
from compliance.planning.rulecheck import check_rulebook
from compliance.rules.packs import DEFAULT_RULES_DIR, load_rulebook

PACK = """\
id: lab
version: 2024-01-01
title: {zh: 测试规则包, en: Test pack}
document: 测试文件
seed: 000_test.txt
jurisdictions: [lab]
procedures: [collective-expropriation]
in_force_from: 2024-01-01
"""

TESTS = """\
tests:
  - name: no events
    case: {events: [{step: risk_assessment, date: 2024-03-01}]}
    expect: not_applicable
  - name: still no events
    case: {events: [{step: risk_assessment, date: 2024-03-02}]}
    expect: not_applicable
"""


def rule(rule_id: str, check: str) -> str:
    return textwrap.dedent(f"""\
        id: lab.{rule_id}
        title: {{zh: {rule_id}, en: {rule_id}}}
        citation: {{seed: 000_test.txt, clause: 一, quote: 测试条文}}
        check:
          {check}
        """) + TESTS


def rulebook(tmp_path: Path, rules: dict[str, str]) -> Path:
    root = tmp_path / "rules"
    (root / "lab").mkdir(parents=True)
    shutil.copy(DEFAULT_RULES_DIR / "steps.yaml", root / "steps.yaml")
    (root / "lab" / "pack.yaml").write_text(PACK, encoding="utf-8")
    for name, check in rules.items():
        (root / "lab" / f"{name}.yaml").write_text(rule(name, check), encoding="utf-8")
    return root


CONTRADICTORY = {
    # The hearing after the announcement has ended, and before it has started: never both.
    "hearing-after-announcement": "precedence: {before: compensation_announcement.end, after: hearing}",
    "hearing-before-announcement": "date: {event: hearing, before: compensation_announcement.start}",
    "registration-after-hearing": "precedence: {before: hearing, after: compensation_registration}",
}


@pytest.fixture(scope="module")
def bundled_reports():
    return check_rulebook(load_rulebook())


def test_every_bundled_pack_admits_a_compliant_case_for_every_procedure(bundled_reports):
    assert bundled_reports
    assert all(r.consistent for r in bundled_reports), [r.pack for r in bundled_reports if not r.consistent]


def test_no_bundled_rule_collides_with_the_rest_of_its_pack(bundled_reports):
    bad = [(r.pack, f.rule, f.others) for r in bundled_reports for f in r.findings
           if f.kind in ("contradictory", "self-contradictory")]  # fmt: skip
    assert bad == []


def test_rules_check_passes_on_the_bundled_packs():
    result = CliRunner().invoke(main, ["rules", "check", "changan"])
    assert result.exit_code == 0, result.output
    assert "changan@" in result.output


def test_a_contradictory_pack_is_caught_naming_the_rules_that_collide(tmp_path: Path):
    (report,) = check_rulebook(load_rulebook(rulebook(tmp_path, CONTRADICTORY)))
    assert not report.passed
    found = {f.rule: (f.kind, f.others) for f in report.findings if f.kind == "contradictory"}
    assert found == {
        "lab.hearing-after-announcement": ("contradictory", ["lab.hearing-before-announcement"]),
        "lab.hearing-before-announcement": ("contradictory", ["lab.hearing-after-announcement"]),
        # It needs a hearing, and no compliant case has one: a casualty, named with its cause.
        "lab.registration-after-hearing": (
            "contradictory", ["lab.hearing-after-announcement", "lab.hearing-before-announcement"]),
    }


def test_a_contradictory_pack_fails_the_command(tmp_path: Path):
    root = rulebook(tmp_path, CONTRADICTORY)
    result = CliRunner().invoke(main, ["rules", "check", "--rules", str(root), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert '"passed": false' in result.output


def test_a_rule_implied_by_others_is_reported_redundant_with_the_rules_that_imply_it(tmp_path: Path):
    review, signoff = "compensation_plan_joint_review", "compensation_plan_signoff"
    posted = "compensation_announcement.start"
    root = rulebook(tmp_path, {
        "signoff-after-review": f"precedence: {{before: {review}, after: {signoff}}}",
        "announcement-after-signoff": f"precedence: {{before: {signoff}, after: {posted}}}",
        "announcement-after-review": f"precedence: {{before: {review}, after: {posted}}}",
    })  # fmt: skip
    (report,) = check_rulebook(load_rulebook(root))
    assert report.passed
    redundant = {f.rule: f.others for f in report.findings if f.kind == "redundant"}
    implied_by = ["lab.announcement-after-signoff", "lab.signoff-after-review"]
    assert redundant == {"lab.announcement-after-review": implied_by}


def test_a_prohibition_is_not_a_contradiction(tmp_path: Path):
    # It holds (is satisfied) exactly in the cases without the prohibited step.
    root = rulebook(tmp_path, {"no-decision": "absent: {step: compensation_decision}"})
    (report,) = check_rulebook(load_rulebook(root))
    assert report.passed
    assert report.findings == []


def test_an_unknown_pack_is_an_input_error():
    result = CliRunner().invoke(main, ["rules", "check", "nosuchpack"])
    assert result.exit_code == 2
