"""A private PostgreSQL cluster for the service tests: the Debian binaries, a temp dir, a free port.

As root, the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
`COMPLIANCE_TEST_PG_URL` points the tests at an existing server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "COMPLIANCE_TEST_PG_URL"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    bin: Path
    directory: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.directory / "data"
        self.run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--no-locale")  # fmt: skip
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200"
        self.run(str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "log"),
                 "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast",
                        "-w", "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)


def start_cluster() -> Cluster | str:
    """A running cluster, or why there is none (the tests skip with that reason)."""
    binaries = find_bin()
    if binaries is None:
        return "PostgreSQL binaries not found (apt-get install postgresql, or set COMPLIANCE_TEST_PG_URL)"
    as_user: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="compliance-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: cannot start PostgreSQL as the postgres user"
        shutil.chown(directory, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(binaries, directory, free_port(), as_user)
    try:
        cluster.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = directory / "log"
        detail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        stderr = getattr(exc, "stderr", b"") or b""
        return f"could not start PostgreSQL: {exc} {stderr.decode(errors='replace')[-300:]} {detail}"
    return cluster


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0]
    return f"{base}/{name}"
