"""The HTTP API on SQLite and PostgreSQL: auth scoping, idempotency, refusals, force, limits, the log."""

from __future__ import annotations

import json
import warnings

import pytest
from sqlalchemy import select

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx in its test client
    from fastapi.testclient import TestClient

from compliance.service import Settings, create_app
from compliance.service.db import Database, DecisionLogRow, EventRow
from compliance.service.tokens import create_token, revoke_token
from tests.service_support import case_body, db_url, json_events, sample_doc  # noqa: F401 - db_url is a fixture

LATE = sample_doc("changan-late-hearing")
JIEYANG = sample_doc("jieyang-committee-no-quorum")


@pytest.fixture
def api(db_url):  # noqa: F811
    app = create_app(Settings(db=db_url, max_body=64 * 1024, rate=1000))
    database = Database.connect(db_url)
    changan, _ = create_token(database, ["xian-changan"], name="changan-oa")
    jieyang, _ = create_token(database, ["jieyang"], name="jieyang-oa")
    client = TestClient(app)
    yield client, database, {"changan": _bearer(changan), "jieyang": _bearer(jieyang)}, app
    client.close()
    app.state.database.dispose()
    database.dispose()


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _create(client, headers, case_id="CA-1", doc=LATE):
    response = client.put(f"/v1/cases/{case_id}", json=case_body(doc), headers=headers)
    assert response.status_code in (200, 201), response.text
    return response


def _post(client, headers, event, case_id="CA-1", plan="false", **extra):
    return client.post(f"/v1/cases/{case_id}/events?plan={plan}", json={**event, **extra}, headers=headers)


def test_posting_a_sample_one_by_one_denies_the_late_hearing(api):
    client, _, tokens, _ = api
    _create(client, tokens["changan"])
    answers = []
    for index, event in enumerate(json_events(LATE)):
        response = _post(client, tokens["changan"], event, id=f"e{index}")
        answers.append((event["step"], response.status_code, response.json()))
        if event["step"] == "hearing":
            break
    assert [code for step, code, _ in answers if step != "hearing"] == [201] * (len(answers) - 1)
    _step, code, body = answers[-1]
    assert code == 409 and body["recorded"] is False
    assert body["decision"]["broken"][0]["rule"] == "changan.hearing-window"
    request = next(b for s, _, b in answers if s == "hearing_request")
    assert any(d["message"] == "听证会最迟2024-10-08（不早于2024-09-12）" for d in request["decision"]["deadlines"])
    status = client.get("/v1/cases/CA-1?as_of=2024-10-09", headers=tokens["changan"]).json()
    assert len(status["events"]) == len(answers) - 1  # the denied hearing was not recorded
    assert any(d["step"] == "hearing" and d["overdue"] for d in status["open_deadlines"])
    deadlines = client.get("/v1/cases/CA-1/deadlines?as_of=2024-10-01", headers=tokens["changan"]).json()
    assert [d["latest"] for d in deadlines["deadlines"] if d["step"] == "hearing"] == ["2024-10-08"]


def test_a_forced_event_is_recorded_with_its_reason(api):
    client, database, tokens, _ = api
    _create(client, tokens["changan"])
    events = json_events(LATE)
    hearing = next(i for i, e in enumerate(events) if e["step"] == "hearing")
    for index, event in enumerate(events[: hearing + 1]):
        extra = {"force": {"reason": "区政府批准延期"}} if index == hearing else {}
        response = _post(client, tokens["changan"], event, id=f"e{index}", **extra)
        assert response.status_code == 201, response.text
    body = response.json()
    assert body["forced"] and body["force_reason"] == "区政府批准延期" and not body["decision"]["allowed"]
    with database.read() as session:
        row = session.scalars(select(EventRow).where(EventRow.event_id == f"e{hearing}")).one()
        assert row.forced and row.force_reason == "区政府批准延期"
    status = client.get("/v1/cases/CA-1", headers=tokens["changan"]).json()
    assert status["events"][-1]["forced"] and status["verdict"] == "violations"


def test_event_ids_make_posting_idempotent(api):
    client, database, tokens, _ = api
    _create(client, tokens["changan"])
    first_event = json_events(LATE)[0]
    first = _post(client, tokens["changan"], first_event, id="a")
    again = _post(client, tokens["changan"], first_event, id="a")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replay") == "true"
    assert again.json()["seq"] == first.json()["seq"] == 1
    assert again.json()["decision"] == first.json()["decision"]
    other = _post(client, tokens["changan"], {**first_event, "date": "2024-05-21"}, id="a")
    assert other.status_code == 409 and other.json()["error"]["code"] == "event_id_reused"
    with database.read() as session:
        assert len(session.scalars(select(EventRow)).all()) == 1


def test_a_case_is_created_once(api):
    client, _, tokens, _ = api
    assert _create(client, tokens["changan"]).status_code == 201
    assert _create(client, tokens["changan"]).status_code == 200
    changed = client.put("/v1/cases/CA-1", json={**case_body(LATE), "facts": {"x": 1}}, headers=tokens["changan"])
    assert changed.status_code == 409
    unknown = client.put("/v1/cases/CA-2", json={**case_body(LATE), "procedure": "nope"}, headers=tokens["changan"])
    assert unknown.status_code == 422


