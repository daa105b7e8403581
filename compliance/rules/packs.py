"""Loading `rules/`: the vocabulary, the packs, their rules (compiled) and their tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from compliance.rules.compile import Compiler, RuleCompileError
from compliance.rules.core import AllOf, Citation, CoreRule, Text, referenced_steps
from compliance.rules.schema import PackIn, RuleIn, RuleTestIn
from compliance.sourcefile import InputError, Located, format_path, load_file
from compliance.vocabulary import Vocabulary, VocabularyError, step_from_mapping

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


class RulePackError(ValueError):
    """A rule file that does not load: the rule author's input error."""


@dataclass
class RuleSource:
    """One rule file: its compiled core rules (one per judged step), its tests, its origin."""

    id: str
    spec: RuleIn
    core: list[CoreRule]
    tests: list[RuleTestIn]
    file: Path
    test_lines: list[int | None] = field(default_factory=list)


@dataclass
class Pack:
    spec: PackIn
    rules: list[RuleSource]
    directory: Path

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def label(self) -> str:
        return f"{self.spec.id}@{self.spec.version}"

    def in_force(self, day: dt.date) -> bool:
        until = self.spec.in_force_until
        return self.spec.in_force_from <= day and (until is None or day < until)

    def core_rules(self, procedure: str) -> list[CoreRule]:
        return [c for r in self.rules for c in r.core if not c.procedures or procedure in c.procedures]


@dataclass
class RuleBook:
    """Everything under `rules/`."""

    vocabulary: Vocabulary
    packs: list[Pack]
    directory: Path

    def rule(self, rule_id: str) -> RuleSource | None:
        for pack in self.packs:
            for rule in pack.rules:
                if rule.id == rule_id:
                    return rule
        return None

    def all_rules(self) -> list[RuleSource]:
        return [r for p in self.packs for r in p.rules]

    def pack(self, pack_id: str) -> Pack | None:
        return next((p for p in self.packs if p.id == pack_id), None)

    def eras(self) -> list[dt.date]:
        """Every day some pack comes into or goes out of force, in order.

        Between two of these days every pack is in force or not throughout, so `select` gives
        the same packs for any day of the same era (its errors still name the day).
        """
        days = {p.spec.in_force_from for p in self.packs}
        days |= {p.spec.in_force_until for p in self.packs if p.spec.in_force_until is not None}
        return sorted(days)

    def select(self, jurisdiction: str, procedure: str, first_date: dt.date | None) -> list[Pack]:
        """The packs in force for a case; the newest version of each pack id wins."""
        if first_date is None:
            raise NoPackError("案件没有任何带日期的事件，无法确定适用的规则包", "the case has no dated event")
        matching = [
            p for p in self.packs
            if jurisdiction in p.spec.jurisdictions and procedure in p.spec.procedures and p.in_force(first_date)
        ]  # fmt: skip
        newest: dict[str, Pack] = {}
        for pack in matching:
            current = newest.get(pack.id)
            if current is None or pack.spec.in_force_from > current.spec.in_force_from:
                newest[pack.id] = pack
        for pack in list(newest.values()):  # a later document may replace another pack outright
            if pack.spec.supersedes:
                newest.pop(pack.spec.supersedes, None)
        if not newest:
            known = [p for p in self.packs if jurisdiction in p.spec.jurisdictions]
            detail = ""
            if not known:
                known_keys = sorted({j for p in self.packs for j in p.spec.jurisdictions})
                detail = f"（未知辖区；已知: {', '.join(known_keys)}）"
            elif not any(procedure in p.spec.procedures for p in known):
                procs = sorted({x for p in known for x in p.spec.procedures})
                detail = f"（该辖区的程序: {', '.join(procs)}）"
            else:
                ranges = ", ".join(f"{p.label} 自 {p.spec.in_force_from}" for p in known)
                detail = f"（{ranges}）"
            raise NoPackError(
                f"{first_date} 时 {jurisdiction} 没有适用于 {procedure} 的有效规则包{detail}",
                f"no rule pack for {jurisdiction}/{procedure} in force on {first_date}",
            )
        return sorted(newest.values(), key=lambda p: p.id)


class NoPackError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(zh)
        self.zh, self.en = zh, en


def load_rulebook(directory: Path | None = None) -> RuleBook:
    return _load_cached(str((directory or DEFAULT_RULES_DIR).resolve()))


