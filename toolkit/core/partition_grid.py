"""The partition grid of the terminal app, pure: partitions in, a layout and a selection out.

A daily DAG is laid out like a calendar (one row per month, one column per day of the month), an hourly DAG one row
per day with 24 columns, a DAG every few minutes (a step dividing the hour) one row per hour with a column per step,
anything else (keyed partitions, odd schedules) in compact rows. Row labels always name their row unambiguously: a
compact row of dated partitions is labelled with its first partition's date and time, to the precision the steps need
(2026-11-01 10:05), and the grid is as wide as its longest label. The selection is a set of
partition indexes with a cursor and an anchor, changed by pure functions, so the keys behave the same in the app, the
tests and the benchmark.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from math import gcd
from typing import Iterable, Sequence

from toolkit.core.planning import PartitionRow
from toolkit.core.timeparse import PartitionSelection

# The states a cell can show, in legend order. Any other run state (Airflow may add some) shows as running.
STATES = ("success", "failed", "running", "queued", "missing")
COMPACT_WIDTH = 32
KEY_LABEL_WIDTH = 24  # a compact row of keyed partitions is labelled with its first key, cut to this width
DIRECTIONS = ("left", "right", "up", "down")


@dataclass(frozen=True)
class Cell:
    key: str  # the partition key, or the logical date in ISO form for a time-based DAG
    moment: datetime | None
    state: str  # one of STATES

    @classmethod
    def from_row(cls, row: PartitionRow) -> Cell:
        state = row.state if row.state in STATES else "running"
        return cls(row.label, row.partition_date or row.logical_date, state)


@dataclass(frozen=True)
class GridRow:
    label: str
    slots: tuple[int | None, ...]  # cell index per column; None where the calendar has no partition


@dataclass(frozen=True)
class GridLayout:
    kind: str  # calendar | hourly | minutes | compact
    rows: tuple[GridRow, ...]
    columns: int
    position: tuple[tuple[int, int], ...]  # cell index -> (row, column)
    column_names: tuple[str, ...] = ()  # what each column stands for (minutes layout: the minute past the hour)

    @property
    def label_width(self) -> int:
        """Wide enough for every row label (and a space after it): labels are never cut."""
        return max((len(r.label) for r in self.rows), default=0) + 1

    @property
    def header(self) -> str:
        """Column numbers for the calendar, hourly and minutes layouts (days 1…31, hours 0…23, minutes :00…)."""
        if self.kind == "calendar":
            return "".join(f"{d:<2}" if d % 5 == 1 or d == 1 else "  " for d in range(1, 32))
        if self.kind == "hourly":
            return "".join(f"{h:<2}" if h % 6 == 0 else "  " for h in range(24))
        if self.kind == "minutes":
            every = max(1, self.columns // 4)
            header = ""
            for column, name in enumerate(self.column_names):
                if column % every == 0 and len(header) <= 2 * column:
                    header = header.ljust(2 * column) + name
            return header
        return ""


def layout(cells: Sequence[Cell], width: int = COMPACT_WIDTH) -> GridLayout:
    """The grid for ``cells`` (oldest first, as the planner lists partitions).

    The step is found once, as the greatest common divisor of the gaps in epoch seconds, and UTC partitions are
    bucketed by integer arithmetic with one label per row: 86,400 partitions lay out in well under a second."""
    moments = [c.moment for c in cells]
    dated = bool(cells) and all(m is not None for m in moments)
    if len(cells) >= 2 and dated:
        seconds = _epoch_seconds(moments)
        step = _common_step(seconds)
        if step is not None and step % 86400 == 0:
            return _bucketed(cells, "calendar", 31, lambda m: (m.year, m.month), "%Y-%m", lambda m: m.day - 1)
        if step is not None and step % 3600 == 0:
            return _bucketed(cells, "hourly", 24, lambda m: (m.year, m.month, m.day), "%Y-%m-%d",
                             lambda m: m.hour)
        if step is not None and step % 60 == 0 and 3600 % step == 0:
            minutes = step // 60
            offset = moments[0].minute % minutes
            names = tuple(f":{offset + minutes * c:02}" for c in range(60 // minutes))
            if _all_utc(moments):
                return _minutes_utc(cells, seconds, minutes, offset, names)
            return _bucketed(cells, "minutes", 60 // minutes, lambda m: (m.year, m.month, m.day, m.hour),
                             "%Y-%m-%d %H:00", lambda m: (m.minute - offset) // minutes, names)
    label = _time_label(moments) if dated else _key_label
    rows, position = [], []
    for start in range(0, len(cells), width):
        indexes = tuple(range(start, min(start + width, len(cells))))
        rows.append(GridRow(label(cells[start]), indexes + (None,) * (width - len(indexes))))
        position.extend((len(rows) - 1, i - start) for i in indexes)
    if len({r.label for r in rows}) < len(rows):  # cut keys that collide: number the rows instead
        digits = len(str(len(cells)))
        rows = [replace(r, label=f"#{i * width + 1:0{digits}}") for i, r in enumerate(rows)]
    return GridLayout("compact", tuple(rows), width, tuple(position))


def _common_step(seconds: list[int] | None) -> int | None:
    """The partitions' step in whole seconds: every gap is a positive multiple of it (None when there is none, e.g.
    partitions out of order or with fractions of a second)."""
    if seconds is None:
        return None
    gaps = [b - a for a, b in zip(seconds, seconds[1:])]
    if min(gaps) <= 0:
        return None
    return gcd(*gaps)


def _epoch_seconds(moments: list[datetime]) -> list[int] | None:
    if any(m.microsecond for m in moments):
        return None
    return [int(m.timestamp()) for m in moments]


def _all_utc(moments: list[datetime]) -> bool:
    zones = {m.tzinfo for m in moments}
    return len(zones) == 1 and moments[0].utcoffset() == timedelta(0)


def _minutes_utc(cells: Sequence[Cell], seconds: list[int], minutes: int, offset: int,
                 names: tuple[str, ...]) -> GridLayout:
    """The minutes layout by integer arithmetic on epoch seconds (UTC hours are whole multiples of 3600 s)."""
    columns = 60 // minutes
    hours = [t // 3600 for t in seconds]
    row_of = {hour: row for row, hour in enumerate(dict.fromkeys(hours))}  # hours in order, each once
    position = tuple(zip([row_of[h] for h in hours], [(t % 3600 // 60 - offset) // minutes for t in seconds]))
    grid: list[list[int | None]] = [[None] * columns for _ in row_of]
    for index, (row, column) in enumerate(position):
        grid[row][column] = index
    # Partitions are in time order (the step check saw positive gaps only): a row starts where the hour changes.
    starts = [0] + [i for i in range(1, len(hours)) if hours[i] != hours[i - 1]]
    rows = tuple(GridRow(cells[first].moment.strftime("%Y-%m-%d %H:00"), tuple(slots))
                 for first, slots in zip(starts, grid))
    return GridLayout("minutes", rows, columns, position, names)


def _time_label(moments: list[datetime]):
    """Labels with the precision the partitions need: the date, the minute, or the second."""
    if all(m.hour == m.minute == m.second == m.microsecond == 0 for m in moments):
        fmt = "%Y-%m-%d"
    elif all(m.second == m.microsecond == 0 for m in moments):
        fmt = "%Y-%m-%d %H:%M"
    else:
        fmt = "%Y-%m-%d %H:%M:%S"
    return lambda cell: cell.moment.strftime(fmt)


def _key_label(cell: Cell) -> str:
    key = cell.key
    return key if len(key) <= KEY_LABEL_WIDTH else key[:KEY_LABEL_WIDTH - 1] + "…"


def _bucketed(cells: Sequence[Cell], kind: str, columns: int, row_of, label_format: str, column_of,
              column_names: tuple[str, ...] = ()) -> GridLayout:
    """One row per ``row_of`` bucket (labelled from its first partition), one column per ``column_of``."""
    buckets: dict[object, list[int | None]] = {}
    labels: list[str] = []
    position = []
    for index, cell in enumerate(cells):
        moment = cell.moment
        bucket = row_of(moment)
        slots = buckets.get(bucket)
        if slots is None:
            slots = buckets[bucket] = [None] * columns
            labels.append(moment.strftime(label_format))
        column = column_of(moment)
        slots[column] = index
        position.append((len(buckets) - 1, column))
    rows = tuple(GridRow(label, tuple(slots)) for label, slots in zip(labels, buckets.values()))
    return GridLayout(kind, rows, columns, tuple(position), column_names)


@dataclass(frozen=True)
class Selection:
    cursor: int = 0
    anchor: int | None = None  # where a shift+arrow range started
    chosen: frozenset[int] = frozenset()


def move(grid: GridLayout, selection: Selection, direction: str, *, extend: bool = False) -> Selection:
    """Arrow keys: left/right step through partitions in time order, up/down keep the column (the same day of the
    previous month, the same hour of the previous day). With ``extend`` (shift) the range from the anchor to the new
    cursor becomes the selection."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    count = len(grid.position)
    if count == 0:
        return selection
    cursor = selection.cursor
    if direction in ("left", "right"):
        cursor = max(0, min(count - 1, cursor + (1 if direction == "right" else -1)))
    else:
        row, column = grid.position[cursor]
        target = row + (1 if direction == "down" else -1)
        if 0 <= target < len(grid.rows):
            cursor = _nearest(grid.rows[target].slots, column)
    if not extend:
        return replace(selection, cursor=cursor, anchor=None)
    anchor = selection.cursor if selection.anchor is None else selection.anchor
    low, high = sorted((anchor, cursor))
    return Selection(cursor, anchor, frozenset(range(low, high + 1)))


