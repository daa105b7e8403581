"""Raw table rows (one per event, the source's own headers) → our normalized event table.

The normalized table has one row per event, in source order, with the columns
`case file line seq activity step step_id kind date start end jurisdiction procedure
title ref actor` plus `facts.*` (case-level) and `data.*` (per event), all text except
`line`/`seq`. Both engines read it: the direct one builds a case document per case for
the model, the column-wise one evaluates it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from compliance.importers.columns import ColumnPlan
from compliance.importers.mapping import Mapping
from compliance.sourcefile import InputError
from compliance.vocabulary import Vocabulary

LINE = "__line"  # the source line (CSV), row (Excel), or event index (XES, SQL) of each raw row
CASE_FIELDS = ("jurisdiction", "procedure", "title")
TEXT_FIELDS = (
    "case",
    "file",
    "activity",
    "step",
    "step_id",
    "kind",
    "date",
    "start",
    "end",
    "jurisdiction",
    "procedure",
    "title",
    "ref",
    "actor",
)


@dataclass
class RawChunk:
    """Whole cases of one source, as read: the unit a worker normalizes and checks."""

    frame: pl.DataFrame
    plan: ColumnPlan
    file: str
    line_label: str = "line"  # what LINE counts, for messages: line | row | event


@dataclass
class Normalized:
    frame: pl.DataFrame
    errors: list[tuple[str | None, InputError]] = field(default_factory=list)  # (case id, error)
    sources: dict[str, str] = field(default_factory=dict)  # canonical field → source header


def normalize(chunk: RawChunk, mapping: Mapping, vocabulary: Vocabulary) -> Normalized:
    plan = chunk.plan
    raw = chunk.frame
    sources = {target: source for source, target in plan.fields.items()}
    if "timestamp" in sources:
        sources.setdefault("date", sources["timestamp"])
        sources.setdefault("end", sources["timestamp"])
    columns = [
        pl.col(source).cast(pl.Utf8).alias(target) for source, target in plan.fields.items() if source in raw.columns
    ]
    markers = [pl.col(c) for c in ("__bad_json", "__orphan") if c in raw.columns]
    frame = raw.select(pl.col(LINE).cast(pl.Int64).alias("line"), *columns, *markers)
    for name in ("case", "step", "date", "timestamp", "start", "end", "ref", "actor", "lifecycle", *CASE_FIELDS):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Utf8).alias(name))
    frame = frame.with_columns(
        *(pl.col(c).str.strip_chars().replace("", None) for c in ("case", "step", *CASE_FIELDS)),
        pl.lit(chunk.file).alias("file"),
    )
    if mapping.lifecycle:
        frame = frame.filter(pl.col("lifecycle").is_null() | pl.col("lifecycle").is_in(list(mapping.lifecycle)))
    errors: list[tuple[str | None, InputError]] = [
        (
            None,
            InputError(
                chunk.file, "缺少案件编号", line=line, field=sources.get("case", "case"), expected="非空的案件编号"
            ),
        )
        for line in frame.filter(pl.col("case").is_null())["line"].to_list()
    ]
    frame = frame.filter(pl.col("case").is_not_null())
    frame, bad = _database_faults(frame, chunk.file)
    errors.extend(bad)
    frame = _map_activities(frame, mapping)
    frame = _fill_case_fields(frame, mapping)
    frame = _resolve_steps(frame, vocabulary)
    frame = _assign_timestamps(frame, plan)
    frame = frame.with_columns(pl.int_range(pl.len()).alias("seq"))
    keep = [c for c in ("case", "file", "line", "seq", *TEXT_FIELDS[2:]) if c in frame.columns]
    extra = sorted(c for c in frame.columns if c.startswith(("facts.", "data.")))
    return Normalized(frame.select(*dict.fromkeys(keep), *extra), errors, sources)


def _database_faults(frame: pl.DataFrame, file: str) -> tuple[pl.DataFrame, list[tuple[str | None, InputError]]]:
    """Rows the SQL reader marked: facts/data that are not JSON objects, events of no case."""
    errors: list[tuple[str | None, InputError]] = []
    bad_cases: set[str] = set()
    if "__bad_json" in frame.columns:
        for case, line, which in (
            frame.filter(pl.col("__bad_json").is_not_null()).select("case", "line", "__bad_json").iter_rows()
        ):
            if case not in bad_cases:
                table = "cases.facts" if which == "facts" else "events.data"
                errors.append(
                    (case, InputError(file, f"{table} 不是 JSON 对象", line=line, field=table, expected="JSON 对象"))
                )
                bad_cases.add(case)
    if "__orphan" in frame.columns:
        for case, line in frame.filter(pl.col("__orphan").is_not_null()).select("case", "line").iter_rows():
            errors.append(
                (
                    case,
                    InputError(
                        file,
                        f"事件的 case_id {case!r} 不在 cases 表中",
                        line=line,
                        field="events.case_id",
                        expected="cases 表中已有的 case_id",
                    ),
                )
            )
            bad_cases.add(case)
    frame = frame.filter(~pl.col("case").is_in(list(bad_cases))) if bad_cases else frame
    return frame.drop([c for c in ("__bad_json", "__orphan") if c in frame.columns]), errors


def _map_activities(frame: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """`activity` keeps the source name; `step` is what the mapping makes of it (null: not an event)."""
    frame = frame.with_columns(pl.col("step").alias("activity"))
    if not mapping.activities and not mapping.ignore_unmapped:
        return frame
    known = pl.col("step").is_in(list(mapping.activities))
    mapped = pl.col("step").replace_strict(mapping.activities, default=pl.col("step"), return_dtype=pl.Utf8)
    skipped = known & mapped.is_null()
    if mapping.ignore_unmapped:
        skipped = skipped | (pl.col("step").is_not_null() & ~known)
    # A skipped row still carries case-level columns (procedure, facts) but is no event.
    return frame.with_columns(pl.when(skipped).then(None).otherwise(mapped).alias("step"))


def _fill_case_fields(frame: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """Case-level columns: the first non-empty value of the case, else the mapping's default."""
    case_cols = [*CASE_FIELDS, *(c for c in frame.columns if c.startswith("facts."))]
    # One grouping for all case-level columns (a window per column costs a hash table each).
    firsts = frame.group_by("case").agg(pl.col(c).drop_nulls().first() for c in case_cols)
    defaults = [pl.col(c).fill_null(mapping.defaults[c]) for c in case_cols if mapping.defaults.get(c)]
    if defaults:
        firsts = firsts.with_columns(defaults)
    return frame.drop(case_cols).join(firsts, on="case", how="left", maintain_order="left")


