"""Running compiled rules on a chunk of cases: the frames they read and the queries that judge them.

relational.py compiles each rule's core form into expressions; here a `Plan` builds the
*case frame* (one row per case: step counts, each step's earliest/latest dates, the facts,
first/last data and `where:` summaries the expressions read), puts each step's occurrences
beside it, and runs one select per step. Out come the findings' status codes (rule, case,
finding key), and for rules with value atoms what those atoms came to (for explanations).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import polars as pl

from compliance.engine.columnar_expr import NOT_APPLICABLE, ShiftTables
from compliance.engine.relational import (
    PARTS,
    POLICY_CODE,
    PUNT,
    UNKNOWN_CODE,
    VIOLATED,
    Compiler,
    Node,
    Where,
    aggregate_column,
    count_column,
    missing_step,
    own_column,
    status,
)
from compliance.engine.relational_logic import FALSE, TRUE, UNKNOWN_VALUE, all_of, any_of, is_unknown, negation
from compliance.engine.relational_values import Column, with_cells
from compliance.rules.core import CoreRule, OrderCheck

# --- plans ------------------------------------------------------------------------------------

ROW = "__row"  # an occurrence row's place in the chunk's events: where its own cells are read
FINDING_SCHEMA = {"cidx": pl.Int32, "key": pl.Utf8, "rule": pl.Int32, "code": pl.Int8}
WHEN_UNKNOWN_CODE = {"not_applicable": NOT_APPLICABLE, "unknown": UNKNOWN_CODE, "violated": VIOLATED}


@dataclass
class Expressions:
    """A plan's compiled expressions: case-level codes, and per step the findings judged on its occurrences."""

    case_level: list[pl.Expr]  # one code column per rule, named by its number
    by_step: dict[str, list[tuple[int, pl.Expr, pl.Expr]]]  # step → (rule number, key, code) per finding kind
    needs: set[Column]
    # Rules with value atoms: what their atoms came to, on the case and on each judged occurrence.
    outcomes: dict[int, tuple[pl.Expr | None, str | None, pl.Expr | None]] = field(default_factory=dict)
    wheres: list[Where] = field(default_factory=list)
    # Parts of the findings computed first, as columns (see `_staged`): on the case frame, and per step.
    staged_case: list[pl.Expr] = field(default_factory=list)
    staged: dict[str, list[pl.Expr]] = field(default_factory=dict)
    # Case-frame columns built level after level, each reading the level before (see `_order_findings`).
    levels: list[list[pl.Expr]] = field(default_factory=list)
    # Derived once, read every chunk: the case-frame columns the expressions name (with every
    # rule's step counts, its shape) and, per step, the columns its occurrence rows need.
    names: set[str] = field(default_factory=set)
    wanted: dict[str, list[str]] = field(default_factory=dict)
    # Per step: (rule number, key, code) of each kind of finding; no key: keyed by the occurrence itself.
    keyed: dict[str, list[tuple[int, pl.Expr | None, pl.Expr]]] = field(default_factory=dict)
    # The steps whose occurrence rows some expression reads (the others' rows are never split out).
    read_steps: set[str] = field(default_factory=set)
    queries: dict[tuple[str, tuple[int, ...]], StepQuery] = field(default_factory=dict)

    def step_query(self, step: str, codes: tuple[int, ...]) -> StepQuery:
        """The query finding the codes kept on a step's occurrences."""
        query = self.queries.get((step, codes))
        if query is None:
            staged, kinds = self.staged.get(step, []), self.keyed[step]
            query = self.queries[(step, codes)] = StepQuery.build(staged, kinds, _kept_codes(codes))
        return query

    def __post_init__(self) -> None:
        made = {e.meta.output_name() for e in (*self.staged_case, *(e for level in self.levels for e in level))}
        self.names = {n for e in (*self.case_level, *self.staged_case) for n in e.meta.root_names()}
        self.names.update(n for level in self.levels for e in level for n in e.meta.root_names())
        for step, items in self.by_step.items():
            self.keyed[step] = [(n, None if key.meta.eq(pl.col("key")) else key, code) for n, key, code in items]
            own = self.staged.get(step, [])
            read = {n for _number, key, code in items for e in (key, code) for n in e.meta.root_names()}
            read |= {n for e in own for n in e.meta.root_names()}
            self.wanted[step] = sorted(read - {e.meta.output_name() for e in own})
            self.names.update(self.wanted[step])
        for on_case, _subject, on_occurrence in self.outcomes.values():
            self.names.update(n for e in (on_case, on_occurrence) if e is not None for n in e.meta.root_names())
        for kept in self.wheres:
            self.names.update(n for e in (kept.value, kept.punt) for n in e.meta.root_names())
        self.names -= made
        self.read_steps = set(self.keyed) | {w.step for w in self.wheres}
        self.read_steps |= {subject for _c, subject, _o in self.outcomes.values() if subject is not None}


