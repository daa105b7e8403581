"""Core rules compiled to relational plans: one Polars query judges a rule on every case of a chunk.

The shape engine (columnar.py) grounds one representative per rule and *shape* of case and
evaluates its formulas column-wise; with many shapes that is many small queries. Grounding
itself can be written as column expressions instead, and this module does so for nearly
every rule (`supported`):

- `DateAtom` over event dates (first or `@last` occurrence, the judged occurrence's own
  date, dates in step data, calendar shifts, fixed dates, yearly deadlines), with its
  missing-subject / missing-term policies;
- `ValueAtom` over facts, the judged occurrence's data, first/last occurrences' data and
  step counts, and `ContainsAtom` lists (relational_values.py);
- `ExistsAtom`, and `where:` conditions on the occurrences a reference or an `exists` counts
  (evaluated per occurrence, summed up per case: `Where`);
- `ConstAtom`, `AllOf` / `AnyOf` / `NotOf`;
- `IfThen` and `when` that read no dates (values and which steps occur);
- `OrderCheck` chains.

Each node becomes (value, not applicable, punt) expressions over two frames of a chunk: the
*case frame* (one row per case: step counts, each step's earliest and latest date/start/end
— unknown when an occurrence lacks it, as grounding's Earliest/Latest are — and the facts
and data read) and, for a rule judged per occurrence, that step's occurrences beside it.
Value is Kleene's three-valued logic (null = unknown), as the direct evaluator's
and3/or3/not3; a part that does not apply drops out of an all/any exactly as `ground._ground`
drops it. *Punt* marks rows where only exact evaluation can be sure (a cell of an unexpected
kind, a tie that decimals cannot decide): the columnar engine grounds the rule on that case's
own values and judges it with the direct evaluator.

What comes out is a status code per finding (rule, case, finding key). Explanations are not
built here: the findings shown are explained by the direct evaluator from the same ground
formulas every other engine reads. A rule whose expressions the value compiler cannot read
stays with the shape engine (none of the bundled rules).
Tests check this engine against the per-case engine finding by finding, including every
satisfied and not-applicable one (tests/test_relational.py).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import reduce

import polars as pl

from compliance.engine.columnar_expr import NOT_APPLICABLE, SATISFIED, UNKNOWN_CODE, VIOLATED, ShiftTables
from compliance.engine.columnar_shapes import rule_info
from compliance.engine.relational_values import Cell, Column, Unsupported, ValueCompiler, cell_columns, typed
from compliance.rules.core import (
    AllOf,
    AnyOf,
    Check,
    ConstAtom,
    ContainsAtom,
    CoreRule,
    DateAtom,
    ExistsAtom,
    Fixed,
    IfThen,
    NotOf,
    OrderCheck,
    Ref,
    Shift,
    Term,
    ValueAtom,
    Yearly,
    term_refs,
    walk,
)
from compliance.rules.expr import Expression

PARTS = ("date", "start", "end")
POLICY_CODE = {"violated": VIOLATED, "unknown": UNKNOWN_CODE, "satisfied": SATISFIED, "not_applicable": NOT_APPLICABLE}


# --- which rules -------------------------------------------------------------------------------


def supported(rule: CoreRule, values: bool = True) -> bool:
    """Whether the rule lies in the fragment this module compiles (`values`: value atoms included)."""
    if not values and rule_info(rule).reads_values:
        return False
    if rule.when is not None and not _date_free(rule.when, None):
        return False
    if isinstance(rule.check, OrderCheck):
        return all(_plain(r) for r in rule.check.refs)
    return _in_fragment(rule.check, rule.subject)


def _plain(ref: Ref) -> bool:
    return ref.part in PARTS and ref.where is None


def _readable(ref: Ref) -> bool:
    """A date the plans can read: an event's date/start/end (of the occurrences a `where:` keeps),
    or a date in its data."""
    if ref.where is not None:
        return ref.part in PARTS and _where_supported(ref.step, ref.where)
    return ref.part in PARTS or (ref.part == "data" and ref.data_field is not None)


def _where_supported(step: str, where: Expression) -> bool:
    try:
        ValueCompiler(count_column).truth(where, step)
    except Unsupported:
        return False
    return True


def _in_fragment(check: Check, subject: str | None) -> bool:
    for node in walk(check):
        if isinstance(node, DateAtom):
            refs = [node.subject, *term_refs(node.term)]
            if not all(_readable(r) for r in refs):
                return False
            if isinstance(node.term, Yearly) and (node.term.month, node.term.day) == (2, 29):
                return False  # a year without 29 February: left to the evaluator's own error handling
        elif isinstance(node, ExistsAtom):
            if node.where is not None and not _where_supported(node.step, node.where):
                return False
        elif isinstance(node, IfThen):
            if not _date_free(node.cond, subject):
                return False
        elif isinstance(node, ValueAtom):
            if not _value_supported(node, subject):
                return False
        elif isinstance(node, ContainsAtom):
            if any('"' in item or "\\" in item for item in node.items):
                return False
        elif not isinstance(node, AllOf | AnyOf | NotOf | ConstAtom):
            return False
    return True


def _date_free(check: Check, subject: str | None) -> bool:
    """Exists / value / const / all / any / not only: decided before any date is read."""
    for node in walk(check):
        if isinstance(node, AllOf | AnyOf | NotOf | ConstAtom):
            continue
        if isinstance(node, ExistsAtom) and (node.where is None or _where_supported(node.step, node.where)):
            continue
        if isinstance(node, ValueAtom) and _value_supported(node, subject):
            continue
        return False
    return True


def _value_supported(atom: ValueAtom, subject: str | None) -> bool:
    try:
        ValueCompiler(count_column).truth(atom.expr, subject)
    except Unsupported:
        return False
    return True


# --- column names of the case frame ------------------------------------------------------------


def count_column(step: str) -> str:
    return f"n@{step}"


def aggregate_column(step: str, part: str, last: bool) -> str:
    return f"{part}|{'max' if last else 'min'}@{step}"


def own_column(part: str) -> str:
    return f"own|{part}"


# --- compiling ---------------------------------------------------------------------------------


TRUE, FALSE = pl.lit(True), pl.lit(False)
UNKNOWN_VALUE = pl.lit(None, pl.Boolean)


@dataclass(frozen=True)
class Node:
    """A compiled check: its three-valued value (null: unknown), whether it does not apply, and
    where only the exact evaluator may judge (see relational_values)."""

    value: pl.Expr
    na: pl.Expr
    punt: pl.Expr = FALSE


def _policy(policy: str) -> Node:
    if policy == "not_applicable":
        return Node(UNKNOWN_VALUE, TRUE)
    value = {"violated": FALSE, "unknown": UNKNOWN_VALUE, "satisfied": TRUE}[policy]
    return Node(value, FALSE)


def _choose(condition: pl.Expr, then: Node, otherwise: Node) -> Node:
    return Node(
        pl.when(condition).then(then.value).otherwise(otherwise.value),
        pl.when(condition).then(then.na).otherwise(otherwise.na),
        then.punt | otherwise.punt,
    )


def _missing(step: str) -> pl.Expr:
    return pl.col(count_column(step)) == 0


@dataclass(frozen=True)
class Where:
    """A `where:` condition on a step's occurrences, evaluated on each and summed up per case.

    Case columns: how many occurrences qualify (`true`), are undecided (`unknown`) or need the
    exact evaluator (`punt`); one letter per occurrence in event order (`letters`); and the
    earliest/latest date/start/end of those that qualify (`date|min` …).
    """

    number: int
    step: str
    value: pl.Expr  # on the step's occurrence rows
    punt: pl.Expr

    def column(self, what: str) -> str:
        return f"where{self.number}|{what}@{self.step}"

    @property
    def punts(self) -> pl.Expr:
        return pl.col(self.column("punt")) > 0

    def summary(self) -> list[pl.Expr]:
        """Aggregations over a case's occurrence rows (grouped by case)."""
        qualifies = ~self.punt & self.value.fill_null(False)
        letters = (
            pl.when(self.punt).then(pl.lit("p")).when(self.value.is_null()).then(pl.lit("u"))
            .when(self.value).then(pl.lit("t")).otherwise(pl.lit("f"))
        )  # fmt: skip
        found = [
            qualifies.sum().cast(pl.UInt32).alias(self.column("true")),
            (~self.punt & self.value.is_null()).sum().cast(pl.UInt32).alias(self.column("unknown")),
            self.punt.sum().cast(pl.UInt32).alias(self.column("punt")),
            letters.str.join("").alias(self.column("letters")),
        ]
        for part in PARTS:
            kept = pl.col(own_column(part)).filter(qualifies)
            complete = kept.null_count() == 0
            found.append(pl.when(complete).then(kept.min()).alias(self.column(f"{part}|min")))
            found.append(pl.when(complete).then(kept.max()).alias(self.column(f"{part}|max")))
        return found

    def missing(self) -> list[pl.Expr]:
        """The same columns for a case without the step."""
        counts = [pl.lit(0, pl.UInt32).alias(self.column(w)) for w in ("true", "unknown", "punt")]
        dates = [pl.lit(None, pl.Date).alias(self.column(f"{p}|{w}")) for p in PARTS for w in ("min", "max")]
        return [*counts, pl.lit("").alias(self.column("letters")), *dates]


