"""Kleene connectives folded at compile time: literal truth values and repeats vanish, the logic stays Kleene's."""

from __future__ import annotations

import polars as pl

from compliance.engine.relational_logic import FALSE, TRUE, all_of, any_of, choose, is_unknown, negation

X, Y = pl.col("x"), pl.col("y")
FRAME = pl.DataFrame(
    {"x": [True, True, True, False, False, False, None, None, None],
     "y": [True, False, None, True, False, None, True, False, None]},
    schema={"x": pl.Boolean, "y": pl.Boolean},
)  # fmt: skip


def _values(expr: pl.Expr) -> list:
    return FRAME.select(expr.alias("v"))["v"].to_list()


def test_a_false_part_makes_all_of_false_and_a_true_part_makes_any_of_true():
    assert all_of(X, FALSE) is FALSE
    assert any_of(TRUE, X) is TRUE


def test_literal_neutral_parts_and_repeats_are_dropped():
    assert all_of(TRUE, X, X).meta.eq(X)
    assert any_of(FALSE, X, pl.col("x")).meta.eq(X)
    assert all_of() is TRUE and any_of() is FALSE


def test_folded_connectives_keep_kleene_logic():
    assert _values(all_of(X, Y)) == _values(X & Y)
    assert _values(any_of(X, Y)) == _values(X | Y)
    assert _values(any_of(X, Y)) == [True, True, True, True, False, None, True, None, None]


def test_negation_of_a_literal_is_the_other_literal():
    assert negation(TRUE) is FALSE and negation(FALSE) is TRUE
    assert _values(negation(X)) == _values(~X)


def test_choose_on_a_literal_condition_is_the_branch_and_a_null_condition_takes_otherwise():
    assert choose(TRUE, X, Y) is X and choose(FALSE, X, Y) is Y
    assert choose(Y, X, X) is X
    assert _values(choose(X, pl.lit(1), pl.lit(2))) == [1, 1, 1, 2, 2, 2, 2, 2, 2]


def test_a_literal_truth_value_is_never_unknown():
    assert is_unknown(TRUE) is FALSE and is_unknown(FALSE) is FALSE
    assert _values(is_unknown(X)) == [False] * 6 + [True] * 3
