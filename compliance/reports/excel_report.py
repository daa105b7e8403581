"""Excel workbook with Chinese headers: 汇总, 违规明细 (streamed), 按规则, 按辖区, 按年度, 按部门, 无法检查."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from compliance.reports.aggregate import Totals
from compliance.reports.rendering import Rendered

EXCEL_MAX_ROWS = 1_048_576
FINDING_HEADERS = (
    "案件编号",
    "辖区",
    "程序",
    "结论",
    "规则",
    "状态",
    "严重程度",
    "规则名称",
    "说明",
    "涉及事件",
    "合规范围",
    "最早",
    "最迟",
    "条款",
    "依据文件",
    "责任部门",
    "文件",
)
HEAD_FONT = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="1F4E79")


class ExcelReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.book = Workbook(write_only=True)
        # Sheets are created in reading order; only the findings sheet fills while results stream.
        self.summary = self.book.create_sheet("汇总")
        self.findings = self.book.create_sheet("违规明细")
        self.rows = 1
        self.truncated = 0
        self._header(self.findings, FINDING_HEADERS, (14, 14, 22, 10, 40, 8, 8, 30, 60, 30, 30, 12, 12, 12, 30, 20, 30))

    def _header(self, sheet, headers, widths=None) -> None:
        if widths:
            for i, width in enumerate(widths):
                sheet.column_dimensions[chr(ord("A") + i)].width = width
        cells = []
        for text in headers:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font, cell.fill = HEAD_FONT, HEAD_FILL
            cells.append(cell)
        sheet.append(cells)

    def write(self, rendered: Rendered) -> None:
        for row in rendered.xlsx:
            if self.rows >= EXCEL_MAX_ROWS:
                self.truncated += 1
                continue
            self.rows += 1
            self.findings.append(row)

    def close(self, totals: Totals) -> Path:
        s = totals.summary_json()
        self._header(self.summary, ("项目", "数量"), (24, 14))
        for label, key in (
            ("案件总数", "cases"),
            ("合规", "compliant"),
            ("存在违规", "violations"),
            ("资料不全，待查", "incomplete"),
            ("无法检查", "errors"),
        ):
            self.summary.append([label, s[key]])
        self.summary.append(["违规结论数", s["findings"]["violated"]])
        self.summary.append(["待查结论数", s["findings"]["unknown"]])
        if self.truncated:
            self.summary.append(["超出 Excel 行数上限未列出的结论", self.truncated])
        self._per_rule(totals)
        self._per_group("按辖区", "辖区", totals.jurisdictions)
        self._per_group("按年度", "年度", totals.years)
        departments = self.book.create_sheet("按部门")
        self._header(departments, ("责任部门", "违规数"), (40, 10))
        for name, count in totals.departments.most_common():
            departments.append([name, count])
        errors = self.book.create_sheet("无法检查")
        self._header(errors, ("案件编号", "文件", "行", "字段", "错误"), (16, 40, 8, 24, 80))
        for result in totals.errors:
            detail = result.error_detail or {}
            errors.append(
                [
                    result.case,
                    result.file,
                    detail.get("line"),
                    detail.get("column") or detail.get("field"),
                    result.error,
                ]
            )
        self.book.save(self.path)
        return self.path

    def _per_rule(self, totals: Totals) -> None:
        sheet = self.book.create_sheet("按规则")
        self._header(
            sheet,
            ("规则", "规则名称", "规则包", "条款", "违规数", "待查数", "涉及案件数"),
            (44, 40, 12, 14, 10, 10, 12),
        )
        for r in totals.rule_rows():
            sheet.append([r.rule, r.title, r.pack, r.clause, r.violated, r.unknown, len(r.cases)])

    def _per_group(self, name: str, label: str, groups) -> None:
        sheet = self.book.create_sheet(name)
        self._header(sheet, (label, "案件数", "合规", "存在违规", "待查", "无法检查"), (20, 10, 10, 10, 10, 10))
        for key in sorted(groups, key=str):
            c = groups[key]
            sheet.append([str(key), sum(c.values()), c["compliant"], c["violations"], c["incomplete"], c["error"]])
