"""The column-wise engine agrees with the per-case engine (`audit_case`), finding for finding."""

from __future__ import annotations

import copy
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.engine.batch_worker import CaseOutcome, Settings, check_chunk
from compliance.importers import CaseFilesChunk
from compliance.importers.export import write_csv
from tests.batch_support import check, numbered_log, sample_documents, sample_paths

DOCS = sample_documents()


def _json(outcomes: list[CaseOutcome]) -> list[dict]:
    return [o.result.to_json() for o in outcomes]


def test_every_sample_file_same_findings():
    chunk = CaseFilesChunk(sample_paths())
    for show_all in (False, True):
        direct = check_chunk(chunk, Settings(engine="direct", show_all=show_all))
        columnar = check_chunk(chunk, Settings(engine="columnar", show_all=show_all))
        assert _json(columnar) == _json(direct)


def test_every_sample_as_csv_same_findings_as_audit(tmp_path):
    path = tmp_path / "samples.csv"
    write_csv(path, DOCS)
    reference = check_chunk(CaseFilesChunk(sample_paths()), Settings(engine="direct", show_all=True))
    for engine in ("direct", "columnar"):
        found = _json(check([str(path)], engine=engine, show_all=True))
        expected = _json(reference)
        for item in (*found, *expected):
            item.pop("file")
        assert found == expected


def test_timelines_of_cases_with_findings_same_as_direct_engine(tmp_path):
    path = tmp_path / "samples.csv"
    write_csv(path, DOCS)
    direct = {o.result.case: o.timeline for o in check([str(path)], engine="direct")}
    columnar = {o.result.case: o.timeline for o in check([str(path)], engine="columnar")}
    assert columnar == direct
    assert direct["CA-2024-011"][1:3] == [
        ("pre_announcement_review#1", "2024-06-03", None),
        ("pre_announcement#1", "2024-06-05", "2024-06-20"),
    ]


def _shift(value, days: int):
    if isinstance(value, dt.date):
        return value + dt.timedelta(days=days)
    return value


@st.composite
def variants(draw) -> dict:
    """A sample with events dropped, repeated or moved, and vote counts changed: new shapes, new outcomes."""
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    events = doc["events"]
    for _ in range(draw(st.integers(0, 4))):
        if not events:
            break
        index = draw(st.integers(0, len(events) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "move", "move_end", "votes"]))
        event = events[index]
        if action == "drop":
            events.pop(index)
        elif action == "repeat":
            events.insert(index + 1, copy.deepcopy(event))
        elif action == "move":
            days = draw(st.integers(-40, 40))
            for part in ("date", "start"):
                event[part] = _shift(event.get(part), days)
            if event.get("end") is not None:
                event["end"] = _shift(event["end"], days)
        elif action == "move_end" and event.get("end") is not None:
            event["end"] = _shift(event["end"], draw(st.integers(-15, 15)))  # may end before it starts: an error
        elif action == "votes" and event.get("data"):
            for key in ("present", "in_favour"):
                if isinstance(event["data"].get(key), int):
                    event["data"][key] = draw(st.integers(0, 80))
    doc["case"] = f"{doc['case']}-v"
    return doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(variants(), min_size=1, max_size=6))
def test_generated_cases_same_findings(tmp_path_factory, docs):
    path = numbered_log(tmp_path_factory.mktemp("gen"), docs)
    direct = _json(check([str(path)], engine="direct", show_all=True))
    columnar = _json(check([str(path)], engine="columnar", show_all=True))
    assert columnar == direct


