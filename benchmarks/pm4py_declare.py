"""Run by the benchmark inside pm4py's own virtual environment (pm4py is AGPL: never imported
by the package or by the benchmark's own process). Prints one JSON line of timings.

usage: python pm4py_declare.py LOG.csv MODEL.json
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    import pandas as pd
    import pm4py

    log_path, model_path = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    frame = pd.read_csv(log_path, dtype=str, usecols=["case:concept:name", "concept:name", "time:timestamp"])
    frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"].str.slice(0, 10), format="%Y-%m-%d")
    frame = pm4py.format_dataframe(
        frame, case_id="case:concept:name", activity_key="concept:name", timestamp_key="time:timestamp"
    )
    loaded = time.perf_counter()
    raw = json.loads(open(model_path, encoding="utf-8").read())
    model = {template: {tuple(k.split("|")): v for k, v in rules.items()} for template, rules in raw.items()}
    result = pm4py.conformance_declare(frame, model)
    checked = time.perf_counter()
    cases = len(result)
    fit = sum(1 for r in result if r.get("dev_fitness", 0) == 1.0)
    print(
        json.dumps(
            {
                "cases": cases,
                "fitting": fit,
                "load_s": loaded - started,
                "check_s": checked - loaded,
                "pm4py": pm4py.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
