"""XES event logs (IEEE 1849), streamed with the standard library's expat parser.

Each `<trace>` is a case. Trace attributes become case columns with the process-mining
`case:` prefix (`concept:name` → `case:concept:name`), event attributes keep their keys,
so the same column plan and mapping file serve CSV and XES. Expat is fed the file block
by block and tells the line of every `<event>`, which is what errors cite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers import expat

import polars as pl

from compliance.importers.cells import cell_text
from compliance.importers.chunking import bytes_holding, part_size
from compliance.importers.columns import plan_columns
from compliance.importers.mapping import Mapping
from compliance.importers.normalize import LINE, RawChunk
from compliance.importers.records import records_frame
from compliance.sourcefile import InputError

ATTRIBUTE_TAGS = {"string", "date", "int", "float", "boolean", "id"}
TRACE, TRACE_LINE = "\x00trace", "\x00trace_line"  # working columns, never a key of an attribute


class _TraceCollector:
    """Traces and their events as records of attributes; an event points to its trace (`__trace`)."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.traces: list[dict[str, Any]] = []  # closed traces' attributes, "case:"-prefixed
        self.events: list[dict[str, Any]] = []  # events of closed traces
        self.trace: dict[str, Any] | None = None
        self.open_events: list[dict[str, Any]] = []
        self.event: dict[str, Any] | None = None
        self.depth_in_attr = 0  # nested (list/container) attributes are not columns

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.depth_in_attr:
            self.depth_in_attr += 1
            return
        if tag == "trace":
            self.trace, self.open_events = {TRACE_LINE: self.parser.CurrentLineNumber}, []
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
            self.open_events.append(self.event)
            self.event = None
        elif tag == "trace" and self.trace is not None:
            number = len(self.traces)
            self.traces.append({**self.trace, TRACE: number})
            self.events.extend({**event, TRACE: number} for event in self.open_events)
            self.trace = None

    def frame(self) -> pl.DataFrame:
        """A row per event with its trace's attributes (an event's own attribute wins a clash), a bare row
        for a trace without events (on the trace's line)."""
        if not self.traces:
            return pl.DataFrame()
        traces = records_frame(self.traces, (TRACE, TRACE_LINE))
        events = records_frame(self.events, (TRACE, LINE)) if self.events else pl.DataFrame(schema={TRACE: pl.Int64})
        both = [c for c in events.columns if c in traces.columns and c != TRACE]
        frame = traces.join(events, on=TRACE, how="left", maintain_order="left_right", suffix="\x00trace")
        line = pl.coalesce(LINE, TRACE_LINE) if LINE in frame.columns else pl.col(TRACE_LINE)
        clashes = [pl.coalesce(c + "\x00trace", c).alias(c) for c in both]
        return frame.with_columns(line.alias(LINE), *clashes).drop(TRACE, TRACE_LINE, *[c + "\x00trace" for c in both])


class XesSource:
    line_label = "line"
    range_events = 300_000  # events a range aims at, as CSV ranges aim at rows (a worker near 1 GB)
    range_bytes: int | None = None  # a fixed size instead (tests)

    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.path = path
        self.mapping = mapping

    def case_count(self) -> int | None:
        count = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                count += line.count(b"<trace")
        return count

    def chunks(self, workers: int = 1) -> Iterator[XesRange]:
        """Byte ranges of whole traces: the workers parse them, the main process only finds where traces end."""
        size = self.range_bytes or bytes_holding(self.path, b"<event", self.range_events)
        target = part_size(os.path.getsize(self.path), size, workers)
        for start, end, line in xes_ranges(self.path, target):
            yield XesRange(str(self.path), start, end, line, dict(self.mapping.columns))


def xes_ranges(path: Path, target: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, line of start) of consecutive byte ranges of about `target` bytes holding whole traces.

    A last trace the file never closes gets a range of its own; its worker reports the file as incomplete.
    """
    end_tag = b"</trace>"
    with open(path, "rb") as handle:
        data, offset, line, eof = b"", 0, 1, False
        while (first := data.find(b"<trace")) < 0:  # skip the log's header (extensions, globals, classifiers)
            block = handle.read(1 << 20)
            if not block:
                return
            line += data.count(b"\n")
            offset += len(data)
            data = block
        line += data.count(b"\n", 0, first)
        start, data, need = offset + first, data[first:], target
        while data.find(b"<trace") >= 0:
            while not eof and len(data) < need:
                block = handle.read(max(target, 1 << 16))
                eof, data = not block, data + block
            found = data.find(end_tag, max(0, min(target, len(data)) - len(end_tag)))
            if found >= 0:
                cut = found + len(end_tag)
            elif not eof:
                need = len(data) + target  # a trace longer than a range: read on
                continue
            else:
                last = data.rfind(end_tag)
                cut = last + len(end_tag) if last >= 0 else 0
                if data.find(b"<trace", cut) >= 0:
                    cut = len(data)
            yield start, start + cut, line
            line += data.count(b"\n", 0, cut)
            start, data, need = start + cut, data[cut:], target


@dataclass
class XesRange:
    """Traces in bytes [start, end) of an XES file, the first byte on line `line`."""

    path: str
    start: int
    end: int
    line: int
    columns: dict[str, str]

    def read(self) -> RawChunk:
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.end - self.start)
        parser = expat.ParserCreate("utf-8")
        collector = _TraceCollector(parser)
        parser.StartElementHandler = collector.start
        parser.EndElementHandler = collector.end
        try:
            # A wrapper element on the range's first line keeps expat's line numbers relative to `line`.
            parser.Parse(b"<log>", False)
            parser.Parse(data, False)
            parser.Parse(b"</log>", True)
        except expat.ExpatError as exc:
            message = "XES/XML 语法错误" if data.rstrip().endswith(b"</trace>") else "XES/XML 文件不完整"
            raise InputError(self.path, f"{message}: {expat.errors.messages[exc.code]}",
                             line=self.line + exc.lineno - 1, expected="格式良好的 XES 文件") from exc  # fmt: skip
        frame = collector.frame()
        if frame.height:
            frame = frame.with_columns(pl.col(LINE) + (self.line - 1))
        headers = frame.columns
        plan = plan_columns([h for h in headers if h != LINE], self.columns)
        return RawChunk(frame, plan, self.path, "line")