_EXPRESSIONS: dict[tuple, Expressions] = {}


@dataclass
class Plan:
    """The queries judging a list of rules on a chunk of cases."""

    rules: list[CoreRule]
    applies: list[list[int]]  # per rule: the case groups (`grp`) it applies to
    shifts: ShiftTables
    keep: tuple[int, ...]  # status codes to return (PUNT always is)
    atom_outcomes: pl.DataFrame | None = field(default=None, init=False)  # set by run: see _atom_outcomes
    # Set by run: per case (row = cidx) how often each step a rule reads occurs, whence a finding's shape.
    step_counts: pl.DataFrame | None = field(default=None, init=False)

    def compile(self) -> Expressions:
        compiler = Compiler(self.shifts)
        staged_case: list[pl.Expr] = []
        staged: dict[str, list[pl.Expr]] = {}
        case_level: list[pl.Expr] = []
        by_step: dict[str, list[tuple[int, pl.Expr, pl.Expr]]] = {}
        levels: list[list[pl.Expr]] = []
        outcomes_of_atoms: dict[int, tuple[pl.Expr | None, str | None, pl.Expr | None]] = {}
        for number, rule in enumerate(self.rules):
            ours = pl.col("grp").is_in(self.applies[number])
            compiler.atoms = []
            guard = _staged(compiler.guard(rule), f"when#{number}", staged_case)
            undecided = all_of(negation(guard.na), is_unknown(guard.value))
            applies = all_of(ours, negation(guard.punt), negation(guard.na), _filled(guard.value, False))
            # Case-level findings: `when` fails or is unknown, the subject never occurs, an order with < 2 steps.
            outcomes = [
                (all_of(ours, guard.punt), pl.lit(PUNT, pl.Int8)),
                (all_of(ours, any_of(guard.na, negation(_filled(guard.value, True)))), pl.lit(NOT_APPLICABLE, pl.Int8)),
                (all_of(ours, undecided), pl.lit(WHEN_UNKNOWN_CODE[rule.when_unknown], pl.Int8)),
            ]
            if isinstance(rule.check, OrderCheck):
                for step, key, code in _order_findings(rule.check, applies, number, levels):
                    by_step.setdefault(step, []).append((number, key, code))
                outcomes.append((all_of(applies, _fewer_than_two(rule.check)), pl.lit(NOT_APPLICABLE, pl.Int8)))
            elif rule.subject is None:
                outcomes.append((applies, status(_staged(compiler.check(rule.check, None), f"#{number}", staged_case))))
            else:
                code = pl.lit(POLICY_CODE[rule.missing_subject], pl.Int8)
                outcomes.append((all_of(applies, missing_step(rule.subject)), code))
                on_case = compiler.atoms
                compiler.atoms = []
                checked = compiler.check(rule.check, rule.subject)
                found = status(_staged(checked, f"#{number}", staged.setdefault(rule.subject, [])))
                by_step.setdefault(rule.subject, []).append((number, pl.col("key"), _coded(number, applies, found)))
                if on_case or compiler.atoms:
                    outcomes_of_atoms[number] = (_letters(on_case), rule.subject, _letters(compiler.atoms))
            if rule.subject is None and compiler.atoms:
                outcomes_of_atoms[number] = (_letters(compiler.atoms), None, None)
            # An outcome whose condition folded to false can never be taken: it is left out of the plan.
            coded = [_coded(number, when, code) for when, code in outcomes if when is not FALSE]
            case_level.append((pl.coalesce(coded) if coded else pl.lit(None, pl.Int8)).alias(str(number)))
        wheres = list(compiler.wheres.values())
        found = Expressions(
            case_level, by_step, compiler.values.needs, outcomes_of_atoms, wheres, staged_case, staged, levels
        )
        found.names.update(count_column(s) for rule in self.rules for s in rule.steps)  # every rule's shape
        return found

    def compiled(self) -> Expressions:
        """The plan's expressions, built once per process for the same rules, groups and shift tables."""
        key = (tuple(id(r) for r in self.rules), tuple(map(tuple, self.applies)), id(self.shifts), self.shifts.low,
               self.shifts.high)  # fmt: skip
        found = _EXPRESSIONS.get(key)
        if found is None:
            if len(_EXPRESSIONS) > 64:
                _EXPRESSIONS.clear()
            found = _EXPRESSIONS[key] = self.compile()
        return found

    def run(self, cases: pl.DataFrame, events: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
        """Findings (cidx, key, rule number, code) of every case; `step_counts` keeps each case's step counts.

        `cases`: cidx and grp (the case's group of packs and procedure); `events`: the chunk's
        events (cidx seq step key date start end data.*); `facts`: cidx and facts.* columns,
        one row per case in cidx order. Cases are numbered 0..n-1 (cidx), as the columnar engine numbers them.
        """
        compiled = self.compiled()
        frame = case_frame(events, cases, facts, compiled.names, compiled.needs)
        own = sorted({c.label for c in compiled.needs if c.source == "own"})
        # The occurrences' own cells stay in one frame; each step's rows gather only the cells read
        # on them (`_with_case_columns`): splitting every text column by step cost more than the rules.
        missing = [pl.lit(None, pl.Utf8).alias(c) for c in own if c not in events.columns]
        cells = events.select("cidx", *[c for c in own if c in events.columns], *missing)
        occurrences = events.select(
            "cidx",
            "step",
            "key",
            *[pl.col(p).alias(own_column(p)) for p in PARTS],
            pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW),
        )
        occurrences = partitions(occurrences.filter(pl.col("step").is_in(sorted(compiled.read_steps))), "step")
        frame = _with_wheres(frame, compiled.wheres, occurrences, cells)
        if compiled.staged_case:
            frame = frame.with_columns(compiled.staged_case)
        for level in compiled.levels:
            frame = frame.with_columns(level)
        # Most findings are satisfied or not applicable: only the codes kept leave the queries, and get keys.
        codes = (*self.keep, PUNT)
        kept = _kept_codes(codes)
        on_steps = []
        for step in compiled.keyed:
            rows = occurrences.get(step)
            if rows is not None:
                rows = _with_case_columns(rows, frame, compiled.wanted[step], cells)
                on_steps.append(_kept_on_step(rows, compiled.step_query(step, codes)))
        case_level = _long(frame.select("cidx", *compiled.case_level), kept).with_columns(key=pl.lit("case"))
        result = pl.concat([case_level, *on_steps], how="diagonal_relaxed").select(
            pl.col(name).cast(kind) for name, kind in FINDING_SCHEMA.items()
        )  # each (cidx, key, rule, code)
        self.atom_outcomes = self._atom_outcomes(compiled, frame, occurrences, cells, result)
        self.step_counts = frame.select(sorted({count_column(s) for rule in self.rules for s in rule.steps}))
        return result

    def _atom_outcomes(
        self, compiled: Expressions, frame: pl.DataFrame, occurrences: dict, cells: pl.DataFrame, found: pl.DataFrame
    ) -> pl.DataFrame:
        """(rule, cidx, atoms): for the findings of rules with value atoms, what every atom of the rule came to.

        Two cases whose step counts and atom outcomes agree ground that rule the same way
        (value atoms ground to constants): the columnar engine explains both from one grounding.
        All rules' atoms are read together (one query on the case frame, one per subject step)
        rather than rule by rule: Polars plans each query afresh for every chunk.
        """
        schema = {"rule": pl.Int32, "cidx": pl.Int32, "atoms": pl.Utf8}
        flagged = set(found["rule"].unique().to_list())
        rules = {n: parts for n, parts in compiled.outcomes.items() if n in flagged}
        if not rules:
            return pl.DataFrame(schema=schema)
        pairs = found.filter(pl.col("rule").is_in(list(rules))).select("rule", "cidx").unique()
        cidxs = pairs["cidx"].unique().implode()
        wide = frame.select(  # selected, then filtered: the case frame has a column per aggregate and view
            "cidx", *[(c if c is not None else pl.lit("")).alias(str(n)) for n, (c, _s, _o) in rules.items()]
        ).filter(pl.col("cidx").is_in(cidxs))
        by_subject: dict[str, list[tuple[int, pl.Expr]]] = defaultdict(list)
        for number, (_c, subject, on_occurrence) in rules.items():
            if subject is not None and on_occurrence is not None and subject in occurrences:
                by_subject[subject].append((number, on_occurrence))
        for subject, items in by_subject.items():
            wanted = sorted({n for _number, e in items for n in e.meta.root_names()})
            rows = occurrences[subject].filter(pl.col("cidx").is_in(cidxs))
            rows = _with_case_columns(rows, frame, wanted, cells)
            per_case = (
                rows.select("cidx", *[e.alias(f"o{n}") for n, e in items])
                .group_by("cidx", maintain_order=True)
                .agg(pl.col(f"o{n}").str.join(",") for n, _e in items)
            )
            wide = wide.join(per_case, on="cidx", how="left", maintain_order="left").with_columns(
                pl.concat_str([pl.col(str(n)), pl.col(f"o{n}").fill_null("")], separator="|").alias(str(n))
                for n, _e in items
            )
        long = wide.select("cidx", *[str(n) for n in rules]).unpivot(
            index="cidx", variable_name="rule", value_name="atoms"
        )
        long = long.with_columns(pl.col("rule").cast(pl.Int32))
        return long.join(pairs, on=["rule", "cidx"], how="semi").select(list(schema))


