"""The validation hook: may this step happen now?

Other systems ask before they record a step. The answer is *deny* when recording it breaks
a rule for good — no step to come can cure it — or when it leaves a case that could still
comply with no compliant completion (the planner decides that). Otherwise *allow*, with what
the step sets in motion: the deadlines it starts and the obligations still open.

- findings come from the event-at-a-time session (`compliance.engine.durable`): the same
  findings `audit` gives for the events so far;
- "broken for good" versus "still open" comes from `compliance.engine.prospect`, which reads
  the same ground formulas against the dates still to come;
- only rules of severity `error` deny; a broken `warning` (原则上) is reported, not enforced;
- a rule that was already broken before this step (a deadline that passed while nothing was
  recorded) is reported as `already_broken`, never blamed on this step.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.durable import CaseHeader, CaseSession, Update
from compliance.engine.evaluate import DateReader
from compliance.engine.ground import And, Formula, GroundFinding, Not, Or, Truth, ground_rule
from compliance.engine.prospect import Prospect, SpanReader, Window, can_hold, hypothetical, prospect, windows
from compliance.findings import Finding
from compliance.model import Case, Occurrence, case_from_mapping, load_case
from compliance.planning.isolated import plan_plainly
from compliance.rules.core import CoreRule, ExistsAtom, NotOf, walk
from compliance.rules.packs import RuleBook, load_rulebook

BAD = ("violated", "unknown")
COMPLETION_ROUNDS = 4  # steps to come that call for further steps (hearing → revised plan …)

# --- what a decision says -------------------------------------------------------------------------


@dataclass
class RuleNote:
    """A rule in a decision: broken by the step, already broken, or an obligation still open."""

    rule: str
    title: str
    severity: str
    status: str
    message: str
    citation: dict[str, str]
    events: list[str]
    expected: str | None = None
    reason: str | None = None  # why nothing to come can cure it
    needs: list[str] = field(default_factory=list)  # steps to come that would satisfy it

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "citation": self.citation,
            "events": self.events,
            "expected": self.expected,
        }
        if self.reason:
            data["reason"] = self.reason
        if self.needs:
            data["needs"] = self.needs
        return data


@dataclass
class Deadline:
    """A step not recorded yet and the last day a rule allows for it."""

    rule: str
    title: str
    step: str
    step_name: str
    latest: str
    earliest: str | None
    overdue: bool
    message: str
    citation: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": self.title,
            "step": self.step,
            "step_name": self.step_name,
            "earliest": self.earliest,
            "latest": self.latest,
            "overdue": self.overdue,
            "message": self.message,
            "citation": self.citation,
        }

    @property
    def identity(self) -> tuple[str, str, str | None, str]:
        return (self.rule, self.step, self.earliest, self.latest)


@dataclass
class Feasibility:
    """The planner's answer for the case completed with the steps it still needs."""

    feasible: bool
    assumed_steps: list[str]  # steps added as planned, undated, for the planner to place
    conflicts: list[Any] = field(default_factory=list)
    schedule: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "feasible": self.feasible,
            "assumed_steps": self.assumed_steps,
            "conflicts": self.conflicts,
            "schedule": self.schedule,
        }


