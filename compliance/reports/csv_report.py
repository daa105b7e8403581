"""CSV report: one row per finding shown (and one per case that could not be checked)."""

from __future__ import annotations

import csv
from pathlib import Path

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Totals

COLUMNS = (
    "case",
    "file",
    "jurisdiction",
    "procedure",
    "verdict",
    "rule",
    "status",
    "severity",
    "title",
    "message",
    "events",
    "expected",
    "earliest",
    "latest",
    "clause",
    "document",
    "seed",
    "department",
    "error",
)


class CsvReport:
    def __init__(self, path: Path, totals: Totals) -> None:
        self.path = path
        self.totals = totals
        # utf-8-sig: Excel opens Chinese text in a CSV correctly only with the BOM.
        self.handle = open(path, "w", newline="", encoding="utf-8-sig")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(COLUMNS)

    def add(self, outcome: CaseOutcome) -> None:
        result = outcome.result
        head = [result.case or "", result.file or "", result.jurisdiction or "", result.procedure or "", result.verdict]
        if result.error is not None:
            self.writer.writerow([*head, "", "error", "", "", "", "", "", "", "", "", "", "", "", result.error])
            return
        for f in result.findings:
            department = self.totals.department(f) if f.status == "violated" else ""
            self.writer.writerow(
                [
                    *head,
                    f.rule,
                    f.status,
                    f.severity,
                    f.title,
                    f.message,
                    " ".join(f.events),
                    f.expected or "",
                    f.earliest or "",
                    f.latest or "",
                    f.citation.get("clause", ""),
                    f.citation.get("document", ""),
                    f.citation.get("seed", ""),
                    department,
                    "",
                ]
            )

    def close(self, totals: Totals) -> Path:
        self.handle.close()
        return self.path
