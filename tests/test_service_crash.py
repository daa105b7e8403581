"""kill -9 under load, restart: no acknowledged event is lost, none is doubled (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.service_support import Server, case_body, create_token, db_url, json_events, sample_doc  # noqa: F401

DOC = sample_doc("changan-compliant-hearing")
EVENTS = json_events(DOC)
CASES = 8
KILL_AFTER = 40  # acknowledged events before the kill


def _post_case(base: str, headers: dict[str, str], case_id: str, acked: list[str], stop: threading.Event) -> None:
    """One case's events in order; stops at the first failure (the server is gone)."""
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        try:
            client.put(f"/v1/cases/{case_id}", json=case_body(DOC)).raise_for_status()
            for index, event in enumerate(EVENTS):
                if stop.is_set():
                    return
                event_id = f"{case_id}-{index}"
                response = client.post(f"/v1/cases/{case_id}/events?plan=false", json={**event, "id": event_id})
                if response.status_code != 201:
                    return
                acked.append(event_id)
        except httpx.HTTPError:
            return


def test_kill_9_mid_load_loses_no_acknowledged_event(db_url):  # noqa: F811
    token = create_token(db_url, "xian-changan", rate=100000)
    headers = {"Authorization": f"Bearer {token}"}
    server = Server(db_url).start()
    acked: dict[str, list[str]] = {f"K-{n}": [] for n in range(CASES)}
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(CASES) as pool:
            futures = [pool.submit(_post_case, server.url, headers, case, acked[case], stop) for case in acked]
            while sum(map(len, acked.values())) < KILL_AFTER and not all(f.done() for f in futures):
                stop.wait(0.01)
            server.kill()  # mid-load: posts are in flight
            stop.set()
            for future in futures:
                future.result()
        assert 0 < sum(map(len, acked.values())) < CASES * len(EVENTS), "the kill did not land mid-load"

        server = Server(db_url, port=server.port).start()
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            for case_id, ids in acked.items():
                response = client.get(f"/v1/cases/{case_id}")
                if response.status_code == 404:
                    assert not ids
                    continue
                stored = [e["id"] for e in response.json()["events"]]
                assert len(stored) == len(set(stored)), f"{case_id}: an event was doubled"
                assert stored[: len(ids)] == ids, f"{case_id}: an acknowledged event was lost"
                assert len(stored) <= len(ids) + 1  # at most the one in flight also made it
            # Posting everything again completes every case exactly once: replays for what is stored.
            for case_id in acked:
                client.put(f"/v1/cases/{case_id}", json=case_body(DOC)).raise_for_status()
                for index, event in enumerate(EVENTS):
                    response = client.post(f"/v1/cases/{case_id}/events?plan=false",
                                           json={**event, "id": f"{case_id}-{index}"})  # fmt: skip
                    assert response.status_code == 201, response.text
                stored = client.get(f"/v1/cases/{case_id}").json()
                assert [e["id"] for e in stored["events"]] == [f"{case_id}-{i}" for i in range(len(EVENTS))]
                assert stored["verdict"] == "compliant"
    finally:
        server.stop()
