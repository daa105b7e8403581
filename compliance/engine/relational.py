"""Core rules compiled to relational plans: one Polars query judges a rule on every case of a chunk.

The shape engine (columnar.py) grounds one representative per rule and *shape* of case and
evaluates its formulas column-wise; with many shapes that is many small queries. Most rules
need no representative at all: their grounding depends only on which steps occur, so the
grounding itself can be written as column expressions. This module does that for the
*date fragment* of the core form (`supported`):

- `DateAtom` over event dates (first or `@last` occurrence, the judged occurrence's own
  date, calendar shifts, fixed dates), with its missing-subject / missing-term policies;
- `ValueAtom` over facts, the judged occurrence's data, first/last occurrences' data and
  step counts (relational_values.py: rows where floats might not give the exact answer are
  *punted* to the shape engine, which evaluates them exactly);
- `ExistsAtom` without `where`, `ConstAtom`, `AllOf` / `AnyOf` / `NotOf`;
- `IfThen` whose condition reads no dates, a `when` that reads no dates;
- `OrderCheck` chains.

Each node becomes a pair of expressions, (value, not applicable), over two frames of a chunk:
the *case frame* (one row per case: step counts, and each step's earliest and latest
date/start/end, unknown when an occurrence lacks it, as grounding's Earliest/Latest are) and,
for a rule judged per occurrence, the occurrences of its subject joined to it. Value is
Kleene's three-valued logic (null = unknown), as the direct evaluator's and3/or3/not3; a part
that does not apply drops out of an all/any exactly as `ground._ground` drops it.

What comes out is a status code per finding (rule, case, finding key). Explanations are not
built here: the findings that are shown are explained by the direct evaluator, from the same
ground formulas every other engine reads (columnar.explain). Rules outside the fragment
(dates in step data, `where:` conditions, `contains:`) stay with the shape engine. Tests check this engine
against the per-case engine finding by finding, including every satisfied and not-applicable one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import polars as pl

from compliance.engine.columnar_expr import NOT_APPLICABLE, SATISFIED, UNKNOWN_CODE, VIOLATED, ShiftTables
from compliance.engine.relational_values import Column, Unsupported, ValueCompiler
from compliance.rules.core import (
    AllOf,
    AnyOf,
    Check,
    ConstAtom,
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
    walk,
)

PARTS = ("date", "start", "end")
POLICY_CODE = {"violated": VIOLATED, "unknown": UNKNOWN_CODE, "satisfied": SATISFIED, "not_applicable": NOT_APPLICABLE}


# --- which rules -------------------------------------------------------------------------------


def supported(rule: CoreRule, values: bool = True) -> bool:
    """Whether the rule lies in the fragment this module compiles (`values`: value atoms included)."""
    if not values and any(isinstance(n, ValueAtom) for n in (*walk(rule.check), *walk(rule.when))):
        return False
    if rule.when is not None and not _date_free(rule.when, None):
        return False
    if isinstance(rule.check, OrderCheck):
        return all(_plain(r) for r in rule.check.refs)
    return _in_fragment(rule.check, rule.subject)


def _plain(ref: Ref) -> bool:
    return ref.part in PARTS and ref.where is None


def _in_fragment(check: Check, subject: str | None) -> bool:
    for node in walk(check):
        if isinstance(node, DateAtom):
            refs = [node.subject] + ([node.term] if isinstance(node.term, Ref) else [])
            refs += [node.term.ref] if isinstance(node.term, Shift) else []
            if not all(_plain(r) for r in refs) or not isinstance(node.term, Ref | Shift | Fixed):
                return False
        elif isinstance(node, ExistsAtom):
            if node.where is not None:
                return False
        elif isinstance(node, IfThen):
            if not _date_free(node.cond, subject):
                return False
        elif isinstance(node, ValueAtom):
            if not _value_supported(node, subject):
                return False
        elif not isinstance(node, AllOf | AnyOf | NotOf | ConstAtom):
            return False
    return True


def _date_free(check: Check, subject: str | None) -> bool:
    """Exists / value / const / all / any / not only: decided before any date is read."""
    for node in walk(check):
        if (isinstance(node, ExistsAtom) and node.where is None) or isinstance(node, AllOf | AnyOf | NotOf | ConstAtom):
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


@dataclass
class Compiler:
    """Compiles checks against the case frame; `subject` is the step judged per occurrence, if any."""

    shifts: ShiftTables
    values: ValueCompiler = field(default_factory=lambda: ValueCompiler(count_column))

    def date(self, ref: Ref, subject: str | None) -> tuple[pl.Expr, pl.Expr | None]:
        """The reference's date, and when it is missing (no occurrence) — None when it cannot be."""
        if subject is not None and ref.step == subject:
            return pl.col(own_column(ref.part)), None
        return pl.col(aggregate_column(ref.step, ref.part, ref.last)), _missing(ref.step)

    def term(self, term: Term, subject: str | None) -> tuple[pl.Expr, pl.Expr | None]:
        if isinstance(term, Ref):
            return self.date(term, subject)
        if isinstance(term, Shift):
            base, missing = self.date(term.ref, subject)
            return self.shifts.lookup(base, term.n, term.unit, term.sign), missing
        if isinstance(term, Fixed):
            return pl.lit(term.date, pl.Date), None
        raise TypeError(term)

    def check(self, check: Check, subject: str | None) -> Node:
        if isinstance(check, DateAtom):
            left, left_missing = self.date(check.subject, subject)
            right, right_missing = self.term(check.term, subject)
            node = Node(_compare(left, check.op, right), FALSE)
            if right_missing is not None:
                node = _choose(right_missing, _policy(check.missing_term), node)
            if left_missing is not None:
                node = _choose(left_missing, _policy(check.missing_subject), node)
            return node
        if isinstance(check, ExistsAtom):
            return Node(pl.col(count_column(check.step)) > 0, FALSE)
        if isinstance(check, ConstAtom):
            return Node(pl.lit(check.value), FALSE)
        if isinstance(check, ValueAtom):
            value, punt = self.values.truth(check.expr, subject)
            missing = _policy(check.missing)
            unknown = value.is_null()
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


