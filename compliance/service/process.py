"""`compliance serve` as a child process on a loopback port: started, waited for, stopped or
killed with -9. The crash-restart tests and the load test drive the real server this way."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class ServiceProcess:
    def __init__(self, db: str, port: int | None = None, extra: tuple[str, ...] = (), cwd: Path | None = None) -> None:
        self.db = db
        self.port = port or free_port()
        self.extra = extra
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60) -> ServiceProcess:
        command = [sys.executable, "-m", "compliance", "serve", "--host", LOOPBACK, "--port", str(self.port),
                   "--db", self.db, *self.extra]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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
