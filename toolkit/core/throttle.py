"""Pool-aware backfill throttling, pure: budgets, admission, deadlock pre-checks and the governor's decisions.

A pool's **reserve** is kept for production (slots, or a percentage of the pool). Backfills may use the rest, the
**budget**, optionally capped further (``backfill_cap``).

A **carved** pool (one the Airflow side's afkit.toml has a ``[pools.NAME]`` table for) holds the budget at task level:
the cluster policy routes backfill task instances into its companion pool ``NAME__afkit``, and the governor moves
slots between the two so that their sum is the pool's configured size (:func:`carve`). Admission then only keeps
enough runs active to fill the budget, and runs wider than the budget simply queue their tasks.

An uncarved pool is held run by run: admission turns the budget into the backfill's ``max_active_runs``, and the
governor pauses the backfill while production waits for the pool, resuming it after production has been clear for a
while (hysteresis, so it doesn't flap). A running run's tasks cannot be stopped that way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from toolkit.errors import BadInput
from toolkit.models import Pool, Task, TaskInstance

AMOUNT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")
DEFAULT_RESUME_AFTER = timedelta(seconds=20)
COMPANION_SUFFIX = "__afkit"  # pool NAME's backfill share is the pool NAME__afkit
POOLS_KEYS = ("default_reserve",)  # the keys of [pools] itself; every other entry is a [pools.NAME] table
POOL_KEYS = ("backfill_cap", "reserve")  # the keys of a [pools.NAME] table


def companion_of(pool: str) -> str:
    """The companion pool that holds a carved pool's backfill share."""
    return pool + COMPANION_SUFFIX


def is_companion(pool: str) -> bool:
    return pool.endswith(COMPANION_SUFFIX)


@dataclass(frozen=True)
class Amount:
    """A number of slots, or a percentage of a pool."""

    value: float
    percent: bool = False

    def slots(self, pool_slots: int) -> int:
        if not self.percent:
            return int(self.value)
        return math.ceil(pool_slots * self.value / 100)  # a reserve rounds in production's favour

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


def parse_amount(text: object, what: str) -> Amount:
    """``2``, ``"2"`` or ``"50%"``; negative numbers, fractions of slots and percentages over 100 are refused."""
    if isinstance(text, bool):
        raise BadInput(f"{what}: {text!r} is not a number of slots or a percentage")
    if isinstance(text, int):
        text = str(text)
    match = AMOUNT.match(text) if isinstance(text, str) else None
    if not match:
        raise BadInput(f"{what}: {text!r} is not a number of slots (e.g. 2) or a percentage (e.g. 25%)")
    value, percent = float(match.group(1)), bool(match.group(2))
    if value < 0:
        raise BadInput(f"{what}: {text!r} is negative")
    if percent and value > 100:
        raise BadInput(f"{what}: {text!r} is more than 100%")
    if not percent and value != int(value):
        raise BadInput(f"{what}: {text!r} is not a whole number of slots")
    return Amount(value, percent)


@dataclass(frozen=True)
class PoolPolicy:
    pool: str
    reserve: Amount = Amount(0)
    backfill_cap: int | None = None


@dataclass(frozen=True)
class ThrottlePolicy:
    """The reserve for pools without their own entry, and per-pool entries (from afkit.toml, then per launch)."""

    default_reserve: Amount = Amount(0)
    pools: tuple[PoolPolicy, ...] = ()

    def for_pool(self, name: str) -> PoolPolicy:
        for policy in self.pools:
            if policy.pool == name:
                return policy
        return PoolPolicy(name, self.default_reserve)

    def names(self, name: str) -> bool:
        """Whether the policy says anything about this pool: its own entry, or a default reserve for every pool. A
        pool it says nothing about is left as Airflow runs it."""
        return any(p.pool == name for p in self.pools) or self.default_reserve.value > 0

    def overridden(self, reserves: dict[str, Amount], caps: dict[str, int]) -> ThrottlePolicy:
        """Per-launch ``--reserve POOL=N`` and ``--backfill-cap POOL=N`` on top of the configured policy."""
        entries = {p.pool: p for p in self.pools}
        for name in {*reserves, *caps}:
            base = entries.get(name, PoolPolicy(name, self.default_reserve))
            entries[name] = replace(base, reserve=reserves.get(name, base.reserve),
                                    backfill_cap=caps.get(name, base.backfill_cap))
        return ThrottlePolicy(self.default_reserve, tuple(sorted(entries.values(), key=lambda p: p.pool)))

    def to_dict(self) -> dict:
        return {
            "default_reserve": str(self.default_reserve),
            "pools": {p.pool: {"reserve": str(p.reserve), "backfill_cap": p.backfill_cap} for p in self.pools},
        }


