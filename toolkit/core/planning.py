"""Backfill planning, pure: data fetched from Airflow in, a :class:`Plan` out. No I/O, "now" is a parameter.

The plan says, for every DAG and partition in range, what Airflow will do and why. It applies the rules that Airflow
3.3 applies in ``airflow.models.backfill``:

- the latest run of a partition decides;
- a queued or running run is *in flight* and is never touched;
- ``none`` creates only missing partitions, ``failed`` also re-runs failed ones, and ``completed`` also re-runs
  successful ones.

The plan is then checked against ``POST /backfills/dry_run``: the runs it would create must be exactly the runs
Airflow says it would create.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from toolkit.core.humanize import format_duration  # noqa: F401  (planning's users import it from here)
from toolkit.errors import AfkitError, BadInput, Conflict, ExitCode, Remedy
from toolkit.models import Asset, Backfill, DagDetails, DagRun, DryRunInfo, Pool, Task
from toolkit.core.sla_risk import Producer, SlaRisk, occupancy_schedule, risks
from toolkit.core.throttle import PoolBudget, ThrottlePolicy, admit, budgets_for, deadlock_warnings
from toolkit.core.timeparse import PartitionSelection
from toolkit.sla import SLA

REPROCESS_BEHAVIOURS = ("none", "failed", "completed")
ORDERS = ("oldest", "newest")
IN_FLIGHT = frozenset({"queued", "running"})
# Runs Airflow itself put on the timetable; any other run (manual, asset-triggered) may sit off the schedule.
SCHEDULE_RUN_TYPES = frozenset({"scheduled", "backfill"})
SCHEDULER_LOOP_SECONDS = 5.0  # how often, roughly, the scheduler turns queued asset events into consumer runs
DEFAULT_MAX_ACTIVE_RUNS = 10  # Airflow's own default for a backfill
PLAN_TAG = "afkit"  # key of the tag afkit puts in each backfill's dag_run_conf: {"afkit": {"plan_id": …, "step": …}}


class PlanMismatch(AfkitError):
    """The plan and Airflow's dry run disagree: the plan would not describe what really happens."""

    exit_code = ExitCode.CONFLICT


@dataclass(frozen=True)
class PlanOptions:
    from_date: datetime
    to_date: datetime
    reprocess: str = "none"
    order: str = "oldest"
    max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS
    downstream: bool = False
    partitions: PartitionSelection | None = None
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    start_after: datetime | None = None  # the launch creates nothing before this instant (out of an SLA's window)

    def later(self, shape: list) -> list:
        """``shape`` (what identifies a plan or a request) with the start, when one is set: plans made before
        ``start_after`` existed keep their ids."""
        return [*shape, self.start_after.isoformat()] if self.start_after else shape

    def validate(self, now: datetime) -> None:
        if self.reprocess not in REPROCESS_BEHAVIOURS:
            raise BadInput(f"reprocess {self.reprocess!r}: choose one of {', '.join(REPROCESS_BEHAVIOURS)}")
        if self.order not in ORDERS:
            raise BadInput(f"order {self.order!r}: choose one of {', '.join(ORDERS)}")
        if self.max_active_runs < 1:
            raise BadInput(f"runs at a time {self.max_active_runs}: must be at least 1")
        if self.from_date > self.to_date:
            raise BadInput(
                f"the start {self.from_date.isoformat()} is after the end {self.to_date.isoformat()}: swap them"
            )
        if self.from_date >= now:
            raise BadInput(
                f"the range {self.from_date.isoformat()} … {self.to_date.isoformat()} is in the future "
                f"(now is {now.isoformat(timespec='seconds')}): there is nothing to backfill yet"
            )