@dataclass
class Decision:
    allowed: bool
    case: str
    event: dict[str, Any]
    now: str | None
    packs: list[str]
    broken: list[RuleNote] = field(default_factory=list)
    warnings: list[RuleNote] = field(default_factory=list)
    pending: list[RuleNote] = field(default_factory=list)
    already_broken: list[RuleNote] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)  # started (or moved) by this step
    open_deadlines: list[Deadline] = field(default_factory=list)
    can_comply: bool | None = None  # None: the planner was not asked or is not available
    feasibility: Feasibility | None = None
    lost_feasibility: bool = False  # deny reason: the case could comply before this step, not after
    error: str | None = None  # no rule pack in force: the step cannot be checked

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        return "allow" if self.allowed else "deny"

    def reasons(self, lang: str = "zh") -> list[str]:
        items = [f"{n.rule}: {n.message}" for n in self.broken]
        if self.lost_feasibility:
            items.append(
                "此步骤后案件已无合规的完成方式（规划器判定不可行）"
                if lang == "zh"
                else "after this step no compliant completion of the case exists (the planner finds none)"
            )
        if self.error:
            items.append(self.error)
        return items

    def to_json(self, lang: str = "zh") -> dict[str, Any]:
        return {
            "case": self.case,
            "decision": self.verdict,
            "allowed": self.allowed,
            "event": self.event,
            "now": self.now,
            "packs": self.packs,
            "reasons": self.reasons(lang),
            "broken": [n.to_json() for n in self.broken],
            "warnings": [n.to_json() for n in self.warnings],
            "pending": [n.to_json() for n in self.pending],
            "already_broken": [n.to_json() for n in self.already_broken],
            "deadlines": [d.to_json() for d in self.deadlines],
            "open_deadlines": [d.to_json() for d in self.open_deadlines],
            "can_comply": self.can_comply,
            "lost_feasibility": self.lost_feasibility,
            "feasibility": self.feasibility.to_json() if self.feasibility else None,
            "error": self.error,
        }


# --- the hook over a session ----------------------------------------------------------------------


