"""Rule templates (docs/rule-language.md) → the core form (compliance/rules/core.py).

Templates are sugar: `precedence`, `window`, `min_period`… all become date atoms and
value atoms here, once, so that every engine reads the same thing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from compliance.rules import expr as expressions
from compliance.rules.core import (
    AllOf,
    AnyOf,
    Check,
    ConstAtom,
    ContainsAtom,
    DateAtom,
    ExistsAtom,
    Fixed,
    IfThen,
    NotOf,
    OrderCheck,
    Ref,
    Shift,
    Term,
    ValueAtom,
    Yearly,
)
from compliance.vocabulary import Vocabulary


class RuleCompileError(ValueError):
    pass


MISSING = ("violated", "unknown", "not_applicable", "satisfied")


class Compiler:
    """Compiles one rule's `check:` and `when:`; knows the vocabulary to validate references."""

    def __init__(self, vocabulary: Vocabulary, where: str) -> None:
        self.vocabulary = vocabulary
        self.where = where
        self.subjects: list[str] = []  # per-occurrence steps the templates judge
        self.missing_subject: str | None = None

    def fail(self, message: str) -> RuleCompileError:
        return RuleCompileError(f"{self.where}: {message}")

    # --- references and terms ----------------------------------------------------------
    def ref(self, text: Any) -> Ref:
        if not isinstance(text, str) or not text:
            raise self.fail(f"expected a reference like `hearing` or `pre_announcement.end`, got {text!r}")
        last = text.endswith("@last")
        body = text.removesuffix("@last").removesuffix("@first")
        parts = body.split(".")
        step_id = parts[0]
        if step_id not in self.vocabulary.steps:
            close = self.vocabulary.suggest(step_id)
            hint = f" (did you mean {close.id}?)" if close else ""
            raise self.fail(f"unknown step {step_id!r} in reference {text!r}{hint}")
        step = self.vocabulary.get(step_id)
        if len(parts) == 1:
            if step.is_period:
                raise self.fail(f"{step_id} is a period: say {step_id}.start or {step_id}.end")
            return Ref(step_id, "date", last=last)
        if parts[1] in ("start", "end") and len(parts) == 2:
            if not step.is_period:
                raise self.fail(f"{step_id} is an instant: it has no .{parts[1]}")
            return Ref(step_id, parts[1], last=last)  # type: ignore[arg-type]
        if parts[1] == "date" and len(parts) == 2 and not step.is_period:
            return Ref(step_id, "date", last=last)
        if parts[1] == "data" and len(parts) == 3:
            return Ref(step_id, "data", data_field=parts[2], last=last)
        raise self.fail(f"cannot read reference {text!r}")

    def term(self, spec: Any) -> Term:
        if isinstance(spec, str):
            return self.ref(spec)
        if isinstance(spec, dt.date):
            return Fixed(spec)
        if not isinstance(spec, dict):
            raise self.fail(f"expected a term (reference, shift, date or yearly), got {spec!r}")
        if "date" in spec and len(spec) == 1:
            value = spec["date"]
            return Fixed(value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)))
        if "yearly" in spec:
            y = spec["yearly"]
            try:
                return Yearly(self.ref(y["year"]), int(y.get("offset", 0)), int(y["month"]), int(y["day"]))
            except KeyError as exc:
                raise self.fail(f"yearly needs year, month and day: missing {exc}") from exc
        if "ref" in spec:
            base = self.ref(spec["ref"])
            if spec.get("where") is not None:
                base = replace(base, where=self.expression(spec["where"]))
            shift_keys = [k for k in ("plus", "minus") if k in spec]
            if not shift_keys:
                return base
            if len(shift_keys) > 1:
                raise self.fail("a term has either plus or minus, not both")
            amount = spec[shift_keys[0]]
            if not isinstance(amount, dict) or len(amount) != 1:
                raise self.fail(f"{shift_keys[0]} takes one of days, working_days, calendar_days: {amount!r}")
            ((unit, n),) = amount.items()
            if unit not in ("days", "working_days", "calendar_days"):
                raise self.fail(f"unknown unit {unit!r}; use days, working_days or calendar_days")
            if not isinstance(n, int) or n < 0:
                raise self.fail(f"{unit} must be a non-negative whole number, got {n!r}")
            return Shift(base, n, unit, 1 if shift_keys[0] == "plus" else -1)
        raise self.fail(f"cannot read term {spec!r}")

    def expression(self, source: Any) -> expressions.Expression:
        try:
            parsed = expressions.parse(str(source))
        except expressions.ExprError as exc:
            raise self.fail(str(exc)) from exc
        for step in parsed.steps():
            if step not in self.vocabulary.steps:
                raise self.fail(f"expression {source!r} names unknown step {step!r}")
        return parsed

    def missing(self, value: Any, default: str) -> str:
        value = default if value is None else value
        if value not in MISSING:
            raise self.fail(f"missing policy must be one of {', '.join(MISSING)}, got {value!r}")
        return value

    # --- conditions (when:, if.cond) ------------------------------------------------------
    def condition(self, spec: Any) -> Check:
        if isinstance(spec, str):
            return ValueAtom(self.expression(spec))
        if not isinstance(spec, dict) or len(spec) != 1:
            raise self.fail(f"a condition is one of exists, absent, value, all, any, not: {spec!r}")
        ((kind, body),) = spec.items()
        if kind == "exists":
            step, where = self._step_where(body)
            return ExistsAtom(step, where)
        if kind == "absent":
            step, where = self._step_where(body)
            return NotOf(ExistsAtom(step, where))
        if kind == "value":
            return ValueAtom(self.expression(body))
        if kind in ("all", "any"):
            parts = tuple(self.condition(p) for p in _as_list(body, self))
            return AllOf(parts) if kind == "all" else AnyOf(parts)
        if kind == "not":
            return NotOf(self.condition(body))
        raise self.fail(f"unknown condition {kind!r}")

    def _step_where(self, body: Any) -> tuple[str, expressions.Expression | None]:
        if isinstance(body, str):
            return self._step_id(body), None
        if isinstance(body, dict) and "step" in body:
            where = body.get("where")
            return self._step_id(body["step"]), (self.expression(where) if where is not None else None)
        raise self.fail(f"expected a step or {{step, where}}, got {body!r}")

    def _step_id(self, name: Any) -> str:
        if name not in self.vocabulary.steps:
            raise self.fail(f"unknown step {name!r}")
        return str(name)

    # --- checks ------------------------------------------------------------------------
    def check(self, spec: Any) -> Check:
        if isinstance(spec, dict) and "for_each" in spec and len(spec) == 2:
            # `for_each` beside a template: that part is judged per occurrence of the step.
            spec = dict(spec)
            self.subjects.append(self._step_id(spec.pop("for_each")))
        if not isinstance(spec, dict) or len(spec) != 1:
            raise self.fail(f"`check` holds exactly one template, got {spec!r}")
        ((kind, body),) = spec.items()
        method = getattr(self, f"_t_{kind}", None)
        if method is None:
            raise self.fail(
                f"unknown template {kind!r}; templates: precedence, order, window, date, min_period, "
                "exists, absent, exactly_one, value, contains, all, any, not, if"
            )
        return method(body)

    def _subject(self, ref: Ref, missing: str | None = None) -> None:
        self.subjects.append(ref.step)
        if missing is not None and missing != "not_applicable":
            self.missing_subject = missing

    def _t_precedence(self, body: dict) -> Check:
        _require(body, ("before", "after"), self)
        before, after = self.term(body["before"]), self.ref(body["after"])
        if not isinstance(before, Ref):
            raise self.fail("precedence: `before` is a reference, or {ref, where} to count only some occurrences")
        self._subject(after)
        missing = self.missing(body.get("missing_before"), "violated")
        return DateAtom(after, ">=", before, missing_term=missing)

    def _t_order(self, body: Any) -> Check:
        steps = body.get("steps") if isinstance(body, dict) else body
        refs = tuple(self.ref(s) for s in _as_list(steps, self))
        if len(refs) < 2:
            raise self.fail("order needs at least two steps")
        return OrderCheck(refs)

    def _t_window(self, body: dict) -> Check:
        if "event" not in body:
            raise self.fail("window needs `event`")
        body = dict(body)
        within = body.pop("within", None)
        if within is not None:
            anchor = body.get("after") or body.get("from")
            if anchor is None:
                raise self.fail("window with `within` needs `after` (or `from`)")
            if "until" in body:
                raise self.fail("window: give `within` or `until`, not both")
            body["until"] = {"ref": anchor, "plus": within}
        return self._t_date(body)

    def _t_date(self, body: dict) -> Check:
        allowed = {"event", "after", "from", "not_before", "until", "not_after", "before", "on",
                   "missing_event", "missing_anchor"}  # fmt: skip
        unknown = set(body) - allowed
        if unknown:
            raise self.fail(f"date/window: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        subject = self.ref(body["event"])
        missing_event = self.missing(body.get("missing_event"), "not_applicable")
        self._subject(subject, missing_event)
        missing_anchor = self.missing(body.get("missing_anchor"), "unknown")
        ops = {"after": ">", "from": ">=", "not_before": ">=", "until": "<=", "not_after": "<=", "before": "<",
               "on": "=="}  # fmt: skip
        atoms = [
            DateAtom(subject, op, self.term(body[key]), missing_term=missing_anchor)  # type: ignore[arg-type]
            for key, op in ops.items()
            if key in body
        ]
        if not atoms:
            raise self.fail("date/window needs at least one bound (after, from, until, before, on…)")
        return atoms[0] if len(atoms) == 1 else AllOf(tuple(atoms))

    def _t_min_period(self, body: dict) -> Check:
        _require(body, ("step",), self)
        step = self._step_id(body["step"])
        if not self.vocabulary.get(step).is_period:
            raise self.fail(f"min_period needs a period step; {step} is an instant")
        units = [u for u in ("days", "working_days") if u in body]
        if len(units) != 1:
            raise self.fail("min_period takes exactly one of days, working_days")
        unit = units[0]
        start, end = Ref(step, "start"), Ref(step, "end")
        self._subject(end)
        return DateAtom(end, ">=", Shift(start, int(body[unit]), unit), missing_term="unknown")  # type: ignore[arg-type]

    def _t_exists(self, body: Any) -> Check:
        step, where = self._step_where(body)
        return ExistsAtom(step, where)

    def _t_absent(self, body: Any) -> Check:
        step, where = self._step_where(body)
        if where is not None:
            return NotOf(ExistsAtom(step, where))
        self.subjects.append(step)
        self.missing_subject = "satisfied"  # nothing there: the prohibition holds
        return ConstAtom(False, f"{step} must not occur")

    def _t_exactly_one(self, body: Any) -> Check:
        steps = [self._step_id(s) for s in _as_list(body.get("steps") if isinstance(body, dict) else body, self)]
        source = " + ".join(f"count({s!r})" for s in steps) + " == 1"
        return ValueAtom(self.expression(source), missing="unknown")

    def _t_value(self, body: Any) -> Check:
        if isinstance(body, dict):
            missing = self.missing(body.get("missing"), "unknown")
            return ValueAtom(self.expression(body["expr"]), missing=missing)  # type: ignore[arg-type]
        return ValueAtom(self.expression(body))

    def _t_contains(self, body: dict) -> Check:
        _require(body, ("step", "field", "items"), self)
        step = self._step_id(body["step"])
        self.subjects.append(step)
        return ContainsAtom(str(body["field"]), tuple(str(i) for i in _as_list(body["items"], self)))

    def _t_all(self, body: Any) -> Check:
        return AllOf(tuple(self.check(p) for p in _as_list(body, self)))

    def _t_any(self, body: Any) -> Check:
        return AnyOf(tuple(self.check(p) for p in _as_list(body, self)))

    def _t_not(self, body: Any) -> Check:
        return NotOf(self.check(body))

    def _t_if(self, body: dict) -> Check:
        _require(body, ("cond", "then"), self)
        otherwise = self.check(body["else"]) if body.get("else") is not None else None
        return IfThen(self.condition(body["cond"]), self.check(body["then"]), otherwise)


def _require(body: Any, keys: tuple[str, ...], compiler: Compiler) -> None:
    if not isinstance(body, dict):
        raise compiler.fail(f"expected a mapping with {', '.join(keys)}, got {body!r}")
    missing = [k for k in keys if k not in body]
    if missing:
        raise compiler.fail(f"missing {', '.join(missing)}")


def _as_list(value: Any, compiler: Compiler) -> list:
    if not isinstance(value, list):
        raise compiler.fail(f"expected a list, got {value!r}")
    return value
