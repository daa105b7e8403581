"""The official calendar as exact lookup tables for the z3 planner.

The solver cannot call `compliance.calendar`, so every calendar operation a schedule needs
is tabulated over the days it can touch, by calling the very same calendar functions the
audit engine uses (`evaluate.shift_each`, for a range of days what `evaluate.shift` is for
one; `Calendar.is_workday`). A table maps a day index to a shifted day index; consecutive
days whose image moves in step (`f(x) = x + k`) or stands still (`f(x) = c`, e.g. every day
of a weekend rolls to the same Monday) share one *piece*. A table becomes a balanced
if-then-else tree over the piece boundaries, so z3 decides a lookup with O(log pieces)
bound atoms instead of one case per day — exact on 调休 and holidays, with no weekday
approximation anywhere.

Day indices are ordinals relative to a base day, to keep the numbers z3 sees small.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import z3

from compliance.calendar import Calendar
from compliance.engine.evaluate import shift_each


@dataclass(frozen=True)
class DayIndex:
    """Dates ↔ small integers: the base day is 0."""

    base: dt.date

    def of(self, day: dt.date) -> int:
        return day.toordinal() - self.base.toordinal()

    def day(self, index: int) -> dt.date:
        return dt.date.fromordinal(self.base.toordinal() + index)


@dataclass(frozen=True)
class Piece:
    """From `start` (a day index) up to the next piece: f(x) = x + value, or f(x) = value."""

    start: int
    kind: Literal["offset", "const"]
    value: int


def compress(first: int, images: list[int]) -> list[Piece]:
    """Pieces for f over [first, first + len(images)), f(first + i) = images[i]."""
    pieces: list[Piece] = []
    for i, image in enumerate(images):
        x = first + i
        if pieces:
            last = pieces[-1]
            if last.kind == "offset" and image - x == last.value:
                continue
            if last.kind == "const" and image == last.value:
                continue
            if x - last.start == 1:
                # A one-day piece is both kinds; retype it if that lets today's image join it.
                previous = images[i - 1]
                if image == previous:
                    pieces[-1] = Piece(last.start, "const", previous)
                    continue
                if image - x == previous - (x - 1):
                    pieces[-1] = Piece(last.start, "offset", previous - (x - 1))
                    continue
        pieces.append(Piece(x, "offset", image - x))
    return pieces


def _tree(term: z3.ArithRef, pieces: list[Piece]) -> z3.ArithRef:
    if len(pieces) == 1:
        piece = pieces[0]
        return term + piece.value if piece.kind == "offset" else z3.IntVal(piece.value)
    middle = len(pieces) // 2
    return z3.If(term < pieces[middle].start, _tree(term, pieces[:middle]), _tree(term, pieces[middle:]))


def _bool_tree(term: z3.ArithRef, runs: list[tuple[int, bool]]) -> z3.BoolRef:
    if len(runs) == 1:
        return z3.BoolVal(runs[0][1])
    middle = len(runs) // 2
    return z3.If(term < runs[middle][0], _bool_tree(term, runs[:middle]), _bool_tree(term, runs[middle:]))


# Day indices count from a fixed epoch, so that tables (and the z3 trees built from them)
# can be shared by every problem that covers the same days.
EPOCH = DayIndex(dt.date(2000, 1, 1))
_PLACEHOLDER = z3.Int("day!")


@lru_cache(maxsize=256)
def _shift_pieces(calendar: Calendar, n: int, unit: str, sign: int, low: int, high: int) -> tuple[Piece, ...]:
    images = [EPOCH.of(day) for day in shift_each(calendar, EPOCH.day(low), EPOCH.day(high), n, unit, sign)]
    return tuple(compress(low, images))


@lru_cache(maxsize=64)
def _workday_runs(calendar: Calendar, low: int, high: int) -> tuple[tuple[int, bool], ...]:
    runs: list[tuple[int, bool]] = []
    for x in range(low, high + 1):
        working = calendar.is_workday(EPOCH.day(x))
        if not runs or runs[-1][1] != working:
            runs.append((x, working))
    return tuple(runs)


# Trees are built once per table over a placeholder day and instantiated with z3's own
# substitution: building them node by node through the Python API for every use is slow.
@lru_cache(maxsize=256)
def _shift_template(calendar: Calendar, n: int, unit: str, sign: int, low: int, high: int) -> z3.ArithRef:
    return _tree(_PLACEHOLDER, list(_shift_pieces(calendar, n, unit, sign, low, high)))


@lru_cache(maxsize=64)
def _workday_template(calendar: Calendar, low: int, high: int) -> z3.BoolRef:
    return _bool_tree(_PLACEHOLDER, list(_workday_runs(calendar, low, high)))


@dataclass(frozen=True)
class DayTables:
    """The calendar operations of CASES.md §3 as z3 terms, for day indices from `EPOCH`."""

    calendar: Calendar
    index: DayIndex = EPOCH

    def shift_pieces(self, n: int, unit: str, sign: int, low: int, high: int) -> list[Piece]:
        return list(_shift_pieces(self.calendar, n, unit, sign, low, high))

    def shift_image(self, n: int, unit: str, sign: int, low: int, high: int) -> tuple[int, int]:
        """Bounds of the shifted value for arguments in [low, high] (shifts are monotone)."""
        pieces = self.shift_pieces(n, unit, sign, low, high)
        return _apply(pieces, low), _apply(pieces, high)

    def shift_term(self, term: z3.ArithRef, n: int, unit: str, sign: int, low: int, high: int) -> z3.ArithRef:
        """`shift(term)` exactly, for a term known to lie in [low, high]."""
        template = _shift_template(self.calendar, n, unit, sign, low, high)
        return z3.substitute(template, (_PLACEHOLDER, term))  # type: ignore[return-value]

    def is_workday(self, term: z3.ArithRef, low: int, high: int) -> z3.BoolRef:
        """Whether `term` (known to lie in [low, high]) is a working day."""
        template = _workday_template(self.calendar, low, high)
        return z3.substitute(template, (_PLACEHOLDER, term))  # type: ignore[return-value]


def _apply(pieces: list[Piece], x: int) -> int:
    """f(x) from its pieces: the reference reading of a table, for bounds and tests."""
    piece = next(p for p in reversed(pieces) if p.start <= x)
    return x + piece.value if piece.kind == "offset" else piece.value
