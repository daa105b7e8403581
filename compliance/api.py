"""The Python API (docs/api.md): `audit`, `check_step` and `plan`, each taking a case as a
path to a case file, a mapping with the case file's structure, or a loaded `Case`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compliance.audit import audit_case
from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.findings import CaseResult
from compliance.hook import Decision, check_step
from compliance.model import Case, case_from_mapping, load_case
from compliance.planning.planner import PlanResult, plan_case
from compliance.rules.packs import RuleBook, load_rulebook

CaseLike = Case | Mapping[str, Any] | str | Path


def as_case(case: CaseLike, book: RuleBook) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, Mapping):
        return case_from_mapping(dict(case), book.vocabulary)
    return load_case(Path(case), book.vocabulary)


def audit(
    case: CaseLike,
    *,
    lang: str = "zh",
    calendar: Calendar = DEFAULT_CALENDAR,
    rules: RuleBook | None = None,
) -> CaseResult:
    """Audit one case; raises `compliance.sourcefile.InputError` for a case that does not load."""
    book = rules or load_rulebook()
    return audit_case(as_case(case, book), book, calendar, lang)


def plan(
    case: CaseLike,
    *,
    objective: str = "earliest",
    lang: str = "zh",
    calendar: Calendar = DEFAULT_CALENDAR,
    rules: RuleBook | None = None,
) -> PlanResult:
    """Plan the open dates of a schedule (CASES.md §5).

    Raises `compliance.sourcefile.InputError` for a case that does not load and
    `compliance.planning.planner.PlanError` for one that cannot be planned (no pack in force, no date).
    """
    book = rules or load_rulebook()
    return plan_case(as_case(case, book), book, calendar, objective, lang)


__all__ = ["Decision", "as_case", "audit", "check_step", "plan"]
