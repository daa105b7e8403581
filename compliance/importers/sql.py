"""Cases and events in a SQL database (SQLite file by default, PostgreSQL by URL), via SQLAlchemy.

Schema (docs/batch.md):

    cases(case_id TEXT PRIMARY KEY, jurisdiction TEXT, procedure TEXT, title TEXT, facts TEXT)  -- facts: JSON object
    events(id INTEGER PRIMARY KEY, case_id TEXT NOT NULL, seq INTEGER NOT NULL, step TEXT NOT NULL,
           date TEXT, start TEXT, "end" TEXT, ref TEXT, actor TEXT, data TEXT)                   -- data: JSON object

Dates may be ISO text or DATE columns. Errors cite `events.id` (or the case row) as the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from compliance.importers.cells import cell_text
from compliance.importers.chunking import part_size
from compliance.importers.columns import plan_columns
from compliance.importers.mapping import EMPTY, Mapping
from compliance.importers.normalize import LINE, RawChunk
from compliance.importers.records import records_frame
from compliance.sourcefile import InputError

metadata = sa.MetaData()
cases_table = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("jurisdiction", sa.Text),
    sa.Column("procedure", sa.Text),
    sa.Column("title", sa.Text),
    sa.Column("facts", sa.Text),
)
events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Text, nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    sa.Column("date", sa.Text),
    sa.Column("start", sa.Text),
    sa.Column("end", sa.Text),
    sa.Column("ref", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("data", sa.Text),
)
CASES_PER_CHUNK = 8_000


def database_url(spec: str) -> str:
    """A path to a SQLite file, or a URL; plain postgresql:// URLs use the psycopg 3 driver."""
    if "://" not in spec:
        return f"sqlite:///{Path(spec).resolve()}"
    if spec.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + spec.split("://", 1)[1]
    return spec


def is_database(spec: str) -> bool:
    return spec.startswith(("postgresql://", "postgres://", "postgresql+", "sqlite://")) or Path(
        spec
    ).suffix.lower() in (".sqlite", ".sqlite3", ".db")


def write_cases(url: str, cases: Iterable[dict[str, Any]]) -> int:
    """Store case documents (the case-file structure) in the schema; returns the number written."""
    engine = sa.create_engine(database_url(url))
    metadata.create_all(engine)
    count = 0
    with engine.begin() as conn:
        case_rows, event_rows = [], []
        for case in cases:
            count += 1
            facts = case.get("facts")
            case_rows.append(
                {
                    "case_id": str(case["case"]),
                    "jurisdiction": case.get("jurisdiction"),
                    "procedure": case.get("procedure"),
                    "title": case.get("title"),
                    "facts": json.dumps(facts, ensure_ascii=False, default=str) if facts else None,
                }
            )
            for seq, event in enumerate(case.get("events", [])):
                data = event.get("data")
                event_rows.append(
                    {
                        "case_id": str(case["case"]),
                        "seq": seq,
                        "step": event["step"],
                        **{k: cell_text(event.get(k)) for k in ("date", "start", "end", "ref", "actor")},
                        "data": json.dumps(data, ensure_ascii=False, default=str) if data else None,
                    }
                )
            if len(event_rows) > 20_000:
                _flush(conn, case_rows, event_rows)
                case_rows, event_rows = [], []
        _flush(conn, case_rows, event_rows)
    engine.dispose()
    return count


def _flush(conn: sa.Connection, case_rows: list, event_rows: list) -> None:
    if case_rows:
        conn.execute(cases_table.insert(), case_rows)
    if event_rows:
        conn.execute(events_table.insert(), event_rows)