def partitions(frame: pl.DataFrame, column: str) -> dict[Any, pl.DataFrame]:
    """The frame's rows by their value in `column`, in order of first appearance.

    (`partition_by(as_dict=True)` reads each key with a query of its own: a hundred steps, a hundred queries.)
    """
    parts = frame.partition_by(column, maintain_order=True)
    return {part.get_column(column)[0]: part for part in parts}


def _with_wheres(frame: pl.DataFrame, wheres: list[Where], occurrences: dict, cells: pl.DataFrame) -> pl.DataFrame:
    """The case frame with each `where:` condition's case columns."""
    for kept in wheres:
        rows = occurrences.get(kept.step)
        if rows is None:
            frame = frame.with_columns(kept.missing())
            continue
        wanted = sorted({n for e in (kept.value, kept.punt) for n in e.meta.root_names()})
        rows = _with_case_columns(rows, frame, wanted, cells)
        summary = rows.lazy().with_columns(kept.per_occurrence()).group_by("cidx", maintain_order=True)
        summary = summary.agg(kept.summary()).collect(optimizations=_EAGER)
        fills = [pl.col(kept.column(w)).fill_null(0) for w in ("true", "unknown", "punt")]
        fills.append(pl.col(kept.column("letters")).fill_null(""))  # a case without the step
        frame = frame.join(summary, on="cidx", how="left", maintain_order="left").with_columns(fills)
    return frame