@dataclass(frozen=True)
class PartitionRow:
    """One partition of one DAG: what exists in Airflow and what the backfill will do with it."""

    logical_date: datetime | None
    partition_key: str | None
    partition_date: datetime | None
    state: str  # "missing" or the state of the partition's latest run
    action: str  # create | rerun | skip
    reason: str
    run_id: str | None = None

    @property
    def label(self) -> str:
        return partition_label(self.partition_key, self.logical_date, self.partition_date) or "?"

    @property
    def runs(self) -> bool:
        return self.action in ("create", "rerun")


@dataclass(frozen=True)
class DurationEstimate:
    samples: int
    p50: float | None  # seconds
    p90: float | None

    @property
    def known(self) -> bool:
        return self.p50 is not None


@dataclass(frozen=True)
class Step:
    """One Airflow backfill the launch will create: a DAG and a contiguous range of its partitions."""

    dag_id: str
    index: int
    from_date: datetime
    to_date: datetime
    runs: int

    @property
    def key(self) -> str:
        return f"{self.dag_id}#{self.index}"


@dataclass(frozen=True)
class DagPlan:
    dag_id: str
    version: int | None
    is_paused: bool
    partitioned: bool
    depends_on_past: bool
    upstream: tuple[str, ...]
    added_by: str  # "selected" or "downstream of <dag>"
    partitions: tuple[PartitionRow, ...]
    steps: tuple[Step, ...]
    estimate: DurationEstimate
    pool_demand: dict[str, int]  # pool -> slots one run needs at its widest point
    concurrency: int
    concurrency_reason: str
    eta_p50: float | None
    eta_p90: float | None

    @property
    def run_count(self) -> int:
        return sum(p.runs for p in self.partitions)

    def count(self, action: str) -> int:
        return sum(p.action == action for p in self.partitions)


@dataclass(frozen=True)
class ConsumerImpact:
    """What an asset-triggered consumer will do while its upstream is backfilled (Airflow cannot backfill it)."""

    dag_id: str
    upstream_dags: tuple[str, ...]
    assets: tuple[str, ...]
    upstream_events: int
    expected_runs: int
    events_per_run: float
    partition_aware: bool
    is_paused: bool
    owners: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # assets its condition also waits for, which the backfill does not update

    @property
    def summary(self) -> str:
        if self.needs:
            text = (
                f"{self.dag_id} is asset-triggered by {', '.join(self.assets)} together with "
                f"{', '.join(self.needs)}: the backfill emits about {self.upstream_events} event(s) but none for "
                f"{', '.join(self.needs)}, so it triggers no run of {self.dag_id} until "
                f"{'that asset updates' if len(self.needs) == 1 else 'those assets update'} too (then one run "
                "batches the waiting events)"
            )
        else:
            text = (
                f"{self.dag_id} is asset-triggered by {', '.join(self.assets)}: the backfill emits about "
                f"{self.upstream_events} event(s), which will trigger about {self.expected_runs} run(s) of "
                f"{self.dag_id}, each batching about {self.events_per_run:g} event(s)"
            )
        if self.is_paused:
            text += "; it is paused, so its events will queue until it is unpaused"
        return text


@dataclass(frozen=True)
class Plan:
    airflow_url: str
    airflow_version: str
    created_at: datetime
    options: PlanOptions
    dags: tuple[DagPlan, ...]  # in dependency order
    impacts: tuple[ConsumerImpact, ...] = ()
    warnings: tuple[str, ...] = ()
    plan_id: str = ""
    budgets: tuple[PoolBudget, ...] = ()  # the backfill budget of every pool the plan uses
    sla_risks: tuple[SlaRisk, ...] = ()  # the SLAs the backfill would move to at risk (see core/sla_risk.py)

    @property
    def starts_at(self) -> datetime:
        """When the backfill is expected to start: its ``start_after``, else when it was planned."""
        start = self.options.start_after
        return start if start is not None and start > self.created_at else self.created_at

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(step for dag in self.dags for step in dag.steps)

    def dag(self, dag_id: str) -> DagPlan:
        return next(d for d in self.dags if d.dag_id == dag_id)


