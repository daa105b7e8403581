"""Concurrent posts to one case never lose or double an event (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from compliance.rules.packs import load_rulebook
from compliance.service.cases import CaseService
from compliance.service.db import CaseRow, Database, EventRow
from compliance.service.schemas import CaseCreate, RecordEvent
from compliance.service.tokens import Token
from tests.service_support import db_url  # noqa: F401 - a fixture

TOKEN = Token(1, "test", ("xian-changan",), None)
CASE = CaseCreate(jurisdiction="xian-changan", procedure="collective-expropriation")
THREADS = 8
PER_THREAD = 6


def _service(url: str) -> CaseService:
    return CaseService(Database.connect(url), load_rulebook())


def _event(thread: int, index: int) -> RecordEvent:
    # Forced, so that every post is recorded whatever order the threads reach the database in.
    return RecordEvent(id=f"t{thread}-{index}", step="land_use_application", date=f"2024-05-{1 + index:02d}",
                       data={"thread": thread}, force={"reason": "concurrency test"})  # fmt: skip


def test_concurrent_posts_to_one_case_are_each_recorded_once(db_url):  # noqa: F811
    service = _service(db_url)
    service.put_case(TOKEN, "C-1", CASE)
    start = threading.Barrier(THREADS)

    def post_all(thread: int) -> list[int]:
        start.wait()
        return [service.record(TOKEN, "C-1", _event(thread, i), plan=False, lang="zh").status
                for i in range(PER_THREAD)]  # fmt: skip

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [s for result in pool.map(post_all, range(THREADS)) for s in result]
    assert statuses == [201] * (THREADS * PER_THREAD)
    with service.db.read() as session:
        rows = session.scalars(select(EventRow).where(EventRow.case_id == "C-1")).all()
        version = session.get(CaseRow, "C-1").version
    assert version == len(rows) == THREADS * PER_THREAD
    assert sorted(r.seq for r in rows) == list(range(1, THREADS * PER_THREAD + 1))
    assert Counter(r.event_id for r in rows).most_common(1)[0][1] == 1
    # The live session followed the database: its findings are those of the stored events.
    status = service.case_status(TOKEN, "C-1", None, "zh").body
    assert len(status["events"]) == THREADS * PER_THREAD
    service.db.dispose()


def test_the_same_event_posted_concurrently_is_recorded_once_and_answered_alike(db_url):  # noqa: F811
    service = _service(db_url)
    service.put_case(TOKEN, "C-2", CASE)
    event = RecordEvent(id="same", step="land_use_application", date="2024-05-20")
    start = threading.Barrier(THREADS)

    def post(_: int):
        start.wait()
        answer = service.record(TOKEN, "C-2", event, plan=False, lang="zh")
        return answer.status, answer.body["seq"], answer.body["decision"]["decision"]

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(post, range(THREADS)))
    assert set(answers) == {(201, 1, "allow")}
    with service.db.read() as session:
        assert len(session.scalars(select(EventRow).where(EventRow.case_id == "C-2")).all()) == 1
    service.db.dispose()


def test_concurrent_case_creation_creates_one_case(db_url):  # noqa: F811
    service = _service(db_url)
    start = threading.Barrier(THREADS)

    def create(_: int) -> int:
        start.wait()
        return service.put_case(TOKEN, "C-3", CASE).status

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = sorted(pool.map(create, range(THREADS)))
    assert statuses == [200] * (THREADS - 1) + [201]
    service.db.dispose()


def test_posts_to_several_cases_with_the_planner_run_side_by_side(db_url):  # noqa: F811
    """The planner (z3, one global context) is asked from many request threads at once."""
    from tests.service_support import json_events, sample_doc

    doc = sample_doc("changan-compliant-no-hearing")
    events = json_events(doc)[:8]
    service = _service(db_url)
    for n in range(4):
        service.put_case(TOKEN, f"P-{n}", CASE)
    start = threading.Barrier(4)

    def post_all(n: int) -> list[tuple[int, bool | None]]:
        start.wait()
        answers = []
        for index, event in enumerate(events):
            answer = service.record(TOKEN, f"P-{n}", RecordEvent(id=f"p{index}", **event), plan=True, lang="zh")
            answers.append((answer.status, answer.body["decision"]["can_comply"]))
        return answers

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(post_all, range(4)))
    assert all(answers == [(201, True)] * len(events) for answers in results)
    service.db.dispose()
