"""Event-log tables: CSV (read column-wise with Polars) and Excel (openpyxl, read-only)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from compliance.importers.cells import cell_text
from compliance.importers.chunking import ROWS_PER_CHUNK, case_count_and_order, whole_case_chunks, whole_cases
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

    def chunks(self) -> Iterator[RawChunk]:
        plan = self.plan()
        case_col = self._case_column(plan)
        rows, _cases, contiguous = self._order or case_count_and_order(self.lazy(), case_col)
        for frame in self._frames(case_col, rows, contiguous):
            yield RawChunk(frame, plan, str(self.path), self.line_label)

    def _frames(self, case_col: str, rows: int, contiguous: bool) -> Iterator[pl.DataFrame]:
        yield from whole_case_chunks(self.lazy(), case_col, rows, contiguous, self.rows_per_chunk)


class CsvSource(TableSource):
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

    def _frames(self, case_col: str, rows: int, contiguous: bool) -> Iterator[pl.DataFrame]:
        if not contiguous:
            yield from super()._frames(case_col, rows, contiguous)
            return
        # A log sorted by case is read block by block: memory holds one block, whatever the file size.
        blocks = csv_blocks(_utf8_copy(self.path), self.lazy().collect_schema().names())
        yield from whole_cases(blocks, case_col, self.rows_per_chunk)


BLOCK_BYTES = 32 << 20


def csv_blocks(path: Path, names: list[str], block_bytes: int = BLOCK_BYTES) -> Iterator[pl.DataFrame]:
    """The data rows of a CSV file, parsed block by block, cut only between records.

    A newline ends a record when the quotes before it are balanced (RFC 4180 doubles quotes
    inside fields), so quoted fields holding newlines stay whole. LINE numbers records from 2.
    """
    columns = [n for n in names if n != LINE]
    with open(path, "rb") as handle:
        handle.readline()  # the header
        carry, line = b"", 2
        while True:
            block = handle.read(block_bytes)
            data = carry + block
            if not block:
                cut = len(data)
            else:
                cut = _record_end(data)
                if cut <= 0:
                    carry = data
                    continue
            part, carry = data[:cut], data[cut:]
            if part.strip():
                frame = pl.read_csv(part, has_header=False, new_columns=columns, infer_schema=False,
                                    encoding="utf8-lossy", truncate_ragged_lines=True,
                                    row_index_name=LINE, row_index_offset=line)  # fmt: skip
                line += frame.height
                yield frame.select(names)
            if not block:
                return


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
