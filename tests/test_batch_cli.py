"""`compliance batch` end to end: folders with a corrupt file, logs from other systems, databases, exit codes."""

from __future__ import annotations

import json
import shutil

from compliance.importers.export import write_csv
from compliance.importers.sql import write_cases
from tests.batch_support import EXTERNAL, MAPPINGS, run_cli, sample_documents, sample_paths


def _folder_with_corrupt_file(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for path in sample_paths()[:4]:
        shutil.copy(path, folder / path.name)
    (folder / "zz-corrupt.yaml").write_text(
        "case: BAD-1\nprocedure: collective-expropriation\n"
        "jurisdiction: xian-changan\nevents:\n"
        "  - {step: hearing, date: 2024-02-30}\n",
        encoding="utf-8",
    )
    return folder


def test_folder_with_one_corrupt_file(tmp_path):
    folder = _folder_with_corrupt_file(tmp_path)
    out = tmp_path / "reports"
    result = run_cli(str(folder), "--out", str(out), "--format", "json")
    assert result.exit_code == 2
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["cases"] == 5 and report["summary"]["errors"] == 1
    bad = [c for c in report["cases"] if c["verdict"] == "error"]
    assert len(bad) == 1
    assert bad[0]["error_detail"]["file"].endswith("zz-corrupt.yaml")
    assert bad[0]["error_detail"]["line"] == 5 and bad[0]["error_detail"]["field"] == "events[0].date"
    assert "zz-corrupt.yaml:5" in result.output  # listed on stderr as well
    checked = {c["case"] for c in report["cases"] if c["verdict"] != "error"}
    assert len(checked) == 4


def test_both_engines_write_the_same_report(tmp_path):
    folder = _folder_with_corrupt_file(tmp_path)
    texts = []
    for engine in ("direct", "columnar"):
        out = tmp_path / engine
        run_cli(str(folder), "--out", str(out), "--format", "json", "--engine", engine)
        texts.append(json.loads((out / "report.json").read_text(encoding="utf-8")))
    assert texts[0] == texts[1]


def test_exit_codes(tmp_path):
    compliant = [p for p in sample_paths() if "compliant" in p.name][:1]
    violating = [p for p in sample_paths() if "late-hearing" in p.name]
    assert run_cli(str(compliant[0]), "--out", str(tmp_path / "a"), "--format", "json").exit_code == 0
    assert run_cli(str(violating[0]), "--out", str(tmp_path / "b"), "--format", "json").exit_code == 1
    assert run_cli(str(tmp_path / "missing.csv"), "--out", str(tmp_path / "c"), "--format", "json").exit_code == 2
    assert run_cli(str(violating[0]), "--format", "pdf").exit_code == 2


def test_csv_from_another_system_and_sqlite_in_one_run(tmp_path):
    docs = sample_documents()
    csv_path = tmp_path / "export.csv"
    write_csv(csv_path, docs[:10])
    database = tmp_path / "cases.sqlite"
    write_cases(str(database), docs[10:])
    out = tmp_path / "reports"
    result = run_cli(str(csv_path), str(database), "--out", str(out), "--jobs", "1")
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.csv",
        "junit.xml",
        "report.html",
        "report.json",
        "report.xlsx",
    ]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["cases"] == len(docs) and report["summary"]["errors"] == 0


def test_real_log_with_mapping_via_cli(tmp_path):
    result = run_cli(
        str(EXTERNAL / "running-example.xes"),
        "--mapping",
        str(MAPPINGS / "running-example.yaml"),
        "--out",
        str(tmp_path),
        "--format",
        "json",
    )
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["cases"] == 6
    assert result.exit_code == 2  # 2010 predates every pack: "no rule pack in force", per CASES.md §4


def test_jobs_use_worker_processes(tmp_path):
    from click.testing import CliRunner

    from compliance.cli import main

    docs = sample_documents()
    csv_path = tmp_path / "export.csv"
    write_csv(csv_path, docs)
    out1, out2 = tmp_path / "one", tmp_path / "two"
    CliRunner().invoke(main, ["batch", str(csv_path), "--out", str(out1), "--format", "json", "-j", "1"])
    CliRunner().invoke(main, ["batch", str(csv_path), "--out", str(out2), "--format", "json", "-j", "2"])
    assert json.loads((out1 / "report.json").read_text()) == json.loads((out2 / "report.json").read_text())
