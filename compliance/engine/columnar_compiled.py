"""Running the compiled plans (relational_plan) on a chunk, and grounding the findings they flag.

A rule without value atoms is grounded once per shape (step counts); one with value atoms
once per (step counts, atom outcomes). Where a plan punts, the rule is grounded on that
case's own values.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from compliance.engine import relational, relational_plan
from compliance.engine.columnar_expr import SHOWN_CODES, ShiftTables
from compliance.engine.columnar_frames import Batch, case_values
from compliance.engine.columnar_grounding import GROUNDED_LIMIT, Shape, cached_info, grounded, grounded_from_values
from compliance.engine.columnar_tasks import Tasks
from compliance.engine.relational import count_column
from compliance.rules.core import CoreRule
from compliance.rules.packs import Pack, RuleBook


@dataclasses.dataclass
class CompiledPlan:
    """The chunk's rules of the date fragment, numbered, with where each sits in its group's rule list."""

    plan: relational_plan.Plan
    numbers: dict[int, int]  # id(rule) → its number in the plan
    positions: dict[tuple[int, int], int]  # (group, number) → the rule's position in that group's list
    groups: dict[int, tuple[tuple[str, ...], str]]  # group number → (pack labels, procedure)

    def group_of(self, groups: dict[tuple, list[int]]) -> dict[int, int]:
        """Each case's group number."""
        return {cidx: _GROUP_NUMBERS[key] for key, cidxs in groups.items() for cidx in cidxs}

    def run(self, group_of: dict[int, int], batch: Batch) -> pl.DataFrame:
        """The plan's findings on the chunk's cases (those with packs in force: `group_of`)."""
        cases = pl.DataFrame(
            {"cidx": list(group_of), "grp": list(group_of.values())}, schema={"cidx": pl.Int32, "grp": pl.Int32}
        )
        facts = batch.cases.select("cidx", *[c for c in batch.cases.columns if c.startswith("facts.")])
        return self.plan.run(cases, batch.events, facts)


_SUPPORTED: dict[tuple[int, bool], bool] = {}


# Groups are numbered once per process, so that chunk after chunk makes the same plan (compiled once).
_GROUP_NUMBERS: dict[tuple, int] = {}


def compiled_plan(groups: dict[tuple, list[int]], book: RuleBook, shifts: ShiftTables, values: bool) -> CompiledPlan:
    rules: list[CoreRule] = []
    applies: list[list[int]] = []
    numbers: dict[int, int] = {}
    positions: dict[tuple[int, int], int] = {}
    numbered = {_GROUP_NUMBERS.setdefault(key, len(_GROUP_NUMBERS)): key for key in groups}
    for group, (labels, procedure) in sorted(numbered.items()):
        packs = [pack_by_label(book, label) for label in labels]
        for position, rule in enumerate(r for p in packs for r in p.core_rules(procedure)):
            known = _SUPPORTED.get((id(rule), values))
            if known is None:
                known = _SUPPORTED[(id(rule), values)] = relational.supported(rule, values)
            if not known:
                continue
            if id(rule) not in numbers:
                numbers[id(rule)] = len(rules)
                rules.append(rule)
                applies.append([])
            applies[numbers[id(rule)]].append(group)
            positions[(group, numbers[id(rule)])] = position
    plan = relational_plan.Plan(rules, applies, shifts, SHOWN_CODES)
    return CompiledPlan(plan, numbers, positions, numbered)


