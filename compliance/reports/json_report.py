"""JSON report (CASES.md §4): {"cases": [...], "summary": {...}}, written chunk by chunk."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.reports.aggregate import Totals
from compliance.reports.rendering import Rendered


class JsonReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "wb")
        self.handle.write(b'{"cases": [\n')
        self.first = True

    def write(self, rendered: Rendered) -> None:
        if not rendered.json:
            return
        if not self.first:
            self.handle.write(b",\n")
        self.first = False
        self.handle.write(rendered.json)

    def close(self, totals: Totals) -> Path:
        self.handle.write(b'\n],\n"summary": ')
        self.handle.write(json.dumps(totals.summary_json(), ensure_ascii=False).encode("utf-8"))
        self.handle.write(b"}\n")
        self.handle.close()
        return self.path
