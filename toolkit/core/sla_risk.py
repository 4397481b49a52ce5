"""Which freshness SLAs a backfill endangers, pure: the plan's pool occupancy over time against the producers' usual runs.

A backfill holds up to its budget of a pool's slots from its start until its ETA. The producer of an asset with an
SLA, if it needs more of that pool than the backfill leaves, runs slower (its tasks go in waves) or not at all (no
slot left) while the backfill runs. This module predicts, for each upcoming deadline whose producer run overlaps the
backfill, when that run would finish with and without the backfill, and reports the SLAs the backfill alone would
push past a deadline, with the fixes: a smaller budget (the same thing as a larger reserve) or a later start.

The model is the planner's own: a run's duration is the p90 of recent runs, a DAG's backfill occupies
``min(budget, runs at a time × slots per run)`` for its p90 ETA, and DAGs start when their upstream DAGs finish, as a
launch starts them. Other production work in the pool is not modelled: the reserve is assumed to be the producer's.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from toolkit.core.freshness import deadlines_around, expectation_for
from toolkit.core.humanize import format_duration, format_moment
from toolkit.errors import Remedy
from toolkit.sla import SLA

HISTORY_RUNS = 20  # the producer's recent runs that say when it usually starts
HORIZON_DEADLINES = 400  # at most this many deadlines of one SLA are checked against one backfill
LATER_STARTS = 10  # how many deadlines a later start may step over before "start later" is no fix


@dataclass(frozen=True)
class Occupancy:
    """One DAG's backfill: the slots it holds in each pool from ``start`` to ``end`` (its p90 ETA)."""

    dag_id: str
    start: datetime
    end: datetime
    slots: dict[str, int]


@dataclass(frozen=True)
class Producer:
    """An SLA's producing DAG: what it needs of each pool, how long it takes, and when it started lately."""

    dag_id: str
    pool_demand: dict[str, int]  # slots one run needs at its widest point
    p90_seconds: float | None
    starts: tuple[datetime, ...]  # start times of its recent runs that were not backfills


@dataclass(frozen=True)
class Fix:
    """One way to keep an SLA out of risk. ``kind``: ``budget`` (hold at most ``slots`` of ``pool``; the same as a
    reserve of ``pool_slots - slots``), or ``start_after`` (launch at or after ``at``)."""

    kind: str
    pool: str | None = None
    slots: int | None = None
    reserve: int | None = None
    at: datetime | None = None

    @property
    def remedy(self) -> str:
        """The edges' name for this fix (each says it with its own flag or key)."""
        return Remedy.SMALLER_BUDGET if self.kind == "budget" else Remedy.START_LATER

    @property
    def remedy_args(self) -> dict:
        if self.kind == "budget":
            return {"pool": self.pool, "slots": self.slots, "reserve": self.reserve}
        return {"at": self.at.isoformat(timespec="minutes")}

    @property
    def text(self) -> str:
        if self.kind == "budget":
            return (f"hold at most {self.slots} slot(s) of {self.pool} for the backfill, keeping {self.reserve} "
                    "for production")
        return f"start the backfill at or after {format_moment(self.at)}"


@dataclass(frozen=True)
class SlaRisk:
    """An SLA the backfill would move to at risk: the producer run of one deadline, with and without the backfill."""

    asset: str
    sla: str
    owners: tuple[str, ...]
    producer: str
    pools: tuple[str, ...]  # the pools where the backfill leaves the producer too few slots
    deadline: datetime  # for a max_lag SLA: when the lag would pass warn_after
    run_start: datetime  # the producer's usual start for this deadline
    finish_without: datetime
    finish_with: datetime
    fixes: tuple[Fix, ...]

    @property
    def window(self) -> tuple[datetime, datetime]:
        """When the backfill must leave the producer its slots: from its usual start to the deadline."""
        return self.run_start, self.deadline

    @property
    def text(self) -> str:
        return (f"{self.asset} ({self.sla}): {self.producer} usually starts at {format_moment(self.run_start)} and "
                f"would finish around {format_moment(self.finish_with)} instead of "
                f"{format_moment(self.finish_without)}, {format_duration(self.finish_with - self.deadline)} after "
                f"the deadline {format_moment(self.deadline)}: the backfill leaves it too few slots of "
                f"{', '.join(self.pools)}")


