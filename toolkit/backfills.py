"""Backfills as one operation: gather what a plan needs, launch a plan step by step, follow it, pause/resume/cancel.

This module sits between the edges (CLI, TUI) and the boundary. It fetches through ``toolkit.airflow``, decides with
the pure ``toolkit.planning``, and remembers launches in ``toolkit.state``. It never renders anything.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from toolkit.airflow import AirflowClient
from toolkit.errors import BadInput, Conflict, NotFound
from toolkit.models import Backfill, DagDetails, DagRun
from toolkit.planfile import plan_from_dict, plan_to_dict
from toolkit.planning import (
    AssetGraph,
    DagInputs,
    Plan,
    PlanMismatch,
    PlanOptions,
    Step,
    build_plan,
    check_active_backfills,
    check_depends_on_past,
    check_range,
    PLAN_TAG,
    PartitionRow,
    check_root,
    classify_partitions,
    request_key,
)
from toolkit.state import StateStore
from toolkit.throttle import OCCUPYING, WAITING, PoolOccupancy, ThrottlePolicy, occupancy

FETCH_WORKERS = 4  # concurrent requests while planning; Airflow's api-server serves them in parallel


def _in_range(run: DagRun, partitioned: bool, options: PlanOptions) -> bool:
    moment = (run.partition_date or run.logical_date) if partitioned else run.logical_date
    return moment is not None and options.from_date <= moment <= options.to_date


def runs_in_range(client: AirflowClient, details: DagDetails, options: PlanOptions) -> tuple[DagRun, ...]:
    dag = details.dag
    if dag.is_partitioned:
        runs = client.dag_runs.list(dag.dag_id)  # partitioned runs may have no logical date: filter here
    else:
        runs = client.dag_runs.list(dag.dag_id, logical_date_gte=options.from_date, logical_date_lte=options.to_date)
    return tuple(r for r in runs if _in_range(r, dag.is_partitioned, options))


def backfill_progress(client: AirflowClient, backfill: Backfill) -> str:
    """"12 of 30 runs done, 3 running" for a backfill afkit did not create (its runs are found by range and type)."""
    runs = [r for r in client.dag_runs.list(backfill.dag_id, run_types=["backfill"])
            if r.start_date is None or r.start_date >= backfill.created_at - timedelta(seconds=5)]
    done = sum(r.state in ("success", "failed") for r in runs)
    active = sum(r.state in ("running", "queued") for r in runs)
    return f"{done} of {len(runs)} runs done, {active} running or queued"


def _inputs(client: AirflowClient, details: DagDetails, options: PlanOptions, upstream: tuple[str, ...],
            added_by: str) -> DagInputs:
    dag_id = details.dag.dag_id
    tasks = tuple(client.dags.tasks(dag_id))
    check_depends_on_past(dag_id, tasks, options)  # before the dry run, which would refuse it less clearly
    active = tuple(b for b in client.backfills.list_for_dag(dag_id) if b.active)
    return DagInputs(
        details=details,
        tasks=tasks,
        runs=runs_in_range(client, details, options),
        dry_run=tuple(client.backfills.dry_run(dag_id, options.from_date, options.to_date,
                                               reprocess_behavior=options.reprocess,
                                               run_backwards=options.order == "newest")),
        recent_successes=tuple(client.dag_runs.recent(dag_id)),
        active_backfills=active,
        upstream=upstream,
        added_by=added_by,
    )


def make_plan(client: AirflowClient, dag_ids: list[str], options: PlanOptions, now: datetime | None = None) -> Plan:
    """Fetch everything the plan needs and build it (verified against Airflow's dry run)."""
    now = now or datetime.now(timezone.utc)
    options.validate(now)
    if not dag_ids:
        raise BadInput("name at least one DAG to backfill")
    version = client.monitor.version()
    graph = AssetGraph(tuple(client.assets.list()))
    details = {dag_id: client.dags.details(dag_id) for dag_id in dict.fromkeys(dag_ids)}
    for item in details.values():
        check_root(item, graph)
        check_range(item, options)
    upstream: dict[str, set[str]] = {d: set() for d in details}
    added_by = {d: "selected" for d in details}
    consumers: dict[str, DagDetails] = {}
    if options.downstream:
        queue = list(details)
        while queue:
            producer = queue.pop(0)
            for consumer in sorted(graph.consumers(producer)):
                if consumer in details:
                    upstream[consumer].add(producer)
                    continue
                if consumer in consumers:
                    continue
                found = client.dags.details(consumer)
                if found.dag.is_backfillable:
                    details[consumer] = found
                    upstream[consumer] = {producer}
                    added_by[consumer] = f"downstream of {producer}"
                    queue.append(consumer)
                else:
                    consumers[consumer] = found
    # Each DAG's dry run is the slow part (Airflow checks every partition); the DAGs are independent, so their
    # inputs are fetched concurrently. Results keep the order of ``details``.
    with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
        futures = [pool.submit(_inputs, client, item, options, tuple(sorted(upstream[dag_id])), added_by[dag_id])
                   for dag_id, item in details.items()]
        consumer_futures = [(c, pool.submit(client.dag_runs.recent, c.dag.dag_id)) for c in consumers.values()]
        pools_future = pool.submit(client.pools.list)
        inputs = [f.result() for f in futures]
        consumer_data = [(c, tuple(f.result())) for c, f in consumer_futures]
        pools = {p.name: p for p in pools_future.result()}
    for dag_inputs in inputs:
        if dag_inputs.active_backfills:
            check_active_backfills(dag_inputs, {b.id: backfill_progress(client, b) for b in dag_inputs.active_backfills})
    return build_plan(
        airflow_url=client.url,
        airflow_version=version,
        now=now,
        options=options,
        inputs=inputs,
        pools=pools,
        consumers=consumer_data,
        graph=graph,
    )


def partition_states(client: AirflowClient, dag_id: str, start: datetime, end: datetime) -> list[PartitionRow]:
    """Every partition of a DAG in a range with the state of its latest run (``missing`` when none), oldest first.

    The terminal app's grid. The partitions are Airflow's own: its dry run with ``completed`` lists every partition
    it would touch, and runs in flight are added from the runs themselves, as the planner does.
    """
    if start > end:
        raise BadInput(f"from {start.isoformat()} is after to {end.isoformat()}: swap them")
    details = client.dags.details(dag_id)
    if details.dag.asset_triggered or not details.dag.is_backfillable:
        check_root(details, AssetGraph(tuple(client.assets.list())))
    options = PlanOptions(start, end, reprocess="completed")
    check_range(details, options)
    inputs = DagInputs(details=details, tasks=(), runs=runs_in_range(client, details, options),
                       dry_run=tuple(client.backfills.dry_run(dag_id, start, end, reprocess_behavior="completed")))
    rows, _ = classify_partitions(inputs, "completed")
    return rows


def pool_occupancy(client: AirflowClient, policy: ThrottlePolicy) -> list[PoolOccupancy]:
    """Every pool's production and backfill occupancy against the throttling policy (two requests)."""
    pools = client.pools.list()
    instances = client.task_instances.list(states=[*OCCUPYING, *WAITING])
    return occupancy(pools, instances, policy)


# -- launching --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchEvent:
    kind: str  # info | warning | call | created | adopted | completed | waiting
    message: str
    step: str | None = None
    backfill_id: int | None = None


@dataclass
class LaunchReport:
    plan_id: str
    resumed: bool = False
    created: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)
    complete: bool = False
    stopped_early: bool = False


