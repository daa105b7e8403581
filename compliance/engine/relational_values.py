"""`value:` expressions as column expressions, for the compiled plans (relational.py).

The expression language (rules/expr.py) is exact: numbers are Fractions, cells are typed as
YAML would type them, and a value of the wrong kind is a type mismatch. Column-wise, numbers
are decimals with ten places: sums, differences and products of clerks' figures (at most
five places each) and of decimal constants (30/100, 12/10) are exact there, so the common
caps — "at most 30 % of the agreed total" — are decided exactly, ties included. What a decimal
cannot hold exactly (2/3, a quotient) is *inexact*, and each compiled expression also yields a
*punt* column: true where the answer might differ from the exact one (an inexact comparison
within a hair of its bound, a divisor near zero, a cell that is not the plain number, flag or
text the expression expects). Rows that punt are judged by the direct evaluator, on the
case's own values, exactly; every other row gets the same answer as the exact evaluator.

Supported: facts.x, data.x (the judged occurrence's), first('s').data.x / last('s').data.x,
count('s'), exists('s'), numbers and text constants, + - * /, comparisons (one operator),
`in` / `not in` a list of texts, and / or / not. Anything else leaves the rule to the shape engine.
"""

from __future__ import annotations

import ast
import json
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Literal

import polars as pl

from compliance.engine.relational_logic import FALSE, all_of, any_of
from compliance.rules.expr import Expression, exact

Kind = Literal["num", "bool", "text", "cell"]
PLACES = 10
DECIMAL = pl.Decimal(38, PLACES)
CELL_PLACES = 5  # a cell with more places (or 20+ digits, or an exponent) goes to the exact evaluator
PLAIN_NUMBER = r"^[+-]?(\d{1,20}(\.\d{0,5})?|\.\d{1,5})$"
INT_RE = r"^[+-]?\d+$"
FLOAT_RE = r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$"
DECIMAL_LIKE = r"^\s*[+-]?(\d[\d_]*)?(\.[\d_]*)?([eE][+-]?\d+)?\s*$"
NO = FALSE  # no punt (recognised by identity when plans are folded: relational_logic)
COMPARISONS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
               ast.Gt: operator.gt, ast.GtE: operator.ge}  # fmt: skip
HAIR = pl.lit(Decimal("0.000001"), DECIMAL)  # far above ten-place rounding, far below any real margin


class Unsupported(ValueError):
    pass


@dataclass(frozen=True)
class Value:
    kind: Kind
    expr: pl.Expr
    punt: pl.Expr = NO
    places: int | None = 0  # decimal places a number needs at most; None: inexact (rounded to PLACES)
    constant: Fraction | None = None  # a number known when compiling
    word: str | None = None  # a text constant
    # An inexact number that is an exact one times a fraction (2/3 * members): (exact, numerator,
    # denominator). Compared with an exact number, both sides are multiplied out: exact again.
    ratio: tuple[pl.Expr, int, int] | None = None


@dataclass(frozen=True)
class Column:
    """A column the case frame or occurrence rows must carry for a compiled expression."""

    source: Literal["facts", "own", "first", "last"]
    name: str  # fact or data field
    step: str = ""

    @property
    def label(self) -> str:
        if self.source == "facts":
            return f"facts.{self.name}"
        if self.source == "own":
            return f"data.{self.name}"
        return f"data.{self.name}|{self.source}@{self.step}"


