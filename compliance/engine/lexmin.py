"""Lexicographic minimisation by iterative tightening on a plain z3 Solver.

z3's `Optimize` handles these problems (hundreds of calendar-table if-then-else terms) far
more slowly than a series of incremental satisfiability checks: bound the objective,
check, keep the better model, and pin each objective at its optimum before the next. Every
answer is exact; only the route differs.

A *group* of objectives (every event "as early as allowed") is first pushed down as a sum,
which for these constraint systems (mostly `x ≥ f(y)` with monotone calendar shifts, closed
under componentwise minimum) usually lands on the lexicographic optimum at once; a single
check then certifies that no lexicographically smaller assignment exists, and only when it
does is the group minimised one objective at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import z3

from compliance.engine.solver import is_sat


class Unsatisfiable(Exception):
    pass


@dataclass(frozen=True)
class Objective:
    term: z3.ArithRef
    lower: int  # a value the term can never go below (a domain bound)
    counts: tuple[z3.BoolRef, ...] = ()  # the term counts these: bound it as a pseudo-boolean constraint

    def at_most(self, bound: int) -> z3.BoolRef:
        # z3 reasons natively about "at most k of these": far faster than a sum of if-then-elses.
        return z3.AtMost(*self.counts, bound) if self.counts else self.term <= bound  # type: ignore[return-value]


def _value(model: z3.ModelRef, term: z3.ArithRef) -> int:
    return model.eval(term, model_completion=True).as_long()  # type: ignore[union-attr]


def _minimize(solver: z3.Solver, objective: Objective, model: z3.ModelRef) -> tuple[z3.ModelRef, int]:
    """The least value of one objective, by bisection between its floor and the current model."""
    best = _value(model, objective.term)
    low = objective.lower
    while low < best:
        middle = (low + best - 1) // 2
        if is_sat(solver, objective.at_most(middle)):
            model = solver.model()
            best = _value(model, objective.term)  # the model may land well below the middle
        else:
            low = middle + 1
    return model, best


def _lex_smaller(terms: Sequence[z3.ArithRef], values: Sequence[int]) -> z3.BoolRef:
    """Some assignment beats `values` lexicographically."""
    condition: z3.BoolRef = z3.BoolVal(False)
    for term, value in reversed(list(zip(terms, values, strict=True))):
        condition = z3.Or(term < value, z3.And(term == value, condition))
    return condition


def lexmin(solver: z3.Solver, groups: Sequence[Sequence[Objective]]) -> z3.ModelRef:
    """A model minimising the groups in order, each group lexicographically.

    Objectives are pinned on `solver` as they are settled: call it inside push()/pop().
    """
    if not is_sat(solver):
        raise Unsatisfiable
    model = solver.model()
    for group in groups:
        if not group:
            continue
        if len(group) > 1:
            total = Objective(z3.Sum([o.term for o in group]), sum(o.lower for o in group))
            model, _ = _minimize(solver, total, model)
            values = [_value(model, o.term) for o in group]
            if not is_sat(solver, _lex_smaller([o.term for o in group], values)):
                solver.add(*[o.term == v for o, v in zip(group, values, strict=True)])
                continue
            model = solver.model()
        for objective in group:
            model, best = _minimize(solver, objective, model)
            solver.add(objective.at_most(best))  # at most the least value: exactly it
    # The last model may predate the last pin only in name: re-check to return a model of everything.
    if not is_sat(solver):
        raise Unsatisfiable
    return solver.model()