class Hook:
    """Decisions for one case, over its event-at-a-time session.

    `check(event)` previews the event and decides; the caller then `commit`s the returned
    update (the step was recorded) or `discard`s it. Not thread-safe: serialise per case.
    """

    def __init__(self, session: CaseSession, plan: bool = True) -> None:
        self.session = session
        self.plan = plan
        self._windows: dict[int, list[Window]] = {}  # of the committed state, filled on demand

    @classmethod
    def for_case(
        cls,
        header: CaseHeader,
        events: list[Mapping[str, Any] | Occurrence],
        book: RuleBook,
        calendar: Calendar = DEFAULT_CALENDAR,
        lang: str = "zh",
        plan: bool = True,
    ) -> Hook:
        session = CaseSession(header, book, calendar, lang)
        session.load(events)
        return cls(session, plan)

    @property
    def lang(self) -> str:
        return self.session.lang

    def check(
        self, event: Mapping[str, Any] | Occurrence, plan: bool | None = None, context: bool = True
    ) -> tuple[Decision, Update]:
        """Decide on `event`. With `context`, the decision also lists every open deadline, open
        requirement and earlier breach of the case; without, only what this step changes."""
        update = self.session.preview(event)
        try:
            decision = self._decide(update, self.plan if plan is None else plan, context)
        except BaseException:
            self.session.discard(update)
            raise
        return decision, update

    def commit(self, update: Update) -> None:
        self.session.commit(update)
        if update.rebuilt:
            self._windows = {}
        for index in update.touched:
            self._windows.pop(index, None)

    def discard(self, update: Update) -> None:
        self.session.discard(update)

    def close(self) -> None:
        self.session.close()

    # --- the state without a new step ---------------------------------------------------------
    def open_deadlines(self, as_of: dt.date | None = None) -> list[Deadline]:
        case = self.session.case()
        now = as_of or latest_date(case) or dt.date.today()
        compiled = self.session.compiled
        return self._deadlines(self._windows_now(range(len(compiled.rules)) if compiled else []), now)

    def next_steps(self, as_of: dt.date | None = None) -> list[dict[str, Any]]:
        """Every step the packs' rules read, and whether recording it on `as_of` would be allowed."""
        compiled = self.session.compiled
        if compiled is None:
            return []
        case = self.session.case()
        known = [d for d in (as_of, latest_date(case)) if d is not None]
        if not known:
            return []
        day = max(known)
        steps = sorted({s for deps in compiled.dependencies if deps for s in deps})
        vocabulary = self.session.book.vocabulary
        families = set(vocabulary.families_of(case.procedure))
        result = []
        for step_id in steps:
            step = vocabulary.steps.get(step_id)
            if step is None or not families & set(step.families):
                continue
            event: dict[str, Any] = {"step": step_id}
            if step.is_period:
                event.update(status="planned", start=day)  # under way from that day, end open
            else:
                event["date"] = day
            decision, update = self.check(event, plan=False, context=False)
            self.discard(update)
            result.append(
                {
                    "step": step_id,
                    "name": step.zh,
                    "allowed": decision.allowed,
                    "broken": [n.rule for n in decision.broken],
                }
            )
        return result

    # --- deciding ------------------------------------------------------------------------------
    def _decide(self, update: Update, plan: bool, context: bool) -> Decision:
        session = self.session
        case_after = update.case_after
        now = latest_date(case_after) or dt.date.today()
        decision = Decision(
            allowed=True,
            case=case_after.id,
            event=event_json(update.event, session.step_names),
            now=now.isoformat(),
            packs=[p.label for p in update.compiled.packs] if update.compiled else [],
        )
        if update.compiled is None:
            error = update.error
            decision.allowed = False
            decision.error = (error.en if self.lang == "en" else error.zh) if error else "no rule pack"
            return decision
        compiled = update.compiled
        touched = set(update.touched)
        for index, rule in enumerate(compiled.rules):
            if index not in touched and not context:
                continue
            state = update.after[index] if index in touched else session.rule_state(index)
            for ground, finding in zip(state.ground, state.findings, strict=True):
                if finding.status in BAD:
                    self._classify(decision, update, index, rule, ground, finding, now)
        self._new_deadlines(decision, update, now, context)
        decision.allowed = not decision.broken
        if plan:
            self._feasibility(decision, update, now)
        return decision

    def _classify(
        self, decision: Decision, update: Update, index: int, rule: CoreRule, ground: GroundFinding,
        finding: Finding, now: dt.date,
    ) -> None:  # fmt: skip
        """Sort a finding that does not hold: an open requirement, broken by this step, or broken before."""
        compiled = update.compiled
        assert compiled is not None
        outlook = prospect(rule, ground, update.case_after, now, self.session.calendar, compiled.dependencies[index])
        note = self._note(finding, ground, outlook)
        if not outlook.broken:
            if finding.status == "violated":
                decision.pending.append(note)
            return
        # Blame the step only for what it changed: a finding already broken (as of now)
        # before it — a deadline that passed unheeded — is not this step's doing.
        caused = index in update.touched and not self._was_broken(
            rule, compiled.dependencies[index], finding.key, update.case_before, now
        )
        if not caused:
            decision.already_broken.append(note)
        elif rule.severity == "error":
            decision.broken.append(note)
        else:
            decision.warnings.append(note)

    def _new_deadlines(self, decision: Decision, update: Update, now: dt.date, context: bool) -> None:
        """The deadlines this step starts (or moves): windows of the rules it touched, before and after."""
        compiled = update.compiled
        assert compiled is not None
        reader = DateReader(update.case_after, self.session.calendar)
        after = {
            i: windows(compiled.rules[i], update.case_after, self.session.calendar, self.lang,
                       self.session.step_names, reader)
            for i in update.touched
        }  # fmt: skip
        before = {} if update.rebuilt else self._windows_now(update.touched)
        old = {d.identity for d in self._deadlines(before, now)}
        decision.deadlines = [d for d in self._deadlines(after, now) if d.identity not in old]
        if context:
            everything = after if update.rebuilt else {**self._windows_now(range(len(compiled.rules))), **after}
            decision.open_deadlines = self._deadlines(everything, now)

    def _was_broken(
        self, rule: CoreRule, deps: frozenset[str] | None, key: str, case_before: Case, now: dt.date
    ) -> bool:
        """Whether the same finding was already broken for good, as of `now`, before this step."""
        reader = SpanReader(case_before, self.session.calendar, now)
        for ground in ground_rule(rule, case_before):
            if ground.key == key and not can_hold(ground, reader):
                return prospect(rule, ground, case_before, now, self.session.calendar, deps).broken
        return False

    def _note(self, finding: Finding, ground: GroundFinding, outlook: Prospect) -> RuleNote:
        reason = None
        if outlook.broken:
            missing = sorted(_missing_steps(ground.formula))
            if missing:
                names = "、".join(self.session.step_names.get(s, s) for s in missing)
                reason = (
                    f"尚未记录{names}，之后补做也不能满足本规则"
                    if self.lang == "zh"
                    else f"{', '.join(missing)} not recorded; doing it later cannot satisfy this rule"
                )
        return RuleNote(
            rule=finding.rule,
            title=finding.title,
            severity=finding.severity,
            status=finding.status,
            message=finding.message,
            citation=finding.citation,
            events=finding.events,
            expected=finding.expected,
            reason=reason,
            needs=list(outlook.needs),
        )

    # --- deadlines ------------------------------------------------------------------------------
    def _windows_now(self, indexes: Iterable[int]) -> dict[int, list[Window]]:
        """Windows of the committed state, computed once per rule until an event touches it."""
        compiled = self.session.compiled
        wanted = list(indexes)
        missing = [i for i in wanted if i not in self._windows]
        if missing and compiled is not None:
            case = self.session.case()
            reader = DateReader(case, self.session.calendar)
            for i in missing:
                self._windows[i] = windows(compiled.rules[i], case, self.session.calendar, self.lang,
                                           self.session.step_names, reader)  # fmt: skip
        return {i: self._windows.get(i, []) for i in wanted}

    def _deadlines(self, by_rule: dict[int, list[Window]], now: dt.date) -> list[Deadline]:
        names = self.session.step_names
        zh = self.session.book.vocabulary.steps
        result = []
        for index in sorted(by_rule):
            for window in by_rule[index]:
                if window.latest is None:
                    continue
                name = zh[window.step].zh if window.step in zh else window.step
                lifted = [zh[s].zh if s in zh and self.lang == "zh" else s for s in _lifted_by(window.rule)]
                message = _deadline_text(name, window, self.lang, lifted)
                result.append(
                    Deadline(
                        rule=window.rule.id,
                        title=window.finding.title,
                        step=window.step,
                        step_name=names.get(window.step, window.step) if self.lang == "en" else name,
                        latest=window.latest,
                        earliest=window.earliest,
                        overdue=dt.date.fromisoformat(window.latest) < now,
                        message=message,
                        citation=window.finding.citation,
                    )
                )
        return result

    # --- can the case still comply? -------------------------------------------------------------
    def _feasibility(self, decision: Decision, update: Update, now: dt.date) -> None:
        after = self._plan(update.case_after, now)
        decision.feasibility = after
        decision.can_comply = after.feasible
        if after.feasible or decision.broken:
            return
        before = self._plan(update.case_before, now)
        if before.feasible:
            decision.lost_feasibility = True
            decision.allowed = False

    def _plan(self, case: Case, now: dt.date) -> Feasibility:
        schedule, assumed = self.completion(case, now)
        # z3 is not thread-safe: plan_plainly keeps it to one thread of one process.
        feasible, data = plan_plainly(schedule, self.session.book, self.session.calendar, self.lang)
        return Feasibility(
            feasible=feasible,
            assumed_steps=assumed,
            conflicts=list(data.get("conflicts", [])),
            schedule=data.get("schedule"),
        )

    def completion(self, case: Case, now: dt.date) -> tuple[Case, list[str]]:
        """The case plus planned, undated occurrences of the steps its open obligations call for."""
        compiled = self.session.compiled
        if compiled is None:
            return case, []
        current, assumed = case, []
        for _ in range(COMPLETION_ROUNDS):
            reader = SpanReader(current, self.session.calendar, now)
            wanted: list[str] = []
            for index, rule in enumerate(compiled.rules):
                for ground in ground_rule(rule, current):
                    if can_hold(ground, reader):
                        continue
                    outlook = prospect(rule, ground, current, now, self.session.calendar, compiled.dependencies[index])
                    wanted.extend(s for s in outlook.needs if s not in assumed and s not in wanted)
            if not wanted:
                break
            current, _ = hypothetical(current, wanted)
            assumed.extend(wanted)
        return replace(current, today=now), assumed