def occupancy_schedule(start: datetime, dags: list[tuple[str, tuple[str, ...], float | None, dict[str, int]]],
                       budgets: dict[str, int]) -> list[Occupancy]:
    """When each DAG of a plan runs and what it holds. ``dags``: (dag_id, upstream dag_ids, p90 ETA in seconds,
    slots it holds per pool: runs at a time × slots per run), in dependency order, as a launch runs them. A DAG
    without an ETA (no history) holds its slots for no time: it cannot be placed, so it endangers nothing here."""
    ends: dict[str, datetime] = {}
    schedule = []
    for dag_id, upstream, eta, slots in dags:
        begins = max([start, *(ends[u] for u in upstream if u in ends)])
        ends[dag_id] = begins + timedelta(seconds=eta or 0.0)
        held = {pool: min(n, budgets.get(pool, n)) for pool, n in slots.items() if n > 0}
        schedule.append(Occupancy(dag_id, begins, ends[dag_id], held))
    return schedule


def held(schedule: list[Occupancy], pool: str, moment: datetime, budget: int | None = None) -> int:
    """Slots of ``pool`` the backfill holds at ``moment``: its DAGs' sum, never more than the pool's budget."""
    total = sum(o.slots.get(pool, 0) for o in schedule if o.start <= moment < o.end)
    return min(total, budget) if budget is not None else total


def finish_time(start: datetime, seconds: float, producer: Producer, schedule: list[Occupancy],
                pool_sizes: dict[str, int], budgets: dict[str, int]) -> datetime:
    """When a producer run started at ``start`` finishes while the backfill holds its slots.

    The run progresses at full speed while the pools leave it what it needs at its widest point, at
    ``1 / ceil(needed / left)`` (its tasks go in waves) while fewer are left, and not at all while none is left."""
    edges = sorted({t for o in schedule for t in (o.start, o.end) if t > start})
    moment, work = start, seconds
    for edge in [*edges, None]:
        rate = _rate(producer, schedule, pool_sizes, budgets, moment)
        span = (edge - moment).total_seconds() if edge is not None else math.inf
        if rate > 0 and work <= span * rate:
            return moment + timedelta(seconds=work / rate)
        work -= span * rate
        moment = edge
    raise AssertionError("unreachable: after the last edge the backfill holds nothing")


def _rate(producer: Producer, schedule: list[Occupancy], pool_sizes: dict[str, int], budgets: dict[str, int],
          moment: datetime) -> float:
    rate = 1.0
    for pool, need in producer.pool_demand.items():
        size = pool_sizes.get(pool, -1)
        if need <= 0 or size < 0:  # an unlimited pool never runs short
            continue
        left = size - held(schedule, pool, moment, budgets.get(pool))
        if left < need:
            rate = min(rate, 0.0 if left <= 0 else 1 / math.ceil(need / left))
    return rate


def usual_lead(sla: SLA, starts: tuple[datetime, ...]) -> timedelta | None:
    """How long before a deadline the producer usually starts the run that meets it: the median over its recent
    runs that started inside a deadline's window (after the data it must deliver could exist)."""
    leads = []
    for began in sorted(starts)[-HISTORY_RUNS:]:
        _, following = deadlines_around(sla.cron, sla.timezone, began)
        since = expectation_for(sla, following).updated_since
        if since is None or began >= since:
            leads.append(following - began)
    return statistics.median(leads) if leads else None


def usual_gap(starts: tuple[datetime, ...]) -> timedelta | None:
    """The producer's usual interval between runs: the median of its recent gaps."""
    ordered = sorted(starts)[-HISTORY_RUNS:]
    gaps = [b - a for a, b in zip(ordered, ordered[1:]) if b > a]
    return statistics.median(gaps) if gaps else None


def _deadline_runs(sla: SLA, producer: Producer, schedule: list[Occupancy]):
    """(deadline, usual start) of each deadline whose producer run may overlap the backfill."""
    lead = usual_lead(sla, producer.starts)
    if lead is None:
        return
    first, last = min(o.start for o in schedule), max(o.end for o in schedule)
    _, deadline = deadlines_around(sla.cron, sla.timezone, first)
    for _ in range(HORIZON_DEADLINES):
        run_start = deadline - lead
        if run_start >= last:
            return
        yield deadline, run_start
        deadline = _next_deadline(sla, deadline)


def _next_deadline(sla: SLA, deadline: datetime) -> datetime:
    return deadlines_around(sla.cron, sla.timezone, deadline)[1]


