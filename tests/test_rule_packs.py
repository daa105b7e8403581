"""The bundled rule packs: the catalog is covered, citations are real, every rule's YAML tests pass."""

from __future__ import annotations

import re

import pytest

from compliance.calendar import DEFAULT_CALENDAR
from compliance.rules.packs import load_rulebook
from compliance.ruletest import run_one
from tests.conftest import ROOT, SHARED

BOOK = load_rulebook()
CATALOG = (SHARED / "domain" / "RULES.md").read_text(encoding="utf-8")
CATALOG_IDS = sorted(set(re.findall(r"^- `([a-z]+\.[a-z0-9-]+)`", CATALOG, flags=re.M)))
# `changzhou.plan-contents` / `changzhou.agreement-contents` share a bullet.
CATALOG_IDS += sorted(set(re.findall(r"^- `[a-z]+\.[a-z0-9-]+` / `([a-z]+\.[a-z0-9-]+)`", CATALOG, flags=re.M)))
ALL_TESTS = [
    pytest.param(pack, rule, index, id=f"{rule.id}[{index + 1}]")
    for pack in BOOK.packs
    for rule in pack.rules
    for index in range(len(rule.tests))
]


def _normalise(text: str) -> str:
    # Seeds mix full- and half-width punctuation and wrap lines; compare the words.
    return re.sub(r"[\s\W_]+", "", text)


SEEDS = {p.name: _normalise(p.read_text(encoding="utf-8")) for p in (SHARED / "seeds").glob("*.txt")}


def test_the_catalog_lists_the_rules_we_must_have():
    assert len(CATALOG_IDS) >= 50


@pytest.mark.parametrize("rule_id", CATALOG_IDS)
def test_every_catalog_rule_exists_under_its_id(rule_id: str):
    assert BOOK.rule(rule_id) is not None, f"{rule_id} is in RULES.md but not in rules/"


@pytest.mark.parametrize("rule", BOOK.all_rules(), ids=lambda r: r.id)
def test_every_rule_quotes_its_seed_word_for_word(rule):
    citation = rule.spec.citation
    assert citation.seed in SEEDS, f"{rule.id}: unknown seed {citation.seed}"
    assert _normalise(citation.quote) in SEEDS[citation.seed], f"{rule.id}: quote not found in {citation.seed}"


@pytest.mark.parametrize("rule", BOOK.all_rules(), ids=lambda r: r.id)
def test_every_rule_has_a_passing_and_a_failing_test(rule):
    statuses = {t.expectation().status for t in rule.tests}
    assert "satisfied" in statuses, f"{rule.id} has no test that passes"
    assert "violated" in statuses, f"{rule.id} has no test that fails"


@pytest.mark.parametrize("pack", BOOK.packs, ids=lambda p: p.id)
def test_every_pack_cites_an_existing_seed(pack):
    assert (SHARED / "seeds" / pack.spec.seed).exists()


@pytest.mark.parametrize(("pack", "rule", "index"), ALL_TESTS)
def test_rule_yaml_case(pack, rule, index):
    result = run_one(BOOK, pack, rule, index, DEFAULT_CALENDAR)
    assert result.passed, f"{result.location}: {result.detail}"


def test_a_rule_whose_evaluation_fails_is_a_failed_test_not_a_crash(monkeypatch):
    from compliance import ruletest

    def broken(core, case):
        raise ValueError("Invalid literal for Fraction: '约120亩'")

    monkeypatch.setattr(ruletest, "ground_rule", broken)
    pack, rule = BOOK.packs[0], BOOK.packs[0].rules[0]
    result = run_one(BOOK, pack, rule, 0, DEFAULT_CALENDAR)
    assert not result.passed
    assert result.detail == "judging the rule failed: ValueError: Invalid literal for Fraction: '约120亩'"


def test_rule_files_live_in_their_pack_folder():
    for pack in BOOK.packs:
        for rule in pack.rules:
            assert rule.file.parent == ROOT / "rules" / pack.id
