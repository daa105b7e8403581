"""The batch's report writers, fed one outcome at a time and closed with the totals."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Tally, Totals
from compliance.reports.csv_report import CsvReport
from compliance.reports.excel_report import ExcelReport
from compliance.reports.html_report import HtmlReport
from compliance.reports.json_report import JsonReport
from compliance.reports.junit_report import JunitReport
from compliance.reports.rendering import Rendered, render
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
    def write(self, rendered: Rendered) -> None: ...

    def close(self, totals: Totals) -> Path: ...


class Reports:
    def __init__(self, out: Path, formats: list[str], book: RuleBook, inputs: list[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.totals = Totals.of(book)
        self.formats = tuple(formats)
        self.writers: list[Writer] = []
        for fmt in formats:
            path = out / FILE_NAMES[fmt]
            if fmt == "json":
                self.writers.append(JsonReport(path))
            elif fmt == "csv":
                self.writers.append(CsvReport(path))
            elif fmt == "xlsx":
                self.writers.append(ExcelReport(path))
            elif fmt == "junit":
                self.writers.append(JunitReport(path))
            elif fmt == "html":
                self.writers.append(HtmlReport(path, inputs))

    def write(self, rendered: Rendered) -> None:
        """A chunk rendered by a worker (`rendering.render`): append it to every report, merge its tally."""
        self.totals.merge(rendered.tally)
        for writer in self.writers:
            writer.write(rendered)

    def add(self, outcome: CaseOutcome) -> None:
        """One outcome checked here (rendered in this process)."""
        self.write(render([outcome], self.formats, Tally(self.totals.departments_of)))

    def close(self) -> list[Path]:
        return [writer.close(self.totals) for writer in self.writers]