def _with_case_columns(rows: pl.DataFrame, frame: pl.DataFrame, wanted: list[str], cells: pl.DataFrame) -> pl.DataFrame:
    """Occurrence rows with the case-frame columns `wanted` beside them, and the own cells they read, typed.

    `cells`: every occurrence's own cells (row `ROW` of the chunk's events); a cell is read
    when a wanted name is its label or the label of a typed view of it (`data.x|text`).
    """
    available, present = set(frame.columns), set(rows.columns)
    context = [n for n in wanted if n in available and n not in present]
    read = {n.split("|", 1)[0] for n in wanted if n not in available}
    own_cells = sorted((read & set(cells.columns)) - present - {"cidx"})
    if context or own_cells:
        # Column by column: measured cheaper than one select and a gather of the selected frame.
        positions, at = rows["cidx"], rows[ROW]
        rows = rows.hstack(
            [frame.get_column(name)[positions] for name in context]  # indexing gathers without a query
            + [cells.get_column(name)[at] for name in own_cells]
        )
        present = set(rows.columns)
    own = [n[: -len("|text")] for n in wanted if n.endswith("|text") and n[: -len("|text")] in present]
    return with_cells(rows, own, set(wanted), repeats=True) if own else rows


def _letters(atoms: list[pl.Expr]) -> pl.Expr | None:
    return pl.concat_str(atoms) if atoms else None


