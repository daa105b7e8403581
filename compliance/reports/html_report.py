"""A self-contained HTML report (Jinja2 template, inline CSS and SVG; no scripts, no CDN)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Totals
from compliance.reports.rendering import Rendered
from compliance.reports.svg import COLOURS, stacked_bars, timeline
from compliance.reports.text import STATUS_LABEL, VERDICT_LABEL

VERDICTS = ("compliant", "violations", "incomplete", "error")
TOP_RULES = 30


class HtmlReport:
    def __init__(self, path: Path, inputs: list[str]) -> None:
        self.path = path
        self.inputs = inputs

    def write(self, rendered: Rendered) -> None:
        """Everything the page shows comes from the running totals."""

    def close(self, totals: Totals) -> Path:
        env = Environment(loader=PackageLoader("compliance.reports", "templates"), autoescape=select_autoescape())
        names = {s.id: s.zh for s in totals.book.vocabulary.steps.values()}
        summary = totals.summary_json()
        html = env.get_template("report.html.j2").render(
            generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
            inputs=self.inputs,
            summary=summary,
            verdict_label=VERDICT_LABEL["zh"],
            status_label=STATUS_LABEL["zh"],
            colours=COLOURS,
            verdict_chart=Markup(stacked_bars([("全部案件", _segments(totals.summary, summary_keys=True))])),
            rule_chart=Markup(
                stacked_bars(
                    [
                        (f"{r.rule}", [(r.violated, COLOURS["violations"]), (r.unknown, COLOURS["incomplete"])])
                        for r in totals.rule_rows()[:TOP_RULES]
                    ],
                    label_width=300,
                )
            ),
            jurisdiction_chart=Markup(
                stacked_bars(  # half the page wide
                    [
                        (str(k), _segments(v))
                        for k, v in sorted(totals.jurisdictions.items(), key=lambda kv: str(kv[0]))
                    ],
                    width=560,
                    label_width=140,
                )
            ),
            year_chart=Markup(
                stacked_bars(
                    [(str(k), _segments(v)) for k, v in sorted(totals.years.items(), key=lambda kv: str(kv[0]))],
                    width=560,
                    label_width=140,
                )
            ),
            department_chart=Markup(
                stacked_bars(
                    [(name, [(n, COLOURS["violations"])]) for name, n in totals.departments.most_common(25)],
                    label_width=380,
                )
            ),
            rules=totals.rule_rows(),
            departments=totals.departments.most_common(),
            errors=totals.errors,
            cases=[_case_view(o, names) for o in totals.timelines],
            more_cases=max(0, summary["violations"] + summary["incomplete"] - len(totals.timelines)),
        )
        self.path.write_text(html, encoding="utf-8")
        return self.path


def _segments(counter, summary_keys: bool = False) -> list[tuple[int, str]]:
    keys = {
        "compliant": "compliant",
        "violations": "violations",
        "incomplete": "incomplete",
        "error": "errors" if summary_keys else "error",
    }
    return [(counter.get(keys[v], 0), COLOURS[v]) for v in VERDICTS]


def _case_view(outcome: CaseOutcome, names: dict[str, str]) -> dict:
    result = outcome.result
    shown = [f for f in result.findings if f.status in ("violated", "unknown")]
    return {
        "case": result.case,
        "file": result.file,
        "jurisdiction": result.jurisdiction,
        "procedure": result.procedure,
        "verdict": result.verdict,
        "findings": shown,
        "timeline": Markup(timeline(outcome.timeline or [], shown, names)),
    }