@dataclass(frozen=True)
class DagInputs:
    """Everything fetched from Airflow about one DAG in the plan."""

    details: DagDetails
    tasks: tuple[Task, ...]
    runs: tuple[DagRun, ...]  # existing runs whose partition lies in the range
    dry_run: tuple[DryRunInfo, ...]  # Airflow's dry run with the plan's options
    recent_successes: tuple[DagRun, ...] = ()
    active_backfills: tuple[Backfill, ...] = ()
    upstream: tuple[str, ...] = ()
    added_by: str = "selected"


@dataclass(frozen=True)
class AssetGraph:
    """Which DAG feeds which, through assets."""

    assets: tuple[Asset, ...] = field(default_factory=tuple)

    def produced_by(self, dag_id: str) -> list[Asset]:
        return [a for a in self.assets if dag_id in a.producing_dags]

    def consumers(self, dag_id: str) -> dict[str, list[str]]:
        """Consumer DAG -> names of the assets it gets from ``dag_id`` (scheduled on them or reading them)."""
        found: dict[str, list[str]] = {}
        for asset in self.produced_by(dag_id):
            for consumer in (*asset.scheduled_dags, *asset.consuming_dags):
                if consumer != dag_id and asset.name not in found.setdefault(consumer, []):
                    found[consumer].append(asset.name)
        return found

    def upstream_of(self, dag_id: str) -> list[str]:
        """DAGs producing the assets ``dag_id`` is scheduled on."""
        return sorted({p for a in self.assets if dag_id in a.scheduled_dags for p in a.producing_dags} - {dag_id})

    def schedule_assets(self, dag_id: str) -> list[str]:
        return sorted(a.name for a in self.assets if dag_id in a.scheduled_dags)


# -- partitions ------------------------------------------------------------------------------------------------------


def partition_moment(partitioned: bool, logical_date: datetime | None,
                     partition_date: datetime | None) -> datetime | None:
    """The instant that places a partition in a range: its partition date on a partitioned timetable (falling back to
    the logical date), otherwise its logical date — for runs, rows and dry-run answers alike."""
    return (partition_date or logical_date) if partitioned else logical_date


def partition_label(partition_key: str | None, logical_date: datetime | None,
                    partition_date: datetime | None) -> str | None:
    """How a partition is named to a person: its key, else its instant (ISO)."""
    if partition_key:
        return partition_key
    moment = logical_date or partition_date
    return moment.isoformat() if moment else None


def _identity(partitioned: bool, logical_date: datetime | None, partition_date: datetime | None,
              partition_key: str | None) -> object:
    """What makes two runs the same partition for Airflow: the partition date when the timetable is partitioned,
    otherwise the logical date (``_get_latest_dag_run_row_query``)."""
    if partitioned:
        return partition_date or partition_key
    return logical_date


def _latest(runs: list[DagRun]) -> DagRun:
    """Airflow's choice among several runs of one partition: started runs first, newest start first."""
    started = [r for r in runs if r.start_date is not None]
    if started:
        return max(started, key=lambda r: r.start_date)
    return runs[-1]


def decide(state: str, reprocess: str) -> tuple[str, str]:
    """The action for a partition whose latest run is in ``state`` (``missing`` when there is none)."""
    if state == "missing":
        return "create", "no run yet"
    if state not in ("success", "failed"):
        return "skip", f"a run is in flight ({state}); Airflow never touches it"
    if reprocess == "none":
        return "skip", f"already {state} (reprocess none)"
    if reprocess == "failed" and state != "failed":
        return "skip", "already succeeded (reprocess failed)"
    return "rerun", f"{state}; re-run because of reprocess {reprocess}"


