"""Report fragments made where the cases are checked (in the worker processes).

Serialising each case for JSON, CSV, JUnit and Excel is per-case Python work; done in the
workers, the main process only appends finished text and rows to the files and merges
tallies, so it does not become the bottleneck of a many-core batch.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from compliance.engine.batch_worker import CaseOutcome
from compliance.reports.aggregate import Tally
from compliance.reports.text import STATUS_LABEL, VERDICT_LABEL

CSV_COLUMNS = (
    "case",
    "file",
    "jurisdiction",
    "procedure",
    "verdict",
    "rule",
    "status",
    "severity",
    "title",
    "message",
    "events",
    "expected",
    "earliest",
    "latest",
    "clause",
    "document",
    "seed",
    "department",
    "error",
)
SHOWN = ("violated", "unknown")


@dataclass
class Rendered:
    """A chunk's share of every report, ready to append, and its tally."""

    cases: int
    tally: Tally
    # Report text comes back encoded: one bytes object crosses from a worker far cheaper than
    # thousands of strings, and the main process then only appends it.
    json: bytes = b""  # the chunk's cases, one JSON object each, separated by ",\n"
    csv: bytes = b""
    junit: str = ""
    junit_counts: tuple[int, int, int] = (0, 0, 0)  # tests, failed tests, errors
    xlsx: list[list[Any]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def render(outcomes: list[CaseOutcome], formats: tuple[str, ...], tally: Tally) -> Rendered:
    for outcome in outcomes:
        tally.add(outcome)
    out = Rendered(len(outcomes), tally)
    out.unreadable = [str(o.result.error) for o in outcomes if o.result.error is not None]
    if "json" in formats:
        out.json = _json(outcomes).encode("utf-8")
    if "csv" in formats:
        out.csv = _csv(outcomes, tally).encode("utf-8")
    if "junit" in formats:
        out.junit, out.junit_counts = _junit(outcomes)
    if "xlsx" in formats:
        out.xlsx = [row for o in outcomes for row in _excel_rows(o, tally)]
    return out


# Stands in for a case's findings while the rest of the case is serialised: a string no
# other value can serialise to unescaped (json.dumps writes "\x00" as "\\u0000").
_FINDINGS = "\x00findings\x00"
_FINDINGS_JSON = '"findings": ' + json.dumps([_FINDINGS])


def _json(outcomes: list[CaseOutcome]) -> str:
    """The cases' JSON objects, separated by ",\n", as `json.dumps(result.to_json())` writes each.

    Cases explained alike share their Finding objects: each is serialised once per chunk. So is
    what cases of one file, jurisdiction, procedure, packs and verdict have in common.
    """
    texts: dict[int, str] = {}  # id(finding) → its JSON; the outcomes keep every finding alive meanwhile
    middles: dict[tuple, str] = {}
    cases = []
    for outcome in outcomes:
        result = outcome.result
        findings = []
        for finding in result.findings:
            text = texts.get(id(finding))
            if text is None:
                text = texts[id(finding)] = _encode(finding.to_json())
            findings.append(text)
        if result.error is not None:
            case = _encode(result.to_json(findings=[_FINDINGS]))
            cases.append(case.replace(_FINDINGS_JSON, '"findings": [' + ", ".join(findings) + "]", 1))
            continue
        # Between the case id (first) and the findings (last), a case writes what many cases share.
        key = (result.file, result.jurisdiction, result.procedure, tuple(result.packs), result.verdict)
        middle = middles.get(key)
        if middle is None:
            shared = result.to_json(findings=[])
            del shared["case"], shared["findings"]
            middle = middles[key] = _encode(shared)[1:-1]
        cases.append(f'{{"case": {_encode(result.case)}, {middle}, "findings": [{", ".join(findings)}]}}')
    return ",\n".join(cases)


# As json.dumps(..., ensure_ascii=False, default=str) encodes, without making an encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _csv(outcomes: list[CaseOutcome], tally: Tally) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for outcome in outcomes:
        r = outcome.result
        head = [r.case or "", r.file or "", r.jurisdiction or "", r.procedure or "", r.verdict]
        if r.error is not None:
            writer.writerow([*head, "", "error", "", "", "", "", "", "", "", "", "", "", "", r.error])
            continue
        for f in r.findings:
            department = tally.department(f) if f.status == "violated" else ""
            cite = f.citation
            writer.writerow(
                [
                    *head,
                    f.rule,
                    f.status,
                    f.severity,
                    f.title,
                    f.message,
                    " ".join(f.events),
                    f.expected or "",
                    f.earliest or "",
                    f.latest or "",
                    cite.get("clause", ""),
                    cite.get("document", ""),
                    cite.get("seed", ""),
                    department,
                    "",
                ]
            )
    return buffer.getvalue()


def _junit(outcomes: list[CaseOutcome]) -> tuple[str, tuple[int, int, int]]:
    parts: list[str] = []
    failed = errors = 0
    for outcome in outcomes:
        r = outcome.result
        classname = quoteattr(f"{r.jurisdiction or 'unknown'}.{r.procedure or 'unknown'}")
        name = quoteattr(r.case or r.file or "?")
        parts.append(f"  <testcase classname={classname} name={name} file={quoteattr(r.file or '')}>\n")
        if r.error is not None:
            errors += 1
            parts.append(f'    <error message={quoteattr(r.error)} type="input"/>\n')
        shown = [f for f in r.findings if f.status in SHOWN]
        failed += bool(shown)
        for f in shown:
            citation = f"{f.citation.get('document', '')} {f.citation.get('clause', '')}"
            text = f"{f.message}\n{citation}\nexpected: {f.expected or ''}"
            kind = quoteattr(f"{f.status}:{f.rule}")
            parts.append(f"    <failure message={quoteattr(f.message)} type={kind}>{escape(text)}</failure>\n")
        parts.append("  </testcase>\n")
    return "".join(parts), (len(outcomes), failed, errors)


def _excel_rows(outcome: CaseOutcome, tally: Tally) -> list[list[Any]]:
    r = outcome.result
    return [
        [
            r.case,
            r.jurisdiction,
            r.procedure,
            VERDICT_LABEL["zh"][r.verdict],
            f.rule,
            STATUS_LABEL["zh"][f.status],
            f.severity,
            f.title,
            f.message,
            " ".join(f.events),
            f.expected,
            f.earliest,
            f.latest,
            f.citation.get("clause"),
            f.citation.get("document"),
            tally.department(f) if f.status == "violated" else None,
            r.file,
        ]
        for f in r.findings
    ]
