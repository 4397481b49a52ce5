"""The launch state machine (``services.backfills.launch``) against the in-memory Airflow: dependency order, resume
after a kill, Airflow's one-active-backfill rule and a cancel from another terminal."""

from __future__ import annotations

import re

import pytest

from tests.unit.services.conftest import DAYS, NO_POLICY, plan_of
from toolkit.core.planning import PLAN_TAG
from toolkit.errors import Conflict
from toolkit.services.backfills import cancel, launch, plan_progress


class Killed(BaseException):
    """The process dies (kill -9 is not catchable; nothing afkit does may run after it)."""


def scheduler(airflow):
    """A ``sleep`` for the launch loop: while afkit waits, Airflow finishes every active backfill."""
    def sleep(seconds: float) -> None:
        airflow.advance(seconds)
        for backfill in airflow.backfills.list_active():
            airflow.finish(backfill.id)
    return sleep


def test_a_fresh_launch_creates_one_tagged_backfill_per_step_in_dependency_order(airflow, store):
    plan = plan_of(airflow)
    report = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=scheduler(airflow))

    raw, mart = airflow.backfills_of("raw"), airflow.backfills_of("mart")
    assert len(raw) == 1 and len(mart) == 1
    assert [r for r in airflow.requests if r[0] == "create"] == [("create", "raw", raw[0].id),
                                                               ("create", "mart", mart[0].id)]
    assert mart[0].created_at >= raw[0].completed_at  # mart's step waited for raw's backfill to complete
    assert report.created == [raw[0].id, mart[0].id] and report.adopted == [] and report.complete
    assert raw[0].dag_run_conf == {PLAN_TAG: {"plan_id": plan.plan_id, "step": "raw#0"}}
    assert (raw[0].from_date, raw[0].to_date, raw[0].max_active_runs) == (DAYS[5], DAYS[9], 4)  # 4 warehouse slots
    assert [r.logical_date for r in airflow.runs_of(raw[0].id)] == DAYS[5:10]
    assert {k: s.status for k, s in store.steps(plan.plan_id).items()} == {"raw#0": "completed",
                                                                            "mart#0": "completed"}
    assert [(p.dag_id, p.status, p.success) for p in plan_progress(airflow, store, plan)] == [
        ("raw", "completed", 5), ("mart", "completed", 5)]


def test_a_launch_killed_after_airflow_created_the_backfill_adopts_it_when_resumed(airflow, store, monkeypatch):
    plan = plan_of(airflow)
    create = airflow.backfills.create

    def create_then_die(*args, **kwargs):
        create(*args, **kwargs)  # Airflow has the backfill; the journal still says "creating"
        raise Killed

    monkeypatch.setattr(airflow.backfills, "create", create_then_die)
    with pytest.raises(Killed):
        launch(airflow, store, plan, current_policy=NO_POLICY, sleep=scheduler(airflow))
    assert store.steps(plan.plan_id)["raw#0"].status == "creating"
    monkeypatch.setattr(airflow.backfills, "create", create)

    report = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=scheduler(airflow))

    (raw,) = airflow.backfills_of("raw")  # not a second one
    assert report.resumed and report.adopted == [raw.id]
    assert [r[1] for r in airflow.requests if r[0] == "create"] == ["raw", "mart"]
    assert store.steps(plan.plan_id)["raw#0"].backfill_id == raw.id and report.complete


def test_a_409_leaves_the_step_pending_and_names_the_active_backfill(airflow, store):
    plan = plan_of(airflow, downstream=False)
    # Someone else backfills two earlier days of raw after the plan was made (the plan's days are untouched).
    other = airflow.backfills.create("raw", DAYS[3], DAYS[4])

    named = re.escape(f"DAG 'raw' already has an active backfill: #{other.id} for {DAYS[3].isoformat()} … "
                      f"{DAYS[4].isoformat()}")
    with pytest.raises(Conflict, match=named + ".*0 of 2 runs done"):
        launch(airflow, store, plan, current_policy=NO_POLICY, sleep=scheduler(airflow))

    assert store.steps(plan.plan_id)["raw#0"].status == "pending"
    assert store.steps(plan.plan_id)["raw#0"].backfill_id is None
    assert airflow.backfills_of("raw") == [other]

    airflow.finish(other.id)  # once it is done, the same launch goes on and creates the step
    report = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=scheduler(airflow))
    assert report.resumed and len(report.created) == 1 and len(airflow.backfills_of("raw")) == 2


def test_a_plan_cancelled_while_it_launches_creates_nothing_more(airflow, store):
    plan = plan_of(airflow)
    cancelled = []

    def operator_cancels(seconds: float) -> None:  # another terminal cancels while the launch waits for raw
        cancelled.append(cancel(airflow, store, plan))

    report = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=operator_cancels)

    (raw,) = airflow.backfills_of("raw")
    assert airflow.backfills_of("mart") == [] and report.stopped_early and not report.complete
    assert raw.completed_at is not None and raw.is_paused
    (done,) = cancelled
    assert [(dag, before, after) for dag, _, before, after in done.changed] == [("raw", "queued", "failed")] * 5
    assert all(r.state == "failed" and r.end_date is None for r in airflow.runs_of(raw.id))
    (raw_progress, mart_progress) = plan_progress(airflow, store, plan)
    assert (raw_progress.status, raw_progress.cancelled, raw_progress.failed) == ("cancelled", 5, 0)
    assert mart_progress.status == "cancelled"

    again = launch(airflow, store, plan, current_policy=NO_POLICY, sleep=scheduler(airflow))
    assert again.stopped_early and again.created == []
    assert [r for r in airflow.requests if r[0] == "create"] == [("create", "raw", raw.id)]