@lru_cache(maxsize=8)
def _kept_codes(codes: tuple[int, ...]) -> pl.Expr:
    """The codes kept, as one literal for `is_in` (made once: from a list it is a new Series each time)."""
    return pl.lit(pl.Series(codes, dtype=pl.Int8)).implode()


def _long(wide: pl.DataFrame, codes: pl.Expr) -> pl.DataFrame:
    """Code columns named by their rule's number, as rows (cidx, rule, code) of the codes kept."""
    return (
        wide.unpivot(index="cidx", variable_name="rule", value_name="code")
        .filter(pl.col("code").is_in(codes))
        .with_columns(pl.col("rule").cast(pl.Int32))
    )


@dataclass(frozen=True)
class StepQuery:
    """The queries `_kept_on_step` runs on a step's occurrences, built once per process.

    Building them took longer than running them: Polars converts every expression of a query
    afresh, and a list given to `is_in` becomes a new Series each time.
    """

    staged: list[pl.Expr]
    read: list[str]  # the columns keys read
    coded: list[pl.Expr]  # those columns, and each finding kind's code (`#i`)
    any_kept: pl.Expr
    codes: list[pl.Expr]  # each occurrence's number among the hits (HIT), and the codes
    kept: pl.Expr
    findings: list[pl.Expr]  # cidx, key, rule, code: keyed by the kind of finding

    @staticmethod
    def build(staged: list[pl.Expr], kinds: list[tuple[int, pl.Expr | None, pl.Expr]], codes: pl.Expr) -> StepQuery:
        names = [f"#{i}" for i in range(len(kinds))]
        read = sorted({n for _n, key, _c in kinds if key is not None for n in key.meta.root_names()} | {"cidx", "key"})
        key = pl.col("key")  # a subject rule's finding is keyed by the occurrence itself
        for name, (_number, own, _code) in zip(names, kinds, strict=True):
            if own is not None:
                key = pl.when(pl.col("kind") == name).then(own).otherwise(key)
        numbers = [number for number, _key, _code in kinds]
        return StepQuery(
            staged,
            read,
            [*map(pl.col, read), *[code.alias(n) for n, (_number, _key, code) in zip(names, kinds, strict=True)]],
            pl.any_horizontal(pl.col(n).is_in(codes) for n in names),
            [pl.int_range(pl.len(), dtype=pl.UInt32).alias(HIT), *map(pl.col, names)],
            pl.col("code").is_in(codes),
            [
                pl.col("cidx"),
                key.alias("key"),
                pl.col("kind").replace_strict(names, numbers, return_dtype=pl.Int32).alias("rule"),
                pl.col("code"),
            ],
        )


HIT = "__hit"
# How eager queries run: no optimizer passes (the lazy queries here are built to need none).
# Planning them cost more than running them on a 12,000-case chunk; with `none()` a chunk's
# fixed cost was 4 % higher.
_EAGER = getattr(pl.QueryOptFlags, "_eager", pl.QueryOptFlags.none)()


def _kept_on_step(rows: pl.DataFrame, query: StepQuery) -> pl.DataFrame:
    """The findings judged on a step's occurrences whose code is kept: (cidx, key, rule, code).

    Every kind of finding on the step is coded in one query, and only the occurrences with a
    code kept come out of it; keys (text) are made for the findings kept alone. A subject rule's
    finding is keyed by the occurrence itself; an order finding names the earlier step in its key.
    """
    coded = rows.lazy().with_columns(query.staged) if query.staged else rows.lazy()
    hits = coded.select(query.coded).filter(query.any_kept).collect(optimizations=_EAGER)
    long = hits.lazy().select(query.codes).unpivot(index=HIT, variable_name="kind", value_name="code")
    long = long.filter(query.kept).collect(optimizations=_EAGER)
    at = long.get_column(HIT)
    beside = [hits.get_column(name)[at] for name in query.read]  # indexing gathers without a query
    return long.hstack(beside).select(query.findings)


