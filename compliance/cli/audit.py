"""`compliance audit`, `rules list|show`, `steps` and `test`: the audit side of the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from compliance.audit import audit_file, iter_case_files
from compliance.cli.lazy import LazyGroup
from compliance.cli.options import LANG, RULES, calendar_options, load_book, load_calendar
from compliance.findings import CaseResult, exit_code, summarize
from compliance.reports.text import render_case, render_summary
from compliance.ruletest import run_rule_tests


@click.group(
    cls=LazyGroup,
    lazy_subcommands={
        "plan": "compliance.cli.plan.plan",
        "batch": "compliance.cli.batch.batch",
        "check-step": "compliance.cli.hook.check_step_command",
        "serve": "compliance.cli.hook.serve_command",
        "tokens": "compliance.cli.hook.tokens_group",
    },
)
@click.version_option(package_name="compliance")
def main() -> None:
    """集体土地征收与国有土地收储程序合规检查。"""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="显示全部结论（包括符合与不适用）")
@LANG
@RULES
@calendar_options
def audit(paths, fmt, show_all, lang, rules_dir, calendar_files, holiday_rollover_only) -> None:
    """审查已完成的案件（文件或目录）。"""
    book = load_book(rules_dir)
    calendar = load_calendar(calendar_files, holiday_rollover_only)
    missing = [p for p in paths if not p.exists()]
    results = []
    for path in missing:
        message = f"{path}: 文件或目录不存在" if lang == "zh" else f"{path}: no such file or directory"
        results.append(CaseResult(None, str(path), error=message))
    files = list(iter_case_files([p for p in paths if p.exists()]))
    for file in files:
        result = audit_file(file, book, calendar, lang)
        results.append(result)
        if fmt == "text":
            click.echo(render_case(result, lang, show_all))
            click.echo()
    if fmt == "json":
        doc = {"cases": [r.to_json() for r in results], "summary": summarize(results)}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    else:
        for result in results:
            if result.case is None and result.file in map(str, missing):
                click.echo(render_case(result, lang, show_all))
        click.echo(render_summary(results, lang))
    if not results:
        click.echo("没有找到案件文件" if lang == "zh" else "no case files found", err=True)
        sys.exit(2)
    sys.exit(exit_code(results))


@main.group(cls=LazyGroup, lazy_subcommands={"check": "compliance.cli.plan.rules_check"})
def rules() -> None:
    """规则目录：列出、查看、检查规则。"""


@rules.command("list")
@click.option("--pack", default=None, help="只列出这个规则包")
@LANG
@RULES
def rules_list(pack, lang, rules_dir) -> None:
    """列出全部规则。"""
    book = load_book(rules_dir)
    for p in book.packs:
        if pack and p.id != pack:
            continue
        click.echo(click.style(f"{p.label}  {p.spec.title.zh if lang == 'zh' else p.spec.title.en}", bold=True))
        click.echo(f"  {', '.join(p.spec.jurisdictions)} · {', '.join(p.spec.procedures)} · 自 {p.spec.in_force_from}")
        for r in p.rules:
            title = r.spec.title.zh if lang == "zh" else r.spec.title.en
            click.echo(f"  {r.id:<52} {r.spec.severity:<7} {r.spec.citation.clause:<14} {title}")


@rules.command("show")
@click.argument("rule_id")
@RULES
def rules_show(rule_id, rules_dir) -> None:
    """显示一条规则的原文、依据与测试。"""
    book = load_book(rules_dir)
    rule = book.rule(rule_id)
    if rule is None:
        close = [r.id for r in book.all_rules() if rule_id.split(".")[-1] in r.id]
        hint = f"；是否指 {', '.join(close[:3])}？" if close else ""
        raise click.ClickException(f"没有规则 {rule_id}{hint}")
    click.echo(click.style(rule.id, bold=True) + f"  ({rule.file})")
    click.echo(f"{rule.spec.title.zh} / {rule.spec.title.en}")
    c = rule.spec.citation
    click.echo(f"依据: {c.seed} {c.clause}\n「{c.quote}」")
    click.echo(f"severity: {rule.spec.severity}; tests: {len(rule.tests)}")
    click.echo(rule.file.read_text(encoding="utf-8"))


@main.command()
@click.option("--procedure", default=None, help="只列出该程序用到的步骤族")
@RULES
def steps(procedure, rules_dir) -> None:
    """步骤词汇表：英文 id、中文名、时点或期间。"""
    book = load_book(rules_dir)
    families = set(book.vocabulary.families_of(procedure)) if procedure else None
    for step in book.vocabulary.steps.values():
        if families and not families & set(step.families):
            continue
        kind = "期间" if step.is_period else "时点"
        extra = f"  别名: {'、'.join(step.aliases)}" if step.aliases else ""
        data = f"  data: {', '.join(step.data)}" if step.data else ""
        click.echo(f"{step.id:<34} {step.zh:<16} {kind}  [{'/'.join(step.families)}]{extra}{data}")


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("-v", "--verbose", is_flag=True, help="列出每个测试")
@RULES
def test_rules(paths, verbose, rules_dir) -> None:
    """运行规则文件自带的 YAML 测试用例。"""
    book = load_book(rules_dir)
    results = run_rule_tests(book, list(paths) or None)
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            mark = click.style("PASS", fg="green") if r.passed else click.style("FAIL", fg="red", bold=True)
            click.echo(f"{mark} {r.rule} — {r.name}  ({r.location})")
            if not r.passed:
                click.echo(f"     {r.detail}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed or not results else 0)
