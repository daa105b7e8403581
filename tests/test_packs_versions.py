"""Pack selection: versions, supersession, in-force dates (RULES.md "Packs and procedures")."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from compliance.engine.batch_worker import Settings, check_chunk
from compliance.importers import iter_chunks
from compliance.rules.packs import NoPackError, RulePackError, load_rulebook
from tests.conftest import ROOT

RULE = """id: demo.window
title: {zh: 公告后{n}日内召开, en: within {n} days}
citation: {seed: 001_b601638a905635b9.txt, clause: 三(五), quote: 在公告期满后20日内组织召开}
check:
  window: {event: hearing, after: compensation_announcement.end, within: {days: N}}
tests:
  - name: in time
    case:
      events:
        - {step: compensation_announcement, start: 2024-03-01, end: 2024-04-01}
        - {step: hearing, date: 2024-04-02}
    expect: satisfied
  - name: late
    case:
      events:
        - {step: compensation_announcement, start: 2024-03-01, end: 2024-04-01}
        - {step: hearing, date: 2024-06-28}
    expect: violated
"""


def pack(root: Path, folder: str, pack_id: str, version: str, since: str, days: int, supersedes: str = "") -> None:
    directory = root / folder
    directory.mkdir()
    (directory / "pack.yaml").write_text(
        f"id: {pack_id}\nversion: '{version}'\ntitle: {{zh: 示例, en: demo}}\ndocument: 示例文件\n"
        f"seed: 001_b601638a905635b9.txt\njurisdictions: [demo-land]\nprocedures: [collective-expropriation]\n"
        f"in_force_from: {since}\n" + (f"supersedes: {supersedes}\n" if supersedes else ""),
        encoding="utf-8",
    )
    (directory / "window.yaml").write_text(
        RULE.replace("demo.", f"{pack_id}.").replace("N}", f"{days}}}").replace("{n}", str(days)), encoding="utf-8"
    )


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "rules" / "steps.yaml", tmp_path / "steps.yaml")
    return tmp_path


def test_newest_version_in_force_on_the_first_event_wins(rules_dir):
    pack(rules_dir, "demo-2020", "demo", "2020", "2020-01-01", 20)
    pack(rules_dir, "demo-2023", "demo", "2023", "2023-01-01", 30)
    book = load_rulebook(rules_dir)
    assert [p.label for p in book.select("demo-land", "collective-expropriation", dt.date(2022, 5, 1))] == [
        "demo@2020"
    ]
    assert [p.label for p in book.select("demo-land", "collective-expropriation", dt.date(2023, 5, 1))] == [
        "demo@2023"
    ]


def test_a_pack_that_supersedes_another_replaces_it(rules_dir):
    pack(rules_dir, "old", "old", "2010", "2010-01-01", 20)
    pack(rules_dir, "new", "new", "2015", "2015-01-01", 30, supersedes="old")
    book = load_rulebook(rules_dir)
    assert [p.id for p in book.select("demo-land", "collective-expropriation", dt.date(2014, 1, 1))] == ["old"]
    assert [p.id for p in book.select("demo-land", "collective-expropriation", dt.date(2016, 1, 1))] == ["new"]


def test_before_the_first_version_no_pack_is_in_force(rules_dir):
    pack(rules_dir, "demo-2020", "demo", "2020", "2020-01-01", 20)
    book = load_rulebook(rules_dir)
    with pytest.raises(NoPackError, match="2019-12-31"):
        book.select("demo-land", "collective-expropriation", dt.date(2019, 12, 31))


def test_eras_are_the_days_a_pack_comes_into_force_in_order(rules_dir):
    pack(rules_dir, "demo-2023", "demo", "2023", "2023-01-01", 30)
    pack(rules_dir, "demo-2020", "demo", "2020", "2020-01-01", 20)
    assert load_rulebook(rules_dir).eras() == [dt.date(2020, 1, 1), dt.date(2023, 1, 1)]


def test_the_batch_engine_picks_each_case_s_version_by_its_first_day_and_names_it_in_errors(rules_dir, tmp_path):
    pack(rules_dir, "demo-2020", "demo", "2020", "2020-01-01", 20)
    pack(rules_dir, "demo-2023", "demo", "2023", "2023-01-01", 30)
    rows = ["case,jurisdiction,procedure,step,date,start,end"]
    for case, first in (("A", "2019-05-02"), ("B", "2019-11-20"), ("C", "2021-03-01"), ("D", "2024-03-01")):
        rows.append(f"{case},demo-land,collective-expropriation,compensation_announcement,,{first},2024-04-01")
    log = tmp_path / "log.csv"
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    for engine in ("columnar", "direct"):
        settings = Settings(engine=engine, rules_dir=rules_dir)
        found = {o.result.case: o.result for chunk in iter_chunks([str(log)]) for o in check_chunk(chunk, settings)}
        assert "2019-05-02" in found["A"].error and "2019-11-20" in found["B"].error
        assert (found["C"].packs, found["D"].packs) == (["demo@2020"], ["demo@2023"])


def test_the_same_pack_version_twice_is_a_load_error(rules_dir):
    pack(rules_dir, "a", "demo", "2020", "2020-01-01", 20)
    pack(rules_dir, "b", "demo", "2020", "2020-01-01", 30)
    with pytest.raises(RulePackError, match="demo@2020"):
        load_rulebook(rules_dir)


def test_a_rule_with_an_unknown_step_is_a_load_error_naming_the_file(rules_dir):
    pack(rules_dir, "demo", "demo", "2020", "2020-01-01", 20)
    path = rules_dir / "demo" / "window.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("event: hearing", "event: hearnig"), encoding="utf-8")
    with pytest.raises(RulePackError, match=r"window\.yaml.*hearnig.*did you mean hearing"):
        load_rulebook(rules_dir)
