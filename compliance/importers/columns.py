"""Which source column is which: our names, process-mining (XES/pm4py) names and Chinese headers."""

from __future__ import annotations

from dataclasses import dataclass

# Canonical field → accepted headers (compared case-insensitively, BOM and spaces stripped).
ALIASES: dict[str, tuple[str, ...]] = {
    "case": ("case", "case_id", "caseid", "case:concept:name", "案件编号", "案件", "案号", "案件号", "编号"),
    "step": ("step", "activity", "concept:name", "步骤", "环节", "活动", "事项"),
    "date": ("date", "日期", "时间", "办理日期"),
    # A process-mining timestamp is the date of an instant, or the end of a period.
    "timestamp": ("time:timestamp", "timestamp", "时间戳", "完成时间"),
    "start": ("start", "start_timestamp", "start_date", "开始", "开始日期", "开始时间", "起始日期"),
    "end": ("end", "end_timestamp", "end_date", "结束", "结束日期", "结束时间", "截止日期"),
    "jurisdiction": ("jurisdiction", "case:jurisdiction", "辖区", "地区"),
    "procedure": ("procedure", "case:procedure", "程序", "程序类型"),
    "title": ("title", "case:title", "标题", "案件名称", "名称"),
    "ref": ("ref", "文号", "文件编号"),
    "actor": ("actor", "经办", "经办单位", "承办单位"),
    "lifecycle": ("lifecycle:transition", "lifecycle"),
}
FACT_PREFIXES = ("facts.", "fact.", "事实.", "case:facts.")
DATA_PREFIXES = ("data.", "数据.")


def _clean(header: str) -> str:
    return header.replace("\ufeff", "").strip().lower()


_LOOKUP = {_clean(name): field for field, names in ALIASES.items() for name in names}


@dataclass(frozen=True)
class ColumnPlan:
    """Source header → canonical name ("case", "data.amount", …); unplanned headers are ignored."""

    fields: dict[str, str]  # source header → canonical

    def source_of(self, canonical: str) -> str | None:
        for source, target in self.fields.items():
            if target == canonical:
                return source
        return None

    @property
    def canonical(self) -> set[str]:
        return set(self.fields.values())


def plan_columns(headers: list[str], overrides: dict[str, str]) -> ColumnPlan:
    """Resolve headers; the mapping file's `columns:` wins, then our names, then aliases, first come first."""
    fields: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        target = overrides.get(header) or overrides.get(header.replace("\ufeff", "").strip())
        if target:
            fields[header] = _canonical_target(target)
            taken.add(fields[header])
    for header in headers:
        if header in fields:
            continue
        clean = _clean(header)
        target = _LOOKUP.get(clean)
        if target is None:
            target = _prefixed(header.replace("\ufeff", "").strip())
        if target and target not in taken:
            fields[header] = target
            taken.add(target)
    return ColumnPlan(fields)


def _canonical_target(target: str) -> str:
    clean = _clean(target)
    return _LOOKUP.get(clean) or _prefixed(target.strip()) or target.strip()


def _prefixed(header: str) -> str | None:
    for prefix in FACT_PREFIXES:
        if header.lower().startswith(prefix) and len(header) > len(prefix):
            return "facts." + header[len(prefix) :]
    for prefix in DATA_PREFIXES:
        if header.lower().startswith(prefix) and len(header) > len(prefix):
            return "data." + header[len(prefix) :]
    return None
