"""How far the event table was read, so that a board can re-read only the assets with events since.

Airflow never updates an asset event: an asset's newest events change only when it gets a new one, which has a
higher id than any read before. What else can happen below the last id read (an event deleted by ``airflow db
clean``, or committed late by a transaction that had drawn its id earlier) shows as a changed count or sum of the ids
up to it, read in the same scan; then a board reads everything afresh. The cadence board and the SLA board both keep
their reads this way (``cadence_db.CadenceCache``, ``freshness_db.NewestEventsCache``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class EventWatermark:
    """How far the event table was read: its newest event id, and how many ids up to it there were and their sum."""

    newest: int
    count: int
    id_sum: int


class EventTableReader:
    """The event table's watermark and what came after it, through one request's session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.database = session.get_bind().url.render_as_string(hide_password=True)

    def watermark(self, previous: EventWatermark | None) -> tuple[EventWatermark, bool]:
        """The event table's watermark now, and whether the ids up to ``previous.newest`` are still exactly those it
        counted (nothing deleted, nothing committed late below it), in one scan of the table's primary key."""
        from airflow.models.asset import AssetEvent as EventRow

        below = previous.newest if previous else -1
        newest, count, id_sum, count_below, sum_below = self.session.execute(select(
            func.max(EventRow.id), func.count(EventRow.id), func.coalesce(func.sum(EventRow.id), 0),
            func.count(case((EventRow.id <= below, 1))),
            func.coalesce(func.sum(case((EventRow.id <= below, EventRow.id), else_=0)), 0))).one()
        now = EventWatermark(int(newest if newest is not None else -1), int(count), int(id_sum))
        unchanged = previous is not None and (int(count_below), int(sum_below)) == (previous.count, previous.id_sum)
        return now, unchanged

    def assets_with_events_after(self, event_id: int) -> set[int]:
        from airflow.models.asset import AssetEvent as EventRow

        return set(self.session.scalars(select(EventRow.asset_id).where(EventRow.id > event_id).distinct()))