_AGGREGATE = re.compile(r"^(date|start|end)\|(min|max)@(.+)$")


def case_frame(
    events: pl.DataFrame, cases: pl.DataFrame, facts: pl.DataFrame, names: set[str], needs: set[Column]
) -> pl.DataFrame:
    """One row per case, in cidx order: the columns `names` the compiled expressions read.

    Step counts (`n@s`), each step's earliest/latest date/start/end (`date|min@s`; unknown —
    null — when an occurrence lacks that part, as grounding's Earliest/Latest are), facts, and
    first/last occurrences' data. Built by scattering per-step aggregates into full-length
    columns: a pivot to every step would cost more than all the rules together.
    """
    size = facts.height
    counted = sorted({n[2:] for n in names if n.startswith("n@")})
    dated: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for name in names:
        match = _AGGREGATE.match(name)
        if match:
            dated[match.group(3)].append((name, match.group(1), match.group(2)))
    steps = sorted(set(counted) | set(dated))
    columns: dict[str, pl.Series] = {
        "cidx": pl.Series("cidx", range(size), dtype=pl.Int32),
        "grp": pl.repeat(None, size, dtype=pl.Int32, eager=True).alias("grp").scatter(cases["cidx"], cases["grp"]),
    }
    if steps:
        # Only the aggregates some rule reads; like Earliest/Latest, unknown when an occurrence lacks the part.
        wanted = sorted({(part, which) for items in dated.values() for _n, part, which in items})
        parts = sorted({part for part, _w in wanted})
        aggregates = [pl.len().cast(pl.UInt32).alias("n")]
        aggregates += [getattr(pl.col(part), which)().alias(f"{part}|{which}") for part, which in wanted]
        aggregates += [pl.col(part).null_count().alias(f"{part}|nulls") for part in parts]
        # Lazy, so that the filter copies only the columns the aggregates read.
        grouped = events.lazy().filter(pl.col("step").is_in(steps)).group_by("step", "cidx").agg(aggregates).collect()
        grouped = grouped.with_columns(
            pl.when(pl.col(f"{part}|nulls") == 0).then(pl.col(f"{part}|{which}")).alias(f"{part}|{which}")
            for part, which in wanted
        )
        per_step = partitions(grouped, "step")
        # Each column starts as a copy of one of these (scatter writes into a copy of the shared buffer).
        zeros = pl.zeros(size, pl.UInt32, eager=True)
        no_dates = pl.repeat(None, size, dtype=pl.Date, eager=True)
        for step in steps:
            rows = per_step.get(step)
            index = rows["cidx"] if rows is not None else None
            if step in counted:
                series = zeros.clone().alias(count_column(step))
                columns[count_column(step)] = series.scatter(index, rows["n"]) if rows is not None else series
            for name, part, which in dated.get(step, []):
                series = no_dates.clone().alias(name)
                columns[name] = series.scatter(index, rows[f"{part}|{which}"]) if rows is not None else series
    frame = pl.DataFrame(columns)
    fact_columns = sorted(c.label for c in needs if c.source == "facts")
    if fact_columns:
        frame = frame.with_columns(
            facts[c].alias(c) if c in facts.columns else pl.lit(None, pl.Utf8).alias(c) for c in fact_columns
        )
    if _picks(needs):
        frame = frame.join(_data_of_occurrences(events, needs), on="cidx", how="left", maintain_order="left")
    labels = sorted(c.label for c in needs if c.source != "own")
    return with_cells(frame, labels, names) if labels else frame


def _picks(needs: set[Column]) -> list[Column]:
    return sorted((c for c in needs if c.source in ("first", "last")), key=lambda c: c.label)