@dataclass
class ValueCompiler:
    """Compiles expressions; `needs` collects the columns they read."""

    count_column: object  # step -> column name of its count
    needs: set[Column] = field(default_factory=set)

    def truth(self, expression: Expression, subject: str | None) -> tuple[pl.Expr, pl.Expr]:
        """(value, punt): the expression's truth (null: unknown) and where only the exact evaluator may judge."""
        value = self.node(expression.tree.body, subject)
        return _truth(value)

    def node(self, node: ast.AST, subject: str | None) -> Value:
        if isinstance(node, ast.Constant):
            return _constant(node.value)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, subject)
        if isinstance(node, ast.Call):
            return self._call(node, subject)
        if isinstance(node, ast.UnaryOp):
            inner = self.node(node.operand, subject)
            if isinstance(node.op, ast.Not):
                value, punt = _truth(inner)
                return Value("bool", ~value, punt)
            number = _number(inner)
            if isinstance(node.op, ast.USub):
                return (
                    _num(-number.constant)
                    if number.constant is not None
                    else Value("num", -number.expr, number.punt, number.places)
                )
            return number
        if isinstance(node, ast.BinOp):
            left, right = _number(self.node(node.left, subject)), _number(self.node(node.right, subject))
            return _arithmetic(node.op, left, right)
        if isinstance(node, ast.BoolOp):
            parts = [_truth(self.node(v, subject)) for v in node.values]
            combine = all_of if isinstance(node.op, ast.And) else any_of
            return Value("bool", combine(*[v for v, _ in parts]), any_of(*[p for _, p in parts]))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise Unsupported("chained comparison")
            return self._compare(node.ops[0], self.node(node.left, subject), node.comparators[0], subject)
        raise Unsupported(type(node).__name__)

    def _attribute(self, node: ast.Attribute, subject: str | None) -> Value:
        base = node.value
        if isinstance(base, ast.Name) and base.id == "facts":
            return self.column(Column("facts", node.attr))
        if isinstance(base, ast.Name) and base.id == "data":
            if subject is None:
                return Value("cell", pl.lit(None, pl.Utf8))  # no judged occurrence: unknown, as the evaluator says
            return self.column(Column("own", node.attr))
        # first('s').data.x and first('s').x read the same record
        if isinstance(base, ast.Attribute) and base.attr == "data":
            base = base.value
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id in ("first", "last"):
            step = _step_argument(base)
            return self.column(Column(base.func.id, node.attr, step))  # type: ignore[arg-type]
        raise Unsupported("attribute")

    def column(self, column: Column) -> Value:
        self.needs.add(column)
        return Value("cell", pl.col(column.label))

    def _call(self, node: ast.Call, subject: str | None) -> Value:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name in ("count", "exists") and len(node.args) == 1:
            count = pl.col(self.count_column(_step_argument(node)))  # type: ignore[operator]
            return Value("num", count.cast(DECIMAL)) if name == "count" else Value("bool", count > 0)
        if name == "year" and len(node.args) == 1:
            return self._year(self.node(node.args[0], subject))
        raise Unsupported(f"function {name}")

    def _year(self, value: Value) -> Value:
        """year(d): the year of a date cell; any other cell (the evaluator reads its first four characters) punts."""
        if value.kind != "cell":
            raise Unsupported("year of a non-cell")
        cell = _cell(value.expr)
        date = cell.text.str.to_date("%Y-%m-%d", strict=False)
        iso = cell.text.str.contains(r"^\d{4}-\d{2}-\d{2}$") & date.is_not_null()
        year = pl.when(iso).then(cell.text.str.slice(0, 4).cast(pl.Int32, strict=False).cast(DECIMAL))
        return Value("num", year, any_of(value.punt, (cell.text.is_not_null() & ~iso).fill_null(False)), 0)

    def _compare(self, op: ast.cmpop, left: Value, right_node: ast.AST, subject: str | None) -> Value:
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right_node, ast.List | ast.Tuple):
                value, punt = _in_cell(left, self.node(right_node, subject))
                return Value("bool", ~value if isinstance(op, ast.NotIn) else value, punt)
            texts = [_text_constant(e) for e in right_node.elts]
            value, punt = _text_in(left, texts)
            return Value("bool", ~value if isinstance(op, ast.NotIn) else value, punt)
        right = self.node(right_node, subject)
        if isinstance(op, ast.Eq | ast.NotEq):
            if left.kind == "text" or right.kind == "text":
                value, punt = _text_equal(left, right)
                return Value("bool", ~value if isinstance(op, ast.NotEq) else value, punt)
            if left.kind == "bool" or right.kind == "bool":
                (lv, lp), (rv, rp) = _flag(left), _flag(right)
                value = lv == rv
                return Value("bool", ~value if isinstance(op, ast.NotEq) else value, lp | rp)
        if type(op) not in COMPARISONS:
            raise Unsupported(type(op).__name__)
        a, b = _number(left), _number(right)
        value = COMPARISONS[type(op)](a.expr, b.expr)
        punt = any_of(a.punt, b.punt)
        if a.places is None or b.places is None:
            ra, rb = _rational(a), _rational(b)
            if ra is not None and rb is not None:
                # x·p/q against y·r/s, multiplied out: x·p·s against y·r·q, exact decimals both.
                (x, p, q), (y, r, s) = ra, rb
                value = COMPARISONS[type(op)](x * pl.lit(p * s, pl.Int64), y * pl.lit(r * q, pl.Int64))
            else:
                punt = any_of(punt, ((a.expr - b.expr).abs() <= HAIR).fill_null(False))
        return Value("bool", value, punt)


def _rational(value: Value) -> tuple[pl.Expr, int, int] | None:
    """The number as (exact decimal, numerator, denominator), when it is one."""
    if value.places is not None:
        return value.expr, 1, 1
    return value.ratio


