"""`compliance plan` and `compliance rules check`: the z3 commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from compliance.cli.options import (
    INPUT_ERROR,
    LANG,
    RULES,
    calendar_options,
    fail,
    load_book,
    load_calendar,
    require_file,
)
from compliance.engine.solver import EncodingError
from compliance.model import load_case
from compliance.planning.planner import OBJECTIVES, PlanError, plan_case, window_for
from compliance.planning.rulecheck import check_rulebook
from compliance.reports.plan_text import render_pack_report, render_plan
from compliance.sourcefile import InputError


@click.command("plan")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--objective", type=click.Choice(OBJECTIVES), default="earliest", show_default=True,
              help="earliest: 最早完成；keep: 尽量保留计划中已填的日期")  # fmt: skip
@click.option("--window", "window_step", default=None, metavar="STEP",
              help="只回答某一步骤的最早与最晚合规日期（其余按计划）")  # fmt: skip
@LANG
@RULES
@calendar_options
def plan(file, fmt, objective, window_step, lang, rules_dir, calendar_files, holiday_rollover_only) -> None:
    """为计划中的案件排期：能否合规、最早合规日期、冲突与调整（z3）。

    退出码：0 可行；1 不可行或已有违规；2 输入错误。
    """
    book = load_book(rules_dir)
    calendar = load_calendar(calendar_files, holiday_rollover_only)
    require_file(file, lang)
    try:
        case = load_case(file, book.vocabulary)
        if window_step is not None:
            result = window_for(case, window_step, book, calendar, lang)
        else:
            result = plan_case(case, book, calendar, objective, lang)
    except InputError as exc:
        fail(str(exc))
    except PlanError as exc:
        fail(f"{file}: {exc.text(lang)}")
    except EncodingError as exc:
        fail(f"{file}: {'规则无法转换为约束' if lang == 'zh' else 'a rule cannot be encoded'}: {exc}")
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str))
    else:
        names = {s.id: (s.zh if lang == "zh" else s.id) for s in book.vocabulary.steps.values()}
        click.echo(render_plan(result, names, lang))
    sys.exit(0 if result.feasible and not result.violations else 1)


@click.command("check")
@click.argument("pack", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@LANG
@RULES
def rules_check(pack, fmt, lang, rules_dir) -> None:
    """用 z3 检查规则包：存在合规案件、规则互相矛盾、冗余规则。

    退出码：0 通过；1 发现矛盾；2 规则包无法加载或不存在。
    """
    book = load_book(rules_dir)
    if pack is not None and book.pack(pack) is None:
        known = ", ".join(p.id for p in book.packs)
        fail(f"没有规则包 {pack}（已有: {known}）" if lang == "zh" else f"no rule pack {pack} (known: {known})")
    reports = check_rulebook(book, pack)
    if fmt == "json":
        doc = {"packs": [r.to_json() for r in reports], "passed": all(r.passed for r in reports)}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for report in reports:
            click.echo(render_pack_report(report, lang))
    if any(r.error for r in reports):
        sys.exit(INPUT_ERROR)
    sys.exit(0 if all(r.passed for r in reports) else 1)
