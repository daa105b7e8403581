"""One grounding per rule and shape of case (columnar_shapes), shared by every case of that shape.

Ground findings are kept across chunks; value shapes are often one per case, so the oldest are
dropped beyond a bound to keep memory flat.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import OrderedDict

from compliance.engine.columnar_expr import const_dates, rewrite_aggregates
from compliance.engine.columnar_frames import Batch, parse_value_key
from compliance.engine.columnar_shapes import Item, RuleInfo, projected_case, rule_info
from compliance.engine.ground import GroundFinding, ground_rule
from compliance.model import Case
from compliance.rules.core import CoreRule
from compliance.rules.packs import RuleBook

_GROUNDED: OrderedDict[tuple, Shape] = OrderedDict()
GROUNDED_LIMIT = 20_000
_INFO: dict[int, RuleInfo] = {}


def cached_info(rule: CoreRule) -> RuleInfo:
    """`rule_info`, remembered by the rule's identity (hashing a rule to look it up costs more than that)."""
    info = _INFO.get(id(rule))
    if info is None:
        info = _INFO[id(rule)] = rule_info(rule)
    return info


@dataclasses.dataclass
class Shape:
    """A shape's representative, its ground findings, and what evaluating them column-wise needs."""

    case: Case
    grounds: list[GroundFinding]
    steps: tuple[str, ...] = ()  # the steps the rule reads
    slots_by_key: dict[str, int] | None = None
    _columnwise: tuple[list[tuple], list[str], list[dt.date]] | None = None

    def columnwise(self) -> tuple[list[tuple], list[str], list[dt.date]]:
        """What the shape engine evaluates (made on first use: the compiled plans never need it).

        The slots — each finding's (formula, guard) with aggregates rewritten —, their signatures
        (each slot with its fixed dates blanked) and those fixed dates, in order.
        """
        if self._columnwise is None:
            present = {s: len(self.case.occurrences(s)) for s in self.steps}
            slots = [
                (rewrite_aggregates(g.formula, present), rewrite_aggregates(g.guard, present)) for g in self.grounds
            ]
            signatures = [CONST_DATE.sub("ConstDate(?)", repr(slot)) for slot in slots]
            self._columnwise = (slots, signatures, const_dates(slots))
        return self._columnwise

    def slot(self, key: str) -> int:
        """The number of the ground finding with this key (the compiled plans name findings by key)."""
        if self.slots_by_key is None:
            self.slots_by_key = {g.key: i for i, g in enumerate(self.grounds)}
        if key not in self.slots_by_key:
            raise RuntimeError(f"engines disagree: {self.grounds[0].rule.id} has no finding {key!r} in grounding")
        return self.slots_by_key[key]


CONST_DATE = re.compile(r"ConstDate\(date=datetime\.date\(\d+, \d+, \d+\)\)")


def grounded(
    rule: CoreRule, procedure: str, info: RuleInfo, shape: tuple, cidx: int, batch: Batch, book: RuleBook
) -> Shape:
    key = (id(rule), procedure, shape)
    cached = _GROUNDED.get(key)
    if cached is not None:
        _GROUNDED.move_to_end(key)
        return cached
    kinds = {s: book.vocabulary.steps[s].kind for s in info.steps if s in book.vocabulary.steps}
    counts = {s: int(n) for s, n in zip(info.steps, shape, strict=False) if n}
    events = facts = None
    if info.reads_values:
        all_facts, items = batch.payload(cidx) if batch.payload else parse_value_key(shape[-1])
        events = [item for item in items if item[0] in info.steps]
        facts = all_facts if info.facts is None else {k: v for k, v in all_facts.items() if k in info.facts}
    case = projected_case(procedure, counts, kinds, events, facts)
    found = Shape(case, ground_rule(rule, case), info.steps)
    _GROUNDED[key] = found
    if len(_GROUNDED) > GROUNDED_LIMIT:
        _GROUNDED.popitem(last=False)
    return found


def grounded_from_values(rule: CoreRule, procedure: str, values: tuple[dict, list[Item]], book: RuleBook) -> Shape:
    """The rule grounded on a case holding the case's own values (dates stand-ins, as for any shape)."""
    info = cached_info(rule)
    all_facts, items = values
    kinds = {s: book.vocabulary.steps[s].kind for s in info.steps if s in book.vocabulary.steps}
    events = [item for item in items if item[0] in info.steps]
    counts = {s: sum(1 for item in events if item[0] == s) for s in info.steps}
    facts = all_facts if info.facts is None else {k: v for k, v in all_facts.items() if k in info.facts}
    case = projected_case(procedure, counts, kinds, events, facts)
    return Shape(case, ground_rule(rule, case), info.steps)