@lru_cache(maxsize=8)
def _load_cached(directory: str) -> RuleBook:
    root = Path(directory)
    vocabulary = _base_vocabulary(root)
    pack_docs: list[tuple[Path, PackIn]] = []
    for pack_file in sorted(root.glob("*/pack.yaml")):
        doc = _load(pack_file)
        try:
            spec = PackIn.model_validate(doc.data)
        except ValidationError as exc:
            raise _rule_error(doc, exc) from exc
        for entry in spec.steps:
            try:
                vocabulary.add(step_from_mapping(entry, str(pack_file)), str(pack_file))
            except VocabularyError as exc:
                raise RulePackError(str(exc)) from exc
        pack_docs.append((pack_file.parent, spec))
    packs = [Pack(spec, _load_rules(directory, spec, vocabulary), directory) for directory, spec in pack_docs]
    labels = [p.label for p in packs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise RulePackError(f"{root}: pack version {duplicates[0]} is defined twice")
    seen: dict[tuple[str, str], Path] = {}
    for pack in packs:
        for rule in pack.rules:
            key = (pack.label, rule.id)  # versions of one pack may repeat a rule id
            if key in seen and seen[key] != rule.file:
                raise RulePackError(f"{rule.file}: rule id {rule.id} already defined in {seen[key]}")
            seen[key] = rule.file
    return RuleBook(vocabulary, packs, root)


def _base_vocabulary(root: Path) -> Vocabulary:
    doc = _load(root / "steps.yaml")
    vocabulary = Vocabulary(procedures={k: tuple(v) for k, v in doc.data.get("procedures", {}).items()})
    for entry in doc.data.get("steps", []):
        try:
            vocabulary.add(step_from_mapping(entry, str(root / "steps.yaml")), str(root / "steps.yaml"))
        except VocabularyError as exc:
            raise RulePackError(str(exc)) from exc
    return vocabulary


def _load(path: Path) -> Located:
    try:
        return load_file(path)
    except InputError as exc:
        raise RulePackError(str(exc)) from exc


def _rule_error(doc: Located, exc: ValidationError) -> RulePackError:
    err = exc.errors()[0]
    path = tuple(p for p in err["loc"] if isinstance(p, str | int))
    line = doc.line_of(path)
    return RulePackError(f"{doc.file}:{line}: {format_path(path)}: {err['msg']}")


def _load_rules(directory: Path, pack: PackIn, vocabulary: Vocabulary) -> list[RuleSource]:
    rules = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "pack.yaml":
            continue
        rules.append(compile_rule_file(path, pack, vocabulary))
    return rules


def compile_rule_file(path: Path, pack: PackIn, vocabulary: Vocabulary) -> RuleSource:
    doc = _load(path)
    try:
        spec = RuleIn.model_validate(doc.data)
    except ValidationError as exc:
        raise _rule_error(doc, exc) from exc
    if not spec.id.startswith(pack.id + "."):
        raise RulePackError(f"{path}: rule id {spec.id} must start with the pack id '{pack.id}.'")
    unknown_procs = set(spec.procedures or ()) - set(pack.procedures)
    if unknown_procs:
        raise RulePackError(f"{path}: procedures {sorted(unknown_procs)} are not procedures of pack {pack.id}")
    where = f"{path}:{doc.line_of(('check',))}"
    try:
        core = _compile(spec, pack, vocabulary, where, doc)
    except RuleCompileError as exc:
        raise RulePackError(str(exc)) from exc
    lines = [doc.line_of(("tests", i)) for i in range(len(spec.tests))]
    return RuleSource(spec.id, spec, core, list(spec.tests), path, lines)


def _compile(spec: RuleIn, pack: PackIn, vocabulary: Vocabulary, where: str, doc: Located) -> list[CoreRule]:
    cited = spec.citation
    citation = Citation(cited.seed, cited.clause, cited.quote, cited.document or pack.document)
    when = None
    if spec.when is not None:
        when = Compiler(vocabulary, f"{doc.file}:{doc.line_of(('when',))}").condition(spec.when)

    def core(check, subject, missing_subject) -> CoreRule:
        return CoreRule(
            id=spec.id,
            pack=pack.id,
            title=Text(spec.title.zh, spec.title.en),
            severity=spec.severity,
            citation=citation,
            check=check,
            subject=subject,
            missing_subject=spec.missing_subject or missing_subject or "not_applicable",  # type: ignore[arg-type]
            when=when,
            when_unknown=spec.when_unknown,
            procedures=tuple(spec.procedures or ()),
            message=Text(spec.message.zh, spec.message.en) if spec.message else None,
            source=where,
            steps=frozenset(referenced_steps(check) | referenced_steps(when) | ({subject} if subject else set())),
        )

    compiler = Compiler(vocabulary, where)
    check_spec = spec.check
    check = compiler.check(check_spec)
    if spec.for_each is not None:
        if spec.for_each not in vocabulary.steps:
            raise RuleCompileError(f"{where}: for_each names unknown step {spec.for_each!r}")
        return [core(check, spec.for_each, compiler.missing_subject)]
    subjects = list(dict.fromkeys(compiler.subjects))
    splittable = isinstance(check, AllOf) and set(check_spec) == {"all"}
    part_subjects = _part_subjects(check_spec, vocabulary, where) if splittable else []
    if len(set(part_subjects)) <= 1 and len(subjects) <= 1:
        return [core(check, subjects[0] if subjects else None, compiler.missing_subject)]
    if not splittable:
        raise RuleCompileError(
            f"{where}: the check judges several steps ({', '.join(subjects)}); set `for_each` or use `all:`"
        )
    # "every X, Y and Z", or "X must exist and every Y must follow it": one core rule per
    # judged step (or for the case), same id, each judged on its own.
    result = []
    for part, part_spec in zip(check.parts, check_spec["all"], strict=True):
        part_compiler = Compiler(vocabulary, where)
        part_compiler.check(part_spec)
        judged = list(dict.fromkeys(part_compiler.subjects))
        if len(judged) > 1:
            raise RuleCompileError(f"{where}: a part of `all` judges several steps; split it or set for_each")
        result.append(core(part, judged[0] if judged else None, part_compiler.missing_subject))
    return result


def _part_subjects(check_spec: dict, vocabulary: Vocabulary, where: str) -> list[str | None]:
    """The step each part of a top-level `all` is judged for (None: the case as a whole)."""
    subjects: list[str | None] = []
    for part_spec in check_spec["all"]:
        part_compiler = Compiler(vocabulary, where)
        part_compiler.check(part_spec)
        judged = list(dict.fromkeys(part_compiler.subjects))
        subjects.append(judged[0] if len(judged) == 1 else (None if not judged else "*".join(judged)))
    return subjects
