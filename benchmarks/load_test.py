"""Load test of the validation-hook service, on loopback only; bounded in requests and time.

    .venv/bin/python benchmarks/load_test.py            # about a minute; SQLite in a temp dir
    .venv/bin/python benchmarks/load_test.py --db postgresql+psycopg://user@127.0.0.1:5432/db

Phases (each stops by itself):
1. check  — `POST /v1/check` driven open-loop at --rate requests/s for --check-seconds; the
   latency of a request counts from the moment it was due, so a server that falls behind
   is charged for the queue it causes (no coordinated omission);
2. record — `POST /v1/cases/{id}/events`: --clients clients post the events of compliant
   sample cases one by one (closed loop), each case's events in order;
3. crash  — the same posting, the server killed with SIGKILL once --kill-after events are
   acknowledged, restarted on the same database, then every acknowledged event must be
   there exactly once, and re-posting everything (idempotent) must complete every case.

Prints p50/p99 latency and throughput per phase and the crash verdict; exits 1 if an
acknowledged event was lost or doubled.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from compliance.service.process import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cases_samples"
RECORD_SAMPLES = [
    "changan-compliant-hearing",
    "changan-compliant-no-hearing",
    "erdao-compliant",
    "taojiang-acquisition-compliant",
    "jieyang-monetary-waiver-compliant",
    "changzhou-compliant",
]

WORKERS = 32  # client threads for the open-loop check phase


def create_token(db: str) -> str:
    done = subprocess.run([sys.executable, "-m", "compliance", "tokens", "create", "--db", db, "--jurisdiction", "*",
                           "--name", "load-test", "--rate", "1000000"],
                          cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return done.stdout.strip().splitlines()[0]


# --- workload ------------------------------------------------------------------------------------------


def load_sample(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return json.loads(json.dumps(doc, default=str))  # dates as ISO text


def check_bodies(seed: int) -> list[dict[str, Any]]:
    """Every (case so far, next event) of every sample: allowed and denied steps alike."""
    bodies = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        doc = load_sample(path.stem)
        events = doc.pop("events")
        for k in range(1, len(events)):
            bodies.append({"case": {**doc, "events": events[:k]}, "event": events[k]})
    random.Random(seed).shuffle(bodies)
    return bodies


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds
    server: list[float] = field(default_factory=list)  # seconds inside the server (Server-Timing)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency: float, status: int | None, server: float | None = None) -> None:
        with self.lock:
            if status is None:
                self.errors += 1
                return
            self.latencies.append(latency)
            if server is not None:
                self.server.append(server)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def line(self, name: str, elapsed: float) -> str:
        done = sorted(self.latencies)
        if not done:
            return f"{name}: no responses ({self.errors} errors)"
        p50, p99 = done[len(done) // 2], done[min(len(done) - 1, int(len(done) * 0.99))]
        return (f"{name:<7} n={len(done):<6} p50={p50 * 1000:6.1f} ms  p99={p99 * 1000:6.1f} ms  "
                f"max={done[-1] * 1000:6.1f} ms  mean={statistics.fmean(done) * 1000:5.1f} ms  "
                f"throughput={len(done) / elapsed:6.1f}/s  statuses={self.statuses}  errors={self.errors}"
                + self._server_line())  # fmt: skip

    def _server_line(self) -> str:
        inside = sorted(self.server)
        if not inside:
            return ""
        p50, p99 = inside[len(inside) // 2], inside[min(len(inside) - 1, int(len(inside) * 0.99))]
        return (f"\n        inside the app (Server-Timing): p50={p50 * 1000:6.1f} ms  p99={p99 * 1000:6.1f} ms  "
                f"max={inside[-1] * 1000:6.1f} ms")  # fmt: skip


def server_time(response: httpx.Response) -> float | None:
    timing = response.headers.get("server-timing", "")
    if "dur=" not in timing:
        return None
    return float(timing.split("dur=")[1].split(",")[0]) / 1000


_local = threading.local()


def client(base: str, token: str) -> httpx.Client:
    """One keep-alive connection per worker thread."""
    if getattr(_local, "client", None) is None or _local.base != base:
        _local.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        _local.base = base
    return _local.client


def run_checks(pool: ThreadPoolExecutor, base: str, token: str, rate: float, seconds: float,
               seed: int) -> tuple[Stats, float]:  # fmt: skip
    bodies = check_bodies(seed)
    total = int(rate * seconds)
    stats = Stats()
    # The client's own collector pauses would be charged to the server: keep it quiet.
    gc.collect()
    gc.freeze()

    def one(index: int, due: float) -> None:
        try:
            response = client(base, token).post("/v1/check", json=bodies[index % len(bodies)])
            stats.add(time.perf_counter() - due, response.status_code, server_time(response))
        except httpx.HTTPError:
            stats.add(0, None)

    start = time.perf_counter() + 0.05
    futures = []
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        futures.append(pool.submit(one, index, due))
    for future in futures:
        future.result()
    return stats, time.perf_counter() - start


def warm_up(pool: ThreadPoolExecutor, workers: int, base: str, token: str) -> None:
    """Open every worker's connection before measuring: creating an HTTP client is not the server's time."""
    barrier = threading.Barrier(workers)

    def ready() -> None:
        client(base, token).get("/healthz")
        barrier.wait(timeout=30)

    for future in [pool.submit(ready) for _ in range(workers)]:
        future.result()


def case_events(prefix: str, count: int) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    cases = []
    for n in range(count):
        doc = load_sample(RECORD_SAMPLES[n % len(RECORD_SAMPLES)])
        body = {"jurisdiction": doc["jurisdiction"], "procedure": doc["procedure"], "title": doc.get("title"),
                "facts": doc.get("facts") or {}}  # fmt: skip
        cases.append((f"{prefix}-{n}", body, doc["events"]))
    return cases


def post_case(base: str, token: str, case: tuple[str, dict[str, Any], list[dict[str, Any]]], stats: Stats | None,
              acked: list[str], stop: threading.Event) -> None:  # fmt: skip
    case_id, body, events = case
    http = client(base, token)
    try:
        http.put(f"/v1/cases/{case_id}", json=body).raise_for_status()
        for index, event in enumerate(events):
            if stop.is_set():
                return
            event_id = f"{case_id}-{index}"
            began = time.perf_counter()
            response = http.post(f"/v1/cases/{case_id}/events?plan=false", json={**event, "id": event_id})
            if stats is not None:
                stats.add(time.perf_counter() - began, response.status_code, server_time(response))
            if response.status_code != 201:
                return
            acked.append(event_id)
    except httpx.HTTPError:
        if stats is not None:
            stats.add(0, None)
        return


def run_records(base: str, token: str, cases: int, clients: int) -> tuple[Stats, float]:
    stats = Stats()
    stop = threading.Event()
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for case in case_events("REC", cases):
            pool.submit(post_case, base, token, case, stats, [], stop)
    return stats, time.perf_counter() - start


def run_crash(server: ServiceProcess, token: str, cases: int, clients: int, kill_after: int) -> tuple[bool, str]:
    plan = case_events("CRASH", cases)
    acked: dict[str, list[str]] = {case_id: [] for case_id, _, _ in plan}
    stop = threading.Event()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(post_case, server.url, token, case, None, acked[case[0]], stop) for case in plan]
        deadline = time.monotonic() + 60
        while sum(map(len, acked.values())) < kill_after and time.monotonic() < deadline:
            if all(f.done() for f in futures):
                break
            time.sleep(0.005)
        server.kill()
        stop.set()
        for future in futures:
            future.result()
    acknowledged = sum(map(len, acked.values()))
    server.start()
    lost, doubled, extra = [], [], 0
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    for case_id, _, _events in plan:
        response = http.get(f"/v1/cases/{case_id}")
        stored = [e["id"] for e in response.json()["events"]] if response.status_code == 200 else []
        lost += [i for i in acked[case_id] if i not in stored]
        doubled += [i for i in set(stored) if stored.count(i) > 1]
        extra += len(stored) - len(acked[case_id])
    complete = 0
    for case_id, body, events in plan:  # re-post everything: replays for what is stored, the rest recorded
        http.put(f"/v1/cases/{case_id}", json=body).raise_for_status()
        codes = [http.post(f"/v1/cases/{case_id}/events?plan=false", json={**e, "id": f"{case_id}-{i}"}).status_code
                 for i, e in enumerate(events)]  # fmt: skip
        stored = [e["id"] for e in http.get(f"/v1/cases/{case_id}").json()["events"]]
        complete += codes == [201] * len(events) and stored == [f"{case_id}-{i}" for i in range(len(events))]
    ok = not lost and not doubled and complete == len(plan)
    report = (f"crash   acknowledged before kill -9: {acknowledged}; after restart lost={len(lost)} "
              f"doubled={len(doubled)} in-flight-but-stored={extra}; "
              f"cases completed by re-posting: {complete}/{len(plan)} -> {'OK' if ok else 'FAILED'}")  # fmt: skip
    return ok, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--rate", type=float, default=200.0, help="check requests per second")
    parser.add_argument("--check-seconds", type=float, default=20.0)
    parser.add_argument("--record-cases", type=int, default=36)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--crash-cases", type=int, default=16)
    parser.add_argument("--kill-after", type=int, default=80)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = parser.parse_args()
    if args.rate * args.check_seconds > 50_000 or args.record_cases > 1000 or args.crash_cases > 1000:
        parser.error("bounded by design: at most 50000 checks and 1000 cases per phase")

    workdir = Path(tempfile.mkdtemp(prefix="compliance-load-"))
    db = args.db or str(workdir / "service.db")
    server = ServiceProcess(db, free_port(), ("--rate", "1000000", "--workers", str(args.workers)), cwd=ROOT)
    watchdog = threading.Timer(600, lambda: (server.kill(), os._exit(3)))  # a hard stop, whatever happens
    watchdog.daemon = True
    watchdog.start()
    try:
        token = create_token(db)
        server.start()
        print(f"server {server.url}  workers {args.workers}  db {db.split('@')[-1]}  "
              f"python {sys.version.split()[0]}  cpus {os.cpu_count()}  load {os.getloadavg()[0]:.2f}")
        with ThreadPoolExecutor(WORKERS) as pool:
            warm_up(pool, WORKERS, server.url, token)
            run_checks(pool, server.url, token, 50, 2, args.seed + 1)  # warm-up, not reported
            stats, elapsed = run_checks(pool, server.url, token, args.rate, args.check_seconds, args.seed)
        print(f"check   offered {args.rate:.0f}/s for {args.check_seconds:.0f}s (open loop, latency from due time)")
        print(stats.line("check", elapsed))
        stats, elapsed = run_records(server.url, token, args.record_cases, args.clients)
        print(f"record  {args.record_cases} cases, {args.clients} concurrent clients (closed loop)")
        print(stats.line("record", elapsed))
        ok, report = run_crash(server, token, args.crash_cases, args.clients, args.kill_after)
        print(report)
        return 0 if ok else 1
    finally:
        server.stop()
        watchdog.cancel()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
