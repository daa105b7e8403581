"""Records whose keys differ from one to the next (XES attributes, JSON objects) as a frame, column by column."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl


def records_frame(records: list[dict[str, Any]], integers: Iterable[str] = ()) -> pl.DataFrame:
    """A column per key, in order of first appearance, null where a record lacks it; text, or integers for `integers`.

    Filling each column by index costs one step per value present; asking every record for every
    key (as building from dicts does) costs one per key and record, most of them absent.
    """
    count = len(records)
    columns: dict[str, list[Any]] = {}
    for index, record in enumerate(records):
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * count
            column[index] = value
    whole = set(integers)
    return pl.DataFrame(
        [pl.Series(key, values, pl.Int64 if key in whole else pl.Utf8) for key, values in columns.items()]
    )
