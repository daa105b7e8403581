"""The event-at-a-time engine: durable_rules sessions that receive a case's events one by one.

Division of labour, decided on purpose:

- **durable_rules does the matching.** The rules of the packs in force are compiled to one
  durable_rules ruleset per (packs, procedure): one durable rule per core rule, whose
  condition matches an event fact by the steps that core rule reads. Each recorded event is
  asserted as a fact in the case's durable session (`sid` = the session), and the rules it
  fires are exactly the core rules whose findings it can change.
- **The shared evaluator does the judging.** A fired rule is re-grounded and re-judged with
  `compliance.engine.ground` / `evaluate` — the same code `audit` runs — so the date
  arithmetic, the three-valued logic and the explanations cannot drift from `audit`. After
  the last event a session's findings equal `audit_case` of the whole case (the
  differential tests hold us to that).

This is the only module that imports `durable.lang` (durable-rules does not import on
Python 3.13; pyproject pins the Python range).
"""

from __future__ import annotations

import ast
import itertools
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from durable import engine as durable_engine
from durable import lang as durable_lang

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.ground import GroundFinding, ground_rule
from compliance.findings import STATUS_ORDER, CaseResult, Finding
from compliance.model import Case, Occurrence, case_from_mapping
from compliance.rules.core import CoreRule, expressions_of
from compliance.rules.expr import STEP_FUNCTIONS, Expression
from compliance.rules.packs import NoPackError, Pack, RuleBook

# --- durable_rules host ---------------------------------------------------------------------


class _CallerThreadHost(durable_engine.Host):
    """A durable_rules host that runs actions only inside assert calls, on the caller's thread.

    The stock host starts timer threads that pick up queued actions in the background; then
    an action fired by one session's event could run after `assert_fact` has returned, and
    the session would miss a rule it touched. We use no timers, so we switch that off.
    """

    def _run(self) -> None:
        return None


# The C engine is not documented as thread-safe; every call into it holds this lock. Calls
# are tens of microseconds, the expensive judging happens outside it.
_ENGINE_LOCK = threading.RLock()
_HOST: _CallerThreadHost | None = None
_fired: list[int] = []  # rules fired by the assert in progress (guarded by _ENGINE_LOCK)
_ruleset_numbers = itertools.count(1)


def _host() -> _CallerThreadHost:
    global _HOST
    if _HOST is None:
        _HOST = _CallerThreadHost()
    return _HOST


# --- compiling packs to a ruleset -------------------------------------------------------------


def rule_dependencies(rule: CoreRule) -> frozenset[str] | None:
    """Every step whose occurrences can change this rule's findings; None when it cannot be known
    (an expression naming its step dynamically), in which case every event touches the rule."""
    steps = set(rule.steps)
    for expression in (*expressions_of(rule.check), *expressions_of(rule.when)):
        if _names_steps_dynamically(expression):
            return None
        steps |= expression.steps()
    return frozenset(steps)