def _nearest(slots: tuple[int | None, ...], column: int) -> int:
    """The partition in ``slots`` closest to ``column`` (a month without a 31st: the 30th)."""
    filled = [(abs(c - column), c, index) for c, index in enumerate(slots) if index is not None]
    return min(filled)[2]


def toggle(selection: Selection) -> Selection:
    chosen = selection.chosen ^ {selection.cursor}
    return replace(selection, anchor=None, chosen=frozenset(chosen))


def select_states(cells: Sequence[Cell], selection: Selection, states: Iterable[str]) -> Selection:
    wanted = set(states)
    return replace(selection, anchor=None, chosen=frozenset(i for i, c in enumerate(cells) if c.state in wanted))


def select_all(cells: Sequence[Cell], selection: Selection) -> Selection:
    return replace(selection, anchor=None, chosen=frozenset(range(len(cells))))


def clear(selection: Selection) -> Selection:
    return replace(selection, anchor=None, chosen=frozenset())


def summary(cells: Sequence[Cell], selection: Selection) -> str:
    """``"12 selected: 3 failed, 9 missing"`` — the count the operator checks before planning."""
    if not selection.chosen:
        return f"0 of {len(cells)} selected"
    counts = Counter(cells[i].state for i in selection.chosen)
    parts = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    return f"{len(selection.chosen)} of {len(cells)} selected: {parts}"


@dataclass(frozen=True)
class ChosenRange:
    """What the planner needs for a selection: the span and, when not every partition in it is chosen, the keys."""

    start: datetime | None  # None for keyed partitions without dates: keep the loaded range
    end: datetime | None
    partitions: PartitionSelection | None


def chosen_range(cells: Sequence[Cell], selection: Selection) -> ChosenRange | None:
    """The selection as plan options; None when nothing is selected."""
    indexes = sorted(selection.chosen)
    if not indexes:
        return None
    moments = [cells[i].moment for i in indexes if cells[i].moment is not None]
    contiguous = indexes[-1] - indexes[0] + 1 == len(indexes) and len(moments) == len(indexes)
    keys = None if contiguous else PartitionSelection(keys=tuple(cells[i].key for i in indexes))
    return ChosenRange(min(moments, default=None), max(moments, default=None), keys)
