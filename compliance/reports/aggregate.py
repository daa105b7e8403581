"""Running totals of a batch, kept while results stream past (every report reads them at the end)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from compliance.engine.batch_worker import MAX_TIMELINES, CaseOutcome
from compliance.findings import CaseResult, Finding
from compliance.rules.packs import RuleBook

UNASSIGNED = "未指定"


@dataclass
class RuleTotals:
    rule: str
    title: str
    pack: str
    clause: str
    violated: int = 0
    unknown: int = 0
    cases: set[str] = field(default_factory=set)


@dataclass
class Totals:
    book: RuleBook
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
        self.summary["cases"] += 1
        self.summary[
            {"compliant": "compliant", "violations": "violations", "incomplete": "incomplete", "error": "errors"}[
                verdict
            ]
        ] += 1
        self.jurisdictions[result.jurisdiction or UNASSIGNED][verdict] += 1
        self.years[outcome.year or UNASSIGNED][verdict] += 1
        if verdict == "error":
            self.errors.append(result)
            return
        for finding in result.findings:
            self.statuses[finding.status] += 1
            if finding.status not in ("violated", "unknown"):
                continue
            totals = self.rules.get(finding.rule)
            if totals is None:
                totals = self.rules[finding.rule] = RuleTotals(
                    finding.rule, finding.title, finding.pack, finding.citation.get("clause", "")
                )
            setattr(totals, finding.status, getattr(totals, finding.status) + 1)
            totals.cases.add(result.case or "")
            if finding.status == "violated":
                self.departments[self.department(finding)] += 1
        if outcome.timeline and len(self.timelines) < self.max_timelines:
            self.timelines.append(outcome)

    def department(self, finding: Finding) -> str:
        """Who answers for a violation: the department of the judged event's step, per the pack."""
        pack = self.book.pack(finding.pack)
        if pack is None or not finding.events:
            return UNASSIGNED
        step = finding.events[0].split("#")[0]
        return pack.spec.departments.get(step, UNASSIGNED)

    def summary_json(self) -> dict[str, Any]:
        keys = ("cases", "compliant", "violations", "incomplete", "errors")
        out: dict[str, Any] = {k: self.summary.get(k, 0) for k in keys}
        out["findings"] = {s: self.statuses.get(s, 0) for s in ("violated", "unknown", "satisfied", "not_applicable")}
        return out

    def rule_rows(self) -> list[RuleTotals]:
        return sorted(self.rules.values(), key=lambda r: (-r.violated, -r.unknown, r.rule))

    def step_name(self, key: str) -> str:
        step = key.split("#")[0]
        known = self.book.vocabulary.steps.get(step)
        return known.zh if known else step
