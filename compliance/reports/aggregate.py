"""Running totals of a batch, kept while results stream past (every report reads them at the end).

Workers tally their own chunks (a `Tally` holds no rule book, so it travels cheaply between
processes); the main process merges the tallies into its `Totals`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from compliance.engine.batch_worker import MAX_TIMELINES, CaseOutcome
from compliance.findings import CaseResult, Finding
from compliance.rules.packs import RuleBook

UNASSIGNED = "未指定"
SUMMARY_KEY = {"compliant": "compliant", "violations": "violations", "incomplete": "incomplete", "error": "errors"}


@dataclass
class RuleTotals:
    rule: str
    title: str
    pack: str
    clause: str
    violated: int = 0
    unknown: int = 0
    cases: set[str] = field(default_factory=set)


def department_map(book: RuleBook) -> dict[str, dict[str, str]]:
    """pack id → step → responsible department (the packs' `departments:`, the seeds' 职责分工)."""
    return {pack.id: dict(pack.spec.departments) for pack in book.packs}


@dataclass
class Tally:
    departments_of: dict[str, dict[str, str]]
    summary: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    rules: dict[str, RuleTotals] = field(default_factory=dict)
    jurisdictions: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    years: dict[int | str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    departments: Counter = field(default_factory=Counter)
    errors: list[CaseResult] = field(default_factory=list)
    timelines: list[CaseOutcome] = field(default_factory=list)
    max_timelines: int = MAX_TIMELINES

    def add(self, outcome: CaseOutcome) -> None:
        result = outcome.result
        verdict = result.verdict
        summary = self.summary
        summary["cases"] += 1
        summary[SUMMARY_KEY[verdict]] += 1
        self.jurisdictions[result.jurisdiction or UNASSIGNED][verdict] += 1
        self.years[outcome.year or UNASSIGNED][verdict] += 1
        if verdict == "error":
            self.errors.append(result)
            return
        statuses, case = self.statuses, result.case or ""
        for finding in result.findings:
            status = finding.status
            statuses[status] += 1
            if status == "violated":
                totals = self._rule(finding)
                totals.violated += 1
                self.departments[self.department(finding)] += 1
            elif status == "unknown":
                totals = self._rule(finding)
                totals.unknown += 1
            else:
                continue
            totals.cases.add(case)
        if outcome.timeline and len(self.timelines) < self.max_timelines:
            self.timelines.append(outcome)

    def _rule(self, finding: Finding) -> RuleTotals:
        totals = self.rules.get(finding.rule)
        if totals is None:
            clause = finding.citation.get("clause", "")
            totals = self.rules[finding.rule] = RuleTotals(finding.rule, finding.title, finding.pack, clause)
        return totals

    def department(self, finding: Finding) -> str:
        """Who answers for a violation: the department of the judged event's step, per the pack."""
        departments = self.departments_of.get(finding.pack)
        if departments is None or not finding.events:
            return UNASSIGNED
        return departments.get(finding.events[0].split("#")[0], UNASSIGNED)

    def merge(self, other: Tally) -> None:
        self.summary.update(other.summary)
        self.statuses.update(other.statuses)
        self.departments.update(other.departments)
        for name, counts in other.jurisdictions.items():
            self.jurisdictions[name].update(counts)
        for year, counts in other.years.items():
            self.years[year].update(counts)
        for rule, theirs in other.rules.items():
            ours = self.rules.get(rule)
            if ours is None:
                self.rules[rule] = theirs
            else:
                ours.violated += theirs.violated
                ours.unknown += theirs.unknown
                ours.cases |= theirs.cases
        self.errors.extend(other.errors)
        room = self.max_timelines - len(self.timelines)
        self.timelines.extend(other.timelines[: max(0, room)])

    def summary_json(self) -> dict[str, Any]:
        keys = ("cases", "compliant", "violations", "incomplete", "errors")
        out: dict[str, Any] = {k: self.summary.get(k, 0) for k in keys}
        out["findings"] = {s: self.statuses.get(s, 0) for s in ("violated", "unknown", "satisfied", "not_applicable")}
        return out

    def rule_rows(self) -> list[RuleTotals]:
        return sorted(self.rules.values(), key=lambda r: (-r.violated, -r.unknown, r.rule))


@dataclass
class Totals(Tally):
    """The main process's totals: a tally plus the rule book, for the reports that name steps."""

    book: RuleBook | None = None

    @classmethod
    def of(cls, book: RuleBook) -> Totals:
        return cls(department_map(book), book=book)
