"""Every asset's cadence, computed inside Airflow's api-server from the metadata database.

Reading a million event rows through SQLAlchemy costs seconds. On PostgreSQL each active asset's newest
``CADENCE_EVENTS_PER_ASSET`` event times are streamed with binary ``COPY`` instead: fixed 22-byte rows holding the
asset id and the timestamp as int64 microseconds, so PostgreSQL formats nothing and numpy parses everything in one call. Two
connections each stream half of the assets. Elsewhere (SQLite) a window-function query does the same, row by row.
Of each asset's newest ``CADENCE_EVENTS_PER_ASSET`` events, those of backfill runs are left out in SQL, exactly as the
REST path leaves them out of the newest events it reads.

All series are then judged at once by the pure ``toolkit.core.cadence.describe_many``. Only changed assets cost more: their
consumers, those consumers' runs, and which runs consumed which events (the seam report), in three small queries.

Incremental between requests (``CadenceCache``): an asset's model changes only when it gets an event, so a request
re-reads and re-judges only the assets with events newer than the last request's newest event id, and moves the
others' "since the last event" on. The event table's watermark (``event_watermark``) tells whether anything else
happened below that id; then the request judges everything afresh, as it does the first time.
"""

from __future__ import annotations

import io
import threading
from collections import defaultdict
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from toolkit.core.cadence import CadenceModel, describe_many
from toolkit.core.cadence_impact import BASELINE, CADENCE_EVENTS_PER_ASSET, CadenceReport, asset_owners, seam_impact
from toolkit.models import BACKFILL_RUN_LIKE, BACKFILL_RUN_PREFIX, Asset, AssetEvent
from toolkit.plugin.event_watermark import EventTableReader, EventWatermark
from toolkit.plugin.freshness_db import extra_from_text
from toolkit.models import DagRun as DagRunModel
from toolkit.core.sla_board import SLABoard

COPY_CONNECTIONS = 2
_PG_EPOCH = 946_684_800.0  # 2000-01-01 in Unix seconds: PostgreSQL's binary timestamps count from there
_COPY_ROW = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("asset_id", ">i4"), ("ts_len", ">i4"), ("ts", ">i8")])
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


class CopyFormatError(ValueError):
    """The binary COPY stream is not the fixed layout expected; the caller falls back to plain rows."""