@dataclass
class Compiler:
    """Compiles checks against the case frame; `subject` is the step judged per occurrence, if any."""

    shifts: ShiftTables
    values: ValueCompiler = field(default_factory=lambda: ValueCompiler(count_column))
    atoms: list[pl.Expr] = field(default_factory=list)  # each value atom's outcome, as a letter (see Plan.compile)
    wheres: dict[tuple[str, str], Where] = field(default_factory=dict)  # (step, condition) → its case columns

    def where(self, step: str, condition: Expression) -> Where:
        """The occurrences of `step` that satisfy `condition`, as case columns (see `Where`)."""
        found = self.wheres.get((step, condition.source))
        if found is None:
            value, punt = self.values.truth(condition, step)
            found = self.wheres[(step, condition.source)] = Where(len(self.wheres), step, value, punt)
        self.atoms.append(pl.col(found.column("letters")))  # which occurrences qualify shapes the grounding
        return found

    def date(self, ref: Ref, subject: str | None) -> tuple[pl.Expr, pl.Expr | None, pl.Expr]:
        """The reference's date, when it is missing (None: it cannot be), and where only the evaluator may say."""
        own = subject is not None and ref.step == subject
        if ref.part == "data":
            return self._data_date(ref, own)
        if own:
            return pl.col(own_column(ref.part)), None, FALSE
        if ref.where is not None:  # only the occurrences whose data satisfy the condition count
            kept = self.where(ref.step, ref.where)
            which = "max" if ref.last else "min"
            return pl.col(kept.column(f"{ref.part}|{which}")), pl.col(kept.column("true")) == 0, kept.punts
        return pl.col(aggregate_column(ref.step, ref.part, ref.last)), _missing(ref.step), FALSE

    def _datum(self, ref: Ref, own: bool) -> Cell:
        """The cell of a step's datum: the judged occurrence's own, or the first/last occurrence's by date."""
        field_name = ref.data_field or ""
        column = Column("own", field_name) if own else Column("last" if ref.last else "first", field_name, ref.step)
        cell = typed(self.values.column(column).expr)
        self.atoms.append(pl.coalesce(cell.text, pl.lit("-")))  # the datum itself goes into the grounding
        return cell

    def _data_date(self, ref: Ref, own: bool) -> tuple[pl.Expr, pl.Expr | None, pl.Expr]:
        # A cell holding an ISO date is a date; other text might still be one to date.fromisoformat: punt.
        cell = self._datum(ref, own)
        iso = cell.text.str.contains(r"^\d{4}-\d{2}-\d{2}$")
        date = pl.when(iso).then(cell.text.str.to_date("%Y-%m-%d", strict=False))
        punt = (cell.text.is_not_null() & ~iso).fill_null(False)
        missing = date.is_null() if own else _missing(ref.step) | date.is_null()
        return date, missing, punt

    def _yearly(self, term: Yearly, subject: str | None) -> tuple[pl.Expr, pl.Expr | None, pl.Expr]:
        ref = term.year_ref
        own = subject is not None and ref.step == subject
        cell = self._datum(ref, own)
        whole = cell.text.str.contains(r"^[+-]?\d{1,5}$")
        year = pl.when(whole).then(cell.text.cast(pl.Int32, strict=False) + term.offset)
        valid = year.is_between(1, 9999)
        date = pl.when(valid).then(pl.date(year, term.month, term.day))
        punt = (cell.text.is_not_null() & ~(whole & valid)).fill_null(False)
        missing = date.is_null() if own else _missing(ref.step) | date.is_null()
        return date, missing, punt

    def term(self, term: Term, subject: str | None) -> tuple[pl.Expr, pl.Expr | None, pl.Expr]:
        if isinstance(term, Ref):
            return self.date(term, subject)
        if isinstance(term, Shift):
            base, missing, punt = self.date(term.ref, subject)
            return self.shifts.lookup(base, term.n, term.unit, term.sign), missing, punt
        if isinstance(term, Fixed):
            return pl.lit(term.date, pl.Date), None, FALSE
        if isinstance(term, Yearly):
            return self._yearly(term, subject)
        raise TypeError(term)

    def check(self, check: Check, subject: str | None) -> Node:
        if isinstance(check, DateAtom):
            left, left_missing, left_punt = self.date(check.subject, subject)
            right, right_missing, right_punt = self.term(check.term, subject)
            node = Node(_compare(left, check.op, right), FALSE)
            if right_missing is not None:
                node = _choose(right_missing, _policy(check.missing_term), node)
            if left_missing is not None:
                # The judged occurrence lacking the datum it should carry is unknown, not the rule's policy.
                own = subject is not None and check.subject.step == subject
                policy = Node(UNKNOWN_VALUE, FALSE) if own else _policy(check.missing_subject)
                node = _choose(left_missing, policy, node)
            return Node(node.value, node.na, left_punt | right_punt)
        if isinstance(check, ContainsAtom):
            if subject is None:
                return Node(UNKNOWN_VALUE, TRUE)  # no judged occurrence: does not apply, as grounding says
            cell = typed(self.values.column(Column("own", check.field)).expr)
            listed = cell.listed
            found = [
                listed & cell.text.str.contains(json.dumps(item, ensure_ascii=False), literal=True)
                for item in check.items
            ]
            letters = [pl.when(f).then(pl.lit("t")).otherwise(pl.lit("f")) for f in found]
            self.atoms.append(pl.concat_str([pl.when(listed).then(pl.lit("L")).otherwise(pl.lit("N")), *letters]))
            value = reduce(lambda a, b: a & b, found) if found else listed
            punt = (cell.text.str.starts_with("[") & ~listed).fill_null(False)
            return Node(value, FALSE, punt)
        if isinstance(check, ExistsAtom):
            if check.where is None:
                return Node(pl.col(count_column(check.step)) > 0, FALSE)
            # ground._ground: one occurrence that qualifies makes it true; else one undecided, unknown.
            kept = self.where(check.step, check.where)
            value = (
                pl.when(pl.col(kept.column("true")) > 0)
                .then(TRUE)
                .when(pl.col(kept.column("unknown")) > 0)
                .then(UNKNOWN_VALUE)
                .otherwise(FALSE)
            )
            return Node(value, FALSE, kept.punts)
        if isinstance(check, ConstAtom):
            return Node(pl.lit(check.value), FALSE)
        if isinstance(check, ValueAtom):
            value, punt = self.values.truth(check.expr, subject)
            missing = _policy(check.missing)
            unknown = value.is_null()
            self.atoms.append(
                pl.when(punt).then(pl.lit("p")).when(unknown).then(pl.lit("u")).when(value).then(pl.lit("t"))
                .otherwise(pl.lit("f"))
            )  # fmt: skip
            return Node(pl.when(unknown).then(missing.value).otherwise(value), unknown & missing.na, punt)
        if isinstance(check, AllOf | AnyOf):
            parts = [self.check(p, subject) for p in check.parts]
            neutral = TRUE if isinstance(check, AllOf) else FALSE
            # A part that does not apply is left out: it counts as the neutral element.
            values = [pl.when(p.na).then(neutral).otherwise(p.value) for p in parts]
            combine = (lambda a, b: a & b) if isinstance(check, AllOf) else (lambda a, b: a | b)
            return Node(
                reduce(combine, values),
                reduce(lambda a, b: a & b, [p.na for p in parts]),
                reduce(lambda a, b: a | b, [p.punt for p in parts]),
            )
        if isinstance(check, NotOf):
            inner = self.check(check.part, subject)
            return Node(~inner.value, inner.na, inner.punt)
        if isinstance(check, IfThen):
            # ground._ground: a decided condition picks a branch; an unknown one keeps both,
            # as (cond and then) or (not cond and otherwise), and either branch not applying makes it not apply.
            cond = self.check(check.cond, subject)  # reads no dates: decided or unknown, the same for every date
            then = self.check(check.then, subject)
            has_otherwise = check.otherwise is not None
            otherwise = self.check(check.otherwise, subject) if has_otherwise else _policy("not_applicable")
            undecided = cond.value.is_null()
            kept = otherwise if has_otherwise else Node(TRUE, FALSE)
            value = (
                pl.when(undecided)
                .then((UNKNOWN_VALUE & then.value) | (UNKNOWN_VALUE & kept.value))
                .when(cond.value)
                .then(then.value)
                .otherwise(otherwise.value)
            )
            na = pl.when(undecided).then(then.na | kept.na).when(cond.value).then(then.na).otherwise(otherwise.na)
            return Node(value, cond.na | na, cond.punt | then.punt | otherwise.punt)
        raise TypeError(f"not in the fragment: {check!r}")

    def guard(self, rule: CoreRule) -> Node:
        """The rule's `when` (reads no dates); true without one."""
        if rule.when is None:
            return Node(TRUE, FALSE)
        return self.check(rule.when, None)