def compiled_tasks(
    compiled: CompiledPlan,
    groups: dict[tuple, list[int]],
    batch: Batch,
    book: RuleBook,
    tasks: Tasks,
) -> None:
    """Run the compiled plans; each finding they flag gets its ground finding, added to `tasks`.

    A rule without value atoms is grounded once per shape (step counts); one with value atoms
    once per (step counts, atom outcomes), on a case that has them. Findings are grounded per
    distinct (rule, group, shape, atom outcomes, key) and joined back to their cases as a frame.
    Where a plan punts (a value only exact arithmetic can decide), the rule is grounded on that
    case's own values and each of its findings judged by the direct evaluator.
    """
    group_of = compiled.group_of(groups)
    if not compiled.plan.rules or not group_of:
        return
    plan = compiled.plan
    found = compiled.run(group_of, batch)
    punted = found.filter(pl.col("code") == relational.PUNT).select("rule", "cidx").unique()
    found = found.join(punted, on=["rule", "cidx"], how="anti")
    if len(_BY_ATOMS) > GROUNDED_LIMIT:
        _BY_ATOMS.clear()
    distinct, wide, firsts = _distinct_findings(plan, found, group_of)
    # Rules with value atoms: grounded once per (shape, atom outcomes), on a case that has them —
    # never one the plan punted on (`found` holds none): its atoms' outcomes are not what exact
    # evaluation makes of its values.
    punted_pairs = set(punted.iter_rows())
    new: dict[tuple, tuple[int, int]] = {}
    for cidx, number, group, has_atoms, atoms, _key, shape in distinct:
        if has_atoms:
            new.setdefault(_atoms_key(compiled, number, group, atoms, shape), (number, cidx))
    new = {key: value for key, value in new.items() if key not in _BY_ATOMS}
    need = punted_pairs | set(new.values())
    infos = [cached_info(plan.rules[number]) for number in {number for number, _c in need}]
    steps = {s for info in infos for s in info.steps}
    fields = None if any(i.data_fields is None for i in infos) else {f for i in infos for f in i.data_fields or ()}
    values = case_values(batch, sorted({cidx for _n, cidx in need}), steps, fields) if need else {}
    for key, (number, cidx) in new.items():
        procedure = compiled.groups[group_of[cidx]][1]
        _BY_ATOMS[key] = grounded_from_values(plan.rules[number], procedure, values[cidx], book)
    for number, cidx in punted_pairs:
        group = group_of[cidx]
        shape = grounded_from_values(plan.rules[number], compiled.groups[group][1], values[cidx], book)
        position = compiled.positions[(group, number)]
        for i, ground in enumerate(shape.grounds):
            tasks.add(cidx, (position, i), ground)
    if not distinct:
        return
    # Each distinct finding's ground finding and order, in the order of `firsts`; its cases get them by a join.
    known: dict[tuple, Shape] = {}
    table = []
    for cidx, number, group, has_atoms, atoms, key, shape_counts in distinct:
        memo = (number, group, shape_counts, has_atoms, atoms)
        shape = known.get(memo)
        if shape is None:
            rule = plan.rules[number]
            if has_atoms:
                shape = _BY_ATOMS[_atoms_key(compiled, number, group, atoms, shape_counts)]
            else:
                procedure = compiled.groups[group][1]
                shape = grounded(rule, procedure, cached_info(rule), shape_counts, cidx, batch, book)
            known[memo] = shape
        slot = shape.slot(key)
        table.append((tasks.number(shape.grounds[slot]), compiled.positions[(group, number)], slot))
    ids = pl.DataFrame(table, schema={"gid": pl.Int32, "position": pl.Int32, "slot": pl.Int32}, orient="row")
    tasks.add_frame(wide.join(firsts.hstack(ids), on=firsts.columns, how="left", nulls_equal=True))


def _atoms_key(compiled: CompiledPlan, number: int, group: int, atoms: str, shape: tuple) -> tuple:
    """What grounds a rule with value atoms: the rule, the procedure, its atoms' outcomes and the shape."""
    return (id(compiled.plan.rules[number]), compiled.groups[group][1], atoms, shape)


def _distinct_findings(
    plan: relational_plan.Plan, found: pl.DataFrame, group_of: dict[int, int]
) -> tuple[list[tuple], pl.DataFrame, pl.DataFrame]:
    """The flagged findings that ground alike, one row each, in order of first appearance.

    Two findings ground alike when their rule, group, key, atom outcomes and the step counts
    the rule reads agree (each count column is blanked for the rules that do not read it).
    Returns those rows — (cidx, rule, group, has atoms, atoms, key, shape) —, the findings
    frame with the key columns, and the distinct keys as a frame (in the same order).
    """
    assert plan.step_counts is not None
    counts = plan.step_counts
    readers: dict[str, list[int]] = {}
    for number, rule in enumerate(plan.rules):
        for step in rule.steps:
            readers.setdefault(count_column(step), []).append(number)
    groups = pl.DataFrame(
        {"cidx": list(group_of), "grp": list(group_of.values())}, schema={"cidx": pl.Int32, "grp": pl.Int32}
    )
    wide = (
        found.select("cidx", "rule", "key")
        .join(groups, on="cidx", how="left")
        .join(plan.atom_outcomes, on=["rule", "cidx"], how="left")
        .with_columns(pl.col("atoms").is_not_null().alias("has_atoms"), pl.col("atoms").fill_null(""))
    )
    # Each count column is blanked for the rules that do not read that step (their shapes ignore it).
    wide = wide.hstack(counts[wide["cidx"]]).with_columns(
        pl.when(pl.col("rule").is_in(readers.get(c, []))).then(pl.col(c)).alias(c) for c in counts.columns
    )
    keys = ["rule", "grp", "has_atoms", "atoms", "key", *counts.columns]
    firsts = wide.unique(subset=keys, keep="first", maintain_order=True).select("cidx", *keys)
    position = {c: i for i, c in enumerate(counts.columns)}
    sorted_steps = [[position[count_column(s)] for s in sorted(rule.steps)] for rule in plan.rules]
    distinct = []
    for cidx, number, group, has_atoms, atoms, key, *numbers in firsts.iter_rows():
        shape = tuple(numbers[i] for i in sorted_steps[number])
        distinct.append((cidx, number, group, has_atoms, atoms, key, shape))
    return distinct, wide, firsts.drop("cidx")


_BY_ATOMS: dict[tuple, Shape] = {}


def pack_by_label(book: RuleBook, label: str) -> Pack:
    return next(p for p in book.packs if p.label == label)