def _names_steps_dynamically(expression: Expression) -> bool:
    for node in ast.walk(expression.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in STEP_FUNCTIONS:
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                return True
    return False


@dataclass
class CompiledRuleset:
    """The core rules of some packs for one procedure, as a registered durable_rules ruleset."""

    name: str
    packs: tuple[Pack, ...]
    procedure: str
    rules: tuple[CoreRule, ...]
    dependencies: tuple[frozenset[str] | None, ...]

    def assert_event(self, sid: str, occurrence: Occurrence) -> set[int]:
        """Record the event as a fact of session `sid`; the indexes of the core rules it fires."""
        return self._assert([_fact(sid, occurrence)])

    def assert_events(self, sid: str, occurrences: Iterable[Occurrence]) -> set[int]:
        facts = [_fact(sid, o) for o in occurrences]
        return self._assert(facts) if facts else set()

    def retract_event(self, sid: str, occurrence: Occurrence) -> None:
        with _ENGINE_LOCK:
            try:
                _host().retract_fact(self.name, _fact(sid, occurrence))
            except durable_engine.MessageNotHandledException:
                pass  # no rule read that step: the fact was never kept

    def facts(self, sid: str) -> list[dict[str, Any]]:
        with _ENGINE_LOCK:
            return list(_host().get_facts(self.name, sid))

    def drop_session(self, sid: str) -> None:
        with _ENGINE_LOCK:
            try:
                _host().delete_state(self.name, sid)
            except Exception:
                pass

    def _assert(self, facts: list[dict[str, Any]]) -> set[int]:
        with _ENGINE_LOCK:
            _fired.clear()
            try:
                if len(facts) == 1:
                    _host().assert_fact(self.name, facts[0])
                else:
                    _host().assert_facts(self.name, facts)
            except durable_engine.MessageNotHandledException:
                pass  # an event no rule reads: nothing to re-judge
            fired = set(_fired)
            _fired.clear()
        return fired


def _fact(sid: str, occurrence: Occurrence) -> dict[str, Any]:
    return {"sid": sid, "key": occurrence.key, "step": occurrence.step}


_compiled: dict[tuple[tuple[int, ...], str], CompiledRuleset] = {}


def compile_ruleset(packs: list[Pack], procedure: str) -> CompiledRuleset:
    """The durable ruleset of these packs for this procedure (compiled once per process)."""
    key = (tuple(id(p) for p in packs), procedure)
    with _ENGINE_LOCK:
        cached = _compiled.get(key)
        if cached is not None:
            return cached
        rules = tuple(rule for pack in packs for rule in pack.core_rules(procedure))
        dependencies = tuple(rule_dependencies(rule) for rule in rules)
        name = f"compliance_{next(_ruleset_numbers)}"
        definition = _define(name, dependencies)
        _host().register_rulesets({name: definition})
        compiled = CompiledRuleset(name, tuple(packs), procedure, rules, dependencies)
        _compiled[key] = compiled  # keeps the packs alive, so their ids stay unique
        return compiled


def _define(name: str, dependencies: tuple[frozenset[str] | None, ...]) -> dict[str, Any]:
    m = durable_lang.m
    ruleset = durable_lang.ruleset(name)
    with ruleset:
        for index, steps in enumerate(dependencies):
            if steps is None:
                condition = +m.step  # any event
            elif not steps:
                continue  # reads no step: judged once, when the packs are chosen
            else:
                ordered = sorted(steps)
                condition = m.step == ordered[0]
                for step in ordered[1:]:
                    condition = condition | (m.step == step)
            durable_lang.when_all(condition)(_action(index))
    _, definition = ruleset.define()
    # durable.lang keeps top-level rulesets for its own global host; ours are registered
    # on our host above, so take it back out of that table.
    durable_lang._rulesets.pop(name, None)
    return definition


def _action(index: int):
    def fired(c: Any) -> None:  # durable passes one argument to a synchronous action
        _fired.append(index)

    return fired


# --- a case's session ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseHeader:
    """What a case is before any event: the fields of a case file other than `events`."""

    id: str
    procedure: str
    jurisdiction: str
    title: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None

    @classmethod
    def of(cls, case: Case) -> CaseHeader:
        return cls(case.id, case.procedure, case.jurisdiction, case.title, dict(case.facts), case.file)

    def mapping(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "case": self.id,
            "procedure": self.procedure,
            "jurisdiction": self.jurisdiction,
            "facts": dict(self.facts),
            "events": events,
        }
        if self.title is not None:
            data["title"] = self.title
        return data


@dataclass
class _RuleState:
    ground: list[GroundFinding]
    findings: list[Finding]


@dataclass
class Update:
    """One event's effect on a session, before it is committed."""

    event: Occurrence
    case_before: Case
    case_after: Case
    touched: list[int]  # core rules re-judged
    before: dict[int, _RuleState]
    after: dict[int, _RuleState]
    compiled: CompiledRuleset | None
    error: NoPackError | None
    rebuilt: bool  # the packs in force changed: every rule was re-judged
    sid: str
    committed: bool = False
    discarded: bool = False

    @property
    def rules(self) -> tuple[CoreRule, ...]:
        return self.compiled.rules if self.compiled else ()


class CaseSession:
    """One case fed one event at a time; `result()` is always what `audit` says of the events so far.

    `preview(event)` computes the effect of an event without keeping it; `commit(update)`
    keeps it; `add(event)` does both. Not thread-safe: callers serialise access per case.
    """

    def __init__(
        self,
        header: CaseHeader,
        book: RuleBook,
        calendar: Calendar = DEFAULT_CALENDAR,
        lang: str = "zh",
    ) -> None:
        self.header = header
        self.book = book
        self.calendar = calendar
        self.lang = lang
        self.sid = uuid.uuid4().hex
        self._events: list[Occurrence] = []
        self._compiled: CompiledRuleset | None = None
        self._error: NoPackError | None = None
        self._rules: dict[int, _RuleState] = {}
        self._names = {s.id: (s.zh if lang == "zh" else s.id) for s in book.vocabulary.steps.values()}
        self._select(self.case())

    # --- reading -------------------------------------------------------------------------
    @property
    def events(self) -> tuple[Occurrence, ...]:
        return tuple(self._events)

    @property
    def compiled(self) -> CompiledRuleset | None:
        return self._compiled

    @property
    def step_names(self) -> dict[str, str]:
        return self._names

    def case(self, events: Iterable[Occurrence] | None = None) -> Case:
        h = self.header
        items = tuple(self._events if events is None else events)
        return Case(h.id, h.procedure, h.jurisdiction, h.title, dict(h.facts), items, None, h.file)

    def rule_state(self, index: int) -> _RuleState:
        """A rule's findings on the events so far, judged when first asked for.

        Judging lazily is exact: a rule's findings depend only on the events of the steps it
        reads, so a state judged on an earlier case stays right until an event fires the rule.
        """
        state = self._rules.get(index)
        if state is None:
            assert self._compiled is not None
            state = self._judge_all([(index, self._compiled.rules[index])], self.case())[index]
            self._rules[index] = state
        return state

    def rule_states(self, indexes: Iterable[int]) -> dict[int, _RuleState]:
        wanted = list(indexes)
        missing = [i for i in wanted if i not in self._rules]
        if missing and self._compiled is not None:
            self._rules.update(self._judge_all([(i, self._compiled.rules[i]) for i in missing], self.case()))
        return {i: self._rules[i] for i in wanted}

    def result(self) -> CaseResult:
        """The findings so far, ordered as `audit_case` orders them."""
        h = self.header
        result = CaseResult(h.id, h.file, jurisdiction=h.jurisdiction, procedure=h.procedure)
        if self._error is not None:
            result.error = self._error.en if self.lang == "en" else self._error.zh
            return result
        assert self._compiled is not None
        result.packs = [p.label for p in self._compiled.packs]
        states = self.rule_states(range(len(self._compiled.rules)))
        result.findings = [f for i in range(len(self._compiled.rules)) for f in states[i].findings]
        result.findings.sort(key=lambda f: (-STATUS_ORDER[f.status], f.rule, f.key))
        return result

    # --- events ----------------------------------------------------------------------------
    def resolve(self, event: Mapping[str, Any] | Occurrence) -> Occurrence:
        """Validate one event as a case file would (step names, dates, vote counts) and number it."""
        if isinstance(event, Occurrence):
            occurrence = event
        else:
            file = self.header.file or "<event>"
            mini = case_from_mapping(self.header.mapping([dict(event)]), self.book.vocabulary, file)
            occurrence = mini.events[0]
        number = sum(1 for e in self._events if e.step == occurrence.step) + 1
        return replace(occurrence, key=f"{occurrence.step}#{number}", position=len(self._events))

    def add(self, event: Mapping[str, Any] | Occurrence) -> Update:
        update = self.preview(event)
        self.commit(update)
        return update

    def load(self, events: Iterable[Mapping[str, Any] | Occurrence]) -> None:
        """Many events at once (a stored case): judged once, when findings are asked for.

        History loaded this way is judged directly and not asserted into the durable session:
        the compiled conditions match one event fact at a time, so past facts never change
        which rules a new event fires, and skipping them keeps a cold check cheap.
        """
        for event in events:
            self._events.append(self.resolve(event))
        self._rebuild_all()

    def preview(self, event: Mapping[str, Any] | Occurrence) -> Update:
        occurrence = self.resolve(event)
        before = self.case()
        after = self.case([*self._events, occurrence])
        compiled, error = _choose(self.book, after)
        if compiled is not None and compiled is self._compiled:
            touched = sorted(compiled.assert_event(self.sid, occurrence))
            return Update(
                occurrence, before, after, touched,
                self.rule_states(touched),
                self._judge_all([(i, compiled.rules[i]) for i in touched], after),
                compiled, None, rebuilt=False, sid=self.sid,
            )  # fmt: skip
        # The packs in force changed (the first dated event, or an earlier one): judge afresh.
        sid = uuid.uuid4().hex
        states: dict[int, _RuleState] = {}
        if compiled is not None:
            compiled.assert_events(sid, after.events)
            states = self._judge_all(list(enumerate(compiled.rules)), after)
        return Update(occurrence, before, after, sorted(states), {}, states, compiled, error, rebuilt=True, sid=sid)

    def commit(self, update: Update) -> None:
        if update.committed or update.discarded:
            raise ValueError("this update was already committed or discarded")
        if update.event.position != len(self._events):
            raise ValueError("the session moved on since this update was previewed")
        self._events.append(update.event)
        if update.rebuilt:
            if self._compiled is not None:
                self._compiled.drop_session(self.sid)
            self.sid = update.sid
            self._compiled, self._error = update.compiled, update.error
            self._rules = dict(update.after)
        else:
            self._rules.update(update.after)
        update.committed = True

    def discard(self, update: Update) -> None:
        """Forget a previewed event: take its fact back out of the durable session."""
        if update.committed or update.discarded:
            return
        if update.rebuilt:
            if update.compiled is not None:
                update.compiled.drop_session(update.sid)
        elif update.compiled is not None:
            update.compiled.retract_event(update.sid, update.event)
        update.discarded = True

    def close(self) -> None:
        if self._compiled is not None:
            self._compiled.drop_session(self.sid)

    # --- internals ----------------------------------------------------------------------------
    def _select(self, case: Case) -> None:
        self._compiled, self._error = _choose(self.book, case)

    def _rebuild_all(self) -> None:
        if self._compiled is not None:
            self._compiled.drop_session(self.sid)
        self.sid = uuid.uuid4().hex
        case = self.case()
        self._select(case)
        self._rules = {}  # judged on demand (`rule_state`)

    def _judge_all(self, rules: list[tuple[int, CoreRule]], case: Case) -> dict[int, _RuleState]:
        reader = DateReader(case, self.calendar)
        states = {}
        for index, rule in rules:
            ground = ground_rule(rule, case)
            states[index] = _RuleState(ground, [judge(g, reader, self.lang, self._names) for g in ground])
        return states


def _choose(book: RuleBook, case: Case) -> tuple[CompiledRuleset | None, NoPackError | None]:
    try:
        packs = book.select(case.jurisdiction, case.procedure, case.first_date())
    except NoPackError as exc:
        return None, exc
    return compile_ruleset(packs, case.procedure), None


def replay(case: Case, book: RuleBook, calendar: Calendar = DEFAULT_CALENDAR, lang: str = "zh") -> CaseSession:
    """A session fed the case's events one by one, in file order."""
    session = CaseSession(CaseHeader.of(case), book, calendar, lang)
    for occurrence in case.events:
        session.add(occurrence)
    return session
