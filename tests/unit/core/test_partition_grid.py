"""The terminal app's partition grid: layouts, keyboard selection, and the plan options a selection becomes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from toolkit.core import partition_grid as grid
from toolkit.core.partition_grid import Cell, Selection
from toolkit.core.planning import PartitionRow
from toolkit.core.timeparse import PartitionSelection, parse_partitions

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def daily(days: int, states: dict[int, str] | None = None, start: datetime = START) -> list[Cell]:
    states = states or {}
    return [Cell((start + timedelta(days=i)).isoformat(), start + timedelta(days=i), states.get(i, "success"))
            for i in range(days)]


def test_daily_partitions_form_a_calendar_one_month_per_row():
    cells = daily(365)
    layout = grid.layout(cells)
    assert layout.kind == "calendar" and layout.columns == 31
    assert [r.label for r in layout.rows][:3] == ["2026-01", "2026-02", "2026-03"] and len(layout.rows) == 12
    february = layout.rows[1].slots
    assert february[27] is not None and february[28:] == (None, None, None)  # 2026 is not a leap year
    assert layout.position[31] == (1, 0)  # 1 February: second row, first column
    assert layout.header.startswith("1 ")


def test_a_calendar_starting_mid_month_leaves_the_first_days_blank():
    layout = grid.layout(daily(20, start=datetime(2026, 3, 15, tzinfo=timezone.utc)))
    assert layout.rows[0].slots[:14] == (None,) * 14 and layout.rows[0].slots[14] == 0


def test_hourly_partitions_form_one_row_per_day():
    cells = [Cell(f"h{i}", START + timedelta(hours=i), "success") for i in range(50)]
    layout = grid.layout(cells)
    assert layout.kind == "hourly" and layout.columns == 24 and len(layout.rows) == 3
    assert layout.rows[2].label == "2026-01-03" and layout.rows[2].slots[1] == 49


def test_keyed_or_irregular_partitions_use_compact_rows():
    keyed = [Cell(f"customer-{i:03}", None, "missing") for i in range(70)]
    layout = grid.layout(keyed, width=32)
    assert layout.kind == "compact" and len(layout.rows) == 3 and layout.rows[2].slots[5] == 69
    assert layout.rows[2].slots[6:] == (None,) * 26
    every_90_minutes = [Cell(str(i), START + timedelta(minutes=90 * i), "success") for i in range(10)]
    assert grid.layout(every_90_minutes).kind == "compact"


def test_left_right_walk_in_time_order_and_up_down_keep_the_day_of_month():
    cells = daily(365)
    layout = grid.layout(cells)
    sel = Selection(cursor=30)  # 31 January
    down = grid.move(layout, sel, "down")
    assert cells[down.cursor].moment.date().isoformat() == "2026-02-28"  # February has no 31st: nearest day
    assert grid.move(layout, Selection(cursor=0), "left").cursor == 0  # stays at the first partition
    assert grid.move(layout, Selection(cursor=0), "up").cursor == 0
    assert grid.move(layout, Selection(cursor=364), "right").cursor == 364
    assert grid.move(layout, Selection(cursor=0), "right").cursor == 1
    with pytest.raises(ValueError):
        grid.move(layout, sel, "sideways")


def test_shift_arrows_select_the_range_from_the_anchor():
    cells = daily(90)
    layout = grid.layout(cells)
    sel = Selection(cursor=10)
    for _ in range(3):
        sel = grid.move(layout, sel, "right", extend=True)
    assert sel.chosen == frozenset(range(10, 14)) and sel.anchor == 10
    sel = grid.move(layout, sel, "down", extend=True)  # 14 Jan → 14 Feb: a month more
    assert sel.chosen == frozenset(range(10, 13 + 31 + 1))
    sel = grid.move(layout, sel, "up", extend=True)
    sel = grid.move(layout, sel, "left", extend=True)
    sel = grid.move(layout, sel, "left", extend=True)
    assert sel.chosen == frozenset(range(10, 12))
    moved = grid.move(layout, sel, "left")  # a plain arrow keeps the selection and forgets the anchor
    assert moved.chosen == sel.chosen and moved.anchor is None
    backwards = grid.move(layout, grid.move(layout, moved, "left", extend=True), "left", extend=True)
    assert backwards.chosen == frozenset({8, 9, 10})


def test_select_failed_missing_all_toggle_clear_and_the_count():
    cells = daily(10, {2: "failed", 5: "failed", 7: "missing", 8: "running", 9: "queued"})
    sel = grid.select_states(cells, Selection(cursor=3), ["failed"])
    assert sel.chosen == {2, 5} and grid.summary(cells, sel) == "2 of 10 selected: 2 failed"
    sel = grid.select_states(cells, sel, ["failed", "missing"])
    assert grid.summary(cells, sel) == "3 of 10 selected: 2 failed, 1 missing"
    sel = grid.toggle(sel)  # cursor 3 joins
    assert sel.chosen == {2, 3, 5, 7}
    assert grid.toggle(sel).chosen == {2, 5, 7}
    everything = grid.select_all(cells, sel)
    assert grid.summary(cells, everything) == "10 of 10 selected: 5 success, 2 failed, 1 running, 1 queued, 1 missing"
    assert grid.summary(cells, grid.clear(everything)) == "0 of 10 selected"


def test_cells_from_plan_rows_map_unknown_run_states_to_running():
    row = PartitionRow(START, None, None, "up_for_retry", "skip", "in flight")
    assert Cell.from_row(row) == Cell(START.isoformat(), START, "running")
    keyed = PartitionRow(None, "eu-2026-01", START, "missing", "create", "no run yet")
    assert Cell.from_row(keyed) == Cell("eu-2026-01", START, "missing")


def test_a_contiguous_selection_becomes_a_range_and_a_scattered_one_names_its_keys():
    cells = daily(30)
    contiguous = grid.chosen_range(cells, Selection(chosen=frozenset(range(3, 8))))
    assert contiguous.start == START + timedelta(days=3) and contiguous.end == START + timedelta(days=7)
    assert contiguous.partitions is None
    scattered = grid.chosen_range(cells, Selection(chosen=frozenset({4, 1, 20})))
    assert (scattered.start, scattered.end) == (START + timedelta(days=1), START + timedelta(days=20))
    assert scattered.partitions.keys == tuple(cells[i].key for i in (1, 4, 20))
    assert grid.chosen_range(cells, Selection()) is None
    keyed = [Cell(f"k{i}", None, "missing") for i in range(5)]
    only_keys = grid.chosen_range(keyed, Selection(chosen=frozenset({1, 2})))
    assert only_keys.start is None and only_keys.partitions.keys == ("k1", "k2")


def test_time_based_dags_select_logical_dates_as_instants():
    chosen = PartitionSelection(keys=(START.isoformat(), "2026-01-03"))
    assert chosen.selects_instant(START) and chosen.selects_instant(START + timedelta(days=2))
    assert not chosen.selects_instant(START + timedelta(days=1)) and not chosen.selects_instant(None)
    week = parse_partitions("2026-01-01..2026-01-07")
    assert week.selects_instant(START + timedelta(days=6)) and not week.selects_instant(START + timedelta(days=7))
    assert not parse_partitions("eu..us").selects_instant(START)  # keys that are not dates select no date


def every(step: timedelta, count: int, start: datetime = datetime(2026, 11, 1, 10, 5, tzinfo=timezone.utc)):
    return [Cell((start + step * i).isoformat(), start + step * i, "success") for i in range(count)]


@pytest.mark.parametrize(("cells", "kind", "first_labels"), [
    (daily(70), "calendar", ["2026-01", "2026-02", "2026-03"]),
    (every(timedelta(days=7), 30), "calendar", ["2026-11", "2026-12", "2027-01"]),
    (every(timedelta(hours=1), 50), "hourly", ["2026-11-01", "2026-11-02", "2026-11-03"]),
    (every(timedelta(hours=2), 30), "hourly", ["2026-11-01", "2026-11-02", "2026-11-03"]),
    (every(timedelta(minutes=5), 30), "minutes", ["2026-11-01 10:00", "2026-11-01 11:00", "2026-11-01 12:00"]),
    (every(timedelta(minutes=1), 130), "minutes", ["2026-11-01 10:00", "2026-11-01 11:00", "2026-11-01 12:00"]),
    (every(timedelta(minutes=90), 70), "compact", ["2026-11-01 10:05", "2026-11-03 10:05", "2026-11-05 10:05"]),
    (every(timedelta(minutes=7), 70), "compact", ["2026-11-01 10:05", "2026-11-01 13:49", "2026-11-01 17:33"]),
    (every(timedelta(seconds=30), 70), "compact", ["2026-11-01 10:05:00", "2026-11-01 10:21:00",
                                                   "2026-11-01 10:37:00"]),
    (every(timedelta(hours=25), 70), "hourly", ["2026-11-01", "2026-11-02", "2026-11-03"]),
    (every(timedelta(minutes=5), 30, datetime(2026, 11, 1, 10, 2, tzinfo=timezone.utc)), "minutes",
     ["2026-11-01 10:00", "2026-11-01 11:00", "2026-11-01 12:00"]),
    ([Cell(f"region-{i:03}", None, "missing") for i in range(70)], "compact", ["region-000", "region-032",
                                                                              "region-064"]),
    ([Cell(f"customer-account-number-{i:04}", None, "missing") for i in range(70)], "compact",
     ["#01", "#33", "#65"]),  # cut keys would look alike: the rows are numbered instead
])
def test_row_labels_name_their_row_unambiguously_and_are_never_cut(cells, kind, first_labels):
    layout = grid.layout(cells)
    labels = [r.label for r in layout.rows]
    assert layout.kind == kind and labels[:3] == first_labels
    assert len(set(labels)) == len(labels)
    assert layout.label_width > max(len(label) for label in labels)  # a space between label and cells


def test_a_five_minute_dag_gets_one_row_per_hour_with_the_minutes_as_columns():
    cells = every(timedelta(minutes=5), 86_400, datetime(2026, 1, 1, tzinfo=timezone.utc))  # 300 days
    layout = grid.layout(cells)
    assert layout.kind == "minutes" and layout.columns == 12 and len(layout.rows) == 7200
    assert layout.column_names[:3] == (":00", ":05", ":10") and layout.header == ":00   :15   :30   :45"
    assert layout.position[13] == (1, 1) and layout.rows[1].label == "2026-01-01 01:00"
    assert grid.move(layout, Selection(cursor=0), "down").cursor == 12
    off_the_hour = grid.layout(every(timedelta(minutes=10), 20, datetime(2026, 1, 1, 0, 3, tzinfo=timezone.utc)))
    assert off_the_hour.column_names == (":03", ":13", ":23", ":33", ":43", ":53")
    assert off_the_hour.position[:2] == ((0, 0), (0, 1))
