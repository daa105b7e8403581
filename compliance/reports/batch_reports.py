"""The batch's report writers, fed one outcome at a time and closed with the totals."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Totals
from compliance.reports.csv_report import CsvReport
from compliance.reports.excel_report import ExcelReport
from compliance.reports.html_report import HtmlReport
from compliance.reports.json_report import JsonReport
from compliance.reports.junit_report import JunitReport
from compliance.rules.packs import RuleBook

FORMATS = ("json", "csv", "xlsx", "junit", "html")
FILE_NAMES = {
    "json": "report.json",
    "csv": "findings.csv",
    "xlsx": "report.xlsx",
    "junit": "junit.xml",
    "html": "report.html",
}


class Writer(Protocol):
    def add(self, outcome: CaseOutcome) -> None: ...

    def close(self, totals: Totals) -> Path: ...


class Reports:
    def __init__(self, out: Path, formats: list[str], book: RuleBook, inputs: list[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.totals = Totals(book)
        self.writers: list[Writer] = []
        for fmt in formats:
            path = out / FILE_NAMES[fmt]
            if fmt == "json":
                self.writers.append(JsonReport(path))
            elif fmt == "csv":
                self.writers.append(CsvReport(path, self.totals))
            elif fmt == "xlsx":
                self.writers.append(ExcelReport(path, self.totals))
            elif fmt == "junit":
                self.writers.append(JunitReport(path))
            elif fmt == "html":
                self.writers.append(HtmlReport(path, inputs))

    def add(self, outcome: CaseOutcome) -> None:
        self.totals.add(outcome)
        for writer in self.writers:
            writer.add(outcome)

    def close(self) -> list[Path]:
        return [writer.close(self.totals) for writer in self.writers]
