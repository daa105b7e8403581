"""Batch reports: JSON (CASES.md §4), CSV, JUnit XML, Excel, and the HTML page seen in a real browser."""

from __future__ import annotations

import csv
import json
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from openpyxl import load_workbook

from compliance.engine.batch_worker import CaseOutcome
from compliance.findings import CaseResult, Finding
from compliance.importers.export import write_csv
from compliance.reports.aggregate import Tally
from compliance.reports.rendering import render
from tests.batch_support import run_cli, sample_documents


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    docs = sample_documents()
    bad = {
        "case": "BAD-ROW",
        "jurisdiction": "xian-changan",
        "procedure": "collective-expropriation",
        "events": [{"step": "hearing", "date": "2024-13-40"}],
    }
    write_csv(root / "cases.csv", [*docs, bad])
    out = root / "reports"
    result = run_cli(str(root / "cases.csv"), "--out", str(out))
    assert result.exit_code == 2
    return out


def _late_hearing(cases: list[dict]) -> dict:
    return next(c for c in cases if c["case"] == "CA-2024-011")


def test_json_structure(reports):
    doc = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert set(doc) == {"cases", "summary"}
    assert {"cases", "compliant", "violations", "errors"} <= set(doc["summary"])
    assert doc["summary"]["cases"] == len(doc["cases"]) == len(sample_documents()) + 1
    case = _late_hearing(doc["cases"])
    assert case["verdict"] == "violations" and case["packs"] == ["changan@2021-12-09"]
    [finding] = case["findings"]
    assert finding["rule"] == "changan.hearing-window" and finding["status"] == "violated"
    assert finding["events"] == ["hearing#1", "compensation_announcement#1"]
    assert finding["expected"] == "hearing in (2024-09-11, 2024-10-08]"
    assert finding["citation"]["clause"] == "三(五)"
    bad = next(c for c in doc["cases"] if c["case"] == "BAD-ROW")
    assert bad["verdict"] == "error" and bad["error_detail"]["column"] == "date"


def test_csv_one_row_per_finding(reports):
    with open(reports / "findings.csv", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    doc = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    findings = sum(len(c["findings"]) for c in doc["cases"])
    errors = sum(c["verdict"] == "error" for c in doc["cases"])
    assert len(rows) == findings + errors
    row = next(r for r in rows if r["case"] == "CA-2024-011")
    assert (row["rule"], row["status"], row["latest"], row["department"]) == (
        "changan.hearing-window",
        "violated",
        "2024-10-08",
        "资源规划长安分局",
    )


def test_junit_case_a_testcase_violation_a_failure(reports):
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(sample_documents()) + 1
    late = next(c for c in cases if c.get("name") == "CA-2024-011")
    [failure] = late.findall("failure")
    assert failure.get("type") == "violated:changan.hearing-window"
    assert late.get("classname") == "xian-changan.collective-expropriation"
    assert next(c for c in cases if c.get("name") == "BAD-ROW").find("error") is not None
    compliant = next(c for c in cases if c.get("name") == "CA-2024-003")
    assert list(compliant) == []


def test_excel_sheets_and_chinese_headers(reports):
    book = load_workbook(reports / "report.xlsx", read_only=True)
    assert book.sheetnames == ["汇总", "违规明细", "按规则", "按辖区", "按年度", "按部门", "无法检查"]
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(min_row=2, values_only=True)}
    doc = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert summary["案件总数"] == doc["summary"]["cases"] and summary["无法检查"] == 1
    header = next(book["违规明细"].iter_rows(values_only=True))
    assert header[:6] == ("案件编号", "辖区", "程序", "结论", "规则", "状态")
    rules = {r[0]: r for r in book["按规则"].iter_rows(min_row=2, values_only=True)}
    assert rules["changan.hearing-window"][4] == 1
    jurisdictions = {r[0]: r for r in book["按辖区"].iter_rows(min_row=2, values_only=True)}
    assert "xian-changan" in jurisdictions and "jieyang" in jurisdictions
    errors = list(book["无法检查"].iter_rows(min_row=2, values_only=True))
    assert errors[0][0] == "BAD-ROW"


def test_html_is_self_contained(reports):
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    assert "CA-2024-011" in html and "<svg" in html and "按责任部门" in html


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        length = struct.unpack(">I", data[offset : offset + 4])[0]
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return width, height, zlib.decompress(b"".join(chunks))


def test_html_in_headless_chromium(reports, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no chromium binary")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tempfile.mkdtemp()}",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            (reports / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1280, 2000)
    # Not blank: many distinct byte values, and a fair share of non-white ones (cards, bars, text).
    assert len(set(pixels)) > 50
    assert sum(1 for b in pixels[::97] if b < 200) > len(pixels[::97]) // 50


def test_json_fragments_are_each_case_as_json_dumps_writes_it_findings_shared_or_not():
    shared = Finding(rule="r.one", status="violated", severity="error", message="缺少听证", citation={}, events=[])
    own = Finding(rule="r.two", status="unknown", severity="warning", message='"findings": []', citation={},
                  events=["hearing#1"], earliest="2024-01-02")  # fmt: skip
    results = [
        CaseResult("A", "a.csv", ["p@1"], [shared, own], jurisdiction="j", procedure="p"),
        CaseResult('B "findings": ["\\u0000findings\\u0000"]', None, findings=[shared]),
        CaseResult("C", None, error="坏日期", error_detail={"line": 3}),
    ]
    outcomes = [CaseOutcome(r) for r in results]
    expected = ",\n".join(json.dumps(r.to_json(), ensure_ascii=False, default=str) for r in results)
    assert render(outcomes, ("json",), Tally({})).json.decode("utf-8") == expected