def parse_policy(section: object, default_reserve: object = 0) -> ThrottlePolicy:
    """The ``[pools]`` table of afkit.toml: ``default_reserve`` and one ``[pools.NAME]`` table per pool."""
    if section is None:
        return ThrottlePolicy(parse_amount(default_reserve, "[pools] default_reserve"))
    if not isinstance(section, dict):
        raise BadInput("[pools] must be a table")
    default = parse_amount(section.get("default_reserve", default_reserve), "[pools] default_reserve")
    entries = []
    for name, value in section.items():
        if name in POOLS_KEYS:
            continue
        if not isinstance(value, dict):
            raise BadInput(f"[pools.{name}] must be a table with reserve and/or backfill_cap")
        unknown = sorted(set(value) - set(POOL_KEYS))
        if unknown:
            raise BadInput(f"[pools.{name}] has unknown key(s) {', '.join(unknown)} (known: {', '.join(POOL_KEYS)})")
        cap = value.get("backfill_cap")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
            raise BadInput(f"[pools.{name}] backfill_cap: {cap!r} must be a whole number of slots, 0 or more")
        entries.append(PoolPolicy(name, parse_amount(value.get("reserve", str(default)), f"[pools.{name}] reserve"),
                                  cap))
    return ThrottlePolicy(default, tuple(sorted(entries, key=lambda p: p.pool)))


def parse_assignments(values: tuple[str, ...] | list[str], option: str) -> dict[str, str]:
    """``--reserve warehouse=2 --reserve etl=25%`` → {"warehouse": "2", "etl": "25%"}."""
    found = {}
    for value in values:
        name, sep, amount = value.partition("=")
        if not sep or not name.strip() or not amount.strip():
            raise BadInput(f"{option} {value!r}: use POOL=AMOUNT, e.g. {option} warehouse=2")
        found[name.strip()] = amount.strip()
    return found


@dataclass(frozen=True)
class PoolBudget:
    pool: str
    slots: int  # the pool's configured size (while carved: its own slots plus its companion's)
    reserve: int
    cap: int | None
    budget: int  # slots backfills may occupy: min(slots - reserve, cap)
    carved: bool = False  # held at task level through the companion pool (see the module docstring)

    def describe(self) -> str:
        cap = f", backfill cap {self.cap}" if self.cap is not None else ""
        held = ", carved" if self.carved else ""
        return (f"{self.pool}: {self.slots} slots, {self.reserve} reserved for production{cap} → backfill budget "
                f"{self.budget}{held}")


def budget_for(pool: Pool, policy: PoolPolicy, carved: bool = False) -> PoolBudget:
    """The backfill budget of one pool; a reserve larger than the pool is bad input."""
    if pool.slots < 0:  # unlimited: nothing to carve
        return PoolBudget(pool.name, -1, 0, policy.backfill_cap, policy.backfill_cap if policy.backfill_cap is not None else 10**6)
    reserve = policy.reserve.slots(pool.slots)
    if reserve > pool.slots:
        raise BadInput(f"the reserve {policy.reserve} for pool {pool.name!r} is more than its {pool.slots} slot(s)")
    budget = pool.slots - reserve
    if policy.backfill_cap is not None:
        budget = min(budget, policy.backfill_cap)
    return PoolBudget(pool.name, pool.slots, reserve, policy.backfill_cap, budget, carved)


def budgets_for(pools: dict[str, Pool], policy: ThrottlePolicy, used: set[str] | None = None,
                carved: frozenset[str] | set[str] = frozenset()) -> dict[str, PoolBudget]:
    """Budgets of the pools in ``used`` (default: all). A policy naming a pool Airflow does not have is bad input."""
    for entry in policy.pools:
        if entry.pool not in pools:
            known = ", ".join(sorted(pools)) or "none"
            raise BadInput(f"the throttling policy names pool {entry.pool!r}, which does not exist (pools: {known})")
    names = used if used is not None else set(pools)
    return {name: budget_for(pools[name], policy.for_pool(name), name in carved) for name in sorted(names)
            if name in pools}


@dataclass(frozen=True)
class Admission:
    max_active_runs: int  # 0: the budget does not fit a single run
    reason: str
    limiting_pool: str | None = None