def tag_for(plan: Plan, step: Step) -> dict:
    return {PLAN_TAG: {"plan_id": plan.plan_id, "step": step.key}}


def _tagged(backfill: Backfill, plan_id: str, step_key: str | None = None) -> bool:
    tag = (backfill.dag_run_conf or {}).get(PLAN_TAG) or {}
    return tag.get("plan_id") == plan_id and (step_key is None or tag.get("step") == step_key)


def check_admission(plan: Plan, force: bool) -> None:
    """A DAG whose pool budget admits no run is launched only with --force (then one run at a time)."""
    blocked = [d for d in plan.dags if d.run_count and d.concurrency < 1]
    if blocked and not force:
        raise BadInput(
            "no pool budget left for " + "; ".join(f"{d.dag_id} ({d.concurrency_reason})" for d in blocked)
            + ": lower the reserve (--reserve POOL=N), or pass --force to run one backfill run at a time"
        )


def max_active_runs_for(plan: Plan, dag_id: str) -> int:
    return max(1, plan.dag(dag_id).concurrency)


def check_launchable(client: AirflowClient, plan: Plan) -> dict[str, DagDetails]:
    """Refuse a plan made against another Airflow, or whose DAGs changed since planning."""
    if client.url.rstrip("/") != plan.airflow_url.rstrip("/"):
        raise BadInput(f"this plan was made against {plan.airflow_url}, but afkit is connected to {client.url}: "
                       "re-plan against this Airflow")
    current = {}
    for dag in plan.dags:
        details = client.dags.details(dag.dag_id)
        if details.version != dag.version:
            raise BadInput(f"DAG {dag.dag_id!r} changed since planning (version {dag.version} → {details.version}): "
                           "re-plan before launching")
        current[dag.dag_id] = details
    return current


