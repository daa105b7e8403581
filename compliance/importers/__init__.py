"""Batch inputs: case-file folders, event-log tables (CSV, Excel), XES logs and SQL databases.

`open_source` picks the reader from what INPUT is; every reader yields chunks of whole
cases that the batch engines check independently (in worker processes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from compliance.audit import iter_case_files
from compliance.importers.mapping import EMPTY, Mapping
from compliance.importers.normalize import RawChunk
from compliance.importers.sql import SqlSource, is_database
from compliance.importers.tables import CsvRange, CsvSource, ExcelSource
from compliance.importers.xes import XesSource
from compliance.sourcefile import InputError

FILES_PER_CHUNK = 2_000  # case files parse slowly; large chunks amortise the column-wise set-up


@dataclass
class CaseFilesChunk:
    """Case files (YAML/JSON), loaded by the worker that checks them."""

    paths: list[Path]


@dataclass
class FailedSource:
    """An input that cannot be read at all (missing file, no case column): one error result."""

    error: InputError


Chunk = RawChunk | CsvRange | CaseFilesChunk | FailedSource


class Source(Protocol):
    def case_count(self) -> int | None: ...

    def chunks(self, workers: int = 1) -> Iterator[RawChunk]: ...


class CaseFilesSource:
    def __init__(self, paths: list[Path]) -> None:
        self.files = list(iter_case_files(paths))

    def case_count(self) -> int:
        return len(self.files)

    def chunks(self, workers: int = 1) -> Iterator[CaseFilesChunk]:  # type: ignore[override]
        for start in range(0, len(self.files), FILES_PER_CHUNK):
            yield CaseFilesChunk(self.files[start : start + FILES_PER_CHUNK])


TABLE_SUFFIXES = {".csv": CsvSource, ".tsv": CsvSource, ".xlsx": ExcelSource, ".xlsm": ExcelSource, ".xes": XesSource}


def open_source(spec: str, mapping: Mapping = EMPTY) -> Source:
    """The reader for one INPUT: a folder or case file, a .csv/.xlsx/.xes log, a database file or URL."""
    if is_database(spec):
        return SqlSource(spec, mapping)
    path = Path(spec)
    if not path.exists():
        raise InputError(
            spec, "文件或目录不存在", expected="目录、案件文件、.csv/.xlsx/.xes、.sqlite/.db 或 postgresql:// URL"
        )
    reader = TABLE_SUFFIXES.get(path.suffix.lower())
    if reader is not None and path.is_file():
        return reader(path, mapping)
    return CaseFilesSource([path])


def iter_chunks(specs: list[str], mapping: Mapping = EMPTY) -> Iterator[Chunk]:
    """Every chunk of every input, in order; an unreadable input becomes one failed chunk."""
    for spec in specs:
        try:
            yield from open_source(spec, mapping).chunks()
        except InputError as exc:
            yield FailedSource(exc)


__all__ = ["CaseFilesChunk", "Chunk", "FailedSource", "Mapping", "RawChunk", "iter_chunks", "open_source"]
