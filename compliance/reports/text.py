"""Readable, coloured text for clerks (CASES.md §4: violations and unknowns by default)."""

from __future__ import annotations

import click

from compliance.findings import CaseResult, summarize

STATUS_LABEL = {
    "zh": {"violated": "违反", "unknown": "待查", "satisfied": "符合", "not_applicable": "不适用"},
    "en": {"violated": "VIOLATED", "unknown": "UNKNOWN", "satisfied": "ok", "not_applicable": "n/a"},
}
STATUS_COLOUR = {"violated": "red", "unknown": "yellow", "satisfied": "green", "not_applicable": "bright_black"}
VERDICT_LABEL = {
    "zh": {"compliant": "合规", "violations": "存在违规", "incomplete": "资料不全，待查", "error": "无法检查"},
    "en": {"compliant": "compliant", "violations": "violations", "incomplete": "incomplete", "error": "error"},
}
VERDICT_COLOUR = {"compliant": "green", "violations": "red", "incomplete": "yellow", "error": "magenta"}


def render_case(result: CaseResult, lang: str = "zh", show_all: bool = False) -> str:
    verdict = result.verdict
    head = click.style(VERDICT_LABEL[lang][verdict], fg=VERDICT_COLOUR[verdict], bold=True)
    name = result.case or "?"
    lines = [f"{click.style(name, bold=True)}  {result.file or ''}  —  {head}"]
    if result.packs:
        lines.append(("  规则包: " if lang == "zh" else "  packs: ") + ", ".join(result.packs))
    if result.error:
        lines.append("  " + click.style(result.error, fg="magenta"))
        return "\n".join(lines)
    shown = [f for f in result.findings if show_all or f.status in ("violated", "unknown")]
    for finding in shown:
        label = click.style(f"[{STATUS_LABEL[lang][finding.status]}]", fg=STATUS_COLOUR[finding.status], bold=True)
        severity = "" if finding.severity == "error" else click.style(" (warning)", fg="yellow")
        lines.append(f"  {label} {finding.rule}{severity}")
        lines.append(f"      {finding.message}")
        if finding.status in ("violated", "unknown"):
            if finding.events:
                lines.append(("      事件: " if lang == "zh" else "      events: ") + ", ".join(finding.events))
            if finding.expected and (finding.earliest or finding.latest):
                lines.append(("      合规范围: " if lang == "zh" else "      expected: ") + finding.expected)
            cite = finding.citation
            lines.append(
                ("      依据: " if lang == "zh" else "      citation: ")
                + f"{cite['document']} {cite['clause']}「{cite['quote']}」"
            )
    hidden = len(result.findings) - len(shown)
    if hidden and not show_all:
        lines.append(click.style(
            f"  （另有 {hidden} 项符合或不适用，--all 显示全部）" if lang == "zh"
            else f"  ({hidden} more satisfied or not applicable; --all shows them)", fg="bright_black"))  # fmt: skip
    return "\n".join(lines)


def render_summary(results: list[CaseResult], lang: str = "zh") -> str:
    s = summarize(results)
    if lang == "zh":
        return (f"共 {s['cases']} 件：合规 {s['compliant']}，违规 {s['violations']}，"
                f"待查 {s['incomplete']}，无法检查 {s['errors']}")  # fmt: skip
    return (f"{s['cases']} cases: {s['compliant']} compliant, {s['violations']} with violations, "
            f"{s['incomplete']} incomplete, {s['errors']} errors")  # fmt: skip