def _planned_identities(plan: Plan, step: Step) -> set:
    dag = plan.dag(step.dag_id)
    moments = set()
    for row in dag.partitions:
        if not row.runs:
            continue
        moment = (row.partition_date or row.logical_date) if dag.partitioned else row.logical_date
        if step.from_date <= moment <= step.to_date:
            moments.add(moment)
    return moments


def verify_step(client: AirflowClient, plan: Plan, step: Step) -> None:
    """Right before creating a step's backfill, Airflow must still agree with the plan about its runs."""
    dag = plan.dag(step.dag_id)
    infos = client.backfills.dry_run(step.dag_id, step.from_date, step.to_date,
                                     reprocess_behavior=plan.options.reprocess,
                                     run_backwards=plan.options.order == "newest")
    actual = {(i.partition_date or i.logical_date) if dag.partitioned else i.logical_date for i in infos}
    expected = _planned_identities(plan, step)
    if actual != expected:
        raise PlanMismatch(
            f"Airflow's state changed since planning for {step.key}: it would now create {len(actual)} run(s), the "
            f"plan says {len(expected)} ({len(actual - expected)} new, {len(expected - actual)} gone); re-plan"
        )


def _depends_done(plan: Plan, step: Step, journal: dict) -> bool:
    dag = plan.dag(step.dag_id)
    before = [s for s in plan.steps if s.dag_id in dag.upstream or (s.dag_id == step.dag_id and s.index < step.index)]
    return all(journal[s.key].status in ("completed",) for s in before)


def launch_calls(plan: Plan, unpause: bool) -> list[str]:
    """Every call a launch would make, in order, for ``--dry-run``."""
    calls = []
    if unpause:
        calls += [f"PATCH /api/v2/dags/{d.dag_id} {{\"is_paused\": false}}" for d in plan.dags if d.is_paused]
    for step in plan.steps:
        body = {
            "dag_id": step.dag_id,
            "from_date": step.from_date.isoformat(),
            "to_date": step.to_date.isoformat(),
            "reprocess_behavior": plan.options.reprocess,
            "run_backwards": plan.options.order == "newest",
            "max_active_runs": max_active_runs_for(plan, step.dag_id),
            "dag_run_conf": tag_for(plan, step),
        }
        waits = plan.dag(step.dag_id).upstream
        note = f"  (after {', '.join(waits)} complete)" if waits else ""
        calls.append(f"POST /api/v2/backfills {body}{note}")
    return calls