# Multiplied out, both sides must stay within DECIMAL's 28 digits before the point: a cell has
# at most 20, and each side is multiplied by at most RATIO_LIMIT² (2/3: by 3 and by 2).
RATIO_LIMIT = 1000


def _num(value: Fraction) -> Value:
    """A constant: exact when it has at most PLACES decimal places (30/100, 12/10), else rounded."""
    places = _places(value)
    rounded = Decimal(value.numerator) / Decimal(value.denominator)
    return Value("num", pl.lit(rounded.quantize(Decimal(1).scaleb(-PLACES)), DECIMAL), NO, places, value)


def _places(value: Fraction) -> int | None:
    for places in range(PLACES + 1):
        if (value * 10**places).denominator == 1:
            return places
    return None


def _arithmetic(op: ast.operator, a: Value, b: Value) -> Value:
    if a.constant is not None and b.constant is not None:  # folded exactly, as the evaluator would
        if isinstance(op, ast.Add):
            return _num(a.constant + b.constant)
        if isinstance(op, ast.Sub):
            return _num(a.constant - b.constant)
        if isinstance(op, ast.Mult):
            return _num(a.constant * b.constant)
        if isinstance(op, ast.Div) and b.constant != 0:
            return _num(a.constant / b.constant)
    punt = any_of(a.punt, b.punt)
    exact = a.places is not None and b.places is not None
    if isinstance(op, ast.Add | ast.Sub):
        expr = a.expr + b.expr if isinstance(op, ast.Add) else a.expr - b.expr
        return Value("num", expr, punt, max(a.places, b.places) if exact else None)  # type: ignore[type-var]
    if isinstance(op, ast.Mult):
        places = a.places + b.places if exact else None  # type: ignore[operator]
        if places is not None and places <= PLACES:
            return Value("num", a.expr * b.expr, punt, places)
        return Value("num", a.expr * b.expr, punt, None, ratio=_scaled(a, b) or _scaled(b, a))
    if isinstance(op, ast.Div):
        # x / 0 is unknown to the evaluator; a divisor within a hair of 0 is left to it.
        near_zero = (b.expr.abs() <= HAIR).fill_null(False)
        divisor = pl.when(near_zero).then(None).otherwise(b.expr)
        return Value("num", a.expr / divisor, any_of(punt, near_zero), None)
    raise Unsupported(type(op).__name__)


def _scaled(factor: Value, number: Value) -> tuple[pl.Expr, int, int] | None:
    """An exact number times a constant fraction, as (exact number, numerator, denominator)."""
    if factor.constant is None or number.places is None or number.places > PLACES:
        return None
    c = factor.constant
    if max(abs(c.numerator), c.denominator) > RATIO_LIMIT:
        return None
    return number.expr, c.numerator, c.denominator


def _step_argument(node: ast.Call) -> str:
    if not node.args or not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
        raise Unsupported("step name")
    return node.args[0].value


def _constant(value: object) -> Value:
    if isinstance(value, bool):
        return Value("bool", pl.lit(value))
    if isinstance(value, int | float):
        return _num(exact(value))
    if isinstance(value, str):
        return Value("text", pl.lit(_text_constant_value(value)), word=value)
    raise Unsupported(f"constant {value!r}")


def _text_constant(node: ast.AST) -> str:
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        raise Unsupported("list of non-texts")
    return _text_constant_value(node.value)


def _text_constant_value(value: str) -> str:
    # The evaluator reads '1.5' as a number and 'true' in a cell as a flag: only plain words compare as text.
    if not isinstance(exact(value), str) or value.strip().lower() in ("true", "false") or value != value.strip():
        raise Unsupported(f"text {value!r} that is not plain")
    return value


# --- cells: how the evaluator types them (importers.cells.parse_cell) ---------------------------


@dataclass(frozen=True)
class Cell:
    text: pl.Expr  # stripped, null when blank
    flag: pl.Expr  # true / false, any case
    true: pl.Expr  # the flag's value
    number: pl.Expr  # an integer or decimal, as parse_cell reads one
    plain: pl.Expr  # none of those, nor a date or JSON: text as written
    simple: pl.Expr  # a number with at most CELL_PLACES places and 20 digits, no exponent
    decimal: pl.Expr  # that number, exactly
    listed: pl.Expr  # a JSON list of plain strings (no quotes or escapes inside)


