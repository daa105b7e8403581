"""Helpers shared by the batch tests: run chunks, write small logs, run the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from compliance.cli import main
from compliance.engine.batch_worker import CaseOutcome, Settings, check_chunk
from compliance.importers import iter_chunks
from compliance.importers.export import write_csv
from compliance.importers.mapping import EMPTY, Mapping
from compliance.sourcefile import load_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "cases_samples"
EXTERNAL = ROOT.parent / "shared" / "data" / "external"
MAPPINGS = ROOT / "examples" / "mappings"


def sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*.yaml"))


def sample_documents() -> list[dict]:
    return [load_file(p).data for p in sample_paths()]


def check(
    specs: list[str], engine: str = "columnar", mapping: Mapping = EMPTY, show_all: bool = False
) -> list[CaseOutcome]:
    settings = Settings(engine=engine, show_all=show_all, mapping=mapping)
    return [o for chunk in iter_chunks(specs, mapping) for o in check_chunk(chunk, settings)]


def numbered_log(directory: Path, docs: list[dict]) -> Path:
    """A CSV event log of the cases, each case id made unique by its place in the list."""
    for i, doc in enumerate(docs):
        doc["case"] = f"{doc['case']}{i}"
    path = directory / "cases.csv"
    write_csv(path, docs)
    return path


def run_cli(*args: str):
    return CliRunner().invoke(main, ["batch", *args, "--no-progress", "--jobs", "1"], catch_exceptions=False)
