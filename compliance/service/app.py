"""The HTTP API (FastAPI; OpenAPI at /docs): routes, authentication, limits, the decision log.

No `from __future__ import annotations` here: FastAPI reads the route signatures at run time,
and the dependencies are closures over this app's service.
"""

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from compliance.calendar import DEFAULT_CALENDAR, Calendar
from compliance.rules.packs import RuleBook, load_rulebook
from compliance.service.cases import Answer, CaseService, ServiceError
from compliance.service.db import Database
from compliance.service.decision_log import Entry
from compliance.service.limits import BodyLimit, RateLimiter, retry_after
from compliance.service.schemas import (
    CaseCreate,
    CaseStatusOut,
    CheckRequest,
    DeadlinesOut,
    DecisionOut,
    ErrorOut,
    RecordEvent,
    RecordOut,
)
from compliance.service.timing import ServerTiming
from compliance.service.tokens import Token, TokenVerifier

Lang = Literal["zh", "en"]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or unknown token"},
    403: {"model": ErrorOut, "description": "the token is not scoped to this jurisdiction"},
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ErrorOut, "description": "invalid case or event"},
    429: {"model": ErrorOut, "description": "rate limit; see Retry-After"},
}


@dataclass
class Settings:
    db: str | None = None
    max_body: int = 256 * 1024
    rate: float = 50.0  # requests per second per token, unless the token says otherwise


def create_app(
    settings: Settings | None = None, book: RuleBook | None = None, calendar: Calendar = DEFAULT_CALENDAR
) -> FastAPI:
    settings = settings or Settings()
    database = Database.connect(settings.db)
    service = CaseService(database, book or load_rulebook(), calendar)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(service.decision_log.close)
        database.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="compliance — validation hook",
        version="1",
        description="May this step happen now? Checks steps of land expropriation and land reserve cases against "
        "the rule packs, records allowed ones, and explains refusals with the rules and their citations.",
    )
    app.state.service = service
    app.state.database = database
    app.add_middleware(BodyLimit, max_bytes=settings.max_body)
    app.add_middleware(ServerTiming)  # added last: outermost, so it times the body limit too
    _errors_to_json(app, service)
    _routes(app, service, _authenticator(TokenVerifier(database), RateLimiter(settings.rate)))
    return app


def _authenticator(verifier: TokenVerifier, limiter: RateLimiter) -> Any:
    """The dependency that turns a bearer token into a `Token`, or refuses (401, 429)."""
    bearer = HTTPBearer(auto_error=False, description="an API token from `compliance tokens create`")
    Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

    async def authenticate(request: Request, credentials: Credentials) -> Token:
        # async: runs on the event loop, no thread hop per request. A cache miss reads one row.
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ServiceError(401, "unauthenticated", "send Authorization: Bearer <token>")
        token = verifier.verify(credentials.credentials)
        if token is None:
            raise ServiceError(401, "unauthenticated", "unknown or revoked token")
        request.state.token = token
        wait = limiter.acquire(token.id, token.rate)
        if wait > 0:
            raise ServiceError(429, "rate_limited", "too many requests for this token", {"retry_after": wait})
        return token

    return authenticate


def _errors_to_json(app: FastAPI, service: CaseService) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        token = getattr(request.state, "token", None)
        case_id = exc.case_id or request.path_params.get("case_id")
        service.log(Entry(token, request.method, request.url.path, case_id, exc.status, "error", None, exc.body()))
        headers = {"Retry-After": retry_after(exc.detail["retry_after"])} if exc.status == 429 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = ServiceError(422, "invalid_request", "the request body does not match the API", _errors(exc))
        return await service_error(request, error)


def _routes(app: FastAPI, service: CaseService, authenticate: Any) -> None:
    Auth = Annotated[Token, Depends(authenticate)]

    def respond(request: Request, token: Token, answer: Answer, case_id: str | None, body: Any = None) -> JSONResponse:
        if request.method != "POST" or "/events" not in request.url.path:
            # Recorded events are logged in their own transaction; everything else is queued here.
            service.log(Entry(token, request.method, request.url.path, case_id, answer.status, answer.decision, body,
                              _summary(answer.body), answer.event_id))  # fmt: skip
        headers = {"Idempotent-Replay": "true"} if answer.decision == "replay" else None
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/check", response_model=DecisionOut, responses=ERRORS, tags=["check"])
    async def check(request: Request, body: CheckRequest, token: Auth) -> JSONResponse:
        """Stateless: may `event` be recorded now in `case` (the case so far)? Nothing is stored but the log line."""
        # Pure computation, no I/O (the log line is queued): run it on the event loop, since a
        # thread hop costs more than it saves under the GIL. The planner (plan=true) takes tens
        # of milliseconds, so that variant goes to the thread pool.
        if body.plan:
            answer = await run_in_threadpool(service.check, token, body)
        else:
            answer = service.check(token, body)
        raw = (await request.body()).decode("utf-8", errors="replace")  # logged as asked, not re-serialised
        return respond(request, token, answer, str(body.case.get("case")), raw)

    @app.put("/v1/cases/{case_id}", responses={**ERRORS, 409: {"model": ErrorOut}}, tags=["cases"], status_code=201)
    def put_case(request: Request, case_id: str, body: CaseCreate, token: Auth) -> JSONResponse:
        """Create a case (jurisdiction, procedure, facts). The same body again is a no-op (200); another is 409."""
        answer = service.put_case(token, case_id, body)
        return respond(request, token, answer, case_id, body.model_dump(mode="json"))

    @app.post(
        "/v1/cases/{case_id}/events",
        response_model=RecordOut,
        status_code=201,
        responses={**ERRORS, 409: {"model": RecordOut, "description": "denied (not recorded), or event id reused"}},
        tags=["cases"],
    )
    def post_event(
        request: Request,
        case_id: str,
        body: RecordEvent,
        token: Auth,
        plan: Annotated[bool, Query(description="ask the planner whether the case can still comply")] = True,
        lang: Lang = "zh",
    ) -> JSONResponse:
        """Validate one event and record it when allowed; a denied event is refused (409) with its reasons
        unless `force.reason` is given, which is recorded with it. Posting the same `id` again replays the answer."""
        answer = service.record(token, case_id, body, plan, lang)
        return respond(request, token, answer, case_id)

    @app.get("/v1/cases/{case_id}", response_model=CaseStatusOut, responses=ERRORS, tags=["cases"])
    def get_case(
        request: Request,
        case_id: str,
        token: Auth,
        as_of: Annotated[dt.date | None, Query(description="day for deadlines and next steps (default: today)")] = None,
        lang: Lang = "zh",
    ) -> JSONResponse:
        """Findings so far, the steps allowed next, the open deadlines."""
        return respond(request, token, service.case_status(token, case_id, as_of, lang), case_id)

    @app.get("/v1/cases/{case_id}/deadlines", response_model=DeadlinesOut, responses=ERRORS, tags=["cases"])
    def get_deadlines(
        request: Request,
        case_id: str,
        token: Auth,
        as_of: Annotated[dt.date | None, Query(description="date that decides what is overdue")] = None,
        lang: Lang = "zh",
    ) -> JSONResponse:
        """The deadlines of steps not recorded yet, each with its rule and whether it is overdue."""
        return respond(request, token, service.deadlines(token, case_id, as_of, lang), case_id)


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    """What the log keeps of a large answer: the decision and its reasons, not every finding."""
    if "findings" in body:
        return {k: body[k] for k in ("verdict", "open_deadlines", "next_allowed_steps") if k in body}
    return body


def _errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
