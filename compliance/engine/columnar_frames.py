"""A chunk's frames for the column-wise engine: events numbered as the model numbers them, and cases.

Also the values grounding reads (step data, date order, facts), typed as a case file types them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import polars as pl

from compliance.engine.columnar_shapes import Item, RuleInfo
from compliance.importers.cells import cell_text, parse_cell
from compliance.model import Case

Payload = Callable[[int], tuple[dict[str, Any], list[Item]]]


@dataclasses.dataclass
class Batch:
    """One chunk's cases, in frames; a table's values are read back from the value keys, a Case's from the Case."""

    events: pl.DataFrame  # cidx seq step kind key rank date start end dtext
    cases: pl.DataFrame  # cidx case file jurisdiction procedure title first_date facts.*
    payload: Payload | None  # a case's facts and events, for cases given as Case objects
    value_keys: dict[tuple, pl.DataFrame] = dataclasses.field(default_factory=dict)  # rules reading the same values


def batch_from_rows(frame: pl.DataFrame) -> Batch:
    """A chunk's screened rows as frames: one row per case, one per event with its occurrence key."""
    # Rows come grouped by case in order of first appearance (`ordered`): a case's number is a run count.
    frame = frame.with_columns(
        (pl.col("case").ne_missing(pl.col("case").shift(1)).cum_sum() - 1).cast(pl.Int32).alias("cidx")
    )
    facts_cols = [c for c in frame.columns if c.startswith("facts.")]
    data_cols = [c for c in frame.columns if c.startswith("data.")]
    event = pl.col("step").is_not_null()
    first_date = pl.min_horizontal(pl.col("date_d").filter(event).min(), pl.col("start_d").filter(event).min())
    cases = frame.group_by("cidx", maintain_order=True).agg(
        pl.col("case", "file", "jurisdiction", "procedure", "title", *facts_cols).first(),
        first_date.alias("first_date"),
    )
    events = frame.filter(event).select(
        "cidx",
        "seq",
        pl.col("step_id").alias("step"),
        "kind",
        pl.col("date_d").alias("date"),
        pl.col("start_d").alias("start"),
        pl.col("end_d").alias("end"),
        "actor",
        "ref",
        *data_cols,
    )
    return Batch(_number(events), cases, None)


def batch_from_cases(cases: list[Case]) -> Batch:
    """Cases already loaded (case files) as frames; their typed values are read back from the cases."""
    rows: dict[str, list[Any]] = defaultdict(list)
    case_rows: dict[str, list[Any]] = defaultdict(list)
    fact_names = sorted({k for c in cases for k in c.facts})
    data_names = sorted({k for c in cases for e in c.events for k in e.data})
    for cidx, case in enumerate(cases):
        for name, value in (
            ("cidx", cidx),
            ("case", case.id),
            ("file", case.file),
            ("jurisdiction", case.jurisdiction),
            ("procedure", case.procedure),
            ("title", case.title),
        ):
            case_rows[name].append(value)
        for name in fact_names:
            case_rows["facts." + name].append(cell_text(case.facts.get(name)))
        for event in case.events:
            for name, value in (
                ("cidx", cidx),
                ("seq", event.position),
                ("step", event.step),
                ("kind", "period" if event.date is None and event.start else "instant"),
                ("date", event.date),
                ("start", event.start),
                ("end", event.end),
                ("actor", event.actor),
                ("ref", event.ref),
            ):
                rows[name].append(value)
            for name in data_names:
                rows["data." + name].append(cell_text(event.data.get(name)))
    schema = {
        "cidx": pl.Int32,
        "seq": pl.Int64,
        "step": pl.Utf8,
        "kind": pl.Utf8,
        "date": pl.Date,
        "start": pl.Date,
        "end": pl.Date,
        "actor": pl.Utf8,
        "ref": pl.Utf8,
        **{"data." + n: pl.Utf8 for n in data_names},
    }
    events = _number(pl.DataFrame({k: rows.get(k, []) for k in schema}, schema=schema))
    frame = pl.DataFrame(dict(case_rows), schema={**{k: pl.Utf8 for k in case_rows}, "cidx": pl.Int32})

    def payload(cidx: int) -> tuple[dict[str, Any], list[Item]]:
        case = cases[cidx]
        ranks = _ranks(case)
        return dict(case.facts), [(e.step, ranks[e.key], dict(e.data), e.actor, e.ref) for e in case.events]

    return Batch(events, _with_first_date(frame, events), payload)