def _resolve_steps(frame: pl.DataFrame, vocabulary: Vocabulary) -> pl.DataFrame:
    """Step id and kind (instant | period) per (name, procedure), null when the name is unknown."""
    pairs = frame.select("step", "procedure").unique().drop_nulls("step")
    ids, kinds = [], []
    for name, procedure in pairs.iter_rows():
        step = vocabulary.resolve(name, procedure) if procedure in vocabulary.procedures else None
        ids.append(step.id if step else None)
        kinds.append(step.kind if step else None)
    table = pairs.with_columns(pl.Series("step_id", ids, pl.Utf8), pl.Series("kind", kinds, pl.Utf8))
    return frame.join(table, on=["step", "procedure"], how="left", nulls_equal=True, maintain_order="left")


def _assign_timestamps(frame: pl.DataFrame, plan: ColumnPlan) -> pl.DataFrame:
    """A process-mining timestamp is an instant's date or a period's end; its start_timestamp only starts periods."""
    has = plan.canonical
    if "timestamp" not in has:
        return frame
    period = pl.col("kind") == "period"
    date = pl.col("date") if "date" in has else pl.when(period).then(None).otherwise(pl.col("timestamp"))
    end = pl.col("end") if "end" in has else pl.when(period).then(pl.col("timestamp")).otherwise(None)
    start = pl.when(period).then(pl.col("start")).otherwise(None) if "date" not in has else pl.col("start")
    return frame.with_columns(date.alias("date"), end.alias("end"), start.alias("start"))