def test_rules_reading_event_fields_agree(tmp_path):
    # `event.actor` makes grounding depend on who did the judged act: cases differing only there must not share.
    import shutil

    import yaml

    from compliance.rules.packs import DEFAULT_RULES_DIR

    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    rule = {
        "id": "changan.test-actor",
        "title": {"zh": "协议由街道办事处签订", "en": "Agreements signed by the sub-district office"},
        "citation": {"seed": "001_b601638a905635b9.txt", "clause": "四(二)7", "quote": "签订征地补偿安置协议书"},
        "for_each": "compensation_agreement",
        "check": {"value": "event.actor == '王曲街道办事处'"},
        "tests": [
            {"name": "a", "case": {"events": [{"step": "compensation_agreement", "date": "2024-01-02"}]},
             "expect": "unknown"},
            {"name": "b", "case": {"events": [{"step": "compensation_agreement", "date": "2024-01-02",
                                                "actor": "王曲街道办事处"}]}, "expect": "satisfied"},
        ],
    }  # fmt: skip
    (rules / "changan" / "test-actor.yaml").write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    docs = [copy.deepcopy(d) for d in DOCS if d["jurisdiction"] == "xian-changan"]
    for i, doc in enumerate(docs):
        for event in doc["events"]:
            if event["step"] == "compensation_agreement":
                event["actor"] = ["王曲街道办事处", "某公司", None][i % 3]
    path = tmp_path / "cases.csv"
    write_csv(path, docs)
    found = {}
    for engine in ("direct", "columnar"):
        settings = Settings(engine=engine, show_all=True, rules_dir=rules)
        from compliance.importers import iter_chunks

        found[engine] = [o.result.to_json() for c in iter_chunks([str(path)]) for o in check_chunk(c, settings)]
    assert found["columnar"] == found["direct"]
    statuses = {f["status"] for c in found["direct"] for f in c["findings"] if f["rule"] == "changan.test-actor"}
    assert statuses == {"satisfied", "violated", "unknown"}


def test_step_data_the_model_rejects_makes_the_same_errors_in_both_engines(tmp_path):
    base = next(d for d in DOCS if any(e["step"] == "committee_meeting" for e in d["events"]))
    faults = [
        {"members": "十五"},
        {"present": -1},
        {"members": 10, "present": 12},
        {"present": 8, "in_favour": 9},
        {"notice_date": "2024-02-30"},
        {},  # no fault: checked as usual
    ]
    docs = []
    for fault in faults:
        doc = copy.deepcopy(base)
        meeting = next(e for e in doc["events"] if e["step"] == "committee_meeting")
        meeting["data"] = {**(meeting.get("data") or {}), **fault}
        docs.append(doc)
    path = numbered_log(tmp_path, docs)
    direct = _json(check([str(path)], engine="direct"))
    columnar = _json(check([str(path)], engine="columnar"))
    assert columnar == direct
    assert [c["verdict"] == "error" for c in columnar] == [True, True, True, True, True, False]


def test_two_findings_of_one_rule_with_one_key_listed_in_the_rules_order(tmp_path):
    # Republished before the hearing, and for too few working days: two findings of one rule with one key,
    # which the rule's own order lists (the start first).
    doc = copy.deepcopy(next(d for d in DOCS if any(e["step"] == "hearing" for e in d["events"])))
    for event in doc["events"]:
        if event["step"] == "hearing":
            event.update(date="2025-05-16")
        if event["step"] == "revised_plan_publication":
            event.update(start="2025-05-01", end="2025-05-08")
    path = tmp_path / "case.csv"
    write_csv(path, [doc])
    found = {engine: _json(check([str(path)], engine=engine)) for engine in ("direct", "columnar")}
    assert found["columnar"] == found["direct"]
    republished = [f for f in found["direct"][0]["findings"] if f["rule"] == "changan.revised-plan-republication"]
    assert [f["expected"] for f in republished] == [
        "revised_plan_publication.start >= 2025-05-16",
        "revised_plan_publication.end >= 2025-05-12",
    ]


def test_checking_leaves_the_cycle_collector_as_it_found_it(tmp_path):
    import gc

    path = tmp_path / "samples.csv"
    write_csv(path, DOCS)
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            check([str(path)], engine="columnar")
            assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_event_dates_are_read_in_every_spelling_a_table_may_hold():
    import polars as pl

    from compliance.engine.columnar_validate import parsed_dates

    texts = ["2024-03-01", "2024-03-01 10:30", "2024-03-01T08:00:00", "2024/3/1", "2024年3月1日", "2024-02-30",
             "soon", None, "2024-03-01"]  # fmt: skip
    frame = parsed_dates(pl.DataFrame({"date": texts, "start": [None] * 9, "end": [None] * 9}, schema_overrides={
        "start": pl.Utf8, "end": pl.Utf8}))  # fmt: skip
    march = dt.date(2024, 3, 1)
    assert frame["date_d"].to_list() == [march, march, march, march, march, None, None, None, march]
    assert frame["bad_date"].to_list() == [False] * 5 + [True, True, False, False]
