"""Kleene connectives on Polars boolean expressions, folded while the plans are compiled.

Polars plans a query in time proportional to its expression tree, chunk after chunk. A rule's
compiled form is full of literal truth values (no `when:` is `true`; no punt is `false`) and
of the same condition repeated (every `contains` item of one cell shares its punt): folding
them here keeps the trees, and so each chunk's planning, small. Literal values are recognised
by identity, so every part of the compiler uses TRUE and FALSE from here.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

TRUE, FALSE = pl.lit(True), pl.lit(False)
UNKNOWN_VALUE = pl.lit(None, pl.Boolean)


def all_of(*parts: pl.Expr) -> pl.Expr:
    """Kleene and; FALSE if any part is FALSE, TRUE parts and repeats dropped."""
    return _folded(parts, neutral=TRUE, absorbing=FALSE, combine=lambda a, b: a & b)


def any_of(*parts: pl.Expr) -> pl.Expr:
    """Kleene or; TRUE if any part is TRUE, FALSE parts and repeats dropped."""
    return _folded(parts, neutral=FALSE, absorbing=TRUE, combine=lambda a, b: a | b)


def _folded(
    parts: tuple[pl.Expr, ...], neutral: pl.Expr, absorbing: pl.Expr, combine: Callable[[pl.Expr, pl.Expr], pl.Expr]
) -> pl.Expr:
    if any(p is absorbing for p in parts):
        return absorbing
    kept = _distinct([p for p in parts if p is not neutral])
    return _balanced(kept, combine) if kept else neutral


def _balanced(parts: list[pl.Expr], combine: Callable[[pl.Expr, pl.Expr], pl.Expr]) -> pl.Expr:
    """The parts combined as a balanced tree: Polars plans a left-deep chain of n parts in time
    growing with n² (50 parts: 1.7 ms a query; balanced, 0.1 ms)."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return combine(_balanced(parts[:middle], combine), _balanced(parts[middle:], combine))


def negation(part: pl.Expr) -> pl.Expr:
    if part is TRUE:
        return FALSE
    if part is FALSE:
        return TRUE
    return ~part


def choose(condition: pl.Expr, then: pl.Expr, otherwise: pl.Expr) -> pl.Expr:
    """`then` where `condition` holds, else `otherwise` (a null condition takes `otherwise`, as when/then does)."""
    if condition is FALSE or then is otherwise:
        return otherwise
    if condition is TRUE:
        return then
    return pl.when(condition).then(then).otherwise(otherwise)


def is_unknown(value: pl.Expr) -> pl.Expr:
    return FALSE if value is TRUE or value is FALSE else value.is_null()


def _distinct(parts: list[pl.Expr]) -> list[pl.Expr]:
    kept: list[pl.Expr] = []
    for part in parts:
        if not any(part is k or part.meta.eq(k) for k in kept):
            kept.append(part)
    return kept
