"""Case files (CASES.md §1–2): the pydantic boundary model and the resolved case the engines read."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from compliance.sourcefile import InputError, Located, format_path, load_file
from compliance.vocabulary import Step, Vocabulary

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# ---------------------------------------------------------------------------------------
# The boundary: what a case file may say.


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str
    status: Literal["done", "planned"] = "done"
    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    earliest: dt.date | None = None
    latest: dt.date | None = None
    ref: str | None = None
    actor: str | None = None
    id: str | None = None
    note: str | None = None
    data: dict[str, Any] = {}

    @field_validator("step", mode="before")
    @classmethod
    def _step_is_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("data", mode="before")
    @classmethod
    def _null_data(cls, value: Any) -> Any:
        return {} if value is None else value


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str
    procedure: str
    jurisdiction: str
    title: str | None = None
    today: dt.date | None = None
    facts: dict[str, Any] = {}
    events: list[EventIn] = []

    @field_validator("case", mode="before")
    @classmethod
    def _case_id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("facts", mode="before")
    @classmethod
    def _null_facts(cls, value: Any) -> Any:
        return {} if value is None else value


# ---------------------------------------------------------------------------------------
# What the engines read: every event resolved to a known step, numbered per step.


@dataclass(frozen=True)
class Occurrence:
    key: str  # "hearing#1": the step and its occurrence number in file order
    step: str
    position: int  # index in the case's event list
    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    planned: bool = False
    earliest: dt.date | None = None
    latest: dt.date | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None
    actor: str | None = None
    line: int | None = None
    event_id: str | None = None

    def part(self, name: str) -> dt.date | None:
        return {"date": self.date, "start": self.start, "end": self.end}[name]

    @property
    def anchor_date(self) -> dt.date | None:
        """The date an instant happened or a period started."""
        return self.date if self.date is not None else self.start


@dataclass(frozen=True)
class Case:
    id: str
    procedure: str
    jurisdiction: str
    title: str | None
    facts: dict[str, Any]
    events: tuple[Occurrence, ...]
    today: dt.date | None = None
    file: str | None = None

    def occurrences(self, step: str) -> tuple[Occurrence, ...]:
        return self._by_step.get(step, ())

    def has(self, step: str) -> bool:
        return step in self._by_step

    @cached_property
    def _by_step(self) -> dict[str, tuple[Occurrence, ...]]:
        """Each step's occurrences in event order (grounding asks for them rule after rule)."""
        found: dict[str, list[Occurrence]] = {}
        for event in self.events:
            found.setdefault(event.step, []).append(event)
        return {step: tuple(events) for step, events in found.items()}

    def first_date(self) -> dt.date | None:
        dates = [d for e in self.events for d in (e.date, e.start) if d is not None]
        return min(dates) if dates else None

    def event(self, key: str) -> Occurrence:
        for e in self.events:
            if e.key == key:
                return e
        raise KeyError(key)


# ---------------------------------------------------------------------------------------
# Building a Case from a located document.


def load_case(path: Path, vocabulary: Vocabulary) -> Case:
    return case_from_document(load_file(path), vocabulary)


def case_from_document(doc: Located, vocabulary: Vocabulary) -> Case:
    if not isinstance(doc.data, dict):
        raise doc.error((), "案件文件应为一个映射（case、procedure、jurisdiction、events …）", expected="mapping")
    try:
        parsed = CaseIn.model_validate(doc.data)
    except ValidationError as exc:
        raise _first_validation_error(exc, doc) from exc
    return resolve_case(parsed, doc, vocabulary)


def case_from_mapping(data: dict[str, Any], vocabulary: Vocabulary, file: str = "<input>") -> Case:
    return case_from_document(Located(data=data, file=file), vocabulary)


def _first_validation_error(exc: ValidationError, doc: Located) -> InputError:
    err = exc.errors()[0]
    path = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind = err["type"]
    expected = {
        "missing": "必填字段",
        "date_from_datetime_parsing": "ISO 日期 YYYY-MM-DD",
        "date_parsing": "ISO 日期 YYYY-MM-DD",
        "date_type": "ISO 日期 YYYY-MM-DD",
        "date_from_datetime_inexact": "ISO 日期 YYYY-MM-DD",
        "extra_forbidden": "已知字段",
        "literal_error": "done 或 planned",
        "string_type": "文本",
        "dict_type": "映射",
        "list_type": "列表",
    }.get(kind)
    message = {
        "missing": "缺少必填字段",
        "extra_forbidden": "未知字段",
    }.get(kind, f"取值无效: {err['msg']}")
    if kind == "extra_forbidden":
        suggestion = "可用字段: step, status, date, start, end, earliest, latest, ref, actor, id, note, data"
        if len(path) == 1:
            suggestion = "可用字段: case, procedure, jurisdiction, title, today, facts, events"
        return doc.error(path, message, expected=expected, suggestion=suggestion)
    if "input" in err and kind not in ("missing",):
        message += f"（得到 {err['input']!r}）"
    return doc.error(path, message, expected=expected)


