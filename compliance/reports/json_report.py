"""JSON report (CASES.md §4): {"cases": [...], "summary": {...}}, written chunk by chunk."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.reports.aggregate import Totals
from compliance.reports.rendering import Rendered


class JsonReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "w", encoding="utf-8")
        self.handle.write('{"cases": [\n')
        self.first = True

    def write(self, rendered: Rendered) -> None:
        if not rendered.json:
            return
        if not self.first:
            self.handle.write(",\n")
        self.first = False
        self.handle.write(",\n".join(rendered.json))

    def close(self, totals: Totals) -> Path:
        self.handle.write('\n],\n"summary": ')
        self.handle.write(json.dumps(totals.summary_json(), ensure_ascii=False))
        self.handle.write("}\n")
        self.handle.close()
        return self.path