class SqlSource:
    line_label = "events.id"

    def __init__(self, spec: str, mapping: Mapping, cases_per_chunk: int = CASES_PER_CHUNK) -> None:
        self.spec = spec
        self.url = database_url(spec)
        self.mapping = mapping
        self.cases_per_chunk = cases_per_chunk
        if "://" not in spec and not Path(spec).exists():
            raise InputError(spec, "数据库文件不存在", expected="SQLite 文件或 postgresql:// URL")
        self.engine = sa.create_engine(self.url)

    def _check_schema(self, conn: sa.Connection) -> None:
        tables = set(sa.inspect(conn).get_table_names())
        missing = {"cases", "events"} - tables
        if missing:
            raise InputError(
                self.spec,
                f"数据库缺少表 {', '.join(sorted(missing))}",
                field="schema",
                expected="cases 与 events 表（见 docs/batch.md）",
            )

    def case_count(self) -> int:
        with self.engine.connect() as conn:
            self._check_schema(conn)
            return int(conn.execute(sa.select(sa.func.count()).select_from(cases_table)).scalar_one())

    def chunks(self, workers: int = 1) -> Iterator[SqlRange | RawChunk]:
        """Ranges of case ids, each read by a worker; events of no case are reported from here."""
        c, e = cases_table, events_table
        with self.engine.connect() as conn:
            self._check_schema(conn)
            total = int(conn.execute(sa.select(sa.func.count()).select_from(c)).scalar_one())
            size = part_size(total, self.cases_per_chunk, workers)
            ids = conn.execution_options(stream_results=True, yield_per=10_000).execute(
                sa.select(c.c.case_id).order_by(c.c.case_id)
            )
            first = last = None
            count = 0
            for (case_id,) in ids:
                first = case_id if first is None else first
                last, count = case_id, count + 1
                if count >= size:
                    yield SqlRange(self.spec, first, last)
                    first, count = None, 0
            if first is not None:
                yield SqlRange(self.spec, first, last)
            orphans = conn.execute(sa.select(e.c.id, e.c.case_id).where(e.c.case_id.not_in(sa.select(c.c.case_id))))
            lost = [{LINE: r.id, "case": r.case_id, "__orphan": "1"} for r in orphans]
            if lost:
                yield self._chunk(lost)

    def read_range(self, first: str, last: str) -> RawChunk:
        """The cases with ids in [first, last], a row per event (a case without events: one bare row).

        Cases and events are read apart and joined by Polars: a case's facts are decoded once,
        not once per event, and the table is built column by column.
        """
        c, e = cases_table, events_table
        in_range = (c.c.case_id >= first, c.c.case_id <= last)
        with self.engine.connect() as conn:
            case_rows = conn.execute(
                sa.select(c.c.case_id, c.c.jurisdiction, c.c.procedure, c.c.title, c.c.facts)
                .where(*in_range)
                .order_by(c.c.case_id)
            ).all()
            event_rows = conn.execute(
                sa.select(e.c.case_id, e.c.id, e.c.step, e.c.date, e.c.start, e.c.end, e.c.ref, e.c.actor, e.c.data)
                .select_from(e.join(c, e.c.case_id == c.c.case_id))
                .where(*in_range)
                .order_by(e.c.case_id, e.c.seq, e.c.id)
            ).all()
        # Rows are tuples in the order selected, the JSON column last.
        cases = _columns(case_rows, ["case", "jurisdiction", "procedure", "title"], "facts")
        events = _columns(event_rows, ["case", LINE, "step", "date", "start", "end", "ref", "actor"], "data")
        frame = cases.join(events, on="case", how="left", maintain_order="left_right")
        # A row's JSON fault: its event's data, else its case's facts (the event's is reported first).
        bad = pl.coalesce(pl.col("__bad_data"), pl.col("__bad_facts")).alias("__bad_json")
        frame = frame.with_columns(bad).drop("__bad_data", "__bad_facts")
        if frame["__bad_json"].null_count() == frame.height:
            frame = frame.drop("__bad_json")
        frame = frame.select(LINE, *[n for n in frame.columns if n != LINE]).with_columns(pl.col(LINE).cast(pl.Int64))
        plan = plan_columns([h for h in frame.columns if h != LINE], {})
        return RawChunk(frame, plan, self.spec, self.line_label)

    def _chunk(self, rows: list[dict[str, Any]]) -> RawChunk:
        headers = list(dict.fromkeys(k for row in rows for k in row))
        frame = pl.DataFrame(
            {h: pl.Series(h, [r.get(h) for r in rows], pl.Int64 if h == LINE else pl.Utf8) for h in headers}
        )
        plan = plan_columns([h for h in headers if h != LINE], {})
        return RawChunk(frame, plan, self.spec, self.line_label)


@dataclass(frozen=True)
class SqlRange:
    """The cases with ids in [first, last] (the database's order), read by the worker that checks them."""

    spec: str
    first: str
    last: str

    def read(self) -> RawChunk:
        return _source(self.spec).read_range(self.first, self.last)


@lru_cache(maxsize=4)
def _source(spec: str) -> SqlSource:
    """One engine (and connection pool) per database and process."""
    return SqlSource(spec, EMPTY)


def _columns(rows: Sequence[Sequence[Any]], names: list[str], prefix: str) -> pl.DataFrame:
    """A frame of `rows`: columns `names` (CELLS as a CSV would hold them; the row index as integers),
    then a JSON object per row, spread into one column per key (`prefix.key`); `__bad_<prefix>` marks
    rows whose JSON is not an object."""
    transposed = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(names) + 1)]
    documents = transposed.pop()
    objects = [_json_object(text) for text in documents]
    spread = records_frame(
        [{f"{prefix}.{key}": cell_text(value) for key, value in (found or {}).items()} for found in objects]
    )
    series = [
        pl.Series(name, values, pl.Int64 if name == LINE else pl.Utf8) if name not in CELLS else _cells(name, values)
        for name, values in zip(names, transposed, strict=True)
    ]
    bad = pl.Series(f"__bad_{prefix}", [None if found is not None else prefix for found in objects], pl.Utf8)
    frame = pl.DataFrame([*series, bad])
    return pl.concat([frame, spread], how="horizontal") if spread.width else frame


CELLS = ("date", "start", "end", "ref", "actor")  # event fields read as cells (a date may be a DATE column)


def _cells(name: str, values: tuple) -> pl.Series:
    """Values as `cell_text` writes them; text (what SQLite holds) is only blanked when empty, column-wise."""
    if all(value is None or type(value) is str for value in values):
        column = pl.Series(name, values, pl.Utf8)
        return column.set(column.str.strip_chars() == "", None)  # type: ignore[arg-type]
    return pl.Series(name, [cell_text(value) for value in values], pl.Utf8)


def _json_object(text: Any) -> dict[str, Any] | None:
    """The facts/data JSON of a row ({} when empty); None when it is not a JSON object."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
