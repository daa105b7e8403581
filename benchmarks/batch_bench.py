"""Batch benchmark, one command: `.venv/bin/python benchmarks/batch_bench.py [--cases N] [--jobs N]`.

1. Generates N cases (default 100,000; benchmarks/generate.py: every pack and procedure,
   about 23 events a case, compliant and violating) and writes them as CSV (our headers),
   process-mining CSV, Excel (capped at Excel's row limit), XES and SQLite.
2. Runs `compliance batch` on each (a fresh process each, JSON report) and prints time,
   cases/s and peak memory per input format.
3. Installs pm4py into its own virtual environment (pm4py is AGPL: it is never a dependency
   of this package nor imported by this process), checks the process-mining CSV with
   `pm4py.conformance_declare` on ten existence/precedence/response constraints, and checks
   the same file with our engine on the same ten constraints (benchmarks/subset_rules.py)
   and with the full rule packs; prints the rates and the ratios.
4. Like for like with pm4py's own figure (a log already in memory, one process, one thread):
   loads the same CSV into memory first, then times our check alone — findings with their
   explanations, no report written — on the ten constraints and on the full packs, in a process
   set up as `compliance batch` sets up a worker (its allocator setting, one thread, one CPU).
   pm4py's check runs on one CPU too.
   pm4py's check and ours alone run `--repeat` times (default 3), taking turns; the fastest
   run of each is compared and the spread printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from generate import generate, templates  # noqa: E402
from subset_rules import declare_model, write_subset_rules  # noqa: E402

from compliance.batch import WORKER_ALLOCATOR  # noqa: E402
from compliance.importers.cells import cell_text  # noqa: E402
from compliance.importers.export import event_rows  # noqa: E402
from compliance.importers.sql import write_cases  # noqa: E402

EXCEL_ROWS = 1_048_575
PM4PY_VENV = Path.home() / ".cache" / "compliance-bench" / "pm4py"
FILES = {"csv": "log.csv", "pm4py-csv": "log-pm4py.csv", "xes": "log.xes", "sqlite": "log.sqlite", "xlsx": "log.xlsx"}


# --- writing the log in every format -----------------------------------------------------------


def _columns() -> list[str]:
    """Every column the generated cases can have (the generator adds no new facts or data fields)."""
    return list(dict.fromkeys(k for doc in templates() for row in event_rows(doc) for k in row))


def write_all(count: int, work: Path, formats: list[str]) -> dict[str, Path]:
    columns = [c for c in _columns() if c != "__file"]
    pm_columns = [
        "case:concept:name",
        "concept:name",
        "time:timestamp",
        "start_timestamp",
        "case:jurisdiction",
        "case:procedure",
        *[c for c in columns if c.startswith(("facts.", "data."))],
    ]
    paths = {k: work / v for k, v in FILES.items()}
    handles = {name: open(paths[name], "w", newline="", encoding="utf-8") for name in ("csv", "pm4py-csv")}
    ours, theirs = csv.writer(handles["csv"]), csv.writer(handles["pm4py-csv"])
    ours.writerow(columns)
    theirs.writerow(pm_columns)
    xes = open(paths["xes"], "w", encoding="utf-8") if "xes" in formats else None
    if xes:
        xes.write('<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">\n')
    excel_rows: list[list] = []
    for doc in generate(count):
        rows = event_rows(doc)
        for row in rows:
            ours.writerow(["" if row.get(c) is None else row[c] for c in columns])
            instant = row.get("date")
            theirs.writerow(
                [
                    row["case"],
                    row["step"],
                    instant or row.get("end") or "",
                    row.get("start") or "",
                    row["jurisdiction"],
                    row["procedure"],
                    *["" if row.get(c) is None else row[c] for c in pm_columns[6:]],
                ]
            )
            if "xlsx" in formats and len(excel_rows) < EXCEL_ROWS:
                excel_rows.append([row.get(c) for c in columns])
        if xes:
            _xes_trace(xes, doc)
    for handle in handles.values():
        handle.close()
    if xes:
        xes.write("</log>\n")
        xes.close()
    if "sqlite" in formats:
        paths["sqlite"].unlink(missing_ok=True)
        write_cases(str(paths["sqlite"]), generate(count))
    if "xlsx" in formats:
        _write_excel(paths["xlsx"], columns, excel_rows)
    return paths


def _xes_trace(out, doc: dict) -> None:
    out.write("<trace>")
    out.write(f'<string key="concept:name" value={quoteattr(doc["case"])}/>')
    for key in ("jurisdiction", "procedure"):
        out.write(f'<string key="{key}" value={quoteattr(doc[key])}/>')
    for key, value in (doc.get("facts") or {}).items():
        out.write(f'<string key="facts.{key}" value={quoteattr(cell_text(value) or "")}/>')
    for event in doc["events"]:
        out.write("<event>")
        out.write(f'<string key="concept:name" value={quoteattr(event["step"])}/>')
        stamp = cell_text(event.get("date") or event.get("end"))
        out.write(f'<date key="time:timestamp" value="{stamp}T00:00:00+08:00"/>')
        if event.get("start"):
            out.write(f'<date key="start_timestamp" value="{cell_text(event["start"])}T00:00:00+08:00"/>')
        for key, value in (event.get("data") or {}).items():
            out.write(f'<string key="data.{key}" value={quoteattr(cell_text(value) or "")}/>')
        out.write("</event>")
    out.write("</trace>\n")


def _write_excel(path: Path, columns: list[str], rows: list[list]) -> None:
    from openpyxl import Workbook

    # Cut at a case boundary so no case is split by Excel's row limit.
    last = rows[-1][0] if rows else None
    while rows and rows[-1][0] == last and len(rows) >= EXCEL_ROWS:
        rows.pop()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("events")
    sheet.append(columns)
    for row in rows:
        sheet.append(row)
    book.save(path)


# --- running -----------------------------------------------------------------------------------


def run_batch(inputs: list[str], jobs: int, extra: list[str], out: Path) -> dict:
    """`compliance batch` in a fresh process; its wall time and peak memory (itself and its workers)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--",
        *inputs,
        "--out",
        str(out),
        "--format",
        "json",
        "--jobs",
        str(jobs),
        "--no-progress",
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"batch failed: {done.stderr[-2000:]}")
    stats = json.loads(lines[-1])
    # The child reads the summary back from report.json after the batch: that is the benchmark's work, not ours.
    stats["seconds"] = seconds - stats.pop("summary_s")
    return stats