def classify_partitions(inputs: DagInputs, reprocess: str) -> tuple[list[PartitionRow], list[str]]:
    """Every partition in range, oldest first, with its state and action, checked against Airflow's dry run."""
    partitioned = inputs.details.dag.is_partitioned
    dag_id = inputs.details.dag.dag_id
    by_partition: dict[object, list[DagRun]] = {}
    for run in sorted(inputs.runs, key=lambda r: (r.start_date is None, r.start_date or datetime.min)):
        key = _identity(partitioned, run.logical_date, run.partition_date, run.partition_key)
        if key is not None:
            by_partition.setdefault(key, []).append(run)
    dry = {_identity(partitioned, i.logical_date, i.partition_date, i.partition_key): i for i in inputs.dry_run}
    universe: dict[object, PartitionRow] = {}
    mismatches: list[str] = []
    notes: list[str] = []
    off_schedule = 0
    for key in sorted(set(dry) | set(by_partition), key=lambda k: (str(type(k)), k)):
        runs = by_partition.get(key, [])
        latest = _latest(runs) if runs else None
        state = latest.state if latest else "missing"
        action, reason = decide(state, reprocess)
        info = dry.get(key)
        if info is None and action != "skip":
            if latest is not None and latest.run_type not in SCHEDULE_RUN_TYPES:
                off_schedule += 1  # e.g. a manual run at 13:37: not a partition of the timetable
                continue
            mismatches.append(f"{latest.partition_key or latest.logical_date} ({state}): afkit would {action}, "
                              "Airflow would not")
            continue
        if info is not None and action == "skip":
            mismatches.append(f"{info.partition_key or info.logical_date}: Airflow would create a run, afkit would "
                              f"skip ({reason})")
            continue
        source = info or latest
        universe[key] = PartitionRow(
            logical_date=source.logical_date,
            partition_key=source.partition_key,
            partition_date=source.partition_date,
            state=state,
            action=action,
            reason=reason,
            run_id=latest.run_id if latest else None,
        )
    if mismatches:
        shown = "; ".join(mismatches[:5]) + (f"; … {len(mismatches) - 5} more" if len(mismatches) > 5 else "")
        raise PlanMismatch(
            f"the plan for DAG {dag_id!r} does not match Airflow's dry run ({len(mismatches)} partition(s)): {shown}. "
            "If the DAG's schedule changed recently, its old runs no longer match its timetable."
        )
    if off_schedule:
        notes.append(f"{dag_id}: {off_schedule} manual or asset-triggered run(s) in range are not on its schedule "
                     "and are left out of the plan")
    return list(universe.values()), notes


def split_steps(dag_id: str, all_rows: list[PartitionRow], selected: list[PartitionRow], partitioned: bool) -> list[Step]:
    """One Airflow backfill per contiguous stretch of selected partitions (one stretch unless keys were picked)."""
    chosen = {id(r) for r in selected}
    steps, stretch = [], []

    def moment(row: PartitionRow) -> datetime:
        return partition_moment(partitioned, row.logical_date, row.partition_date)

    def flush() -> None:
        runs = sum(r.runs for r in stretch)
        if stretch and runs:
            bounds = sorted(moment(r) for r in stretch)
            steps.append(Step(dag_id, len(steps), bounds[0], bounds[-1], runs))
        stretch.clear()

    for row in all_rows:
        if id(row) in chosen:
            stretch.append(row)
        else:
            flush()
    flush()
    return steps


# -- estimates -------------------------------------------------------------------------------------------------------


def estimate_durations(runs: list[DagRun] | tuple[DagRun, ...]) -> DurationEstimate:
    durations = sorted(d for d in (r.duration_seconds for r in runs) if d is not None and d >= 0)
    if not durations:
        return DurationEstimate(0, None, None)
    if len(durations) == 1:
        return DurationEstimate(1, durations[0], durations[0])
    cuts = statistics.quantiles(durations, n=10, method="inclusive")
    return DurationEstimate(len(durations), statistics.median(durations), cuts[8])


