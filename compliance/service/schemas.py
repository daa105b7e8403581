"""Request and response bodies of the HTTP API (they make the OpenAPI document at /docs)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EventFields(BaseModel):
    """An event as a case file writes it (CASES.md §1)."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(description="step id or Chinese name, e.g. hearing or 听证会", examples=["hearing"])
    date: dt.date | None = Field(None, description="an instant's date")
    start: dt.date | None = Field(None, description="a period's first day")
    end: dt.date | None = Field(None, description="a period's last day")
    data: dict[str, Any] = Field(default_factory=dict, description="step data the rules read")
    ref: str | None = Field(None, description="document number")
    actor: str | None = Field(None, description="who did it")
    note: str | None = None


class CheckEvent(EventFields):
    id: str | None = Field(None, max_length=200)


class Force(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000, description="why the step is recorded despite the rules")


class RecordEvent(EventFields):
    id: str = Field(min_length=1, max_length=200, description="the caller's event id; posting it again is idempotent")
    force: Force | None = Field(None, description="record even when denied; the reason is kept with the event")


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: dict[str, Any] = Field(description="the case so far, as a case file (JSON): case, procedure, jurisdiction, "
                                             "facts, events")  # fmt: skip
    event: CheckEvent
    plan: bool = Field(False, description="also ask the planner whether the case can still comply (slower)")
    context: bool = Field(False, description="also list the case's other open deadlines, open requirements and "
                                             "earlier breaches (costs a judgement of every rule)")  # fmt: skip
    lang: Literal["zh", "en"] = "zh"


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jurisdiction: str = Field(examples=["xian-changan"])
    procedure: str = Field(examples=["collective-expropriation"])
    title: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)


class CaseOut(BaseModel):
    id: str
    jurisdiction: str
    procedure: str
    title: str | None
    facts: dict[str, Any]
    version: int = Field(description="number of recorded events")


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


class DecisionOut(BaseModel):
    """A hook decision (`compliance.hook.Decision.to_json`)."""

    model_config = ConfigDict(extra="allow")

    case: str
    decision: Literal["allow", "deny", "error"]
    allowed: bool
    event: dict[str, Any]
    reasons: list[str]
    broken: list[dict[str, Any]]
    deadlines: list[dict[str, Any]]
    open_deadlines: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    already_broken: list[dict[str, Any]]
    can_comply: bool | None


class RecordOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    recorded: bool
    forced: bool = False
    seq: int | None = None
    replayed: bool = False
    decision: DecisionOut


class CaseStatusOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    case: CaseOut
    as_of: str
    verdict: str
    events: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    open_deadlines: list[dict[str, Any]]
    next_allowed_steps: list[dict[str, Any]]
    blocked_steps: list[dict[str, Any]]


class DeadlinesOut(BaseModel):
    case: str
    as_of: str
    deadlines: list[dict[str, Any]]
