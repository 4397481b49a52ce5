"""The backfill governor: keeps each afkit-launched backfill within its pool budgets while it runs.

It runs inside ``afkit backfill launch --follow`` and inside ``afkit watch``, so throttling continues after the
operator's terminal closes. For every running backfill of an active plan, each tick:

1. takes that backfill's lease in the state database (only one governor acts on a backfill at a time);
2. reads whether it is paused (``services.active_backfills``) and samples the pools the DAG uses
   (``services.occupancy``): one reading of each per tick for every backfill, through the afkit plugin when it is
   there, else the REST API;
3. asks the pure ``throttle.govern`` what to do;
4. pauses or resumes the Airflow backfill, and logs the action with its reason.

A pool deleted while the backfill runs, or a reserve that no longer fits a resized pool, is reported. The other pools
and backfills are still governed.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from toolkit.airflow import AirflowClient
from toolkit.errors import AfkitError, BadInput
from toolkit.core.planfile import plan_from_dict
from toolkit.core.planning import Plan
from toolkit.models import Backfill
from toolkit.services.active_backfills import read_active_backfills
from toolkit.services.occupancy import PoolReadings, read_pools
from toolkit.services.plugin_path import PathUsed
from toolkit.state import StateStore
from toolkit.core.throttle import (
    DEFAULT_RESUME_AFTER,
    OCCUPYING,
    WAITING,
    GovernorState,
    PoolBudget,
    PoolSample,
    budget_for,
    govern,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GovernorEvent:
    backfill_id: int
    action: str  # pause | resume | none | skipped | error
    reason: str


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def configured_governor(client: AirflowClient, store: StateStore) -> Governor:
    """The governor with afkit.toml's timings: the one every follow loop and ``afkit watch`` run."""
    from toolkit.service_config import load_service_config

    config = load_service_config().require_valid()
    return Governor(client, store, resume_after=timedelta(seconds=config.governor_resume_after_seconds))


class Governor:
    def __init__(self, client: AirflowClient, store: StateStore, *, holder: str | None = None,
                 resume_after: timedelta = DEFAULT_RESUME_AFTER, lease_seconds: float = 60.0) -> None:
        self.client = client
        self.store = store
        self.holder = holder or holder_name()
        self.resume_after = resume_after
        self.lease_seconds = lease_seconds
        self._plans: dict[str, Plan] = {}
        self.pools_used: PathUsed | None = None  # how the last tick read the pools (None: it governed nothing)

    def _plan(self, plan_id: str, plan_json: dict) -> Plan:
        if plan_id not in self._plans:
            self._plans[plan_id] = plan_from_dict(plan_json, f"journal:{plan_id}")
        return self._plans[plan_id]

    def tick(self, now: datetime | None = None) -> list[GovernorEvent]:
        """One pass over every running backfill of every active afkit plan."""
        now = now or datetime.now(timezone.utc)
        events = []
        readings: list[PoolReadings] = []  # read once per tick, and only when a backfill is governed
        active: list[dict[int, Backfill]] = []  # likewise

        def pools_now() -> PoolReadings:
            if not readings:
                readings.append(read_pools(self.client))
            return readings[0]

        def active_now() -> dict[int, Backfill]:
            if not active:
                active.append({b.id: b for b in read_active_backfills(self.client)[0]})
            return active[0]

        for entry in self.store.plans(("active", "paused")):
            try:
                plan = self._plan(entry.plan_id, entry.plan_json)
            except AfkitError as exc:  # a journaled plan that no longer reads must not stop the other plans
                events.append(GovernorEvent(0, "error", f"plan {entry.plan_id}: {exc}"))
                log.error("governor: plan %s: %s", entry.plan_id, exc)
                continue
            for step in self.store.steps(entry.plan_id).values():
                if step.status != "created" or step.backfill_id is None:
                    continue
                try:
                    events.append(self.govern_backfill(plan, step.dag_id, step.backfill_id, now, pools_now,
                                                       active_now))
                except AfkitError as exc:  # one backfill's trouble must not stop the others
                    events.append(GovernorEvent(step.backfill_id, "error", str(exc)))
                    log.error("governor: backfill %s: %s", step.backfill_id, exc)
        self.pools_used = readings[0].used if readings else None
        return events

    @staticmethod
    def sample(readings: PoolReadings, pool_name: str, dag_id: str, budget: PoolBudget) -> PoolSample:
        instances = readings.in_pool(pool_name)
        ours = sum(t.pool_slots for t in instances if t.state in OCCUPYING and t.is_backfill and t.dag_id == dag_id)
        production = sum(t.pool_slots for t in instances if t.state in OCCUPYING and not t.is_backfill)
        waiting = sum(t.pool_slots for t in instances if t.state in WAITING and not t.is_backfill)
        others = sum(t.pool_slots for t in instances if t.state in OCCUPYING and t.is_backfill and t.dag_id != dag_id)
        # Slots held by other backfills are not ours to count against our budget, but they are not free either.
        return PoolSample(pool_name, budget.slots - others if budget.slots >= 0 else 10**6, ours, production, waiting)

    def govern_backfill(self, plan: Plan, dag_id: str, backfill_id: int, now: datetime,
                        pools_now: Callable[[], PoolReadings] | None = None,
                        active_now: Callable[[], dict[int, Backfill]] | None = None) -> GovernorEvent:
        lease = f"governor:backfill:{backfill_id}"
        if not self.store.acquire_lease(lease, self.holder, self.lease_seconds, now):
            return GovernorEvent(backfill_id, "skipped", "another governor holds this backfill's lease")
        # Not among the active ones: it completed (or the caller may not read it), which Airflow says for this one.
        backfill = (active_now().get(backfill_id) if active_now else None) or self.client.backfills.get(backfill_id)
        if backfill.completed_at is not None:
            self.store.release_lease(lease, self.holder)
            return GovernorEvent(backfill_id, "none", "completed")
        policy = plan.options.policy
        samples, budgets, problems = [], {}, []
        readings = (pools_now or (lambda: read_pools(self.client)))()
        for pool_name in plan.dag(dag_id).pool_demand:
            pool = readings.pool(pool_name)
            if pool is None:
                problems.append(f"pool {pool_name!r} was deleted while backfill {backfill_id} runs; not governed")
                continue
            try:
                budgets[pool_name] = budget_for(pool, policy.for_pool(pool_name))
            except BadInput as exc:
                problems.append(f"{exc}; pool {pool_name!r} not governed")
                continue
            samples.append(self.sample(readings, pool_name, dag_id, budgets[pool_name]))
        for problem in problems:
            log.error("governor: %s", problem)
        paused_by_governor, clear_since = self.store.governor_state(backfill_id)
        decision = govern(samples, budgets, GovernorState(paused_by_governor, clear_since), now,
                          backfill_paused=backfill.is_paused, resume_after=self.resume_after)
        self.store.save_governor_state(backfill_id, decision.state.paused_by_governor, decision.state.clear_since)
        reason = "; ".join([decision.reason, *problems])
        if decision.action == "pause":
            self.client.backfills.pause(backfill_id)
        elif decision.action == "resume":
            self.client.backfills.unpause(backfill_id)
        if decision.action != "none":
            self.store.log_action(backfill_id, decision.action, reason, self.holder)
            log.info("governor: %s backfill %s of %s: %s", decision.action, backfill_id, dag_id, reason)
        # Nothing to do, but a pool could not be governed: report that as an error so it is seen.
        action = "error" if problems and decision.action == "none" else decision.action
        return GovernorEvent(backfill_id, action, reason)
