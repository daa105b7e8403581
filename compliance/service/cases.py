"""The service's work, free of HTTP: cases, recorded events, checks, and the decision log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.engine.durable import CaseHeader
from compliance.hook import Decision, Hook, check_step
from compliance.model import case_from_mapping
from compliance.rules.packs import RuleBook
from compliance.service.cache import HookCache
from compliance.service.db import CaseRow, Database, EventRow
from compliance.service.decision_log import DecisionLog, Entry
from compliance.service.schemas import CaseCreate, CheckRequest, RecordEvent
from compliance.service.tokens import Token
from compliance.sourcefile import InputError

T = TypeVar("T")

BEIJING = ZoneInfo("Asia/Shanghai")
IDEMPOTENCY_RETRIES = 3


class ServiceError(Exception):
    """An answer other than success: HTTP status, a stable code, a message, details."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None, case_id: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.case_id = status, code, message, detail, case_id

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    decision: str | None = None  # allow | deny | error, for the log
    event_id: str | None = None


def today_in_beijing() -> dt.date:
    return dt.datetime.now(BEIJING).date()


def body_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class CaseService:
    def __init__(self, db: Database, book: RuleBook, calendar: Calendar = DEFAULT_CALENDAR) -> None:
        self.db = db
        self.book = book
        self.calendar = calendar
        self.cache = HookCache()
        self.decision_log = DecisionLog(db)
        self.jurisdictions = {j for p in book.packs for j in p.spec.jurisdictions}

    # --- cases --------------------------------------------------------------------------------
    def put_case(self, token: Token, case_id: str, body: CaseCreate) -> Answer:
        self._allow(token, body.jurisdiction, case_id)
        if body.jurisdiction not in self.jurisdictions:
            raise ServiceError(422, "unknown_jurisdiction", f"unknown jurisdiction {body.jurisdiction!r}",
                               sorted(self.jurisdictions), case_id)  # fmt: skip
        header = CaseHeader(case_id, body.procedure, body.jurisdiction, body.title, dict(body.facts))
        try:
            case_from_mapping(header.mapping([]), self.book.vocabulary, f"case {case_id}")
        except InputError as exc:
            raise ServiceError(422, "invalid_case", str(exc), exc.to_json(), case_id) from exc
        for _ in range(IDEMPOTENCY_RETRIES):
            try:
                with self.db.write() as session:
                    existing = self.db.lock_case(session, case_id)
                    if existing is not None:
                        same = (existing.jurisdiction, existing.procedure, existing.title, existing.facts) == (
                            body.jurisdiction, body.procedure, body.title, body.facts)  # fmt: skip
                        if not same:
                            raise ServiceError(409, "case_exists", f"case {case_id} exists with other details",
                                               _case_json(existing), case_id)  # fmt: skip
                        return Answer(200, {"case": _case_json(existing), "created": False})
                    row = CaseRow(id=case_id, jurisdiction=body.jurisdiction, procedure=body.procedure,
                                  title=body.title, facts=dict(body.facts), version=0, created_by=token.id)  # fmt: skip
                    session.add(row)
                    session.commit()
                    return Answer(201, {"case": _case_json(row), "created": True})
            except IntegrityError:
                continue  # created concurrently: look again
        raise ServiceError(503, "busy", "could not create the case; retry")

    def _with_hook(
        self, token: Token, case_id: str, lang: str, use: Callable[[Hook], T]
    ) -> tuple[CaseRow, list[EventRow], T]:
        """The stored case, its events, and `use` applied to its (cached) hook under the case's lock."""
        with self.db.read() as session:
            case, events = self._read_case(session, token, case_id)
            slot = self.cache.slot((case_id, lang))
            with slot.lock:
                hook = slot.current(len(events), lambda: self._build(case, events, lang))
                return case, events, use(hook)

    def case_status(self, token: Token, case_id: str, as_of: dt.date | None, lang: str) -> Answer:
        day = as_of or today_in_beijing()
        case, events, (result, deadlines, steps) = self._with_hook(
            token, case_id, lang, lambda hook: (hook.session.result(), hook.open_deadlines(day), hook.next_steps(day))
        )
        body = {
            "case": _case_json(case),
            "as_of": day.isoformat(),
            "verdict": result.verdict,
            "packs": result.packs,
            "error": result.error,
            "events": [_event_json(e) for e in events],
            "findings": [f.to_json() for f in result.findings],
            "open_deadlines": [d.to_json() for d in deadlines],
            "next_allowed_steps": [s for s in steps if s["allowed"]],
            "blocked_steps": [s for s in steps if not s["allowed"]],
        }
        return Answer(200, body)

    def deadlines(self, token: Token, case_id: str, as_of: dt.date | None, lang: str) -> Answer:
        day = as_of or today_in_beijing()
        _case, _events, deadlines = self._with_hook(token, case_id, lang, lambda hook: hook.open_deadlines(day))
        return Answer(200, {"case": case_id, "as_of": day.isoformat(), "deadlines": [d.to_json() for d in deadlines]})

    # --- recording ------------------------------------------------------------------------------
    def record(self, token: Token, case_id: str, payload: RecordEvent, plan: bool, lang: str) -> Answer:
        """Validate and record one event; idempotent per event id; serialised per case by the database."""
        raw = payload.model_dump(mode="json", exclude={"force"}, exclude_none=True)
        digest = body_hash(payload.model_dump(mode="json"))
        for _ in range(IDEMPOTENCY_RETRIES):
            try:
                return self._record_once(token, case_id, payload, raw, digest, plan, lang)
            except IntegrityError:
                continue  # the same id won a race on a database without the row lock: replay it
        raise ServiceError(503, "busy", "could not record the event; retry", case_id=case_id)

    def _record_once(
        self, token: Token, case_id: str, payload: RecordEvent, raw: dict[str, Any], digest: str, plan: bool, lang: str
    ) -> Answer:
        with self.db.write() as session:
            case = self.db.lock_case(session, case_id)
            if case is None:
                raise ServiceError(404, "no_case", f"no case {case_id}", case_id=case_id)
            self._allow(token, case.jurisdiction, case_id)
            existing = session.scalars(
                select(EventRow).where(EventRow.case_id == case_id, EventRow.event_id == payload.id)
            ).first()
            if existing is not None:
                if existing.body_hash != digest:
                    raise ServiceError(409, "event_id_reused", f"event id {payload.id} was recorded with another body",
                                       {"recorded": existing.body}, case_id)  # fmt: skip
                answer = dict(existing.answer, replayed=True)
                self._log(session, token, "POST", f"/v1/cases/{case_id}/events", case_id, payload.id,
                          existing.status_code, "replay", raw, answer)  # fmt: skip
                session.commit()  # only the log line: a replay records nothing
                return Answer(existing.status_code, answer, "replay", payload.id)
            self._require_complete_period(case, raw)
            slot = self.cache.slot((case_id, lang))
            with slot.lock:
                hook = slot.current(case.version, lambda: self._build(case, self._events(session, case_id), lang))
                try:
                    decision, update = hook.check(raw, plan=plan)
                except InputError as exc:
                    raise ServiceError(422, "invalid_event", str(exc), exc.to_json(), case_id) from exc
                if decision.error is not None:
                    hook.discard(update)
                    raise ServiceError(422, "cannot_check", decision.error, decision.to_json(lang), case_id)
                forced = not decision.allowed and payload.force is not None
                if not (decision.allowed or forced):
                    hook.discard(update)
                    answer = {"recorded": False, "forced": False, "replayed": False, "decision": decision.to_json(lang)}
                    self._log(session, token, "POST", f"/v1/cases/{case_id}/events", case_id, payload.id, 409,
                              "deny", raw, answer)  # fmt: skip
                    session.commit()
                    return Answer(409, answer, "deny", payload.id)
                stored = (raw, digest, decision, forced)
                return self._store(session, slot, hook, update, case, token, payload, stored, lang)

    def _store(
        self, session: Session, slot: Any, hook: Hook, update: Any, case: CaseRow, token: Token,
        payload: RecordEvent, stored: tuple[dict[str, Any], str, Decision, bool], lang: str,
    ) -> Answer:  # fmt: skip
        raw, digest, decision, forced = stored
        seq = case.version + 1
        answer = {"recorded": True, "forced": forced, "replayed": False, "seq": seq, "decision": decision.to_json(lang)}
        if forced:
            answer["force_reason"] = payload.force.reason if payload.force else None
        session.add(EventRow(case_id=case.id, seq=seq, event_id=payload.id, body=raw, body_hash=digest, forced=forced,
                             force_reason=answer.get("force_reason"), status_code=201, answer=answer,
                             token_id=token.id))  # fmt: skip
        case.version = seq
        self._log(session, token, "POST", f"/v1/cases/{case.id}/events", case.id, payload.id, 201,
                  "forced" if forced else "allow", raw, answer)  # fmt: skip
        try:
            session.commit()
        except BaseException:
            hook.discard(update)
            slot.invalidate()
            raise
        hook.commit(update)  # only now: the session follows what the database acknowledged
        slot.version = seq
        return Answer(201, answer, "allow", payload.id)

    # --- stateless check ------------------------------------------------------------------------
    def check(self, token: Token, request: CheckRequest) -> Answer:
        try:
            case = case_from_mapping(dict(request.case), self.book.vocabulary, "request.case")
        except InputError as exc:
            raise ServiceError(422, "invalid_case", str(exc), exc.to_json()) from exc
        self._allow(token, case.jurisdiction, case.id)
        event = request.event.model_dump(mode="json", exclude_none=True)
        try:
            decision = check_step(case, event, plan=request.plan, context=request.context, lang=request.lang,
                                  calendar=self.calendar, rules=self.book)  # fmt: skip
        except InputError as exc:
            raise ServiceError(422, "invalid_event", str(exc), exc.to_json(), case.id) from exc
        return Answer(200, decision.to_json(request.lang), decision.verdict, event.get("id"))

    # --- the decision log -------------------------------------------------------------------------
    def log(self, entry: Entry) -> None:
        """Log a request that recorded nothing (queued; see `decision_log`)."""
        self.decision_log.enqueue(entry)

    def _log(self, session: Session, token: Token | None, method: str, path: str, case_id: str | None,
             event_id: str | None, status: int, decision: str | None, request: Any, answer: Any) -> None:  # fmt: skip
        self.decision_log.add(session, Entry(token, method, path, case_id, status, decision, request, answer, event_id))

    # --- helpers -----------------------------------------------------------------------------------
    def _allow(self, token: Token, jurisdiction: str, case_id: str | None) -> None:
        if not token.may_access(jurisdiction):
            raise ServiceError(403, "forbidden", f"this token may not access {jurisdiction} cases", case_id=case_id)

    def _read_case(self, session: Session, token: Token, case_id: str) -> tuple[CaseRow, list[EventRow]]:
        case = session.get(CaseRow, case_id)
        if case is None:
            raise ServiceError(404, "no_case", f"no case {case_id}", case_id=case_id)
        self._allow(token, case.jurisdiction, case_id)
        return case, self._events(session, case_id)

    @staticmethod
    def _events(session: Session, case_id: str) -> list[EventRow]:
        return list(session.scalars(select(EventRow).where(EventRow.case_id == case_id).order_by(EventRow.seq)))

    def _build(self, case: CaseRow, events: list[EventRow], lang: str) -> Hook:
        header = CaseHeader(case.id, case.procedure, case.jurisdiction, case.title, dict(case.facts or {}))
        return Hook.for_case(header, [e.body for e in events], self.book, self.calendar, lang)

    def _require_complete_period(self, case: CaseRow, raw: dict[str, Any]) -> None:
        step = self.book.vocabulary.resolve(str(raw.get("step", "")), case.procedure)
        if step is not None and step.is_period and raw.get("start") and not raw.get("end"):
            raise ServiceError(422, "period_without_end", f"{step.id} is a period: record it with its end "
                               "(ask POST /v1/check about a period under way)", case_id=case.id)  # fmt: skip


def _case_json(case: CaseRow) -> dict[str, Any]:
    return {
        "id": case.id,
        "jurisdiction": case.jurisdiction,
        "procedure": case.procedure,
        "title": case.title,
        "facts": case.facts or {},
        "version": case.version,
    }


def _event_json(row: EventRow) -> dict[str, Any]:
    data = {"seq": row.seq, "id": row.event_id, **{k: v for k, v in row.body.items() if k != "id"}}
    if row.forced:
        data["forced"] = True
        data["force_reason"] = row.force_reason
    return data
