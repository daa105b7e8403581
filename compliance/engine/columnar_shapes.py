"""Shapes: what grounding a rule reads of a case, so that cases of one shape share ground formulas.

Grounding (compliance/engine/ground.py) decides everything but the dates. For one rule
it reads only the steps the rule names (`CoreRule.steps`): how often each occurs, and —
when the rule reads values — their step data, their order by date (first()/last()), and
the facts the rule's expressions name. Two cases that agree on those get the same ground
findings, keyed by event ("hearing#1"), so one grounding of a representative serves all.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from compliance.model import Case, Occurrence
from compliance.rules.core import (
    ContainsAtom,
    CoreRule,
    DateAtom,
    Ref,
    Yearly,
    expressions_of,
    term_refs,
    walk,
)
from compliance.rules.expr import Expression

SYNTHETIC_BASE = dt.date(2000, 1, 3)
Item = tuple[str, int, dict[str, Any], str | None, str | None]  # step, rank by date, data, actor, ref


@dataclass(frozen=True)
class RuleInfo:
    steps: tuple[str, ...]
    reads_values: bool
    facts: tuple[str, ...] | None  # fact names the rule reads; None: possibly any
    data_fields: tuple[str, ...] | None = ()  # step-data fields it reads; None: possibly any
    needs_order: bool = False  # whether it picks an occurrence by date (first()/last(), data references)
    reads_event: bool = False  # whether an expression reads the judged occurrence's own actor / ref


@lru_cache(maxsize=4096)
def rule_info(rule: CoreRule) -> RuleInfo:
    reads = order = event = False
    facts: set[str] | None = set()
    fields: set[str] | None = set()
    for expression in (*expressions_of(rule.check), *expressions_of(rule.when)):
        reads = True
        names = _facts_read(expression)
        facts = None if names is None or facts is None else facts | names
        used = _data_read(expression)
        fields = None if used is None or fields is None else fields | used
        order = order or _picks_by_order(expression)
        event = event or any(isinstance(n, ast.Name) and n.id == "event" for n in ast.walk(expression.tree))
    for node in (*walk(rule.check), *walk(rule.when)):
        if isinstance(node, ContainsAtom):
            reads = True
            fields = None if fields is None else fields | {node.field}
        elif isinstance(node, DateAtom):
            refs: list[Ref] = [node.subject, *term_refs(node.term)]
            for ref in refs:
                if ref.part == "data":
                    reads = order = True
                    fields = None if fields is None else fields | {ref.data_field or ""}
            if isinstance(node.term, Yearly):
                reads = order = True
                fields = None if fields is None else fields | {node.term.year_ref.data_field or ""}
    return RuleInfo(
        tuple(sorted(rule.steps)),
        reads,
        None if facts is None else tuple(sorted(facts)),
        None if fields is None else tuple(sorted(fields)),
        order,
        event,
    )


def _parents(expression: Expression) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(expression.tree) for child in ast.iter_child_nodes(node)}


def _facts_read(expression: Expression) -> set[str] | None:
    """`facts.x` names; None when the expression reads facts another way (facts['x'], facts alone)."""
    names: set[str] = set()
    parents = _parents(expression)
    for node in ast.walk(expression.tree):
        if isinstance(node, ast.Name) and node.id == "facts":
            parent = parents.get(id(node))
            if not isinstance(parent, ast.Attribute):
                return None
            names.add(parent.attr)
    return names


def _data_read(expression: Expression) -> set[str] | None:
    """Step-data fields: `data.x`, `first('s').data.x`, `sum('s', 'x')`; None when read another way."""
    fields: set[str] = set()
    parents = _parents(expression)
    for node in ast.walk(expression.tree):
        data_node = None
        if isinstance(node, ast.Name) and node.id == "data":
            data_node = node
        elif isinstance(node, ast.Attribute) and node.attr == "data":
            data_node = node
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("first", "last"):
            parent = parents.get(id(node))
            if not (isinstance(parent, ast.Attribute) and parent.attr == "data"):
                return None  # the whole occurrence record is used
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sum":
            if len(node.args) != 2 or not isinstance(node.args[1], ast.Constant):
                return None
            fields.add(str(node.args[1].value))
        if data_node is not None:
            parent = parents.get(id(data_node))
            if not isinstance(parent, ast.Attribute):
                return None
            fields.add(parent.attr)
    return fields


def _picks_by_order(expression: Expression) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("first", "last")
        for n in ast.walk(expression.tree)
    )


def projected_case(
    procedure: str,
    counts: dict[str, int],
    kinds: dict[str, str],
    events: list[Item] | None,
    facts: dict[str, Any] | None,
) -> Case:
    """A case holding only what the rule reads; dates are stand-ins that keep each step's date order.

    `events` (step, rank by date, data, actor, ref) is given for rules that read values; otherwise the
    counts alone make the case. The values come from cases the model accepted, so the
    one conversion the model makes to step data (`*_date` text to dates) is all there is to do.
    """
    items: list[Item] = (
        events
        if events is not None
        else [(step, i, {}, None, None) for step, count in counts.items() for i in range(count)]
    )
    numbers: dict[str, int] = {}
    occurrences = []
    for position, (step, rank, data, actor, ref) in enumerate(items):
        numbers[step] = numbers.get(step, 0) + 1
        day = SYNTHETIC_BASE + dt.timedelta(days=rank)
        period = kinds.get(step) == "period"
        occurrences.append(
            Occurrence(
                key=f"{step}#{numbers[step]}",
                step=step,
                position=position,
                date=None if period else day,
                start=day if period else None,
                end=day if period else None,
                data={k: _data_value(k, v) for k, v in data.items()},
                actor=actor,
                ref=ref,
            )
        )
    return Case("shape", procedure, "shape", None, dict(facts or {}), tuple(occurrences), file="<shape>")


def _data_value(key: str, value: Any) -> Any:
    if key.endswith("_date") and value is not None and not isinstance(value, dt.date):
        return dt.date.fromisoformat(str(value))
    return value