def latest_date(case: Case) -> dt.date | None:
    """'Now' for a case: the latest date on which something was recorded as done."""
    dates = [e.anchor_date for e in case.events if e.anchor_date is not None]
    return max(dates) if dates else None


def _deadline_text(name: str, window: Window, lang: str, lifted_by: Sequence[str] = ()) -> str:
    """"听证会最迟2025-05-28", "现状调查最迟于2024-06-20结束", "无需听证回执最迟2024-04-11（不早于2024-04-04；
    如有听证申请则不适用）"."""
    if lang == "zh":
        verb = {"start": "开始", "end": "结束"}.get(window.part, "")
        notes = [f"不早于{window.earliest}"] if window.earliest else []
        notes += [f"如有{'或'.join(lifted_by)}则不适用"] if lifted_by else []
        return f"{name}最迟{'于' if verb else ''}{window.latest}{verb}" + (f"（{'；'.join(notes)}）" if notes else "")
    verb = {"start": "must start by", "end": "must end by"}.get(window.part, "by")
    notes = [f"not before {window.earliest}"] if window.earliest else []
    notes += [f"lifted by {' or '.join(lifted_by)}"] if lifted_by else []
    return f"{window.step} {verb} {window.latest}" + (f" ({'; '.join(notes)})" if notes else "")


