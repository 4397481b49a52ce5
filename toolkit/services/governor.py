"""The backfill governor: keeps backfills within their pool budgets while they run.

It runs inside ``afkit backfill launch --follow`` (the CLI and the terminal app) and inside ``afkit watch``, so
throttling continues after the operator's terminal closes. Each tick reads the pools once (``services.occupancy``,
through the afkit plugin when it is there, else the REST API) and then:

- **carved pools** (the plugin names them; see ``core.throttle``): for each, under that pool's lease, asks the pure
  ``throttle.carve`` how to split the pool's configured size between production and the companion holding the
  backfill share, and sets both through the plugin in one transaction. The configured size is kept in the state
  database while a carve is in place, so any watcher gives the slots back after a crash, and a size changed by
  someone else is reported, never silently overwritten. Every backfill in the pool shares the budget, afkit's or not.
- **uncarved pools** used by an afkit plan's backfill: under that backfill's lease, asks the pure ``throttle.govern``
  whether to pause it while production waits, or to resume it once production has been clear for a while.

A pool deleted while a backfill runs, or a reserve that no longer fits a resized pool, is reported. The other pools
and backfills are still governed. Each action is logged with its reason in one line.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from toolkit.airflow import AirflowClient
from toolkit.errors import AfkitError, BadInput
from toolkit.core.planfile import plan_from_dict
from toolkit.core.planning import Plan
from toolkit.models import Backfill, Pool
from toolkit.services.active_backfills import read_active_backfills
from toolkit.services.occupancy import PoolReadings, read_pools
from toolkit.services.plugin_path import PLUGIN, PathUsed
from toolkit.state import POOL_ACTIONS, Carve, StateStore
from toolkit.core.throttle import (
    DEFAULT_RESUME_AFTER,
    OCCUPYING,
    PENDING,
    WAITING,
    CarveDecision,
    CarveSample,
    GovernorState,
    PoolBudget,
    PoolSample,
    ThrottlePolicy,
    budget_for,
    carve,
    companion_of,
    govern,
)

log = logging.getLogger(__name__)


ACTED = ("pause", "resume", "carve", "release", "resized", "error")  # events an operator is shown


@dataclass(frozen=True)
class GovernorEvent:
    backfill_id: int  # POOL_ACTIONS (0) for an event of a pool's carve
    action: str  # pause | resume | carve | release | resized | none | skipped | error
    reason: str
    pool: str | None = None  # the carved pool, for its events

    def describe(self) -> str:
        """The one line an operator reads: ``carve pool warehouse: …`` or ``pause backfill 12: …``."""
        subject = f"pool {self.pool}" if self.pool is not None else f"backfill {self.backfill_id}"
        return f"{self.action} {subject}: {self.reason}"


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def configured_governor(client: AirflowClient, store: StateStore) -> Governor:
    """The governor with afkit.toml's timings: the one every follow loop and ``afkit watch`` run."""
    from toolkit.service_config import load_service_config

    config = load_service_config().require_valid()
    return Governor(client, store, resume_after=timedelta(seconds=config.governor_resume_after_seconds),
                    policy=config.throttle)


