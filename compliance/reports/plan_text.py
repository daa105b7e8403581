"""Readable text for `compliance plan` and `compliance rules check`."""

from __future__ import annotations

import click

from compliance.planning.planner import PlanResult
from compliance.planning.rulecheck import PackReport

HEAD = {
    "zh": {True: "可行", False: "不可行"},
    "en": {True: "feasible", False: "infeasible"},
}
OBJECTIVE = {
    "zh": {"earliest": "最早完成", "keep": "尽量保留原计划", "window": "可选日期"},
    "en": {"earliest": "earliest finish", "keep": "keep the proposal", "window": "window"},
}


def render_plan(result: PlanResult, names: dict[str, str], lang: str = "zh") -> str:
    zh = lang == "zh"
    head = click.style(HEAD[lang][result.feasible], fg="green" if result.feasible else "red", bold=True)
    objective = OBJECTIVE[lang][result.objective]
    title = f"{click.style(result.case, bold=True)}  {result.file or ''}  —  {head}"
    lines = [f"{title}（{objective}）" if zh else f"{title} ({objective})"]
    if result.packs:
        lines.append(("  规则包: " if zh else "  packs: ") + ", ".join(result.packs))
    if result.window is not None:
        lines.append(_window(result, names, zh))
    if result.schedule:
        lines.append("  计划:" if zh else "  schedule:")
        width = max(len(k) for k in result.schedule)
        for key, dates in result.schedule.items():
            step = key.split("#")[0]
            when = dates.get("date") or f"{dates.get('start')} → {dates.get('end')}"
            lines.append(f"    {key:<{width}}  {when}  {names.get(step, step)}")
    if result.moves:
        lines.append("  调整:" if zh else "  moves:")
        lines.extend(f"    {m.text(lang)}" for m in result.moves)
    for finding in result.violations:
        label = click.style("[违反]" if zh else "[VIOLATED]", fg="red", bold=True)
        lines.append(f"  {label} {finding.rule}: {finding.message}")
    if result.conflicts:
        lines.append("  冲突（以下规则与日期不能同时满足）:" if zh else "  conflicts (these cannot all hold):")
        for conflict in result.conflicts:
            clause = conflict.citation.get("clause", "")
            lines.append(f"    {click.style(conflict.rule or '-', bold=True)}  {clause}")
            lines.append(f"      {conflict.message}")
            if conflict.dates:
                dates = ", ".join(f"{k} = {v}" for k, v in conflict.dates.items())
                lines.append(("      已定日期: " if zh else "      fixed dates: ") + dates)
            for bound in conflict.bounds:
                lines.append(f"      {bound['message']}")
    for note in result.notes:
        lines.append(click.style(f"  {note}", fg="yellow"))
    return "\n".join(lines)


def _window(result: PlanResult, names: dict[str, str], zh: bool) -> str:
    window = result.window
    assert window is not None
    step = window.event.split("#")[0]
    part = "" if window.part == "date" else ("（开始）" if zh else " (start)")
    name = f"{names.get(step, step)} {window.event}{part}"
    if window.earliest is None and window.latest is None and result.conflicts:
        return f"  {name}: " + ("没有合规日期" if zh else "no compliant date")
    low = str(window.earliest) if window.earliest else ("不限" if zh else "open")
    high = str(window.latest) if window.latest else ("不限" if zh else "open")
    return f"  {name}: " + (f"最早 {low}，最晚 {high}" if zh else f"earliest {low}, latest {high}")


KIND = {
    "zh": {
        "contradictory": "不能与其他规则同时成立",
        "self-contradictory": "自身无法满足",
        "prohibition": "禁止性规则（一旦适用即违反）",
        "redundant": "冗余（可由其他规则推出）",
    },
    "en": {
        "contradictory": "can never hold together with",
        "self-contradictory": "can never be satisfied",
        "prohibition": "prohibition (applying means breaking it)",
        "redundant": "redundant (implied by)",
    },
}


def render_pack_report(report: PackReport, lang: str = "zh") -> str:
    zh = lang == "zh"
    mark = click.style("✓", fg="green") if report.passed else click.style("✗", fg="red", bold=True)
    lines = [f"{mark} {click.style(report.pack, bold=True)} · {report.procedure}"]
    if report.error:
        lines.append("  " + click.style(report.error, fg="magenta"))
        return "\n".join(lines)
    if report.consistent:
        if zh:
            lines.append(f"  存在合规案件：{report.rules} 条规则中 {report.exercised} 条可同时适用")
        else:
            lines.append(f"  admits a compliant case in which {report.exercised} of {report.rules} rules apply")
    else:
        lines.append(click.style("  不存在任何合规案件" if zh else "  admits no compliant case", fg="red"))
    for finding in report.findings:
        colour = {"contradictory": "red", "self-contradictory": "red", "redundant": "yellow"}.get(finding.kind)
        text = KIND[lang][finding.kind]
        others = ", ".join(finding.others)
        if others:
            text += ("：" if zh else ": ") + others
        lines.append(f"  {click.style(finding.rule, fg=colour, bold=colour == 'red')}  {text}")
    return "\n".join(lines)
