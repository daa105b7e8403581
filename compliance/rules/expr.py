"""The expression language of `value:` and `where:` (docs/rule-language.md).

A safe subset of Python syntax, parsed with the standard `ast` module and evaluated
exactly: numbers are `Fraction`s (2/3 is two thirds, 0.1 one tenth), and a value the
case does not hold is UNKNOWN, which propagates (Kleene logic for and/or/not).
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; use the three-valued helpers")


UNKNOWN: Any = _Unknown()


class ExprError(ValueError):
    pass


@dataclass(frozen=True)
class Expression:
    source: str
    tree: ast.Expression

    def names(self) -> set[str]:
        """Dotted names the expression reads (facts.x, data.y), for documentation and checks."""
        found = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                dotted = _dotted(node)
                if dotted:
                    found.add(dotted)
        return found

    def steps(self) -> set[str]:
        """Steps the expression refers to through count()/exists()/first()/last()/sum()."""
        found = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args and (
                node.func.id in STEP_FUNCTIONS
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
        return found


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Compare, ast.Eq, ast.NotEq, ast.Lt,
    ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Name, ast.Load,
    ast.Attribute, ast.Constant, ast.List, ast.Tuple, ast.Call, ast.Subscript, ast.IfExp,
)  # fmt: skip
NAMES = {"facts", "data", "event", "None", "true", "false"}
STEP_FUNCTIONS = {"count", "exists", "first", "last", "sum"}
FUNCTIONS = {"count", "exists", "first", "last", "sum", "len", "year", "min", "max", "all_of"}


def parse(source: str) -> Expression:
    try:
        tree = ast.parse(str(source).strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"expression {source!r}: syntax error: {exc.msg}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"expression {source!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExprError(f"expression {source!r}: unknown function; allowed: {', '.join(sorted(FUNCTIONS))}")
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS | NAMES:
            raise ExprError(f"expression {source!r}: unknown name {node.id!r}; use facts.x, data.x or event.actor")
    return Expression(str(source), tree)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def show(value: Any) -> str:
    """A value as a clerk wrote it: 2500 rather than Fraction(2500, 1)."""
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else str(float(value))
    return repr(value)


def exact(value: Any) -> Any:
    """Numbers as exact fractions; binary floats go through their shortest decimal text."""
    if isinstance(value, bool) or value is None or value is UNKNOWN:
        return value
    if isinstance(value, int | Fraction):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(repr(value))
    if isinstance(value, Decimal):
        return Fraction(value)
    if isinstance(value, str):
        text = value.strip().rstrip("%")
        try:
            number = Fraction(Decimal(text))
        except (ArithmeticError, ValueError):
            return value
        return number / 100 if value.strip().endswith("%") else number
    return value


@dataclass(frozen=True)
class Scope:
    """What an expression can see."""

    facts: dict[str, Any]
    data: dict[str, Any] | None
    occurrences: Callable[[str], list[dict[str, Any]]]  # step -> data dicts in date order
    event: dict[str, Any] | None = None  # the judged occurrence's own fields: actor, ref


class _Record:
    def __init__(self, values: dict[str, Any] | None) -> None:
        self.values = values

    def get(self, name: str) -> Any:
        if self.values is None:
            return UNKNOWN
        if name == "data":
            return _Record(self.values)
        value = self.values.get(name, UNKNOWN)
        if value is None:
            return UNKNOWN
        if isinstance(value, dict):
            return _Record(value)
        return exact(value)


def evaluate(expression: Expression, scope: Scope) -> Any:
    return _eval(expression.tree.body, scope)


def _eval(node: ast.AST, scope: Scope) -> Any:  # noqa: C901 - one dispatch over node kinds
    if isinstance(node, ast.Constant):
        return exact(node.value)
    if isinstance(node, ast.Name):
        if node.id == "facts":
            return _Record(scope.facts)
        if node.id == "data":
            return _Record(scope.data)
        if node.id == "event":
            return _Record(scope.event)
        if node.id in ("true", "false"):
            return node.id == "true"
        return None
    if isinstance(node, ast.Attribute):
        base = _eval(node.value, scope)
        if base is UNKNOWN:
            return UNKNOWN
        if isinstance(base, _Record):
            return base.get(node.attr)
        if isinstance(base, dict):
            return _Record(base).get(node.attr)
        raise ExprError(f"cannot read .{node.attr} of {base!r}")
    if isinstance(node, ast.Subscript):
        base, key = _eval(node.value, scope), _eval(node.slice, scope)
        if base is UNKNOWN or key is UNKNOWN:
            return UNKNOWN
        if isinstance(base, _Record):
            return base.get(str(key))
        try:
            return base[int(key)] if isinstance(base, list) else base[key]
        except (IndexError, KeyError, TypeError):
            return UNKNOWN
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, scope) for e in node.elts]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not3(value)
        if value is UNKNOWN:
            return UNKNOWN
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, scope), _eval(node.right, scope)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return UNKNOWN if right == 0 else Fraction(left) / Fraction(right)
        except (TypeError, ValueError) as exc:  # Fraction('about 800') is a ValueError
            raise ExprError(f"cannot compute with {show(left)} and {show(right)}") from exc
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, scope) for v in node.values]
        return and3(values) if isinstance(node.op, ast.And) else or3(values)
    if isinstance(node, ast.Compare):
        results = []
        left = _eval(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, scope)
            results.append(_compare(op, left, right))
            left = right
        return and3(results)
    if isinstance(node, ast.IfExp):
        test = _eval(node.test, scope)
        if test is UNKNOWN:
            return UNKNOWN
        return _eval(node.body if test else node.orelse, scope)
    if isinstance(node, ast.Call):
        return _call(node, scope)
    raise ExprError(f"unsupported expression node {type(node).__name__}")


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    if isinstance(op, ast.Is | ast.IsNot):
        missing = left is UNKNOWN or left is None
        wanted = right is None or right is UNKNOWN
        result = missing if wanted else left is right
        return result if isinstance(op, ast.Is) else not result
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    try:
        if isinstance(op, ast.Eq):
            return left == right
        if isinstance(op, ast.NotEq):
            return left != right
        if isinstance(op, ast.Lt):
            return left < right
        if isinstance(op, ast.LtE):
            return left <= right
        if isinstance(op, ast.Gt):
            return left > right
        if isinstance(op, ast.GtE):
            return left >= right
        if isinstance(op, ast.In):
            return left in _as_collection(right)
        if isinstance(op, ast.NotIn):
            return left not in _as_collection(right)
    except TypeError as exc:
        raise ExprError(f"cannot compare {show(left)} with {show(right)}") from exc
    raise ExprError(f"unsupported comparison {type(op).__name__}")


def _as_collection(value: Any) -> Any:
    if isinstance(value, _Record):
        return list(value.values or {})
    return value


def _call(node: ast.Call, scope: Scope) -> Any:
    name = node.func.id  # type: ignore[attr-defined]
    args = [_eval(a, scope) for a in node.args]
    if name in ("count", "exists", "first", "last", "sum"):
        step = args[0]
        items = scope.occurrences(str(step))
        if name == "count":
            return Fraction(len(items))
        if name == "exists":
            return bool(items)
        if name == "first":
            return _Record(items[0]) if items else UNKNOWN
        if name == "last":
            return _Record(items[-1]) if items else UNKNOWN
        field_name = str(args[1])
        values = [exact(i.get(field_name)) for i in items]
        if any(v is None for v in values):
            return UNKNOWN
        return sum(values, Fraction(0))
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    if name == "len":
        value = args[0]
        return Fraction(len(value.values or {}) if isinstance(value, _Record) else len(value))
    if name == "year":
        value = args[0]
        if isinstance(value, dt.date):
            return Fraction(value.year)
        return exact(str(value)[:4])
    if name in ("min", "max"):
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        return (min if name == "min" else max)(values)
    if name == "all_of":
        return and3(args[0])
    raise ExprError(f"unknown function {name}")


# --- Kleene three-valued logic ------------------------------------------------------------
def not3(value: Any) -> Any:
    return UNKNOWN if value is UNKNOWN else not value


def and3(values: list[Any]) -> Any:
    if any(v is not UNKNOWN and not v for v in values):
        return False
    return UNKNOWN if any(v is UNKNOWN for v in values) else True


def or3(values: list[Any]) -> Any:
    if any(v is not UNKNOWN and v for v in values):
        return True
    return UNKNOWN if any(v is UNKNOWN for v in values) else False