def test_tokens_are_scoped_to_their_jurisdictions(api):
    client, _, tokens, _ = api
    _create(client, tokens["changan"])
    _create(client, tokens["jieyang"], "JY-1", JIEYANG)
    event = json_events(LATE)[0]
    assert client.get("/v1/cases/CA-1", headers=tokens["jieyang"]).status_code == 403
    assert client.get("/v1/cases/CA-1/deadlines", headers=tokens["jieyang"]).status_code == 403
    assert _post(client, tokens["jieyang"], event, id="x").status_code == 403
    assert client.put("/v1/cases/CA-9", json=case_body(LATE), headers=tokens["jieyang"]).status_code == 403
    assert client.get("/v1/cases/JY-1", headers=tokens["changan"]).status_code == 403
    check = {"case": {"case": "CA-1", "jurisdiction": "xian-changan", "procedure": "collective-expropriation",
                      "events": []}, "event": event}  # fmt: skip
    assert client.post("/v1/check", json=check, headers=tokens["jieyang"]).status_code == 403
    assert client.post("/v1/check", json=check, headers=tokens["changan"]).status_code == 200
    assert client.get("/v1/cases/JY-1", headers=tokens["jieyang"]).status_code == 200


def test_missing_unknown_and_revoked_tokens_are_refused(api, db_url):  # noqa: F811
    client, database, _tokens, _ = api
    assert client.get("/v1/cases/CA-1").status_code == 401
    assert client.get("/v1/cases/CA-1", headers=_bearer("cpl_nope")).status_code == 401
    secret, token = create_token(database, ["xian-changan"])
    revoke_token(database, token.id)
    fresh = TestClient(create_app(Settings(db=db_url)))  # a new process: no cached lookups
    assert fresh.get("/v1/cases/CA-1", headers=_bearer(secret)).status_code == 401
    fresh.app.state.database.dispose()


def test_stateless_check_answers_without_storing(api):
    client, database, tokens, _ = api
    events = json_events(LATE)
    hearing = next(i for i, e in enumerate(events) if e["step"] == "hearing")
    case = {"case": "CA-X", "jurisdiction": "xian-changan", "procedure": "collective-expropriation",
            "facts": LATE["facts"], "events": events[:hearing]}  # fmt: skip
    body = client.post("/v1/check", json={"case": case, "event": events[hearing]}, headers=tokens["changan"]).json()
    assert body["decision"] == "deny" and body["broken"][0]["rule"] == "changan.hearing-window"
    bad = client.post("/v1/check", json={"case": case, "event": {"step": "听政会", "date": "2024-10-09"}},
                      headers=tokens["changan"])  # fmt: skip
    assert bad.status_code == 422 and "听政会" in bad.json()["error"]["message"]
    with database.read() as session:
        assert session.scalars(select(EventRow)).all() == []


def test_body_size_and_rate_limits(api, db_url):  # noqa: F811
    client, database, tokens, _ = api
    huge = {"case": {"case": "X", "jurisdiction": "xian-changan", "procedure": "collective-expropriation",
                     "facts": {"pad": "x" * 70_000}}, "event": {"step": "hearing", "date": "2024-01-02"}}  # fmt: skip
    assert client.post("/v1/check", json=huge, headers=tokens["changan"]).status_code == 413
    slow, _ = create_token(database, ["xian-changan"], rate=1)
    codes = [client.get("/v1/cases/none", headers=_bearer(slow)).status_code for _ in range(4)]
    assert codes[:2] == [404, 404] and codes[-1] == 429  # a burst of two, then one a second
    limited = client.get("/v1/cases/none", headers=_bearer(slow))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


def test_the_decision_log_records_who_asked_what_and_the_answer(api):
    client, database, tokens, app = api
    _create(client, tokens["changan"])
    event = json_events(LATE)[0]
    _post(client, tokens["changan"], event, id="e0")
    client.get("/v1/cases/CA-1", headers=tokens["jieyang"])
    check = {"case": {"case": "CA-1", "jurisdiction": "xian-changan", "procedure": "collective-expropriation",
                      "events": []}, "event": event}  # fmt: skip
    client.post("/v1/check", json=check, headers=tokens["changan"])
    app.state.service.decision_log.flush()  # reads and checks are logged by a background writer
    with database.read() as session:
        rows = session.scalars(select(DecisionLogRow).order_by(DecisionLogRow.id)).all()
    recorded = next(r for r in rows if r.event_id == "e0")
    assert recorded.token_name == "changan-oa" and recorded.status_code == 201 and recorded.decision == "allow"
    assert json.loads(recorded.request)["step"] == event["step"] and recorded.answer["recorded"] is True
    refused = next(r for r in rows if r.status_code == 403)
    assert refused.token_name == "jieyang-oa" and refused.case_id == "CA-1" and refused.method == "GET"
    checked = next(r for r in rows if r.path == "/v1/check")
    assert checked.decision == "allow" and json.loads(checked.request)["event"]["step"] == event["step"]
    assert checked.answer["decision"] == "allow"


def test_openapi_is_served(api):
    client, *_ = api
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/check", "/v1/cases/{case_id}", "/v1/cases/{case_id}/events", "/v1/cases/{case_id}/deadlines"} <= set(
        paths
    )
