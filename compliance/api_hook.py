"""The Python API of the hook and the planner: `compliance.check_step`, `compliance.plan`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compliance.api import as_case
from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.hook import Decision, check_step
from compliance.model import Case
from compliance.rules.packs import RuleBook, load_rulebook

# Loaded now, on purpose: `compliance/__init__.py` then binds the name `compliance.plan` to the
# function below, and a module already loaded never rebinds its package attribute again
# (a first `import compliance.plan` after that would put the module back in its place).
try:
    from compliance.plan import PlanResult, plan_case
except ImportError:  # pragma: no cover - a tree without the planner
    plan_case = None  # type: ignore[assignment]
    if TYPE_CHECKING:
        from compliance.plan import PlanResult


def plan(
    case: Case | Mapping[str, Any] | str | Path,
    *,
    objective: str = "earliest",
    lang: str = "zh",
    calendar: Calendar = DEFAULT_CALENDAR,
    rules: RuleBook | None = None,
) -> PlanResult:
    """Plan the open dates of a schedule (CASES.md §5): `compliance.plan.plan_case` for a path, mapping or Case.

    Raises `compliance.sourcefile.InputError` for a case that does not load and
    `compliance.plan.PlanError` for one that cannot be planned (no pack in force, no date).
    """
    if plan_case is None:
        raise ImportError("the planner (compliance/plan.py) is not installed")
    book = rules or load_rulebook()
    loaded = as_case(dict(case) if isinstance(case, Mapping) else case, book)
    return plan_case(loaded, book, calendar, objective, lang)


__all__ = ["Decision", "check_step", "plan"]
