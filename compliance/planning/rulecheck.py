"""Rule-pack analysis with z3 (`compliance rules check`), in the spirit of Cedar's policy analysis.

For each pack and procedure the question is put to z3 over a *symbolic case*: every step
the pack's rules mention may occur or not (at most once: one occurrence stands for all),
its dates are unknowns, and the facts and step data the rules read are chosen freely.

The rules are not re-interpreted here. For each rule, every combination of "which of its
steps occur" and "what its data conditions come to" is turned into a small concrete case
and grounded by the audit engine (`ground.ground_rule`); the ground formulas go through the
planner's translator (`engine.solver`). The rule's meaning in the symbolic case is the
case split over those combinations. Order chains are split into their pairs first (with
one occurrence per step, "adjacent present steps in order" and "every present pair in
order" are the same thing, ≤ being transitive), which keeps 28-step chains tractable.

What is checked:
- the pack admits a compliant case (no rule violated or undecided) with some event in it;
- every rule can apply in some compliant case; one that cannot is either a prohibition
  (an `absent` rule: applying means breaking it) or *contradictory*: reported with a
  minimal set of rules it cannot hold together with;
- a rule that every compliant case of the other rules already satisfies is *redundant*,
  reported with a minimal set of rules that imply it.

Data conditions are free choices: two conditions that contradict each other through their
arithmetic are not detected (they become independent booleans; the same condition on the
same step is one boolean). Counts are 0 or 1.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import z3

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.daytables import EPOCH, DayTables
from compliance.engine.ground import EventDate, GroundFinding, ground_rule
from compliance.engine.lexmin import Objective, lexmin
from compliance.engine.solver import Bounded, EncodingError, FormulaEncoder, is_sat, make_solver
from compliance.model import Case, Occurrence
from compliance.rules.core import (
    AllOf,
    AnyOf,
    Check,
    ConstAtom,
    ContainsAtom,
    CoreRule,
    DateAtom,
    ExistsAtom,
    IfThen,
    NotOf,
    OrderCheck,
    ValueAtom,
    Yearly,
    referenced_steps,
    term_refs,
    walk,
)
from compliance.rules.expr import Expression
from compliance.rules.packs import Pack, RuleBook

HORIZON_DAYS = 730
MAX_COMBINATIONS = 4096
SENTINEL_BASE = dt.date(1, 1, 1)  # data dates are stood in for by days of year 1: no rule names those
SENTINEL_YEAR = 100


# --- data conditions become free choices -------------------------------------------------------


def reads_data(expr: Expression) -> bool:
    """Whether an expression reads facts or step data (as opposed to which steps occur)."""
    for node in ast.walk(expr.tree):
        if isinstance(node, ast.Name) and node.id in ("facts", "data", "event"):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("first", "last", "sum"):
            return True
    return False


@dataclass
class _Choices:
    """The data conditions of one rule: each a named boolean the analysis may set either way."""

    names: list[str] = field(default_factory=list)

    def slot(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)


@dataclass(frozen=True)
class _Choice(ConstAtom):
    """A data condition left to the analysis: index into the rule's choices."""

    index: int = 0


def _abstract(check: Check | None, subject: str | None, choices: _Choices) -> Check | None:
    if check is None:
        return None
    if isinstance(check, ValueAtom):
        if not reads_data(check.expr):
            return check
        return _Choice(True, check.expr.source, choices.slot(f"{check.expr.source}@{subject}"))
    if isinstance(check, ExistsAtom):
        if check.where is None:
            return check
        index = choices.slot(f"{check.step}: {check.where.source}")
        return AllOf((ExistsAtom(check.step), _Choice(True, check.where.source, index)))
    if isinstance(check, ContainsAtom):
        if subject is None:
            return check  # not applicable without a judged step, as in grounding
        return _Choice(True, f"contains {check.field}", choices.slot(f"contains {check.field} {check.items}@{subject}"))
    if isinstance(check, AllOf | AnyOf):
        parts = tuple(_abstract(p, subject, choices) for p in check.parts)
        return type(check)(parts)  # type: ignore[arg-type]
    if isinstance(check, NotOf):
        return NotOf(_abstract(check.part, subject, choices))  # type: ignore[arg-type]
    if isinstance(check, IfThen):
        return IfThen(
            _abstract(check.cond, subject, choices),  # type: ignore[arg-type]
            _abstract(check.then, subject, choices),  # type: ignore[arg-type]
            _abstract(check.otherwise, subject, choices),
        )
    return check


