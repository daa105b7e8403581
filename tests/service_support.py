"""Helpers for the service tests: stores on SQLite and PostgreSQL, sample events, a real server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.postgres import free_port

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


class Server:
    """`compliance serve` in a subprocess on a free loopback port."""

    def __init__(self, db: str, port: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.db = db
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        command = [sys.executable, "-m", "compliance", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--db", self.db, *self.extra]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=True)  # its own process group: workers die with it
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """kill -9: no shutdown handlers, no flushing; only what was committed survives."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the server and any worker processes
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
