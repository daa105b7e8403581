"""Running a batch: read inputs chunk by chunk, check chunks on every core, stream results to reports.

Memory stays flat: at most a few chunks are in flight (read, being checked, or waiting to
be written) whatever the number of cases; reports are written as results arrive.
Results come back in input order, whatever order the workers finish in.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import click

from compliance.engine.batch_worker import Settings, check_chunk, preload
from compliance.importers import Chunk, FailedSource, Source, open_source
from compliance.reports.aggregate import Tally, department_map
from compliance.reports.rendering import Rendered, render
from compliance.sourcefile import InputError


@dataclass
class Inputs:
    """The opened inputs, and how many cases they hold when that is cheap to know."""

    sources: list[Source | FailedSource]
    total: int | None

    def chunks(self, workers: int = 1) -> Iterator[Chunk]:
        """Every chunk of every input; `workers` checking them (inputs are cut in parts they divide evenly)."""
        for source in self.sources:
            if isinstance(source, FailedSource):
                yield source
                continue
            try:
                yield from source.chunks(workers)
            except InputError as exc:
                yield FailedSource(exc)


def open_inputs(specs: list[str], settings: Settings, count: bool = True) -> Inputs:
    sources: list[Source | FailedSource] = []
    total: int | None = 0
    for spec in specs:
        try:
            source = open_source(spec, settings.mapping)
            sources.append(source)
            if count and total is not None:
                n = source.case_count()
                total = None if n is None else total + n
        except InputError as exc:
            sources.append(FailedSource(exc))
            if total is not None:
                total += 1
    return Inputs(sources, total if count else None)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Polars allocates through jemalloc (read from this variable when a worker starts), which hands
# freed pages back to the system within about a second: a worker faulted them in again for every
# chunk (a chunk takes a second or two). Kept five seconds they are reused: ~9 % less time a chunk
# and a third less system time, for ~25 % more resident memory (docs/batch.md). A user's own
# setting wins; where Polars uses another allocator the variable is ignored.
WORKER_ALLOCATOR = "dirty_decay_ms:5000,muzzy_decay_ms:5000"


def _pinnable() -> bool:
    one_thread = os.environ.get("POLARS_MAX_THREADS") == "1"
    return one_thread and hasattr(os, "sched_setaffinity") and os.path.isdir("/proc/self/task")


def check_and_render(chunk: Chunk, settings: Settings, formats: tuple[str, ...], departments: dict) -> Rendered:
    """What a worker does with a chunk: check its cases, then make their share of every report."""
    return render(check_chunk(chunk, settings), formats, Tally(departments))


def run(
    inputs: Inputs,
    settings: Settings,
    jobs: int,
    sink: Callable[[Rendered], None],
    formats: tuple[str, ...] = (),
    progress: bool | None = None,
) -> None:
    """Check every case of the inputs, handing each chunk's rendered reports to `sink` in input order."""
    show = sys.stderr.isatty() if progress is None else progress
    bar = (
        click.progressbar(
            length=inputs.total or 0,
            label="检查案件" if settings.lang == "zh" else "checking cases",
            file=sys.stderr,
            show_pos=True,
        )
        if show and inputs.total
        else nullcontext()
    )
    with bar as updater:
        departments = department_map(settings.book())
        for rendered in _checked(inputs.chunks(jobs), settings, jobs, formats, departments):
            sink(rendered)
            if updater is not None:
                updater.update(rendered.cases)


def _checked(
    chunks: Iterable[Chunk], settings: Settings, jobs: int, formats: tuple[str, ...], departments: dict
) -> Iterator[Rendered]:
    if jobs <= 1:
        for chunk in chunks:
            yield check_and_render(chunk, settings, formats, departments)
        return
    # Spawned, not forked: Polars' thread pool does not survive a fork.
    context = multiprocessing.get_context("spawn")
    # Each worker is one of `jobs` processes: give each its share of Polars threads, not all of them.
    os.environ.setdefault("POLARS_MAX_THREADS", str(max(1, default_jobs() // jobs)))
    os.environ.setdefault("_RJEM_MALLOC_CONF", WORKER_ALLOCATOR)
    book = settings.book()
    # Workers with one Polars thread each run on a CPU of their own (see `pin_threads`).
    cpus = tuple(sorted(os.sched_getaffinity(0))) if _pinnable() else ()
    started = context.Value("i", 0)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=preload, initargs=(settings.rules_dir, book, cpus, started)
    ) as pool:
        pending: deque[Future[Rendered]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(check_and_render, chunk, settings, formats, departments))
            while len(pending) > 2 * jobs:  # bounded: reading never runs far ahead of checking
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
