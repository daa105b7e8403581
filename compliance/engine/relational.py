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

relational_plan.py runs the compiled expressions on a chunk. What comes out is a status code
per finding (rule, case, finding key). Explanations are not
built here: the findings shown are explained by the direct evaluator from the same ground
formulas every other engine reads. A rule whose expressions the value compiler cannot read
stays with the shape engine (none of the bundled rules).
Tests check this engine against the per-case engine finding by finding, including every
satisfied and not-applicable one (tests/test_relational.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import polars as pl

from compliance.engine.columnar_expr import NOT_APPLICABLE, SATISFIED, UNKNOWN_CODE, VIOLATED, ShiftTables
from compliance.engine.columnar_shapes import rule_info
from compliance.engine.evaluate import OPS
from compliance.engine.relational_logic import (
    FALSE,
    TRUE,
    UNKNOWN_VALUE,
    all_of,
    any_of,
    choose,
    is_unknown,
    negation,
)
from compliance.engine.relational_values import Cell, Column, Unsupported, ValueCompiler, typed
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
        return ref.part in PARTS and _compiles(ref.where, ref.step)
    return ref.part in PARTS or (ref.part == "data" and ref.data_field is not None)


def _compiles(expression: Expression, subject: str | None) -> bool:
    """Whether the value compiler reads the expression (a `value:` atom, or a `where:` on the subject's occurrences)."""
    try:
        ValueCompiler(count_column).truth(expression, subject)
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
            if node.where is not None and not _compiles(node.where, node.step):
                return False
        elif isinstance(node, IfThen):
            if not _date_free(node.cond, subject):
                return False
        elif isinstance(node, ValueAtom):
            if not _compiles(node.expr, subject):
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
        if isinstance(node, ExistsAtom) and (node.where is None or _compiles(node.where, node.step)):
            continue
        if isinstance(node, ValueAtom) and _compiles(node.expr, subject):
            continue
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
        choose(condition, then.value, otherwise.value),
        choose(condition, then.na, otherwise.na),
        any_of(then.punt, otherwise.punt),
    )


def missing_step(step: str) -> pl.Expr:
    return pl.col(count_column(step)) == 0


_QUALIFIES, _UNDECIDED, _PUNTS, _LETTER = "where|qualifies", "where|undecided", "where|punts", "where|letter"


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

    def per_occurrence(self) -> list[pl.Expr]:
        """Row columns `summary` aggregates: whether the occurrence qualifies, is undecided or punts,
        and its letter. The condition is evaluated once here, not once per aggregate that reads it."""
        punt = self.punt
        return [
            (~punt & self.value.fill_null(False)).alias(_QUALIFIES),
            (~punt & self.value.is_null()).alias(_UNDECIDED),
            punt.alias(_PUNTS),
            pl.when(punt).then(pl.lit("p")).when(self.value.is_null()).then(pl.lit("u"))
            .when(self.value).then(pl.lit("t")).otherwise(pl.lit("f")).alias(_LETTER),
        ]  # fmt: skip

    def summary(self) -> list[pl.Expr]:
        """Aggregations over a case's occurrence rows (grouped by case), of the `per_occurrence` columns."""
        qualifies = pl.col(_QUALIFIES)
        found = [
            qualifies.sum().cast(pl.UInt32).alias(self.column("true")),
            pl.col(_UNDECIDED).sum().cast(pl.UInt32).alias(self.column("unknown")),
            pl.col(_PUNTS).sum().cast(pl.UInt32).alias(self.column("punt")),
            pl.col(_LETTER).str.join("").alias(self.column("letters")),
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
        return pl.col(aggregate_column(ref.step, ref.part, ref.last)), missing_step(ref.step), FALSE

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
        missing = date.is_null() if own else missing_step(ref.step) | date.is_null()
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
        missing = date.is_null() if own else missing_step(ref.step) | date.is_null()
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
            node = Node(OPS[check.op](left, right), FALSE)
            if right_missing is not None:
                node = _choose(right_missing, _policy(check.missing_term), node)
            if left_missing is not None:
                # The judged occurrence lacking the datum it should carry is unknown, not the rule's policy.
                own = subject is not None and check.subject.step == subject
                policy = Node(UNKNOWN_VALUE, FALSE) if own else _policy(check.missing_subject)
                node = _choose(left_missing, policy, node)
            return Node(node.value, node.na, any_of(left_punt, right_punt))
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
            value = all_of(*found) if found else listed
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
            # An unknown value read as unknown is the value itself: not written twice, as a when/then would.
            checked = value if missing.value is UNKNOWN_VALUE else choose(unknown, missing.value, value)
            return Node(checked, all_of(unknown, missing.na), punt)
        if isinstance(check, AllOf | AnyOf):
            parts = [self.check(p, subject) for p in check.parts]
            neutral = TRUE if isinstance(check, AllOf) else FALSE
            # A part that does not apply is left out: it counts as the neutral element.
            values = [choose(p.na, neutral, p.value) for p in parts]
            combine = all_of if isinstance(check, AllOf) else any_of
            return Node(combine(*values), all_of(*[p.na for p in parts]), any_of(*[p.punt for p in parts]))
        if isinstance(check, NotOf):
            inner = self.check(check.part, subject)
            return Node(negation(inner.value), inner.na, inner.punt)
        if isinstance(check, IfThen):
            # ground._ground: a decided condition picks a branch; an unknown one keeps both,
            # as (cond and then) or (not cond and otherwise), and either branch not applying makes it not apply.
            cond = self.check(check.cond, subject)  # reads no dates: decided or unknown, the same for every date
            then = self.check(check.then, subject)
            has_otherwise = check.otherwise is not None
            otherwise = self.check(check.otherwise, subject) if has_otherwise else _policy("not_applicable")
            undecided = is_unknown(cond.value)
            kept = otherwise if has_otherwise else Node(TRUE, FALSE)
            value = (
                pl.when(undecided)
                .then((UNKNOWN_VALUE & then.value) | (UNKNOWN_VALUE & kept.value))
                .when(cond.value)
                .then(then.value)
                .otherwise(otherwise.value)
            )
            na = pl.when(undecided).then(then.na | kept.na).when(cond.value).then(then.na).otherwise(otherwise.na)
            return Node(value, any_of(cond.na, na), any_of(cond.punt, then.punt, otherwise.punt))
        raise TypeError(f"not in the fragment: {check!r}")

    def guard(self, rule: CoreRule) -> Node:
        """The rule's `when` (reads no dates); true without one."""
        if rule.when is None:
            return Node(TRUE, FALSE)
        return self.check(rule.when, None)


PUNT = -1  # a finding only the exact evaluator may judge: the rule is grounded on that case and judged directly


def status(node: Node) -> pl.Expr:
    """A finding's status code, as `judge` decides it (no date-dependent guard in the fragment)."""
    decided = pl.when(node.value).then(SATISFIED).otherwise(VIOLATED)
    code = choose(is_unknown(node.value), pl.lit(UNKNOWN_CODE), decided)
    code = choose(node.na, pl.lit(NOT_APPLICABLE), code)
    return choose(node.punt, pl.lit(PUNT), code).cast(pl.Int8)
