"""Carving a pool (``Governor.carve_pools``) on the in-memory Airflow with its afkit plugin: the companion gets the
backfills' share and gives it back, the configured size is kept in the state database so another governor restores
it after a crash, and a pool changed by someone else is reported rather than overwritten."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.conftest import NO_POLICY, NOW, plan_of
from tests.unit.services.test_plugin_path import HEALTH
from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy
from toolkit.services import plugin_path
from toolkit.services.backfills import launch
from toolkit.services.governor import Governor
from toolkit.state import POOL_ACTIONS

RESERVE_TWO = ThrottlePolicy(pools=(PoolPolicy("warehouse", Amount(2)),))


@pytest.fixture
def carved(airflow):
    """The fake Airflow carves ``warehouse`` (4 slots) and serves boards through its plugin."""
    airflow.carved.add("warehouse")
    airflow.plugin_health = dict(HEALTH)
    plugin_path._checked.pop(airflow, None)
    return airflow


def governor(airflow, store, holder="first"):
    return Governor(airflow, store, holder=holder, policy=RESERVE_TWO, lease_seconds=30)


def carve_events(events):
    return [e for e in events if e.pool is not None and e.action != "none"]


def test_a_backfill_in_a_carved_pool_is_admitted_by_its_budget_and_gets_exactly_it(carved, store):
    plan = plan_of(carved, downstream=False, policy=RESERVE_TWO)
    (budget,) = [b for b in plan.budgets if b.pool == "warehouse"]
    assert budget.carved and budget.budget == 2 and plan.dags[0].concurrency == 3  # 2 to fill it, 1 to keep it full
    (backfill_id,) = launch(carved, store, plan, current_policy=NO_POLICY, sleep=carved.advance).created
    for run in carved.runs_of(backfill_id)[:3]:
        carved.add_task_instance("raw", run.run_id, "scheduled", "warehouse")
    assert {t.pool for t in carved.task_instance_rows} == {"warehouse__afkit"}
    carved.add_task_instance("orders", "scheduled__2026-02-28", "running", "warehouse")
    (event,) = carve_events(governor(carved, store).tick(NOW))
    assert event.action == "carve" and event.reason.startswith(
        "warehouse 4→2, warehouse__afkit 0→2: the backfills have their budget of 2")
    assert (carved.pool_rows["warehouse"].slots, carved.pool_rows["warehouse__afkit"].slots) == (2, 2)
    (record,) = store.carves().values()
    assert (record.size, record.production_slots, record.companion_slots) == (4, 2, 2)
    assert [a["action"] for a in store.actions(POOL_ACTIONS)] == ["carve"]
    assert carve_events(governor(carved, store).tick(NOW + timedelta(seconds=1))) == []  # nothing moved: quiet


def test_the_share_goes_back_when_the_backfills_are_done_and_the_record_with_it(carved, store):
    tis = [carved.add_task_instance("raw", f"backfill__2026-01-0{n}", "running", "warehouse") for n in (1, 2)]
    first = governor(carved, store)
    first.tick(NOW)
    assert carved.pool_rows["warehouse__afkit"].slots == 2
    carved.set_task_state(tis[0], "success")
    (shrink,) = carve_events(first.tick(NOW + timedelta(seconds=1)))
    assert (carved.pool_rows["warehouse"].slots, carved.pool_rows["warehouse__afkit"].slots) == (3, 1)
    assert "ask for 1 of their budget of 2" in shrink.reason
    carved.set_task_state(carved.task_instance_rows[1], "success")
    (release,) = carve_events(first.tick(NOW + timedelta(seconds=2)))
    assert release.action == "release" and release.describe().startswith("release pool warehouse: warehouse 3→4")
    assert store.carves() == {} and carved.pool_rows["warehouse__afkit"].slots == 0  # the companion stays


def test_another_governor_restores_the_pool_after_a_crash(carved, store):
    ti = carved.add_task_instance("raw", "backfill__2026-01-01", "running", "warehouse")
    governor(carved, store, "crashed").tick(NOW)
    assert carved.pool_rows["warehouse"].slots == 3 and store.carves()  # one backfill task: a share of 1
    carved.set_task_state(ti, "success")  # the backfill ends while no governor runs
    later = governor(carved, store, "next")
    assert carve_events(later.tick(NOW + timedelta(seconds=5))) == []  # the crashed one's lease has not expired
    (event,) = carve_events(later.tick(NOW + timedelta(seconds=31)))
    assert event.action == "release" and carved.pool_rows["warehouse"].slots == 4 and store.carves() == {}


def test_a_pool_resized_by_someone_else_is_reported_and_its_new_size_kept(carved, store):
    carved.add_task_instance("raw", "backfill__2026-01-01", "running", "warehouse")
    carved.add_task_instance("raw", "backfill__2026-01-02", "scheduled", "warehouse")
    first = governor(carved, store)
    first.tick(NOW)
    carved.pools.ensure("warehouse", 6)  # an operator gives the pool 6 slots, seeing 2
    (event,) = carve_events(first.tick(NOW + timedelta(seconds=1)))
    assert event.action == "resized"
    assert "resized by someone else to 6 slot(s) (afkit had set 2 of 4): 6 is its configured size now" in event.reason
    assert (carved.pool_rows["warehouse"].slots, carved.pool_rows["warehouse__afkit"].slots) == (4, 2)
    assert store.carves()["warehouse"].size == 6
    carved.pool_rows["warehouse__afkit"] = carved.pool_rows["warehouse__afkit"].__class__("warehouse__afkit", 5, 5, 0, 0)
    (event,) = carve_events(first.tick(NOW + timedelta(seconds=2)))
    assert event.action == "resized" and "warehouse__afkit was set to 5 slot(s) by someone else" in event.reason
    assert carved.pool_rows["warehouse__afkit"].slots == 2  # afkit owns the companion


def test_a_carved_pool_deleted_by_someone_else_is_reported_and_the_carve_dropped(carved, store):
    carved.add_task_instance("raw", "backfill__2026-01-01", "running", "warehouse")
    first = governor(carved, store)
    first.tick(NOW)
    del carved.pool_rows["warehouse"]
    (event,) = carve_events(first.tick(NOW + timedelta(seconds=1)))
    assert event.action == "error" and "deleted by someone else while carved (configured size 4)" in event.reason
    assert store.carves() == {} and "warehouse__afkit" in carved.pool_rows


def test_backfill_tasks_left_in_the_pool_itself_are_routed_and_counted(carved, store):
    """A reprocessed run's task instances are created before Airflow marks the run a backfill's: they start in the
    pool itself. Those not started are moved; one already running counts against the budget."""
    carved.carved.discard("warehouse")  # created as Airflow creates a reprocessed run's task instances
    carved.add_task_instance("raw", "backfill__2026-01-01", "running", "warehouse")
    carved.add_task_instance("raw", "backfill__2026-01-02", "scheduled", "warehouse")
    carved.carved.add("warehouse")
    (event,) = carve_events(governor(carved, store).tick(NOW))
    assert "1 backfill task(s) routed from warehouse to warehouse__afkit" in event.reason
    assert "1 backfill slot(s) held in warehouse itself count against it" in event.reason
    assert carved.pool_rows["warehouse__afkit"].slots == 1


def test_without_the_plugin_nothing_is_carved_and_a_recorded_carve_is_held(carved, store):
    carved.add_task_instance("raw", "backfill__2026-01-01", "running", "warehouse")
    governor(carved, store).tick(NOW)
    carved.plugin_health = None
    plugin_path._checked.pop(carved, None)
    (event,) = carve_events(governor(carved, store).tick(NOW + timedelta(seconds=1)))
    assert event.action == "error" and event.reason.startswith("carve held as it is: the REST API")
    assert carved.pool_rows["warehouse"].slots == 3 and store.carves()


def test_several_backfills_in_a_carved_pool_share_its_budget(carved, store):
    for dag_id in ("raw", "other"):
        for n in (1, 2):
            carved.add_task_instance(dag_id, f"backfill__2026-01-0{n}", "scheduled", "warehouse")
    governor(carved, store).tick(NOW)
    assert (carved.pool_rows["warehouse"].slots, carved.pool_rows["warehouse__afkit"].slots) == (2, 2)
