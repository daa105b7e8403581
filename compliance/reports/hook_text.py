"""Readable text for a hook decision (the `check-step` command's default output)."""

from __future__ import annotations

import click

from compliance.hook import Decision, RuleNote

LABELS = {
    "zh": {
        "allow": "允许",
        "deny": "拒绝",
        "error": "无法检查",
        "broken": "本步骤违反的规则",
        "warnings": "本步骤触及的提示性规则（原则上，不拒绝）",
        "deadlines": "本步骤开始的期限",
        "pending": "尚待完成的要求",
        "already": "此前已违反（非本步骤所致）",
        "open": "未到期的期限",
        "comply": "能否合规完成",
        "yes": "能",
        "no": "不能",
        "unasked": "未检查（未调用规划器）",
        "lost": "此步骤使案件不再有合规的完成方式",
        "needs": "需要",
        "basis": "依据",
    },
    "en": {
        "allow": "ALLOW",
        "deny": "DENY",
        "error": "CANNOT CHECK",
        "broken": "Rules this step breaks",
        "warnings": "Advisory rules this step touches (not enforced)",
        "deadlines": "Deadlines this step starts",
        "pending": "Requirements still open",
        "already": "Already broken before this step",
        "open": "Open deadlines",
        "comply": "Can the case still comply",
        "yes": "yes",
        "no": "no",
        "unasked": "not checked (planner not asked)",
        "lost": "after this step the case has no compliant completion",
        "needs": "needs",
        "basis": "basis",
    },
}
COLOURS = {"allow": "green", "deny": "red", "error": "magenta"}


def render_decision(decision: Decision, lang: str = "zh") -> str:
    t = LABELS[lang]
    event = decision.event
    when = event.get("date") or f"{event.get('start', '?')}…{event.get('end', '')}"
    head = click.style(t[decision.verdict], fg=COLOURS[decision.verdict], bold=True)
    lines = [f"{click.style(decision.case, bold=True)}  {event['key']} {event.get('name') or ''} {when}  —  {head}"]
    if decision.error:
        lines.append("  " + click.style(decision.error, fg="magenta"))
        return "\n".join(lines)
    _section(lines, t["broken"], decision.broken, "red", t, "✗")
    if decision.lost_feasibility:
        lines.append("  " + click.style(t["lost"], fg="red"))
    _section(lines, t["warnings"], decision.warnings, "yellow", t, "!")
    if decision.deadlines:
        lines.append(f"  {t['deadlines']}:")
        for deadline in decision.deadlines:
            lines.append(f"    • {deadline.message}  ({deadline.rule}, {deadline.citation.get('clause', '')})")
    _section(lines, t["pending"], decision.pending, "yellow", t, "○")
    _section(lines, t["already"], decision.already_broken, "bright_black", t, "✗")
    overdue = [d for d in decision.open_deadlines if d.overdue]
    for deadline in overdue:
        lines.append("  " + click.style(f"! {deadline.message} ({deadline.rule})", fg="yellow"))
    comply = t["unasked"] if decision.can_comply is None else (t["yes"] if decision.can_comply else t["no"])
    lines.append(f"  {t['comply']}: {comply}")
    return "\n".join(lines)


def _section(lines: list[str], title: str, notes: list[RuleNote], colour: str, t: dict[str, str], mark: str) -> None:
    if not notes:
        return
    lines.append(f"  {title}:")
    for note in notes:
        lines.append("    " + click.style(f"{mark} {note.rule}", fg=colour) + f"  {note.message}")
        if note.reason:
            lines.append(f"      {note.reason}")
        if note.needs:
            lines.append(f"      {t['needs']}: {', '.join(note.needs)}")
        citation = note.citation
        lines.append(f"      {t['basis']}: {citation.get('seed', '')} {citation.get('clause', '')}")