def _lag_runs(sla: SLA, producer: Producer, schedule: list[Occupancy]):
    """(moment the lag passes warn_after, usual start) of each producer run that starts while the backfill runs."""
    gap = usual_gap(producer.starts)
    if gap is None or not producer.starts or gap >= sla.warn_after:
        return
    first, last = min(o.start for o in schedule), max(o.end for o in schedule)
    run_start = max(producer.starts)
    if run_start < first:
        run_start += gap * math.ceil((first - run_start) / gap)
    for _ in range(HORIZON_DEADLINES):
        if run_start >= last:
            return
        # the previous run finished about one gap before this one does: the lag reaches warn_after then
        previous_finish = run_start - gap + timedelta(seconds=producer.p90_seconds)
        yield previous_finish + sla.warn_after, run_start
        run_start += gap


def risks(slas: list[tuple[SLA, Producer]], schedule: list[Occupancy], pool_sizes: dict[str, int],
          budgets: dict[str, int], with_fixes: bool = True) -> list[SlaRisk]:
    """The SLAs the backfill alone would move to at risk, the earliest deadline of each (one risk per SLA).

    ``pool_sizes``: each pool's configured slots (-1: unlimited); ``budgets``: the backfill budget of each pool."""
    schedule = [o for o in schedule if o.end > o.start and o.slots]
    if not schedule:
        return []
    found = []
    for sla, producer in slas:
        if producer.p90_seconds is None or not set(producer.pool_demand) & {p for o in schedule for p in o.slots}:
            continue
        runs = _deadline_runs(sla, producer, schedule) if sla.kind == "deadline" else _lag_runs(sla, producer, schedule)
        for deadline, run_start in runs:
            risk = _risk_at(sla, producer, schedule, pool_sizes, budgets, deadline, run_start)
            if risk is not None:
                if with_fixes:
                    risk = replace(risk, fixes=_fixes(sla, producer, schedule, pool_sizes, budgets, risk))
                found.append(risk)
                break
    return sorted(found, key=lambda r: (r.deadline, r.asset, r.sla))


def _risk_at(sla: SLA, producer: Producer, schedule: list[Occupancy], pool_sizes: dict[str, int],
             budgets: dict[str, int], deadline: datetime, run_start: datetime) -> SlaRisk | None:
    seconds = producer.p90_seconds
    without = run_start + timedelta(seconds=seconds)
    if without > deadline:  # late without the backfill: the SLA board says so, the backfill is not the cause
        return None
    finish = finish_time(run_start, seconds, producer, schedule, pool_sizes, budgets)
    if finish <= deadline:
        return None
    moments = [run_start, *(o.start for o in schedule if run_start < o.start < finish)]
    short = tuple(sorted(p for p, need in producer.pool_demand.items() if pool_sizes.get(p, -1) >= 0 and any(
        pool_sizes[p] - held(schedule, p, m, budgets.get(p)) < need for m in moments)))
    return SlaRisk(sla.asset, sla.name, sla.owners, producer.dag_id, short, deadline, run_start, without, finish, ())


def _fixes(sla: SLA, producer: Producer, schedule: list[Occupancy], pool_sizes: dict[str, int],
           budgets: dict[str, int], risk: SlaRisk) -> tuple[Fix, ...]:
    deadline, run_start = risk.deadline, risk.run_start
    fixes = []
    for pool in risk.pools:
        for smaller in range(budgets[pool] - 1, 0, -1):  # the largest budget that still meets the deadline
            trial = {**budgets, pool: smaller}
            if finish_time(run_start, producer.p90_seconds, producer, schedule, pool_sizes, trial) <= deadline:
                fixes.append(Fix("budget", pool, smaller, pool_sizes[pool] - smaller))
                break
    later = _later_start(sla, producer, schedule, pool_sizes, budgets, deadline)
    if later is not None:
        fixes.append(Fix("start_after", at=later))
    return tuple(fixes)


def _later_start(sla: SLA, producer: Producer, schedule: list[Occupancy], pool_sizes: dict[str, int],
                 budgets: dict[str, int], deadline: datetime) -> datetime | None:
    """The first deadline after which the whole backfill endangers this SLA no more; None when a backfill this long
    overlaps every one of the next deadlines (only a smaller budget helps then)."""
    start = deadline
    for _ in range(LATER_STARTS):
        still = risks([(sla, producer)], shifted(schedule, start), pool_sizes, budgets, with_fixes=False)
        if not still:
            return start
        start = still[0].deadline
    return None


def shifted(schedule: list[Occupancy], start: datetime) -> list[Occupancy]:
    """The same backfill launched at ``start`` instead."""
    delta = start - min(o.start for o in schedule)
    return [Occupancy(o.dag_id, o.start + delta, o.end + delta, o.slots) for o in schedule]
