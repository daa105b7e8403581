"""A realistic synthetic batch: variants of the sample cases (every pack and procedure).

Each case is a sample shifted by whole weeks (so weekdays stay weekdays, while holidays
move under it), with repeated agreements/payments added up to about 25 events, numeric
facts varied by ±20 %, and, for about a third of the cases, one event moved by a few days
— which makes a realistic mix of compliant and violating cases.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compliance.sourcefile import load_file

SAMPLES = Path(__file__).resolve().parents[1] / "cases_samples"
REPEATABLE = ("compensation_agreement", "compensation_paid", "payment", "acquisition_agreement", "compensation_deposit")
DATE_FIELDS = ("date", "start", "end")


def templates(directory: Path = SAMPLES) -> list[dict[str, Any]]:
    """The samples; those named *compliant* are the clean ones (the others each show a violation)."""
    out = []
    for path in sorted(directory.glob("*.y*ml")):
        data = load_file(path).data
        data["__file"] = path.name
        out.append(data)
    return out


def generate(count: int, seed: int = 1, target_events: int = 25, disturb: float = 0.2) -> Iterator[dict[str, Any]]:
    """`count` cases; about 70 % start from a compliant sample, the rest from a violating one."""
    rng = random.Random(seed)
    bases = templates()
    clean = [b for b in bases if "compliant" in str(b.get("title", "")) or _is_clean(b)]
    others = [b for b in bases if b not in clean]
    for index in range(count):
        pool = clean if clean and (not others or rng.random() < 0.7) else others
        case = copy.deepcopy(pool[index % len(pool)])
        case.pop("__file", None)
        case["case"] = f"G{index:07d}"
        weeks = rng.randint(-10, 60)
        _shift(case, dt.timedelta(weeks=weeks))
        _repeat(case, rng, target_events + rng.randint(-4, 4))
        _vary_facts(case, rng)
        if rng.random() < disturb:
            _disturb(case, rng)
        yield case


def _is_clean(case: dict[str, Any]) -> bool:
    return "compliant" in str(case.get("__file", ""))


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _shift(case: dict[str, Any], delta: dt.timedelta) -> None:
    for event in case.get("events", []):
        for name in DATE_FIELDS:
            day = _as_date(event.get(name)) if event.get(name) is not None else None
            if day:
                event[name] = day + delta
        for key, value in (event.get("data") or {}).items():
            day = _as_date(value) if key.endswith("_date") else None
            if day:
                event["data"][key] = day + delta
    if case.get("today"):
        case["today"] = _as_date(case["today"]) + delta


def _repeat(case: dict[str, Any], rng: random.Random, target: int) -> None:
    events = case.get("events", [])
    candidates = [e for e in events if e.get("step") in REPEATABLE and e.get("date")]
    while candidates and len(events) < target:
        original = rng.choice(candidates)
        extra = copy.deepcopy(original)
        extra["date"] = _as_date(original["date"])  # several agreements or payments on one day
        events.insert(events.index(original) + 1, extra)


def _vary_facts(case: dict[str, Any], rng: random.Random) -> None:
    for key, value in (case.get("facts") or {}).items():
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and value > 10):
            case["facts"][key] = round(value * rng.uniform(0.8, 1.2), 1)


def _disturb(case: dict[str, Any], rng: random.Random) -> None:
    events = [e for e in case.get("events", []) if e.get("date") or e.get("end")]
    if not events:
        return
    event = rng.choice(events)
    delta = dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(1, 20))
    if event.get("date"):
        event["date"] = _as_date(event["date"]) + delta
    else:
        end = _as_date(event["end"]) + delta
        start = _as_date(event["start"])
        event["end"] = max(end, start) if start else end
