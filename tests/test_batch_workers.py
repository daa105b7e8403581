"""Batch worker processes: each with one Polars thread runs on a CPU of its own."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

from compliance import batch
from compliance.engine.batch_worker import preload

PIN_AND_REPORT = """
import json, os, threading
import polars as pl
from compliance.engine.batch_worker import pin_threads
pl.DataFrame({"a": [1, 2]}).select(pl.col("a") + 1)  # Polars' own threads exist before pinning
pin_threads(int(os.environ["CPU"]))
later = threading.Thread(target=lambda: None)
later.start(); later.join()
threads = {int(t): sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}
print(json.dumps(sorted({tuple(cpus) for cpus in threads.values()}) + [sorted(os.sched_getaffinity(0))]))
"""


def test_pinning_puts_every_thread_of_the_process_on_one_cpu():
    cpu = max(os.sched_getaffinity(0))
    done = subprocess.run(
        [sys.executable, "-c", PIN_AND_REPORT], capture_output=True, text=True, env={**os.environ, "CPU": str(cpu)}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[cpu], [cpu]]


def _own_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def test_each_worker_takes_the_next_cpu_of_the_list():
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    context = multiprocessing.get_context("spawn")
    started = context.Value("i", 0)
    with ProcessPoolExecutor(2, mp_context=context, initializer=preload, initargs=(None, None, cpus, started)) as pool:
        seen = {tuple(f.result()) for f in [pool.submit(_own_cpus) for _ in range(4)]}
    assert started.value == 2
    assert seen <= {(cpus[0],), (cpus[1 % len(cpus)],)}


def test_workers_are_pinned_only_with_one_polars_thread_each(monkeypatch):
    monkeypatch.setenv("POLARS_MAX_THREADS", "1")
    assert batch._pinnable()
    monkeypatch.setenv("POLARS_MAX_THREADS", "2")
    assert not batch._pinnable()
