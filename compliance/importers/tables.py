"""Event-log tables: CSV (read column-wise with Polars) and Excel (openpyxl, read-only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from compliance.importers.cells import cell_text
from compliance.importers.chunking import ROWS_PER_CHUNK, case_count_and_order, whole_case_chunks
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
        for frame in whole_case_chunks(self.lazy(), case_col, rows, contiguous, self.rows_per_chunk):
            yield RawChunk(frame, plan, str(self.path), self.line_label)


class CsvSource(TableSource):
    def lazy(self) -> pl.LazyFrame:
        if self._lf is None:
            # Every column as text: types are the model's business; the row index is the file line.
            self._lf = pl.scan_csv(
                self.path,
                infer_schema=False,
                row_index_name=LINE,
                row_index_offset=2,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
            )
        return self._lf


class ExcelSource(TableSource):
    """The first sheet (or one named events / 事件), header in row 1; the row index is the sheet row."""

    line_label = "row"

    def lazy(self) -> pl.LazyFrame:
        if self._lf is None:
            self._lf = read_excel(self.path).lazy()
        return self._lf


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