CELL_PARTS = ("text", "flag", "true", "number", "plain", "simple", "decimal", "listed")
# In a simple list an item is present exactly when its quoted text is: no element can hide a quote.
SIMPLE_LIST = r'^\[\s*(?:"[^"\\]*"\s*(?:,\s*"[^"\\]*"\s*)*)?\]$'


def with_cells(
    frame: pl.DataFrame, labels: list[str], wanted: set[str] | None = None, repeats: bool = False
) -> pl.DataFrame:
    """The frame with the typed views of its cell columns `labels` (those in `wanted`, by column name).

    The views are computed in stages — the stripped text, the views read from it, the decimal
    read from those — so that each is computed once (an eager query would compute a shared
    subexpression once per use). `repeats`: the columns hold few distinct texts (step data:
    flags, document lists, votes), so on a long frame the views are computed once per distinct
    text and gathered to the rows. (Facts, one row per case, differ too often for that to pay.)
    """
    stages: list[list[pl.Expr]] = [[], [], []]
    typed: list[str] = []  # the labels with views wanted
    for label in labels:
        columns = _cell_columns(label, _parts(label, wanted))
        if any(columns):
            typed.append(label)
        for stage, exprs in zip(stages, columns, strict=True):
            stage.extend(exprs)
    if not typed:
        return frame
    if not repeats or frame.height < DISTINCT_FROM:
        for stage in stages:
            if stage:
                frame = frame.with_columns(stage)
        return frame
    distinct = {label: frame.get_column(label).unique(maintain_order=True) for label in typed}  # null too
    # One small frame holds every column's distinct texts (the shorter ones padded with nulls, never read).
    longest = max(texts.len() for texts in distinct.values())
    padded = {label: [*texts.to_list(), *[None] * (longest - texts.len())] for label, texts in distinct.items()}
    views = pl.DataFrame(padded, schema=dict.fromkeys(padded, pl.Utf8))
    for stage in stages:
        if stage:
            views = views.with_columns(stage)
    columns: list[pl.Series] = []
    for label, texts in distinct.items():
        at = frame.get_column(label).replace_strict(texts, pl.int_range(texts.len(), dtype=pl.UInt32, eager=True))
        made = {f"{label}|{part}" for part in CELL_PARTS}
        columns += [views.get_column(n)[at] for n in views.columns if n in made]
    return frame.with_columns(columns)


DISTINCT_FROM = 2000  # rows from which typing distinct texts and gathering beats typing every row


def _parts(label: str, wanted: set[str] | None) -> tuple[str, ...]:
    return tuple(part for part in CELL_PARTS if wanted is None or f"{label}|{part}" in wanted)


@lru_cache(maxsize=4096)
def _cell_columns(label: str, parts: tuple[str, ...]) -> tuple[tuple[pl.Expr, ...], ...]:
    """The three stages of `with_cells` for one cell column. Built once per process: every chunk
    asks for the same views, and building them took longer than computing them."""
    if not parts:
        return (), (), ()
    text = pl.col(f"{label}|text")
    views = _parse(pl.col(label), text, pl.col(f"{label}|simple"))
    first = (views.text.alias(f"{label}|text"),)
    second = tuple(
        getattr(views, part).alias(f"{label}|{part}")
        for part in CELL_PARTS
        if part not in ("text", "decimal") and (part in parts or (part == "simple" and "decimal" in parts))
    )
    third = (views.decimal.alias(f"{label}|decimal"),) if "decimal" in parts else ()
    return first, second, third


def _parse(expr: pl.Expr, text: pl.Expr | None = None, simple_col: pl.Expr | None = None) -> Cell:
    """The typed views of a cell; `text` / `simple_col`: those views already computed, to read them from."""
    stripped = expr.str.strip_chars()
    own_text = pl.when(stripped == "").then(None).otherwise(stripped)
    text = own_text if text is None else text
    lower = text.str.to_lowercase()
    flag = lower.is_in(["true", "false"])
    number = text.str.contains(INT_RE) | text.str.contains(FLOAT_RE)
    typed = text.str.contains(r"^\d{4}-\d{2}-\d{2}$") | text.str.contains(r"^[\[{]")
    simple = text.str.contains(PLAIN_NUMBER)
    decimal = pl.when(simple if simple_col is None else simple_col).then(
        text.str.strip_prefix("+").cast(DECIMAL, strict=False)
    )
    listed = text.str.contains(SIMPLE_LIST).fill_null(False)
    return Cell(own_text, flag, lower == "true", number, ~flag & ~number & ~typed, simple, decimal, listed)


def typed(expr: pl.Expr) -> Cell:
    """A cell column's typed views (computed once per frame by `with_cells`), or parsed in place for a literal."""
    return _cell(expr)


