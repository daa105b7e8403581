"""CSV report: one row per finding shown (and one per case that could not be checked)."""

from __future__ import annotations

import csv
from pathlib import Path

from compliance.reports.aggregate import Totals
from compliance.reports.rendering import CSV_COLUMNS, Rendered


class CsvReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        # utf-8-sig: Excel opens Chinese text in a CSV correctly only with the BOM.
        self.handle = open(path, "w", newline="", encoding="utf-8-sig")
        csv.writer(self.handle).writerow(CSV_COLUMNS)

    def write(self, rendered: Rendered) -> None:
        self.handle.write(rendered.csv)

    def close(self, totals: Totals) -> Path:
        self.handle.close()
        return self.path
