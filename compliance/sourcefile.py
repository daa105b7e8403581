"""Reading YAML/JSON documents while remembering the line of every field.

Input errors must name the file, the line and the field (CASES.md §1). ruamel.yaml keeps
line numbers on its round-trip nodes; we flatten the document to plain Python for
pydantic and keep a side table from field paths to lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

FieldPath = tuple[str | int, ...]


@dataclass
class InputError(Exception):
    """A problem with user input, located precisely enough for a clerk to fix it."""

    file: str
    message: str
    line: int | None = None
    field: str | None = None
    expected: str | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        text = f"{where}: " + (f"{self.field}: " if self.field else "") + self.message
        if self.expected:
            text += f"（应为：{self.expected}）"
        if self.suggestion:
            text += f" — {self.suggestion}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "expected": self.expected,
            "suggestion": self.suggestion,
        }


@dataclass
class Located:
    """A plain document plus the line (1-based) of each field path."""

    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)
    file: str = "<input>"

    def line_of(self, path: FieldPath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, path: FieldPath, message: str, **extra: Any) -> InputError:
        return InputError(self.file, message, line=self.line_of(path), field=format_path(path) or None, **extra)


def format_path(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _DatesAsText(RoundTripConstructor):
    """Leave timestamps as text so that pydantic parses them and an impossible date
    (2024-02-30) is reported with its field and line instead of failing inside the parser."""


_DatesAsText.add_constructor("tag:yaml.org,2002:timestamp", _DatesAsText.construct_yaml_str)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _DatesAsText
    yaml.allow_duplicate_keys = False
    return yaml


def parse_text(text: str, file: str) -> Located:
    try:
        raw = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(file, f"YAML/JSON 语法错误: {exc.problem or exc}", line=line) from exc
    except YAMLError as exc:
        raise InputError(file, f"YAML/JSON 语法错误: {exc}") from exc
    located = Located(data=None, file=file)
    located.data = _flatten(raw, (), located.lines)
    located.lines.setdefault((), 1)
    return located


def load_file(path: Path) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"文件不是 UTF-8 文本: {exc}") from exc
    except OSError as exc:
        raise InputError(str(path), f"无法读取文件: {exc.strerror or exc}") from exc
    return parse_text(text, str(path))


def _flatten(node: Any, path: FieldPath, lines: dict[FieldPath, int]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            child = (*path, str(key))
            try:
                lines[child] = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                pass
            out[str(key)] = _flatten(value, child, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                lines[child] = node.lc.item(index)[0] + 1
            except (KeyError, TypeError, AttributeError):
                pass
            items.append(_flatten(value, child, lines))
        return items
    if isinstance(node, dt.datetime):
        return node.date() if node.time() == dt.time() else node
    if node is None or isinstance(node, bool | int | float | dt.date):
        return node
    if isinstance(node, str):
        return str(node)
    return node
