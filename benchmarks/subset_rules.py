"""The constraints pm4py's DECLARE checker can express (existence, precedence, response), as our rules.

`write_subset_rules(dir)` makes a rules directory holding the vocabulary and packs of
rules/ with none of their rules, plus one pack `subset` in force everywhere with these
ten constraints: the same work pm4py's `conformance_declare` does, for a fair comparison.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

RULES = Path(__file__).resolve().parents[1] / "rules"
EXISTENCE = ["approval_application", "reserve_plan_approval"]
PRECEDENCE = [
    ("pre_announcement", "status_survey"),
    ("compensation_registration", "compensation_agreement"),
    ("funding_confirmed", "compensation_agreement"),
    ("reserve_plan_approval", "acquisition_agreement"),
    ("appraisal", "acquisition_agreement"),
]
RESPONSE = [
    ("compensation_announcement", "compensation_registration"),
    ("acquisition_agreement", "payment"),
    ("approval", "expropriation_announcement"),
]
ANCHOR = {
    "pre_announcement": "start",
    "compensation_announcement": "start",
    "status_survey": "start",
}  # periods: their start


def declare_model() -> dict:
    """The same constraints in pm4py's DECLARE dictionary form."""
    rule = {"support": 1.0, "confidence": 1.0}
    return {
        "existence": {(a,): dict(rule) for a in EXISTENCE},
        "precedence": {(a, b): dict(rule) for a, b in PRECEDENCE},
        "response": {(a, b): dict(rule) for a, b in RESPONSE},
    }


def _ref(step: str) -> str:
    return f"{step}.{ANCHOR[step]}" if step in ANCHOR else step


def _tests(events_ok: list, events_bad: list) -> list:
    return [
        {"name": "holds", "case": {"events": events_ok}, "expect": "satisfied"},
        {"name": "broken", "case": {"events": events_bad}, "expect": "violated"},
    ]


def _event(step: str, day: str) -> dict:
    return {"step": step, "start": day, "end": day} if step in ANCHOR else {"step": step, "date": day}


def write_subset_rules(target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        RULES,
        target,
        ignore=lambda d, names: [n for n in names if n.endswith(".yaml") and n not in ("pack.yaml", "steps.yaml")],
    )
    packs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in RULES.glob("*/pack.yaml")]
    pack = {
        "id": "subset",
        "version": "1",
        "title": {"zh": "DECLARE 子集", "en": "DECLARE subset"},
        "document": "benchmark",
        "seed": "none",
        "jurisdictions": sorted({j for p in packs for j in p["jurisdictions"]}),
        "procedures": sorted({x for p in packs for x in p["procedures"]}),
        "in_force_from": "1990-01-01",
    }
    directory = target / "subset"
    directory.mkdir()
    (directory / "pack.yaml").write_text(yaml.safe_dump(pack, allow_unicode=True), encoding="utf-8")
    base = {"severity": "error", "citation": {"seed": "none", "clause": "-", "quote": "benchmark subset"}}
    rules: dict[str, dict] = {}
    for a in EXISTENCE:
        rules[f"subset.existence-{a.replace('_', '-')}"] = {
            "check": {"exists": {"step": a}},
            "tests": _tests([_event(a, "2024-03-01")], []),
        }
    for a, b in PRECEDENCE:
        rules[f"subset.precedence-{a.replace('_', '-')}--{b.replace('_', '-')}"] = {
            "check": {"precedence": {"before": _ref(a), "after": _ref(b)}},
            "tests": _tests([_event(a, "2024-03-01"), _event(b, "2024-03-02")], [_event(b, "2024-03-02")]),
        }
    for a, b in RESPONSE:
        rules[f"subset.response-{a.replace('_', '-')}--{b.replace('_', '-')}"] = {
            "check": {"date": {"event": _ref(a), "not_after": f"{_ref(b)}@last", "missing_anchor": "violated"}},
            "tests": _tests([_event(a, "2024-03-01"), _event(b, "2024-03-02")], [_event(a, "2024-03-01")]),
        }
    for rule_id, body in rules.items():
        doc = {"id": rule_id, "title": {"zh": rule_id, "en": rule_id}, **base, **body}
        (directory / f"{rule_id.split('.', 1)[1]}.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
        )
    return target