def _ranks(case: Case) -> dict[str, int]:
    """Each occurrence's place among its step's occurrences by date, as grounding orders them."""
    ranks: dict[str, int] = {}
    by_step: dict[str, list] = defaultdict(list)
    for event in case.events:
        by_step[event.step].append(event)
    for occurrences in by_step.values():
        ordered_ = sorted(occurrences, key=lambda o: (o.anchor_date is None, o.anchor_date or dt.date.min, o.position))
        ranks.update({o.key: i for i, o in enumerate(ordered_)})
    return ranks


def _number(events: pl.DataFrame) -> pl.DataFrame:
    """`key`: step#n in event order, as the model numbers occurrences (rows sorted by case, then order)."""
    numbers = _place_in_step(events, []) + 1
    return events.with_columns((pl.col("step") + "#" + numbers.cast(pl.Utf8)).alias("key"))


def ranked(events: pl.DataFrame) -> pl.DataFrame:
    """`rank`: each occurrence's place among its step's occurrences by date, as grounding orders them."""
    anchor = pl.coalesce("date", "start")
    return events.with_columns(_place_in_step(events, [anchor.is_null(), anchor, pl.col("seq")]).alias("rank"))


def _place_in_step(events: pl.DataFrame, by: list[pl.Expr]) -> pl.Series:
    """Each row's place (from 0) among its case's rows of the same step, ordered by `by`, ties in row order."""
    # A window over (case, step) costs ~4x this sort: nearly every such group holds one row. Case
    # and step make one integer key (a category code is 32 bits), and a stable sort keeps row order.
    order = [e.alias(f"by{i}") for i, e in enumerate(by)]
    code = pl.col("step").cast(pl.Categorical).to_physical().cast(pl.Int64)
    group = (pl.col("cidx").cast(pl.Int64) * (1 << 32) + code).alias("group")
    keyed = events.select(group, pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), *order)
    runs = keyed.sort(["group", *[f"by{i}" for i in range(len(by))]], maintain_order=True)
    first = pl.col("group").ne_missing(pl.col("group").shift(1))
    start = pl.when(first).then(pl.int_range(pl.len(), dtype=pl.Int64)).forward_fill()
    placed = runs.select("row", (pl.int_range(pl.len(), dtype=pl.Int64) - start).alias("place"))
    return pl.zeros(events.height, pl.Int64, eager=True).alias("place").scatter(placed["row"], placed["place"])


