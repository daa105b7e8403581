"""Running the YAML test cases that ship inside every rule file (`compliance test rules/`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.ground import ground_rule
from compliance.findings import STATUS_ORDER, Finding
from compliance.model import case_from_mapping
from compliance.rules.packs import NoPackError, Pack, RuleBook, RuleSource
from compliance.sourcefile import InputError


@dataclass
class RuleTestResult:
    rule: str
    name: str
    passed: bool
    detail: str
    location: str


def run_rule_tests(
    book: RuleBook, only: list[Path] | None = None, calendar: Calendar = DEFAULT_CALENDAR
) -> list[RuleTestResult]:
    results = []
    for pack in book.packs:
        for rule in pack.rules:
            if only and not any(_within(rule.file, p) for p in only):
                continue
            for index in range(len(rule.tests)):
                results.append(run_one(book, pack, rule, index, calendar))
    return results


def _within(file: Path, selector: Path) -> bool:
    file, selector = file.resolve(), selector.resolve()
    return file == selector or selector in file.parents


def test_case_document(pack: Pack, rule: RuleSource, index: int) -> dict[str, Any]:
    """The test's case with the defaults a rule author need not repeat."""
    test = rule.tests[index]
    document = dict(test.case)
    document.setdefault("case", f"{rule.id}/{index + 1}")
    document.setdefault("jurisdiction", pack.spec.jurisdictions[0])
    document.setdefault("procedure", (rule.spec.procedures or pack.spec.procedures)[0])
    document.setdefault("events", [])
    return document


def findings_for_test(book: RuleBook, pack: Pack, rule: RuleSource, index: int, calendar: Calendar) -> list[Finding]:
    document = test_case_document(pack, rule, index)
    location = f"{rule.file}:{rule.test_lines[index] or ''}"
    case = case_from_mapping(document, book.vocabulary, file=location)
    # Tests about facts alone need no dated event: they are judged as of the pack's first day.
    selected = book.select(case.jurisdiction, case.procedure, case.first_date() or pack.spec.in_force_from)
    if pack.id not in [p.id for p in selected]:
        raise NoPackError(f"测试用例不在规则包 {pack.label} 的适用范围内", f"test case outside {pack.label}")
    reader = DateReader(case, calendar)
    names = {s.id: s.zh for s in book.vocabulary.steps.values()}
    return [judge(g, reader, "zh", names) for core in rule.core for g in ground_rule(core, case)]


def run_one(book: RuleBook, pack: Pack, rule: RuleSource, index: int, calendar: Calendar) -> RuleTestResult:
    test = rule.tests[index]
    expect = test.expectation()
    location = f"{rule.file}:{rule.test_lines[index] or ''}"
    try:
        findings = findings_for_test(book, pack, rule, index, calendar)
    except (InputError, NoPackError) as exc:
        return RuleTestResult(rule.id, test.name, False, f"case does not load: {exc}", location)
    except Exception as exc:  # an engine failure is this test's failure; the other tests still run
        return RuleTestResult(rule.id, test.name, False, f"judging the rule failed: {type(exc).__name__}: {exc}",
                              location)  # fmt: skip
    worst = max((f.status for f in findings), key=lambda s: STATUS_ORDER[s], default="not_applicable")
    problems = []
    if worst != expect.status:
        problems.append(f"expected {expect.status}, got {worst}")
    matching = [f for f in findings if f.status == expect.status]
    if expect.findings is not None and len(matching) != expect.findings:
        problems.append(f"expected {expect.findings} {expect.status} finding(s), got {len(matching)}")
    if expect.total is not None and len(findings) != expect.total:
        problems.append(f"expected {expect.total} finding(s) of this rule in all, got {len(findings)}")
    if expect.events is not None and (not matching or matching[0].events != expect.events):
        problems.append(f"expected events {expect.events}, got {matching[0].events if matching else None}")
    if expect.expected is not None and (not matching or matching[0].expected != expect.expected):
        problems.append(f"expected window {expect.expected!r}, got {matching[0].expected if matching else None!r}")
    if expect.provisional is not None and (not matching or bool(matching[0].provisional) != expect.provisional):
        problems.append(f"expected provisional={expect.provisional}")
    detail = "; ".join(problems) if problems else "ok"
    if problems:
        detail += " | findings: " + "; ".join(f"{f.key}: {f.status} — {f.message}" for f in findings)
    return RuleTestResult(rule.id, test.name, not problems, detail, location)
