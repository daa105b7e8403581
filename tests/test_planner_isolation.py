"""The planner from a multi-threaded process runs in its own worker process, with the same answer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from compliance.calendar import DEFAULT_CALENDAR
from compliance.model import load_case
from compliance.planning.isolated import plan_plainly
from compliance.rules.packs import load_rulebook
from tests.conftest import ROOT

BOOK = load_rulebook()
SCHEDULE = load_case(ROOT / "tests" / "data" / "plan" / "hearing-open.yaml", BOOK.vocabulary)


def test_planning_from_threads_gives_the_inline_answer():
    inline = plan_plainly(SCHEDULE, BOOK, DEFAULT_CALENDAR, "zh") if threading.active_count() == 1 else None
    with ThreadPoolExecutor(4) as pool:  # several threads: the worker-process path
        answers = list(pool.map(lambda _: plan_plainly(SCHEDULE, BOOK, DEFAULT_CALENDAR, "zh"), range(4)))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0][0] is True and answers[0][1]["schedule"]
    if inline is not None:
        assert inline == answers[0]
