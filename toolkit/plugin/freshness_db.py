"""The SLA board computed inside Airflow's api-server from the metadata database, in a few set-based queries.

Paging the public REST API costs one request per asset (events) and two per producing DAG. Here it is four queries
whatever the number of assets:

1. assets and their ``extra``;
2. the latest events of every watched asset (``LATERAL … LIMIT`` on the ``(asset_id, timestamp)`` index on
   PostgreSQL; a window function elsewhere);
3. producers, and the assets their DAGs are scheduled on;
4. the latest run and the recent successful durations of each producing DAG.

The judging is the same pure ``toolkit.freshness`` the CLI uses.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, func, select, true
from sqlalchemy.orm import Session

from toolkit.freshness import ProducerRun, assets_to_read, evaluate_all
from toolkit.models import AssetEvent as Event
from toolkit.models import DagRun as DagRunModel
from toolkit.planning import estimate_durations
from toolkit.sla import SLA, InvalidSLA, parse_slas
from toolkit.sla_board import SLABoard, sorted_statuses

EVENTS_PER_ASSET = 10  # the newest events decide; older ones only matter when the newest fail the checks
DURATION_SAMPLES = 30


def _row_count(extra: object) -> int | None:
    value = extra.get("row_count") if isinstance(extra, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _latest_events(session: Session, asset_ids: list[int]) -> list:
    from airflow.models.asset import AssetEvent, AssetModel

    columns = (AssetEvent.asset_id, AssetEvent.timestamp, AssetEvent.partition_key, AssetEvent.source_dag_id,
               AssetEvent.source_run_id, AssetEvent.extra)
    if session.get_bind().dialect.name == "postgresql":
        recent = (select(*columns).where(AssetEvent.asset_id == AssetModel.id)
                  .order_by(AssetEvent.timestamp.desc()).limit(EVENTS_PER_ASSET).lateral())
        query = select(recent).select_from(AssetModel).join(recent, true()).where(AssetModel.id.in_(asset_ids))
        return session.execute(query).all()
    rank = func.row_number().over(partition_by=AssetEvent.asset_id, order_by=AssetEvent.timestamp.desc()).label("rn")
    ranked = select(*columns, rank).where(AssetEvent.asset_id.in_(asset_ids)).subquery()
    return session.execute(select(*[ranked.c[c.key] for c in columns]).where(ranked.c.rn <= EVENTS_PER_ASSET)).all()


def _producer_runs(session: Session, dag_ids: set[str], upstream: dict[str, tuple[str, ...]]) -> dict[str, ProducerRun]:
    from airflow.models.dagrun import DagRun

    latest_rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.run_after.desc()).label("rn")
    latest = select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.start_date, latest_rank).where(
        DagRun.dag_id.in_(dag_ids)).subquery()
    newest = {r.dag_id: r for r in session.execute(select(latest).where(latest.c.rn == 1))}
    done_rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.end_date.desc()).label("rn")
    done = select(DagRun.dag_id, DagRun.start_date, DagRun.end_date, done_rank).where(
        and_(DagRun.dag_id.in_(dag_ids), DagRun.state == "success", DagRun.end_date.is_not(None))).subquery()
    durations: dict[str, list] = defaultdict(list)
    for row in session.execute(select(done).where(done.c.rn <= DURATION_SAMPLES)):
        durations[row.dag_id].append(row)
    runs = {}
    for dag_id in dag_ids:
        row = newest.get(dag_id)
        p90 = estimate_durations([DagRunModel(dag_id, "", "success", "", None, start_date=d.start_date,
                                              end_date=d.end_date) for d in durations[dag_id]]).p90
        runs[dag_id] = ProducerRun(
            dag_id=dag_id,
            state=str(getattr(row.state, "value", row.state)) if row else None,
            run_id=row.run_id if row else None,
            start_date=row.start_date if row else None,
            p90_seconds=p90,
            upstream_assets=upstream.get(dag_id, ()),
        )
    return runs


def board_from_db(session: Session, now: datetime) -> SLABoard:
    from airflow.models.asset import AssetActive, AssetModel, DagScheduleAssetReference, TaskOutletAssetReference

    # Active assets only, as GET /api/v2/assets lists them by default.
    assets = session.execute(
        select(AssetModel.id, AssetModel.name, AssetModel.extra, AssetModel.created_at)
        .join(AssetActive, and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
    ).all()
    slas: list[SLA] = []
    invalid: list[InvalidSLA] = []
    for asset in assets:
        for found in parse_slas(asset.name, asset.extra):
            (slas if isinstance(found, SLA) else invalid).append(found)
    name_of = {a.id: a.name for a in assets}
    id_of = {a.name: a.id for a in assets}
    producers_of: dict[str, list[str]] = defaultdict(list)
    for ref in session.execute(select(TaskOutletAssetReference.asset_id, TaskOutletAssetReference.dag_id).distinct()):
        producers_of[name_of.get(ref.asset_id, "")].append(ref.dag_id)
    scheduled_on: dict[str, list[str]] = defaultdict(list)
    for ref in session.execute(select(DagScheduleAssetReference.asset_id, DagScheduleAssetReference.dag_id)):
        scheduled_on[ref.dag_id].append(name_of.get(ref.asset_id, ""))
    needed = assets_to_read([s.asset for s in slas], set(id_of), producers_of, scheduled_on)
    events: dict[str, list[Event]] = defaultdict(list)
    for row in _latest_events(session, [id_of[n] for n in needed]):
        name = name_of[row.asset_id]
        events[name].append(Event(name, row.timestamp, row.partition_key, row.source_dag_id, row.source_run_id,
                                  _row_count(row.extra)))
    first_producer = {name: sorted(producers_of[name])[0] for name in needed if producers_of.get(name)}
    runs = _producer_runs(session, set(first_producer.values()),
                          {d: tuple(sorted(a)) for d, a in scheduled_on.items()}) if first_producer else {}
    producers = {name: runs[dag_id] for name, dag_id in first_producer.items()}
    known_since = {a.name: a.created_at for a in assets if a.name in needed}
    statuses = evaluate_all(slas, dict(events), now, producers, known_since)
    return SLABoard(now, sorted_statuses(statuses), tuple(invalid))
