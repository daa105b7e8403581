"""Commands of the validation hook: `check-step`, `serve` and `tokens`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from compliance.cli.options import LANG, RULES, calendar_options, fail, load_book, load_calendar, require_file
from compliance.hook import check_step
from compliance.model import load_case
from compliance.reports.hook_text import render_decision
from compliance.rules.packs import RuleBook
from compliance.sourcefile import InputError

EXIT_ALLOW, EXIT_DENY, EXIT_INPUT = 0, 1, 2


def _data(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`--data k=v`: values read as YAML scalars (60 → number, 2024-05-01 → date, text stays text)."""
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--data expects key=value, got {pair!r}")
        try:
            data[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            data[key.strip()] = value
    return data


@click.command("check-step")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--step", required=True, help="步骤 id 或中文名 / step id or Chinese name")
@click.option("--date", "date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="日期（期间则为开始日）")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="期间的结束日（不给则视为进行中）")
@click.option("--data", "data", multiple=True, help="步骤数据 key=value，可多次给出")
@click.option("--id", "event_id", default=None, help="事件 id")
@click.option("--ref", default=None, help="文号")
@click.option("--actor", default=None, help="办理单位")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@LANG
@click.option("--no-plan", is_flag=True, help="不调用规划器（不回答能否合规完成）")
@RULES
@calendar_options
def check_step_command(
    file: Path,
    step: str,
    date: dt.datetime,
    end: dt.datetime | None,
    data: tuple[str, ...],
    event_id: str | None,
    ref: str | None,
    actor: str | None,
    fmt: str,
    lang: str,
    no_plan: bool,
    rules_dir: Path | None,
    calendar_files: tuple[Path, ...],
    holiday_rollover_only: bool,
) -> None:
    """此步骤现在可以办理吗？FILE 为已发生的事件。退出码 0 允许，1 拒绝，2 输入错误。

    May STEP happen on DATE, given the done events of FILE? Exit 0 allow, 1 deny, 2 bad input.
    """
    book = load_book(rules_dir)
    calendar = load_calendar(calendar_files, holiday_rollover_only)
    require_file(file, lang)
    try:
        case = load_case(file, book.vocabulary)
        event = _event(book, case.procedure, step, date.date(), end.date() if end else None, data)
        event.update({k: v for k, v in (("id", event_id), ("ref", ref), ("actor", actor)) if v is not None})
        decision = check_step(case, event, plan=not no_plan, lang=lang, calendar=calendar, rules=book)
    except InputError as exc:
        if fmt == "json":
            click.echo(json.dumps({"error": str(exc), "error_detail": exc.to_json()}, ensure_ascii=False, indent=2))
        fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps(decision.to_json(lang), ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(render_decision(decision, lang))
    if decision.error is not None:
        sys.exit(EXIT_INPUT)
    sys.exit(EXIT_ALLOW if decision.allowed else EXIT_DENY)


def _event(
    book: RuleBook, procedure: str, step: str, day: dt.date, end: dt.date | None, data: tuple[str, ...]
) -> dict[str, Any]:
    """The event as a case file would hold it: `date` for an instant, `start` (and `end`) for a period."""
    resolved = book.vocabulary.resolve(step, procedure)
    event: dict[str, Any] = {"step": step, "data": _data(data)}
    if resolved is not None and resolved.is_period:
        event["start"] = day
        if end is not None:
            event["end"] = end
        return event
    if end is not None:
        fail(f"--end is only for a period step; {step} is an instant")
    event["date"] = day
    return event


DB_OPTION = click.option(
    "--db",
    "db",
    default=None,
    help="数据库：SQLite 文件路径或 URL（postgresql+psycopg://…）；默认 $COMPLIANCE_DB 或 ./compliance-service.db",
)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@DB_OPTION
@click.option("--max-body", default=256 * 1024, show_default=True, type=int, help="请求体上限（字节），超出返回 413")
@click.option("--rate", default=50.0, show_default=True, type=float, help="每个令牌每秒请求数上限（令牌可单独设置）")
@click.option("--workers", default=1, show_default=True, type=int, help="工作进程数 / worker processes")
@click.option("--log-level", default="warning", show_default=True)
def serve_command(
    host: str, port: int, db: str | None, max_body: int, rate: float, workers: int, log_level: str
) -> None:
    """启动 HTTP 服务（OpenAPI 文档见 /docs）。Start the HTTP service."""
    from compliance.service.server import run

    run(host=host, port=port, db=db, max_body=max_body, rate=rate, log_level=log_level, workers=workers)


@click.group("tokens")
def tokens_group() -> None:
    """API 令牌：创建、列出、吊销。Tokens are stored hashed; the secret is shown once."""


@tokens_group.command("create")
@click.option("--jurisdiction", "jurisdictions", multiple=True, required=True, help="可访问的辖区（可多次；* 为全部）")
@click.option("--name", default=None, help="令牌名称（记入决策日志）")
@click.option("--rate", default=None, type=float, help="该令牌每秒请求数上限（默认用服务设置）")
@DB_OPTION
def tokens_create(jurisdictions: tuple[str, ...], name: str | None, rate: float | None, db: str | None) -> None:
    from compliance.service.db import Database
    from compliance.service.tokens import create_token

    database = Database.connect(db)
    try:
        secret, record = create_token(database, list(jurisdictions), name=name, rate=rate)
    except ValueError as exc:
        fail(str(exc))
    click.echo(secret)
    click.echo(f"# token {record.id} ({record.name}) for {', '.join(record.jurisdictions)}; shown once", err=True)


@tokens_group.command("list")
@DB_OPTION
def tokens_list(db: str | None) -> None:
    from compliance.service.db import Database
    from compliance.service.tokens import list_tokens

    for token in list_tokens(Database.connect(db)):
        state = "revoked" if token.revoked else "active"
        click.echo(f"{token.id}\t{token.name}\t{','.join(token.jurisdictions)}\t{token.rate or '-'}\t{state}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@DB_OPTION
def tokens_revoke(token_id: int, db: str | None) -> None:
    from compliance.service.db import Database
    from compliance.service.tokens import revoke_token

    if not revoke_token(Database.connect(db), token_id):
        fail(f"no token {token_id}")
    click.echo(f"revoked {token_id}")