def _compare(left: pl.Expr, op: str, right: pl.Expr) -> pl.Expr:
    return {
        "<": left < right,
        "<=": left <= right,
        "==": left == right,
        ">=": left >= right,
        ">": left > right,
    }[op]


PUNT = -1  # a finding only the exact evaluator may judge: the rule is grounded on that case and judged directly


def status(node: Node) -> pl.Expr:
    """A finding's status code, as `judge` decides it (no date-dependent guard in the fragment)."""
    return (
        pl.when(node.punt)
        .then(PUNT)
        .when(node.na)
        .then(NOT_APPLICABLE)
        .when(node.value.is_null())
        .then(UNKNOWN_CODE)
        .when(node.value)
        .then(SATISFIED)
        .otherwise(VIOLATED)
        .cast(pl.Int8)
    )


# --- plans ------------------------------------------------------------------------------------

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


_EXPRESSIONS: dict[tuple, Expressions] = {}


@dataclass
class Plan:
    """The queries judging a list of rules on a chunk of cases."""

    rules: list[CoreRule]
    applies: list[list[int]]  # per rule: the case groups (`grp`) it applies to
    shifts: ShiftTables
    keep: tuple[int, ...]  # status codes to return (PUNT always is)
    atom_outcomes: pl.DataFrame | None = field(default=None, init=False)  # set by run: see _atom_outcomes

    def compile(self) -> Expressions:
        compiler = Compiler(self.shifts)
        case_level: list[pl.Expr] = []
        by_step: dict[str, list[tuple[int, pl.Expr, pl.Expr]]] = {}
        outcomes_of_atoms: dict[int, tuple[pl.Expr | None, str | None, pl.Expr | None]] = {}
        for number, rule in enumerate(self.rules):
            ours = pl.col("grp").is_in(self.applies[number])
            compiler.atoms = []
            guard = compiler.guard(rule)
            undecided = ~guard.na & guard.value.is_null()
            holds = ~guard.punt & ~guard.na & guard.value.fill_null(False)
            applies = ours & holds
            # Case-level findings: `when` fails or is unknown, the subject never occurs, an order with < 2 steps.
            outcomes = [
                (ours & guard.punt, pl.lit(PUNT, pl.Int8)),
                (ours & (guard.na | ~guard.value.fill_null(True)), pl.lit(NOT_APPLICABLE, pl.Int8)),
                (ours & undecided, pl.lit(WHEN_UNKNOWN_CODE[rule.when_unknown], pl.Int8)),
            ]
            if isinstance(rule.check, OrderCheck):
                for step, key, code in _order_findings(rule.check, applies):
                    by_step.setdefault(step, []).append((number, key, code))
                outcomes.append((applies & _fewer_than_two(rule.check), pl.lit(NOT_APPLICABLE, pl.Int8)))
            elif rule.subject is None:
                outcomes.append((applies, status(compiler.check(rule.check, None))))
            else:
                code = pl.lit(POLICY_CODE[rule.missing_subject], pl.Int8)
                outcomes.append((applies & _missing(rule.subject), code))
                on_case = compiler.atoms
                compiler.atoms = []
                found = status(compiler.check(rule.check, rule.subject))
                by_step.setdefault(rule.subject, []).append((number, pl.col("key"), _coded(number, applies, found)))
                if on_case or compiler.atoms:
                    outcomes_of_atoms[number] = (_letters(on_case), rule.subject, _letters(compiler.atoms))
            if rule.subject is None and compiler.atoms:
                outcomes_of_atoms[number] = (_letters(compiler.atoms), None, None)
            case_level.append(pl.coalesce([_coded(number, when, code) for when, code in outcomes]).alias(str(number)))
        wheres = list(compiler.wheres.values())
        return Expressions(case_level, by_step, compiler.values.needs, outcomes_of_atoms, wheres)

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
        """Findings (cidx, key, rule number, code) of every case.

        `cases`: cidx and grp (the case's group of packs and procedure); `events`: the chunk's
        events (cidx seq step key date start end data.*); `facts`: cidx and facts.* columns,
        one row per case in cidx order. Cases are numbered 0..n-1 (cidx), as the columnar engine numbers them.
        """
        compiled = self.compiled()
        names = {n for e in compiled.case_level for n in e.meta.root_names()}
        for items in compiled.by_step.values():
            names.update(n for _num, key, code in items for e in (key, code) for n in e.meta.root_names())
        for on_case, _subject, on_occurrence in compiled.outcomes.values():
            names.update(n for e in (on_case, on_occurrence) if e is not None for n in e.meta.root_names())
        for kept in compiled.wheres:
            names.update(n for e in (kept.value, kept.punt) for n in e.meta.root_names())
        frame = case_frame(events, cases, facts, names, compiled.needs)
        own = sorted({c.label for c in compiled.needs if c.source == "own"})
        occurrences = events.select(
            "cidx",
            "step",
            "key",
            *[pl.col(p).alias(own_column(p)) for p in PARTS],
            *[pl.col(c) if c in events.columns else pl.lit(None, pl.Utf8).alias(c) for c in own],
        ).partition_by("step", as_dict=True)
        frame = _with_wheres(frame, compiled.wheres, occurrences)
        found = [_long(frame.select("cidx", pl.lit("case").alias("key"), *compiled.case_level))]
        for step, items in compiled.by_step.items():
            rows = occurrences.get((step,))
            if rows is None:
                continue
            wanted = sorted({n for _num, key, code in items for e in (key, code) for n in e.meta.root_names()})
            rows = _with_case_columns(rows, frame, wanted)
            # Findings keyed by the occurrence itself (subject rules) come out of one select, unpivoted;
            # order findings name the earlier step in their key and are taken one by one.
            own_key = [(n, code) for n, key, code in items if key.meta.eq(pl.col("key"))]
            other = [(n, key, code) for n, key, code in items if not key.meta.eq(pl.col("key"))]
            if own_key:
                found.append(_long(rows.select("cidx", "key", *[code.alias(str(n)) for n, code in own_key])))
            for number, key, code in other:
                found.append(
                    rows.select("cidx", key.alias("key"), pl.lit(number, pl.Int32).alias("rule"), code.alias("code"))
                    .drop_nulls("code")
                )  # fmt: skip
        result = pl.concat([f.select(*[pl.col(c).cast(t) for c, t in FINDING_SCHEMA.items()]) for f in found])
        if len(self.keep) < 4:
            result = result.filter(pl.col("code").is_in([*self.keep, PUNT]))
        self.atom_outcomes = self._atom_outcomes(compiled, frame, occurrences, result)
        return result

    def _atom_outcomes(
        self, compiled: Expressions, frame: pl.DataFrame, occurrences: dict, found: pl.DataFrame
    ) -> pl.DataFrame:
        """(rule, cidx, atoms): for the findings of rules with value atoms, what every atom of the rule came to.

        Two cases whose step counts and atom outcomes agree ground that rule the same way
        (value atoms ground to constants): the columnar engine explains both from one grounding.
        """
        parts = []
        for number, (on_case, subject, on_occurrence) in compiled.outcomes.items():
            cidxs = found.filter(pl.col("rule") == number)["cidx"].unique()
            if cidxs.is_empty():
                continue
            case_text = frame.select("cidx", (on_case if on_case is not None else pl.lit("")).alias("atoms"))
            case_text = case_text.filter(pl.col("cidx").is_in(cidxs.implode()))
            if subject is not None and on_occurrence is not None and (subject,) in occurrences:
                rows = occurrences[(subject,)].filter(pl.col("cidx").is_in(cidxs.implode()))
                wanted = sorted(set(on_occurrence.meta.root_names()))
                rows = _with_case_columns(rows, frame, wanted)
                per_case = (
                    rows.select("cidx", on_occurrence.alias("a"))
                    .group_by("cidx", maintain_order=True)
                    .agg(pl.col("a").str.join(","))
                )
                case_text = case_text.join(per_case, on="cidx", how="left").select(
                    "cidx", pl.concat_str([pl.col("atoms"), pl.col("a").fill_null("")], separator="|").alias("atoms")
                )
            parts.append(case_text.select(pl.lit(number, pl.Int32).alias("rule"), "cidx", "atoms"))
        schema = {"rule": pl.Int32, "cidx": pl.Int32, "atoms": pl.Utf8}
        return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _with_wheres(frame: pl.DataFrame, wheres: list[Where], occurrences: dict) -> pl.DataFrame:
    """The case frame with each `where:` condition's case columns."""
    for kept in wheres:
        rows = occurrences.get((kept.step,))
        if rows is None:
            frame = frame.with_columns(kept.missing())
            continue
        wanted = sorted({n for e in (kept.value, kept.punt) for n in e.meta.root_names()})
        rows = _with_case_columns(rows, frame, wanted)
        summary = rows.group_by("cidx", maintain_order=True).agg(kept.summary())
        fills = [pl.col(kept.column(w)).fill_null(0) for w in ("true", "unknown", "punt")]
        fills.append(pl.col(kept.column("letters")).fill_null(""))  # a case without the step
        frame = frame.join(summary, on="cidx", how="left", maintain_order="left").with_columns(fills)
    return frame