def _lifted_by(rule: CoreRule) -> list[str]:
    """Steps whose occurrence would take the rule out of play (its `when` asks for their absence):
    a deadline it announces holds only until one of them is recorded."""
    found = []
    for node in walk(rule.when):
        if isinstance(node, NotOf) and isinstance(node.part, ExistsAtom) and node.part.where is None:
            found.append(node.part.step)
    return found


_MISSING_STEP = re.compile(r"missing:(\w+)(?![.\w])")  # "missing:hearing", not "missing:x.data.y"


def _missing_steps(formula: Formula | None) -> set[str]:
    """Steps whose absence a ground formula records (in its constant leaves' reasons)."""
    found: set[str] = set()
    if isinstance(formula, Truth) and isinstance(formula.reason, str):
        found.update(_MISSING_STEP.findall(formula.reason))
    elif isinstance(formula, And | Or):
        for part in formula.parts:
            found |= _missing_steps(part)
    elif isinstance(formula, Not):
        found |= _missing_steps(formula.part)
    return found


def event_json(occurrence: Occurrence, step_names: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"key": occurrence.key, "step": occurrence.step, "name": step_names.get(occurrence.step)}
    for part in ("date", "start", "end"):
        value = occurrence.part(part)
        if value is not None:
            data[part] = value.isoformat()
    if occurrence.event_id:
        data["id"] = occurrence.event_id
    return data


# --- the Python API -------------------------------------------------------------------------------


def check_step(
    case: Case | Mapping[str, Any] | str | Path,
    event: Mapping[str, Any],
    *,
    plan: bool = True,
    context: bool = True,
    lang: str = "zh",
    calendar: Calendar = DEFAULT_CALENDAR,
    rules: RuleBook | None = None,
) -> Decision:
    """May `event` be recorded now in `case` (its done events so far)?

    `event` is an event as written in a case file (`step` by id or Chinese name, `date` or
    `start`/`end`, optional `data`, `ref`, `actor`, `id`); a period without `end` is taken as
    under way. Planned events of `case` are not facts and are ignored. `plan=False` skips the
    planner (then `can_comply` is None); `context=False` leaves out what the step does not
    change (open deadlines, open requirements and earlier breaches elsewhere in the case).
    Raises `compliance.sourcefile.InputError` for a case or an event that does not load.
    """
    book = rules or load_rulebook()
    loaded = _as_case(case, book)
    raw = dict(event)
    if _is_open_period(raw, book, loaded.procedure):
        raw["status"] = "planned"  # a period under way: its end is still to come
    hook = Hook.for_case(CaseHeader.of(loaded), [e for e in loaded.events if not e.planned], book, calendar, lang, plan)
    try:
        decision, update = hook.check(raw, context=context)
        hook.discard(update)
        return decision
    finally:
        hook.close()


def _as_case(case: Case | Mapping[str, Any] | str | Path, book: RuleBook) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, Mapping):
        return case_from_mapping(dict(case), book.vocabulary)
    return load_case(Path(case), book.vocabulary)


def _is_open_period(raw: Mapping[str, Any], book: RuleBook, procedure: str) -> bool:
    step = book.vocabulary.resolve(str(raw.get("step", "")), procedure)
    return bool(step and step.is_period and raw.get("start") is not None and raw.get("end") is None)