PUNT = -1  # a finding only the exact evaluator may judge: the shape engine takes the rule for that case


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
class Plan:
    """The queries judging a list of rules on a chunk of cases."""

    rules: list[CoreRule]
    applies: list[list[int]]  # per rule: the case groups (`grp`) it applies to
    shifts: ShiftTables
    keep: tuple[int, ...]  # status codes to return (PUNT always is)

    def run(self, cases: pl.DataFrame, events: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
        """Findings (cidx, key, rule number, code) of every case.

        `cases`: cidx and grp (the case's group of packs and procedure); `events`: the chunk's
        events (cidx seq step key date start end data.*); `facts`: cidx and facts.* columns.
        """
        compiler = Compiler(self.shifts)
        case_level: list[pl.Expr] = []
        by_subject: dict[str, list[pl.Expr]] = {}
        orders: list[tuple[int, OrderCheck, pl.Expr]] = []
        for number, rule in enumerate(self.rules):
            ours = pl.col("grp").is_in(self.applies[number])
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
                orders.append((number, rule.check, applies))
                outcomes.append((applies & _fewer_than_two(rule.check), pl.lit(NOT_APPLICABLE, pl.Int8)))
            elif rule.subject is None:
                outcomes.append((applies, status(compiler.check(rule.check, None))))
            else:
                code = pl.lit(POLICY_CODE[rule.missing_subject], pl.Int8)
                outcomes.append((applies & _missing(rule.subject), code))
                found = status(compiler.check(rule.check, rule.subject))
                by_subject.setdefault(rule.subject, []).append(_coded(number, applies, found))
            case_level.append(pl.coalesce([_coded(number, when, code) for when, code in outcomes]).alias(str(number)))
        steps = sorted({s for rule in self.rules for s in rule.steps})
        needs = compiler.values.needs
        frame = case_frame(events, cases, steps, facts, needs).lazy()
        own = sorted({c.label for c in needs if c.source == "own"})
        own_columns = [pl.col(c) if c in events.columns else pl.lit(None, pl.Utf8).alias(c) for c in own]
        occurrences = events.lazy().select("cidx", "step", "key", *PARTS, *own_columns)
        queries = [self._long(frame.select("cidx", pl.lit("case").alias("key"), *case_level))]
        for subject, columns in by_subject.items():
            rows = _occurrences_of(subject, occurrences, own).join(frame, on="cidx", how="inner")
            queries.append(self._long(rows.select("cidx", "key", *columns)))
        for number, check, applies in orders:
            queries.extend(self._filtered(q) for q in _order_queries(number, check, applies, frame, occurrences))
        return pl.concat(pl.collect_all(queries))

    def _long(self, wide: pl.LazyFrame) -> pl.LazyFrame:
        return self._filtered(
            wide.unpivot(index=["cidx", "key"], variable_name="rule", value_name="code")
            .drop_nulls("code")
            .with_columns(pl.col("rule").cast(pl.Int32))
        )

    def _filtered(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        frame = frame.select(*[pl.col(c).cast(t) for c, t in FINDING_SCHEMA.items()])
        if len(self.keep) < 4:
            frame = frame.filter(pl.col("code").is_in([*self.keep, PUNT]))
        return frame


def case_frame(
    events: pl.DataFrame, cases: pl.DataFrame, steps: list[str], facts: pl.DataFrame, needs: set[Column]
) -> pl.DataFrame:
    """One row per case (`cases` gives `cidx` and `grp`): every step's count and date aggregates,
    and the facts and first/last occurrences' data the compiled expressions read.

    A date aggregate is unknown (null) when an occurrence lacks that part, as Earliest/Latest are.
    Every column the compiled rules may name exists (counts 0, dates null when the step is absent).
    """
    wanted = events.filter(pl.col("step").is_in(steps))
    aggregates = []
    for part in PARTS:
        complete = pl.col(part).null_count() == 0
        aggregates.append(pl.when(complete).then(pl.col(part).min()).alias(f"{part}|min"))
        aggregates.append(pl.when(complete).then(pl.col(part).max()).alias(f"{part}|max"))
    grouped = wanted.group_by("cidx", "step").agg(pl.len().cast(pl.UInt32).alias("n"), *aggregates)
    frame = cases
    if grouped.height:
        frame = frame.join(grouped.pivot(on="step", index="cidx", separator="@"), on="cidx", how="left")
    frame = frame.join(_data_of_occurrences(events, needs), on="cidx", how="left") if _picks(needs) else frame
    fact_columns = [c.label for c in needs if c.source == "facts" and c.label in facts.columns]
    if fact_columns:
        frame = frame.join(facts.select("cidx", *fact_columns), on="cidx", how="left")
    absent = [c.label for c in needs if c.source != "own" and c.label not in frame.columns]
    missing = [pl.lit(None, pl.Utf8).alias(label) for label in absent]
    for step in steps:
        if count_column(step) not in frame.columns:
            missing.append(pl.lit(0, pl.UInt32).alias(count_column(step)))
        for part in PARTS:
            for last in (False, True):
                if aggregate_column(step, part, last) not in frame.columns:
                    missing.append(pl.lit(None, pl.Date).alias(aggregate_column(step, part, last)))
    frame = frame.with_columns(missing) if missing else frame
    return frame.with_columns(pl.col(count_column(s)).fill_null(0) for s in steps)


def _picks(needs: set[Column]) -> list[Column]:
    return sorted((c for c in needs if c.source in ("first", "last")), key=lambda c: c.label)


def _data_of_occurrences(events: pl.DataFrame, needs: set[Column]) -> pl.DataFrame:
    """first('s').data.x / last('s').data.x per case: occurrences in date order, ties in event order."""
    anchor = pl.coalesce("date", "start")
    ordered = events.sort([pl.col("cidx"), anchor.is_null(), anchor, pl.col("seq")])
    picked = []
    for column in _picks(needs):
        source = f"data.{column.name}"
        value = pl.col(source) if source in events.columns else pl.lit(None, pl.Utf8)
        of_step = value.filter(pl.col("step") == column.step)
        picked.append((of_step.first() if column.source == "first" else of_step.last()).alias(column.label))
    return ordered.group_by("cidx").agg(picked)


def _coded(number: int, when: pl.Expr, code: pl.Expr) -> pl.Expr:
    return pl.when(when).then(code).otherwise(None).cast(pl.Int8).alias(str(number))


def _occurrences_of(step: str, occurrences: pl.LazyFrame, own: list[str] = ()) -> pl.LazyFrame:
    return occurrences.filter(pl.col("step") == step).select(
        "cidx", "key", *[pl.col(p).alias(own_column(p)) for p in PARTS], *own
    )


def _fewer_than_two(check: OrderCheck) -> pl.Expr:
    present = [(pl.col(count_column(r.step)) > 0).cast(pl.Int32) for r in check.refs]
    return pl.sum_horizontal(present) < 2


def _order_queries(
    number: int, check: OrderCheck, applies: pl.Expr, cases: pl.LazyFrame, occurrences: pl.LazyFrame
) -> list[pl.LazyFrame]:
    """Each occurrence of a present step against the earliest (or latest) of the nearest present step before it.

    `ground._ground_order` pairs adjacent *present* steps; which step is adjacent differs from
    case to case, so the earlier date is a chain of whens over the steps before, nearest first.
    """
    queries = []
    refs = check.refs
    for i in range(1, len(refs)):
        later = refs[i]
        earlier_date: pl.Expr | None = None
        earlier_step: pl.Expr | None = None
        for earlier in reversed(refs[:i]):
            present = pl.col(count_column(earlier.step)) > 0
            date = pl.col(aggregate_column(earlier.step, earlier.part, earlier.last))
            if earlier_date is None:
                earlier_date = pl.when(present).then(date)
                earlier_step = pl.when(present).then(pl.lit(earlier.step))
            else:
                earlier_date = earlier_date.when(present).then(date)
                earlier_step = earlier_step.when(present).then(pl.lit(earlier.step))
        assert earlier_date is not None and earlier_step is not None
        has_earlier = pl.any_horizontal([pl.col(count_column(r.step)) > 0 for r in refs[:i]])
        value = pl.col(own_column(later.part)) >= earlier_date.otherwise(None)
        rows = _occurrences_of(later.step, occurrences).join(cases, on="cidx", how="inner")
        queries.append(
            rows.filter(applies & has_earlier).select(
                "cidx",
                (earlier_step.otherwise(None) + "#1<=" + pl.col("key")).alias("key"),
                pl.lit(number, pl.Int32).alias("rule"),
                status(Node(value, FALSE)).alias("code"),
            )
        )
    return queries
