"""Backfills as one operation: gather what a plan needs, launch a plan step by step, follow it, pause/resume/cancel.

This module sits between the edges (CLI, TUI) and the boundary. It fetches through ``toolkit.airflow``, decides with
the pure ``toolkit.core.planning``, and remembers launches in ``toolkit.state``. It never renders anything.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from toolkit.airflow import AirflowClient
from toolkit.errors import BadInput, Conflict, NotFound, PermissionDenied, Remedy
from toolkit.models import Backfill, DagDetails, DagRun, Pool, Task
from toolkit.core.planfile import LoadedPlan, plan_from_dict, plan_to_dict
from toolkit.core.planning import (
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
    estimate_durations,
    plan_fingerprint,
    partition_label,
    partition_moment,
    pool_demand,
)
from toolkit.core.humanize import format_moment
from toolkit.core.sla_risk import Producer
from toolkit.sla import SLA, parse_slas
from toolkit.services.governor import ACTED, GovernorEvent, configured_governor
from toolkit.services.occupancy import pools_for_planning
from toolkit.state import StateStore
from toolkit.core.throttle import (
    Amount,
    PoolBudget,
    PoolPolicy,
    ThrottlePolicy,
    admit,
    budget_for,
    budgets_for,
)

FETCH_WORKERS = 4  # concurrent requests while planning; Airflow's api-server serves them in parallel
PRODUCER_RUNS = 30  # the recent successful runs that say when an SLA's producer usually starts and how long it takes


def _in_range(run: DagRun, partitioned: bool, options: PlanOptions) -> bool:
    moment = partition_moment(partitioned, run.logical_date, run.partition_date)
    return moment is not None and options.from_date <= moment <= options.to_date


def runs_in_range(client: AirflowClient, details: DagDetails, options: PlanOptions) -> tuple[DagRun, ...]:
    dag = details.dag
    if dag.is_partitioned:
        runs = client.dag_runs.list(dag.dag_id)  # partitioned runs may have no logical date: filter here
    else:
        runs = client.dag_runs.list(dag.dag_id, logical_date_gte=options.from_date, logical_date_lte=options.to_date)
    return tuple(r for r in runs if _in_range(r, dag.is_partitioned, options))


@dataclass(frozen=True)
class RunCounts:
    """The runs of one backfill (or of one DAG's part of a plan) by what happened to them."""

    success: int = 0
    failed: int = 0
    running: int = 0
    queued: int = 0
    cancelled: int = 0  # queued when the backfill was cancelled: Airflow marked them failed, they never ran

    @property
    def total(self) -> int:
        return self.success + self.failed + self.running + self.queued + self.cancelled

    @property
    def done(self) -> int:
        return self.success + self.failed

    @property
    def summary(self) -> str:
        """"12 of 29 runs done (1 failed), 3 running or queued" — the cancelled ones are not "done"."""
        text = f"{self.done} of {self.total} runs done"
        if self.failed:
            text += f" ({self.failed} failed)"
        text += f", {self.running + self.queued} running or queued"
        if self.cancelled:
            text += f", {self.cancelled} cancelled before they started"
        return text


def was_cancelled(run: DagRun) -> bool:
    """Airflow's backfill cancel sets its queued runs to failed in one UPDATE, without an end date; a run that
    really ran and failed always has one (``DagRun.set_state``)."""
    return run.state == "failed" and run.end_date is None


def count_runs(runs: list[DagRun] | tuple[DagRun, ...]) -> RunCounts:
    cancelled = sum(was_cancelled(r) for r in runs)
    return RunCounts(
        success=sum(r.state == "success" for r in runs),
        failed=sum(r.state == "failed" for r in runs) - cancelled,
        running=sum(r.state == "running" for r in runs),
        queued=sum(r.state == "queued" for r in runs),
        cancelled=cancelled,
    )


def runs_of_backfill(client: AirflowClient, backfill: Backfill) -> list[DagRun]:
    """The runs one backfill made, as far as the public API can tell (it does not expose a run's backfill id).

    A run belongs to a backfill when it is a backfill run of the DAG inside the backfill's range and, when the
    backfill set a run conf (afkit tags every one), carries exactly that conf. Without a conf, the run must have been
    queued by this backfill: at or after its creation and before the next backfill of the DAG was created (a later
    backfill that reprocesses a partition takes its run over).
    """
    runs = [r for r in client.dag_runs.list(backfill.dag_id, run_types=["backfill"])
            if (moment := r.partition_date or r.logical_date) is not None
            and backfill.from_date <= moment <= backfill.to_date]
    if backfill.dag_run_conf:
        return [r for r in runs if r.conf == backfill.dag_run_conf]
    later = [b.created_at for b in client.backfills.list_for_dag(backfill.dag_id) if b.created_at > backfill.created_at]
    until = min(later, default=None)
    since = backfill.created_at - timedelta(seconds=5)
    return [r for r in runs if r.queued_at is not None and r.queued_at >= since and (until is None or r.queued_at < until)]


def backfill_progress(client: AirflowClient, backfill: Backfill) -> str:
    """"12 of 29 runs done, 3 running or queued" for one backfill, afkit's or not."""
    return count_runs(runs_of_backfill(client, backfill)).summary


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
        pools_future = pool.submit(pools_for_planning, client)
        inputs = [f.result() for f in futures]
        consumer_data = [(c, tuple(f.result())) for c, f in consumer_futures]
        pools, carved = pools_future.result()
    for dag_inputs in inputs:
        if dag_inputs.active_backfills:
            check_active_backfills(dag_inputs, {b.id: backfill_progress(client, b) for b in dag_inputs.active_backfills})
    used = {p for item in inputs for p in pool_demand(item.tasks)}
    slas, unjudged = sla_producers(client, graph, used, {i.details.dag.dag_id: i.tasks for i in inputs})
    plan = build_plan(
        airflow_url=client.url,
        airflow_version=version,
        now=now,
        options=options,
        inputs=inputs,
        pools=pools,
        consumers=consumer_data,
        graph=graph,
        carved=carved,
        slas=slas,
    )
    return replace(plan, warnings=plan.warnings + tuple(unjudged)) if unjudged else plan


def sla_producers(client: AirflowClient, graph: AssetGraph, pools: set[str],
                  known_tasks: dict[str, tuple[Task, ...]]) -> tuple[list[tuple[SLA, Producer]], list[str]]:
    """The freshness SLAs whose producing DAG needs one of ``pools``, each with what its producer needs and does:
    its pool demand, its p90 and the start times of its recent runs that were not backfills. Also what could not be
    judged (a producer the user may not read), said as plan warnings rather than failing the plan."""
    declared: dict[str, list[SLA]] = {}
    for asset in graph.assets:
        if asset.producing_dags:
            valid = [s for s in parse_slas(asset.name, asset.extra) if isinstance(s, SLA)]
            if valid:
                declared.setdefault(asset.producing_dags[0], []).extend(valid)
    if not declared or not pools:
        return [], []

    def read(dag_id: str) -> tuple[str, Producer | None, str | None]:
        try:
            demand = pool_demand(known_tasks[dag_id] if dag_id in known_tasks else client.dags.tasks(dag_id))
            if not set(demand) & pools:
                return dag_id, None, None
            recent = client.dag_runs.recent(dag_id, limit=PRODUCER_RUNS)
        except (NotFound, PermissionDenied) as exc:
            return dag_id, None, f"SLA risk of {', '.join(s.key for s in declared[dag_id])} not judged: {exc}"
        starts = tuple(r.start_date for r in recent if r.run_type != "backfill" and r.start_date is not None)
        if not starts:
            return dag_id, None, (f"SLA risk of {', '.join(s.key for s in declared[dag_id])} not judged: its "
                                  f"producer {dag_id} has no successful run outside backfills yet")
        return dag_id, Producer(dag_id, demand, estimate_durations(recent).p90, starts), None

    with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as workers:
        read_all = list(workers.map(read, sorted(declared)))
    found = [(sla, producer) for dag_id, producer, _ in read_all if producer for sla in declared[dag_id]]
    return found, [note for _, _, note in read_all if note]


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


# -- launching --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchEvent:
    kind: str  # info | warning | call | created | adopted | completed | waiting
    message: str
    step: str | None = None
    backfill_id: int | None = None
    hint: str | None = None  # a Remedy each edge words in its own terms


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
    """A DAG whose pool budget admits no run is launched only when forced (then one run at a time)."""
    blocked = [d for d in plan.dags if d.run_count and d.concurrency < 1]
    if blocked and not force:
        raise BadInput(
            "no pool budget left for " + "; ".join(f"{d.dag_id} ({d.concurrency_reason})" for d in blocked),
            remedy=Remedy.NO_BUDGET,
        )


def configured_policy() -> ThrottlePolicy:
    """The throttling policy in force: afkit.toml's [pools] (a broken file is bad input, named)."""
    from toolkit.service_config import load_service_config

    return load_service_config().require_valid().throttle


def strictest_budgets(pools: dict[str, Pool], policies: list[ThrottlePolicy], used: set[str],
                      carved: frozenset[str] = frozenset()) -> dict[str, PoolBudget]:
    """Per pool, the smallest backfill budget any of the policies gives (reserves may be slots or percentages, so
    they are compared as budgets on today's pool sizes)."""
    found: dict[str, PoolBudget] = {}
    for policy in policies:
        for name, budget in budgets_for(pools, policy, used, carved).items():
            if name not in found or budget.budget < found[name].budget:
                found[name] = budget
    return found


def readmit(client: AirflowClient, plan: Plan, current_policy: ThrottlePolicy) -> tuple[Plan, list[str]]:
    """The plan as it may launch now: each DAG's runs-at-once recomputed from today's pools and tasks under the
    stricter of the plan's policy and the one in force, and lowered (never raised) where the budget is smaller.

    A plan file is a snapshot: pools shrink, reserves grow and files get edited between planning and launch. What
    was admitted then is not trusted now; the messages say what was lowered and why.
    """
    pools, carved = pools_for_planning(client)
    notes, dags, all_budgets = [], [], {}
    for dag in plan.dags:
        demand = pool_demand(client.dags.tasks(dag.dag_id))
        budgets = strictest_budgets(pools, [plan.options.policy, current_policy], set(demand), carved)
        all_budgets.update(budgets)
        # A carve made or undone since planning changes the rule itself: recompute from the request, else never
        # raise what was planned.
        recarved = any(b.carved != next((p.carved for p in plan.budgets if p.pool == b.pool), b.carved)
                       for b in budgets.values())
        asked = plan.options.max_active_runs if recarved else min(plan.options.max_active_runs, max(dag.concurrency, 0))
        admission = admit(asked, demand, budgets)
        if admission.max_active_runs != dag.concurrency and (recarved or admission.max_active_runs < dag.concurrency) \
                or demand != dag.pool_demand:
            if admission.max_active_runs != dag.concurrency:
                change = "lowered" if admission.max_active_runs < dag.concurrency else "raised"
                notes.append(f"{dag.dag_id}: {dag.concurrency} run(s) at a time {change} to "
                             f"{admission.max_active_runs} — {admission.reason}")
            dag = replace(dag, concurrency=admission.max_active_runs, concurrency_reason=admission.reason,
                          pool_demand=demand)
        dags.append(dag)
    # The launched plan carries the policy that gives these budgets, so the journal reads back consistently and the
    # governor holds the same budgets the launch admitted.
    entries = {p.pool: p for p in plan.options.policy.pools}
    entries.update({b.pool: PoolPolicy(b.pool, Amount(b.reserve), b.cap) for b in all_budgets.values()
                    if b != budget_for(pools[b.pool], plan.options.policy.for_pool(b.pool), b.carved)})
    policy = ThrottlePolicy(plan.options.policy.default_reserve, tuple(entries[n] for n in sorted(entries)))
    return replace(plan, dags=tuple(dags), budgets=tuple(all_budgets[n] for n in sorted(all_budgets)),
                   options=replace(plan.options, policy=policy)), notes


def prepare_launch(client: AirflowClient, plan: Plan, *, force: bool = False,
                   current_policy: ThrottlePolicy | None = None) -> tuple[Plan, dict[str, DagDetails], list[str]]:
    """Every check a launch makes before it creates anything — the same for a launch and its dry run, from any edge.

    Returns the plan as it may launch (admission recomputed, see :func:`readmit`), each DAG's current details and
    what was changed. ``current_policy`` defaults to the throttling policy configured now.
    """
    current = check_launchable(client, plan)
    if current_policy is None:
        current_policy = configured_policy()
    plan, notes = readmit(client, plan, current_policy)
    check_admission(plan, force)
    return plan, current, notes


def _substance(plan: Plan) -> dict[str, tuple]:
    """What a launch would do, per DAG: its steps, the runs it creates and how many at a time."""
    return {d.dag_id: (tuple((s.key, s.from_date, s.to_date, s.runs) for s in d.steps),
                       tuple((p.label, p.action) for p in d.partitions), d.concurrency, d.upstream)
            for d in plan.dags}


def plan_for_launch(client: AirflowClient, loaded: LoadedPlan, now: datetime | None = None) -> Plan:
    """The plan of a plan file, trusted for a launch only if afkit wrote it as it is, or if it re-validates.

    An edited file (or one without a fingerprint) re-validates when its plan id still belongs to its content and
    planning the same request against Airflow now gives the same DAGs, steps, runs and runs-at-once; anything else is
    refused, with the first difference named.
    """
    if not loaded.edited:
        return loaded.plan
    plan = loaded.plan
    check_same_airflow(client, plan)  # the most useful thing to say about a plan moved to another Airflow
    if plan.plan_id != plan_fingerprint(plan):  # the id names what a plan does; an id copied from another is refused
        raise BadInput(f"{loaded.why}, and its plan id {plan.plan_id} does not belong to its steps and options: "
                       "re-plan to launch")
    roots = [d.dag_id for d in plan.dags if d.added_by == "selected"]
    fresh = make_plan(client, roots, plan.options, now)
    mine, theirs = _substance(plan), _substance(fresh)
    if mine != theirs:
        if set(mine) != set(theirs):
            difference = f"it has DAG(s) {', '.join(sorted(mine))}, planning now gives {', '.join(sorted(theirs))}"
        else:
            dag_id = next(d for d in mine if mine[d] != theirs[d])
            parts = ("steps", "partitions", "runs at a time", "upstream DAGs")
            which = next(i for i in range(4) if mine[dag_id][i] != theirs[dag_id][i])
            shown = (f": {mine[dag_id][2]} in the file, {theirs[dag_id][2]} now" if which == 2 else "")
            difference = f"{dag_id}'s {parts[which]} differ{shown}"
        raise BadInput(f"{loaded.why}, and it no longer matches what afkit plans for it now ({difference}): "
                       "re-plan to launch")
    return plan


def check_same_launch(journaled: Plan, plan: Plan) -> None:
    """A plan id already in the journal must mean the same steps: resuming must not mix two different plans."""
    def shape(p: Plan) -> list[tuple]:
        return [(s.key, s.dag_id, s.from_date, s.to_date, s.runs) for s in p.steps]

    if shape(journaled) != shape(plan):
        raise BadInput(f"plan {plan.plan_id} was already launched with other steps "
                       f"({', '.join(s.key for s in journaled.steps)}); this copy differs from what was launched: "
                       "re-plan to launch something new")


def max_active_runs_for(plan: Plan, dag_id: str) -> int:
    return max(1, plan.dag(dag_id).concurrency)


def check_same_airflow(client: AirflowClient, plan: Plan) -> None:
    if client.url.rstrip("/") != plan.airflow_url.rstrip("/"):
        raise BadInput(f"this plan was made against {plan.airflow_url}, but afkit is connected to {client.url}: "
                       "re-plan against this Airflow")


def check_launchable(client: AirflowClient, plan: Plan) -> dict[str, DagDetails]:
    """Refuse a plan made against another Airflow, or whose DAGs changed since planning."""
    check_same_airflow(client, plan)
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
        moment = partition_moment(dag.partitioned, row.logical_date, row.partition_date)
        if step.from_date <= moment <= step.to_date:
            moments.add(moment)
    return moments


def verify_step(client: AirflowClient, plan: Plan, step: Step) -> None:
    """Right before creating a step's backfill, Airflow must still agree with the plan about its runs."""
    dag = plan.dag(step.dag_id)
    infos = client.backfills.dry_run(step.dag_id, step.from_date, step.to_date,
                                     reprocess_behavior=plan.options.reprocess,
                                     run_backwards=plan.options.order == "newest")
    actual = {partition_moment(dag.partitioned, i.logical_date, i.partition_date) for i in infos}
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


def step_request(plan: Plan, step: Step) -> dict:
    """The arguments of a step's ``POST /api/v2/backfills``: what a launch sends and what its dry run prints."""
    return {
        "dag_id": step.dag_id,
        "from_date": step.from_date,
        "to_date": step.to_date,
        "reprocess_behavior": plan.options.reprocess,
        "run_backwards": plan.options.order == "newest",
        "max_active_runs": max_active_runs_for(plan, step.dag_id),
        "dag_run_conf": tag_for(plan, step),
    }


def launch_calls(plan: Plan, unpause: bool) -> list[str]:
    """Every call a launch would make, in order, for ``--dry-run``."""
    calls = []
    if unpause:
        calls += [f"PATCH /api/v2/dags/{d.dag_id} {{\"is_paused\": false}}" for d in plan.dags if d.is_paused]
    for step in plan.steps:
        body = {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in step_request(plan, step).items()}
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
    current_policy: ThrottlePolicy | None = None,
    until: str = "created",  # "created": return once every step's backfill exists; "completed": once all completed
    poll_seconds: float = 2.0,
    on_event: Callable[[LaunchEvent], None] = lambda e: None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> LaunchReport:
    """Create the plan's Airflow backfills in dependency order; idempotent and resumable through the journal.

    The plan is re-admitted first (:func:`prepare_launch`): what is journaled and launched is the plan as today's
    pools and policy allow it, whichever edge asked. A plan with a ``start_after`` is journaled at once and creates
    nothing before that instant (it can be cancelled meanwhile, and a launch run again after an interruption waits
    the same way).
    """
    if store.plan(plan.plan_id) is not None:  # resume what was launched
        journaled = plan_from_journal(store, plan.plan_id)
        check_same_launch(journaled, plan)
        plan = journaled
    plan, current, notes = prepare_launch(client, plan, force=force, current_policy=current_policy)
    for note in notes:
        on_event(LaunchEvent("warning", note))
    for dag in plan.dags:
        if current[dag.dag_id].dag.is_paused:
            if unpause:
                client.dags.set_paused(dag.dag_id, False)
                on_event(LaunchEvent("info", f"unpaused DAG {dag.dag_id}"))
            else:
                on_event(LaunchEvent("warning", f"DAG {dag.dag_id} is paused: its runs will wait until it is "
                                                "unpaused", hint=Remedy.UNPAUSE))
    fresh = store.register_plan(plan.plan_id, request, plan.airflow_url, plan_to_dict(plan),
                                [(s.key, s.dag_id) for s in plan.steps])
    report = LaunchReport(plan.plan_id, resumed=not fresh)
    if not fresh:
        on_event(LaunchEvent("info", f"resuming launch of plan {plan.plan_id} from the journal"))
    start_after = plan.options.start_after
    if start_after is not None and clock() < start_after:
        on_event(LaunchEvent("info", f"waiting until {format_moment(start_after)}, the plan's start, to create "
                                     "its backfills"))
    while True:
        journal = store.steps(plan.plan_id)
        status = store.plan(plan.plan_id).status
        if status == "cancelled":
            on_event(LaunchEvent("info", f"plan {plan.plan_id} was cancelled; nothing more will be created"))
            report.stopped_early = True
            return report
        too_early = start_after is not None and clock() < start_after
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
            if too_early or status == "paused" or not _depends_done(plan, step, journal):
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
                backfill = client.backfills.create(**step_request(plan, step))
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
        sleep(max(0.0, min(poll_seconds, (start_after - clock()).total_seconds())) if too_early else poll_seconds)


def launch_governed(
    client: AirflowClient,
    store: StateStore,
    plan: Plan,
    *,
    follow: bool,
    request: str | None = None,
    unpause: bool = False,
    force: bool = False,
    on_event: Callable[[LaunchEvent], None] = lambda e: None,
    on_governor: Callable[[GovernorEvent], None] = lambda e: None,
    on_progress: Callable[[list[DagProgress]], None] | None = None,
    progress_every: float = 2.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> LaunchReport:
    """The one launch every edge runs: create the plan's backfills and, when following, keep each within its pool
    budgets with the governor until the plan completes (``afkit backfill launch --follow``, the terminal app).

    While it follows, every pass ticks the governor (which reports each action through ``on_governor``) and, every
    ``progress_every`` seconds, hands the plan's progress to ``on_progress``. Without ``follow`` it returns once every
    step's backfill exists, after one governor pass; ``afkit watch`` governs from then on. A followed launch ends
    with one more pass, which gives a carved pool's share back once the backfills are done.
    """
    governor = configured_governor(client, store)
    shown = {"at": float("-inf")}

    def govern() -> None:
        for event in governor.tick():
            if event.action in ACTED:
                on_governor(event)

    def tick() -> bool:
        if follow:
            govern()
        if follow and on_progress is not None and time.monotonic() - shown["at"] >= progress_every:
            on_progress(plan_progress(client, store, plan))
            shown["at"] = time.monotonic()
        return should_stop()

    try:
        report = launch(client, store, plan, request=request, unpause=unpause, force=force,
                        until="completed" if follow else "created", on_event=on_event, should_stop=tick)
        if report.created or follow:
            # One pass now: after a launch, a carved pool's companion gets the backfills' share before their first
            # tasks are scheduled (``afkit watch`` governs from here); after following to the end, it goes back.
            govern()
    finally:
        governor.release_leases()
    return report


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
    cancelled: int = 0  # runs that never ran because their backfill was cancelled

    @property
    def done(self) -> int:
        return self.success + self.failed


def plan_progress(client: AirflowClient, store: StateStore, plan: Plan) -> list[DagProgress]:
    """Each DAG's progress, from Airflow's current state plus the journal — never from what afkit last wrote.

    The journal says which backfills belong to the plan and which steps are not created yet; Airflow says whether each
    backfill is paused or completed and what its runs did. A step whose backfill Airflow has completed is completed
    here even if no ``--follow`` was there to record it, and a backfill resumed by its id counts as running.
    """
    journal = store.steps(plan.plan_id)
    entry = store.plan(plan.plan_id)
    plan_status = entry.status if entry else "not launched"
    progress = []
    for dag in plan.dags:
        entries = [journal[s.key] for s in dag.steps if s.key in journal]
        runs = [r for r in client.dag_runs.list(dag.dag_id, conf_contains=plan.plan_id)
                if (r.conf.get(PLAN_TAG) or {}).get("plan_id") == plan.plan_id]
        counts = count_runs(runs)
        ids = tuple(e.backfill_id for e in entries if e.backfill_id is not None)
        backfills = {i: client.backfills.get(i) for i in ids}
        step_states = [_step_state(e, backfills.get(e.backfill_id)) for e in entries]
        live = [b for e, b in ((e, backfills.get(e.backfill_id)) for e in entries)
                if b is not None and b.completed_at is None and e.status not in ("completed", "cancelled")]
        paused = any(b.is_paused for b in live)
        total = dag.run_count
        remaining = max(0, total - counts.done - counts.cancelled)
        eta = (math.ceil(remaining / max(1, dag.concurrency)) * dag.estimate.p50) if dag.estimate.p50 else None
        if step_states and all(s == "completed" for s in step_states):
            status = "cancelled" if counts.cancelled else "completed"  # a cancel completes a backfill in Airflow
        elif step_states and all(s in ("completed", "cancelled") for s in step_states) or (
                plan_status == "cancelled" and not live):
            status = "cancelled"
        elif paused or (plan_status == "paused" and not live):
            status = "paused"
        elif live:
            status = "running"
        else:
            status = "waiting"
        finished = status in ("completed", "cancelled")
        progress.append(DagProgress(dag.dag_id, total, counts.success, counts.failed, counts.running, counts.queued,
                                    ids, paused, status, 0.0 if finished or not remaining else eta, counts.cancelled))
    return progress


def _step_state(entry, backfill: Backfill | None) -> str:
    """A step as Airflow sees it now: the journal's word for steps without a backfill, Airflow's for the others."""
    if entry.status == "cancelled":
        return "cancelled"
    if backfill is not None and backfill.completed_at is not None:
        return "completed"
    return entry.status


def plan_status(client: AirflowClient, store: StateStore, plan: Plan) -> str:
    """One word for a whole plan, derived like :func:`plan_progress`: the least finished of its DAGs.

    A finished plan (completed or cancelled in Airflow, which cannot be undone) is recorded so in the journal, so
    that it leaves the list of unfinished launches and the governor stops looking at it.
    """
    statuses = [p.status for p in plan_progress(client, store, plan)]
    for word in ("paused", "running", "waiting"):
        if word in statuses:
            return word
    finished = "cancelled" if "cancelled" in statuses else "completed"
    store.set_plan_status(plan.plan_id, finished)
    return finished


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


# -- cancelling ------------------------------------------------------------------------------------------------------


def _label(dag_partitioned: bool, run: DagRun) -> str:
    key = run.partition_key if dag_partitioned else None
    return partition_label(key, run.logical_date, run.partition_date) or run.run_id


@dataclass(frozen=True)
class CancelPreview:
    """What a cancel will do to partitions, said before it is done.

    Airflow's cancel marks every queued run of the backfill failed. Under ``reprocess`` failed or completed, those
    runs are old runs cleared to run again: a partition that had succeeded is left failed.
    """

    reprocess: str
    queued: tuple[str, ...]  # partitions whose queued run Airflow will mark failed
    were_successful: tuple[str, ...]  # of those, the ones that had succeeded before the backfill reran them
    known: bool = True  # False for a backfill afkit did not plan: what its partitions were before is not known

    @property
    def warning(self) -> str | None:
        if not self.queued:
            return None
        text = f"cancelling marks {len(self.queued)} queued run(s) failed: {_listing(self.queued)}"
        if self.were_successful:
            text += (f"; {len(self.were_successful)} of them had succeeded before this backfill reran them and will "
                     f"be left failed: {_listing(self.were_successful)}")
        elif not self.known and self.reprocess != "none":
            text += (f"; this backfill reprocesses {self.reprocess} runs, so some of them may have succeeded before "
                     "and will be left failed")
        return text


@dataclass(frozen=True)
class CancelReport:
    backfills: tuple[Backfill, ...]
    changed: tuple[tuple[str, str, str, str], ...]  # (dag, partition, state before the cancel, state after)

    @property
    def summary(self) -> str:
        if not self.changed:
            return "no partition changed state"
        lines = [f"{len(self.changed)} partition(s) changed state:"]
        lines += [f"  {dag} {label}: {before} → {after}" for dag, label, before, after in self.changed]
        return "\n".join(lines)


def _listing(labels: tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _target_runs(client: AirflowClient, store: StateStore, target: Plan | int) -> dict[tuple[str, str], DagRun]:
    """(dag, partition) -> run, for every run a plan or a backfill made."""
    if isinstance(target, int):
        found = client.backfills.get(target)
        partitioned = client.dags.details(found.dag_id).dag.is_partitioned
        return {(r.dag_id, _label(partitioned, r)): r for r in runs_of_backfill(client, found)}
    runs = {}
    for dag in target.dags:
        for r in client.dag_runs.list(dag.dag_id, conf_contains=target.plan_id):
            if (r.conf.get(PLAN_TAG) or {}).get("plan_id") == target.plan_id:
                runs[(dag.dag_id, _label(dag.partitioned, r))] = r
    return runs


def cancel_preview(client: AirflowClient, store: StateStore, target: Plan | int) -> CancelPreview:
    runs = _target_runs(client, store, target)
    queued = tuple(label for (dag, label), r in sorted(runs.items()) if r.state == "queued")
    if isinstance(target, int):
        return CancelPreview(client.backfills.get(target).reprocess_behavior, queued, (), known=False)
    before = {(d.dag_id, p.label): p.state for d in target.dags for p in d.partitions if p.runs}
    successful = tuple(label for (dag, label), r in sorted(runs.items())
                       if r.state == "queued" and before.get((dag, label)) == "success")
    return CancelPreview(target.options.reprocess, queued, successful)


def cancel(client: AirflowClient, store: StateStore, target: Plan | int) -> CancelReport:
    """Cancel a plan or one backfill, and report which partitions changed state because of it."""
    before = {key: r.state for key, r in _target_runs(client, store, target).items()}
    if isinstance(target, int):
        touched = [act_on_backfill(client, target, "cancel")]
    else:
        touched = act_on_plan(client, store, target, "cancel")
    after = _target_runs(client, store, target)
    changed = tuple((dag, label, state, after[(dag, label)].state) for (dag, label), state in sorted(before.items())
                    if (dag, label) in after and after[(dag, label)].state != state)
    return CancelReport(tuple(touched), changed)


def plan_from_journal(store: StateStore, plan_id: str) -> Plan:
    entry = store.plan(plan_id)
    if entry is None:
        raise NotFound(f"no launched plan {plan_id!r} in afkit's state ({store.url})")
    return plan_from_dict(entry.plan_json, f"journal:{plan_id}")
