"""The step vocabulary: step ids, Chinese names, instant or period, per procedure family."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

StepKind = Literal["instant", "period"]


@dataclass(frozen=True)
class Step:
    id: str
    zh: str
    kind: StepKind
    families: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    data: tuple[str, ...] = ()

    @property
    def is_period(self) -> bool:
        return self.kind == "period"

    def names(self) -> tuple[str, ...]:
        return (self.id, self.zh, *self.aliases)


class VocabularyError(ValueError):
    pass


@dataclass
class Vocabulary:
    steps: dict[str, Step] = field(default_factory=dict)
    procedures: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, step: Step, origin: str) -> None:
        if step.id in self.steps:
            if self.steps[step.id] == step:
                return
            raise VocabularyError(f"{origin}: step id {step.id!r} is declared twice with different definitions")
        for other in self.steps.values():
            shared = set(other.families) & set(step.families)
            clash = set(other.names()[1:]) & set(step.names()[1:])
            if shared and clash:
                raise VocabularyError(
                    f"{origin}: Chinese name {sorted(clash)[0]!r} of {step.id!r} is already used by {other.id!r}"
                    f" in family {sorted(shared)[0]!r}"
                )
        self.steps[step.id] = step

    def get(self, step_id: str) -> Step:
        return self.steps[step_id]

    def families_of(self, procedure: str) -> tuple[str, ...]:
        return self.procedures.get(procedure, ())

    def resolve(self, name: str, procedure: str | None = None) -> Step | None:
        """A step from its id or one of its Chinese names, preferring the procedure's families."""
        name = name.strip()
        if name in self.steps:
            return self.steps[name]
        matches = [s for s in self.steps.values() if name in s.names()]
        if len(matches) > 1 and procedure:
            # The procedure lists its families in order of precedence: in a new-construction-land
            # case (collective, then state) 补偿款支付 is the expropriation's compensation_paid.
            for family in self.families_of(procedure):
                in_family = [s for s in matches if family in s.families]
                if in_family:
                    matches = in_family
                    break
        return matches[0] if len(matches) == 1 else None

    def ambiguous(self, name: str) -> list[Step]:
        return [s for s in self.steps.values() if name.strip() in s.names()]

    def suggest(self, name: str, procedure: str | None = None) -> Step | None:
        """The closest known step to a misspelt name, for "did you mean …"."""
        candidates = list(self.steps.values())
        if procedure:
            families = set(self.families_of(procedure))
            candidates = [s for s in candidates if families & set(s.families)] or candidates
        by_name = {n: s for s in candidates for n in s.names()}
        close = difflib.get_close_matches(name.strip(), list(by_name), n=1, cutoff=0.5)
        return by_name[close[0]] if close else None


def step_from_mapping(entry: dict, origin: str) -> Step:
    try:
        families = entry["family"]
        return Step(
            id=str(entry["id"]),
            zh=str(entry["zh"]),
            kind=entry.get("kind", "instant"),
            families=tuple(families) if isinstance(families, list) else (str(families),),
            aliases=tuple(entry.get("aliases", ())),
            data=tuple(entry.get("data", ())),
        )
    except (KeyError, TypeError) as exc:
        raise VocabularyError(f"{origin}: step entry {entry!r} lacks {exc}") from exc
