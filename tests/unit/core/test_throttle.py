"""Budgets, admission, deadlock pre-checks and the governor's hysteresis, from data alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from toolkit.errors import BadInput
from toolkit.models import Pool, Task, TaskInstance
from toolkit.core.throttle import (
    Amount,
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
    zero = admit(10, {"shared": 3}, budgets)
    assert zero.max_active_runs == 0 and zero.limiting_pool == "shared"
    assert admit(5, {"elsewhere": 1}, budgets).max_active_runs == 5


def test_deadlock_prechecks():
    budgets = {"shared": budget("2")}
    never = deadlock_warnings("d", [Task("huge", "shared", pool_slots=5)], {"shared": 5}, budgets, 1)
    assert any("can never run (deadlock)" in w for w in never)
    stall = deadlock_warnings("d", [Task("a", "shared"), Task("b", "shared")], {"shared": 3}, budgets, 1)
    assert any("backfill budget is 2" in w for w in stall)
    sensors = [Task("wait", "shared", operator_name="ExternalTaskSensor", downstream_task_ids=("work",)),
               Task("work", "shared")]
    risky = deadlock_warnings("d", sensors, {"shared": 1}, budgets, 2)
    assert any("deadlock risk" in w for w in risky)
    assert deadlock_warnings("d", sensors, {"shared": 1}, {"shared": budget("0")}, 1) == []


def sample(backfill=0, production=0, waiting=0):
    return PoolSample("shared", 4, backfill, production, waiting)


def test_governor_pauses_over_budget_or_when_production_waits():
    budgets = {"shared": budget("2")}
    over = govern([sample(backfill=3)], budgets, GovernorState(), T0, backfill_paused=False)
    assert over.action == "pause" and "over its budget of 2" in over.reason and over.state.paused_by_governor
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
