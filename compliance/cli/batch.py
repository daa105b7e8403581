"""`compliance batch`: check many cases from folders, event logs or a database; write reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from compliance.batch import default_jobs, open_inputs, run
from compliance.cli.options import LANG, RULES, calendar_options, fail, load_calendar
from compliance.engine.batch_worker import Settings, preload
from compliance.engine.bookcache import cached_rulebook
from compliance.importers.mapping import EMPTY, load_mapping
from compliance.reports.batch_reports import FORMATS, Reports
from compliance.reports.rendering import Rendered
from compliance.rules.packs import DEFAULT_RULES_DIR, RulePackError
from compliance.sourcefile import InputError


def _formats(value: str) -> list[str]:
    chosen = [f.strip().lower() for f in value.split(",") if f.strip()]
    chosen = ["xlsx" if f in ("excel", "xls") else f for f in chosen]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise click.BadParameter(f"未知格式 {', '.join(unknown) or value!r}；可选: {','.join(FORMATS)}")
    return list(dict.fromkeys(chosen))


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="活动名映射文件（YAML），见 docs/batch.md",
)
@click.option("--jurisdiction", default=None, help="日志未给出辖区时使用的默认辖区")
@click.option("--procedure", default=None, help="日志未给出程序时使用的默认程序")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports"),
    show_default=True,
    help="报告目录",
)
@click.option("--format", "formats", default=",".join(FORMATS), show_default=True, help="报告格式，逗号分隔")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="并行进程数（默认：全部核心）")
@LANG
@click.option(
    "--engine",
    type=click.Choice(["columnar", "direct"]),
    default="columnar",
    show_default=True,
    help="columnar：按列批量求值；direct：逐案求值（参照实现）",
)
@click.option("--all", "show_all", is_flag=True, help="报告中列出全部结论（包括符合与不适用）")
@RULES
@calendar_options
@click.option("--progress/--no-progress", default=None, help="显示进度条（默认：仅当 stderr 是终端）")
def batch(
    inputs,
    mapping_file,
    jurisdiction,
    procedure,
    out_dir,
    formats,
    jobs,
    lang,
    engine,
    show_all,
    rules_dir,
    calendar_files,
    holiday_rollover_only,
    progress,
) -> None:
    """批量检查：案件目录、CSV/Excel/XES 事件日志、SQLite/PostgreSQL 数据库，输出多种格式的报告。

    INPUT 可以是目录或案件文件、.csv/.xlsx/.xes 日志、.sqlite/.db 文件或 postgresql:// URL。
    退出码：0 全部合规；1 存在违规或待查；2 用法错误或有案件无法检查。
    """
    chosen = _formats(formats)
    load_calendar(calendar_files)  # fail early on a bad calendar file, before any worker starts
    try:
        book = cached_rulebook(rules_dir or DEFAULT_RULES_DIR)
        mapping = load_mapping(mapping_file) if mapping_file else EMPTY
    except (RulePackError, InputError) as exc:
        fail(str(exc))
    settings = Settings(
        engine=engine,
        lang=lang,
        show_all=show_all,
        rules_dir=rules_dir,
        calendar_files=tuple(calendar_files),
        weekend_rollover=not holiday_rollover_only,
        mapping=mapping.with_defaults(jurisdiction=jurisdiction, procedure=procedure),
    )
    preload(rules_dir, book)
    reports = Reports(out_dir, chosen, book, list(inputs))
    show_progress = sys.stderr.isatty() if progress is None else progress
    opened = open_inputs(list(inputs), settings, count=show_progress)
    errors: list[str] = []

    def sink(rendered: Rendered) -> None:
        reports.write(rendered)
        errors.extend(rendered.unreadable)

    run(opened, settings, jobs or default_jobs(), sink, formats=tuple(chosen), progress=show_progress)
    written = reports.close()
    for error in errors:
        click.echo(
            click.style("无法检查: " if lang == "zh" else "unreadable: ", fg="magenta") + error,
            err=True,
        )
    results_summary = reports.totals.summary_json()
    click.echo(_summary_text(results_summary, lang))
    for path in written:
        click.echo(("报告: " if lang == "zh" else "report: ") + str(path))
    if results_summary["cases"] == 0:
        click.echo("没有找到案件" if lang == "zh" else "no cases found", err=True)
        sys.exit(2)
    if results_summary["errors"]:
        sys.exit(2)
    sys.exit(1 if results_summary["violations"] or results_summary["incomplete"] else 0)


def _summary_text(summary: dict, lang: str) -> str:
    """The same line as `audit` prints, from the running totals (results are not kept)."""
    s = summary
    if lang == "zh":
        return (
            f"共 {s['cases']} 件：合规 {s['compliant']}，违规 {s['violations']}，"
            f"待查 {s['incomplete']}，无法检查 {s['errors']}"
        )
    return (
        f"{s['cases']} cases: {s['compliant']} compliant, {s['violations']} with violations, "
        f"{s['incomplete']} incomplete, {s['errors']} errors"
    )


__all__ = ["batch"]
