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
from compliance.engine.ground import GroundFinding
from compliance.engine.relational import count_column
from compliance.model import Case
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
            if not _SUPPORTED.setdefault((id(rule), values), relational.supported(rule, values)):
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
) -> list[tuple[int, tuple, GroundFinding, Case]]:
    """Run the compiled plans; each finding they flag gets its ground finding, to be explained.

    A rule without value atoms is grounded once per shape (step counts); one with value atoms
    once per (step counts, atom outcomes), on a case that has them. Where a plan punts (a value
    only exact arithmetic can decide), the rule is grounded on that case's own values and each
    of its findings judged by the direct evaluator.
    """
    group_of = compiled.group_of(groups)
    if not compiled.plan.rules or not group_of:
        return []
    found = compiled.run(group_of, batch)
    punted = found.filter(pl.col("code") == relational.PUNT).select("rule", "cidx").unique()
    found = found.join(punted, on=["rule", "cidx"], how="anti")
    if len(_BY_ATOMS) > GROUNDED_LIMIT:
        _BY_ATOMS.clear()
    # Rules with value atoms: grounded once per (shape, atom outcomes), on a case that has them.
    atoms_of: dict[int, dict[int, tuple]] = {}  # rule number → case → (rule, procedure, atom outcomes, shape)
    for number, part in relational_plan.partitions(compiled.plan.atom_outcomes, "rule").items():
        rule_id, cidxs = id(compiled.plan.rules[number]), part["cidx"]
        outcomes = zip(cidxs.to_list(), part["atoms"].to_list(), _shapes(compiled.plan, number, cidxs), strict=True)
        atoms_of[number] = {
            cidx: (rule_id, compiled.groups[group_of[cidx]][1], text, shape) for cidx, text, shape in outcomes
        }
    # One case per new (rule, procedure, atom outcomes, shape) is enough to ground it: its values are read.
    # Never a case the plan punted on: its atoms' outcomes are not what exact evaluation makes of its values.
    punted_pairs = set(punted.iter_rows())
    new: dict[tuple, tuple[int, int]] = {}
    for number, keys in atoms_of.items():
        for cidx, key in keys.items():
            if key not in _BY_ATOMS and (number, cidx) not in punted_pairs:
                new.setdefault(key, (number, cidx))
    need = punted_pairs | set(new.values())
    infos = [cached_info(compiled.plan.rules[number]) for number in {number for number, _c in need}]
    steps = {s for info in infos for s in info.steps}
    fields = None if any(i.data_fields is None for i in infos) else {f for i in infos for f in i.data_fields or ()}
    values = case_values(batch, sorted({cidx for _n, cidx in need}), steps, fields) if need else {}
    for key, (number, cidx) in new.items():
        procedure = compiled.groups[group_of[cidx]][1]
        _BY_ATOMS[key] = grounded_from_values(compiled.plan.rules[number], procedure, values[cidx], book)
    tasks = []
    for number, cidx in punted_pairs:
        group = group_of[cidx]
        shape = grounded_from_values(compiled.plan.rules[number], compiled.groups[group][1], values[cidx], book)
        position = compiled.positions[(group, number)]
        tasks.extend((cidx, (position, i), ground, shape.case) for i, ground in enumerate(shape.grounds))
    # Findings rule by rule: a rule's step counts are read for all its findings in one gather.
    for number, part in relational_plan.partitions(found, "rule").items():
        rule = compiled.plan.rules[number]
        cidxs = part["cidx"]
        shapes = _shapes(compiled.plan, number, cidxs)
        atom_keys = atoms_of.get(number, {})
        known: dict[tuple, tuple[Shape, int]] = {}  # (group, shape, atom outcomes) → its grounding and position
        for cidx, key, shape_counts in zip(cidxs.to_list(), part["key"].to_list(), shapes, strict=True):
            group = group_of[cidx]
            pair_key = atom_keys.get(cidx)
            memo = (group, shape_counts, pair_key)
            entry = known.get(memo)
            if entry is None:
                if pair_key is not None:
                    shape = _BY_ATOMS[pair_key]
                else:
                    procedure = compiled.groups[group][1]
                    shape = grounded(rule, procedure, cached_info(rule), shape_counts, cidx, batch, book)
                entry = known[memo] = (shape, compiled.positions[(group, number)])
            shape, position = entry
            slot = shape.slot(key)
            tasks.append((cidx, (position, slot), shape.grounds[slot], shape.case))
    return tasks


_BY_ATOMS: dict[tuple, Shape] = {}


def _shapes(plan: relational_plan.Plan, number: int, cidxs: pl.Series) -> list[tuple[int, ...]]:
    """Each case's *shape* for rule `number`: how often each step the rule reads occurs, in the
    order of the rule's sorted steps — what grounding depends on when it reads no values."""
    assert plan.step_counts is not None
    names = [count_column(s) for s in sorted(plan.rules[number].steps)]
    return plan.step_counts.select(names)[cidxs].rows() if names else [()] * len(cidxs)


def pack_by_label(book: RuleBook, label: str) -> Pack:
    return next(p for p in book.packs if p.label == label)