def _with_first_date(cases: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    first = events.group_by("cidx").agg(
        pl.min_horizontal(pl.col("date").min(), pl.col("start").min()).alias("first_date")
    )
    return cases.join(first, on="cidx", how="left", maintain_order="left").sort("cidx")


def case_values(
    batch: Batch, cidxs: list[int], steps: set[str], fields: set[str] | None = None
) -> dict[int, tuple[dict[str, Any], list[Item]]]:
    """Facts and events of `steps` (step, rank by date, data, actor, ref) of some cases, typed as a case file
    types them: what grounding a rule on those steps reads (`fields`: the step data it reads; None: any)."""
    if batch.payload is not None:
        return {cidx: batch.payload(cidx) for cidx in cidxs}
    chosen = pl.Series(cidxs, dtype=pl.Int32).implode()
    data_cols = [c for c in batch.events.columns if c.startswith("data.") and (fields is None or c[5:] in fields)]
    # Only the columns read are copied by the filter (a chunk's events carry every data column).
    events = batch.events.select("cidx", "seq", "step", "date", "start", "actor", "ref", *data_cols)
    events = ranked(events.filter(pl.col("cidx").is_in(chosen) & pl.col("step").is_in(sorted(steps))))
    found: dict[int, tuple[dict[str, Any], list[Item]]] = {cidx: ({}, []) for cidx in cidxs}
    typed = _typed_cells()
    names = [c[5:] for c in data_cols]
    for cidx, step, rank, actor, ref, *data in events.select(
        "cidx", "step", "rank", "actor", "ref", *data_cols
    ).iter_rows():
        cells = {name: typed(value) for name, value in zip(names, data, strict=True) if value is not None}
        found[cidx][1].append((step, rank, {k: v for k, v in cells.items() if v is not None}, actor, ref))
    fact_cols = [c for c in batch.cases.columns if c.startswith("facts.")]
    cases = batch.cases.filter(pl.col("cidx").is_in(chosen)).select("cidx", *fact_cols)
    for cidx, *facts in cases.iter_rows():
        parsed = {name[6:]: parse_cell(value) for name, value in zip(fact_cols, facts, strict=True)}
        found[cidx][0].update({k: v for k, v in parsed.items() if v is not None})
    return found


def _typed_cells() -> Callable[[str], Any]:
    """`parse_cell`, remembering scalar results: a chunk's cells repeat the same few flags, numbers and dates."""
    known: dict[str, Any] = {}

    def typed(text: str) -> Any:
        if text in known:
            return known[text]
        value = parse_cell(text)
        if not isinstance(value, list | dict):  # a list or map is handed out fresh: its reader may change it
            known[text] = value
        return value

    return typed


def value_key(batch: Batch, info: RuleInfo) -> pl.DataFrame:
    """Per case, the text of everything value-reading grounding looks at: step data, date order, facts."""
    data_cols = [c for c in batch.events.columns if c.startswith("data.")]
    if info.data_fields is not None:
        data_cols = [c for c in data_cols if c[5:] in info.data_fields]
    data_text = (
        pl.concat_str(
            [pl.lit(c[5:] + "=") + pl.col(c) for c in data_cols], separator="\x1f", ignore_nulls=True
        ).fill_null("")
        if data_cols
        else pl.lit("")
    )
    cache_key = (info.steps, tuple(data_cols), info.needs_order, info.facts, info.reads_event)
    if cache_key in batch.value_keys:
        return batch.value_keys[cache_key]
    events = batch.events.select("cidx", "seq", "step", "key", "date", "start", "actor", "ref", *data_cols)
    events = events.filter(pl.col("step").is_in(list(info.steps)))
    if info.needs_order:
        events = ranked(events)
    rank = pl.col("rank").cast(pl.Utf8) if info.needs_order else pl.lit("0")
    # `event.actor` / `event.ref` in an expression: the judged occurrence's own fields belong in the key too.
    own = [pl.col(c).fill_null("\x00") if info.reads_event else pl.lit("\x00") for c in ("actor", "ref")]
    events = events.select("cidx", pl.concat_str([pl.col("key"), rank, data_text, *own], separator="\x1e"))
    per_case = events.group_by("cidx", maintain_order=True).agg(pl.col("key").str.join("\x1d").alias("ev"))
    facts = [c for c in batch.cases.columns if c.startswith("facts.")]
    if info.facts is not None:
        facts = [c for c in facts if c[6:] in info.facts]
    fact_text = (
        pl.concat_str([pl.lit(c + "=") + pl.col(c).fill_null("\x00") for c in facts], separator="\x1f")
        if facts
        else pl.lit("")
    )
    cases = batch.cases.select("cidx", fact_text.alias("fk"))
    joined = cases.join(per_case, on="cidx", how="left")
    batch.value_keys[cache_key] = joined.select(
        "cidx", pl.concat_str([pl.col("fk"), pl.col("ev").fill_null("")], separator="\x1c").alias("vkey")
    )
    return batch.value_keys[cache_key]


def parse_value_key(text: str) -> tuple[dict[str, Any], list[Item]]:
    """The facts and events a value key spells (see `value_key`): cheaper than fetching them again."""
    fact_text, _, event_text = text.partition("\x1c")
    facts = {}
    for item in fact_text.split("\x1f") if fact_text else []:
        name, _, value = item.partition("=")
        if value != "\x00":
            facts[name[6:]] = parse_cell(value)
    events = []
    for item in event_text.split("\x1d") if event_text else []:
        key, rank, data_text, actor, ref = item.split("\x1e")
        data = {}
        for pair in data_text.split("\x1f") if data_text else []:
            name, _, value = pair.partition("=")
            data[name] = parse_cell(value)
        events.append((key.split("#")[0], int(rank), data, None if actor == "\x00" else actor,
                       None if ref == "\x00" else ref))  # fmt: skip
    return facts, events
