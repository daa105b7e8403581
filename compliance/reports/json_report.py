"""JSON report (CASES.md §4): {"cases": [...], "summary": {...}}, written case by case."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Totals


class JsonReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "w", encoding="utf-8")
        self.handle.write('{"cases": [\n')
        self.first = True

    def add(self, outcome: CaseOutcome) -> None:
        if not self.first:
            self.handle.write(",\n")
        self.first = False
        self.handle.write(json.dumps(outcome.result.to_json(), ensure_ascii=False, default=str))

    def close(self, totals: Totals) -> Path:
        self.handle.write('\n],\n"summary": ')
        self.handle.write(json.dumps(totals.summary_json(), ensure_ascii=False))
        self.handle.write("}\n")
        self.handle.close()
        return self.path
