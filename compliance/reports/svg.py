"""Inline SVG charts and case timelines for the HTML report (no script, no external files)."""

from __future__ import annotations

import datetime as dt
from xml.sax.saxutils import escape

from compliance.findings import Finding

COLOURS = {"compliant": "#2e7d32", "violations": "#c62828", "incomplete": "#f9a825", "error": "#6d6d6d"}
FONT = "font-family='Noto Sans CJK SC, Microsoft YaHei, sans-serif' font-size='12'"


def stacked_bars(rows: list[tuple[str, list[tuple[int, str]]]], width: int = 760, label_width: int = 260) -> str:
    """Horizontal bars, one per row, each made of coloured segments (value, colour)."""
    if not rows:
        return "<p class='empty'>—</p>"
    bar_h, gap = 18, 6
    total_max = max(sum(v for v, _ in segments) for _, segments in rows) or 1
    scale = (width - label_width - 60) / total_max
    height = len(rows) * (bar_h + gap) + gap
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' {FONT}>"
    ]
    for i, (label, segments) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        out.append(
            f"<text x='{label_width - 8}' y='{y + 13}' text-anchor='end'>{escape(_fit(label, label_width - 12))}</text>"
        )
        x = float(label_width)
        for value, colour in segments:
            if value <= 0:
                continue
            w = max(1.0, value * scale)
            out.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_h}' fill='{colour}'/>")
            x += w
        total = sum(v for v, _ in segments)
        out.append(f"<text x='{x + 6:.1f}' y='{y + 13}'>{total}</text>")
    out.append("</svg>")
    return "".join(out)


def _fit(text: str, pixels: int) -> str:
    """The label cut to fit `pixels` at 12 px: a Chinese character is about 12 px wide, a Latin one about 7."""
    used = 0.0
    for index, char in enumerate(text):
        used += 12 if ord(char) > 0x2E80 else 7
        if used > pixels:
            return text[: max(0, index - 1)] + "…"
    return text


def timeline(
    events: list[tuple[str, str | None, str | None]], findings: list[Finding], names: dict[str, str], width: int = 1100
) -> str:
    """Each event of a case on a date axis; a violated finding draws its compliant window on the judged event's row."""
    rows = [(key, _day(start), _day(end)) for key, start, end in events if start]
    if not rows:
        return ""
    judged: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.events and finding.status in ("violated", "unknown"):
            judged.setdefault(finding.events[0], []).append(finding)
    days = [d for _, s, e in rows for d in (s, e) if d]
    for items in judged.values():
        days.extend(d for f in items for d in (_day(f.earliest), _day(f.latest)) if d)
    first, last = min(days) - dt.timedelta(days=3), max(days) + dt.timedelta(days=3)
    label_w, row_h, top = 230, 20, 26
    span = max(1, (last - first).days)
    plot_w = width - label_w - 20

    def x(day: dt.date) -> float:
        return label_w + (day - first).days / span * plot_w

    height = top + len(rows) * row_h + 10
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {FONT}>"
    ]
    out.extend(_axis(first, last, x, top, height))
    for i, (key, start, end) in enumerate(rows):
        y = top + i * row_h
        bad = [f for f in judged.get(key, []) if f.status == "violated"]
        colour = "#c62828" if bad else ("#f9a825" if key in judged else "#1f4e79")
        if i % 2 == 0:
            out.append(f"<rect x='0' y='{y}' width='{width}' height='{row_h}' fill='#f5f7fa'/>")
        out.append(f"<text x='{label_w - 8}' y='{y + 14}' text-anchor='end'>{escape(_label(key, names))}</text>")
        for finding in judged.get(key, []):
            low, high = _day(finding.earliest) or first, _day(finding.latest) or last
            if high >= low:
                out.append(
                    f"<rect x='{x(low):.1f}' y='{y + 2}' width='{max(2.0, x(high) - x(low)):.1f}' "
                    f"height='{row_h - 4}' fill='#2e7d32' fill-opacity='0.22' stroke='#2e7d32' "
                    f"stroke-dasharray='3,2'><title>{escape(finding.rule)}: {escape(finding.expected or '')}"
                    f"</title></rect>"
                )
        if end and end != start:
            out.append(
                f"<rect x='{x(start):.1f}' y='{y + 6}' width='{max(2.0, x(end) - x(start)):.1f}' height='8' "
                f"rx='3' fill='{colour}'/>"
            )
        else:
            out.append(f"<circle cx='{x(start):.1f}' cy='{y + 10}' r='5' fill='{colour}'/>")
    out.append("</svg>")
    return "".join(out)


def _axis(first: dt.date, last: dt.date, x, top: int, height: int) -> list[str]:
    out = []
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = max(1, months // 10)
    day = dt.date(first.year, first.month, 1)
    index = 0
    while day <= last:
        if day >= first and index % step == 0:
            out.append(f"<line x1='{x(day):.1f}' y1='{top - 4}' x2='{x(day):.1f}' y2='{height}' stroke='#d0d7de'/>")
            out.append(f"<text x='{x(day):.1f}' y='{top - 8}' text-anchor='middle' fill='#555'>{day:%Y-%m}</text>")
        day = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        index += 1
    return out


def _label(key: str, names: dict[str, str]) -> str:
    step, _, number = key.partition("#")
    name = names.get(step, step)
    return f"{name} #{number}" if number and number != "1" else name


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None
