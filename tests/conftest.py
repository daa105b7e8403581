"""Shared fixtures: the bundled rule book and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.rules.packs import RuleBook, load_rulebook

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cases_samples"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def book() -> RuleBook:
    return load_rulebook()