def parse_binary_copy(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(asset ids, epoch seconds) from a binary ``COPY`` of ``(int4, timestamptz)`` rows with no NULLs."""
    if not data.startswith(_COPY_SIGNATURE) or len(data) < 21:
        raise CopyFormatError("not a binary COPY stream")
    extension = int.from_bytes(data[15:19], "big")
    body = data[19 + extension:-2]
    if data[-2:] != b"\xff\xff" or len(body) % _COPY_ROW.itemsize:
        raise CopyFormatError("unexpected COPY trailer or row size")
    rows = np.frombuffer(body, dtype=_COPY_ROW)
    if len(rows) and not ((rows["fields"] == 2).all() and (rows["id_len"] == 4).all() and (rows["ts_len"] == 8).all()):
        raise CopyFormatError("unexpected COPY row layout")
    return rows["asset_id"].astype(np.int64), rows["ts"] / 1e6 + _PG_EPOCH


def _group(ids: np.ndarray, seconds: np.ndarray) -> dict[int, np.ndarray]:
    """One ascending array of event times per asset id.

    The lateral query already sends each asset's events together, newest first, so reversing the whole stream makes
    every block ascending without a sort; anything else (another dialect, another plan) is sorted."""
    if not len(ids):
        return {}
    ids, seconds = ids[::-1], seconds[::-1]
    cuts = np.flatnonzero(np.diff(ids)) + 1
    starts = ids[np.r_[0, cuts]].tolist()
    boundary = np.zeros(len(ids) - 1, dtype=bool)
    boundary[cuts - 1] = True
    if len(set(starts)) != len(starts) or (np.diff(seconds)[~boundary] < 0).any():
        order = np.lexsort((seconds, ids))
        ids, seconds = ids[order], seconds[order]
        cuts = np.flatnonzero(np.diff(ids)) + 1
        starts = ids[np.r_[0, cuts]].tolist()
    return dict(zip(starts, np.split(seconds, cuts)))


def _only(ids: Collection[int] | None) -> str:
    """The SQL condition keeping the assets ``ids`` (whole numbers, formatted here: never text from a request)."""
    return "" if ids is None else f"AND a.id = ANY('{{{','.join(str(int(i)) for i in ids)}}}'::int[]) "


def _copy_sql(part: int, parts: int, limit: int, ids: Collection[int] | None = None) -> str:
    return (
        "COPY (SELECT a.id, e.timestamp FROM asset a "
        "JOIN asset_active aa ON aa.name = a.name AND aa.uri = a.uri "
        "CROSS JOIN LATERAL (SELECT ev.timestamp, ev.source_run_id FROM asset_event ev WHERE ev.asset_id = a.id "
        f"ORDER BY ev.timestamp DESC LIMIT {int(limit)}) e WHERE a.id % {int(parts)} = {int(part)} {_only(ids)}"
        f"AND (e.source_run_id IS NULL OR e.source_run_id NOT LIKE '{BACKFILL_RUN_LIKE}')"
        ") TO STDOUT WITH (FORMAT binary)"
    )


def _series_postgres(session: Session, limit: int, ids: Collection[int] | None) -> dict[int, np.ndarray]:
    engine = session.get_bind()

    def stream(part: int) -> bytes:
        raw = engine.raw_connection()
        try:
            buffer = io.BytesIO()
            raw.cursor().copy_expert(_copy_sql(part, COPY_CONNECTIONS, limit, ids), buffer)
            return buffer.getvalue()
        finally:
            raw.close()

    with ThreadPoolExecutor(COPY_CONNECTIONS) as pool:
        chunks = [parse_binary_copy(data) for data in pool.map(stream, range(COPY_CONNECTIONS))]
    return _group(np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))


def _series_rows(session: Session, limit: int, ids: Collection[int] | None) -> dict[int, np.ndarray]:
    from airflow.models.asset import AssetActive, AssetEvent as EventRow, AssetModel

    rank = func.row_number().over(partition_by=EventRow.asset_id, order_by=EventRow.timestamp.desc()).label("rn")
    ranked = (
        select(EventRow.asset_id, EventRow.timestamp, EventRow.source_run_id, rank)
        .join(AssetModel, AssetModel.id == EventRow.asset_id)
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
    )
    if ids is not None:
        ranked = ranked.where(EventRow.asset_id.in_(ids))
    ranked = ranked.subquery()
    live = or_(ranked.c.source_run_id.is_(None), ranked.c.source_run_id.not_like(BACKFILL_RUN_LIKE, escape="\\"))
    rows = session.connection().execute(select(ranked.c.asset_id, ranked.c.timestamp)
                                        .where(ranked.c.rn <= limit, live))
    found, seconds = [], []
    for asset_id, timestamp in rows:
        found.append(asset_id)
        seconds.append(timestamp.timestamp())
    return _group(np.asarray(found, dtype=np.int64), np.asarray(seconds, dtype=np.float64))


def event_series(session: Session, limit: int = CADENCE_EVENTS_PER_ASSET,
                 ids: Collection[int] | None = None) -> dict[int, np.ndarray]:
    """The live (non-backfill) ones among each active asset's newest ``limit`` event times, ascending epoch seconds, by
    asset id; only of the assets ``ids`` when given."""
    if ids is not None and not ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        try:
            return _series_postgres(session, limit, ids)
        except CopyFormatError:
            pass
    return _series_rows(session, limit, ids)


class DatabaseEvents(EventTableReader):
    """The event table as the cadence cache reads it, through one request's session."""

    def series(self, ids: Collection[int] | None) -> dict[int, np.ndarray]:
        return event_series(self.session, ids=ids)

    def excluded(self, ids: Collection[int] | None) -> dict[int, int]:
        return backfill_events_excluded(self.session, ids=ids)


@dataclass
class _Judged:
    """One asset's model as last judged; its interval history kept as an array (a tuple of floats costs 4x more)."""

    model: CadenceModel  # without its intervals
    intervals: np.ndarray
    first: float | None  # the epoch seconds of the oldest event judged
    excluded: int  # backfill events left out of its newest ``CADENCE_EVENTS_PER_ASSET``

    def at(self, now: datetime, with_intervals: bool) -> CadenceModel:
        """The model at ``now`` (built field by field: ``dataclasses.replace`` was 1.3 s of 100,000 assets)."""
        m = self.model
        return CadenceModel(m.events, m.typical_interval, m.spread, m.pattern, m.last_change, m.changes,
                            tuple(self.intervals.tolist()) if with_intervals else (), m.last_event,
                            now - m.last_event if m.last_event is not None else None)


@dataclass
class CadenceCache:
    """What the previous request judged, per active asset id, and the watermark it read (one per api-server
    process; requests take turns)."""

    database: str | None = None
    watermark: EventWatermark | None = None
    assets: dict[int, _Judged] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cold_reads: int = 0  # requests that judged every asset (for the tests)
    judged_assets: int = 0  # assets the latest request read and judged

    def judged(self, events: DatabaseEvents, active: Collection[int]) -> dict[int, _Judged]:
        """Every active asset's judgement, re-reading only what changed since the previous request.

        The watermark is read first: whatever commits while the series are read shows next time as newer ids, or as
        a changed count below the watermark (then everything is judged again)."""
        with self.lock:
            same_database = events.database == self.database
            watermark, unchanged = events.watermark(self.watermark if same_database else None)
            active = list(active)
            if unchanged:
                stale = ((events.assets_with_events_after(self.watermark.newest) & set(active))
                         | (set(active) - self.assets.keys()))
            else:
                stale, self.cold_reads = set(active), self.cold_reads + 1
            ids = stale if len(stale) < len(active) else None  # None: every active asset, in one read
            series = events.series(ids) if stale else {}
            excluded = events.excluded(ids) if stale else {}
            models = describe_many({i: series.get(i, np.empty(0)) for i in stale})
            self.assets = {i: _judgement(models[i], series.get(i), excluded.get(i, 0)) if i in stale
                           else self.assets[i] for i in active}
            self.database, self.watermark, self.judged_assets = events.database, watermark, len(stale)
            return self.assets


def _judgement(model: CadenceModel, series: np.ndarray | None, excluded: int) -> _Judged:
    first = float(series[0]) if series is not None and len(series) else None
    return _Judged(replace(model, intervals=()), np.asarray(model.intervals, dtype=np.float64), first, excluded)


CACHE = CadenceCache()


def cadence_from_db(session: Session, now: datetime, sla_board=None, *, intervals: bool = True,
                    changed_only: bool = False, cache: CadenceCache = CACHE) -> list[CadenceReport]:
    """One report per active asset, changed assets first, with the seam report for those; only the changed assets'
    with ``changed_only`` (every asset is judged all the same; the others' reports are not built).

    ``sla_board`` (a callable returning an :class:`SLABoard`) names downstream SLAs at risk; it is only called when a
    changed asset has consumers. ``intervals=False`` leaves unchanged assets' interval histories out."""
    from airflow.models.asset import AssetActive, AssetModel

    rows = session.execute(
        select(AssetModel.id, AssetModel.name, cast(AssetModel.extra, Text).label("extra"))
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
    ).all()
    names = {asset_id: name for asset_id, name, _ in rows}
    judged = cache.judged(DatabaseEvents(session), list(names))
    changed = {i for i in names if judged[i].model.last_change is not None}
    reported = {i: names[i] for i in changed} if changed_only else names
    owners = {asset_id: _owners(name, extra) for asset_id, name, extra in rows if asset_id in reported}
    models = {name: judged[i].at(now, intervals or i in changed) for i, name in reported.items()}
    first = {i: judged[i].first for i in changed}
    impacts = _seam_reports(session, now, changed, names, models, first, sla_board) if changed else {}
    reports = [CadenceReport(name, owners[i], models[name], impacts.get(i, ()), judged[i].excluded)
               for i, name in reported.items()]
    return sorted(reports, key=lambda r: (r.change is None, r.asset))


def backfill_events_excluded(session: Session, limit: int = CADENCE_EVENTS_PER_ASSET,
                             ids: Collection[int] | None = None) -> dict[int, int]:
    """How many of each asset's newest ``limit`` events came from backfill runs (left out of its cadence), as the
    REST path counts them; only of the assets ``ids`` when given. Only assets with any backfill event are ranked:
    usually few, and none at all costs one scan of the event table."""
    from airflow.models.asset import AssetEvent as EventRow

    if ids is not None and not ids:
        return {}
    from_backfill = EventRow.source_run_id.like(BACKFILL_RUN_LIKE, escape="\\")
    touched = select(EventRow.asset_id).where(from_backfill)
    if ids is not None:
        touched = touched.where(EventRow.asset_id.in_(ids))
    touched = touched.distinct()
    rank = func.row_number().over(partition_by=EventRow.asset_id, order_by=EventRow.timestamp.desc()).label("rn")
    ranked = (select(EventRow.asset_id, EventRow.source_run_id, rank)
              .where(EventRow.asset_id.in_(touched)).subquery())
    rows = session.execute(
        select(ranked.c.asset_id, func.count())
        .where(ranked.c.rn <= limit, ranked.c.source_run_id.like(BACKFILL_RUN_LIKE, escape="\\"))
        .group_by(ranked.c.asset_id))
    return {asset_id: count for asset_id, count in rows}


_owners_cache: dict[tuple[str, str], tuple[str, ...]] = {}


def _owners(name: str, extra_text: str | None) -> tuple[str, ...]:
    """``asset_owners`` of an asset row, cached by its declaration (10,000 assets rarely change between requests)."""
    key = (name, extra_text or "")
    found = _owners_cache.get(key)
    if found is None:
        if len(_owners_cache) > 200_000:  # declarations that changed leave stale keys behind: start afresh
            _owners_cache.clear()
        found = _owners_cache[key] = asset_owners(Asset(name, name, extra=extra_from_text(extra_text)))
    return found


def _seam_reports(session: Session, now: datetime, changed: set[int], names: dict[int, str], models: dict,
                  first_seconds: dict[int, float | None], sla_board) -> dict[int, tuple]:
    """The consumer impacts of the changed assets (a handful, normally), in a few small queries."""
    from airflow.models.asset import AssetModel, DagScheduleAssetReference, TaskOutletAssetReference
    from airflow.models.asset import AssetEvent as EventRow
    from airflow.models.asset import association_table as consumed
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun

    consumers: dict[int, list[str]] = defaultdict(list)
    for asset_id, dag_id in session.execute(select(DagScheduleAssetReference.asset_id, DagScheduleAssetReference.dag_id)
                                            .where(DagScheduleAssetReference.asset_id.in_(changed))):
        consumers[asset_id].append(dag_id)
    consumed_assets = set(consumers)  # only these need runs and consumed events
    dag_ids = {d for ds in consumers.values() for d in ds}
    outputs: dict[str, list[int]] = defaultdict(list)
    for asset_id, dag_id in session.execute(select(TaskOutletAssetReference.asset_id, TaskOutletAssetReference.dag_id)
                                            .where(TaskOutletAssetReference.dag_id.in_(dag_ids)).distinct()):
        outputs[dag_id].append(asset_id)
    wanted = changed | {a for ids in outputs.values() for a in ids}
    assets = {row.id: Asset(row.name, row.name, extra=extra_from_text(row.extra), id=row.id) for row in session.execute(
        select(AssetModel.id, AssetModel.name, cast(AssetModel.extra, Text).label("extra"))
        .where(AssetModel.id.in_(wanted)))}
    dag_owners = {d: tuple(o.strip() for o in (owners or "").split(",") if o.strip()) for d, owners in
                  session.execute(select(DagModel.dag_id, DagModel.owners).where(DagModel.dag_id.in_(dag_ids)))}
    earliest = min((models[names[i]].last_change.at for i in consumed_assets), default=now) - BASELINE
    runs: dict[str, list[DagRunModel]] = defaultdict(list)
    for row in session.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_type, DagRun.start_date,
                                      DagRun.end_date, DagRun.run_after)
                               .where(DagRun.dag_id.in_(dag_ids), DagRun.run_after >= earliest)):
        runs[row.dag_id].append(DagRunModel(row.dag_id, row.run_id, str(getattr(row.state, "value", row.state)),
                                            str(getattr(row.run_type, "value", row.run_type)), None,
                                            start_date=row.start_date, end_date=row.end_date,
                                            run_after=row.run_after))
    events: dict[int, dict[int, AssetEvent]] = defaultdict(dict)
    query = (select(EventRow.id, EventRow.asset_id, EventRow.timestamp, EventRow.source_run_id, DagRun.dag_id,
                    DagRun.run_id)
             .outerjoin(consumed, consumed.c.event_id == EventRow.id)
             .outerjoin(DagRun, DagRun.id == consumed.c.dag_run_id)
             .where(EventRow.asset_id.in_(consumed_assets), EventRow.timestamp >= earliest))
    for row in session.execute(query) if consumed_assets else ():
        if row.source_run_id and row.source_run_id.startswith(BACKFILL_RUN_PREFIX):
            continue
        known = events[row.asset_id].get(row.id) or AssetEvent(names[row.asset_id], row.timestamp,
                                                               source_run_id=row.source_run_id)
        by = known.consumed_by + (((row.dag_id, row.run_id),) if row.dag_id else ())
        events[row.asset_id][row.id] = AssetEvent(known.asset, known.timestamp, source_run_id=known.source_run_id,
                                                  consumed_by=by)
    board: list[SLABoard] = []

    def at_risk(dag_id: str) -> tuple[str, ...]:
        if sla_board is None:
            return ()
        if not board:
            board.append(sla_board())
        produced = {assets[a].name for a in outputs.get(dag_id, []) if a in assets}
        return tuple(f"{s.sla.asset} ({s.status.replace('_', ' ')})" for s in board[0].statuses
                     if s.sla.asset in produced and s.status in ("at_risk", "late"))

    found = {}
    for asset_id in changed:
        change = models[names[asset_id]].last_change
        history = sorted(events[asset_id].values(), key=lambda e: e.timestamp)
        oldest = first_seconds.get(asset_id)
        first = datetime.fromtimestamp(oldest, timezone.utc) if oldest is not None else None
        impacts = tuple(
            seam_impact(dag_id, tuple(dict.fromkeys(
                o for a in outputs.get(dag_id, []) if a in assets for o in asset_owners(assets[a])))
                or dag_owners.get(dag_id, ()), change.at, now, runs[dag_id], history, first, at_risk(dag_id),
                tuple(sorted(assets[a].name for a in outputs.get(dag_id, []) if a in assets)))
            for dag_id in sorted(consumers[asset_id]))
        found[asset_id] = impacts
    return found
