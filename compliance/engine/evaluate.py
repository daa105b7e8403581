"""The direct evaluator: reads ground formulas with the case's own dates and explains them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from compliance.calendar import Calendar, Shifted
from compliance.engine.ground import (
    And,
    Compare,
    ConstDate,
    DateExpr,
    Earliest,
    EventDate,
    Formula,
    GroundFinding,
    Latest,
    Not,
    Or,
    ShiftOf,
    Truth,
)
from compliance.findings import Finding, Status
from compliance.model import Case
from compliance.rules.expr import UNKNOWN, and3, not3, or3

OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


@dataclass
class Trace:
    """What an evaluation looked at: compared dates (for explanations) and unpublished years."""

    comparisons: list[tuple[Compare, dt.date | None, dt.date | None, Any]] = field(default_factory=list)
    provisional: set[int] = field(default_factory=set)


class DateReader:
    """Concrete values of date expressions for one case."""

    def __init__(self, case: Case, calendar: Calendar, overrides: dict[tuple[str, str], dt.date] | None = None):
        self.calendar = calendar
        self.dates: dict[tuple[str, str], dt.date | None] = {}
        for event in case.events:
            for part in ("date", "start", "end"):
                self.dates[(event.key, part)] = event.part(part)
        self.dates.update(overrides or {})

    def value(self, expr: DateExpr, trace: Trace) -> dt.date | None:
        if isinstance(expr, EventDate):
            return self.dates.get((expr.key, expr.part))
        if isinstance(expr, ConstDate):
            return expr.date
        if isinstance(expr, ShiftOf):
            base = self.value(expr.base, trace)
            if base is None:
                return None
            shifted = shift(self.calendar, base, expr.n, expr.unit, expr.sign)
            trace.provisional.update(shifted.provisional_years)
            return shifted.date
        if isinstance(expr, Earliest | Latest):
            values = [self.value(i, trace) for i in expr.items]
            if any(v is None for v in values):
                return None
            return min(values) if isinstance(expr, Earliest) else max(values)  # type: ignore[type-var]
        raise TypeError(expr)


@lru_cache(maxsize=1 << 16)  # explanations ask for the same few thousand days' shifts over and over
def shift(calendar: Calendar, base: dt.date, n: int, unit: str, sign: int) -> Shifted:
    """The one mapping from a rule's shift to the calendar's day counting (CASES.md §3)."""
    if unit == "days":
        if sign > 0:
            return calendar.days_after(base, n)
        return calendar.calendar_days_after(base, -n)
    if unit == "working_days":
        return calendar.workdays_after(base, n) if sign > 0 else calendar.workdays_before(base, n)
    return calendar.calendar_days_after(base, sign * n)


def shift_each(calendar: Calendar, first: dt.date, last: dt.date, n: int, unit: str, sign: int) -> list[dt.date]:
    """`shift(calendar, day, n, unit, sign).date` for every day in [first, last], in order (for lookup tables)."""
    if unit == "working_days":
        each = calendar.workdays_after_each if sign > 0 else calendar.workdays_before_each
        return each(first, last, n)
    if unit == "days" and sign > 0:
        return calendar.days_after_each(first, last, n)
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [shift(calendar, day, n, unit, sign).date for day in days]  # plain arithmetic


def evaluate(formula: Formula, reader: DateReader, trace: Trace) -> Any:
    if isinstance(formula, Truth):
        return formula.value
    if isinstance(formula, Compare):
        left, right = reader.value(formula.left, trace), reader.value(formula.right, trace)
        result = UNKNOWN if left is None or right is None else OPS[formula.op](left, right)
        trace.comparisons.append((formula, left, right, result))
        return result
    if isinstance(formula, And):
        return and3([evaluate(p, reader, trace) for p in formula.parts])
    if isinstance(formula, Or):
        return or3([evaluate(p, reader, trace) for p in formula.parts])
    if isinstance(formula, Not):
        return not3(evaluate(formula.part, reader, trace))
    raise TypeError(formula)


def status_of(value: Any) -> Status:
    if value is UNKNOWN:
        return "unknown"
    return "satisfied" if value else "violated"


# --- explanations -----------------------------------------------------------------------------


def judge(ground: GroundFinding, reader: DateReader, lang: str, step_names: dict[str, str]) -> Finding:
    rule = ground.rule
    trace = Trace()
    if ground.formula is None:
        status: Status = "not_applicable"
    else:
        value = evaluate(ground.formula, reader, trace)
        if ground.guard is not None:
            guard = evaluate(ground.guard, reader, trace)
            if guard is not UNKNOWN and not guard:
                status = "not_applicable"
            else:
                status = status_of(value)
        else:
            status = status_of(value)
    bounds = _bounds(ground, trace)
    expected = _expected_text(ground, bounds, step_names, lang) if ground.formula is not None else None
    subject_date = bounds.value or _subject_date(ground, reader)
    message = _message(ground, status, bounds, expected, subject_date, lang, step_names, trace)
    return Finding(
        rule=rule.id,
        status=status,
        severity=rule.severity,
        message=message,
        citation={
            "document": rule.citation.document,
            "clause": rule.citation.clause,
            "seed": rule.citation.seed,
            "quote": rule.citation.quote,
        },
        events=ground.events,
        expected=expected,
        key=ground.key,
        title=rule.title.pick(lang),
        provisional=sorted(trace.provisional) if status != "not_applicable" else [],
        earliest=_first_allowed(bounds),
        latest=_last_allowed(bounds),
        pack=rule.pack,
    )


def _first_allowed(bounds: Bounds) -> str | None:
    """The first compliant day (a strict bound excludes the bound itself)."""
    day = bounds.on or bounds.lower
    if day is None:
        return None
    return (day + dt.timedelta(days=1) if bounds.lower_strict and not bounds.on else day).isoformat()


def _last_allowed(bounds: Bounds) -> str | None:
    day = bounds.on or bounds.upper
    if day is None:
        return None
    return (day - dt.timedelta(days=1) if bounds.upper_strict and not bounds.on else day).isoformat()


@dataclass
class Bounds:
    subject: str | None = None
    lower: dt.date | None = None
    lower_strict: bool = False
    upper: dt.date | None = None
    upper_strict: bool = False
    on: dt.date | None = None
    left_text: str = ""
    value: dt.date | None = None  # the judged date itself


def _bounds(ground: GroundFinding, trace: Trace) -> Bounds:
    """The compliant window for the judged event, from the comparisons on it."""
    bounds = Bounds()
    by_left: dict[Any, list] = defaultdict(list)
    for compare, left, right, result in trace.comparisons:
        by_left[compare.left].append((compare, left, right, result))
    if not by_left:
        return bounds
    # Prefer the judged event's own comparisons, then those that failed.
    target = None
    if ground.subject is not None:
        for key in by_left:
            if isinstance(key, EventDate) and key.key == ground.subject.key:
                target = key
                break
    if target is None:
        failing = [k for k, items in by_left.items() if any(r is False for *_, r in items)]
        target = failing[0] if failing else next(iter(by_left))
    bounds.subject = target.key if isinstance(target, EventDate) else None
    if isinstance(target, EventDate):
        bounds.left_text = target.key + ("" if target.part == "date" else f".{target.part}")
    else:
        atom = by_left[target][0][0].atom
        if atom is not None:  # a date held in step data: name the field, not the step
            bounds.left_text = atom.subject.text()
    for compare, left, right, _result in by_left[target]:
        bounds.value = bounds.value or left
        if right is None:
            continue
        if compare.op in (">", ">="):
            if bounds.lower is None or right > bounds.lower or (right == bounds.lower and compare.op == ">"):
                bounds.lower, bounds.lower_strict = right, compare.op == ">"
        elif compare.op in ("<", "<="):
            if bounds.upper is None or right < bounds.upper or (right == bounds.upper and compare.op == "<"):
                bounds.upper, bounds.upper_strict = right, compare.op == "<"
        else:
            bounds.on = right
    return bounds


def _expected_text(ground: GroundFinding, bounds: Bounds, step_names: dict[str, str], lang: str) -> str | None:
    subject = bounds.left_text or (ground.subject.key if ground.subject else "")
    step, _, rest = subject.partition(".")
    label = step.split("#")[0] + (f".{rest}" if rest else "")
    if bounds.on:
        return f"{label} on {bounds.on}"
    if bounds.lower and bounds.upper:
        left = "(" if bounds.lower_strict else "["
        right = ")" if bounds.upper_strict else "]"
        return f"{label} in {left}{bounds.lower}, {bounds.upper}{right}"
    if bounds.lower:
        return f"{label} {'>' if bounds.lower_strict else '>='} {bounds.lower}"
    if bounds.upper:
        return f"{label} {'<' if bounds.upper_strict else '<='} {bounds.upper}"
    formula = ground.formula
    if isinstance(formula, Truth) and formula.reason:
        return describe_reason(formula.reason, "en", {}, expected=True)
    return None


def describe_reason(reason: str, lang: str, step_names: dict[str, str], expected: bool = False) -> str:
    """Readable text for the reasons grounding records: "missing:X" parts, "; " for all of, " | " for one of."""

    def atom(text: str) -> str:
        if not text.startswith("missing:"):
            return text
        step = text.removeprefix("missing:")
        if expected:
            return f"{step} present"
        name = step_names.get(step, step)
        return f"缺少{name}（{step}）" if lang == "zh" else f"{step} is missing"

    either = "或" if lang == "zh" and not expected else " or "
    both = "；" if lang == "zh" and not expected else "; "
    return both.join(either.join(atom(a) for a in part.split(" | ")) for part in reason.split("; "))


def _subject_date(ground: GroundFinding, reader: DateReader) -> dt.date | None:
    if ground.subject is None:
        return None
    return ground.subject.date or ground.subject.start


def _message(
    ground: GroundFinding,
    status: Status,
    bounds: Bounds,
    expected: str | None,
    subject_date: dt.date | None,
    lang: str,
    step_names: dict[str, str],
    trace: Trace,
) -> str:
    rule = ground.rule
    title = rule.title.pick(lang)
    if status == "not_applicable":
        reason = ground.note or ("不适用" if lang == "zh" else "not applicable")
        return f"{title}（{reason}）" if lang == "zh" else f"{title} ({reason})"
    if status == "satisfied":
        return title
    step = ground.subject.step if ground.subject else ""
    values = defaultdict(
        str,
        date=str(subject_date or ""),
        expected=expected or "",
        earliest=_first_allowed(bounds) or "",
        latest=_last_allowed(bounds) or "",
        after=str(bounds.lower or ""),
        until=str(bounds.upper or ""),
        step=step_names.get(step, step),
        event=ground.subject.key if ground.subject else "",
    )
    missing_step = isinstance(ground.formula, Truth) and ground.formula.reason.startswith("missing:")
    if status == "violated" and rule.message is not None and not missing_step:
        text = rule.message.pick(lang).format_map(values)
    elif status == "unknown":
        reason = _missing_reason(ground)
        fallback = "日期或数据缺失" if lang == "zh" else "a date or datum is missing"
        missing = describe_reason(reason, lang, step_names) if reason else fallback
        text = (f"{title}：无法判断，{missing}" if lang == "zh" else f"{title}: cannot decide, {missing}")
    else:
        detail = _violation_detail(ground, bounds, subject_date, lang, step_names)
        text = f"{title}：{detail}" if lang == "zh" else f"{title}: {detail}"
    if trace.provisional:
        years = "、".join(str(y) for y in sorted(trace.provisional))
        text += (f"（暂定：{years}年节假日未公布，按周末计算）" if lang == "zh"
                 else f" (provisional: {years} holidays not published, weekends only)")  # fmt: skip
    return text


def _missing_reason(ground: GroundFinding) -> str:
    reasons = []

    def collect(formula: Formula | None) -> None:
        if isinstance(formula, Truth) and formula.value is UNKNOWN and formula.reason:
            reasons.append(formula.reason)
        elif isinstance(formula, And | Or):
            for part in formula.parts:
                collect(part)
        elif isinstance(formula, Not):
            collect(formula.part)

    collect(ground.formula)
    return "; ".join(dict.fromkeys(reasons))


def _violation_detail(
    ground: GroundFinding, bounds: Bounds, subject_date: dt.date | None, lang: str, step_names: dict[str, str]
) -> str:
    formula = ground.formula
    if isinstance(formula, Truth) and formula.reason:
        return describe_reason(formula.reason, lang, step_names)
    if bounds.lower or bounds.upper or bounds.on:
        event = bounds.left_text or (ground.subject.key if ground.subject else "")
        parts = []
        if bounds.on:
            parts.append(f"应为{bounds.on}" if lang == "zh" else f"should be {bounds.on}")
        if bounds.lower:
            word = ("应晚于" if bounds.lower_strict else "应不早于") if lang == "zh" else (
                "after" if bounds.lower_strict else "on or after")
            parts.append(f"{word}{bounds.lower}" if lang == "zh" else f"{word} {bounds.lower}")
        if bounds.upper:
            word = ("应早于" if bounds.upper_strict else "最迟") if lang == "zh" else (
                "before" if bounds.upper_strict else "at the latest")
            parts.append(f"{word}{bounds.upper}" if lang == "zh" else f"{word} {bounds.upper}")
        when = subject_date
        return (f"{event}（{when}）" + "，".join(parts)) if lang == "zh" else f"{event} ({when}): " + ", ".join(parts)
    return "违反" if lang == "zh" else "violated"