def child(arguments: list[str]) -> None:
    from compliance.cli import main

    code = 0
    try:
        main(["batch", *arguments], standalone_mode=False)
    except SystemExit as exc:
        code = int(exc.code or 0)
    finished = time.perf_counter()
    summary = json.loads((Path(arguments[arguments.index("--out") + 1]) / "report.json").read_text())["summary"]
    summary_s = time.perf_counter() - finished
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"exit": code, "summary": summary, "peak_mb": own, "worker_peak_mb": workers,
                      "summary_s": summary_s}))  # fmt: skip


def check_alone(log: Path, rules: Path | None) -> dict:
    """Our check of a log already read into memory, in a fresh single-threaded process (as pm4py runs)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--check-alone", str(log), str(rules or "")]
    # Set up as `compliance batch` sets up its workers: the allocator's setting, one thread, one CPU.
    env = {"_RJEM_MALLOC_CONF": WORKER_ALLOCATOR, **os.environ, "POLARS_MAX_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, preexec_fn=_one_cpu)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"check failed: {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def _one_cpu() -> None:
    """In a child before it starts: every thread it will have runs on one CPU (see batch_worker.pin_threads)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def check_alone_child(log: str, rules: str) -> None:
    from compliance.engine.batch_worker import Settings
    from compliance.importers import iter_chunks
    from compliance.importers.normalize import normalize

    settings = Settings(rules_dir=Path(rules) if rules else None)
    book = settings.book()
    started = time.perf_counter()
    loaded = []
    for chunk in iter_chunks([log]):
        raw = chunk.read()
        loaded.append((normalize(raw, settings.mapping, book.vocabulary), raw))
    read = time.perf_counter()
    from compliance.engine.columnar import check_normalized

    outcomes = [o for norm, raw in loaded for o in check_normalized(norm, raw, settings)]
    checked = time.perf_counter()
    shown = sum(len(o.result.findings) for o in outcomes)
    print(json.dumps({"cases": len(outcomes), "load_s": read - started, "check_s": checked - read, "findings": shown}))


def _spread(runs: list[dict]) -> str:
    times = sorted(r["check_s"] for r in runs)
    return f"{times[0]:.2f}–{times[-1]:.2f} s"


def pm4py_python() -> Path:
    python = PM4PY_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing pm4py into {PM4PY_VENV} (its own venv; not a dependency of compliance) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PM4PY_VENV)], check=True)
        subprocess.run([str(PM4PY_VENV / "bin" / "pip"), "install", "-q", "pm4py"], check=True)
    return python


