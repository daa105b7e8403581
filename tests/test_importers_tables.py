"""CSV and Excel event logs: our headers, process-mining headers, Chinese headers, mapping files, bad rows."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl
from openpyxl import Workbook

from compliance.engine.projection import source_columns
from compliance.importers.chunking import part_size
from compliance.importers.documents import ordered
from compliance.importers.mapping import EMPTY, load_mapping
from compliance.importers.normalize import LINE
from compliance.importers.tables import CsvSource, csv_ranges
from compliance.rules.packs import load_rulebook
from tests.batch_support import check

LATE_HEARING = [  # changan-late-hearing.yaml, as another system would export it
    ("CA-X1", "land_use_application", "2024-05-20", "", ""),
    ("CA-X1", "compensation_announcement", "", "2024-08-09", "2024-09-11"),
    ("CA-X1", "hearing_request", "2024-09-02", "", ""),
    ("CA-X1", "hearing", "2024-10-09", "", ""),
]


def _write(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _hearing_window(outcome) -> str:
    return next(f.status for f in outcome.result.findings if f.rule == "changan.hearing-window")


def test_chinese_headers_and_chinese_step_names(tmp_path):
    rows = [
        (
            c,
            {"hearing": "听证会", "hearing_request": "听证申请"}.get(s, s),
            d,
            b,
            e,
            "xian-changan",
            "collective-expropriation",
        )
        for c, s, d, b, e in LATE_HEARING
    ]
    path = _write(tmp_path / "导出.csv", ["案件编号", "步骤", "日期", "开始", "结束", "辖区", "程序"], rows)
    [outcome] = check([str(path)])
    assert outcome.result.case == "CA-X1"
    assert outcome.result.verdict == "violations"
    assert _hearing_window(outcome) == "violated"
    finding = next(f for f in outcome.result.findings if f.rule == "changan.hearing-window")
    assert finding.expected == "hearing in (2024-09-11, 2024-10-08]"


def test_gbk_encoded_export(tmp_path):
    # Chinese office systems often export GBK; the file is read as such when it is not UTF-8.
    rows = [(c, {"hearing": "听证会", "hearing_request": "听证申请"}.get(s, s), d, b, e, "xian-changan",
             "collective-expropriation") for c, s, d, b, e in LATE_HEARING]  # fmt: skip
    path = tmp_path / "gbk.csv"
    with open(path, "w", newline="", encoding="gbk") as handle:
        writer = csv.writer(handle)
        writer.writerow(["案件编号", "步骤", "日期", "开始", "结束", "辖区", "程序"])
        writer.writerows(rows)
    [outcome] = check([str(path)])
    assert _hearing_window(outcome) == "violated"


def test_process_mining_headers_with_timestamps_and_mapping(tmp_path):
    # Timestamps with offsets, start_timestamp for periods, the system's own activity names.
    names = {
        "land_use_application": "Antrag",
        "compensation_announcement": "Bekanntmachung",
        "hearing_request": "Anhörungsantrag",
        "hearing": "Anhörung",
    }
    rows = [
        (c, names[s], f"{e or d} 10:00:00+08:00", f"{b} 09:00:00+08:00" if b else "") for c, s, d, b, e in LATE_HEARING
    ]
    path = _write(
        tmp_path / "log.csv", ["case:concept:name", "concept:name", "time:timestamp", "start_timestamp"], rows
    )
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(
        "activities:\n"
        + "".join(f"  {v}: {k}\n" for k, v in names.items())
        + "defaults: {jurisdiction: xian-changan, procedure: collective-expropriation}\n",
        encoding="utf-8",
    )
    [outcome] = check([str(path)], mapping=load_mapping(mapping_file))
    assert outcome.result.error is None
    assert _hearing_window(outcome) == "violated"


def test_unmapped_activity_is_an_error_naming_line_and_column(tmp_path):
    rows = [
        (c, s if s != "hearing" else "hearring", d, b, e, "xian-changan", "collective-expropriation")
        for c, s, d, b, e in LATE_HEARING
    ]
    rows.append(("CA-X2", "land_use_application", "2024-05-20", "", "", "xian-changan", "collective-expropriation"))
    path = _write(tmp_path / "log.csv", ["case", "step", "date", "start", "end", "jurisdiction", "procedure"], rows)
    bad, good = check([str(path)])
    assert bad.result.verdict == "error" and bad.result.case == "CA-X1"
    assert bad.result.error_detail["line"] == 5  # header is line 1; the hearing is the 4th event
    assert bad.result.error_detail["column"] == "step"
    assert "hearring" in bad.result.error and "hearing" in bad.result.error_detail["suggestion"]
    assert good.result.case == "CA-X2" and good.result.verdict == "compliant"


def test_bad_date_and_missing_case_id_rows(tmp_path):
    rows = [
        ("A", "land_use_application", "2024-13-01"),
        ("", "land_use_application", "2024-05-01"),
        ("B", "land_use_application", "2024/05/20"),
    ]
    path = _write(tmp_path / "log.csv", ["case", "step", "date"], rows)
    outcomes = check([str(path)], mapping=load_mapping(_defaults(tmp_path)))
    by_case = {o.result.case: o.result for o in outcomes}
    assert by_case[None].error_detail["line"] == 3 and by_case[None].error_detail["field"] == "case"
    assert by_case["A"].error_detail["line"] == 2 and by_case["A"].error_detail["column"] == "date"
    assert "YYYY-MM-DD" in by_case["A"].error_detail["expected"]
    assert by_case["B"].verdict == "compliant"  # 2024/05/20 is a date as Chinese systems write it


def _defaults(tmp_path: Path) -> Path:
    path = tmp_path / "defaults.yaml"
    path.write_text("defaults: {jurisdiction: xian-changan, procedure: collective-expropriation}\n", encoding="utf-8")
    return path


def test_rows_of_a_case_need_not_be_adjacent(tmp_path):
    rows = [(c, s, d, b, e, "xian-changan", "collective-expropriation") for c, s, d, b, e in LATE_HEARING]
    other = [("CA-X2", "land_use_application", "2024-05-20", "", "", "xian-changan", "collective-expropriation")]
    interleaved = [rows[0], other[0], *rows[1:]]
    path = _write(
        tmp_path / "log.csv", ["case", "step", "date", "start", "end", "jurisdiction", "procedure"], interleaved
    )
    outcomes = {o.result.case: o for o in check([str(path)])}
    assert set(outcomes) == {"CA-X1", "CA-X2"}
    assert _hearing_window(outcomes["CA-X1"]) == "violated"


def test_inputs_are_cut_in_equal_parts_the_workers_divide():
    assert part_size(352, 48, 1) == 44  # 8 parts of about 48
    assert part_size(352, 48, 2) == 44  # 8 parts: 4 for each of 2 workers
    assert part_size(300, 48, 2) == 38  # 7 parts would leave one worker alone at the end: 8
    assert part_size(10, 48, 2) == 5  # even a small input gives each worker a part


def test_rows_are_grouped_by_case_in_order_of_first_appearance():
    frame = pl.DataFrame({"case": ["B", "A", "B", "A"], "seq": [0, 1, 2, 3]})
    assert ordered(frame).rows() == [("B", 0), ("B", 2), ("A", 1), ("A", 3)]


def test_rows_already_grouped_keep_their_order():
    frame = pl.DataFrame({"case": ["B", "B", "A"], "seq": [0, 1, 2]})
    assert ordered(frame).rows() == [("B", 0), ("B", 1), ("A", 2)]


def _day(text: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def test_excel_log(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "events"
    sheet.append(["案件编号", "步骤", "日期", "开始", "结束", "辖区", "程序"])
    for c, s, d, b, e in LATE_HEARING:
        sheet.append([c, s, _day(d), _day(b), _day(e), "xian-changan", "collective-expropriation"])
    path = tmp_path / "log.xlsx"
    book.save(path)
    [outcome] = check([str(path)])
    assert _hearing_window(outcome) == "violated"


def test_missing_case_column_fails_the_file_only(tmp_path):
    path = _write(tmp_path / "log.csv", ["activity", "date"], [("hearing", "2024-01-01")])
    [outcome] = check([str(path)])
    assert outcome.result.verdict == "error"
    assert outcome.result.error_detail["field"] == "header"


def test_byte_ranges_hold_whole_cases_and_whole_records(tmp_path):
    # Quoted fields may hold newlines and doubled quotes; tiny ranges must still cut between cases.
    path = tmp_path / "quoted.csv"
    path.write_text(
        'case,step,date,title\nA,hearing,2024-01-01,"multi\nline ""quoted"""\nA,hearing_request,2024-01-02,x\n'
        'B,hearing,2024-01-03,y\nC,hearing,2024-01-04,"a,b"\nC,hearing,2024-01-05,z',
        encoding="utf-8",
    )
    source = CsvSource(path, EMPTY)
    source.range_bytes = 16
    source_ranges = list(csv_ranges(path, 0, 16))
    assert [r[2] for r in source_ranges] == [2, 5, 6]  # the lines where cases A, B, C start
    frames = [chunk.read().frame for chunk in source.chunks()]
    assert [f["case"].unique().to_list() for f in frames] == [["A"], ["B"], ["C"]]
    whole = pl.read_csv(path, infer_schema=False)
    assert pl.concat(frames).drop(LINE).rows() == whole.rows()
    assert pl.concat(frames)[LINE].to_list() == [2, 4, 5, 6, 7]  # a record's line is the line it starts on
    assert frames[0]["title"][0] == 'multi\nline "quoted"'


