"""Event-log tables: CSV (read column-wise with Polars) and Excel (openpyxl, read-only)."""

from __future__ import annotations

import atexit
import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from compliance.importers.cells import cell_text
from compliance.importers.chunking import (
    ROWS_PER_CHUNK,
    bytes_holding,
    case_count_and_order,
    part_size,
    whole_case_chunks,
)
from compliance.importers.columns import ColumnPlan, plan_columns
from compliance.importers.mapping import Mapping
from compliance.importers.normalize import LINE, RawChunk
from compliance.sourcefile import InputError


class TableSource:
    """A table of events, one row per event; cases are cut out whole."""

    line_label = "line"

    def __init__(self, path: Path, mapping: Mapping, rows_per_chunk: int = ROWS_PER_CHUNK) -> None:
        self.path = path
        self.mapping = mapping
        self.rows_per_chunk = rows_per_chunk
        self._lf: pl.LazyFrame | None = None
        self._order: tuple[int, int, bool] | None = None

    def lazy(self) -> pl.LazyFrame:
        raise NotImplementedError

    def plan(self) -> ColumnPlan:
        plan = plan_columns(self.lazy().collect_schema().names(), self.mapping.columns)
        plan.fields.pop(LINE, None)
        return plan

    def _case_column(self, plan: ColumnPlan) -> str:
        column = plan.source_of("case")
        if column is None:
            raise InputError(
                str(self.path),
                "找不到案件编号列",
                line=1,
                field="header",
                expected="case / case:concept:name / 案件编号",
            )
        if plan.source_of("step") is None:
            raise InputError(
                str(self.path), "找不到步骤列", line=1, field="header", expected="step / concept:name / 步骤"
            )
        return column

    def case_count(self) -> int:
        plan = self.plan()
        self._order = case_count_and_order(self.lazy(), self._case_column(plan))
        return self._order[1]

    def chunks(self, workers: int = 1) -> Iterator[RawChunk]:
        plan = self.plan()
        case_col = self._case_column(plan)
        rows, _cases, contiguous = self._order or case_count_and_order(self.lazy(), case_col)
        size = part_size(rows, self.rows_per_chunk, workers)
        for frame in whole_case_chunks(self.lazy(), case_col, rows, contiguous, size):
            yield RawChunk(frame, plan, str(self.path), self.line_label)


class CsvSource(TableSource):
    range_rows = 300_000  # rows a range aims at: about 13,000 cases of 23 events, a worker near 1 GB
    range_bytes: int | None = None  # a fixed size instead (tests)

    def lazy(self) -> pl.LazyFrame:
        if self._lf is None:
            source = _utf8_copy(self.path)
            # Every column as text: types are the model's business; the row index is the file line.
            self._lf = pl.scan_csv(
                source,
                infer_schema=False,
                row_index_name=LINE,
                row_index_offset=2,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
            )
        return self._lf

    def chunks(self, workers: int = 1) -> Iterator[RawChunk | CsvRange]:  # type: ignore[override]
        plan = self.plan()
        case_col = self._case_column(plan)
        _rows, _cases, contiguous = self._order or case_count_and_order(self.lazy(), case_col)
        if not contiguous:
            yield from super().chunks(workers)
            return
        # A log sorted by case is handed out as byte ranges of whole cases: the workers read and parse
        # them, so the main process neither holds nor ships the rows (memory flat, no copying).
        names = self.lazy().collect_schema().names()
        columns = [n for n in names if n != LINE]
        source = _utf8_copy(self.path)
        size = self.range_bytes or bytes_holding(source, b"\n", self.range_rows)
        target = part_size(os.path.getsize(source), size, workers)
        for start, end, first in csv_ranges(source, columns.index(case_col), target):
            yield CsvRange(str(source), names, start, end, first, plan, str(self.path))


@dataclass
class CsvRange:
    """Rows [start, end) (bytes) of a CSV file: whole cases, the first of them on record `first`."""

    path: str
    names: list[str]  # the row-index column, then the file's columns
    start: int
    end: int
    first: int
    plan: ColumnPlan
    file: str

    def read(self, keep: Collection[str] | None = None) -> RawChunk:
        """The range's rows; only the columns in `keep` when given (parsing a column costs as much read or not)."""
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.end - self.start)
        columns = [n for n in self.names if n != LINE]
        wanted = [i for i, name in enumerate(columns) if keep is None or name in keep]
        frame = pl.read_csv(data, has_header=False, columns=wanted, infer_schema=False, encoding="utf8-lossy",
                            truncate_ragged_lines=True)  # fmt: skip
        frame.columns = [columns[i] for i in wanted]  # projected columns come in file order, named by place
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        if lines == frame.height:
            numbers = pl.int_range(self.first, self.first + frame.height, eager=True)
        else:  # quoted fields spanning lines: each record's number is the line it starts on
            numbers = pl.Series(_record_lines(data, self.first))
        frame = frame.with_columns(numbers.cast(pl.Int64).alias(LINE))
        return RawChunk(frame.select([n for n in self.names if n in frame.columns]), self.plan, self.file, "line")


_NOT_BLANK = re.compile(rb"\S")


