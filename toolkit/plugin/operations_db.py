"""Active backfills, pool occupancy and pool carving, in Airflow's metadata database.

A few grouped queries whatever the number of runs or task instances; the judging is the same pure
``toolkit.core.throttle.occupancy`` the terminal app and the governor use. :func:`carve_pool` is the one write the
governor makes to pools: both pools of a carve in one transaction, only if nobody changed them meanwhile.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from toolkit.core.planning import PLAN_TAG
from toolkit.models import BACKFILL_RUN_LIKE
from toolkit.core.throttle import (
    COMPANION_DESCRIPTION,
    OCCUPYING,
    PENDING,
    WAITING,
    ThrottlePolicy,
    companion_of,
    occupancy,
)

NOT_STARTED = (None, "scheduled", "up_for_retry", "up_for_reschedule")  # task instances that hold no slot yet


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def active_backfills(session: Session, readable_dag_ids: set[str]) -> list[dict]:
    """Backfills not completed yet, of the readable DAGs, newest first, with their runs counted by state."""
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun

    if not readable_dag_ids:
        return []
    backfills = session.execute(
        select(Backfill.id, Backfill.dag_id, Backfill.from_date, Backfill.to_date, Backfill.is_paused,
               Backfill.created_at, Backfill.reprocess_behavior, Backfill.max_active_runs, Backfill.dag_run_conf)
        .where(Backfill.completed_at.is_(None), Backfill.dag_id.in_(readable_dag_ids))
        .order_by(Backfill.id.desc())
    ).all()
    if not backfills:
        return []
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(DagRun.backfill_id, DagRun.state, func.count())
        .where(DagRun.backfill_id.in_([b.id for b in backfills]))
        .group_by(DagRun.backfill_id, DagRun.state)
    ).all()
    for backfill_id, state, count in rows:
        counts[backfill_id][str(state)] = count
    found = []
    for b in backfills:
        states = counts.get(b.id, {})
        tag = (b.dag_run_conf or {}).get(PLAN_TAG) if isinstance(b.dag_run_conf, dict) else None
        found.append({
            "id": b.id, "dag_id": b.dag_id, "from_date": _iso(b.from_date), "to_date": _iso(b.to_date),
            "is_paused": bool(b.is_paused), "created_at": _iso(b.created_at),
            "reprocess_behavior": str(b.reprocess_behavior), "max_active_runs": b.max_active_runs,
            "total": sum(states.values()), "success": states.get("success", 0), "failed": states.get("failed", 0),
            "running": states.get("running", 0), "queued": states.get("queued", 0),
            "afkit_plan": tag.get("plan_id") if isinstance(tag, dict) else None,
            "dag_run_conf": b.dag_run_conf if isinstance(b.dag_run_conf, dict) else {},
        })
    return found


def set_backfill_paused(session: Session, backfill_id: int, paused: bool) -> dict:
    """What Airflow's own pause/unpause does; LookupError when there is no such backfill, ValueError when done."""
    from airflow.models.backfill import Backfill

    backfill = session.get(Backfill, backfill_id)
    if backfill is None:
        raise LookupError(f"backfill {backfill_id} does not exist")
    if backfill.completed_at is not None:
        raise ValueError(f"backfill {backfill_id} is already completed")
    backfill.is_paused = paused
    session.flush()
    return {"id": backfill_id, "dag_id": backfill.dag_id, "is_paused": paused}


def slot_usage(session: Session, carved: frozenset[str] = frozenset()) -> dict:
    """Every pool's size and the slots its task instances hold or wait for, grouped by pool, state, DAG and whether
    the run is a backfill's: what the operator side's governor, pools pane and ``core.throttle.occupancy`` sum, in one
    grouped query (``core.plugin_api.occupancy_from_dict`` reads it back).

    For the ``carved`` pools (this Airflow's cluster policy routes their backfill task instances to a companion) it
    also names each companion and counts, as state ``pending``, the companion's task instances that will ask for a
    slot soon (no state yet, or waiting to retry) in running runs and in queued runs of unpaused backfills: the
    governor gives the share to them as soon as a backfill is created, before its first task is scheduled.
    """
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.models.pool import Pool as PoolModel
    from airflow.models.taskinstance import TaskInstance as TI

    pools = [{"pool": name, "slots": slots, "include_deferred": bool(deferred), "description": description}
             for name, slots, deferred, description in session.execute(
                 select(PoolModel.pool, PoolModel.slots, PoolModel.include_deferred, PoolModel.description))]
    is_backfill = case((TI.run_id.like(BACKFILL_RUN_LIKE, escape="\\"), True), else_=False)
    grouped = session.execute(
        select(TI.pool, TI.state, TI.dag_id, is_backfill, func.sum(TI.pool_slots))
        .where(TI.state.in_([*OCCUPYING, *WAITING, "deferred"]))
        .group_by(TI.pool, TI.state, TI.dag_id, is_backfill)
    ).all()
    slots = [{"pool": pool, "state": str(state), "dag_id": dag_id, "backfill": bool(backfill),
              "slots": int(slots or 0)} for pool, state, dag_id, backfill, slots in grouped]
    companions = {name: companion_of(name) for name in sorted(carved)}
    if companions:
        starting = (DagRun.state == "running") | ((DagRun.state == "queued") & (Backfill.is_paused.is_(False)))
        pending = session.execute(
            select(TI.pool, TI.dag_id, is_backfill, func.sum(TI.pool_slots))
            .join(DagRun, (DagRun.dag_id == TI.dag_id) & (DagRun.run_id == TI.run_id))
            .outerjoin(Backfill, Backfill.id == DagRun.backfill_id)
            .where(TI.pool.in_(list(companions.values())), starting,
                   TI.state.is_(None) | TI.state.in_(["up_for_retry", "up_for_reschedule"]))
            .group_by(TI.pool, TI.dag_id, is_backfill)
        ).all()
        slots += [{"pool": pool, "state": PENDING[0], "dag_id": dag_id, "backfill": bool(backfill),
                   "slots": int(count or 0)} for pool, dag_id, backfill, count in pending]
    return {"pools": pools, "slots": slots, "carving": companions}


