"""CSV report: one row per finding shown (and one per case that could not be checked)."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from compliance.reports.aggregate import Totals
from compliance.reports.rendering import CSV_COLUMNS, Rendered


class CsvReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "wb")
        # The BOM: Excel opens Chinese text in a CSV correctly only with it.
        header = io.StringIO()
        csv.writer(header).writerow(CSV_COLUMNS)
        self.handle.write(codecs.BOM_UTF8 + header.getvalue().encode("utf-8"))

    def write(self, rendered: Rendered) -> None:
        self.handle.write(rendered.csv)

    def close(self, totals: Totals) -> Path:
        self.handle.close()
        return self.path
