"""Options and loaders every command shares, so that `--lang`, `--rules`, `--calendar` and
`--holiday-rollover-only` mean the same everywhere and a bad rule pack or calendar file is
the same input error (exit 2, CASES.md §4) whichever command reads it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from compliance.calendar import Calendar, CalendarFileError, build_calendar
from compliance.rules.packs import DEFAULT_RULES_DIR, RuleBook, RulePackError, load_rulebook

INPUT_ERROR = 2
F = TypeVar("F", bound=Callable)

LANG = click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="消息语言 / language"
)
RULES = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="规则目录（默认为内置 rules/）",
)
_CALENDARS = click.option(
    "--calendar",
    "calendar_files",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    multiple=True,
    help="补充或覆盖年份的日历文件（可多次给出）",
)
_ROLLOVER = click.option(
    "--holiday-rollover-only",
    is_flag=True,
    help="届满日仅在法定节假日顺延（默认周末也顺延，民法典第二百零三条）",
)


def calendar_options(command: F) -> F:
    """`--calendar FILE` (repeatable) and `--holiday-rollover-only`."""
    return _CALENDARS(_ROLLOVER(command))


def fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(INPUT_ERROR)


def require_file(path: Path, lang: str) -> None:
    if not path.exists():
        fail(f"{path}: 文件不存在" if lang == "zh" else f"{path}: no such file")


def load_book(rules_dir: Path | None) -> RuleBook:
    try:
        return load_rulebook(rules_dir or DEFAULT_RULES_DIR)
    except RulePackError as exc:
        fail(f"规则包无法加载: {exc}")


def load_calendar(files: tuple[Path, ...], holiday_rollover_only: bool = False) -> Calendar:
    try:
        return build_calendar(list(files), weekend_rollover=not holiday_rollover_only)
    except CalendarFileError as exc:
        fail(str(exc))
