"""The Python API: audit a case given as a path, a mapping or a loaded Case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compliance.audit import audit_case
from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.findings import CaseResult
from compliance.model import Case, case_from_mapping, load_case
from compliance.rules.packs import RuleBook, load_rulebook


def as_case(case: Case | dict[str, Any] | str | Path, book: RuleBook) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, dict):
        return case_from_mapping(case, book.vocabulary)
    return load_case(Path(case), book.vocabulary)


def audit(
    case: Case | dict[str, Any] | str | Path,
    *,
    lang: str = "zh",
    calendar: Calendar = DEFAULT_CALENDAR,
    rules: RuleBook | None = None,
) -> CaseResult:
    """Audit one case; raises `compliance.sourcefile.InputError` for a case that does not load."""
    book = rules or load_rulebook()
    return audit_case(as_case(case, book), book, calendar, lang)
