"""Helpers for the service tests: stores on SQLite and PostgreSQL, sample events, a real server process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compliance.service.process import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cases_samples"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each service test runs on an SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "service.db")
    return request.getfixturevalue("pg_url")


def sample_doc(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def json_events(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A sample's events as JSON bodies (dates as ISO text)."""
    events = []
    for event in doc["events"]:
        events.append({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in event.items()})
    return events


def case_body(doc: dict[str, Any]) -> dict[str, Any]:
    return {"jurisdiction": doc["jurisdiction"], "procedure": doc["procedure"], "title": doc.get("title"),
            "facts": doc.get("facts") or {}}  # fmt: skip


def cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, check=True)  # fmt: skip
    return done.stdout.strip()


def create_token(db: str, *jurisdictions: str, rate: float | None = None) -> str:
    args = ["tokens", "create", "--db", db]
    for jurisdiction in jurisdictions:
        args += ["--jurisdiction", jurisdiction]
    if rate is not None:
        args += ["--rate", str(rate)]
    return cli(*args).splitlines()[0]


class Server(ServiceProcess):
    """`compliance serve` in a subprocess on a free loopback port, run from the project root."""

    def __init__(self, db: str, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        super().__init__(db, port, extra, cwd=ROOT)