def _with_case_columns(rows: pl.DataFrame, frame: pl.DataFrame, wanted: list[str]) -> pl.DataFrame:
    """Occurrence rows with the case-frame columns `wanted` beside them, and their own cells typed."""
    available, present = set(frame.columns), set(rows.columns)
    context = [n for n in wanted if n in available and n not in present]
    if context:
        rows = pl.concat([rows, frame.select(context)[rows["cidx"]]], how="horizontal")
    own = [n[: -len("|text")] for n in wanted if n.endswith("|text") and n[: -len("|text")] in present]
    typed = [e for label in own for e in cell_columns(label, set(wanted))]
    return rows.with_columns(typed) if typed else rows


def _letters(atoms: list[pl.Expr]) -> pl.Expr | None:
    return pl.concat_str(atoms) if atoms else None


def _long(wide: pl.DataFrame) -> pl.DataFrame:
    return (
        wide.unpivot(index=["cidx", "key"], variable_name="rule", value_name="code")
        .drop_nulls("code")
        .with_columns(pl.col("rule").cast(pl.Int32))
    )


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
        "grp": pl.Series("grp", [None] * size, dtype=pl.Int32).scatter(cases["cidx"], cases["grp"]),
    }
    if steps:
        # Only the aggregates some rule reads; like Earliest/Latest, unknown when an occurrence lacks the part.
        wanted = sorted({(part, which) for items in dated.values() for _n, part, which in items})
        parts = sorted({part for part, _w in wanted})
        aggregates = [pl.len().cast(pl.UInt32).alias("n")]
        aggregates += [getattr(pl.col(part), which)().alias(f"{part}|{which}") for part, which in wanted]
        aggregates += [pl.col(part).null_count().alias(f"{part}|nulls") for part in parts]
        grouped = events.filter(pl.col("step").is_in(steps)).group_by("step", "cidx").agg(aggregates)
        grouped = grouped.with_columns(
            pl.when(pl.col(f"{part}|nulls") == 0).then(pl.col(f"{part}|{which}")).alias(f"{part}|{which}")
            for part, which in wanted
        )
        per_step = grouped.partition_by("step", as_dict=True)
        for step in steps:
            rows = per_step.get((step,))
            index = rows["cidx"] if rows is not None else None
            if step in counted:
                series = pl.Series(count_column(step), [0] * size, dtype=pl.UInt32)
                columns[count_column(step)] = series.scatter(index, rows["n"]) if rows is not None else series
            for name, part, which in dated.get(step, []):
                series = pl.Series(name, [None] * size, dtype=pl.Date)
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
    return frame.with_columns(e for label in labels for e in cell_columns(label, names)) if labels else frame


