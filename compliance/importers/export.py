"""Case documents (the case-file structure) as event-table rows: for tests, examples and the benchmark."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compliance.importers.cells import cell_text

CASE_COLUMNS = ("case", "jurisdiction", "procedure", "title")
EVENT_COLUMNS = ("step", "date", "start", "end", "ref", "actor")


def event_rows(case: dict[str, Any]) -> list[dict[str, str | None]]:
    """One row per event; case-level columns and facts repeat on every row (as exports do)."""
    head = {name: cell_text(case.get(name)) for name in CASE_COLUMNS}
    head.update({f"facts.{k}": cell_text(v) for k, v in (case.get("facts") or {}).items()})
    rows = []
    for event in case.get("events") or []:
        row = dict(head)
        row.update({name: cell_text(event.get(name)) for name in EVENT_COLUMNS})
        row.update({f"data.{k}": cell_text(v) for k, v in (event.get("data") or {}).items()})
        rows.append(row)
    return rows or [head]


def write_csv(path: Path, cases: Iterable[dict[str, Any]], headers: dict[str, str] | None = None) -> int:
    """Write cases as one CSV event log; `headers` renames our column names (e.g. to Chinese)."""
    rows = [row for case in cases for row in event_rows(case)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    rename = headers or {}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([rename.get(c, c) for c in columns])
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
    return len(rows)
