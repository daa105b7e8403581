"""Which step-data and fact columns of an input can change a result: the rest need not be read.

A wide export carries every field a system keeps; parsing a text column costs about as much
whether or not anything reads it. What can change a case's result is what a rule reads (any
rule of the book: which packs apply is known only per case) and what the model validates
(vote counts, and every `*_date` field: an invalid one makes the case an error, as `audit`
says). Reports show neither facts nor step data.
"""

from __future__ import annotations

from collections.abc import Iterable

from compliance.engine.columnar_shapes import rule_info
from compliance.importers.columns import ColumnPlan
from compliance.model import VOTE_COUNTS
from compliance.rules.core import CoreRule
from compliance.rules.packs import RuleBook

_READ: dict[int, tuple[RuleBook, frozenset[str] | None, frozenset[str] | None]] = {}


def fields_read(rules: Iterable[CoreRule]) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """(facts, step-data fields) the rules read; None where some rule may read any."""
    facts: set[str] | None = set()
    data: set[str] | None = set()
    for rule in rules:
        info = rule_info(rule)
        facts = None if facts is None or info.facts is None else facts | set(info.facts)
        data = None if data is None or info.data_fields is None else data | set(info.data_fields)
    return (None if facts is None else frozenset(facts)), (None if data is None else frozenset(data))


def source_columns(plan: ColumnPlan, book: RuleBook) -> set[str]:
    """The source headers worth reading: all but the facts and step data no rule reads and the model never checks."""
    known = _READ.get(id(book))
    if known is None or known[0] is not book:
        known = _READ[id(book)] = (book, *fields_read(c for p in book.packs for r in p.rules for c in r.core))
    _book, facts, data = known
    return {source for source, target in plan.fields.items() if _matters(target, facts, data)}


def _matters(target: str, facts: frozenset[str] | None, data: frozenset[str] | None) -> bool:
    kind, _, name = target.partition(".")
    if kind == "facts":
        return facts is None or name in facts
    if kind == "data":
        return data is None or name in data or name in VOTE_COUNTS or name.endswith("_date")  # as model._check_data
    return True
