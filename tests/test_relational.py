"""The compiled plans (engine/relational.py) decide every finding as the per-case engine does.

Each test compares statuses finding by finding — satisfied and not applicable included — for
the rules the plans compile; a finding the plans leave to the exact evaluator ("punt") must be
one the per-case engine decides, and is counted, not compared.
"""

from __future__ import annotations

import copy
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.engine import relational
from compliance.engine.batch_worker import Settings, check_chunk
from compliance.engine.columnar import compiled_findings
from compliance.findings import CaseResult
from compliance.importers import FailedSource, iter_chunks
from compliance.importers.export import write_csv
from compliance.importers.normalize import normalize
from tests.batch_support import check, numbered_log, sample_documents
from tests.test_columnar import variants

DOCS = sample_documents()
SETTINGS = Settings(engine="columnar")


def _compiled(path) -> list[tuple[str, str, str, str]]:
    book = SETTINGS.book()
    found = []
    for chunk in iter_chunks([str(path)]):
        if isinstance(chunk, FailedSource):  # a log with no readable row at all: nothing to compile
            continue
        norm = normalize(chunk.read(), SETTINGS.mapping, book.vocabulary)
        found.extend(compiled_findings(norm, SETTINGS))
    return found


def _direct(path) -> set[tuple[str, str, str, str]]:
    return {
        (o.result.case, f.rule, f.key, f.status)
        for o in check([str(path)], engine="direct", show_all=True)
        for f in o.result.findings
    }


def _agree(path) -> list[tuple[str, str, str, str]]:
    compiled, direct = _compiled(path), _direct(path)
    decided = [f for f in compiled if f[3] != "punt"]
    assert set(decided) <= direct, sorted(set(decided) - direct)[:5]
    compiled_keys = {f[:3] for f in compiled}
    judged_rules = {f[1] for f in compiled}
    punted = {(case, rule) for case, rule, _key, status in compiled if status == "punt"}  # the evaluator's
    for case, rule, key, _status in direct:
        if rule in judged_rules and any(c == case for c, *_ in compiled) and (case, rule) not in punted:
            assert (case, rule, key) in compiled_keys, (case, rule, key)
    return compiled


def _same_reports(path) -> list[CaseResult]:
    """The batch results with only shown findings (the compiled plans' use), equal to the per-case engine's."""
    columnar = [o.result for o in check([str(path)], engine="columnar")]
    assert [r.to_json() for r in columnar] == [o.result.to_json() for o in check([str(path)], engine="direct")]
    return columnar


def test_most_rules_are_compiled():
    book = SETTINGS.book()
    rules = {r.id: r for p in book.packs for r in p.rules for r in r.core}
    compiled = [i for i, r in rules.items() if relational.supported(r)]
    assert len(compiled) >= 80, f"{len(compiled)} of {len(rules)}"


def test_every_sample_every_finding_same_status(tmp_path):
    path = tmp_path / "samples.csv"
    write_csv(path, DOCS)
    found = _agree(path)
    assert {status for *_, status in found} >= {"satisfied", "violated", "not_applicable"}


def test_exact_cap_boundaries_are_decided_without_the_exact_evaluator(tmp_path):
    # 长 changzhou: the relocation subsidy may be 25 % of (benchmark − land − building): 1697.505 exactly.
    docs = []
    for n, subsidy in enumerate(["1697.505", "1697.51", "1697.5"]):
        doc = copy.deepcopy(next(d for d in DOCS if d["jurisdiction"] == "changzhou"))
        doc["case"] = f"cap-{n}"
        doc["facts"].update(
            {"relocation_subsidy": subsidy, "benchmark_land_value": "12345.67", "land_appraisal": "4321.09",
             "building_appraisal": "1234.56"}
        )  # fmt: skip
        docs.append(doc)
    path = tmp_path / "caps.csv"
    write_csv(path, docs)
    found = {(c, s) for c, rule, _k, s in _agree(path) if rule == "changzhou.relocation-subsidy-cap"}
    assert found == {("cap-0", "satisfied"), ("cap-1", "violated"), ("cap-2", "satisfied")}


def test_a_two_thirds_tie_is_decided_exactly_by_the_plans(tmp_path):
    # 2/3 × members is no decimal, but present × 3 against members × 2 is: no punt, ties included.
    doc = copy.deepcopy(next(d for d in DOCS if d["jurisdiction"] == "jieyang"))
    meetings = [e for e in doc["events"] if e["step"] == "committee_meeting"]
    meetings[0]["data"].update({"members": 9, "present": 6})  # exactly two thirds: 6 >= 2/3 × 9 holds
    meetings[-1]["data"].update({"members": 9, "present": 5})
    path = tmp_path / "tie.csv"
    write_csv(path, [doc])
    found = {(key, s) for _c, rule, key, s in _agree(path) if rule == "jieyang.committee-quorum"}
    assert ("committee_meeting#1", "satisfied") in found
    assert (f"committee_meeting#{len(meetings)}", "violated") in found
    assert not any(status == "punt" for _key, status in found)
    shown = _same_reports(path)[0].findings
    quorum = [(f.key, f.status) for f in shown if f.rule == "jieyang.committee-quorum"]
    assert quorum == [(f"committee_meeting#{len(meetings)}", "violated")]


