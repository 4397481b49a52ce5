"""What the page's pictures need from the metadata database: an asset's events in a window (its freshness timeline),
a backfill's runs (its progress over time), and one DAG's backfills, partitions and SLAs (the per-DAG view).

Reads only, a few small queries each; the pictures themselves are computed by the pure ``toolkit.core.pictures``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import Text, and_, cast, func, select
from sqlalchemy.orm import Session

from toolkit.core.freshness import EVENTS_PER_ASSET
from toolkit.core.pictures import (MAX_TIMELINE_EVENTS, BackfillRun, Progress, Timeline, backfill_progress,
                                   progress_to_dict, timeline)
from toolkit.core.planning import PLAN_TAG
from toolkit.core.sla_board import SLABoard, board_to_dict
from toolkit.models import AssetEvent as Event
from toolkit.plugin.freshness_db import _declared_slas, _row_count, _row_count_column, _timestamp, _utc
from toolkit.sla import SLA

MAX_TIMELINES = 20  # assets per /timelines request
DAG_BACKFILLS = 10  # newest backfills of a DAG in its view
DAG_PARTITIONS = 100  # newest runs of a DAG in its view


def _active_assets(session: Session, names: Collection[str]) -> list:
    from airflow.models.asset import AssetActive, AssetModel

    return session.connection().execute(
        select(AssetModel.id, AssetModel.name, cast(AssetModel.extra, Text).label("extra"),
               _timestamp(AssetModel.created_at, "created_at"))
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
        .where(AssetModel.name.in_(list(names)))
    ).all()


def _events(session: Session, name: str, asset_id: int, *conditions, newest: int) -> list[Event]:
    """Up to ``newest`` of the asset's newest events that meet ``conditions``, newest first."""
    from airflow.models.asset import AssetEvent

    dialect = session.get_bind().dialect.name
    rows = session.connection().execute(
        select(_timestamp(AssetEvent.timestamp, "timestamp"), AssetEvent.partition_key, AssetEvent.source_dag_id,
               AssetEvent.source_run_id, _row_count_column(dialect).label("row_count"))
        .where(AssetEvent.asset_id == asset_id, *conditions)
        .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc()).limit(newest)
    ).all()
    return [Event(name, _utc(r.timestamp), r.partition_key, r.source_dag_id, r.source_run_id, _row_count(r.row_count))
            for r in rows]


def timelines_from_db(session: Session, names: list[str], start: datetime, end: datetime) -> tuple[list[Timeline],
                                                                                                   list[str]]:
    """The freshness timeline of each named active asset over [start, end], in the order asked, and the names that
    are not active assets. Each reads at most ``MAX_TIMELINE_EVENTS`` events of the window (the newest: the window
    then starts at the oldest of them) and the ``EVENTS_PER_ASSET`` before it, which say what was fresh at its start,
    as the board judges from as many."""
    from airflow.models.asset import AssetEvent

    found = {row.name: row for row in _active_assets(session, names)}
    timelines = []
    for name in dict.fromkeys(names):
        row = found.get(name)
        if row is None:
            continue
        slas = [s for s in _declared_slas(name, row.extra) if type(s) is SLA]
        inside = _events(session, name, row.id, AssetEvent.timestamp >= start, AssetEvent.timestamp <= end,
                         newest=MAX_TIMELINE_EVENTS + 1)
        cut = len(inside) > MAX_TIMELINE_EVENTS
        window_start = inside[MAX_TIMELINE_EVENTS - 1].timestamp if cut else start
        inside = inside[:MAX_TIMELINE_EVENTS]
        before = _events(session, name, row.id, AssetEvent.timestamp < window_start, newest=EVENTS_PER_ASSET)
        timelines.append(timeline(name, slas, [*inside, *before], window_start, end, _utc(row.created_at), cut))
    return timelines, [n for n in dict.fromkeys(names) if n not in found]


def _runs_of_backfills(session: Session, backfill_ids: list[int]) -> dict[int, list[BackfillRun]]:
    from airflow.models.dagrun import DagRun

    runs: dict[int, list[BackfillRun]] = defaultdict(list)
    if not backfill_ids:
        return runs
    for backfill_id, state, start, end in session.execute(
            select(DagRun.backfill_id, DagRun.state, _timestamp(DagRun.start_date, "start_date"),
                   _timestamp(DagRun.end_date, "end_date")).where(DagRun.backfill_id.in_(backfill_ids))):
        runs[backfill_id].append(BackfillRun(str(getattr(state, "value", state)) if state is not None else None,
                                             _utc(start), _utc(end)))
    return runs


def _progress(row, runs: list[BackfillRun], now: datetime) -> Progress:
    until = _utc(row.completed_at) or now
    return backfill_progress(runs, min(_utc(row.created_at), until), until)


def _backfill_rows(session: Session, *conditions, limit: int | None = None) -> list:
    from airflow.models.backfill import Backfill

    query = select(Backfill.id, Backfill.dag_id, _timestamp(Backfill.from_date, "from_date"),
                   _timestamp(Backfill.to_date, "to_date"), Backfill.is_paused,
                   _timestamp(Backfill.created_at, "created_at"), _timestamp(Backfill.completed_at, "completed_at"),
                   Backfill.max_active_runs, Backfill.dag_run_conf).where(*conditions).order_by(Backfill.id.desc())
    return session.execute(query.limit(limit) if limit else query).all()