class CarveConflict(Exception):
    """The pools are not as the governor last saw them: someone else resized one; nothing was changed."""


def carve_pool(session: Session, pool: str, carved: frozenset[str], *, production_slots: int | None = None,
               companion_slots: int | None = None, expect_production: int | None = None,
               expect_companion: int | None = None) -> dict:
    """Set a carved pool's and its companion's slots together, creating the companion if it is missing, and route
    into the companion the backfill task instances that are still in the pool itself and have not started.

    The companion takes the pool's ``include_deferred`` and team, so both count slots alike. Slots are set only if
    the pools still have the ``expect_*`` slots (CarveConflict otherwise); the rows are locked for the check, as the
    scheduler locks them for its own accounting. Task instances that already hold a slot are never moved. Raises
    LookupError when the pool does not exist and ValueError when this Airflow does not carve it.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.pool import Pool as PoolModel
    from airflow.models.taskinstance import TaskInstance as TI
    from sqlalchemy import exists, update

    if pool not in carved:
        known = ", ".join(sorted(carved)) or "none"
        raise ValueError(f"pool {pool!r} is not carved by this Airflow (its afkit.toml carves: {known})")
    companion = companion_of(pool)
    rows = {row.pool: row for row in session.scalars(
        select(PoolModel).where(PoolModel.pool.in_([pool, companion])).with_for_update())}
    if pool not in rows:
        raise LookupError(f"pool {pool!r} does not exist")
    production = rows[pool]
    if companion not in rows:
        rows[companion] = PoolModel(pool=companion, slots=0, description=COMPANION_DESCRIPTION.format(pool=pool),
                                    include_deferred=production.include_deferred)
        if getattr(production, "team_name", None) is not None:
            rows[companion].team_name = production.team_name
        session.add(rows[companion])
    share = rows[companion]
    if production_slots is not None and companion_slots is not None:
        if (expect_production is not None and production.slots != expect_production) or \
                (expect_companion is not None and (share.slots or 0) != expect_companion):
            raise CarveConflict(f"pool {pool!r} has {production.slots} slot(s) and {companion!r} {share.slots}, not "
                                f"{expect_production} and {expect_companion}: changed by someone else")
        production.slots, share.slots = production_slots, companion_slots
    backfill_run = exists().where(DagRun.dag_id == TI.dag_id, DagRun.run_id == TI.run_id,
                                  DagRun.run_type == "backfill")
    not_started = TI.state.is_(None) | TI.state.in_([s for s in NOT_STARTED if s is not None])
    routed = session.execute(
        update(TI).where(TI.pool == pool, not_started, backfill_run).values(pool=companion)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    return {"pool": pool, "companion": companion, "production_slots": production.slots,
            "companion_slots": share.slots, "routed": int(routed or 0)}


def pool_occupancy(session: Session, policy: ThrottlePolicy, carved: frozenset[str] = frozenset()) -> list[dict]:
    """Every pool: slots, production and backfill occupancy, production waiting, reserve, budget, backfill share —
    judged from the same slot usage the operator side reads (``/occupancy``), by the same ``throttle.occupancy``."""
    from toolkit.core.plugin_api import occupancy_from_dict

    pools, instances = occupancy_from_dict(slot_usage(session, carved))
    return [{"pool": o.pool, "slots": o.slots, "production": o.production, "backfill": o.backfill,
             "waiting": o.waiting, "free": o.free if o.slots >= 0 else None, "reserve": o.reserve,
             "budget": o.budget, "backfill_share": round(o.backfill_share, 3), "over_budget": o.over_budget,
             "error": o.error}
            for o in occupancy(pools, instances, policy)]
