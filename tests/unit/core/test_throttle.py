"""Budgets, admission, deadlock pre-checks and the governor's hysteresis, from data alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.errors import BadInput
from toolkit.models import Pool, Task, TaskInstance
from toolkit.core.throttle import (
    Amount,
    CarveSample,
    carve,
    fold_companions,
    GovernorState,
    PoolPolicy,
    PoolSample,
    ThrottlePolicy,
    admit,
    budget_for,
    budgets_for,
    deadlock_warnings,
    govern,
    occupancy,
    parse_amount,
    parse_assignments,
    parse_policy,
)

T0 = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
POOL = Pool("shared", 4, 4, 0, 0)


def budget(reserve="2", cap=None, pool=POOL):
    return budget_for(pool, PoolPolicy(pool.name, parse_amount(reserve, "r"), cap))


@pytest.mark.parametrize(("text", "slots"), [("2", 2), (3, 3), ("50%", 5), ("25%", 3), ("0%", 0), ("100%", 10)])
def test_amounts(text, slots):
    assert parse_amount(text, "reserve").slots(10) == slots  # percentages round up, in production's favour


@pytest.mark.parametrize(("text", "message"), [("-1", "is negative"), ("150%", "more than 100%"), ("1.5", "whole number"),
                                               ("lots", "not a number"), (True, "not a number")])
def test_bad_amounts(text, message):
    with pytest.raises(BadInput, match=message):
        parse_amount(text, "[pools.x] reserve")


def test_budget_and_cap():
    assert budget("2").budget == 2
    assert budget("25%").budget == 3
    assert budget("1", cap=2).budget == 2
    with pytest.raises(BadInput, match="reserve 5 for pool 'shared' is more than its 4 slot"):
        budget("5")


def test_policy_parsing_and_overrides():
    policy = parse_policy({"default_reserve": "10%", "shared": {"reserve": 2, "backfill_cap": 1}})
    assert policy.for_pool("shared").reserve == Amount(2) and policy.for_pool("other").reserve == Amount(10, True)
    changed = policy.overridden({"other": Amount(3)}, {"shared": 2})
    assert changed.for_pool("other").reserve == Amount(3) and changed.for_pool("shared").backfill_cap == 2
    with pytest.raises(BadInput, match=r"\[pools.x\] has unknown key"):
        parse_policy({"x": {"reserv": 1}})
    with pytest.raises(BadInput, match="backfill_cap"):
        parse_policy({"x": {"backfill_cap": -1}})
    assert parse_assignments(["a=2", "b = 25%"], "--reserve") == {"a": "2", "b": "25%"}
    with pytest.raises(BadInput, match="use POOL=AMOUNT"):
        parse_assignments(["a"], "--reserve")


def test_unknown_pool_in_policy_is_bad_input():
    with pytest.raises(BadInput, match="names pool 'nope', which does not exist"):
        budgets_for({"shared": POOL}, ThrottlePolicy(pools=(PoolPolicy("nope"),)))


def test_admission():
    budgets = {"shared": budget("2")}
    assert admit(10, {"shared": 1}, budgets).max_active_runs == 2
    assert admit(1, {"shared": 1}, budgets).max_active_runs == 1
    wide = admit(10, {"shared": 3}, budgets)  # wider than the budget: one run at a time, not refused
    assert wide.max_active_runs == 1 and wide.limiting_pool == "shared"
    none = admit(10, {"shared": 1}, {"shared": budget("100%")})
    assert none.max_active_runs == 0 and "no backfill budget (4 of 4 slot(s) reserved)" in none.reason
    assert admit(5, {"elsewhere": 1}, budgets).max_active_runs == 5


def test_admission_in_a_carved_pool_keeps_the_budget_busy():
    carved = {"shared": replace(budget("2"), carved=True)}
    wide = admit(10, {"shared": 3}, carved)  # one run fills 2 of its 3 tasks, a second takes the slot it leaves
    assert wide.max_active_runs == 2 and "is carved" in wide.reason
    assert admit(10, {"shared": 1}, carved).max_active_runs == 3
    assert admit(2, {"shared": 1}, carved).max_active_runs == 2  # never more than asked
    assert admit(10, {"shared": 1}, {"shared": replace(budget("100%"), carved=True)}).max_active_runs == 0


def test_deadlock_prechecks():
    budgets = {"shared": budget("2")}
    never = deadlock_warnings("d", [Task("huge", "shared", pool_slots=5)], {"shared": 5}, budgets, 1)
    assert any("can never run (deadlock)" in w for w in never)
    wide = deadlock_warnings("d", [Task("a", "shared"), Task("b", "shared")], {"shared": 3}, budgets, 1)
    assert wide == ["d needs 3 slots of pool 'shared' at its widest point, more than its backfill budget of 2, and "
                    "the pool is not carved: a run holds up to 3 slot(s) (carve the pool to hold the budget at task "
                    "level)"]
    carved = {"shared": replace(budget("2"), carved=True)}
    queued = deadlock_warnings("d", [Task("a", "shared"), Task("b", "shared")], {"shared": 3}, carved, 1)
    assert len(queued) == 1 and "queue and run 2 slot(s) at a time" in queued[0] and "deadlock" not in queued[0]
    big = deadlock_warnings("d", [Task("big", "shared", pool_slots=3)], {"shared": 3}, carved, 1)
    assert any("can never run in the backfill's share (deadlock)" in w for w in big)
    sensors = [Task("wait", "shared", operator_name="ExternalTaskSensor", downstream_task_ids=("work",)),
               Task("work", "shared")]
    risky = deadlock_warnings("d", sensors, {"shared": 1}, budgets, 2)
    assert any("deadlock risk" in w for w in risky)
    assert deadlock_warnings("d", sensors, {"shared": 1}, {"shared": budget("0")}, 1) == []


def sample(backfill=0, production=0, waiting=0):
    return PoolSample("shared", 4, backfill, production, waiting)


def test_governor_pauses_when_production_waits_never_for_the_backfill_at_its_budget():
    budgets = {"shared": budget("2")}
    at_budget = govern([sample(backfill=2)], budgets, GovernorState(), T0, backfill_paused=False)
    assert at_budget.action == "none"
    over = govern([sample(backfill=3)], budgets, GovernorState(), T0, backfill_paused=False)
    assert over.action == "none"  # a run wider than the budget: pausing would stop no task of it
    wait = govern([sample(backfill=2, production=2, waiting=1)], budgets, GovernorState(), T0, backfill_paused=False)
    assert wait.action == "pause" and "1 production task(s) wait" in wait.reason
    fine = govern([sample(backfill=2, production=2)], budgets, GovernorState(), T0, backfill_paused=False)
    assert fine.action == "none"
    # a production task that was just scheduled while slots are free is not waiting for the backfill
    starting = govern([sample(backfill=1, production=1, waiting=1)], budgets, GovernorState(), T0,
                      backfill_paused=False)
    assert starting.action == "none"


def test_governor_resumes_only_after_production_stays_clear():
    budgets = {"shared": budget("2")}
    state = govern([sample(backfill=2, production=2, waiting=1)], budgets, GovernorState(), T0,
                   backfill_paused=False).state
    steps = []
    for seconds, waiting in ((5, 0), (15, 0), (18, 1), (25, 0), (40, 0), (46, 0)):
        decision = govern([sample(production=4 if waiting else 2, waiting=waiting)], budgets, state,
                          T0 + timedelta(seconds=seconds),
                          backfill_paused=True, resume_after=timedelta(seconds=20))
        steps.append(decision.action)
        state = decision.state
    # clear at 5 s, a new wait at 18 s resets the clock, clear again from 25 s: resume at 46 s (21 s later)
    assert steps == ["none", "none", "none", "none", "none", "resume"]
    assert not state.paused_by_governor


def test_governor_never_resumes_a_backfill_someone_else_paused():
    decision = govern([sample()], {"shared": budget("2")}, GovernorState(), T0 + timedelta(hours=1),
                      backfill_paused=True)
    assert decision.action == "none" and "paused by someone else" in decision.reason


def ti(pool: str, state: str, *, backfill: bool = False, slots: int = 1) -> TaskInstance:
    run_id = ("backfill__" if backfill else "scheduled__") + "2026-11-01T00:00:00+00:00"
    return TaskInstance("d", run_id, "t", state, pool, slots)


def test_occupancy_splits_production_from_backfill_and_shows_the_reserve():
    pools = [Pool("warehouse", 6, 1, 5, 0), Pool("default_pool", 128, 128, 0, 0), Pool("tiny", 1, 1, 0, 0)]
    instances = [ti("warehouse", "running"), ti("warehouse", "queued", slots=2),
                 ti("warehouse", "running", backfill=True), ti("warehouse", "queued", backfill=True, slots=2),
                 ti("warehouse", "scheduled"), ti("warehouse", "scheduled", backfill=True),  # backfill waits: not counted
                 ti("warehouse", "success"), ti("gone", "running")]
    policy = ThrottlePolicy(Amount(0), (PoolPolicy("warehouse", Amount(2)), PoolPolicy("tiny", Amount(3))))
    found = {o.pool: o for o in occupancy(pools, instances, policy)}
    assert list(found) == ["default_pool", "tiny", "warehouse"]
    w = found["warehouse"]
    assert (w.production, w.backfill, w.waiting, w.reserve, w.budget, w.free) == (3, 3, 1, 2, 4, 0)
    assert w.backfill_share == 0.5 and not w.over_budget
    assert found["default_pool"].backfill_share == 0.0 and found["default_pool"].free == 128
    assert "more than its 1 slot" in found["tiny"].error and found["tiny"].budget == 0


def look(*, size=4, production_slots=4, companion_slots=0, production=0, waiting=0, leaked=0, backfill=0, demand=0):
    return CarveSample("shared", size, production_slots, companion_slots, production, waiting, leaked, backfill, demand)


def test_carve_gives_the_backfills_their_budget_and_production_its_reserve():
    two = budget("2")
    start = carve(look(production=1, demand=6), two)
    assert (start.production_slots, start.companion_slots) == (2, 2) and "have their budget of 2" in start.reason
    assert start.describe(look(production=1, demand=6)).startswith("shared 4→2, shared__afkit 0→2: ")
    tail = carve(look(production_slots=2, companion_slots=2, production=1, backfill=1, demand=1), two)
    assert (tail.production_slots, tail.companion_slots) == (3, 1)  # the idle share goes back to production
    idle = carve(look(production_slots=3, companion_slots=1, production=1), two)
    assert (idle.production_slots, idle.companion_slots) == (4, 0)


def test_carve_never_lets_both_pools_run_more_than_the_size():
    """Shrinking a pool stops nothing: each side gets only what the other has drained."""
    two = budget("2")
    # production holds 3 (it had the idle share) when the backfill asks for its budget: it gets 1 now, 2 later
    grow = carve(look(production_slots=4, production=3, demand=4), two)
    assert (grow.production_slots, grow.companion_slots) == (3, 1)
    assert grow.reason == "production needs 3 of 4: the backfills get 1 of the 2 they ask for"
    # the backfills hold 2 while production needs 3: the companion drops at once, production grows as they drain
    lend = carve(look(production_slots=2, companion_slots=2, production=2, waiting=1, backfill=2, demand=4), two)
    assert lend.companion_slots == 1 and lend.production_slots == 2 and "once the backfills drain" in lend.reason
    for production in range(5):
        for backfill in range(3):
            for demand in range(backfill, 6):
                for waiting in range(3):
                    sample = look(production_slots=4 - backfill, companion_slots=backfill, production=production,
                                  waiting=waiting, backfill=backfill, demand=demand)
                    if production + backfill > 4:
                        continue
                    d = carve(sample, two)
                    assert d.companion_slots <= 2 and d.production_slots >= 2
                    assert d.production_slots + max(d.companion_slots, backfill) <= 4
                    assert d.companion_slots + max(d.production_slots, production) <= 4


def test_carve_counts_leaked_backfill_tasks_against_the_budget():
    d = carve(look(production=1, leaked=1, demand=3), budget("2"))
    assert d.companion_slots == 1 and "1 backfill slot(s) held in shared itself" in d.reason


def test_a_carved_pool_and_its_companion_read_as_the_pool_configured():
    pools = [Pool("shared", 2, 1, 1, 0), Pool("shared__afkit", 2, 0, 2, 0), Pool("lonely__afkit", 1, 1, 0, 0)]
    instances = [ti("shared", "running"), ti("shared__afkit", "running", backfill=True, slots=2)]
    folded, moved = fold_companions(pools, instances)
    assert [(p.name, p.slots, p.running_slots) for p in folded] == [("shared", 4, 3), ("lonely__afkit", 1, 0)]
    assert {t.pool for t in moved} == {"shared"}
    (shared,) = [o for o in occupancy(pools, instances, ThrottlePolicy(pools=(PoolPolicy("shared", Amount(2)),)))
                 if o.pool == "shared"]
    assert (shared.slots, shared.production, shared.backfill, shared.budget) == (4, 1, 2, 2)