def pool_demand(tasks: list[Task] | tuple[Task, ...]) -> dict[str, int]:
    """Slots one run needs in each pool at its widest level: tasks grouped by dependency depth (longest path from a
    root), summing the pool slots of each pool per depth. Tasks at the same depth can run at the same time."""
    by_id = {t.task_id: t for t in tasks}
    parents: dict[str, list[str]] = {t.task_id: [] for t in tasks}
    for task in tasks:
        for child in task.downstream_task_ids:
            if child in parents:
                parents[child].append(task.task_id)
    depth: dict[str, int] = {}

    def level(task_id: str, seen: frozenset = frozenset()) -> int:
        if task_id not in depth:
            if task_id in seen:  # a cycle cannot happen in a valid DAG; stay finite regardless
                return 0
            ups = parents[task_id]
            depth[task_id] = 1 + max((level(u, seen | {task_id}) for u in ups), default=-1)
        return depth[task_id]

    width: dict[tuple[str, int], int] = {}
    for task_id, task in by_id.items():
        slot_key = (task.pool, level(task_id))
        width[slot_key] = width.get(slot_key, 0) + task.pool_slots
    demand: dict[str, int] = {}
    for (pool, _), slots in width.items():
        demand[pool] = max(demand.get(pool, 0), slots)
    return dict(sorted(demand.items()))


def eta(runs: int, concurrency: int, seconds_per_run: float | None) -> float | None:
    if seconds_per_run is None or (runs and concurrency < 1):
        return None
    return math.ceil(runs / max(1, concurrency)) * seconds_per_run if runs else 0.0


# -- the plan --------------------------------------------------------------------------------------------------------


def check_root(details: DagDetails, graph: AssetGraph) -> None:
    dag = details.dag
    if dag.asset_triggered:
        upstream = graph.upstream_of(dag.dag_id)
        assets = ", ".join(graph.schedule_assets(dag.dag_id)) or "assets"
        hint = (f"backfill its upstream DAG(s) instead: {', '.join(upstream)}, with their downstream DAGs to see "
                f"{dag.dag_id}'s expected behaviour") if upstream else "no DAG produces those assets"
        raise BadInput(f"DAG {dag.dag_id!r} is scheduled only on assets ({assets}) and cannot be backfilled; {hint}",
                       remedy=Remedy.DOWNSTREAM if upstream else None)
    if not dag.is_backfillable:
        raise BadInput(f"DAG {dag.dag_id!r} has no periodic schedule ({dag.timetable_summary}); Airflow cannot "
                       "backfill it")


def check_range(details: DagDetails, options: PlanOptions) -> None:
    dag_id = details.dag.dag_id
    if details.start_date and options.to_date < details.start_date:
        raise BadInput(
            f"the range ends at {options.to_date.isoformat()}, before DAG {dag_id!r} starts "
            f"({details.start_date.isoformat()})"
        )
    if details.end_date and options.from_date > details.end_date:
        raise BadInput(f"the range starts after DAG {dag_id!r} ends ({details.end_date.isoformat()})")


def check_active_backfills(inputs: DagInputs, progress: dict[int, str] | None = None) -> None:
    for backfill in inputs.active_backfills:
        done = (progress or {}).get(backfill.id, "progress unknown")
        raise Conflict(
            f"DAG {backfill.dag_id!r} already has an active backfill: #{backfill.id} for "
            f"{backfill.from_date.isoformat()} … {backfill.to_date.isoformat()}, running since "
            f"{backfill.created_at.isoformat(timespec='seconds')}{' (paused)' if backfill.is_paused else ''}, {done}. "
            "Airflow allows one active backfill per DAG: wait for it, or cancel it",
            remedy=Remedy.CANCEL_ACTIVE, remedy_args={"backfill_id": backfill.id},
        )


