"""The SLA board's kept events (``freshness_db.NewestEventsCache``): after any sequence of new, deleted and
late-committed events, and of assets coming under an SLA or leaving it, what a board reads through the cache equals
what a cold read of the same table gives; and it reads only the assets that changed.

The event table is a small in-memory stand-in with the cache's three questions; the real table is checked against
a cold board in ``tests/integration/test_board_paths.py``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tests.unit.plugin.event_rows import WatermarkedRows
from toolkit.core.freshness import EVENTS_PER_ASSET
from toolkit.models import AssetEvent
from toolkit.plugin.freshness_db import FIRST_LOOK, NewestEventsCache

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


@dataclass
class Row:
    id: int
    asset: int
    minutes: float
    rows: int | None = None


@dataclass
class EventTable(WatermarkedRows):
    reads: list[tuple[set[int], int]] = field(default_factory=list)

    def add(self, asset: int, minutes: float, rows: int | None = None, event_id: int | None = None) -> None:
        self.rows.append(Row(self.draw_id(event_id), asset, minutes, rows))

    def newest(self, asset_ids, limit: int) -> dict[int, list[AssetEvent]]:
        self.reads.append((set(asset_ids), limit))
        found: dict[int, list[AssetEvent]] = {}
        for row in sorted((r for r in self.rows if r.asset in set(asset_ids)), key=lambda r: (r.minutes, r.id)):
            found.setdefault(row.asset, []).append(
                AssetEvent(f"asset.{row.asset}", START + timedelta(minutes=row.minutes), row_count=row.rows))
        return {a: events[-limit:] for a, events in found.items()}


def board_reads(cache: NewestEventsCache, table: EventTable, watched: list[int], deep: list[int]) -> tuple[dict, dict]:
    """What one board asks: the newest event of every watched asset, then up to EVENTS_PER_ASSET of some."""
    newest = cache.reader(table)
    first = newest(watched, FIRST_LOOK)
    more = newest(deep, EVENTS_PER_ASSET)
    cache.keep_only(watched)
    return first, more


def cold(table: EventTable, watched: list[int], deep: list[int]) -> tuple[dict, dict]:
    return board_reads(NewestEventsCache(), table, watched, deep)


def seeded_table(assets: int = 10) -> EventTable:
    table = EventTable()
    for asset in range(1, assets + 1):
        for n in range(120):
            table.add(asset, asset * 0.7 + n * 30.0, rows=0 if n % 17 == 0 else 5)
    return table


def test_new_events_are_read_for_their_assets_only_and_equal_a_cold_read():
    table = seeded_table()
    watched, deep = list(range(1, 11)), [2, 3]
    cache = NewestEventsCache()
    assert board_reads(cache, table, watched, deep) == cold(table, watched, deep)
    assert cache.cold_reads == 1
    table.add(3, 10_000.0, rows=0)
    table.add(8, 10_000.0)
    before = len(table.reads)
    assert board_reads(cache, table, watched, deep) == cold(table, watched, deep)
    assert table.reads[before:before + 2] == [({3, 8}, FIRST_LOOK), ({3}, EVENTS_PER_ASSET)]  # asset 2 kept its 100
    assert cache.cold_reads == 1 and cache.read_assets == 3
    before = len(table.reads)
    kept = board_reads(cache, table, watched, deep)
    assert len(table.reads) == before and cache.read_assets == 0  # nothing new: nothing read
    assert kept == cold(table, watched, deep)


def test_deleted_or_late_committed_events_below_the_watermark_mean_a_cold_read():
    table = seeded_table()
    watched = list(range(1, 11))
    cache = NewestEventsCache()
    board_reads(cache, table, watched, [1])
    table.rows = [r for r in table.rows if r.id > 200]  # `airflow db clean` removed the oldest events
    assert board_reads(cache, table, watched, [1]) == cold(table, watched, [1]) and cache.cold_reads == 2
    table.add(5, 20_000.0, event_id=50_000)  # drawn after the watermark: a new event like any other
    assert board_reads(cache, table, watched, [1]) == cold(table, watched, [1]) and cache.cold_reads == 2
    table.add(6, 20_000.0, event_id=49_999)  # committed late, below the watermark now read
    assert board_reads(cache, table, watched, [1]) == cold(table, watched, [1]) and cache.cold_reads == 3


def test_a_random_history_always_equals_a_cold_read():
    rng = random.Random(20261202)
    table = seeded_table(15)
    cache = NewestEventsCache()
    watched = list(range(1, 16))
    for step in range(80):
        action = rng.choice(["add", "add", "add", "old", "delete", "late", "watch", "other"])
        asset = rng.randint(1, 15)
        if action in ("add", "old"):  # "old": a new event whose timestamp lies in the past (a partition re-run)
            minutes = rng.uniform(0, 3600) if action == "old" else 5000.0 + step * 10 + rng.random()
            table.add(asset, minutes, rows=rng.choice([None, 0, 3]))
        elif action == "delete" and table.rows:
            table.rows.remove(rng.choice(table.rows))
        elif action == "late":
            table.add(asset, 6000.0 + step, event_id=-step - 1)  # an id below the watermark, never used before
        elif action == "watch":
            watched = sorted(rng.sample(range(1, 16), rng.randint(5, 15)))
        else:
            table.database = rng.choice(["postgresql://airflow@db/airflow", "postgresql://airflow@other/airflow"])
        deep = rng.sample(watched, rng.randint(0, len(watched)))
        assert board_reads(cache, table, watched, deep) == cold(table, watched, deep), (step, action, asset)
    assert 1 < cache.cold_reads < 80