def _iso(moment: datetime | None) -> str | None:
    return _utc(moment).isoformat() if moment is not None else None


def _backfill_entry(row, runs: list[BackfillRun], now: datetime) -> dict:
    progress = _progress(row, runs, now)
    states: dict[str, int] = defaultdict(int)
    for run in runs:
        states[run.state or "none"] += 1
    tag = row.dag_run_conf.get(PLAN_TAG) if isinstance(row.dag_run_conf, dict) else None
    return {
        "id": row.id, "dag_id": row.dag_id, "from_date": _iso(row.from_date), "to_date": _iso(row.to_date),
        "is_paused": bool(row.is_paused), "created_at": _iso(row.created_at), "completed_at": _iso(row.completed_at),
        "max_active_runs": row.max_active_runs, "total": len(runs), "success": states["success"],
        "failed": states["failed"], "running": states["running"], "queued": states["queued"],
        "afkit_plan": tag.get("plan_id") if isinstance(tag, dict) else None,
        "progress": progress_to_dict(progress),
    }


def backfill_progress_from_db(session: Session, backfill_id: int, now: datetime) -> dict:
    """One backfill with its runs counted by state and its progress over time; LookupError when there is none."""
    from airflow.models.backfill import Backfill

    rows = _backfill_rows(session, Backfill.id == backfill_id)
    if not rows:
        raise LookupError(f"backfill {backfill_id} does not exist")
    return _backfill_entry(rows[0], _runs_of_backfills(session, [backfill_id])[backfill_id], now)


def produced_assets(session: Session, dag_id: str) -> list[str]:
    """The active assets the DAG's tasks produce (their outlets), by name."""
    from airflow.models.asset import AssetActive, AssetModel, TaskOutletAssetReference

    return sorted(set(session.scalars(
        select(AssetModel.name)
        .join(TaskOutletAssetReference, TaskOutletAssetReference.asset_id == AssetModel.id)
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
        .where(TaskOutletAssetReference.dag_id == dag_id))))


def _partitions(session: Session, dag_id: str, limit: int) -> list[dict]:
    """The DAG's newest runs, oldest first: each a partition (its key, or its logical date) and its state."""
    from airflow.models.dagrun import DagRun

    rows = session.execute(
        select(DagRun.run_id, DagRun.run_type, DagRun.state, DagRun.backfill_id, DagRun.partition_key,
               _timestamp(DagRun.logical_date, "logical_date"), _timestamp(DagRun.run_after, "run_after"),
               _timestamp(DagRun.start_date, "start_date"), _timestamp(DagRun.end_date, "end_date"))
        .where(DagRun.dag_id == dag_id)
        .order_by(func.coalesce(DagRun.logical_date, DagRun.run_after).desc(), DagRun.id.desc()).limit(limit)
    ).all()
    return [{
        "key": r.partition_key or _iso(r.logical_date) or _iso(r.run_after),
        "partition_key": r.partition_key, "logical_date": _iso(r.logical_date), "run_id": r.run_id,
        "run_type": str(getattr(r.run_type, "value", r.run_type)),
        "state": str(getattr(r.state, "value", r.state)) if r.state is not None else "none",
        "backfill_id": r.backfill_id, "start_date": _iso(r.start_date), "end_date": _iso(r.end_date),
    } for r in reversed(rows)]


def dag_overview(session: Session, dag_id: str, now: datetime, board: Callable[[], SLABoard]) -> dict:
    """One DAG's view: the assets it produces with their SLAs (entries of the SLA board ``board()`` computes, asked
    only when the DAG produces an asset), its newest backfills with their progress over time, and its newest runs as
    partitions. LookupError when the DAG does not exist."""
    from airflow.models.backfill import Backfill
    from airflow.models.dag import DagModel

    dag = session.execute(select(DagModel.dag_id, DagModel.is_paused).where(DagModel.dag_id == dag_id)).first()
    if dag is None:
        raise LookupError(f"DAG {dag_id!r} does not exist")
    assets = produced_assets(session, dag_id)
    mine = set(assets)
    judged = board() if assets else SLABoard(now, (), ())
    slas = board_to_dict(SLABoard(judged.evaluated_at, tuple(s for s in judged.statuses if s.sla.asset in mine),
                                  ()))["slas"]
    backfills = _backfill_rows(session, Backfill.dag_id == dag_id, limit=DAG_BACKFILLS)
    runs = _runs_of_backfills(session, [b.id for b in backfills])
    return {
        "dag_id": dag_id,
        "is_paused": bool(dag.is_paused),
        "evaluated_at": judged.evaluated_at.isoformat(),
        "assets": assets,
        "slas": slas,
        "backfills": [_backfill_entry(b, runs[b.id], now) for b in backfills],
        "partitions": _partitions(session, dag_id, DAG_PARTITIONS),
    }
