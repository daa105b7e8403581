"""Pydantic models of the YAML files in `rules/`: packs, rules and their test cases."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str
    en: str


class CitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: str
    clause: str
    quote: str = Field(min_length=2)
    document: str | None = None


class ExpectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["violated", "satisfied", "not_applicable", "unknown"]
    findings: int | None = None  # how many findings of this rule carry that status
    total: int | None = None  # how many findings this rule makes in all (one per judged occurrence)
    events: list[str] | None = None  # events of the (first) finding with that status
    expected: str | None = None  # the `expected` text of that finding
    provisional: bool | None = None


class RuleTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    case: dict[str, Any]
    expect: Literal["violated", "satisfied", "not_applicable", "unknown"] | ExpectIn

    def expectation(self) -> ExpectIn:
        return self.expect if isinstance(self.expect, ExpectIn) else ExpectIn(status=self.expect)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9]+\.[a-z0-9][a-z0-9-]*$")
    title: TextIn
    severity: Literal["error", "warning"] = "error"
    procedures: list[str] | None = None
    citation: CitationIn
    description: str | None = None
    when: Any = None
    when_unknown: Literal["not_applicable", "unknown", "violated"] = "not_applicable"
    for_each: str | None = None
    missing_subject: Literal["not_applicable", "violated", "unknown"] | None = None
    check: dict[str, Any]
    message: TextIn | None = None
    tests: list[RuleTestIn] = Field(min_length=2)


class PackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    version: str
    title: TextIn
    document: str
    seed: str
    jurisdictions: list[str] = Field(min_length=1)
    procedures: list[str] = Field(min_length=1)
    in_force_from: dt.date
    in_force_until: dt.date | None = None
    supersedes: str | None = None
    departments: dict[str, str] = {}
    steps: list[dict[str, Any]] = []
    notes: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 2021-12-09` reads as a date in YAML; a version is text.
        return value.isoformat() if isinstance(value, dt.date) else value
