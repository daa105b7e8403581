"""XES event logs (IEEE 1849), streamed with the standard library's expat parser.

Each `<trace>` is a case. Trace attributes become case columns with the process-mining
`case:` prefix (`concept:name` → `case:concept:name`), event attributes keep their keys,
so the same column plan and mapping file serve CSV and XES. Expat is fed the file block
by block and tells the line of every `<event>`, which is what errors cite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.parsers import expat

import polars as pl

from compliance.importers.cells import cell_text
from compliance.importers.columns import plan_columns
from compliance.importers.mapping import Mapping
from compliance.importers.normalize import LINE, RawChunk
from compliance.sourcefile import InputError

ATTRIBUTE_TAGS = {"string", "date", "int", "float", "boolean", "id"}
CASES_PER_CHUNK = 8_000


class _TraceCollector:
    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.done: list[list[dict[str, Any]]] = []
        self.trace: dict[str, Any] | None = None
        self.trace_line = 0
        self.events: list[dict[str, Any]] = []
        self.event: dict[str, Any] | None = None
        self.depth_in_attr = 0  # nested (list/container) attributes are not columns

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.depth_in_attr:
            self.depth_in_attr += 1
            return
        if tag == "trace":
            self.trace, self.events, self.trace_line = {}, [], self.parser.CurrentLineNumber
        elif tag == "event" and self.trace is not None:
            self.event = {LINE: self.parser.CurrentLineNumber}
        elif tag in ATTRIBUTE_TAGS and "key" in attrs:
            target = self.event if self.event is not None else self.trace
            if target is not None:
                key = attrs["key"]
                if target is self.trace and self.event is None:
                    key = key if key.startswith("case:") else "case:" + key
                target[key] = cell_text(attrs.get("value"))
            self.depth_in_attr = 1
        elif tag in ("list", "container"):
            self.depth_in_attr = 1

    def end(self, tag: str) -> None:
        if self.depth_in_attr:
            self.depth_in_attr -= 1
            return
        if tag == "event" and self.event is not None:
            self.events.append(self.event)
            self.event = None
        elif tag == "trace" and self.trace is not None:
            rows = [{**self.trace, **event} for event in self.events]
            self.done.append(rows or [{**self.trace, LINE: self.trace_line}])
            self.trace = None


class XesSource:
    line_label = "line"

    def __init__(self, path: Path, mapping: Mapping, cases_per_chunk: int = CASES_PER_CHUNK) -> None:
        self.path = path
        self.mapping = mapping
        self.cases_per_chunk = cases_per_chunk

    def case_count(self) -> int | None:
        count = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                count += line.count(b"<trace")
        return count

    def traces(self) -> Iterator[list[dict[str, Any]]]:
        parser = expat.ParserCreate()
        collector = _TraceCollector(parser)
        parser.StartElementHandler = collector.start
        parser.EndElementHandler = collector.end
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 20):
                try:
                    parser.Parse(block, False)
                except expat.ExpatError as exc:
                    raise InputError(
                        str(self.path),
                        f"XES/XML 语法错误: {expat.errors.messages[exc.code]}",
                        line=exc.lineno,
                        expected="格式良好的 XES 文件",
                    ) from exc
                yield from collector.done
                collector.done = []
            try:
                parser.Parse(b"", True)
            except expat.ExpatError as exc:
                raise InputError(str(self.path), "XES/XML 文件不完整", line=exc.lineno) from exc
            yield from collector.done

    def chunks(self) -> Iterator[RawChunk]:
        batch: list[dict[str, Any]] = []
        cases = 0
        for rows in self.traces():
            batch.extend(rows)
            cases += 1
            if cases >= self.cases_per_chunk:
                yield self._chunk(batch)
                batch, cases = [], 0
        if batch:
            yield self._chunk(batch)

    def _chunk(self, rows: list[dict[str, Any]]) -> RawChunk:
        headers = list(dict.fromkeys(k for row in rows for k in row))
        data = {h: pl.Series(h, [row.get(h) for row in rows], pl.Int64 if h == LINE else pl.Utf8) for h in headers}
        frame = pl.DataFrame(data)
        plan = plan_columns([h for h in headers if h != LINE], self.mapping.columns)
        return RawChunk(frame, plan, str(self.path), self.line_label)
