"""Normalized event rows → one case document per case, located by source line, for the model.

The model (`compliance.model.case_from_document`) is the one judge of what a valid case
is; giving it each event's source line makes its errors name the table's line or row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from compliance.findings import CaseResult
from compliance.importers.cells import iso_date_text, parse_cell
from compliance.importers.normalize import Normalized
from compliance.sourcefile import InputError, Located

EVENT_FIELDS = ("date", "start", "end", "ref", "actor")


def ordered(frame: pl.DataFrame) -> pl.DataFrame:
    """Cases in order of first appearance, each case's events in source order."""
    # Exports almost always list a case's rows together and in order: then nothing needs sorting,
    # and a sort costs as much as checking every rule of a chunk's small cases.
    if _grouped_in_order(frame):
        return frame
    first = pl.col("seq").min().over("case").alias("__first")
    return frame.with_columns(first).sort(["__first", "seq"]).drop("__first")


def _grouped_in_order(frame: pl.DataFrame) -> bool:
    """Whether each case's rows are contiguous and in source order already."""
    case, seq = pl.col("case"), pl.col("seq")
    starts = case.ne_missing(case.shift(1)) | (pl.int_range(pl.len()) == 0)
    # Distinct ids are counted among the runs' first rows only: hashing every row's id cost more.
    runs, cases, backwards = frame.select(
        starts.sum().alias("runs"),
        case.filter(starts).n_unique().alias("cases"),
        (seq.diff() < 0).sum().alias("backwards"),
    ).row(0)
    return runs == cases and backwards == 0


def case_documents(norm: Normalized) -> Iterator[Located]:
    frame = ordered(norm.frame)
    facts_cols = [c for c in frame.columns if c.startswith("facts.")]
    data_cols = [c for c in frame.columns if c.startswith("data.")]
    current: list[dict[str, Any]] = []
    for row in frame.iter_rows(named=True):
        if current and row["case"] != current[0]["case"]:
            yield _document(current, facts_cols, data_cols)
            current = []
        current.append(row)
    if current:
        yield _document(current, facts_cols, data_cols)


def _document(rows: list[dict[str, Any]], facts_cols: list[str], data_cols: list[str]) -> Located:
    first = rows[0]
    data: dict[str, Any] = {"case": first["case"]}
    lines: dict[tuple, int] = {(): first["line"]}
    for name in ("jurisdiction", "procedure", "title"):
        if first[name] is not None:
            data[name] = first[name]
        lines[(name,)] = first["line"]
    facts = {c[6:]: parse_cell(first[c]) for c in facts_cols if first[c] is not None}
    if facts:
        data["facts"] = facts
        lines.update({("facts", k): first["line"] for k in facts})
    events = []
    for row in rows:
        if row["step"] is None:
            continue  # a row that only carries case-level columns, or an activity the mapping skips
        index = len(events)
        event: dict[str, Any] = {"step": row["step"]}
        for name in EVENT_FIELDS:
            value = row.get(name)
            if value is not None:
                event[name] = (iso_date_text(value) or value) if name in ("date", "start", "end") else value
        values = {c[5:]: parse_cell(row[c]) for c in data_cols if row[c] is not None}
        if values:
            event["data"] = values
        events.append(event)
        lines[("events", index)] = row["line"]
        for key in (*event, *(("data", k) for k in values)):
            lines[("events", index, *((key,) if isinstance(key, str) else key))] = row["line"]
    data["events"] = events
    return Located(data=data, lines=lines, file=first["file"])


def error_result(exc: InputError, doc: Located | None, sources: dict[str, str], line_label: str) -> CaseResult:
    """An unreadable case: its error names the file, the line/row, the source column and what was expected."""
    detail = exc.to_json()
    detail["row_kind"] = line_label
    column = _source_column(exc.field, sources)
    if column:
        detail["column"] = column
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    message = str(exc) + (f"（列 {column}）" if column else "")
    return CaseResult(
        data.get("case"),
        exc.file,
        error=message,
        error_detail=detail,
        jurisdiction=data.get("jurisdiction"),
        procedure=data.get("procedure"),
    )


def _source_column(field: str | None, sources: dict[str, str]) -> str | None:
    if not field:
        return None
    last = field.split(".")[-1].split("[")[0]
    if field.startswith("events") and ".data." in field:
        return sources.get("data." + last, "data." + last)
    if field.startswith("facts"):
        return sources.get("facts." + last, "facts." + last)
    return sources.get(last)
