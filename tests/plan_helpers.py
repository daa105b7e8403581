"""Helpers for the planner tests: loading schedules, opening dates, writing plans back."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from compliance.model import Case, Occurrence, load_case
from compliance.planning.planner import PlanResult
from compliance.rules.packs import load_rulebook

BOOK = load_rulebook()
DATA = Path(__file__).resolve().parent / "data" / "plan"


def load(name: str) -> Case:
    return load_case(DATA / name, BOOK.vocabulary)


def opened(case: Case, which: Callable[[Occurrence], bool], today: dt.date | None = None) -> Case:
    """The case with the chosen events turned into planned events with open dates."""
    events = tuple(
        dataclasses.replace(o, planned=True, date=None, start=None, end=None) if which(o) else o for o in case.events
    )
    return dataclasses.replace(case, events=events, today=today)


def proposed(case: Case, which: Callable[[Occurrence], bool], today: dt.date | None = None) -> Case:
    """The case with the chosen events turned into planned events, their dates kept as proposals."""
    events = tuple(dataclasses.replace(o, planned=True) if which(o) else o for o in case.events)
    return dataclasses.replace(case, events=events, today=today)


def written_back(case: Case, result: PlanResult) -> Case:
    """The case as if the plan had been carried out: every planned event done on its planned dates."""
    assert result.schedule is not None
    events = []
    for o in case.events:
        dates = {part: dt.date.fromisoformat(day) for part, day in result.schedule.get(o.key, {}).items()}
        events.append(dataclasses.replace(o, planned=False, **dates))
    return dataclasses.replace(case, events=tuple(events), today=None)