def check_depends_on_past(dag_id: str, tasks: list[Task] | tuple[Task, ...], options: PlanOptions) -> bool:
    """Airflow's own rules for DAGs with depends_on_past tasks, checked before asking it anything."""
    depends_on_past = any(t.depends_on_past for t in tasks)
    if depends_on_past and options.order == "newest":
        raise BadInput(f"DAG {dag_id!r} has tasks with depends_on_past=True: it can only be backfilled oldest "
                       "first", remedy=Remedy.OLDEST_FIRST)
    if depends_on_past and options.reprocess == "none":
        raise BadInput(f"DAG {dag_id!r} has tasks with depends_on_past=True: Airflow requires reprocess failed "
                       "or completed for it", remedy=Remedy.REPROCESS)
    return depends_on_past


def plan_dag(inputs: DagInputs, options: PlanOptions, pools: dict[str, Pool],
             budgets: dict[str, PoolBudget] | None = None) -> tuple[DagPlan, list[str]]:
    details = inputs.details
    dag = details.dag
    depends_on_past = check_depends_on_past(dag.dag_id, inputs.tasks, options)
    all_rows, notes = classify_partitions(inputs, options.reprocess)
    if options.order == "newest":
        all_rows.reverse()
    selection = options.partitions
    if selection is None:
        rows = all_rows
    elif dag.is_partitioned:
        rows = [r for r in all_rows if selection.selects(r.partition_key)]
    else:  # a time-based DAG's partitions are its logical dates
        rows = [r for r in all_rows if selection.selects_instant(r.logical_date)]
    steps = split_steps(dag.dag_id, all_rows, rows, dag.is_partitioned)
    estimate = estimate_durations(inputs.recent_successes)
    demand = pool_demand(inputs.tasks)
    budgets = budgets if budgets is not None else budgets_for(pools, options.policy, set(demand))
    admission = admit(options.max_active_runs, demand, budgets)
    concurrency, why = admission.max_active_runs, admission.reason
    runs = sum(r.runs for r in rows)
    plan = DagPlan(
        dag_id=dag.dag_id,
        version=details.version,
        is_paused=dag.is_paused,
        partitioned=dag.is_partitioned,
        depends_on_past=depends_on_past,
        upstream=inputs.upstream,
        added_by=inputs.added_by,
        partitions=tuple(rows),
        steps=tuple(steps),
        estimate=estimate,
        pool_demand=demand,
        concurrency=concurrency,
        concurrency_reason=why,
        eta_p50=eta(runs, concurrency, estimate.p50),
        eta_p90=eta(runs, concurrency, estimate.p90),
    )
    warnings = list(notes)
    if dag.is_paused:
        warnings.append(f"{dag.dag_id} is paused: its backfill runs will wait in the queue until it is unpaused "
                        "(a launch can unpause it)")
    if not estimate.known and runs:
        warnings.append(f"{dag.dag_id} has no successful run yet: no duration estimate, ETA unknown")
    for name in demand:
        if name not in pools:
            warnings.append(f"{dag.dag_id} uses pool {name!r}, which does not exist: its tasks will not be scheduled")
    if runs and concurrency < 1:
        warnings.append(f"{dag.dag_id}: no backfill budget — {why}; launch refuses unless forced "
                        "(then one run at a time)")
    warnings.extend(deadlock_warnings(dag.dag_id, inputs.tasks, demand, budgets, max(1, concurrency)))
    return plan, warnings


def condition_needs(expression: object, updated: set[str]) -> tuple[str, ...] | None:
    """The assets that still need an event for an asset condition to hold when the assets in ``updated`` get events.

    ``()`` when it holds, ``None`` when it cannot be told here (an alias or a reference, resolved by Airflow at run
    time, or a shape this version does not know). ``expression`` is Airflow's serialized condition:
    ``{"asset": {"name", "uri"}}``, ``{"all": [...]}``, ``{"any": [...]}``, ``{"alias": …}``, ``{"asset_ref": …}``.
    """
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    ((kind, value),) = expression.items()
    if kind == "asset" and isinstance(value, dict):
        name = value.get("name") or value.get("uri")
        return () if {value.get("name"), value.get("uri")} & updated else ((name,) if name else None)
    if kind not in ("all", "any") or not isinstance(value, list):
        return None
    parts = [condition_needs(item, updated) for item in value]
    known = [p for p in parts if p is not None]
    if kind == "all":
        missing = tuple(dict.fromkeys(name for part in known for name in part))
        return missing if missing or len(known) == len(parts) else None
    if () in known or not parts:
        return ()
    return min(known, key=len) if len(known) == len(parts) else None