def csv_ranges(path: Path, case_index: int, target: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, line of its first record) of consecutive ranges, each ending where a case ends."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        handle.readline()  # the header
        start, record, pending = handle.tell(), 2, b""
        while True:
            block = handle.read(target)
            if block and size - handle.tell() < target // 4:
                block += handle.read()  # a last sliver of cases joins this range rather than make its own
            data = pending + block
            cut = len(data) if not block or handle.tell() >= size else _case_cut(data, case_index)
            if cut > 0 and _NOT_BLANK.search(data, 0, cut):  # (strip() would copy the whole range)
                yield start, start + cut, record
                record += data.count(b"\n", 0, cut)
            start, pending = start + max(cut, 0), data[max(cut, 0) :]
            if not block:
                return


def _record_lines(data: bytes, first: int) -> list[int]:
    """The line each record of `data` (whole records) starts on: newlines inside quotes start none."""
    starts, inside, line = [first], False, first
    pieces = data.split(b"\n")
    for piece in pieces[:-1]:
        inside ^= piece.count(b'"') % 2 == 1
        line += 1
        if not inside:
            starts.append(line)
    return starts[: len(starts) - (1 if data.endswith(b"\n") else 0)]


def _case_cut(data: bytes, case_index: int) -> int:
    """Where the last (maybe unfinished) case of `data` starts: everything before is whole cases (0: none)."""
    end = _record_end(data)
    if end <= 0:
        return 0
    boundaries = _boundaries_backwards(data, end)
    last_case = None
    previous = end
    for boundary in boundaries:
        case = _case_of(data[boundary:previous], case_index)
        if last_case is None:
            last_case = case
        elif case != last_case:
            return previous
        previous = boundary
    return 0


def _boundaries_backwards(data: bytes, end: int) -> Iterator[int]:
    """Record starts before `end`, last first (a record starts after a newline outside quotes, or at 0).

    `end` is a record's end (`_record_end`): outside quotes, so an even number of quotes precedes it.
    """
    parity = 0
    position = end - 1  # the newline that ends the last record
    while position > 0:
        previous = data.rfind(b"\n", 0, position)
        parity ^= data.count(b'"', previous + 1, position) % 2
        if previous < 0:
            break
        if parity == 0:
            yield previous + 1
        position = previous
    yield 0


def _case_of(record: bytes, case_index: int) -> str | None:
    row = next(csv.reader(io.StringIO(record.decode("utf-8", "replace"))), [])
    return row[case_index] if case_index < len(row) else None


def _record_end(data: bytes) -> int:
    """Just past the last newline of `data` that is outside quotes (0 if none)."""
    end = data.rfind(b"\n")
    while end >= 0:
        if data.count(b'"', 0, end) % 2 == 0:
            return end + 1
        end = data.rfind(b"\n", 0, end)
    return 0


class ExcelSource(TableSource):
    """The first sheet (or one named events / 事件), header in row 1; the row index is the sheet row."""

    line_label = "row"

    def lazy(self) -> pl.LazyFrame:
        if self._lf is None:
            self._lf = read_excel(self.path).lazy()
        return self._lf


def _utf8_copy(path: Path) -> Path:
    """The file itself when it is UTF-8; else (exports of Chinese office systems are often GBK) a UTF-8 copy."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    try:
        head.decode("utf-8")
        return path
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a character cut by the sample's end
            return path
    directory = tempfile.mkdtemp(prefix="compliance-csv-")
    atexit.register(shutil.rmtree, directory, True)
    target = Path(directory) / path.name
    with (
        open(path, encoding="gb18030", errors="replace", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as dst,
    ):
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def read_excel(path: Path) -> pl.DataFrame:
    """Every cell as text, numbered by sheet row: with calamine (fastexcel) when installed, else openpyxl."""
    try:
        import fastexcel
    except ImportError:
        return _read_excel_openpyxl(path)
    try:
        reader = fastexcel.read_excel(str(path))
        names = {n.strip().lower(): n for n in reader.sheet_names}
        sheet = names.get("events") or names.get("事件") or reader.sheet_names[0]
        frame = reader.load_sheet(sheet, dtypes="string").to_polars()
    except Exception as exc:  # fastexcel raises its own error kinds for damaged files
        raise InputError(str(path), f"无法读取 Excel 文件: {exc}") from exc
    # Dates come as "2024-03-01 00:00:00"; a date without a time is written as a date, as openpyxl's path does.
    frame = frame.with_columns(pl.all().str.replace(r" 00:00:00$", "")).with_row_index(LINE, offset=2)
    frame = frame.with_columns(pl.col(LINE).cast(pl.Int64))
    return frame.filter(~pl.all_horizontal(pl.exclude(LINE).is_null()))


def _read_excel_openpyxl(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InputError(str(path), f"无法读取 Excel 文件: {exc}") from exc
    try:
        names = {n.strip().lower(): n for n in book.sheetnames}
        sheet = book[names.get("events") or names.get("事件") or book.sheetnames[0]]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise InputError(str(path), "工作表为空", line=1, expected="第一行为表头")
        headers = [str(h).strip() if h is not None else f"column{i + 1}" for i, h in enumerate(header)]
        columns: list[list[str | None]] = [[] for _ in headers]
        lines: list[int] = []
        for number, row in enumerate(rows, start=2):
            if row is None or all(v is None for v in row):
                continue
            lines.append(number)
            for i in range(len(headers)):
                columns[i].append(cell_text(row[i]) if i < len(row) else None)
    finally:
        book.close()
    data = {LINE: pl.Series(LINE, lines, pl.Int64)}
    data.update({h: pl.Series(h, col, pl.Utf8) for h, col in zip(headers, columns, strict=True)})
    return pl.DataFrame(data)