def _cell(expr: pl.Expr) -> Cell:
    names = expr.meta.root_names()
    if not names:  # a literal (no occurrence to read): parsed in place
        return _parse(expr)
    label = names[0]
    return Cell(*[pl.col(f"{label}|{part}") for part in CELL_PARTS])


def _number(value: Value) -> Value:
    if value.kind == "num":
        return value
    if value.kind != "cell":
        raise Unsupported(f"{value.kind} where a number is wanted")
    cell = _cell(value.expr)
    bad = (cell.text.is_not_null() & (~cell.simple | cell.decimal.is_null())).fill_null(False)
    return Value("num", cell.decimal, any_of(value.punt, bad), CELL_PLACES)


def _flag(value: Value) -> tuple[pl.Expr, pl.Expr]:
    """A value compared with True/False: a flag cell reads as one; any other cell goes to the exact evaluator."""
    if value.kind == "bool":
        return value.expr, value.punt
    if value.kind != "cell":
        raise Unsupported(f"{value.kind} compared with a flag")
    cell = _cell(value.expr)
    flag = pl.when(cell.flag).then(cell.true).otherwise(None)
    return flag, any_of(value.punt, (cell.text.is_not_null() & ~cell.flag).fill_null(False))


def _truth(value: Value) -> tuple[pl.Expr, pl.Expr]:
    """The truth of a value used as a condition (Python truthiness of the typed cell)."""
    if value.kind == "bool":
        return value.expr, value.punt
    if value.kind == "num":
        near_zero = (value.expr.abs() <= HAIR).fill_null(False) if value.places is None else NO
        return value.expr != 0, any_of(value.punt, near_zero)
    if value.kind == "cell":
        cell = _cell(value.expr)
        flag = pl.when(cell.flag).then(cell.true)
        other = (cell.text.is_not_null() & ~cell.flag).fill_null(False)
        return flag.otherwise(None), any_of(value.punt, other)
    raise Unsupported(f"truth of {value.kind}")


def _text_equal(left: Value, right: Value) -> tuple[pl.Expr, pl.Expr]:
    cell, constant = (left, right) if right.kind == "text" else (right, left)
    if constant.kind != "text" or cell.kind not in ("cell", "text"):
        raise Unsupported("text compared with a non-text")
    if cell.kind == "text":
        return cell.expr == constant.expr, any_of(cell.punt, constant.punt)
    typed = _cell(cell.expr)
    # A number, flag, date or list never equals a word; dates and JSON are left to the exact evaluator.
    value = pl.when(typed.text.is_null()).then(None).when(typed.plain).then(typed.text == constant.expr)
    unclear = (typed.text.is_not_null() & ~typed.plain & ~typed.flag & ~typed.number).fill_null(False)
    return value.otherwise(False), any_of(cell.punt, unclear)


def _in_cell(item: Value, container: Value) -> tuple[pl.Expr, pl.Expr]:
    """'营业执照' in data.documents: an item of a list of plain strings, or a part of a text (Python's `in`);
    a cell of any other kind is left to the exact evaluator."""
    if item.word is None or container.kind != "cell" or '"' in item.word or "\\" in item.word:
        raise Unsupported("in with a non-text item or a non-cell container")
    cell = _cell(container.expr)
    # The evaluator reads text that Decimal accepts ("50%", "1_000") as a number, and `in` a number fails.
    decimal_like = cell.text.str.strip_chars_end("%").str.contains(DECIMAL_LIKE) & cell.text.str.contains(r"\d")
    text = cell.plain & ~decimal_like.fill_null(False)
    value = (
        pl.when(cell.text.is_null()).then(None)
        .when(cell.listed).then(cell.text.str.contains(json.dumps(item.word, ensure_ascii=False), literal=True))
        .when(text).then(cell.text.str.contains(item.word, literal=True))
    )  # fmt: skip
    punt = (cell.text.is_not_null() & ~cell.listed & ~text).fill_null(False)
    return value.otherwise(None), any_of(container.punt, punt)


def _text_in(value: Value, texts: list[str]) -> tuple[pl.Expr, pl.Expr]:
    if value.kind == "text":
        return value.expr.is_in(texts), value.punt
    if value.kind != "cell":
        raise Unsupported("in with a non-text")
    typed = _cell(value.expr)
    result = pl.when(typed.text.is_null()).then(None).when(typed.plain).then(typed.text.is_in(texts))
    unclear = (typed.text.is_not_null() & ~typed.plain & ~typed.flag & ~typed.number).fill_null(False)
    return result.otherwise(False), any_of(value.punt, unclear)