def consumer_impact(
    consumer: DagDetails,
    upstream: list[tuple[DagPlan, list[str]]],
    recent: tuple[DagRun, ...] | list[DagRun] = (),
    loop_seconds: float = SCHEDULER_LOOP_SECONDS,
) -> ConsumerImpact:
    """Expected behaviour of an asset-triggered consumer while its upstream DAGs are backfilled.

    Model: every upstream run emits one event per asset it produces. The scheduler turns whatever events are queued
    into one consumer run about once per loop, so events that land within one loop are batched into a single run.
    The events are spread over the upstream backfill's ETA. A consumer whose condition also needs assets the backfill
    does not update (``a & b`` with only ``a`` backfilled) gets no run from the backfill at all.
    """
    events = sum(plan.run_count for plan, _ in upstream)
    span = max((plan.eta_p50 or 0.0) for plan, _ in upstream) if upstream else 0.0
    needs = condition_needs(consumer.asset_expression, {a for _, assets in upstream for a in assets}) or ()
    if events == 0 or needs:
        runs = 0
    elif span <= 0:
        runs = events  # no duration history: the cautious estimate is one consumer run per event
    else:
        runs = max(1, min(events, math.ceil(span / loop_seconds)))
    return ConsumerImpact(
        dag_id=consumer.dag.dag_id,
        upstream_dags=tuple(plan.dag_id for plan, _ in upstream),
        assets=tuple(sorted({a for _, assets in upstream for a in assets})),
        upstream_events=events,
        expected_runs=runs,
        events_per_run=round(events / runs, 1) if runs else 0.0,
        partition_aware=consumer.dag.is_partitioned,
        is_paused=consumer.dag.is_paused,
        owners=consumer.dag.owners,
        needs=needs,
    )


def dependency_order(dag_ids: list[str], upstream: dict[str, tuple[str, ...]]) -> list[str]:
    """Upstream DAGs before their consumers; ties broken by name so the order is stable."""
    remaining = {d: {u for u in upstream.get(d, ()) if u in dag_ids} for d in dag_ids}
    ordered: list[str] = []
    while remaining:
        ready = sorted(d for d, ups in remaining.items() if not ups)
        if not ready:  # a cycle through assets: keep the rest in name order rather than loop forever
            ready = sorted(remaining)[:1]
        for dag_id in ready:
            ordered.append(dag_id)
            del remaining[dag_id]
        for ups in remaining.values():
            ups.difference_update(ready)
    return ordered


