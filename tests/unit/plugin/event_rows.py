"""What the in-memory event tables of the plugin's cache tests share: ids drawn in order (or given, for a late
commit), and the watermark questions the caches ask of the real table (``plugin.event_watermark``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.plugin.event_watermark import EventWatermark


@dataclass
class WatermarkedRows:
    """Rows with an ``id`` and an ``asset``, visible to a reader, answering as the database would."""

    rows: list = field(default_factory=list)
    database: str = "postgresql://airflow@db/airflow"
    next_id: int = 1

    def draw_id(self, event_id: int | None) -> int:
        if event_id is None:
            event_id, self.next_id = self.next_id, self.next_id + 1
        return event_id

    def watermark(self, previous: EventWatermark | None) -> tuple[EventWatermark, bool]:
        ids = [r.id for r in self.rows]
        now = EventWatermark(max(ids, default=-1), len(ids), sum(ids))
        if previous is None:
            return now, False
        below = [i for i in ids if i <= previous.newest]
        return now, (len(below), sum(below)) == (previous.count, previous.id_sum)

    def assets_with_events_after(self, event_id: int) -> set[int]:
        return {r.asset for r in self.rows if r.id > event_id}
