"""What the planner tells the legal office: conflicts, moves, windows, and how to word them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

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
    event_dates,
)
from compliance.engine.schedule import Tracked

OPS = {"<": "<", "<=": "≤", "==": "=", ">=": "≥", ">": ">"}
UNIT_TEXT = {
    "zh": {"days": "日", "working_days": "个工作日", "calendar_days": "天（自然日）"},
    "en": {"days": " days", "working_days": " working days", "calendar_days": " calendar days"},
}
BOUND_TEXT = {
    "zh": {
        "earliest": "不早于计划下限 {day}",
        "latest": "不晚于计划上限 {day}",
        "today": "不早于今天 {day}",
        "after_done": "不早于最后一个已完成事件 {day}",
        "workday": "须在工作日办理",
        "horizon": "须在规划期限内",
    },
    "en": {
        "earliest": "not before the planned earliest {day}",
        "latest": "not after the planned latest {day}",
        "today": "not before today {day}",
        "after_done": "not before the latest done event {day}",
        "workday": "must fall on a working day",
        "horizon": "must fall within the planning horizon",
    },
}


def label(expr: EventDate) -> str:
    return expr.key if expr.part == "date" else f"{expr.key}.{expr.part}"


def describe_date(expr: DateExpr, known: dict[str, dt.date], lang: str) -> str:
    if isinstance(expr, EventDate):
        name = label(expr)
        return f"{name}（{known[name]}）" if name in known and lang == "zh" else (
            f"{name} ({known[name]})" if name in known else name)  # fmt: skip
    if isinstance(expr, ConstDate):
        return expr.date.isoformat()
    if isinstance(expr, ShiftOf):
        sign = "+" if expr.sign > 0 else "−"
        return f"{describe_date(expr.base, known, lang)} {sign} {expr.n}{UNIT_TEXT[lang][expr.unit]}"
    if isinstance(expr, Earliest | Latest):
        word = "min" if isinstance(expr, Earliest) else "max"
        return f"{word}(" + ", ".join(describe_date(i, known, lang) for i in expr.items) + ")"
    return repr(expr)


def describe(formula: Formula, known: dict[str, dt.date], lang: str) -> str:
    """A ground formula in words a clerk can check by hand."""
    if isinstance(formula, Compare):
        left, right = describe_date(formula.left, known, lang), describe_date(formula.right, known, lang)
        return f"{left} {OPS[formula.op]} {right}"
    if isinstance(formula, Truth):
        if formula.reason:
            return formula.reason
        return {True: "成立", False: "不成立"}.get(formula.value, "未知") if lang == "zh" else str(formula.value)
    if isinstance(formula, And | Or):
        joiner = (" 且 " if isinstance(formula, And) else " 或 ") if lang == "zh" else (
            " and " if isinstance(formula, And) else " or ")  # fmt: skip
        return joiner.join(f"({describe(p, known, lang)})" if isinstance(p, And | Or) else describe(p, known, lang)
                           for p in formula.parts)  # fmt: skip
    if isinstance(formula, Not):
        return ("并非 " if lang == "zh" else "not ") + f"({describe(formula.part, known, lang)})"
    return repr(formula)


def citation_of(finding: GroundFinding) -> dict[str, str]:
    c = finding.rule.citation
    return {"document": c.document, "clause": c.clause, "seed": c.seed, "quote": c.quote}


@dataclass
class Conflict:
    """One member of a minimal conflicting set: a rule with the fixed dates and bounds it meets."""

    rule: str | None
    key: str
    title: str
    severity: str
    citation: dict[str, str]
    message: str
    events: list[str]
    dates: dict[str, str] = field(default_factory=dict)  # fixed dates involved: "hearing#1" → ISO date
    bounds: list[dict[str, Any]] = field(default_factory=list)  # planner constraints involved

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "key": self.key,
            "title": self.title,
            "severity": self.severity,
            "citation": self.citation,
            "message": self.message,
            "events": self.events,
            "dates": self.dates,
            "bounds": self.bounds,
        }


def _bound_json(item: Tracked, lang: str) -> dict[str, Any]:
    text = BOUND_TEXT[lang][item.kind].format(day=item.day or "")
    data: dict[str, Any] = {"kind": item.kind, "message": (f"{item.slot.label} " if item.slot else "") + text}
    if item.slot is not None:
        data["event"] = item.slot.label
    if item.day is not None:
        data["date"] = item.day.isoformat()
    return data


def conflicts_from_core(core: list[Tracked], lang: str) -> list[Conflict]:
    """Group a minimal core by rule: each rule with the fixed dates and planner bounds it reads."""
    fixed = {t.slot.label: t.day for t in core if t.kind == "fixed" and t.slot and t.day}
    others = [t for t in core if t.kind not in ("rule", "fixed")]
    result: list[Conflict] = []
    used_fixed: set[str] = set()
    used_bounds: set[str] = set()
    for item in core:
        if item.kind != "rule" or item.finding is None:
            continue
        finding = item.finding
        reads = {label(e) for e in event_dates(finding.formula, finding.guard)}
        events_read = {name.split(".")[0] for name in reads}
        dates = {name: day for name, day in fixed.items() if name in reads}
        bounds = [t for t in others if t.slot is None or t.slot.key in events_read]
        used_fixed.update(dates)
        used_bounds.update(t.name for t in bounds)
        result.append(_rule_conflict(finding, dates, bounds, lang))
    leftover_dates = {name: day for name, day in fixed.items() if name not in used_fixed}
    leftover_bounds = [t for t in others if t.name not in used_bounds]
    if leftover_dates or leftover_bounds:
        # Planner constraints colliding among themselves (say `latest` before `today`).
        message = "；".join(b["message"] for b in (_bound_json(t, lang) for t in leftover_bounds))
        result.append(Conflict(None, "plan", "计划约束" if lang == "zh" else "planning constraints", "error", {},
                               message, sorted({t.slot.key for t in leftover_bounds if t.slot}),
                               {k: v.isoformat() for k, v in leftover_dates.items()},
                               [_bound_json(t, lang) for t in leftover_bounds]))  # fmt: skip
    return result


def _rule_conflict(finding: GroundFinding, dates: dict[str, dt.date], bounds: list[Tracked], lang: str) -> Conflict:
    rule = finding.rule
    title = rule.title.pick(lang)
    text = describe(finding.formula, dates, lang) if finding.formula is not None else ""
    if finding.guard is not None:
        guard = describe(finding.guard, dates, lang)
        text = (f"当 {guard} 时：" if lang == "zh" else f"when {guard}: ") + text
    message = f"{title}：{text}" if lang == "zh" else f"{title}: {text}"
    return Conflict(
        rule=rule.id,
        key=finding.key,
        title=title,
        severity=rule.severity,
        citation=citation_of(finding),
        message=message,
        events=list(finding.events),
        dates={k: v.isoformat() for k, v in dates.items()},
        bounds=[_bound_json(t, lang) for t in bounds],
    )


def violation_conflict(finding: GroundFinding, known: dict[str, dt.date], message: str, lang: str) -> Conflict:
    """A rule the fixed dates already break: on its own, a conflict that no planning resolves."""
    reads = {label(e) for e in event_dates(finding.formula, finding.guard)}
    conflict = _rule_conflict(finding, {k: v for k, v in known.items() if k in reads}, [], lang)
    conflict.message = message
    return conflict


@dataclass
class Move:
    """A proposed date the repair changes, and the rules that forbid keeping it."""

    event: str
    step: str
    name: str  # the step's name in the output language
    part: str
    before: dt.date
    after: dt.date
    rules: list[str]
    bounds: list[str] = field(default_factory=list)

    def text(self, lang: str) -> str:
        part = "" if self.part == "date" else (
            {"start": " 开始", "end": " 结束"}[self.part] if lang == "zh" else f" {self.part}")  # fmt: skip
        reasons = ", ".join(self.rules + self.bounds)
        why = (", 依据 " if lang == "zh" else ", because of ") + reasons if reasons else ""
        return f"{self.name}{part} {self.before} → {self.after}{why}"

    def to_json(self, lang: str) -> dict[str, Any]:
        return {
            "event": self.event,
            "step": self.step,
            "part": self.part,
            "from": self.before.isoformat(),
            "to": self.after.isoformat(),
            "days": (self.after - self.before).days,
            "rules": self.rules,
            "bounds": self.bounds,
            "text": self.text(lang),
        }

