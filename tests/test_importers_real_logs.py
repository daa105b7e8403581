"""The real public logs in shared/data/external import without a single input error."""

from __future__ import annotations

import pytest

from compliance.importers.mapping import load_mapping
from tests.batch_support import EXTERNAL, MAPPINGS, check

LOGS = [
    ("running-example.csv", "running-example.yaml", 6),
    ("running-example.xes", "running-example.yaml", 6),
    ("roadtraffic100traces.csv", "roadtraffic.yaml", 100),
    ("roadtraffic100traces.xes", "roadtraffic.yaml", 100),
    ("receipt.csv", "receipt.yaml", 1434),
]


@pytest.mark.parametrize(("log", "mapping", "cases"), LOGS)
def test_real_log_imports(log, mapping, cases):
    path = EXTERNAL / log
    if not path.exists():
        pytest.skip(f"{path} not present")
    outcomes = check([str(path)], mapping=load_mapping(MAPPINGS / mapping))
    assert len(outcomes) == cases
    # No input error anywhere: every case was read; their dates (2000–2012) predate every
    # bundled pack, which the engine reports as "no rule pack in force" — a finding, not an import error.
    assert [o.result.error_detail for o in outcomes if o.result.error_detail] == []
    assert all(o.result.error is None or "规则包" in o.result.error for o in outcomes)


def test_same_log_same_cases_from_csv_and_xes():
    mapping = load_mapping(MAPPINGS / "roadtraffic.yaml")
    from_csv = {o.result.case for o in check([str(EXTERNAL / "roadtraffic100traces.csv")], mapping=mapping)}
    from_xes = {o.result.case for o in check([str(EXTERNAL / "roadtraffic100traces.xes")], mapping=mapping)}
    assert from_csv == from_xes and len(from_csv) == 100
