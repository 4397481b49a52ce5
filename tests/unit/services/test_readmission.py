"""Launch-time admission, on an in-memory stand-in for afkit's operations layer (pools and tasks only).

Real launches against Airflow are in tests/integration/test_plan_policy.py; here the rule itself: runs-at-once are
lowered, never raised, to what today's pools allow under the stricter policy, and the plan that comes out reads back
from the journal as the plan that was admitted.
"""

from __future__ import annotations

from types import SimpleNamespace

from tests.unit.core.test_planning import DAY, inputs, plan_for
from toolkit.services.backfills import readmit
from toolkit.models import DryRunInfo, Pool, Task
from toolkit.core.planfile import plan_from_dict, plan_to_dict
from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy

WIDE = (Task("load", "warehouse", 1),)


class Operations:
    """What readmit reads: the pools (through REST: no plugin here), and each DAG's tasks."""

    def __init__(self, slots: int) -> None:
        self.pools = SimpleNamespace(list=lambda: [Pool("warehouse", slots, slots, 0, 0),
                                                   Pool("default_pool", 128, 128, 0, 0)])
        self.task_instances = SimpleNamespace(list=lambda **query: [])
        self.plugins = SimpleNamespace(afkit_health=lambda: None)
        self.dags = SimpleNamespace(tasks=lambda dag_id: list(WIDE))


operations = Operations


def planned(slots: int = 8, reserve: int = 2):
    policy = ThrottlePolicy(Amount(0), (PoolPolicy("warehouse", Amount(reserve)),))
    return plan_for(inputs(tasks=WIDE, dry=[DryRunInfo(d) for d in DAY]), max_active_runs=10, policy=policy,
                    pools={"warehouse": Pool("warehouse", slots, slots, 0, 0),
                           "default_pool": Pool("default_pool", 128, 128, 0, 0)})


def test_a_plan_is_lowered_to_todays_pool_and_the_stricter_policy_and_reads_back_as_admitted():
    plan = planned()
    assert plan.dags[0].concurrency == 6  # 8 slots, 2 reserved
    stricter = ThrottlePolicy(Amount(0), (PoolPolicy("warehouse", Amount(75, percent=True)),))
    admitted, notes = readmit(operations(slots=4), plan, stricter)  # the pool shrank and afkit.toml reserves 75 %
    assert admitted.dags[0].concurrency == 1 and notes == [
        "d: 6 run(s) at a time lowered to 1 — pool 'warehouse' budget 1 (of 4, 3 reserved) ÷ 1 slot(s) per run"]
    again = plan_from_dict(plan_to_dict(admitted), "journal")  # the journal's copy is the admitted plan
    assert again.dags[0].concurrency == 1 and [b.budget for b in again.budgets if b.pool == "warehouse"] == [1]
    assert again.options.policy.for_pool("warehouse").reserve == Amount(3)  # what the governor will hold


def test_a_looser_policy_or_a_bigger_pool_never_raises_what_was_planned():
    plan = planned(slots=4, reserve=2)
    assert plan.dags[0].concurrency == 2
    admitted, notes = readmit(operations(slots=64), plan, ThrottlePolicy())
    assert admitted.dags[0].concurrency == 2 and notes == []
    assert plan_from_dict(plan_to_dict(admitted), "journal").dags[0].concurrency == 2