def launch(
    client: AirflowClient,
    store: StateStore,
    plan: Plan,
    *,
    request: str | None = None,
    unpause: bool = False,
    force: bool = False,
    until: str = "created",  # "created": return once every step's backfill exists; "completed": once all completed
    poll_seconds: float = 2.0,
    on_event: Callable[[LaunchEvent], None] = lambda e: None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> LaunchReport:
    """Create the plan's Airflow backfills in dependency order; idempotent and resumable through the journal."""
    check_admission(plan, force)
    current = check_launchable(client, plan)
    for dag in plan.dags:
        if current[dag.dag_id].dag.is_paused:
            if unpause:
                client.dags.set_paused(dag.dag_id, False)
                on_event(LaunchEvent("info", f"unpaused DAG {dag.dag_id}"))
            else:
                on_event(LaunchEvent("warning", f"DAG {dag.dag_id} is paused: its runs will wait until it is "
                                                "unpaused (use --unpause)"))
    fresh = store.register_plan(plan.plan_id, request, plan.airflow_url, plan_to_dict(plan),
                                [(s.key, s.dag_id) for s in plan.steps])
    report = LaunchReport(plan.plan_id, resumed=not fresh)
    if not fresh:
        on_event(LaunchEvent("info", f"resuming launch of plan {plan.plan_id} from the journal"))
    while True:
        journal = store.steps(plan.plan_id)
        status = store.plan(plan.plan_id).status
        if status == "cancelled":
            on_event(LaunchEvent("info", f"plan {plan.plan_id} was cancelled; nothing more will be created"))
            report.stopped_early = True
            return report
        pending_creation = False
        for step in plan.steps:
            entry = journal[step.key]
            if entry.status in ("completed", "cancelled"):
                continue
            if entry.backfill_id is not None:
                backfill = client.backfills.get(entry.backfill_id)
                if backfill.completed_at is not None:
                    store.set_step(plan.plan_id, step.key, "completed")
                    journal = store.steps(plan.plan_id)
                    on_event(LaunchEvent("completed", f"backfill {backfill.id} of {step.dag_id} completed",
                                         step.key, backfill.id))
                continue
            pending_creation = True
            if status == "paused" or not _depends_done(plan, step, journal):
                continue
            if entry.status == "creating":
                adopted = [b for b in client.backfills.list_for_dag(step.dag_id) if _tagged(b, plan.plan_id, step.key)]
                if adopted:
                    store.set_step(plan.plan_id, step.key, "created", adopted[0].id)
                    report.adopted.append(adopted[0].id)
                    on_event(LaunchEvent("adopted", f"found backfill {adopted[0].id} of {step.dag_id} created "
                                                    "before an interruption", step.key, adopted[0].id))
                    continue
            verify_step(client, plan, step)
            store.set_step(plan.plan_id, step.key, "creating")
            try:
                backfill = client.backfills.create(
                    step.dag_id, step.from_date, step.to_date,
                    reprocess_behavior=plan.options.reprocess,
                    max_active_runs=max_active_runs_for(plan, step.dag_id),
                    run_backwards=plan.options.order == "newest",
                    dag_run_conf=tag_for(plan, step),
                )
            except Conflict:
                active = [b for b in client.backfills.list_for_dag(step.dag_id) if b.active]
                store.set_step(plan.plan_id, step.key, "pending")
                if active:
                    check_active_backfills(
                        DagInputs(details=current[step.dag_id], tasks=(), runs=(), dry_run=(),
                                  active_backfills=tuple(active[:1])),
                        {active[0].id: backfill_progress(client, active[0])},
                    )
                raise
            store.set_step(plan.plan_id, step.key, "created", backfill.id)
            report.created.append(backfill.id)
            on_event(LaunchEvent("created", f"created backfill {backfill.id} of {step.dag_id}: {step.runs} run(s), "
                                            f"{step.from_date.isoformat()} … {step.to_date.isoformat()}",
                                 step.key, backfill.id))
        journal = store.steps(plan.plan_id)
        if all(e.status in ("completed", "cancelled") for e in journal.values()):
            store.set_plan_status(plan.plan_id, "completed")
            report.complete = True
            return report
        all_created = all(e.backfill_id is not None or e.status == "cancelled" for e in journal.values())
        if until == "created" and all_created and not pending_creation:
            return report
        if should_stop():
            report.stopped_early = True
            return report
        sleep(poll_seconds)


# -- following and acting --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DagProgress:
    dag_id: str
    total: int
    success: int
    failed: int
    running: int
    queued: int
    backfill_ids: tuple[int, ...]
    paused: bool
    status: str  # waiting | running | paused | completed | cancelled
    eta_seconds: float | None

    @property
    def done(self) -> int:
        return self.success + self.failed


def plan_progress(client: AirflowClient, store: StateStore, plan: Plan) -> list[DagProgress]:
    journal = store.steps(plan.plan_id)
    entry = store.plan(plan.plan_id)
    plan_status = entry.status if entry else "not launched"
    progress = []
    for dag in plan.dags:
        entries = [journal[s.key] for s in dag.steps if s.key in journal]
        runs = [r for r in client.dag_runs.list(dag.dag_id, conf_contains=plan.plan_id)
                if (r.conf.get(PLAN_TAG) or {}).get("plan_id") == plan.plan_id]
        counts = {state: sum(r.state == state for r in runs) for state in ("success", "failed", "running", "queued")}
        ids = tuple(e.backfill_id for e in entries if e.backfill_id is not None)
        paused = any(client.backfills.get(i).is_paused for i in ids if journal_active(entries, i))
        total = dag.run_count
        remaining = max(0, total - counts["success"] - counts["failed"])
        eta = (math.ceil(remaining / max(1, dag.concurrency)) * dag.estimate.p50) if dag.estimate.p50 else None
        if entries and all(e.status == "completed" for e in entries):
            status = "completed"
        elif plan_status == "cancelled" or any(e.status == "cancelled" for e in entries):
            status = "cancelled"
        elif paused or plan_status == "paused":
            status = "paused"
        elif ids:
            status = "running"
        else:
            status = "waiting"
        progress.append(DagProgress(dag.dag_id, total, counts["success"], counts["failed"], counts["running"],
                                    counts["queued"], ids, paused, status, eta if remaining else 0.0))
    return progress


def journal_active(entries: list, backfill_id: int) -> bool:
    return any(e.backfill_id == backfill_id and e.status == "created" for e in entries)


def act_on_plan(client: AirflowClient, store: StateStore, plan: Plan, action: str) -> list[Backfill]:
    """pause | resume | cancel every Airflow backfill of a plan, and stop (or allow) creating its next steps."""
    if store.plan(plan.plan_id) is None:
        raise BadInput(f"plan {plan.plan_id} has not been launched from this machine's afkit state "
                       f"({store.url}): nothing to {action}")
    journal = store.steps(plan.plan_id)
    touched = []
    for entry in journal.values():
        if entry.backfill_id is None or entry.status != "created":
            continue
        touched.append(act_on_backfill(client, entry.backfill_id, action))
    if action == "cancel":
        for entry in journal.values():
            if entry.status in ("pending", "creating", "created"):
                store.set_step(plan.plan_id, entry.step_key, "cancelled")
    store.set_plan_status(plan.plan_id, {"pause": "paused", "resume": "active", "cancel": "cancelled"}[action])
    return touched


def pause_or_resume_plan(client: AirflowClient, store: StateStore, plan: Plan) -> str:
    """Resume a paused plan, pause a running one; returns the action taken.

    Decided from Airflow's state at the moment of the call, never from what a screen last showed: a progress read
    that was already under way when the plan was paused must not turn a "resume" key press into a second pause.
    """
    journal = store.steps(plan.plan_id)
    entry = store.plan(plan.plan_id)
    live = [e.backfill_id for e in journal.values() if e.backfill_id is not None and e.status == "created"]
    paused = any(client.backfills.get(i).is_paused for i in live) or (entry is not None and entry.status == "paused")
    action = "resume" if paused else "pause"
    act_on_plan(client, store, plan, action)
    return action


def act_on_backfill(client: AirflowClient, backfill_id: int, action: str) -> Backfill:
    method = {"pause": client.backfills.pause, "resume": client.backfills.unpause, "cancel": client.backfills.cancel}
    return method[action](backfill_id)


def plan_from_journal(store: StateStore, plan_id: str) -> Plan:
    entry = store.plan(plan_id)
    if entry is None:
        raise NotFound(f"no launched plan {plan_id!r} in afkit's state ({store.url})")
    return plan_from_dict(entry.plan_json, f"journal:{plan_id}")
