"""Schedules with z3 (CASES.md §5): the planner, its explanations, and rule-pack analysis.

`planner.plan_case` grounds a case exactly as the audit does and hands the formulas to the
solver (`compliance/engine/solver.py`, `schedule.py`, `lexmin.py`, `daytables.py`);
`explain` turns unsat cores and moves into words; `rulecheck` proves each pack admits a
compliant case and finds colliding or redundant rules.
"""
