"""The findings a chunk's engines flag, on their way to being explained: one row per (case, finding).

A row names its ground finding by number (`gid`) and carries its order among the case's rules
(`position`: the rule's place in the case's packs, `slot`: the finding's place in the rule's
grounding). The compiled plans hand over whole frames; the shape engine and the rules a plan
punts on hand over rows. Both meet here, so that explaining and ordering run column-wise
rather than once per finding in Python.
"""

from __future__ import annotations

import polars as pl

from compliance.engine.ground import GroundFinding

SCHEMA = {"cidx": pl.Int32, "gid": pl.Int32, "position": pl.Int32, "slot": pl.Int32}


class Tasks:
    """The chunk's flagged findings: `grounds` (numbered), and a frame of rows naming them."""

    def __init__(self) -> None:
        self.grounds: list[GroundFinding] = []
        self._numbers: dict[int, int] = {}  # id(ground) → its number
        self._frames: list[pl.DataFrame] = []
        self._rows: list[tuple[int, int, int, int]] = []

    def number(self, ground: GroundFinding) -> int:
        """The ground finding's number, given on first sight (the same object is numbered once)."""
        gid = self._numbers.get(id(ground))
        if gid is None:
            gid = self._numbers[id(ground)] = len(self.grounds)
            self.grounds.append(ground)
        return gid

    def add(self, cidx: int, order: tuple[int, int], ground: GroundFinding) -> None:
        """One finding of one case: its order (position, slot) and its ground finding."""
        self._rows.append((cidx, self.number(ground), *order))

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Findings as a frame of cidx, gid, position, slot (gids from `number`)."""
        self._frames.append(frame.select(list(SCHEMA)).cast(SCHEMA))  # type: ignore[arg-type]

    def frame(self) -> pl.DataFrame:
        """Every row, as one frame."""
        frames = [*self._frames, pl.DataFrame(self._rows, schema=SCHEMA, orient="row")]
        return pl.concat(frames, how="vertical")
