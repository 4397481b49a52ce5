"""The partition grid of the terminal app, pure: partitions in, a layout and a selection out.

A daily DAG is laid out like a calendar (one row per month, one column per day of the month), an hourly DAG one row
per day with 24 columns, anything else (keyed partitions, odd schedules) in compact rows. The selection is a set of
partition indexes with a cursor and an anchor, changed by pure functions, so the keys behave the same in the app, the
tests and the benchmark.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from toolkit.planning import PartitionRow
from toolkit.timeparse import PartitionSelection

# The states a cell can show, in legend order. Any other run state (Airflow may add some) shows as running.
STATES = ("success", "failed", "running", "queued", "missing")
COMPACT_WIDTH = 32
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
    kind: str  # calendar | hourly | compact
    rows: tuple[GridRow, ...]
    columns: int
    position: tuple[tuple[int, int], ...]  # cell index -> (row, column)

    @property
    def header(self) -> str:
        """Column numbers for the calendar and hourly layouts (days 1…31, hours 0…23)."""
        if self.kind == "calendar":
            return "".join(f"{d:<2}" if d % 5 == 1 or d == 1 else "  " for d in range(1, 32))
        if self.kind == "hourly":
            return "".join(f"{h:<2}" if h % 6 == 0 else "  " for h in range(24))
        return ""


def _steps_are(moments: list[datetime], unit: timedelta) -> bool:
    """All partitions fall on a whole number of ``unit`` from the first, at least one step apart."""
    first = moments[0]
    return all((m - first) % unit == timedelta(0) for m in moments) and all(
        b - a >= unit for a, b in zip(moments, moments[1:]))


def layout(cells: Sequence[Cell], width: int = COMPACT_WIDTH) -> GridLayout:
    """The grid for ``cells`` (oldest first, as the planner lists partitions)."""
    moments = [c.moment for c in cells]
    if len(cells) >= 2 and all(m is not None for m in moments):
        if _steps_are(moments, timedelta(days=1)):
            return _bucketed(cells, "calendar", 31, lambda m: m.strftime("%Y-%m"), lambda m: m.day - 1)
        if _steps_are(moments, timedelta(hours=1)):
            return _bucketed(cells, "hourly", 24, lambda m: m.strftime("%Y-%m-%d"), lambda m: m.hour)
    rows, position = [], []
    for start in range(0, len(cells), width):
        indexes = tuple(range(start, min(start + width, len(cells))))
        rows.append(GridRow(_short(cells[start].key), indexes + (None,) * (width - len(indexes))))
        position.extend((len(rows) - 1, i - start) for i in indexes)
    return GridLayout("compact", tuple(rows), width, tuple(position))


def _bucketed(cells: Sequence[Cell], kind: str, columns: int, row_of, column_of) -> GridLayout:
    labels: dict[str, list[int | None]] = {}
    position = []
    for index, cell in enumerate(cells):
        label = row_of(cell.moment)
        slots = labels.setdefault(label, [None] * columns)
        column = column_of(cell.moment)
        slots[column] = index
        position.append((len(labels) - 1, column))
    rows = tuple(GridRow(label, tuple(slots)) for label, slots in labels.items())
    return GridLayout(kind, rows, columns, tuple(position))


def _short(key: str) -> str:
    return key if len(key) <= 16 else key[:15] + "…"


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
