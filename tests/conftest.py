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


@pytest.fixture(scope="session")
def pg_server():
    """A private PostgreSQL server for the session (tests/postgres.py), or COMPLIANCE_TEST_PG_URL."""
    import os

    from tests.postgres import ENV_URL, start_cluster

    if os.environ.get(ENV_URL):
        yield os.environ[ENV_URL]
        return
    cluster = start_cluster()
    if isinstance(cluster, str):
        pytest.skip(cluster)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on that server."""
    from tests.postgres import fresh_database

    return fresh_database(pg_server)
