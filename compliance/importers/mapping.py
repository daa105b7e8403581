"""The mapping file: how another system's log maps onto our case model.

```yaml
activities:                 # the system's activity name → a step id or Chinese step name
  register request: reserve_application
  reject request: null      # null: the row is not a step we check; it is skipped
ignore_unmapped: false      # true: skip activities not listed (instead of an unknown-step error)
defaults:                   # for logs without these columns, or rows that leave them empty
  jurisdiction: taojiang
  procedure: state-land-acquisition
columns:                    # extra source columns → our names (facts.x is case-level, data.x per event)
  amount: data.amount
  case:department: facts.department
lifecycle: [complete]       # keep only rows whose lifecycle:transition is one of these
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.sourcefile import InputError, load_file


@dataclass(frozen=True)
class Mapping:
    activities: dict[str, str | None] = field(default_factory=dict)
    ignore_unmapped: bool = False
    defaults: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    lifecycle: tuple[str, ...] = ()

    def with_defaults(self, **values: str | None) -> Mapping:
        """Command-line defaults (`--jurisdiction`, `--procedure`) override the file's."""
        merged = dict(self.defaults)
        merged.update({k: v for k, v in values.items() if v})
        return Mapping(self.activities, self.ignore_unmapped, merged, self.columns, self.lifecycle)


EMPTY = Mapping()
_KEYS = {"activities", "ignore_unmapped", "defaults", "columns", "lifecycle"}


def load_mapping(path: Path) -> Mapping:
    doc = load_file(path)
    data = doc.data or {}
    if not isinstance(data, dict):
        raise doc.error((), "映射文件应为一个映射", expected="activities / defaults / columns")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise doc.error((unknown[0],), f"未知字段 {unknown[0]!r}", expected=" | ".join(sorted(_KEYS)))
    activities = _text_map(data.get("activities") or {}, doc, "activities", allow_null=True)
    defaults = _text_map(data.get("defaults") or {}, doc, "defaults")
    bad_default = sorted(set(defaults) - {"jurisdiction", "procedure", "title"})
    if bad_default:
        raise doc.error(("defaults", bad_default[0]), "未知默认字段", expected="jurisdiction | procedure | title")
    columns = _text_map(data.get("columns") or {}, doc, "columns")
    lifecycle = data.get("lifecycle") or ()
    if isinstance(lifecycle, str):
        lifecycle = (lifecycle,)
    return Mapping(
        activities=activities,  # type: ignore[arg-type]
        ignore_unmapped=bool(data.get("ignore_unmapped", False)),
        defaults=defaults,  # type: ignore[arg-type]
        columns=columns,  # type: ignore[arg-type]
        lifecycle=tuple(str(x) for x in lifecycle),
    )


def _text_map(value: Any, doc: Any, name: str, allow_null: bool = False) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise doc.error((name,), f"{name} 应为映射", expected="名称: 值")
    out: dict[str, str | None] = {}
    for key, item in value.items():
        if item is None and allow_null:
            out[str(key)] = None
        elif isinstance(item, str | int | float):
            out[str(key)] = str(item)
        else:
            raise doc.error(
                (name, str(key)), f"取值无效: {item!r}", expected="文本" + ("或 null" if allow_null else "")
            )
    return out


__all__ = ["EMPTY", "InputError", "Mapping", "load_mapping"]
