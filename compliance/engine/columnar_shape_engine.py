"""The shape engine: rules the compiled plans do not cover (and every rule with `--all`).

Cases are grouped per rule by shape (columnar_shapes), one representative per shape is
grounded, and its ground formulas are evaluated as Polars expressions over all cases of that
shape (columnar_expr).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from compliance.engine.columnar_expr import CONST, SHOWN_CODES, ExprBuilder, ShiftTables
from compliance.engine.columnar_frames import Batch, value_key
from compliance.engine.columnar_grounding import cached_info, grounded
from compliance.engine.ground import GroundFinding
from compliance.model import Case
from compliance.rules.core import CoreRule
from compliance.rules.packs import RuleBook


def shape_engine_tasks(
    left: list[tuple[int, str, CoreRule, list[int]]],
    batch: Batch,
    book: RuleBook,
    shifts: ShiftTables,
    show_all: bool,
) -> list[tuple[int, tuple, GroundFinding, Case]]:
    """The findings to explain of the rules `left` to this engine: (position, procedure, rule, cases) each."""
    wide = wide_dates(batch, {s for _p, _proc, rule, _c in left for s in rule.steps})
    builder = ExprBuilder(set(wide.columns), shifts, lift_constants=True)
    builder.column_list = wide.columns
    frames: dict[int, pl.DataFrame] = {}
    tasks: list[tuple[int, tuple, GroundFinding, Case]] = []
    for position, procedure, rule, cidxs in left:
        group = frames.get(id(cidxs))
        if group is None:
            group = frames[id(cidxs)] = wide.filter(pl.col("cidx").is_in(cidxs))
        tasks.extend(rule_tasks(rule, position, procedure, group, batch, book, builder, show_all))
    return tasks


def wide_dates(batch: Batch, steps: set[str] | None = None) -> pl.DataFrame:
    """One row per case, a Date column per `step#n|part` (counts and aggregates are expressions over these).

    `steps`: only those steps' columns (the rules left to the shape engine read no others).
    """
    events = batch.events.select("cidx", "step", "key", "date", "start", "end")
    events = events if steps is None else events.filter(pl.col("step").is_in(sorted(steps)))
    long = pl.concat(
        [
            events.select("cidx", (pl.col("key") + "|" + part).alias("column"), pl.col(part).alias("value"))
            for part in ("date", "start", "end")
        ]
    ).drop_nulls("value")
    ids = batch.cases.select("cidx")
    if long.height == 0:
        return ids
    columns = long["column"].unique().sort().to_list()
    dates = long.with_columns(pl.col("column").cast(pl.Categorical)).pivot(
        on="column", index="cidx", values="value", on_columns=columns
    )
    return ids.join(dates, on="cidx", how="left")


def rule_tasks(
    rule: CoreRule,
    position: int,
    procedure: str,
    group_frame: pl.DataFrame,
    batch: Batch,
    book: RuleBook,
    builder: ExprBuilder,
    show_all: bool,
) -> list[tuple[int, tuple, GroundFinding, Case]]:
    """Evaluate one rule over a group of cases; return the findings that need an explanation.

    Shapes whose ground findings come out identical (most value shapes decide the same way)
    are evaluated together: one Polars select per distinct set of ground formulas.
    """
    info = cached_info(rule)
    counts = [builder.count(s).alias(f"n:{s}") for s in info.steps]
    keys = [f"n:{s}" for s in info.steps]
    frame = group_frame.select("cidx", *counts)
    if info.reads_values:
        frame = frame.join(value_key(batch, info), on="cidx", how="left").with_columns(pl.col("vkey").fill_null(""))
        keys.append("vkey")
    if keys:
        shapes = frame.group_by(keys, maintain_order=True).agg(pl.col("cidx")).iter_rows()
    else:
        shapes = iter([(frame["cidx"].to_list(),)])
    groups: list[_SlotGroup] = []
    for row in shapes:
        shape, cidxs = tuple(row[:-1]), row[-1]
        found = grounded(rule, procedure, info, shape, cidxs[0], batch, book)
        if not found.grounds:
            continue
        slots, signatures, consts = found.columnwise()
        group = next((g for g in groups if g.accepts(signatures)), None)
        if group is None:
            group = _SlotGroup()
            groups.append(group)
        group.add(signatures, slots)
        group.members.append((cidxs, consts, found.grounds, found.case))
    if not groups:
        return []
    prefixes = tuple(f"{s}#" for s in info.steps)
    date_cols = [c for c in builder.column_list if c.startswith(prefixes)]
    members = [g.members for g in groups]
    shapes_all = [shape for shapes_of in members for shape in shapes_of]
    rows = _rows_with_constants(group_frame.select("cidx", *date_cols), members, builder)
    tasks = []
    parts = rows.partition_by("__sig", as_dict=True) if len(groups) > 1 else {(0,): rows}
    for (k,), part in parts.items():
        exprs = _expressions(builder, rule, groups[k], k, date_cols)
        query = part.lazy().select("cidx", "__shape", *[e.alias(f"s{i}") for i, e in enumerate(exprs)])
        if not show_all:
            query = query.filter(pl.any_horizontal([pl.col(f"s{i}").is_in(SHOWN_CODES) for i in range(len(exprs))]))
        for row in query.collect().iter_rows():
            cidx, (_, _, own, representative) = row[0], shapes_all[row[1]]
            for i in range(len(own)):  # slots past this shape's findings belong to longer shapes
                code = row[2 + i]
                if show_all or code in SHOWN_CODES:
                    tasks.append((cidx, (position, i), own[i], representative))
    return tasks


@dataclasses.dataclass
class _SlotGroup:
    """Shapes whose findings agree slot by slot (up to fixed dates): one expression per slot serves them all.

    A case with 3 payments has 3 findings, one with 7 has 7; with their first-agreement
    dates as aggregate columns, slot i reads the same for both, so they share a select.
    """

    signatures: list[str] = dataclasses.field(default_factory=list)
    slots: list[tuple] = dataclasses.field(default_factory=list)
    members: list[tuple] = dataclasses.field(default_factory=list)

    def accepts(self, signatures: list[str]) -> bool:
        return all(a == b for a, b in zip(self.signatures, signatures, strict=False))

    def add(self, signatures: list[str], slots: list[tuple]) -> None:
        if len(signatures) > len(self.signatures):
            self.signatures.extend(signatures[len(self.signatures) :])
            self.slots.extend(slots[len(self.slots) :])


def _rows_with_constants(rows: pl.DataFrame, members: list, builder: ExprBuilder) -> pl.DataFrame:
    """The cases of every shape with their signature, shape number and their shape's fixed dates as columns."""
    cidxs: list[int] = []
    signature_ids: list[int] = []
    shape_ids: list[int] = []
    consts: dict[str, list] = {}
    shape_number = 0
    every: list[dt.date] = []
    for k, shapes_of in enumerate(members):
        width = max(len(dates) for _m, dates, _g, _c in shapes_of)
        start = len(cidxs)
        for group_members, dates, _grounds, _case in shapes_of:
            cidxs.extend(group_members)
            signature_ids.extend([k] * len(group_members))
            shape_ids.extend([shape_number] * len(group_members))
            shape_number += 1
            every.extend(dates)
            for j in range(width):
                value = dates[j] if j < len(dates) else None
                consts.setdefault(f"{CONST}{k}_{j}", [None] * start).extend([value] * len(group_members))
        for column in consts.values():
            column.extend([None] * (len(cidxs) - len(column)))
    if every:
        builder.shifts.cover(min(every), max(every))  # a shift of a fixed date is looked up like any other
    table = pl.DataFrame(
        {
            "cidx": pl.Series(cidxs, dtype=pl.Int32),
            "__sig": pl.Series(signature_ids, dtype=pl.Int32),
            "__shape": pl.Series(shape_ids, dtype=pl.Int32),
            **{name: pl.Series(values, dtype=pl.Date) for name, values in consts.items()},
        }
    )
    return table.join(rows, on="cidx", how="left", maintain_order="left")


_EXPRESSIONS: dict[tuple, list[pl.Expr]] = {}


def _expressions(
    builder: ExprBuilder, rule: CoreRule, group: _SlotGroup, number: int, columns: list[str]
) -> list[pl.Expr]:
    """A slot group's status expressions; the same groups recur chunk after chunk, so they are built once.

    The key holds the date columns of the rule's steps that exist (an expression reads a missing
    one as null) and the shift tables' range (lookups are offsets into them).
    """
    shifts = builder.shifts
    key = (id(rule), tuple(group.signatures), number, id(shifts), shifts.low, shifts.high, tuple(columns))
    exprs = _EXPRESSIONS.get(key)
    if exprs is None:
        if len(_EXPRESSIONS) > 20_000:
            _EXPRESSIONS.clear()
        exprs = _EXPRESSIONS[key] = builder.statuses(group.slots, prefix=f"{CONST}{number}_")
    return exprs