def test_a_quotient_tied_with_its_bound_goes_to_the_exact_evaluator(tmp_path):
    # present / members is no decimal and no exact number times a fraction: within a hair of 2/3, it punts.
    import shutil

    from compliance.rules.packs import DEFAULT_RULES_DIR

    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    quorum = rules / "jieyang" / "committee-quorum.yaml"
    quorum.write_text(
        quorum.read_text(encoding="utf-8").replace("data.present >= 2/3 * data.members",
                                                   "data.present / data.members >= 2/3"),
        encoding="utf-8",
    )  # fmt: skip
    doc = copy.deepcopy(next(d for d in DOCS if d["jurisdiction"] == "jieyang"))
    meetings = [e for e in doc["events"] if e["step"] == "committee_meeting"]
    meetings[0]["data"].update({"members": 9, "present": 6})
    path = tmp_path / "tie.csv"
    write_csv(path, [doc])
    settings = Settings(engine="columnar", rules_dir=rules)
    book = settings.book()
    found = {
        (key, status)
        for chunk in iter_chunks([str(path)])
        for _c, rule, key, status in compiled_findings(normalize(chunk.read(), settings.mapping, book.vocabulary),
                                                       settings)
        if rule == "jieyang.committee-quorum"
    }  # fmt: skip
    assert ("committee_meeting#1", "punt") in found
    columnar = [o.result.to_json() for c in iter_chunks([str(path)]) for o in check_chunk(c, settings)]
    direct = [o.result.to_json() for c in iter_chunks([str(path)])
              for o in check_chunk(c, Settings(engine="direct", rules_dir=rules))]  # fmt: skip
    assert columnar == direct


def test_text_where_a_number_is_expected_goes_to_the_exact_evaluator(tmp_path):
    doc = copy.deepcopy(next(d for d in DOCS if d["jurisdiction"] == "changzhou"))
    doc["facts"]["relocation_subsidy"] = "about 800"
    path = tmp_path / "text.csv"
    write_csv(path, [doc])
    found = {s for _c, rule, _k, s in _agree(path) if rule == "changzhou.relocation-subsidy-cap"}
    assert found == {"punt"}
    _same_reports(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(variants(), min_size=1, max_size=6))
def test_generated_cases_every_finding_same_status(tmp_path_factory, docs):
    _agree(numbered_log(tmp_path_factory.mktemp("gen"), docs))


def test_generated_cases_same_reports_with_shown_findings_only(tmp_path):
    # The compiled plans are used when only violations and unknowns are listed (no --all).
    docs = []
    for i, doc in enumerate(DOCS * 3):
        doc = copy.deepcopy(doc)
        doc["case"] = f"{doc['case']}-{i}"
        for event in doc["events"][i % 3 :: 4]:
            for part in ("date", "start", "end"):
                if event.get(part) is not None:
                    day = dt.date.fromisoformat(str(event[part]))
                    event[part] = (day - dt.timedelta(days=7 * (i % 5))).isoformat()
        docs.append(doc)
    path = tmp_path / "cases.csv"
    write_csv(path, docs)
    reports = _same_reports(path)
    assert sum(1 for c in reports for f in c.findings if f.status == "violated") > 20



# Values a clerk's export may hold where a rule reads a number, a flag, a date, a year or a list.
ODD_NUMBERS = ["0", "1697.505", "1697.51", "30", "12345.67", "1e3", "+5", "-2", " 7 ", "about 800", "", "true",
               "1.0000001"]  # fmt: skip
ODD_FLAGS = ["true", "false", "TRUE", "yes", "1", "", "0"]
ODD_TEXTS = ["land", "monetary", "state", "collective", "区征收办", "属地街道办事处", "区土储中心", "", "1", "land ",
             "50%"]  # fmt: skip
ODD_DATES = ["2024-03-01", "2024-02-30", "2024/3/1", "20240301", "", "2023-12-31"]
ODD_YEARS = ["2024", "2025", "24", "2024.0", "", "next"]


