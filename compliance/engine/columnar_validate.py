"""Which cases of a normalized table the column-wise engine may take as they are.

The model (compliance/model.py) is the judge of a valid case. Running it on every case
costs more than checking them all column-wise, so here every case is screened by
conditions that are *sufficient* for the model to accept it; a case that fails any of
them goes to the model, which either accepts it (the per-case engine then checks it) or
says exactly what is wrong. Being too strict here costs time, never correctness.
"""

from __future__ import annotations

import polars as pl

from compliance.importers.cells import iso_date_expr
from compliance.model import VOTE_COUNTS
from compliance.vocabulary import Vocabulary


def parsed_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """`date`, `start`, `end` as Date columns (null when absent), plus `bad_date` where text did not parse.

    A chunk's dates repeat (a few thousand days among hundreds of thousands of events): each
    column's distinct texts are parsed, and every row takes its text's date.
    """
    parsed = []
    for name in ("date", "start", "end"):
        texts = frame.get_column(name).unique().drop_nulls()
        dates = _dates(texts)
        parsed.append(pl.col(name).replace_strict(texts, dates, default=None, return_dtype=pl.Date).alias(f"{name}_d"))
    frame = frame.with_columns(parsed)
    bad = [pl.col(n).is_not_null() & pl.col(f"{n}_d").is_null() for n in ("date", "start", "end")]
    return frame.with_columns(pl.any_horizontal(bad).alias("bad_date"))


def _dates(texts: pl.Series) -> pl.Series:
    """Each text's date, null where it holds none.

    Most are ISO already (`2024-03-01`, perhaps with a time after a space or T): those are
    sliced and parsed directly; only the rest go through the general pattern (2024/3/1, 2024年3月1日).
    """
    frame = texts.to_frame("text")
    text = pl.col("text")
    iso = text.str.contains(r"^\d{4}-\d{2}-\d{2}(?:$|[ T])")
    dates = frame.select(pl.when(iso).then(text.str.slice(0, 10)).str.to_date("%Y-%m-%d", strict=False))["text"]
    slow = dates.is_null()
    if slow.any():
        general = frame.filter(slow).select(iso_date_expr("text").str.to_date("%Y-%m-%d", strict=False))
        dates = dates.scatter(slow.arg_true(), general.to_series())
    return dates


def flagged_cases(frame: pl.DataFrame, vocabulary: Vocabulary) -> pl.Series:
    """Case ids the model must look at (frame: normalized rows with parsed dates)."""
    event = pl.col("step").is_not_null()
    instant, period = pl.col("kind") == "instant", pl.col("kind") == "period"
    has = {n: pl.col(f"{n}_d").is_not_null() for n in ("date", "start", "end")}
    given = {n: pl.col(n).is_not_null() for n in ("date", "start", "end")}
    row_bad = [
        pl.col("procedure").is_null() | ~pl.col("procedure").is_in(list(vocabulary.procedures)),
        pl.col("jurisdiction").is_null(),
        event & pl.col("step_id").is_null(),
        event & pl.col("bad_date"),
        event & instant & (~has["date"] | given["start"] | given["end"]),
        event & period & (given["date"] | ~has["start"] | ~has["end"]),
        event & period & (pl.col("end_d") < pl.col("start_d")),
    ]
    # A frame's filter copies every column: only the case id is taken, or the columns still read.
    bad = frame.select(pl.col("case").filter(pl.any_horizontal(row_bad).fill_null(True)))["case"]
    # Step data is judged only on the rows that carry some (few do): a fault needs a value.
    faults, carried = _data_faults(frame)
    if faults:
        carries = pl.any_horizontal(pl.col(c).is_not_null() for c in carried)
        carrying = frame.select(pl.col("case", *carried).filter(carries))
        bad = pl.concat([bad, carrying.select(pl.col("case").filter(pl.any_horizontal(faults)))["case"]])
    return bad.unique()


def _data_faults(frame: pl.DataFrame) -> tuple[list[pl.Expr], list[str]]:
    """Step data the model checks: vote counts (non-negative integers, none above members) and *_date fields.

    The faults (never null, and false on a row holding none of the columns), and the columns they read.
    """
    faults: list[pl.Expr] = []
    carried: list[str] = []
    ints: dict[str, pl.Expr] = {}
    for name in VOTE_COUNTS:
        column = f"data.{name}"
        if column in frame.columns:
            carried.append(column)
            text = pl.col(column).str.strip_chars()
            faults.append(text.is_not_null() & ~text.str.contains(r"^\+?\d+$"))
            ints[name] = text.cast(pl.Int64, strict=False)
    for lower, upper in (("present", "members"), ("in_favour", "members"), ("in_favour", "present")):
        if lower in ints and upper in ints:
            faults.append((ints[lower] > ints[upper]).fill_null(False))
    for column in frame.columns:
        if column.startswith("data.") and column.endswith("_date"):
            carried.append(column)
            text = pl.col(column).str.strip_chars()
            valid = text.str.contains(r"^\d{4}-\d{2}-\d{2}$") & text.str.to_date("%Y-%m-%d", strict=False).is_not_null()
            faults.append(text.is_not_null() & ~valid.fill_null(False))
    return faults, carried
