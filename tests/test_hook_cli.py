"""`compliance check-step`: text and JSON, exit 0 allow, 1 deny, 2 bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from compliance.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "cases_samples"


def case_until(tmp_path: Path, name: str, step: str) -> Path:
    """The sample with the events before the first `step`."""
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    index = next(i for i, e in enumerate(doc["events"]) if e["step"] == step)
    doc["events"] = doc["events"][:index]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def run(*args: str):
    return CliRunner().invoke(main, ["check-step", *args])


def test_deny_exits_1_with_the_rule_in_text(tmp_path):
    path = case_until(tmp_path, "changan-late-hearing", "hearing")
    result = run(str(path), "--step", "听证会", "--date", "2024-10-09", "--no-plan")
    assert result.exit_code == 1, result.output
    assert "拒绝" in result.output and "changan.hearing-window" in result.output and "三(五)" in result.output


def test_allow_exits_0_and_json_lists_the_deadline(tmp_path):
    path = case_until(tmp_path, "changan-late-hearing", "hearing_request")
    result = run(str(path), "--step", "hearing_request", "--date", "2024-09-02", "--format", "json", "--lang", "en")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["decision"] == "allow" and doc["can_comply"] is True
    assert any(d["step"] == "hearing" and d["latest"] == "2024-10-08" for d in doc["deadlines"])


def test_step_data_is_read_as_values(tmp_path):
    doc = {"case": "JY-1", "jurisdiction": "jieyang", "procedure": "committee-meeting", "events": []}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    args = [str(path), "--step", "committee_meeting", "--date", "2024-10-08", "--no-plan", "--format", "json"]
    quorum = run(*args, "--data", "members=15", "--data", "present=9", "--data", "notice_date=2024-09-27")
    assert quorum.exit_code == 1, quorum.output
    assert "jieyang.committee-quorum" in [n["rule"] for n in json.loads(quorum.output)["broken"]]
    enough = run(*args, "--data", "members=15", "--data", "present=10", "--data", "notice_date=2024-09-27")
    assert enough.exit_code == 0, enough.output


def test_bad_input_exits_2(tmp_path):
    path = case_until(tmp_path, "changan-late-hearing", "hearing")
    assert run(str(path), "--step", "听政会", "--date", "2024-10-09").exit_code == 2
    assert run(str(tmp_path / "missing.yaml"), "--step", "hearing", "--date", "2024-10-09").exit_code == 2
    assert run(str(path), "--step", "hearing", "--date", "2024-10-09", "--data", "novalue").exit_code == 2
    assert run(str(path), "--step", "hearing", "--date", "2024-10-09", "--end", "2024-10-10").exit_code == 2


def test_no_pack_in_force_exits_2(tmp_path):
    doc = {"case": "X", "jurisdiction": "xian-changan", "procedure": "collective-expropriation", "events": []}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = run(str(path), "--step", "land_use_application", "--date", "2019-01-02", "--no-plan")
    assert result.exit_code == 2, result.output


def test_check_step_does_not_import_the_batch_engine_or_the_service():
    # Another system runs check-step once per recorded step: it must not pay for Polars,
    # SQLAlchemy, openpyxl or FastAPI, which only `batch` and `serve` use.
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from compliance.cli import main\n"
        "result = CliRunner().invoke(main, ['check-step', 'cases_samples/changan-late-hearing.yaml',"
        " '--step', 'hearing', '--date', '2024-10-09'])\n"
        "heavy = ('polars', 'sqlalchemy', 'openpyxl', 'fastapi')\n"
        "print(result.exit_code, sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=SAMPLES.parent, check=True)
    assert done.stdout.split("\n")[-2] == "1 []"