def run_pm4py(log: Path, work: Path) -> dict:
    model = {t: {"|".join(k): v for k, v in rules.items()} for t, rules in declare_model().items()}
    model_path = work / "declare.json"
    model_path.write_text(json.dumps(model), encoding="utf-8")
    done = subprocess.run(
        [str(pm4py_python()), str(BENCH / "pm4py_declare.py"), str(log), str(model_path)],
        capture_output=True,
        text=True,
        preexec_fn=_one_cpu,  # as ours runs (it made no difference to pm4py's times)
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"pm4py failed: {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--formats", default="csv,pm4py-csv,xes,sqlite,xlsx")
    parser.add_argument("--work", type=Path, default=Path("/tmp/compliance-batch-bench"))
    parser.add_argument("--skip-pm4py", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the logs a previous run wrote for as many cases")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of pm4py's check and of ours alone; the fastest of each is compared"
    )
    args = parser.parse_args()
    formats = args.formats.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    marker = args.work / "generated.json"
    started = time.perf_counter()
    if args.reuse and marker.exists() and json.loads(marker.read_text()) == {"cases": args.cases, "formats": formats}:
        paths = {k: args.work / v for k, v in FILES.items()}
        print(f"reusing the {args.cases}-case logs in {args.work}")
    else:
        print(f"generating {args.cases} cases …", flush=True)
        paths = write_all(args.cases, args.work, formats)
        marker.write_text(json.dumps({"cases": args.cases, "formats": formats}))
    rows = sum(1 for _ in open(paths["csv"], encoding="utf-8")) - 1
    print(f"  {rows} events ({rows / args.cases:.1f} a case), written in {time.perf_counter() - started:.0f} s")
    print(f"\ncompliance batch, full rule packs, --jobs {args.jobs}, JSON report:")
    print(f"  {'input':<12} {'cases':>8} {'seconds':>8} {'cases/s':>9} {'peak MB':>9} {'worker MB':>10}  verdicts")
    results = {}
    for fmt in formats:
        stats = run_batch([str(paths[fmt])], args.jobs, [], args.work / f"out-{fmt}")
        results[fmt] = stats
        s = stats["summary"]
        print(
            f"  {fmt:<12} {s['cases']:>8} {stats['seconds']:>8.1f} {s['cases'] / stats['seconds']:>9.0f} "
            f"{stats['peak_mb']:>9.0f} {stats['worker_peak_mb']:>10.0f}  "
            f"compliant {s['compliant']}, violations {s['violations']}, incomplete {s['incomplete']}, "
            f"errors {s['errors']}",
            flush=True,
        )
    if args.skip_pm4py:
        return
    log = paths["pm4py-csv"]
    subset_dir = write_subset_rules(args.work / "subset-rules")
    ours_subset = run_batch([str(log)], args.jobs, ["--rules", str(subset_dir)], args.work / "out-subset")
    ours_full = results.get("pm4py-csv") or run_batch([str(log)], args.jobs, [], args.work / "out-full")
    # Timings on this machine move by 5-10 % from run to run: both sides are measured `repeat` times,
    # taking turns, and the fastest run of each is compared (as timeit does); the spread is printed.
    pm_runs, subset_runs, full_runs = [], [], []
    for _ in range(max(1, args.repeat)):
        pm_runs.append(run_pm4py(log, args.work))
        subset_runs.append(check_alone(log, subset_dir))
        full_runs.append(check_alone(log, None))
    pm = min(pm_runs, key=lambda r: r["check_s"])
    n = args.cases
    pm_rate = n / pm["check_s"]
    pm_total_rate = n / (pm["check_s"] + pm["load_s"])
    subset_rate = n / ours_subset["seconds"]
    full_rate = n / ours_full["seconds"]
    print(f"\nsame log ({log.name}), ten DECLARE constraints (existence, precedence, response):")
    print(
        f"  pm4py {pm['pm4py']} conformance_declare: check {pm['check_s']:.2f} s = {pm_rate:,.0f} cases/s "
        f"(load + check {pm['check_s'] + pm['load_s']:.1f} s = {pm_total_rate:,.0f} cases/s); "
        f"{pm['fitting']} of {pm['cases']} cases fit; fastest of {len(pm_runs)} runs ({_spread(pm_runs)})"
    )
    print(
        f"  ours, same ten constraints, end to end (read, check, explain, JSON): {ours_subset['seconds']:.1f} s = "
        f"{subset_rate:,.0f} cases/s; {ours_subset['summary']['compliant']} compliant"
    )
    print(f"  ours, full rule packs, end to end: {ours_full['seconds']:.1f} s = {full_rate:,.0f} cases/s")
    print(
        f"  ratio ours/pm4py on the subset: {subset_rate / pm_rate:.2f}x (against pm4py's check alone), "
        f"{subset_rate / pm_total_rate:.2f}x (against its load + check)"
    )
    print(
        f"  ratio ours with full packs / pm4py on its subset: {full_rate / pm_rate:.2f}x, "
        f"{full_rate / pm_total_rate:.2f}x"
    )
    print("\nlike for like with pm4py's check (log already in memory, one process, one thread):")
    for label, runs in (("the ten constraints", subset_runs), ("the full rule packs", full_runs)):
        alone = min(runs, key=lambda r: r["check_s"])
        rate = alone["cases"] / alone["check_s"]
        print(
            f"  ours, {label}: check {alone['check_s']:.2f} s = {rate:,.0f} cases/s "
            f"({alone['findings']:,} findings explained; loading {alone['load_s']:.1f} s); "
            f"{rate / pm_rate:.2f}x pm4py's check; fastest of {len(runs)} runs ({_spread(runs)})"
        )
    shutil.rmtree(args.work / "out-subset", ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--check-alone":
        check_alone_child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[3:] if sys.argv[2] == "--" else sys.argv[2:])
    else:
        main()