def _picks(needs: set[Column]) -> list[Column]:
    return sorted((c for c in needs if c.source in ("first", "last")), key=lambda c: c.label)


def _data_of_occurrences(events: pl.DataFrame, needs: set[Column]) -> pl.DataFrame:
    """first('s').data.x / last('s').data.x per case: occurrences in date order, ties in event order."""
    anchor = pl.coalesce("date", "start")
    steps = sorted({c.step for c in _picks(needs)})
    ordered = events.filter(pl.col("step").is_in(steps)).sort([pl.col("cidx"), anchor.is_null(), anchor, pl.col("seq")])
    picked = []
    for column in _picks(needs):
        source = f"data.{column.name}"
        value = pl.col(source) if source in events.columns else pl.lit(None, pl.Utf8)
        of_step = value.filter(pl.col("step") == column.step)
        picked.append((of_step.first() if column.source == "first" else of_step.last()).alias(column.label))
    return ordered.group_by("cidx").agg(picked)


def _coded(number: int, when: pl.Expr, code: pl.Expr) -> pl.Expr:
    return pl.when(when).then(code).otherwise(None).cast(pl.Int8).alias(str(number))


def _fewer_than_two(check: OrderCheck) -> pl.Expr:
    present = [(pl.col(count_column(r.step)) > 0).cast(pl.Int32) for r in check.refs]
    return pl.sum_horizontal(present) < 2