def build_plan(
    *,
    airflow_url: str,
    airflow_version: str,
    now: datetime,
    options: PlanOptions,
    inputs: list[DagInputs],
    pools: dict[str, Pool],
    consumers: list[tuple[DagDetails, tuple[DagRun, ...]]] = (),
    graph: AssetGraph | None = None,
    carved: frozenset[str] = frozenset(),
    slas: list[tuple[SLA, Producer]] = (),
) -> Plan:
    """Assemble the whole plan; ``inputs`` holds every backfillable DAG, ``consumers`` the asset-triggered ones,
    ``pools`` each pool at its configured size, ``carved`` the pools Airflow holds the budget of at task level,
    ``slas`` the freshness SLAs with their producers (whose runs the backfill may hold back)."""
    options.validate(now)
    graph = graph or AssetGraph()
    warnings: list[str] = []
    plans: dict[str, DagPlan] = {}
    used = {pool for item in inputs for pool in pool_demand(item.tasks)}
    budgets = budgets_for(pools, options.policy, used, carved)
    for item in inputs:
        check_active_backfills(item)
        dag_plan, notes = plan_dag(item, options, pools, budgets)
        plans[dag_plan.dag_id] = dag_plan
        warnings.extend(notes)
    for item in inputs:
        if item.added_by == "selected" and not plans[item.details.dag.dag_id].partitions:
            raise BadInput(
                f"the range {options.from_date.isoformat()} … {options.to_date.isoformat()} selects no runs of DAG "
                f"{item.details.dag.dag_id!r}"
                + (" (none of the requested partition keys is in range)" if options.partitions else "")
            )
    if not any(p.run_count for p in plans.values()):
        warnings.append("nothing to do: every partition in range is skipped under reprocess "
                        f"{options.reprocess}")
    order = dependency_order(list(plans), {d: p.upstream for d, p in plans.items()})
    impacts = []
    for details, recent in consumers:
        feeding = [
            (plans[d], assets)
            for d, assets in ((d, graph.consumers(d).get(details.dag.dag_id, [])) for d in order)
            if assets
        ]
        impact = consumer_impact(details, feeding, recent)
        impacts.append(impact)
        if not impact.partition_aware and impact.upstream_events:
            warnings.append(
                f"{impact.dag_id} is not partition-aware: each of its runs batches events from several backfilled "
                "partitions and cannot tell which partition it is processing"
            )
    plan = Plan(
        airflow_url=airflow_url,
        airflow_version=airflow_version,
        created_at=now,
        options=options,
        dags=tuple(plans[d] for d in order),
        impacts=tuple(impacts),
        warnings=tuple(dict.fromkeys(warnings)),
        budgets=tuple(budgets.values()),
    )
    plan = Plan(**{**plan.__dict__, "sla_risks": tuple(sla_risks(plan, list(slas)))})
    return Plan(**{**plan.__dict__, "plan_id": plan_fingerprint(plan)})


def sla_risks(plan: Plan, slas: list[tuple[SLA, Producer]]) -> list[SlaRisk]:
    """The SLAs this plan would move to at risk: its DAGs hold their pools from :attr:`Plan.starts_at`, each for its
    p90 ETA (p50 when that is all there is), after its upstream DAGs, as a launch runs them."""
    if not slas:
        return []
    schedule = occupancy_schedule(
        plan.starts_at,
        [(d.dag_id, d.upstream, d.eta_p90 if d.eta_p90 is not None else d.eta_p50,
          {pool: d.concurrency * need for pool, need in d.pool_demand.items()}) for d in plan.dags if d.run_count],
        {b.pool: b.budget for b in plan.budgets})
    return risks(slas, schedule, {b.pool: b.slots for b in plan.budgets}, {b.pool: b.budget for b in plan.budgets})


def request_key(airflow_url: str, roots: list[str], options: PlanOptions) -> str:
    """Identifies what was *asked*: launching the same request again resumes its unfinished plan."""
    material = {
        "url": airflow_url,
        "roots": sorted(roots),
        "from": options.from_date.isoformat(),
        "to": options.to_date.isoformat(),
        "options": options.later([options.reprocess, options.order, options.max_active_runs, options.downstream,
                                  options.policy.to_dict()]),
        "partitions": options.partitions.to_dict() if options.partitions else None,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def plan_fingerprint(plan: Plan) -> str:
    """A stable id for what a plan would do: same Airflow, DAG versions, steps and options give the same id."""
    material = {
        "url": plan.airflow_url,
        "options": plan.options.later([plan.options.reprocess, plan.options.order, plan.options.max_active_runs,
                                       plan.options.policy.to_dict()]),
        "dags": [(d.dag_id, d.version) for d in plan.dags],
        "steps": [(s.key, s.from_date.isoformat(), s.to_date.isoformat(), s.runs) for s in plan.steps],
        "created": plan.created_at.isoformat(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]

