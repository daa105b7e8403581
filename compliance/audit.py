"""Auditing finished cases: pick the packs in force, ground every rule, judge every finding."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.evaluate import DateReader, judge
from compliance.engine.ground import GroundFinding, ground_rule
from compliance.findings import STATUS_ORDER, CaseResult
from compliance.model import Case, load_case
from compliance.rules.packs import NoPackError, Pack, RuleBook, load_rulebook
from compliance.sourcefile import InputError

CASE_SUFFIXES = (".yaml", ".yml", ".json")


def packs_for(case: Case, book: RuleBook) -> list[Pack]:
    return book.select(case.jurisdiction, case.procedure, case.first_date())


def ground_case(case: Case, packs: list[Pack]) -> list[GroundFinding]:
    return [g for pack in packs for rule in pack.core_rules(case.procedure) for g in ground_rule(rule, case)]


def audit_case(
    case: Case,
    book: RuleBook | None = None,
    calendar: Calendar = DEFAULT_CALENDAR,
    lang: str = "zh",
) -> CaseResult:
    book = book or load_rulebook()
    result = CaseResult(case.id, case.file, jurisdiction=case.jurisdiction, procedure=case.procedure)
    try:
        packs = packs_for(case, book)
    except NoPackError as exc:
        result.error = exc.en if lang == "en" else exc.zh
        return result
    result.packs = [p.label for p in packs]
    reader = DateReader(case, calendar)
    names = {s.id: (s.zh if lang == "zh" else s.id) for s in book.vocabulary.steps.values()}
    result.findings = [judge(g, reader, lang, names) for g in ground_case(case, packs)]
    result.findings.sort(key=lambda f: (-STATUS_ORDER[f.status], f.rule, f.key))
    return result


def iter_case_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and every case file below a directory, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in CASE_SUFFIXES and p.is_file())
        else:
            yield path


def audit_file(path: Path, book: RuleBook, calendar: Calendar = DEFAULT_CALENDAR, lang: str = "zh") -> CaseResult:
    """One file, never raising for bad input: an unreadable case is a result with verdict error."""
    try:
        case = load_case(path, book.vocabulary)
    except InputError as exc:
        return CaseResult(None, str(path), error=str(exc), error_detail=exc.to_json())
    return audit_case(case, book, calendar, lang)