def test_a_csv_range_reads_only_the_columns_asked_for_with_their_lines(tmp_path):
    path = _write(tmp_path / "log.csv", ["case", "step", "date", "data.remark"], [("A", "hearing", "2024-01-01", "x")])
    (chunk,) = CsvSource(path, EMPTY).chunks()
    frame = chunk.read(keep={"case", "step", "date"}).frame
    assert frame.columns == [LINE, "case", "step", "date"]
    assert frame.row(0) == (2, "A", "hearing", "2024-01-01")


def test_only_facts_and_step_data_no_rule_reads_and_the_model_never_checks_are_left_unread(tmp_path):
    header = ["case", "step", "date", "facts.expropriated_area_mu", "facts.note", "data.in_favour", "data.remark",
              "data.notice_date", "data.handed_over_date"]  # fmt: skip
    path = _write(tmp_path / "log.csv", header, [])
    plan = CsvSource(path, EMPTY).plan()
    read = source_columns(plan, load_rulebook())
    assert set(header) - read == {"facts.note", "data.remark"}


def test_an_invalid_date_in_step_data_no_rule_reads_still_makes_the_case_an_error(tmp_path):
    rows = [(*row, "2024-02-30" if row[1] == "hearing" else "") for row in LATE_HEARING]
    header = ["case", "step", "date", "start", "end", "data.handed_over_date"]
    path = _write(tmp_path / "log.csv", header, rows)
    (outcome,) = check([str(path)], mapping=load_mapping(_defaults(tmp_path)))
    assert outcome.result.error_detail["field"] == "events[3].data.handed_over_date"
    assert (outcome.result.error_detail["line"], outcome.result.error_detail["column"]) == (5, "data.handed_over_date")
