"""The planner for multi-threaded callers: z3 in a process of its own.

z3's Python API works on one global context that is not thread-safe, and it releases the
GIL inside every call — including the reference-count decrements that garbage collection
runs on whatever thread it happens to be on. A planner call on one thread and a collection
of old z3 terms on another can then corrupt the context (a segfault seen under the
service's concurrent posts). So the validation hook, when its process has other threads,
plans in a single worker process; a single-threaded caller (the CLI) plans inline.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compliance.calendar import Calendar
from compliance.model import Case
from compliance.rules.packs import RuleBook, load_rulebook

_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or getattr(_POOL, "_broken", False):
            # spawn, not fork: a fork of a multi-threaded process could inherit a lock held mid-call.
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            with _neutral_main():
                pool.submit(int).result()  # start the worker now, while __main__ is neutral
            _POOL = pool
        return _POOL


@contextmanager
def _neutral_main() -> Iterator[None]:
    """A spawned worker re-imports the caller's __main__ (a script run without a main guard, a
    stdin script that has no file); the planner needs none of it, so the worker gets an empty one."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _plain(case: Case, book: RuleBook, calendar: Calendar, lang: str) -> tuple[bool, dict[str, Any]]:
    from compliance.planning.planner import plan_case

    result = plan_case(case, book, calendar, lang=lang)
    return bool(result.feasible), result.to_json()


def _in_worker(case: Case, rules_dir: str, calendar: Calendar, lang: str) -> tuple[bool, dict[str, Any]]:
    return _plain(case, load_rulebook(Path(rules_dir)), calendar, lang)  # the book is cached per worker


def plan_plainly(case: Case, book: RuleBook, calendar: Calendar, lang: str) -> tuple[bool, dict[str, Any]]:
    """`plan_case` reduced to plain data (feasible, CASES.md §5 JSON), safe from any thread."""
    if threading.active_count() == 1:
        return _plain(case, book, calendar, lang)
    return _pool().submit(_in_worker, case, str(book.directory), calendar, lang).result()
