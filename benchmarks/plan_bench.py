"""How long the z3 planner takes on the full 长安 procedure.

1. earliest: every step the 长安 pack knows (hearing path), every date open, from today.
2. keep:     a complete proposed schedule with four mistakes in it, repaired.

    .venv/bin/python benchmarks/plan_bench.py [--runs 7]

Prints the first (cold: calendar tables built) and the median of the following runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

from compliance.calendar import DEFAULT_CALENDAR
from compliance.model import Case, case_from_mapping
from compliance.planning.planner import PlanResult, plan_case
from compliance.rules.packs import RuleBook, load_rulebook

TODAY = dt.date(2025, 3, 3)
# The receipt path excludes the hearing path (changan.hearing-or-receipt): plan the hearing path.
OTHER_PATH = {"no_hearing_receipt"}


def all_open(book: RuleBook) -> Case:
    pack = book.pack("changan")
    assert pack is not None
    steps = {s for r in pack.core_rules("collective-expropriation") for s in r.steps} | set(pack.spec.departments)
    order = [s for s in book.vocabulary.steps if s in steps - OTHER_PATH]  # the vocabulary lists steps in order
    events: list[dict[str, Any]] = [{"step": s, "status": "planned"} for s in order]
    for event in events:
        if event["step"] == "survey_extension":
            event["data"] = {"reason": "雨季无法入户调查"}
    doc = {"case": "BENCH-EARLIEST", "procedure": "collective-expropriation", "jurisdiction": "xian-changan",
           "today": TODAY, "facts": {"compensation_parties": 2}, "events": events}  # fmt: skip
    return case_from_mapping(doc, book.vocabulary)


PROPOSAL = [
    ("land_use_application", "2025-03-03"),
    ("pre_announcement_review", "2025-03-05"),
    ("pre_announcement", ("2025-03-06", "2025-03-18")),  # mistake: 8 working days, not 10
    ("status_survey", ("2025-03-07", "2025-03-18")),
    ("survey_confirmation", "2025-03-21"),
    ("survey_publicity", ("2025-03-24", "2025-03-31")),
    ("risk_assessment", "2025-03-25"),
    ("risk_opinion", "2025-04-01"),
    ("compensation_plan_joint_review", "2025-04-07"),
    ("compensation_plan_signoff", "2025-04-09"),
    ("compensation_announcement", ("2025-04-10", "2025-05-12")),
    ("hearing_request", "2025-04-28"),
    ("hearing_notice", "2025-05-14"),
    ("hearing", "2025-06-16"),  # mistake: past the 20 days after the announcement
    ("revised_plan_publication", ("2025-06-17", "2025-06-24")),
    ("compensation_registration", "2025-06-26"),
    ("cost_estimate_approval", "2025-07-01"),
    ("funding_application", "2025-07-03"),
    ("funding_confirmed", "2025-07-15"),
    ("compensation_agreement", "2025-07-10"),  # mistake: before the funds are confirmed
    ("compensation_agreement", "2025-07-17"),
    ("social_security_opinion", "2025-07-22"),
    ("approval_application", "2025-07-21"),  # mistake: before the social-security opinion
    ("approval", "2025-09-15"),
    ("expropriation_announcement", "2025-09-18"),
    ("insurance_roster_publicity", ("2025-09-22", "2025-09-29")),
    ("compensation_paid", "2025-10-09"),
    ("resettlement_completed", "2025-10-13"),
    ("land_handover", "2025-10-20"),
]


def proposal(book: RuleBook) -> Case:
    events = []
    for step, when in PROPOSAL:
        dates = {"start": when[0], "end": when[1]} if isinstance(when, tuple) else {"date": when}
        events.append({"step": step, "status": "planned", **dates})
    doc = {"case": "BENCH-KEEP", "procedure": "collective-expropriation", "jurisdiction": "xian-changan",
           "today": TODAY, "facts": {"compensation_parties": 2}, "events": events}  # fmt: skip
    return case_from_mapping(doc, book.vocabulary)


def timed(run: Callable[[], PlanResult], runs: int) -> tuple[float, float, PlanResult]:
    start = time.perf_counter()
    result = run()
    cold = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return cold, statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    book = load_rulebook()
    earliest_case, keep_case = all_open(book), proposal(book)
    cases = [
        ("earliest, every date open", earliest_case, lambda: plan_case(earliest_case, book, DEFAULT_CALENDAR)),
        ("keep, proposal repaired", keep_case, lambda: plan_case(keep_case, book, DEFAULT_CALENDAR, "keep")),
    ]
    for label, case, run in cases:
        cold, median, result = timed(run, args.runs)
        dates = sum(1 if o.step and not book.vocabulary.get(o.step).is_period else 2 for o in case.events)
        print(f"{label:<28} {len(case.events)} events, {dates} dates: "
              f"first run {cold * 1000:.0f} ms, median of {args.runs} {median * 1000:.0f} ms, "
              f"feasible={result.feasible}")  # fmt: skip
        if result.schedule and label.startswith("earliest"):
            last = max(d for dates_ in result.schedule.values() for d in dates_.values())
            print(f"{'':<28} finishes {last}")
        for move in result.moves:
            print(f"{'':<28} {move.text('zh')}")


if __name__ == "__main__":
    main()
