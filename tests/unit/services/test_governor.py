"""The governor (``services.governor.Governor``) on a launched plan in the in-memory Airflow: it pauses when
production waits, resumes only after ``resume_after`` of calm, and never resumes what an operator paused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.services.conftest import NO_POLICY, NOW, WAREHOUSE_NAMED, plan_of
from toolkit.services.backfills import launch
from toolkit.services.governor import Governor

RESUME_AFTER = timedelta(seconds=20)


@pytest.fixture
def launched(airflow, store):
    """raw's backfill running 2 of the 4 warehouse slots; production holds the other 2."""
    plan = plan_of(airflow, downstream=False, policy=WAREHOUSE_NAMED)
    (backfill_id,) = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=airflow.advance).created
    for run in airflow.runs_of(backfill_id)[:2]:
        airflow.add_task_instance("raw", run.run_id, "running", "warehouse")
    airflow.add_task_instance("orders", "scheduled__2026-02-28", "running", "warehouse", slots=2)
    return backfill_id, Governor(airflow, store, holder="test", resume_after=RESUME_AFTER)


def production_waits(airflow) -> None:
    airflow.add_task_instance("orders", "scheduled__2026-03-01", "scheduled", "warehouse")


def production_clears(airflow) -> None:
    airflow.task_instance_rows = [t for t in airflow.task_instance_rows if t.state != "scheduled"]


def test_pauses_when_production_waits_and_resumes_only_after_resume_after(airflow, store, launched):
    backfill_id, governor = launched
    assert [e.action for e in governor.tick(NOW)] == ["none"]  # within budget, nobody waits
    production_waits(airflow)
    (event,) = governor.tick(NOW + timedelta(seconds=1))
    assert event.action == "pause" and "1 production task(s) wait for pool 'warehouse' (0 free)" in event.reason
    assert airflow.backfills.get(backfill_id).is_paused

    production_clears(airflow)
    for seconds in (2, 10, 21):  # calm since 2 s: not yet 20 s
        assert [e.action for e in governor.tick(NOW + timedelta(seconds=seconds))] == ["none"]
        assert airflow.backfills.get(backfill_id).is_paused
    (event,) = governor.tick(NOW + timedelta(seconds=22))
    assert event.action == "resume" and not airflow.backfills.get(backfill_id).is_paused
    assert [a["action"] for a in store.actions(backfill_id)] == ["pause", "resume"]
    assert [r for r in airflow.requests if r[0] in ("pause", "unpause")] == [("pause", backfill_id),
                                                                             ("unpause", backfill_id)]


def test_production_waiting_again_restarts_the_calm_period(airflow, store, launched):
    backfill_id, governor = launched
    production_waits(airflow)
    governor.tick(NOW)
    production_clears(airflow)
    governor.tick(NOW + timedelta(seconds=1))
    production_waits(airflow)
    assert [e.action for e in governor.tick(NOW + timedelta(seconds=15))] == ["none"]  # already paused
    production_clears(airflow)
    governor.tick(NOW + timedelta(seconds=16))
    assert [e.action for e in governor.tick(NOW + timedelta(seconds=30))] == ["none"]  # 14 s calm, not 29
    assert [e.action for e in governor.tick(NOW + timedelta(seconds=36))] == ["resume"]


def test_never_resumes_a_backfill_an_operator_paused(airflow, store, launched):
    backfill_id, governor = launched
    airflow.backfills.pause(backfill_id)  # the operator, from the Airflow UI
    production_waits(airflow)  # pressure while it is paused must not make the pause the governor's
    assert [e.action for e in governor.tick(NOW)] == ["none"]
    production_clears(airflow)
    for minutes in (1, 10, 60):
        (event,) = governor.tick(NOW + timedelta(minutes=minutes))
        assert event.action == "none"
    assert event.reason == "paused by someone else: left alone"
    assert airflow.backfills.get(backfill_id).is_paused
    assert [r for r in airflow.requests if r[0] == "unpause"] == [] and store.actions(backfill_id) == []


def test_a_completed_backfill_is_left_alone(airflow, store, launched):
    backfill_id, governor = launched
    airflow.finish(backfill_id)
    production_waits(airflow)
    (event,) = governor.tick(airflow.now)
    assert (event.action, event.reason) == ("none", "completed")
    assert [r for r in airflow.requests if r[0] == "pause"] == []


def test_on_the_plugin_path_one_read_of_the_active_backfills_serves_a_tick(airflow, store, launched, monkeypatch):
    """Whether a backfill is paused comes from the plugin's list of active backfills, read once per tick; only one
    missing from that list (it completed) is asked of the REST API, which says so."""
    from tests.unit.services.test_plugin_path import HEALTH, slot_usage
    from toolkit.services import plugin_path

    backfill_id, governor = launched
    production_waits(airflow)
    airflow.plugin_health = dict(HEALTH)
    plugin_path._checked.pop(airflow, None)  # the launch's own governor pass found no plugin: installed since
    airflow.plugin_answers = {"occupancy": slot_usage(airflow)}
    asked_one, listed = [], []
    get_one, list_all = airflow.backfills.get, airflow.plugins.backfills
    monkeypatch.setattr(airflow.backfills, "get", lambda i: (asked_one.append(i), get_one(i))[1])
    monkeypatch.setattr(airflow.plugins, "backfills", lambda: (listed.append(1), list_all())[1])
    (event,) = governor.tick(NOW)
    assert event.action == "pause" and asked_one == [] and listed == [1]
    airflow.finish(backfill_id)
    (event,) = governor.tick(NOW + timedelta(seconds=1))
    assert (event.action, event.reason) == ("none", "completed") and asked_one == [backfill_id] and listed == [1, 1]


def test_a_backfill_in_a_pool_no_policy_names_is_left_as_airflow_runs_it(airflow, store):
    plan = plan_of(airflow, downstream=False)  # no reserve anywhere
    (backfill_id,) = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=airflow.advance).created
    airflow.add_task_instance("raw", airflow.runs_of(backfill_id)[0].run_id, "running", "warehouse", slots=4)
    production_waits(airflow)
    events = Governor(airflow, store, holder="test").tick(NOW)
    assert [e.action for e in events] == ["none"] and not airflow.backfills.get(backfill_id).is_paused