def _data_of_occurrences(events: pl.DataFrame, needs: set[Column]) -> pl.DataFrame:
    """first('s').data.x / last('s').data.x per case: occurrences in date order, ties in event order."""
    anchor = pl.coalesce("date", "start")
    steps = sorted({c.step for c in _picks(needs)})
    sources = [f"data.{c.name}" for c in _picks(needs) if f"data.{c.name}" in events.columns]
    ordered = (
        events.select("cidx", "seq", "step", "date", "start", *sorted(set(sources)))
        .filter(pl.col("step").is_in(steps))
        .sort([pl.col("cidx"), anchor.is_null(), anchor, pl.col("seq")])
    )
    picked = []
    for column in _picks(needs):
        source = f"data.{column.name}"
        value = pl.col(source) if source in events.columns else pl.lit(None, pl.Utf8)
        of_step = value.filter(pl.col("step") == column.step)
        picked.append((of_step.first() if column.source == "first" else of_step.last()).alias(column.label))
    return ordered.group_by("cidx").agg(picked)


def _staged(node: Node, label: str, into: list[pl.Expr]) -> Node:
    """The node with its value, not-applicable and punt parts computed as columns first (added to `into`).

    A finding's code reads each part several times, and an eager query evaluates a repeated
    subexpression as often as it is written (and plans it as often): as a column it is computed once.
    """

    def column(part: pl.Expr, name: str) -> pl.Expr:
        if part is TRUE or part is FALSE or part is UNKNOWN_VALUE:
            return part
        into.append(part.alias(f"{name}|{label}"))
        return pl.col(f"{name}|{label}")

    return Node(column(node.value, "value"), column(node.na, "na"), column(node.punt, "punt"))


def _filled(value: pl.Expr, default: bool) -> pl.Expr:
    """An unknown truth value read as `default` (a literal one stays as it is)."""
    return value if value is TRUE or value is FALSE else value.fill_null(default)


def _coded(number: int, when: pl.Expr, code: pl.Expr) -> pl.Expr:
    return pl.when(when).then(code).otherwise(None).cast(pl.Int8).alias(str(number))


def _fewer_than_two(check: OrderCheck) -> pl.Expr:
    present = [(pl.col(count_column(r.step)) > 0).cast(pl.Int32) for r in check.refs]
    return pl.sum_horizontal(present) < 2


def _order_findings(
    check: OrderCheck, applies: pl.Expr, number: int, levels: list[list[pl.Expr]]
) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """Each occurrence of a present step against the earliest (or latest) of the nearest present step before it.

    `ground._ground_order` pairs adjacent *present* steps; which step is adjacent differs from
    case to case. The nearest present step before position i, and its date, are case-frame
    columns built level by level: the step at i-1 if present, else what level i-1 found. (Written
    as one chain of whens per position, the expressions grow with the square of the chain's
    length, and Polars spends more converting them for each chunk than evaluating them.)
    Returns (later step, finding key, code) per step after the first.
    """
    found = []
    refs = check.refs
    for i in range(1, len(refs)):
        earlier, later = refs[i - 1], refs[i]
        present = pl.col(count_column(earlier.step)) > 0
        date = pl.when(present).then(pl.col(aggregate_column(earlier.step, earlier.part, earlier.last)))
        step = pl.when(present).then(pl.lit(i - 1, pl.Int16))  # its place in the chain: named only in keys
        if i > 1:
            date = date.otherwise(pl.col(_nearest("date", number, i - 1)))
            step = step.otherwise(pl.col(_nearest("step", number, i - 1)))
        if len(levels) < i:
            levels.append([])
        levels[i - 1] += [date.alias(_nearest("date", number, i)), step.alias(_nearest("step", number, i))]
        earlier_step = pl.col(_nearest("step", number, i))
        value = pl.col(own_column(later.part)) >= pl.col(_nearest("date", number, i))
        named = earlier_step.replace_strict(range(len(refs)), [r.step for r in refs], return_dtype=pl.Utf8)
        key = named + "#1<=" + pl.col("key")
        code = pl.when(applies & earlier_step.is_not_null()).then(status(Node(value, FALSE)))
        found.append((later.step, key, code))
    return found


def _nearest(what: str, number: int, position: int) -> str:
    """The case-frame column of the nearest present step before `position` of rule `number`'s chain
    (its place in the chain, or its date)."""
    return f"nearest|{what}|{number}|{position}"