@st.composite
def value_variants(draw) -> dict:
    """A sample with facts and step data replaced by odd values: numbers at and near caps, text
    where numbers belong, flags in other spellings, dates and years in other formats, lists with
    items missing or quoted."""
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    facts = doc.setdefault("facts", {}) or {}
    doc["facts"] = facts
    for name in list(facts):
        value = facts[name]
        if isinstance(value, bool):
            facts[name] = draw(st.sampled_from([*ODD_FLAGS, value]))
        elif isinstance(value, int | float):
            facts[name] = draw(st.sampled_from([*ODD_NUMBERS, value, str(value)]))
        elif isinstance(value, str) and draw(st.booleans()):
            facts[name] = draw(st.sampled_from(ODD_TEXTS))
    for event in doc["events"]:
        data = event.get("data") or {}
        for name in list(data):
            value = data[name]
            if not draw(st.integers(0, 2)):
                continue
            if name in ("members", "present", "in_favour"):
                continue  # the model screens vote counts: those cases only test the model
            if name.endswith("_date") or hasattr(value, "isoformat"):
                data[name] = draw(st.sampled_from(ODD_DATES))
            elif name == "year":
                data[name] = draw(st.sampled_from(ODD_YEARS))
            elif isinstance(value, bool):
                data[name] = draw(st.sampled_from(ODD_FLAGS))
            elif isinstance(value, int | float):
                data[name] = draw(st.sampled_from([*ODD_NUMBERS, value]))
            elif isinstance(value, list) and value:
                kept = draw(st.lists(st.sampled_from(value), unique=True))
                data[name] = draw(st.sampled_from([kept, [*kept, 'say "yes"'], "not a list", "[1, 2]", "50%",
                                                   "营业执照 and 身份证复印件"]))  # fmt: skip
            elif isinstance(value, str):
                data[name] = draw(st.sampled_from(ODD_TEXTS))
    doc["case"] = f"{doc['case']}-odd"
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(value_variants(), min_size=1, max_size=5))
def test_odd_values_every_finding_same_status(tmp_path_factory, docs):
    path = numbered_log(tmp_path_factory.mktemp("odd"), docs)
    _agree(path)
    _same_reports(path)


def test_only_the_carrying_waiver_vote_counts_when_compiled(tmp_path):
    # `where:` keeps the votes that carry the waiver: a failed first vote, then a carrying one after the agreements.
    doc = copy.deepcopy(next(d for d in DOCS if d["case"].startswith("JY") and any(
        e["step"] == "villager_vote" and (e.get("data") or {}).get("motion") == "waive_retained_land"
        for e in d["events"])))  # fmt: skip
    vote = next(e for e in doc["events"] if e["step"] == "villager_vote")
    failed = copy.deepcopy(vote)
    failed["data"].update({"in_favour": 20})
    late = copy.deepcopy(vote)
    late["date"] = "2026-06-30"
    doc["events"] = [failed if e is vote else e for e in doc["events"]] + [late]
    path = tmp_path / "votes.csv"
    write_csv(path, [doc])
    found = {(key, s) for _c, rule, key, s in _agree(path) if rule == "jieyang.retained-land-waiver-vote"}
    assert found and all(s != "punt" for _k, s in found)
    shown = _same_reports(path)[0].findings
    assert any(f.rule == "jieyang.retained-land-waiver-vote" and f.status == "violated" for f in shown)


def test_a_document_list_is_searched_as_the_evaluator_searches_it(tmp_path):
    # `'营业执照' in data.documents`: an item of a JSON list, a part of a plain text; "50%" is a number there.
    base = next(d for d in DOCS if any("documents" in (e.get("data") or {}) for e in d["events"]))
    docs = []
    for n, documents in enumerate([["营业执照"], ["身份证复印件"], "营业执照复印件一份", "50%", '["营业执照\\u4e00"]']):
        doc = copy.deepcopy(base)
        doc["case"] = f"docs-{n}"
        for event in doc["events"]:
            if "documents" in (event.get("data") or {}):
                event["data"]["documents"] = documents
        docs.append(doc)
    path = tmp_path / "documents.csv"
    write_csv(path, docs)
    found = {(c, s) for c, rule, _k, s in _agree(path) if rule == "taojiang.application-documents"}
    assert ("docs-3", "punt") in found and ("docs-4", "punt") in found
    _same_reports(path)


def test_a_case_the_plan_punts_on_never_grounds_a_rule_for_other_cases(tmp_path):
    # A list with a quote inside is not a plain list: the plan punts. Its atom outcomes match those of
    # a text that is no list at all, which violates `contents:`; the punted case must not be the one
    # grounded for both (its exact grounding satisfies the rule).
    base = next(d for d in DOCS if d["case"].startswith("CZ") and any(e["step"] == "plan_draft" for e in d["events"]))
    draft = next(e for e in base["events"] if e["step"] == "plan_draft")
    docs = []
    for n, contents in enumerate([[*draft["data"]["contents"], 'say "yes"'], "not a list"]):
        doc = copy.deepcopy(base)
        doc["case"] = f"contents-{n}"
        next(e for e in doc["events"] if e["step"] == "plan_draft")["data"]["contents"] = contents
        docs.append(doc)
    path = tmp_path / "contents.csv"
    write_csv(path, docs)
    found = {(c, s) for c, rule, _k, s in _agree(path) if rule == "changzhou.plan-contents"}
    assert found == {("contents-0", "punt"), ("contents-1", "violated")}
    by_case = {r.case: r for r in _same_reports(path)}
    assert [f.status for f in by_case["contents-1"].findings if f.rule == "changzhou.plan-contents"] == ["violated"]