def _order_findings(check: OrderCheck, applies: pl.Expr) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """Each occurrence of a present step against the earliest (or latest) of the nearest present step before it.

    `ground._ground_order` pairs adjacent *present* steps; which step is adjacent differs from
    case to case, so the earlier date is a chain of whens over the steps before, nearest first.
    Returns (later step, finding key, code) per step after the first.
    """
    found = []
    refs = check.refs
    for i in range(1, len(refs)):
        later = refs[i]
        earlier_date: pl.Expr | None = None
        earlier_step: pl.Expr | None = None
        for earlier in reversed(refs[:i]):
            present = pl.col(count_column(earlier.step)) > 0
            date = pl.col(aggregate_column(earlier.step, earlier.part, earlier.last))
            if earlier_date is None or earlier_step is None:
                earlier_date = pl.when(present).then(date)
                earlier_step = pl.when(present).then(pl.lit(earlier.step))
            else:
                earlier_date = earlier_date.when(present).then(date)
                earlier_step = earlier_step.when(present).then(pl.lit(earlier.step))
        assert earlier_date is not None and earlier_step is not None
        has_earlier = pl.any_horizontal([pl.col(count_column(r.step)) > 0 for r in refs[:i]])
        value = pl.col(own_column(later.part)) >= earlier_date.otherwise(None)
        key = earlier_step.otherwise(None) + "#1<=" + pl.col("key")
        code = pl.when(applies & has_earlier).then(status(Node(value, FALSE)))
        found.append((later.step, key, code))
    return found