def resolve_case(parsed: CaseIn, doc: Located, vocabulary: Vocabulary) -> Case:
    if parsed.procedure not in vocabulary.procedures:
        raise doc.error(
            ("procedure",),
            f"未知程序 {parsed.procedure!r}",
            expected=" | ".join(sorted(vocabulary.procedures)),
        )
    counters: dict[str, int] = {}
    events: list[Occurrence] = []
    for position, event in enumerate(parsed.events):
        path: tuple[str | int, ...] = ("events", position)
        step = _resolve_step(event.step, parsed.procedure, doc, (*path, "step"), vocabulary)
        _check_dates(event, step, doc, path, parsed.today)
        _check_data(event, doc, path)
        counters[step.id] = counters.get(step.id, 0) + 1
        events.append(
            Occurrence(
                key=f"{step.id}#{counters[step.id]}",
                step=step.id,
                position=position,
                date=event.date,
                start=event.start,
                end=event.end,
                planned=event.status == "planned",
                earliest=event.earliest,
                latest=event.latest,
                data=dict(event.data),
                ref=event.ref,
                actor=event.actor,
                line=doc.line_of(path),
                event_id=event.id,
            )
        )
    return Case(
        id=parsed.case,
        procedure=parsed.procedure,
        jurisdiction=parsed.jurisdiction,
        title=parsed.title,
        facts=dict(parsed.facts),
        events=tuple(events),
        today=parsed.today,
        file=doc.file,
    )


def _resolve_step(name: str, procedure: str, doc: Located, path: tuple, vocabulary: Vocabulary) -> Step:
    step = vocabulary.resolve(name, procedure)
    if step is not None:
        return step
    ambiguous = vocabulary.ambiguous(name)
    if ambiguous:
        ids = ", ".join(s.id for s in ambiguous)
        raise doc.error(path, f"步骤名 {name!r} 有歧义", expected=f"其中之一: {ids}")
    close = vocabulary.suggest(name, procedure)
    suggestion = f"是否指 {close.id}（{close.zh}）？" if close else "运行 `compliance steps` 查看所有步骤"
    raise doc.error(path, f"未知步骤 {name!r}", expected="RULES.md 中的步骤 id 或中文名", suggestion=suggestion)


def _check_dates(event: EventIn, step: Step, doc: Located, path: tuple, today: dt.date | None) -> None:
    planned = event.status == "planned"
    given = event.model_fields_set
    if step.is_period:
        if event.date is not None or ("date" in given and not planned):
            raise doc.error(
                (*path, "date"),
                f"{step.zh}（{step.id}）是一个期间，应给出 start 和 end，而不是 date",
                expected="start: YYYY-MM-DD, end: YYYY-MM-DD",
            )
        for part in ("start", "end"):
            if getattr(event, part) is None and not planned:
                raise doc.error((*path, part), f"已完成的期间缺少 {part}", expected="YYYY-MM-DD")
        if event.start and event.end and event.end < event.start:
            raise doc.error(
                (*path, "end"), f"结束日期 {event.end} 早于开始日期 {event.start}", expected=f"不早于 {event.start}"
            )
    else:
        if event.start is not None or event.end is not None:
            field_name = "start" if event.start is not None else "end"
            raise doc.error(
                (*path, field_name),
                f"{step.zh}（{step.id}）是一个时点，应给出 date，而不是 start/end",
                expected="date: YYYY-MM-DD",
            )
        if event.date is None and not planned:
            raise doc.error((*path, "date"), "已完成的事件缺少 date", expected="YYYY-MM-DD")
    if event.earliest and event.latest and event.latest < event.earliest:
        raise doc.error((*path, "latest"), f"latest {event.latest} 早于 earliest {event.earliest}")
    if (event.earliest or event.latest) and not planned:
        raise doc.error((*path, "earliest"), "earliest/latest 只用于计划中的事件", expected="status: planned")
    if today is not None:
        anchor = event.date or event.start
        if not planned and anchor is not None and anchor > today:
            raise doc.error(
                (*path, "date" if event.date else "start"), f"已完成的事件日期 {anchor} 晚于 today {today}"
            )
        if planned and anchor is not None and anchor < today:
            raise doc.error(
                (*path, "date" if event.date else "start"), f"计划中的事件日期 {anchor} 早于 today {today}"
            )


VOTE_COUNTS = ("members", "present", "in_favour")  # step data checked as counts; *_date fields as dates


def _check_data(event: EventIn, doc: Located, path: tuple) -> None:
    data = event.data
    counts = {k: data.get(k) for k in VOTE_COUNTS}
    for key, value in counts.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise doc.error((*path, "data", key), f"{key} 应为非负整数（得到 {value!r}）", expected="非负整数")
    members = counts["members"]
    for key in ("present", "in_favour"):
        value = counts[key]
        if members is not None and value is not None and value > members:
            raise doc.error(
                (*path, "data", key), f"{key}={value} 超过成员总数 members={members}", expected=f"≤ {members}"
            )
    if counts["in_favour"] is not None and counts["present"] is not None and counts["in_favour"] > counts["present"]:
        raise doc.error(
            (*path, "data", "in_favour"),
            f"in_favour={counts['in_favour']} 超过出席人数 present={counts['present']}",
            expected=f"≤ {counts['present']}",
        )
    for key, value in data.items():
        if key.endswith("_date") and value is not None and not isinstance(value, dt.date):
            try:
                # fromisoformat alone would also take compact forms such as 20240301 on 3.11+.
                if not ISO_DATE.fullmatch(str(value)):
                    raise ValueError(value)
                data[key] = dt.date.fromisoformat(str(value))
            except ValueError:
                raise doc.error((*path, "data", key), f"日期无效: {value!r}", expected="YYYY-MM-DD") from None


__all__ = ["Case", "CaseIn", "EventIn", "InputError", "Occurrence", "format_path", "load_case"]