def _assign(check: Check | None, values: tuple[bool, ...]) -> Check | None:
    """The check with each free choice set to the given value."""
    if check is None:
        return None
    if isinstance(check, _Choice):
        return ConstAtom(values[check.index], check.reason)
    if isinstance(check, AllOf | AnyOf):
        return type(check)(tuple(_assign(p, values) for p in check.parts))  # type: ignore[arg-type]
    if isinstance(check, NotOf):
        return NotOf(_assign(check.part, values))  # type: ignore[arg-type]
    if isinstance(check, IfThen):
        return IfThen(_assign(check.cond, values), _assign(check.then, values), _assign(check.otherwise, values))  # type: ignore[arg-type]
    return check


def _data_fields(rule: CoreRule) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(step, field) of the dates a rule reads from step data, and of the years `yearly` terms read."""
    dates, years = set(), set()
    for node in list(walk(rule.check)) + list(walk(rule.when)):
        if not isinstance(node, DateAtom):
            continue
        refs = [node.subject, *term_refs(node.term)]
        if isinstance(node.term, Yearly):
            years.add((node.term.year_ref.step, node.term.year_ref.data_field or ""))
            refs.remove(node.term.year_ref)
        dates.update((r.step, r.data_field or "") for r in refs if r.part == "data")
    return dates, years


# --- the symbolic case ---------------------------------------------------------------------------


@dataclass
class RuleModel:
    """One rule id in the symbolic case."""

    id: str
    rules: list[CoreRule]
    holds: z3.BoolRef  # no finding violated or undecided
    applies: z3.BoolRef  # some finding applies and is satisfied
    prohibition: bool
    literal: z3.BoolRef = field(init=False)

    def __post_init__(self) -> None:
        self.literal = z3.Bool(f"rule!{self.id}")


class SymbolicCase:
    def __init__(self, pack: Pack, procedure: str, book: RuleBook, calendar: Calendar) -> None:
        self.pack, self.procedure, self.book = pack, procedure, book
        self.rules = pack.core_rules(procedure)
        start = EPOCH.of(pack.spec.in_force_from)
        self.domain = (start, start + HORIZON_DAYS)
        self.tables = DayTables(calendar)
        self.steps = sorted({s for r in self.rules for s in r.steps})
        self.present = {s: z3.Bool(f"present!{s}") for s in self.steps}
        self.dates: dict[tuple[str, str], z3.ArithRef] = {}
        self.data_dates: dict[dt.date, z3.ArithRef] = {}
        self.stand_ins: dict[tuple[str, str, str], int] = {}
        self.hard: list[z3.BoolRef] = []
        for step in self.steps:
            parts = ("start", "end") if book.vocabulary.get(step).is_period else ("date",)
            for part in parts:
                self.dates[(step, part)] = self._day(f"{step}.{part}")
            if len(parts) == 2:
                self.hard.append(self.dates[(step, "end")] >= self.dates[(step, "start")])
        self.encoder = FormulaEncoder(self.tables, self._lookup, self._constant)
        by_id: dict[str, list[CoreRule]] = {}
        for rule in self.rules:
            by_id.setdefault(rule.id, []).append(rule)
        self.models = [self._model(rule_id, rules) for rule_id, rules in by_id.items()]

    def _day(self, name: str) -> z3.ArithRef:
        var = z3.Int(name)
        self.hard.append(z3.And(var >= self.domain[0], var <= self.domain[1]))
        return var

    def _lookup(self, expr: EventDate) -> Bounded:
        step = expr.key.split("#")[0]
        var = self.dates.get((step, expr.part))
        if var is None:
            raise EncodingError(f"the symbolic case has no date {expr.key}.{expr.part}")
        return Bounded(var, *self.domain)

    def _constant(self, day: dt.date) -> Bounded:
        if day.year < 1000:  # a stand-in for a date held in step data: the analysis chooses it
            if day not in self.data_dates:
                self.data_dates[day] = self._day(f"data!{day.toordinal()}")
            return Bounded(self.data_dates[day], *self.domain)
        index = EPOCH.of(day)
        return Bounded(z3.IntVal(index), index, index)

    # --- one rule ------------------------------------------------------------------------------
    def _model(self, rule_id: str, rules: list[CoreRule]) -> RuleModel:
        holds, applies = [], []
        for rule in rules:
            for part in _order_pairs(rule):
                h, a = self._encode(part)
                holds.append(h)
                applies.append(a)
        prohibition = any(isinstance(n, ConstAtom) and not n.value for r in rules for n in walk(r.check))
        return RuleModel(rule_id, rules, z3.And(holds), z3.Or(applies), prohibition)

    def _encode(self, rule: CoreRule) -> tuple[z3.BoolRef, z3.BoolRef]:
        choices = _Choices()
        abstract = dataclasses.replace(
            rule, check=_abstract(rule.check, rule.subject, choices), when=_abstract(rule.when, None, choices)
        )
        subject = {rule.subject} if rule.subject else set()
        steps = sorted(referenced_steps(abstract.check) | referenced_steps(abstract.when) | subject)
        combinations = 2 ** (len(steps) + len(choices.names))
        if combinations > MAX_COMBINATIONS:
            raise EncodingError(f"{rule.id}: reads {len(steps)} steps and {len(choices.names)} data conditions, "
                                "too many for the analysis")  # fmt: skip
        choice_vars = [z3.Bool(f"choice!{rule.id}!{name}") for name in choices.names]
        fields = _data_fields(rule)
        holds, applies = [], []
        for pattern in itertools.product((False, True), repeat=len(steps)):
            present = [s for s, on in zip(steps, pattern, strict=True) if on]
            where = [self.present[s] if on else z3.Not(self.present[s]) for s, on in zip(steps, pattern, strict=True)]
            for values in itertools.product((False, True), repeat=len(choices.names)):
                concrete = dataclasses.replace(
                    abstract, check=_assign(abstract.check, values), when=_assign(abstract.when, values)
                )
                findings = ground_rule(concrete, self._case(present, *fields))
                condition = z3.And(where + [v if on else z3.Not(v) for v, on in zip(choice_vars, values, strict=True)])
                ok = z3.And([self._compliant(f) for f in findings])
                holds.append(z3.Implies(condition, ok))
                applies.append(z3.And(condition, ok, z3.Or([self._applies(f) for f in findings])))
        return z3.And(holds), z3.Or(applies)

    def _case(self, present: Iterable[str], dates: set[tuple[str, str]], years: set[tuple[str, str]]) -> Case:
        """A concrete case: one occurrence of each present step, data dates as stand-ins."""
        events = []
        for position, step in enumerate(present):
            data: dict[str, Any] = {}
            for data_step, name in dates:
                if data_step == step:
                    data[name] = SENTINEL_BASE + dt.timedelta(days=self._stand_in(("date", step, name)))
            for data_step, name in years:
                if data_step == step:
                    # A `yearly` date built on this year lands before year 1000: a stand-in too.
                    data[name] = SENTINEL_YEAR + self._stand_in(("year", step, name))
            events.append(Occurrence(key=f"{step}#1", step=step, position=position, planned=True, data=data))
        return Case("rules-check", self.procedure, self.pack.spec.jurisdictions[0], None, {}, tuple(events))

    def _stand_in(self, key: tuple[str, str, str]) -> int:
        """One stand-in per data field across the whole pack, so that rules reading it agree."""
        return self.stand_ins.setdefault(key, len(self.stand_ins))

    def _compliant(self, finding: GroundFinding) -> z3.BoolRef:
        """Neither violated nor undecided: the guard is false, or the formula definitely holds."""
        if finding.formula is None:
            return z3.BoolVal(True)
        value = self.encoder.formula(finding.formula)
        if finding.guard is None:
            return value.true
        return z3.Or(self.encoder.formula(finding.guard).false, value.true)

    def _applies(self, finding: GroundFinding) -> z3.BoolRef:
        if finding.formula is None:
            return z3.BoolVal(False)
        if finding.guard is None:
            return z3.BoolVal(True)
        return z3.Not(self.encoder.formula(finding.guard).false)


def _order_pairs(rule: CoreRule) -> list[CoreRule]:
    if not isinstance(rule.check, OrderCheck):
        return [rule]
    refs = rule.check.refs
    return [
        dataclasses.replace(rule, check=OrderCheck((a, b)), steps=frozenset({a.step, b.step}))
        for a, b in itertools.combinations(refs, 2)
    ]


# --- the analyses ------------------------------------------------------------------------------


@dataclass
class RuleFinding:
    rule: str
    kind: str  # contradictory | self-contradictory | prohibition | redundant
    others: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "with": self.others}


@dataclass
class PackReport:
    pack: str
    procedure: str
    rules: int
    consistent: bool
    exercised: int = 0  # rules that apply in the witness case
    witness: list[str] = field(default_factory=list)  # the steps of the witness case
    findings: list[RuleFinding] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        bad = {"contradictory", "self-contradictory"}
        return self.error is None and self.consistent and not any(f.kind in bad for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "procedure": self.procedure,
            "rules": self.rules,
            "consistent": self.consistent,
            "passed": self.passed,
            "exercised": self.exercised,
            "witness_steps": self.witness,
            "findings": [f.to_json() for f in self.findings],
            "error": self.error,
        }


def _minimal(solver: z3.Solver, literals: list[z3.BoolRef], fixed: list[z3.BoolRef]) -> list[z3.BoolRef]:
    """A minimal subset of `literals` that with `fixed` is unsat (deletion-based)."""
    if is_sat(solver, *literals, *fixed):
        return []
    core_ids = {c.get_id() for c in solver.unsat_core()}
    core = [lit for lit in literals if lit.get_id() in core_ids]
    index = 0
    while index < len(core):
        trial = core[:index] + core[index + 1:]
        if not is_sat(solver, *trial, *fixed):
            core = trial
        else:
            index += 1
    return core


def check_pack(pack: Pack, procedure: str, book: RuleBook, calendar: Calendar = DEFAULT_CALENDAR) -> PackReport:
    try:
        symbolic = SymbolicCase(pack, procedure, book, calendar)
    except EncodingError as exc:
        return PackReport(pack.label, procedure, 0, False, error=str(exc))
    models = symbolic.models
    report = PackReport(pack.label, procedure, len(models), False)
    solver = make_solver()
    solver.add(*symbolic.hard)
    for model in models:
        solver.add(z3.Implies(model.literal, model.holds))
    literals = [m.literal for m in models]
    # Proof obligation 1: a compliant case with at least one event (of a step not simply
    # prohibited), exercising as many rules as possible.
    prohibited = {r.subject for m in models if m.prohibition for r in m.rules}
    allowed = [v for s, v in symbolic.present.items() if s not in prohibited]
    some_event = z3.Or(allowed) if allowed else z3.BoolVal(True)
    solver.push()
    solver.add(*literals, some_event)
    if is_sat(solver):
        report.consistent = True
        exercised = z3.Sum([z3.If(m.applies, 1, 0) for m in models]) if models else z3.IntVal(0)
        witness = lexmin(solver, [[Objective(-exercised, -len(models))]])
        report.exercised = witness.eval(exercised, model_completion=True).as_long()  # type: ignore[union-attr]
        report.witness = [s for s, v in symbolic.present.items() if z3.is_true(witness.eval(v, model_completion=True))]
    solver.pop()
    # Obligation 2: every rule can apply in a compliant case; obligation 3: no rule is implied.
    names = {m.literal.get_id(): m.id for m in models}
    for model in models:
        others = [m.literal for m in models if m is not model]
        if not is_sat(solver, *literals, model.applies):
            report.findings.append(_dead(solver, model, others, names))
            continue
        core = _minimal(solver, others, [z3.Not(model.holds)])
        if core or not is_sat(solver, z3.Not(model.holds)):
            report.findings.append(RuleFinding(model.id, "redundant", sorted(names[c.get_id()] for c in core)))
    return report


def _dead(solver: z3.Solver, model: RuleModel, others: list[z3.BoolRef], names: dict[int, str]) -> RuleFinding:
    if not is_sat(solver, model.literal, model.applies):
        return RuleFinding(model.id, "prohibition" if model.prohibition else "self-contradictory")
    core = _minimal(solver, others, [model.literal, model.applies])
    return RuleFinding(model.id, "contradictory", sorted(names[c.get_id()] for c in core))


def check_rulebook(
    book: RuleBook, pack_id: str | None = None, calendar: Calendar = DEFAULT_CALENDAR
) -> list[PackReport]:
    reports = []
    for pack in book.packs:
        if pack_id is not None and pack.id != pack_id:
            continue
        for procedure in pack.spec.procedures:
            reports.append(check_pack(pack, procedure, book, calendar))
    return reports
