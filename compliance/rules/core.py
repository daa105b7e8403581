"""The core constraint form every rule template compiles to, and every engine consumes.

A `CoreRule` is judged once per case, or once per occurrence of its `subject` step. Its
check is a tree of atoms:

- `DateAtom`: `subject OP term`, where a term is an event date, a fixed date, or a
  calendar shift of one (CASES.md §3) — the only place dates are compared;
- `ValueAtom` / `ExistsAtom` / `ContainsAtom`: predicates on facts, step data and which
  steps occur — all fixed once the case's events are listed, so they never depend on
  dates (which is what lets the planner treat them as constants);
- `AllOf` / `AnyOf` / `IfThen` combinators and `OrderCheck` chains.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from compliance.rules.expr import Expression

Part = Literal["date", "start", "end", "data"]
Unit = Literal["days", "working_days", "calendar_days"]
Op = Literal["<", "<=", "==", ">=", ">"]
Missing = Literal["violated", "unknown", "not_applicable", "satisfied"]


@dataclass(frozen=True)
class Ref:
    """A date of an event: `hearing`, `pre_announcement.end`, `committee_meeting.data.notice_date`."""

    step: str
    part: Part = "date"
    data_field: str | None = None
    last: bool = False  # which occurrence when the step repeats: first (earliest) or last
    where: Expression | None = None  # only the occurrences whose data satisfy this count

    def text(self) -> str:
        base = self.step + (f".data.{self.data_field}" if self.part == "data" else "")
        if self.part in ("start", "end"):
            base += f".{self.part}"
        base += f"[{self.where.source}]" if self.where is not None else ""
        return base + ("@last" if self.last else "")


@dataclass(frozen=True)
class Shift:
    ref: Ref
    n: int
    unit: Unit
    sign: Literal[1, -1] = 1


@dataclass(frozen=True)
class Fixed:
    date: dt.date


@dataclass(frozen=True)
class Yearly:
    """A date in a year read from step data: the supply plan for year Y by 31 March of Y."""

    year_ref: Ref  # part "data"
    offset: int
    month: int
    day: int


Term = Ref | Shift | Fixed | Yearly


@dataclass(frozen=True)
class DateAtom:
    subject: Ref
    op: Op
    term: Term
    missing_subject: Missing = "not_applicable"
    missing_term: Missing = "unknown"


@dataclass(frozen=True)
class ValueAtom:
    expr: Expression
    missing: Missing = "unknown"


@dataclass(frozen=True)
class ExistsAtom:
    step: str
    where: Expression | None = None


@dataclass(frozen=True)
class ContainsAtom:
    field: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class ConstAtom:
    value: bool
    reason: str = ""


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Check, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Check, ...]


@dataclass(frozen=True)
class NotOf:
    part: Check


@dataclass(frozen=True)
class IfThen:
    cond: Check
    then: Check
    otherwise: Check | None = None


@dataclass(frozen=True)
class OrderCheck:
    """Steps present must occur in this order; each adjacent present pair is a finding."""

    refs: tuple[Ref, ...]


Check = DateAtom | ValueAtom | ExistsAtom | ContainsAtom | ConstAtom | AllOf | AnyOf | NotOf | IfThen | OrderCheck


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def pick(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Citation:
    seed: str
    clause: str
    quote: str
    document: str = ""


@dataclass(frozen=True)
class CoreRule:
    id: str
    pack: str
    title: Text
    severity: Literal["error", "warning"]
    citation: Citation
    check: Check
    subject: str | None = None  # judged per occurrence of this step
    missing_subject: Missing = "not_applicable"
    when: Check | None = None
    when_unknown: Missing = "not_applicable"
    procedures: tuple[str, ...] = ()
    message: Text | None = None
    source: str = ""  # file:line of the rule, for errors
    steps: frozenset[str] = field(default_factory=frozenset)  # every step the rule reads


def walk(check: Check | None):
    """Every node of a check tree, depth first."""
    if check is None:
        return
    yield check
    if isinstance(check, AllOf | AnyOf):
        for part in check.parts:
            yield from walk(part)
    elif isinstance(check, NotOf):
        yield from walk(check.part)
    elif isinstance(check, IfThen):
        yield from walk(check.cond)
        yield from walk(check.then)
        yield from walk(check.otherwise)


def expressions_of(check: Check | None) -> list[Expression]:
    """The expressions a check reads: its `value:` atoms and the `where:` of its `exists:`."""
    found = []
    for node in walk(check):
        if isinstance(node, ValueAtom):
            found.append(node.expr)
        elif isinstance(node, ExistsAtom) and node.where is not None:
            found.append(node.where)
        elif isinstance(node, DateAtom):
            found.extend(r.where for r in (node.subject, *term_refs(node.term)) if r.where is not None)
        elif isinstance(node, OrderCheck):
            found.extend(r.where for r in node.refs if r.where is not None)
    return found


def term_refs(term: Term) -> list[Ref]:
    if isinstance(term, Ref):
        return [term]
    if isinstance(term, Shift):
        return [term.ref]
    if isinstance(term, Yearly):
        return [term.year_ref]
    return []


def referenced_steps(check: Check | None) -> set[str]:
    steps: set[str] = set()
    for node in walk(check):
        if isinstance(node, DateAtom):
            steps.add(node.subject.step)
            steps.update(r.step for r in term_refs(node.term))
        elif isinstance(node, ExistsAtom):
            steps.add(node.step)
        elif isinstance(node, ValueAtom):
            steps.update(node.expr.steps())
        elif isinstance(node, OrderCheck):
            steps.update(r.step for r in node.refs)
    return steps