def runs_to_fill(budget: int, need: int) -> int:
    """Active runs that keep a carved budget busy: enough to fill it, plus one whose tasks take the slots a run
    leaves idle while it waits on its slowest task (the companion pool, not this number, holds the budget)."""
    return -(-budget // need) + 1


def admit(requested: int, demand: dict[str, int], budgets: dict[str, PoolBudget]) -> Admission:
    """How many runs of a DAG may be active at once.

    In a carved pool, enough to fill the budget (:func:`runs_to_fill`); in an uncarved one, as many as fit the budget
    at their widest point, and at least one: a run wider than the budget runs (with a warning) rather than being
    refused. Only a budget of 0 admits no run.
    """
    allowed, reason, limiting = requested, f"{requested} run(s) at a time asked", None
    for pool, need in sorted(demand.items()):
        budget = budgets.get(pool)
        if budget is None or need <= 0:
            continue
        if budget.budget <= 0:
            fits = 0
            why = f"pool {pool!r} has no backfill budget ({budget.reserve} of {budget.slots} slot(s) reserved)"
        elif budget.carved:
            fits = runs_to_fill(budget.budget, need)
            why = (f"pool {pool!r} is carved: {fits} run(s) of {need} slot(s) keep its budget of {budget.budget} "
                   f"(of {budget.slots}, {budget.reserve} reserved) busy")
        else:
            fits = max(1, budget.budget // need)
            why = (f"pool {pool!r} budget {budget.budget} (of {budget.slots}, {budget.reserve} reserved) ÷ "
                   f"{need} slot(s) per run")
        if fits < allowed:
            allowed, limiting, reason = fits, pool, why
    return Admission(allowed, reason, limiting)


def deadlock_warnings(dag_id: str, tasks: list[Task] | tuple[Task, ...], demand: dict[str, int],
                      budgets: dict[str, PoolBudget], concurrency: int) -> list[str]:
    """What can stall a backfill for good, found before launching it."""
    warnings = []
    for task in tasks:
        budget = budgets.get(task.pool)
        if budget and budget.slots >= 0 and task.pool_slots > budget.slots:
            warnings.append(f"{dag_id}.{task.task_id} needs {task.pool_slots} slots of pool {task.pool!r}, which has "
                            f"only {budget.slots}: it can never run (deadlock)")
        elif budget and budget.carved and 0 < budget.budget < task.pool_slots:
            warnings.append(f"{dag_id}.{task.task_id} needs {task.pool_slots} slots of pool {task.pool!r}, more than "
                            f"its backfill budget of {budget.budget}: it can never run in the backfill's share "
                            "(deadlock); lower the reserve")
    for pool, need in demand.items():
        budget = budgets.get(pool)
        if not budget or budget.slots < 0 or need <= budget.budget or budget.budget <= 0:
            continue
        if budget.carved:
            warnings.append(f"{dag_id} needs {need} slots of pool {pool!r} at its widest point, more than its "
                            f"backfill budget of {budget.budget}: those tasks queue and run {budget.budget} "
                            "slot(s) at a time")
        else:
            warnings.append(f"{dag_id} needs {need} slots of pool {pool!r} at its widest point, more than its "
                            f"backfill budget of {budget.budget}, and the pool is not carved: a run holds up to "
                            f"{need} slot(s) (carve the pool to hold the budget at task level)")
    # Sensors hold their slot while they wait (poke mode; the API does not say which mode they use).
    waiting = [t for t in tasks if t.operator_name.endswith("Sensor")]
    for pool in sorted({t.pool for t in waiting}):
        budget = budgets.get(pool)
        holders = sum(t.pool_slots for t in waiting if t.pool == pool) * max(1, concurrency)
        others = [t for t in tasks if t.pool == pool and t not in waiting]
        if budget and others and holders >= budget.budget:
            warnings.append(
                f"{dag_id}: {concurrency} concurrent run(s) of sensor(s) in pool {pool!r} can hold all "
                f"{budget.budget} backfill slot(s) while the tasks they wait for need the same pool (deadlock risk); "
                f"run fewer than {max(1, budget.budget // max(1, holders // max(1, concurrency)))} at a time"
            )
    return warnings


# -- the governor ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSample:
    """One look at a pool: who holds its slots and who waits for them."""

    pool: str
    slots: int
    backfill_occupied: int  # this backfill's task instances running or queued in the pool
    production_occupied: int  # every other task instance running or queued in the pool
    production_waiting: int  # non-backfill task instances scheduled but not yet given a slot

    @property
    def free(self) -> int:
        return self.slots - self.backfill_occupied - self.production_occupied


@dataclass(frozen=True)
class GovernorState:
    paused_by_governor: bool = False
    clear_since: datetime | None = None  # since when production has not been waiting (for hysteresis)


@dataclass(frozen=True)
class GovernorDecision:
    action: str  # pause | resume | none
    reason: str
    state: GovernorState


def govern(samples: list[PoolSample], budgets: dict[str, PoolBudget], state: GovernorState, now: datetime,
           *, backfill_paused: bool, resume_after: timedelta = DEFAULT_RESUME_AFTER) -> GovernorDecision:
    """For uncarved pools: pause while production waits for a slot; resume after production has been clear for a
    while. Being at (or, with a run wider than the budget, over) its own budget is never a reason: pausing stops only
    new runs, so it would not lower the occupancy, only slow the backfill.

    Only a pause made by the governor is ever undone by it: a backfill an operator paused stays paused.
    """
    pressure = []
    for sample in samples:
        if sample.pool not in budgets:
            continue
        if sample.production_waiting > max(0, sample.free):  # waiting with no free slot to start on
            pressure.append(f"{sample.production_waiting} production task(s) wait for pool {sample.pool!r} "
                            f"({sample.free} free)")
    if pressure:
        cleared = GovernorState(paused_by_governor=state.paused_by_governor or not backfill_paused, clear_since=None)
        if backfill_paused:
            return GovernorDecision("none", "paused; " + "; ".join(pressure), cleared)
        return GovernorDecision("pause", "; ".join(pressure), cleared)
    clear_since = state.clear_since or now
    calm = GovernorState(state.paused_by_governor, clear_since)
    if not backfill_paused:
        return GovernorDecision("none", "production not waiting", calm)
    if not state.paused_by_governor:
        return GovernorDecision("none", "paused by someone else: left alone", calm)
    if now - clear_since < resume_after:
        waited = int((now - clear_since).total_seconds())
        return GovernorDecision("none", f"production clear for {waited}s; resuming after "
                                        f"{int(resume_after.total_seconds())}s", calm)
    return GovernorDecision("resume", f"production clear for {int((now - clear_since).total_seconds())}s",
                            GovernorState(False, clear_since))


# -- carving -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarveSample:
    """One look at a carved pool and its companion, in slots."""

    pool: str
    size: int  # the configured size: production's slots plus the companion's when the carve began
    production_slots: int  # the pool's slots now
    companion_slots: int  # the companion's slots now
    production_occupied: int  # production task instances running or queued in the pool
    production_waiting: int  # production task instances scheduled in the pool
    leaked: int  # backfill task instances running or queued in the pool itself (not routed to the companion)
    backfill_occupied: int  # task instances running or queued in the companion
    backfill_demand: int  # slots the companion's task instances hold, wait for or will soon ask for


@dataclass(frozen=True)
class CarveDecision:
    production_slots: int
    companion_slots: int
    reason: str

    def changes(self, sample: CarveSample) -> bool:
        return (self.production_slots, self.companion_slots) != (sample.production_slots, sample.companion_slots)

    def describe(self, sample: CarveSample) -> str:
        """One line: what moved and why."""
        moved = (f"{sample.pool} {sample.production_slots}→{self.production_slots}, "
                 f"{companion_of(sample.pool)} {sample.companion_slots}→{self.companion_slots}")
        return f"{moved}: {self.reason}"


def carve(sample: CarveSample, budget: PoolBudget) -> CarveDecision:
    """How to split a carved pool between production and its backfills now.

    The backfill share is what the backfills ask for, up to the budget (less any backfill task that leaked into the
    pool itself), and production comes first: when its tasks wait with the pool full, the share shrinks for them, down
    to nothing. Shrinking a pool stops nothing already running, so a pool gets only the slots the other one has
    actually drained — ``production + max(companion, companion occupied) <= size`` and the reverse hold at every
    step, and the total running in both never exceeds the configured size.
    """
    size = sample.size
    share = max(0, budget.budget - sample.leaked)
    wanted = min(share, sample.backfill_demand)
    production_need = sample.production_occupied + sample.leaked + sample.production_waiting
    # production_need counts what production occupies, so the companion never grows into slots still held there
    companion = max(0, min(wanted, size - max(budget.reserve, production_need)))
    production = size - max(companion, sample.backfill_occupied)
    if companion < wanted:
        reason = (f"production needs {production_need} of {size}: the backfills get {companion} of the "
                  f"{wanted} they ask for")
    elif sample.backfill_demand == 0:
        reason = "no backfill task waits or runs: production has every slot"
    elif wanted < share:
        reason = f"the backfills ask for {sample.backfill_demand} of their budget of {share}"
    else:
        reason = f"the backfills have their budget of {share}"
    if sample.leaked:
        reason += f" ({sample.leaked} backfill slot(s) held in {sample.pool} itself count against it)"
    if production < size - companion:
        reason += f"; production gets {size - companion - production} more once the backfills drain"
    return CarveDecision(production, companion, reason)


# -- occupancy ---------------------------------------------------------------------------------------------------------

OCCUPYING = ("running", "queued")  # task instances holding pool slots
WAITING = ("scheduled",)  # waiting for a slot
PENDING = ("pending",)  # the plugin's name for a companion's task instances of running runs that will ask soon
COMPANION_DESCRIPTION = "afkit: the backfill share of pool {pool!r}; its slots are set by afkit's governor"


@dataclass(frozen=True)
class PoolOccupancy:
    """Who holds a pool right now, against what the throttling policy keeps for production (the Pools gauge)."""

    pool: str
    slots: int  # -1: unlimited
    production: int  # slots held by non-backfill task instances
    backfill: int  # slots held by backfill task instances
    waiting: int  # slots asked for by scheduled non-backfill task instances
    reserve: int
    budget: int  # slots backfills may hold (slots - reserve, capped)
    error: str | None = None  # the policy does not fit this pool (a reserve larger than the pool)

    @property
    def free(self) -> int:
        return self.slots - self.production - self.backfill if self.slots >= 0 else 10**6

    @property
    def backfill_share(self) -> float:
        used = self.production + self.backfill
        return self.backfill / used if used else 0.0

    @property
    def over_budget(self) -> bool:
        return self.backfill > self.budget


def fold_companions(pools: list[Pool] | tuple[Pool, ...], instances: list[TaskInstance] | tuple[TaskInstance, ...],
                    ) -> tuple[list[Pool], list[TaskInstance]]:
    """Each carved pool as one pool, the way its operators configured it: its slots plus its companion's, and the
    companion's task instances (the backfills') counted in it. Companions without their pool are left as they are."""
    names = {p.name for p in pools}
    companions = {p.name: p for p in pools if is_companion(p.name) and p.name[:-len(COMPANION_SUFFIX)] in names}
    if not companions:
        return list(pools), list(instances)
    folded = []
    for pool in pools:
        if pool.name in companions:
            continue
        share = companions.get(companion_of(pool.name))
        if share is not None and pool.slots >= 0:
            pool = replace(pool, slots=pool.slots + max(0, share.slots),
                           open_slots=pool.open_slots + max(0, share.open_slots),
                           running_slots=pool.running_slots + share.running_slots,
                           queued_slots=pool.queued_slots + share.queued_slots,
                           scheduled_slots=pool.scheduled_slots + share.scheduled_slots,
                           deferred_slots=pool.deferred_slots + share.deferred_slots)
        folded.append(pool)
    moved = [replace(t, pool=t.pool[:-len(COMPANION_SUFFIX)]) if t.pool in companions else t for t in instances]
    return folded, moved


def occupancy(pools: list[Pool], instances: list[TaskInstance], policy: ThrottlePolicy) -> list[PoolOccupancy]:
    """Each pool's production and backfill occupancy, from task instances that hold or wait for its slots; a carved
    pool and its companion count as the one pool they were configured as."""
    pools, instances = fold_companions(pools, instances)
    held: dict[str, list[int]] = {p.name: [0, 0, 0] for p in pools}
    for ti in instances:
        counts = held.get(ti.pool)
        if counts is None:
            continue
        if ti.state in OCCUPYING:
            counts[1 if ti.is_backfill else 0] += ti.pool_slots
        elif ti.state in WAITING and not ti.is_backfill:
            counts[2] += ti.pool_slots
    found = []
    for pool in sorted(pools, key=lambda p: p.name):
        production, backfill, waiting = held[pool.name]
        try:
            budget, error = budget_for(pool, policy.for_pool(pool.name)), None
        except BadInput as exc:
            budget, error = PoolBudget(pool.name, pool.slots, pool.slots, None, 0), str(exc)
        found.append(PoolOccupancy(pool.name, pool.slots, production, backfill, waiting, budget.reserve,
                                   budget.budget, error))
    return found
