"""Cell values from tables: dates as posted, and typed values for facts and step data."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import polars as pl

# 2024-03-01, 2024/3/1, 2024.03.01, 2024年3月1日, and timestamps that start with a date
# ("2010-12-30 14:32:00+01:00"): the date as written, in the log's own local time.
DATE_PATTERN = r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:$|[ T\s].*$)"
_DATE_RE = re.compile(DATE_PATTERN)
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def iso_date_expr(column: str) -> pl.Expr:
    """The ISO text of a date cell, or null when the cell holds no recognisable date."""
    col = pl.col(column)
    year = col.str.extract(DATE_PATTERN, 1)
    month = col.str.extract(DATE_PATTERN, 2).str.zfill(2)
    day = col.str.extract(DATE_PATTERN, 3).str.zfill(2)
    return pl.concat_str([year, month, day], separator="-")


def iso_date_text(value: Any) -> str | None:
    """The same as `iso_date_expr`, for one value (used where rows are built one by one)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    match = _DATE_RE.match(str(value))
    if not match:
        return None
    year, month, day = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"


def cell_text(value: Any) -> str | None:
    """A value from a typed source (Excel, XES, SQL JSON) as the text a CSV would hold."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def parse_cell(text: str | None) -> Any:
    """Typed value of a facts/data cell, as YAML would read it in a case file.

    Integers, decimals, true/false, ISO dates, and JSON lists/maps (`["a", "b"]`) for
    fields such as `contents`; anything else stays text.
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    lower = value.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if _INT_RE.match(value):
        return int(value)
    if _FLOAT_RE.match(value):
        return float(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    if value[0] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
