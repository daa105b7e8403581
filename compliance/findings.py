"""Findings and case results: what every engine reports (CASES.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["violated", "satisfied", "not_applicable", "unknown"]
Verdict = Literal["compliant", "violations", "incomplete", "error"]
STATUS_ORDER = {"violated": 3, "unknown": 2, "satisfied": 1, "not_applicable": 0}


@dataclass
class Finding:
    rule: str
    status: Status
    severity: str
    message: str
    citation: dict[str, str]
    events: list[str]
    expected: str | None = None
    key: str = "case"
    title: str = ""
    provisional: list[int] = field(default_factory=list)
    earliest: str | None = None
    latest: str | None = None
    pack: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "status": self.status,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "citation": self.citation,
            "events": self.events,
            "expected": self.expected,
        }
        if self.earliest:
            data["earliest"] = self.earliest
        if self.latest:
            data["latest"] = self.latest
        if self.provisional:
            data["provisional"] = True
            data["provisional_years"] = self.provisional
        return data


@dataclass
class CaseResult:
    case: str | None
    file: str | None
    packs: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    error_detail: dict[str, Any] | None = None
    jurisdiction: str | None = None
    procedure: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.error is not None:
            return "error"
        statuses = {f.status for f in self.findings}
        if "violated" in statuses:
            return "violations"
        if "unknown" in statuses:
            return "incomplete"
        return "compliant"

    def to_json(self, findings: list[Any] | None = None) -> dict[str, Any]:
        """The case as CASES.md §4 gives it; `findings` in place of its findings' JSON, when given."""
        data: dict[str, Any] = {
            "case": self.case,
            "file": self.file,
            "jurisdiction": self.jurisdiction,
            "procedure": self.procedure,
            "packs": self.packs,
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings] if findings is None else findings,
        }
        if self.error is not None:
            data["error"] = self.error
            if self.error_detail:
                data["error_detail"] = self.error_detail
        return data


def summarize(results: list[CaseResult]) -> dict[str, int]:
    verdicts = [r.verdict for r in results]
    return {
        "cases": len(results),
        "compliant": verdicts.count("compliant"),
        "violations": verdicts.count("violations"),
        "incomplete": verdicts.count("incomplete"),
        "errors": verdicts.count("error"),
    }


def exit_code(results: list[CaseResult]) -> int:
    """CASES.md §4: 2 for any error, else 1 for any violation or unknown, else 0."""
    verdicts = {r.verdict for r in results}
    if "error" in verdicts:
        return 2
    if verdicts & {"violations", "incomplete"}:
        return 1
    return 0
