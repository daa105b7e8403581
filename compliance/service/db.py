"""The case store's tables and connections: SQLite embedded by default, PostgreSQL by URL.

Writes to one case are serialised by the database, not by this process, so several server
processes may share a PostgreSQL database:

- PostgreSQL: a write transaction locks the case row (`SELECT … FOR UPDATE`) before it
  reads the case's events, so concurrent posts to one case queue up;
- SQLite: write transactions start with `BEGIN IMMEDIATE`, taking the database's write
  lock up front (a deferred transaction that upgrades later can deadlock instead of wait).

Acknowledged means committed: SQLite runs in WAL mode with `synchronous=FULL`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

DEFAULT_DB = "compliance-service.db"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(100), index=True)
    procedure: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)  # events recorded so far
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EventRow(Base):
    """A recorded event and the answer given when it was recorded (replayed for the same id)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("case_id", "event_id"), UniqueConstraint("case_id", "seq"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event in case-file form
    body_hash: Mapped[str] = mapped_column(String(64))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    force_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_code: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    jurisdictions: Mapped[list[str]] = mapped_column(JSON)
    rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DecisionLogRow(Base):
    """Who asked what, and what was answered."""

    __tablename__ = "decision_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    case_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    event_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status_code: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(20), nullable=True)  # allow | deny | error
    request: Mapped[str | None] = mapped_column(Text, nullable=True)  # the request body as JSON text
    answer: Mapped[Any] = mapped_column(JSON, nullable=True)


def database_url(db: str | None) -> str:
    """A SQLAlchemy URL from `--db`: a URL as given, a plain path as an SQLite file."""
    value = db or os.environ.get("COMPLIANCE_DB") or DEFAULT_DB
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    if value.startswith("postgresql://") or value.startswith("postgres://"):
        # psycopg 3 is the driver we ship; SQLAlchemy's bare postgresql:// means psycopg2.
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


class Database:
    """Engines and transactions for one store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._write_lock: AbstractContextManager[Any] = threading.Lock() if self.sqlite else nullcontext()
        if self.sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
        else:
            self.writer = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.reader = self.writer
        Base.metadata.create_all(self.writer)

    @classmethod
    def connect(cls, db: str | None) -> Database:
        return cls(database_url(db))

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction; committed by the caller, rolled back on any exception.

        On SQLite, writers of this process also queue on a lock of their own: SQLite's busy
        handler sleeps in growing steps (up to 100 ms) while another connection writes, which
        under load costs far more than waiting in line. Other processes still meet the busy
        handler, which stays correct.
        """
        with self._write_lock, Session(self.writer, expire_on_commit=False) as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    def lock_case(self, session: Session, case_id: str) -> CaseRow | None:
        """The case row, locked for the rest of the transaction (PostgreSQL; SQLite holds the
        database write lock since BEGIN IMMEDIATE)."""
        return session.scalars(select(CaseRow).where(CaseRow.id == case_id).with_for_update()).first()

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=20, max_overflow=20)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
