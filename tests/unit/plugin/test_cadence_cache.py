"""The plugin's incremental cadence: after any sequence of new, deleted and late-committed events, and of assets
appearing and going, the cached judgement equals a cold one of the same table; and it re-judges only what it must.

The event table here is a small in-memory stand-in with the reader's four questions; the real table's answers are
checked against a cold evaluation in ``tests/integration/test_board_paths.py``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from toolkit.core.cadence_impact import CADENCE_EVENTS_PER_ASSET
from tests.unit.plugin.event_rows import WatermarkedRows
from toolkit.plugin.cadence_db import CadenceCache

NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
START = NOW.timestamp() - 30 * 86400


@dataclass
class Row:
    id: int
    asset: int
    seconds: float
    backfill: bool = False


@dataclass
class EventTable(WatermarkedRows):
    """Rows visible to a reader, as the database would answer the cache's questions about them."""

    series_reads: list[set[int] | None] = field(default_factory=list)

    def add(self, asset: int, seconds: float, backfill: bool = False, event_id: int | None = None) -> None:
        self.rows.append(Row(self.draw_id(event_id), asset, seconds, backfill))

    def _newest(self, ids) -> dict[int, list[Row]]:
        by_asset: dict[int, list[Row]] = {}
        for row in self.rows:
            if ids is None or row.asset in ids:
                by_asset.setdefault(row.asset, []).append(row)
        return {a: sorted(rows, key=lambda r: r.seconds)[-CADENCE_EVENTS_PER_ASSET:] for a, rows in by_asset.items()}

    def series(self, ids) -> dict[int, np.ndarray]:
        self.series_reads.append(None if ids is None else set(ids))
        return {a: np.array([r.seconds for r in rows if not r.backfill]) for a, rows in self._newest(ids).items()}

    def excluded(self, ids) -> dict[int, int]:
        return {a: n for a, rows in self._newest(ids).items() if (n := sum(r.backfill for r in rows))}


def judged_as_dicts(cache: CadenceCache, table: EventTable, active: list[int]) -> dict[int, tuple]:
    found = cache.judged(table, active)
    return {i: (j.at(NOW, True), j.first, j.excluded) for i, j in found.items()}


def cold(table: EventTable, active: list[int]) -> dict[int, tuple]:
    return judged_as_dicts(CadenceCache(), table, active)


def seeded_table(assets: int = 12) -> EventTable:
    """Assets every 30 minutes; a third of them move to every 5 minutes half way (the postmortem's change)."""
    table = EventTable()
    for asset in range(1, assets + 1):
        t = START + asset * 7.0
        for n in range(60):
            t += 300.0 if asset % 3 == 0 and n >= 30 else 1800.0
            table.add(asset, t)
    return table


def test_new_events_rejudge_only_their_assets_and_equal_a_cold_judgement():
    table = seeded_table()
    active = list(range(1, 13))
    cache = CadenceCache()
    assert judged_as_dicts(cache, table, active) == cold(table, active)
    assert cache.cold_reads == 1 and cache.judged_assets == 12
    newest = max(r.seconds for r in table.rows if r.asset == 4)
    for k in range(1, 6):
        table.add(4, newest + 60.0 * k)  # asset 4 bursts: its model changes
    table.add(7, START + 40 * 86400, backfill=True)
    assert judged_as_dicts(cache, table, active) == cold(table, active)
    assert cache.cold_reads == 1 and cache.judged_assets == 2
    assert table.series_reads[-2] == {4, 7}  # (the last read is the cold one's)
    assert judged_as_dicts(cache, table, active) == cold(table, active)
    assert cache.judged_assets == 0  # nothing new: nothing read or judged, only "since the last event" moves on


def test_deleted_or_late_committed_events_below_the_watermark_mean_a_cold_judgement():
    table = seeded_table()
    active = list(range(1, 13))
    cache = CadenceCache()
    judged_as_dicts(cache, table, active)
    table.rows = [r for r in table.rows if r.id > 40]  # `airflow db clean` removed the oldest events
    assert judged_as_dicts(cache, table, active) == cold(table, active)
    assert cache.cold_reads == 2
    # A transaction that drew id 10_000 commits after the watermark was read; one that drew 9_999 commits later.
    table.add(5, START + 29 * 86400, event_id=10_000)
    assert judged_as_dicts(cache, table, active) == cold(table, active) and cache.cold_reads == 2
    table.add(6, START + 29 * 86400, event_id=9_999)
    assert judged_as_dicts(cache, table, active) == cold(table, active)
    assert cache.cold_reads == 3


def test_assets_that_become_active_or_inactive_and_another_database():
    table = seeded_table()
    cache = CadenceCache()
    judged_as_dicts(cache, table, list(range(1, 9)))
    assert judged_as_dicts(cache, table, list(range(5, 13))) == cold(table, list(range(5, 13)))
    assert cache.judged_assets == 4 and cache.cold_reads == 1  # 9-12 are new; 1-4 are dropped
    other = seeded_table(3)
    other.database = "postgresql://airflow@other/airflow"
    assert judged_as_dicts(cache, other, [1, 2, 3]) == cold(other, [1, 2, 3]) and cache.cold_reads == 2


def test_a_random_history_of_changes_always_equals_a_cold_judgement():
    rng = random.Random(20261201)
    table = seeded_table(20)
    cache = CadenceCache()
    active = list(range(1, 21))
    for step in range(60):
        action = rng.choice(["add", "add", "add", "burst", "delete", "late", "activate"])
        asset = rng.randint(1, 20)
        newest = max((r.seconds for r in table.rows if r.asset == asset), default=START)
        if action == "add":
            table.add(asset, newest + rng.choice([300.0, 1800.0, 3600.0]), backfill=rng.random() < 0.2)
        elif action == "burst":
            for k in range(rng.randint(1, 20)):
                table.add(asset, newest + 30.0 * (k + 1))
        elif action == "delete" and table.rows:
            table.rows.remove(rng.choice(table.rows))
        elif action == "late":
            table.add(asset, newest + 600.0, event_id=-step - 1)  # an id below the watermark, never used before
        else:
            active = sorted(rng.sample(range(1, 21), rng.randint(10, 20)))
        assert judged_as_dicts(cache, table, active) == cold(table, active), (step, action, asset)
    assert 1 < cache.cold_reads < 60
