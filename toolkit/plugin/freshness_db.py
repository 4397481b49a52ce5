"""The SLA board computed inside Airflow's api-server from the metadata database, in a few set-based queries.

Paging the public REST API costs one request per asset (events) and two per producing DAG. Here it is a handful of
queries whatever the number of assets:

1. assets and their ``extra`` (as text: SLA declarations are parsed once and cached until they change);
2. the newest event of every watched asset (``LATERAL … LIMIT`` on the ``(asset_id, timestamp)`` index on
   PostgreSQL; a window function elsewhere), its row count read by the database rather than decoding each ``extra``;
3. only for the statuses older events could still change (``freshness.decided_by_newest``), up to
   ``freshness.EVENTS_PER_ASSET`` events of those assets;
4. producers, and the assets their DAGs are scheduled on;
5. the latest run and the recent successful durations of each producing DAG.

Incremental between requests (``NewestEventsCache``): the events of steps 2 and 3 are kept, and a board re-reads them
only for the assets with events since the previous board (``event_watermark``); every status is judged again at the
board's own "now", from the same events a cold read would give.

The judging is the same pure ``toolkit.core.freshness`` the CLI uses, on the same events. Timestamps are read as the
database's own (``_timestamp``): Airflow's column type converts every value through a pendulum zone, which was more
than half of the board's time at 10,000 assets.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from sqlalchemy import TIMESTAMP, Text, and_, case, cast, func, select, true, type_coerce
from sqlalchemy.orm import Session

from toolkit.core.freshness import (EVENTS_PER_ASSET, ProducerRun, assets_to_read, decided_by_newest, evaluate,
                                    with_upstream_culprits)
from toolkit.models import AssetEvent as Event
from toolkit.models import DagRun as DagRunModel
from toolkit.core.planning import estimate_durations
from toolkit.plugin.event_watermark import EventTableReader, EventWatermark
from toolkit.sla import SLA, InvalidSLA, parse_slas
from toolkit.core.sla_board import SLABoard, sorted_statuses

FIRST_LOOK = 1  # the newest event decides almost every status
DURATION_SAMPLES = 30
_WHOLE_NUMBER = re.compile(r"-?\d+")
_declared: dict[tuple[str, str], list[SLA | InvalidSLA]] = {}  # (asset, extra as text) -> its parsed SLAs


def _timestamp(column, name: str):
    """``column`` (one of Airflow's ``UtcDateTime`` columns) read without that type's conversion of each value, which
    goes through pendulum's UTC zone: 0.34 s of a 0.6 s board at 10,000 assets. :func:`_utc` makes the value UTC."""
    return type_coerce(column, TIMESTAMP(timezone=True)).label(name)


def _utc(value: datetime | None) -> datetime | None:
    """A timestamp from the database in the standard UTC zone (Airflow stores UTC; SQLite hands it back naive)."""
    if value is None or value.tzinfo is timezone.utc:  # PostgreSQL's, as psycopg2 hands them over
        return value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _row_count(value: object) -> int | None:
    """``extra["row_count"]`` when it is a whole number (the database hands it over as a number or as text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        return int(value)
    if isinstance(value, dict):  # dialects without JSON functions hand over the whole extra
        count = value.get("row_count")
        return count if isinstance(count, int) and not isinstance(count, bool) else None
    return None


def extra_from_text(text: str | None) -> dict:
    """An asset's ``extra`` read as text from the database; anything that is not a JSON object counts as empty."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _declared_slas(name: str, extra_text: str | None) -> list[SLA | InvalidSLA]:
    key = (name, extra_text or "")
    found = _declared.get(key)
    if found is None:
        found = parse_slas(name, extra_from_text(extra_text))
        if len(_declared) > 200_000:  # declarations that changed leave stale keys behind: start afresh
            _declared.clear()
        _declared[key] = found
    return found


def _row_count_column(dialect: str):
    from airflow.models.asset import AssetEvent

    if dialect == "postgresql":
        value = AssetEvent.extra.op("->")("row_count")
        return case((func.json_typeof(value) == "number", AssetEvent.extra.op("->>")("row_count")))
    if dialect == "sqlite":
        return case((func.json_type(AssetEvent.extra, "$.row_count") == "integer",
                     func.json_extract(AssetEvent.extra, "$.row_count")))
    return AssetEvent.extra


def _latest_events(session: Session, asset_ids: list[int], limit: int) -> list:
    from airflow.models.asset import AssetEvent, AssetModel

    dialect = session.get_bind().dialect.name
    columns = (AssetEvent.asset_id, _timestamp(AssetEvent.timestamp, "timestamp"), AssetEvent.partition_key,
               AssetEvent.source_dag_id, AssetEvent.source_run_id, _row_count_column(dialect).label("row_count"))
    connection = session.connection()  # Core rows: the ORM's per-row bookkeeping costs more than the query
    if dialect == "postgresql":
        recent = (select(*columns).where(AssetEvent.asset_id == AssetModel.id)
                  .order_by(AssetEvent.timestamp.desc()).limit(limit).lateral())
        query = select(recent).select_from(AssetModel).join(recent, true()).where(AssetModel.id.in_(asset_ids))
        return connection.execute(query).all()
    rank = func.row_number().over(partition_by=AssetEvent.asset_id, order_by=AssetEvent.timestamp.desc()).label("rn")
    ranked = select(*columns, rank).where(AssetEvent.asset_id.in_(asset_ids)).subquery()
    keys = ("asset_id", "timestamp", "partition_key", "source_dag_id", "source_run_id", "row_count")
    return connection.execute(select(*[ranked.c[k] for k in keys]).where(ranked.c.rn <= limit)).all()


def _events_by_asset(session: Session, name_of: dict[int, str], asset_ids: Collection[int],
                     limit: int) -> dict[int, list[Event]]:
    """Each asset's newest events, oldest first (the order ``freshness`` reads them in), by asset id."""
    events: dict[int, list[Event]] = defaultdict(list)
    for row in _latest_events(session, list(asset_ids), limit):
        events[row.asset_id].append(Event(name_of[row.asset_id], _utc(row.timestamp), row.partition_key,
                                          row.source_dag_id, row.source_run_id, _row_count(row.row_count)))
    for found in events.values():
        found.reverse()
    return events


class NewestEvents(Protocol):
    """What the cache asks of the event table (``DatabaseNewestEvents``; an in-memory table in the unit tests)."""

    database: str

    def watermark(self, previous: EventWatermark | None) -> tuple[EventWatermark, bool]: ...

    def assets_with_events_after(self, event_id: int) -> set[int]: ...

    def newest(self, asset_ids: Collection[int], limit: int) -> dict[int, list[Event]]: ...


class DatabaseNewestEvents(EventTableReader):
    def __init__(self, session: Session, name_of: dict[int, str]) -> None:
        super().__init__(session)
        self.name_of = name_of

    def newest(self, asset_ids: Collection[int], limit: int) -> dict[int, list[Event]]:
        return _events_by_asset(self.session, self.name_of, asset_ids, limit)


@dataclass
class NewestEventsCache:
    """Each asset's newest events as the previous board read them (how many were asked, and those found), and the
    event table's watermark then: one per api-server process; boards take turns (``lock``)."""

    database: str | None = None
    watermark: EventWatermark | None = None
    assets: dict[int, tuple[int, list[Event]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cold_reads: int = 0  # boards that read every asset's events (for the tests)
    read_assets: int = 0  # assets whose events the latest board read

    def reader(self, table: NewestEvents) -> Callable[[Collection[int], int], dict[int, list[Event]]]:
        """Begin a board (with ``lock`` held): drop what changed since the previous one, and return how the board
        asks for up to ``limit`` newest events of some assets (read only where not kept, and kept for the next).

        The watermark is read first: whatever commits while the board reads shows next time as newer ids, or as a
        changed count below the watermark (then the next board reads everything)."""
        same_database = table.database == self.database
        watermark, unchanged = table.watermark(self.watermark if same_database else None)
        if unchanged and self.watermark is not None:
            renewed = table.assets_with_events_after(self.watermark.newest)
            kept = {i: read for i, read in self.assets.items() if i not in renewed}
        else:
            kept, self.cold_reads = {}, self.cold_reads + 1
        self.assets, self.database, self.watermark, self.read_assets = kept, table.database, watermark, 0

        def newest(asset_ids: Collection[int], limit: int) -> dict[int, list[Event]]:
            missing = [i for i in asset_ids if self.assets.get(i, (0, []))[0] < limit]
            if missing:
                found = table.newest(missing, limit)
                for i in missing:
                    self.assets[i] = (limit, found.get(i, []))
                self.read_assets += len(missing)
            return {i: self.assets[i][1][-limit:] for i in asset_ids}

        return newest

    def keep_only(self, asset_ids: Collection[int]) -> None:
        """Forget the assets a board no longer watches (deleted, or no longer under an SLA)."""
        wanted = set(asset_ids)
        self.assets = {i: read for i, read in self.assets.items() if i in wanted}


CACHE = NewestEventsCache()


def _producer_runs(session: Session, dag_ids: set[str], upstream: dict[str, tuple[str, ...]]) -> dict[str, ProducerRun]:
    from airflow.models.dagrun import DagRun

    latest_rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.run_after.desc()).label("rn")
    latest = select(DagRun.dag_id, DagRun.run_id, DagRun.state, _timestamp(DagRun.start_date, "start_date"),
                    latest_rank).where(
        DagRun.dag_id.in_(dag_ids)).subquery()
    newest = {r.dag_id: r for r in session.execute(select(latest).where(latest.c.rn == 1))}
    done_rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.end_date.desc()).label("rn")
    done = select(DagRun.dag_id, _timestamp(DagRun.start_date, "start_date"), _timestamp(DagRun.end_date, "end_date"),
                  done_rank).where(
        and_(DagRun.dag_id.in_(dag_ids), DagRun.state == "success", DagRun.end_date.is_not(None))).subquery()
    durations: dict[str, list] = defaultdict(list)
    for row in session.execute(select(done).where(done.c.rn <= DURATION_SAMPLES)):
        durations[row.dag_id].append(row)
    runs = {}
    for dag_id in dag_ids:
        row = newest.get(dag_id)
        p90 = estimate_durations([DagRunModel(dag_id, "", "success", "", None, start_date=_utc(d.start_date),
                                              end_date=_utc(d.end_date)) for d in durations[dag_id]]).p90
        runs[dag_id] = ProducerRun(
            dag_id=dag_id,
            state=str(getattr(row.state, "value", row.state)) if row else None,
            run_id=row.run_id if row else None,
            start_date=_utc(row.start_date) if row else None,
            p90_seconds=p90,
            upstream_assets=upstream.get(dag_id, ()),
        )
    return runs


def board_from_db(session: Session, now: datetime, cache: NewestEventsCache = CACHE) -> SLABoard:
    from airflow.models.asset import AssetActive, AssetModel, DagScheduleAssetReference, TaskOutletAssetReference

    # Active assets only, as GET /api/v2/assets lists them by default.
    assets = session.connection().execute(
        select(AssetModel.id, AssetModel.name, cast(AssetModel.extra, Text).label("extra"),
               _timestamp(AssetModel.created_at, "created_at"))
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
    ).all()
    slas: list[SLA] = []
    invalid: list[InvalidSLA] = []
    name_of: dict[int, str] = {}
    id_of: dict[str, int] = {}
    for asset_id, name, extra, _ in assets:  # unpacked: a row's attributes cost more (100,000 rows)
        name_of[asset_id], id_of[name] = name, asset_id
        for found in _declared_slas(name, extra):
            (slas if type(found) is SLA else invalid).append(found)
    producers_of: dict[str, list[str]] = defaultdict(list)
    for ref in session.execute(select(TaskOutletAssetReference.asset_id, TaskOutletAssetReference.dag_id).distinct()):
        producers_of[name_of.get(ref.asset_id, "")].append(ref.dag_id)
    scheduled_on: dict[str, list[str]] = defaultdict(list)
    for ref in session.execute(select(DagScheduleAssetReference.asset_id, DagScheduleAssetReference.dag_id)):
        scheduled_on[ref.dag_id].append(name_of.get(ref.asset_id, ""))
    needed = assets_to_read([s.asset for s in slas], set(id_of), producers_of, scheduled_on)
    first_producer = {name: sorted(producers_of[name])[0] for name in needed if producers_of.get(name)}
    runs = _producer_runs(session, set(first_producer.values()),
                          {d: tuple(sorted(a)) for d, a in scheduled_on.items()}) if first_producer else {}
    producers = {name: runs[dag_id] for name, dag_id in first_producer.items()}
    known_since = {name: _utc(created) for _, name, _, created in assets if name in needed}

    with cache.lock:
        newest = cache.reader(DatabaseNewestEvents(session, name_of))
        events = {name_of[i]: found for i, found in newest([id_of[n] for n in needed], FIRST_LOOK).items()}
        statuses = [evaluate(s, events.get(s.asset, []), now, producers.get(s.asset), known_since.get(s.asset))
                    for s in slas]
        undecided = {s.sla.asset for s in statuses if not decided_by_newest(s, events.get(s.sla.asset, []),
                                                                            FIRST_LOOK)}
        if undecided:
            events.update({name_of[i]: found for i, found in
                           newest([id_of[n] for n in undecided], EVENTS_PER_ASSET).items()})
            statuses = [evaluate(st.sla, events[st.sla.asset], now, producers.get(st.sla.asset),
                                 known_since.get(st.sla.asset)) if st.sla.asset in undecided else st
                        for st in statuses]
        cache.keep_only(id_of[n] for n in needed)
    return SLABoard(now, sorted_statuses(with_upstream_culprits(statuses, producers)), tuple(invalid))
