"""XES logs and SQL databases (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from compliance.importers.mapping import EMPTY
from compliance.importers.sql import write_cases
from compliance.importers.xes import XesSource
from tests.batch_support import check, sample_documents

XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0">
  <trace>
    <string key="concept:name" value="CA-XES"/>
    <string key="jurisdiction" value="xian-changan"/>
    <string key="procedure" value="collective-expropriation"/>
    <event><string key="concept:name" value="land_use_application"/><date key="time:timestamp" value="2024-05-20T09:00:00.000+08:00"/></event>
    <event><string key="concept:name" value="征地补偿安置公告"/><date key="start_timestamp" value="2024-08-09T09:00:00+08:00"/><date key="time:timestamp" value="2024-09-11T17:00:00+08:00"/></event>
    <event><string key="concept:name" value="hearing_request"/><date key="time:timestamp" value="2024-09-02T10:00:00+08:00"/></event>
    <event><string key="concept:name" value="hearing"/><date key="time:timestamp" value="2024-10-09T10:00:00+08:00"/></event>
  </trace>
  <trace>
    <string key="concept:name" value="CA-BAD"/>
    <string key="jurisdiction" value="xian-changan"/>
    <string key="procedure" value="collective-expropriation"/>
    <event><string key="concept:name" value="hearing"/><date key="time:timestamp" value="not a date"/></event>
  </trace>
</log>
"""  # noqa: E501


def test_xes_log_cases_periods_and_bad_event_line(tmp_path):
    path = tmp_path / "log.xes"
    path.write_text(XES, encoding="utf-8")
    good, bad = check([str(path)])
    assert good.result.case == "CA-XES"
    hearing = next(f for f in good.result.findings if f.rule == "changan.hearing-window")
    assert hearing.status == "violated" and hearing.expected == "hearing in (2024-09-11, 2024-10-08]"
    assert bad.result.verdict == "error"
    assert bad.result.error_detail["line"] == 16  # the <event> element's line in the file
    assert bad.result.error_detail["column"] == "time:timestamp"


def test_xes_cut_into_many_ranges_reads_the_same(tmp_path):
    path = tmp_path / "log.xes"
    path.write_text(XES, encoding="utf-8")
    source = XesSource(path, EMPTY)
    source.range_bytes = 64  # every trace its own range
    ranges = list(source.chunks())
    assert len(ranges) == 2
    frames = [r.read().frame for r in ranges]
    assert [f["case:concept:name"].unique().to_list() for f in frames] == [["CA-XES"], ["CA-BAD"]]
    assert frames[1]["__line"].to_list() == [16]


def test_broken_xes_reports_the_file(tmp_path):
    path = tmp_path / "broken.xes"
    path.write_text(XES[:400], encoding="utf-8")
    outcomes = check([str(path)])
    assert outcomes[-1].result.verdict == "error" and "XES" in outcomes[-1].result.error


def _expected_verdicts(docs: list[dict]) -> dict[str, str]:
    return {o.result.case: o.result.verdict for o in check([str(p) for p in _sample_paths()])}


def _sample_paths():
    from tests.batch_support import sample_paths

    return sample_paths()


def test_xes_rows_carry_trace_attributes_an_event_attribute_wins_a_clash(tmp_path):
    path = tmp_path / "log.xes"
    path.write_text(
        '<log><trace><string key="concept:name" value="T1"/><string key="x" value="trace"/>'
        '<event><string key="concept:name" value="a"/><string key="case:x" value="event"/></event>'
        '<event><string key="concept:name" value="b"/></event></trace>\n'
        '<trace><string key="concept:name" value="T2"/></trace></log>\n',
        encoding="utf-8",
    )
    [chunk] = XesSource(path, EMPTY).chunks()
    frame = chunk.read().frame
    assert frame.select("case:concept:name", "concept:name", "case:x").rows() == [
        ("T1", "a", "event"),
        ("T1", "b", "trace"),
        ("T2", None, None),  # a trace without events: one bare row, on the trace's line
    ]
    assert frame["__line"].to_list() == [1, 1, 2]


def test_sqlite_database_matches_case_files(tmp_path):
    docs = sample_documents()
    database = tmp_path / "cases.sqlite"
    assert write_cases(str(database), docs) == len(docs)
    found = {o.result.case: o.result.verdict for o in check([str(database)])}
    assert found == _expected_verdicts(docs)


def test_sqlite_bad_json_and_orphan_events(tmp_path):
    database = tmp_path / "cases.db"
    write_cases(str(database), sample_documents()[:2])
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        first = conn.execute(sa.text("SELECT case_id FROM cases ORDER BY case_id LIMIT 1")).scalar_one()
        conn.execute(
            sa.text("UPDATE events SET data = '{not json' WHERE id = (SELECT min(id) FROM events WHERE case_id = :c)"),
            {"c": first},
        )
        conn.execute(
            sa.text("INSERT INTO events (case_id, seq, step, date) VALUES ('GHOST', 0, 'hearing', '2024-01-01')")
        )
    engine.dispose()
    results = {o.result.case: o.result for o in check([str(database)])}
    assert results[first].verdict == "error" and results[first].error_detail["field"] == "events.data"
    assert results["GHOST"].verdict == "error" and results["GHOST"].error_detail["field"] == "events.case_id"
    assert sum(r.verdict != "error" for r in results.values()) == 1


def test_sqlite_facts_not_an_object_fail_that_case_only(tmp_path):
    database = tmp_path / "cases.db"
    docs = sample_documents()[:2]
    write_cases(str(database), docs)
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET facts = '[1, 2]' WHERE case_id = :c"), {"c": docs[0]["case"]})
    engine.dispose()
    results = {o.result.case: o.result for o in check([str(database)])}
    assert results[docs[0]["case"]].error_detail["field"] == "cases.facts"
    assert results[docs[1]["case"]].verdict != "error"


def test_sqlite_case_without_events_is_reported_not_lost(tmp_path):
    database = tmp_path / "cases.db"
    doc = dict(sample_documents()[0], events=[])
    write_cases(str(database), [doc])
    [outcome] = check([str(database)])
    assert outcome.result.case == doc["case"]
    assert outcome.result.error == "案件没有任何带日期的事件，无法确定适用的规则包"


def test_postgresql_by_url(pg_server):
    name = "batch_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    try:
        docs = sample_documents()
        write_cases(url, docs)
        plain = url.replace("postgresql+psycopg://", "postgresql://")  # what a user types
        found = {o.result.case: o.result.verdict for o in check([plain])}
        assert found == _expected_verdicts(docs)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_missing_tables_is_one_error(tmp_path):
    database = tmp_path / "empty.sqlite"
    sa.create_engine(f"sqlite:///{database}").connect().close()
    [outcome] = check([str(database)])
    assert outcome.result.verdict == "error" and outcome.result.error_detail["field"] == "schema"


@pytest.mark.parametrize("facts", [{"expropriated_area_mu": 12.5}])
def test_facts_survive_the_database(tmp_path, facts):
    doc = dict(sample_documents()[0], facts=facts)
    database = tmp_path / "one.sqlite"
    write_cases(str(database), [doc])
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT facts FROM cases")).scalar_one()
    engine.dispose()
    assert json.loads(stored) == facts