class Governor:
    def __init__(self, client: AirflowClient, store: StateStore, *, holder: str | None = None,
                 resume_after: timedelta = DEFAULT_RESUME_AFTER, lease_seconds: float = 60.0,
                 policy: ThrottlePolicy | None = None) -> None:
        self.client = client
        self.store = store
        self.policy = policy or ThrottlePolicy()  # afkit.toml's [pools]; each plan's own policy is as strict or more
        self.holder = holder or holder_name()
        self.resume_after = resume_after
        self.lease_seconds = lease_seconds
        self._plans: dict[str, Plan] = {}
        self._leases: set[str] = set()
        self.pools_used: PathUsed | None = None  # how the last tick read the pools (None: it governed nothing)

    def release_leases(self) -> None:
        """Let another governor take this one's pools and backfills at once (after a launch's own pass, when a
        watcher stops) rather than once the leases expire."""
        for lease in sorted(self._leases):
            self.store.release_lease(lease, self.holder)
        self._leases.clear()

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

        plans: list[Plan] = []
        for entry in self.store.plans(("active", "paused")):
            try:
                plan = self._plan(entry.plan_id, entry.plan_json)
            except AfkitError as exc:  # a journaled plan that no longer reads must not stop the other plans
                events.append(GovernorEvent(0, "error", f"plan {entry.plan_id}: {exc}"))
                log.error("governor: plan %s: %s", entry.plan_id, exc)
                continue
            plans.append(plan)
            for step in self.store.steps(entry.plan_id).values():
                if step.status != "created" or step.backfill_id is None:
                    continue
                try:
                    events.append(self.govern_backfill(plan, step.dag_id, step.backfill_id, now, pools_now,
                                                       active_now))
                except AfkitError as exc:  # one backfill's trouble must not stop the others
                    events.append(GovernorEvent(step.backfill_id, "error", str(exc)))
                    log.error("governor: backfill %s: %s", step.backfill_id, exc)
        # Every tick, afkit's backfills or not: a carved pool's companion must get slots for any backfill routed to it.
        events.extend(self.carve_pools(pools_now(), self.store.carves(), plans, now))
        self.pools_used = readings[0].used if readings else None
        return events

    # -- carved pools --------------------------------------------------------------------------------------------

    def carve_pools(self, readings: PoolReadings, carves: dict[str, Carve], plans: list[Plan],
                    now: datetime) -> list[GovernorEvent]:
        """Split each carved pool (and each pool still recorded as carved) between production and its backfills."""
        events = []
        for pool_name in sorted({*readings.carving, *carves}):
            lease = f"governor:pool:{pool_name}"
            if not self.store.acquire_lease(lease, self.holder, self.lease_seconds, now):
                continue
            self._leases.add(lease)
            try:
                event = self.carve_pool(readings, pool_name, carves.get(pool_name), plans)
            except AfkitError as exc:  # one pool's trouble must not stop the others
                event = GovernorEvent(POOL_ACTIONS, "error", str(exc), pool_name)
            if event.action != "none":
                self.store.log_action(POOL_ACTIONS, event.action, f"{pool_name}: {event.reason}", self.holder)
                (log.error if event.action == "error" else log.info)("governor: %s", event.describe())
            events.append(event)
        return events

    def carve_pool(self, readings: PoolReadings, name: str, carve_record: Carve | None,
                   plans: list[Plan]) -> GovernorEvent:
        pool, companion = readings.pool(name), readings.pool(companion_of(name))
        if name not in readings.carving:
            if carve_record is None:
                return GovernorEvent(POOL_ACTIONS, "none", "not carved", name)
            if readings.used.path != PLUGIN:  # which pools Airflow carves is known only through the plugin
                return GovernorEvent(POOL_ACTIONS, "error", f"carve held as it is: {readings.used.describe()}", name)
        if pool is None:
            if carve_record is None:
                return GovernorEvent(POOL_ACTIONS, "none", "carved but does not exist", name)
            self.store.drop_carve(name)
            left = f"{companion.slots} slot(s)" if companion is not None else "no pool"
            return GovernorEvent(POOL_ACTIONS, "error", f"deleted by someone else while carved (configured size "
                                 f"{carve_record.size}); the carve is dropped, {companion_of(name)} has {left}", name)
        production_slots, companion_slots = pool.slots, companion.slots if companion is not None else 0
        notes = []
        size = carve_record.size if carve_record else production_slots + companion_slots
        if carve_record and production_slots != carve_record.production_slots:
            size = production_slots  # the operator's new size for the pool, taken as its configured size
            notes.append(f"resized by someone else to {production_slots} slot(s) (afkit had set "
                         f"{carve_record.production_slots} of {carve_record.size}): {size} is its configured size now")
        elif carve_record and companion_slots != carve_record.companion_slots:
            notes.append(f"{companion_of(name)} was set to {companion_slots} slot(s) by someone else (afkit had set "
                         f"{carve_record.companion_slots}); afkit's governor owns it and sets it again")
        sample = self.carve_sample(readings, name, size, production_slots, companion_slots)
        if name not in readings.carving:  # no longer carved by Airflow: give the whole size back
            decision = CarveDecision(size, 0, "no longer carved by Airflow")
        else:
            decision = carve(sample, self.carve_budget(pool, size, plans))
        moved, released = decision.changes(sample), (decision.production_slots, decision.companion_slots) == (size, 0)
        routed = 0
        if moved or carve_record or self.backfills_waiting(readings, name):
            routed = self.client.plugins.carve(
                name, production_slots=decision.production_slots, companion_slots=decision.companion_slots,
                expect_production=production_slots, expect_companion=companion_slots).get("routed", 0)
        if released:
            self.store.drop_carve(name)
        else:
            self.store.save_carve(Carve(name, size, decision.production_slots, decision.companion_slots))
        if routed:
            notes.append(f"{routed} backfill task(s) routed from {name} to {companion_of(name)}")
        if not moved and not notes:
            return GovernorEvent(POOL_ACTIONS, "none", decision.reason, name)
        resized = any("someone else" in note for note in notes)
        action = "resized" if resized else "release" if moved and released and carve_record else "carve"
        return GovernorEvent(POOL_ACTIONS, action, "; ".join(([decision.describe(sample)] if moved else []) + notes),
                             name)

    @staticmethod
    def backfills_waiting(readings: PoolReadings, name: str) -> bool:
        """Backfill task instances in the pool itself or in its companion (anything for the carve to serve)."""
        return any(t.is_backfill or t.pool != name for t in readings.instances
                   if t.pool in (name, companion_of(name)))

    def carve_budget(self, pool: Pool, size: int, plans: list[Plan]) -> PoolBudget:
        """The strictest budget afkit.toml and the active plans using the pool give it, on its configured size."""
        configured = replace(pool, slots=size)
        policies = [self.policy, *(p.options.policy for p in plans
                                   if any(pool.name in d.pool_demand for d in p.dags))]
        found = None
        for policy in policies:
            try:
                budget = budget_for(configured, policy.for_pool(pool.name), carved=True)
            except BadInput as exc:
                raise BadInput(f"{exc}; the carve holds its current split") from None
            if found is None or budget.budget < found.budget:
                found = budget
        return found

    @staticmethod
    def carve_sample(readings: PoolReadings, name: str, size: int, production_slots: int,
                     companion_slots: int) -> CarveSample:
        def slots(pool: str, states: tuple[str, ...], backfill: bool | None) -> int:
            return sum(t.pool_slots for t in readings.in_pool(pool) if t.state in states
                       and (backfill is None or t.is_backfill == backfill))

        share = companion_of(name)
        return CarveSample(
            pool=name, size=size, production_slots=production_slots, companion_slots=companion_slots,
            production_occupied=slots(name, OCCUPYING, False), production_waiting=slots(name, WAITING, False),
            leaked=slots(name, OCCUPYING, True), backfill_occupied=slots(share, OCCUPYING, None),
            backfill_demand=slots(share, (*OCCUPYING, *WAITING, *PENDING), None) + slots(name, WAITING, True))

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
        self._leases.add(lease)
        # Not among the active ones: it completed (or the caller may not read it), which Airflow says for this one.
        backfill = (active_now().get(backfill_id) if active_now else None) or self.client.backfills.get(backfill_id)
        if backfill.completed_at is not None:
            self.store.release_lease(lease, self.holder)
            return GovernorEvent(backfill_id, "none", "completed")
        policy = plan.options.policy
        samples, budgets, problems = [], {}, []
        readings = (pools_now or (lambda: read_pools(self.client)))()
        for pool_name in plan.dag(dag_id).pool_demand:
            if pool_name in readings.carving:  # held task by task by its companion pool, see carve_pools
                continue
            pool = readings.pool(pool_name)
            if pool is None:
                problems.append(f"pool {pool_name!r} was deleted while backfill {backfill_id} runs; not governed")
                continue
            if not policy.names(pool_name):  # no reserve for production there: left as Airflow runs it
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
