"""The decision log: who asked what, and what was answered.

A recorded (or refused) event is logged inside the transaction that records it, so the
log and the case can never disagree. Everything else — checks, reads, refusals at the door
— is queued and written by one background thread in batches: a check then costs no
database commit on its request path. The queue is flushed on shutdown and every
`FLUSH_SECONDS`; a `kill -9` can lose the log lines of the last fraction of a second (never
an event). When the queue is full, callers write synchronously instead (backpressure).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from compliance.service.db import Database, DecisionLogRow
from compliance.service.tokens import Token

FLUSH_SECONDS = 0.05
MAX_BATCH = 500
MAX_QUEUE = 20_000


@dataclass
class Entry:
    token: Token | None
    method: str
    path: str
    case_id: str | None
    status: int
    decision: str | None = None
    request: Any = None  # JSON text as received, or a value to serialise (off the request path)
    answer: Any = None
    event_id: str | None = None

    def row(self) -> DecisionLogRow:
        request = self.request
        if request is not None and not isinstance(request, str):
            request = json.dumps(request, ensure_ascii=False, default=str)
        return DecisionLogRow(token_id=self.token.id if self.token else None,
                              token_name=self.token.name if self.token else None, method=self.method,
                              path=self.path, case_id=self.case_id, event_id=self.event_id,
                              status_code=self.status, decision=self.decision, request=request,
                              answer=self.answer)  # fmt: skip


class DecisionLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: queue.Queue[Entry | None] = queue.Queue(MAX_QUEUE)
        self._writer = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._writer.start()

    def add(self, session: Session, entry: Entry) -> None:
        """Log inside the caller's transaction (recorded events)."""
        session.add(entry.row())

    def enqueue(self, entry: Entry) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._write([entry])

    def flush(self) -> None:
        """Wait until everything queued so far is in the database."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get(timeout=FLUSH_SECONDS if len(batch) == 1 else 0)
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    self._queue.task_done()
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception as exc:  # the log must not take the service down
                print(f"decision log: could not write {len(batch)} entries: {exc}", file=sys.stderr)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, entries: list[Entry]) -> None:
        with self.db.write() as session:
            session.add_all([e.row() for e in entries])
            session.commit()

