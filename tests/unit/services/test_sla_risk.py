"""The plan's SLA risk through the planning service (the in-memory Airflow), and a launch that waits for its start."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.unit.services.conftest import DAYS, NO_POLICY, NOW, plan_of
from toolkit.models import DagRun, Task
from toolkit.services.backfills import cancel, launch
from toolkit.sla import deadline, with_slas

UTC = timezone.utc
DEADLINE = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)  # 06:00 in Los Angeles (PST) on the day planned
USUAL_START = timedelta(hours=13, minutes=45)  # 05:45 Los Angeles time


@pytest.fixture
def deployment(airflow):
    """The fixture's ``raw`` (one warehouse slot per run, 10-minute runs) plus ``daily_revenue``, which needs two of
    the warehouse's four slots at once, usually starts at 05:45 Los Angeles time and produces an asset due by 06:00."""
    airflow.pool_rows["warehouse"] = type(airflow.pool_rows["warehouse"])("warehouse", 3, 3, 0, 0)
    airflow.add_dag("daily_revenue", DAYS, tasks=(Task("orders", "warehouse"), Task("refunds", "warehouse")))
    airflow.add_asset("mart.daily_revenue", producing_dags=("daily_revenue",), extra=with_slas(
        {}, deadline("0 6 * * *", "America/Los_Angeles", owners=["#analytics-eng"])))
    for day in range(1, 8):
        start = NOW - timedelta(days=day) + USUAL_START
        airflow.run_rows[("daily_revenue", f"scheduled__{day}")] = DagRun(
            "daily_revenue", f"scheduled__{day}", "success", "scheduled", start - timedelta(hours=13, minutes=45),
            start_date=start, end_date=start + timedelta(minutes=10))
    return airflow


def test_a_backfill_started_just_before_the_producers_usual_run_puts_its_deadline_at_risk(deployment):
    plan = plan_of(deployment, downstream=False, start_after=DEADLINE - timedelta(minutes=20))

    (risk,) = plan.sla_risks
    assert (risk.asset, risk.producer, risk.pools) == ("mart.daily_revenue", "daily_revenue", ("warehouse",))
    assert risk.deadline == DEADLINE and risk.run_start == DEADLINE - timedelta(minutes=15)
    assert risk.finish_with > DEADLINE >= risk.finish_without
    assert {f.kind for f in risk.fixes} == {"budget", "start_after"}
    assert next(f for f in risk.fixes if f.kind == "start_after").at == DEADLINE


def test_the_same_backfill_at_once_or_after_the_deadline_puts_nothing_at_risk(deployment):
    assert plan_of(deployment, downstream=False).sla_risks == ()  # planned at midnight UTC: done by 05:45
    assert plan_of(deployment, downstream=False, start_after=DEADLINE).sla_risks == ()


def test_a_producer_with_only_backfill_runs_is_not_judged_and_the_plan_says_so(deployment):
    for key, run in list(deployment.run_rows.items()):
        if run.dag_id == "daily_revenue":
            deployment.run_rows[key] = DagRun(**{**run.__dict__, "run_type": "backfill"})

    plan = plan_of(deployment, downstream=False, start_after=DEADLINE - timedelta(minutes=20))

    assert plan.sla_risks == ()
    assert any("mart.daily_revenue" in w and "not judged" in w and "daily_revenue" in w for w in plan.warnings)


def test_a_producer_outside_the_backfills_pools_is_neither_judged_nor_mentioned(deployment):
    deployment.dag_rows["daily_revenue"].tasks = [Task("orders", "default_pool")]

    plan = plan_of(deployment, downstream=False, start_after=DEADLINE - timedelta(minutes=20))

    assert plan.sla_risks == () and not any("daily_revenue" in w for w in plan.warnings)


def test_a_launch_with_a_start_creates_nothing_before_it(deployment, store):
    plan = plan_of(deployment, ("raw",), downstream=False, start_after=NOW + timedelta(hours=2))
    seen = []

    def sleep(seconds: float) -> None:
        seen.append((deployment.now, len(deployment.backfills_of("raw"))))
        deployment.advance(seconds)
        for backfill in deployment.backfills.list_active():
            deployment.finish(backfill.id)

    events = []
    report = launch(deployment, store, plan, current_policy=NO_POLICY, sleep=sleep, poll_seconds=600,
                    clock=lambda: deployment.now, on_event=events.append)

    (created,) = deployment.backfills_of("raw")
    assert created.created_at >= NOW + timedelta(hours=2) and report.created == [created.id]
    assert all(count == 0 for moment, count in seen if moment < NOW + timedelta(hours=2))
    assert any("waiting until 2026-03-01 02:00 UTC" in e.message for e in events)


def test_a_launch_waiting_for_its_start_can_be_cancelled(deployment, store):
    plan = plan_of(deployment, ("raw",), downstream=False, start_after=NOW + timedelta(hours=2))

    def operator_cancels(seconds: float) -> None:
        cancel(deployment, store, plan)

    report = launch(deployment, store, plan, current_policy=NO_POLICY, sleep=operator_cancels, clock=lambda: NOW)

    assert report.stopped_early and deployment.backfills_of("raw") == []


def test_a_start_in_the_past_is_refused_with_the_flag_named_and_a_relative_start_is_taken_from_now():
    from toolkit.core.plan_options import build_options
    from toolkit.errors import BadInput

    with pytest.raises(BadInput, match=r"--start-after 2026-02-28T23:00\+00:00 is in the past \(now is 2026-03-01T00:00\+00:00\)"):
        build_options("-5d", None, None, False, "none", "oldest", 10, NOW, names={"start_after": "--start-after"},
                      start_after="-1h")
    options = build_options("-5d", None, None, False, "none", "oldest", 10, NOW, start_after="+90m")
    assert options.start_after == NOW + timedelta(minutes=90)


def test_a_launch_whose_start_passes_while_it_decides_to_wait_never_sleeps_a_negative_time(deployment, store):
    plan = plan_of(deployment, ("raw",), downstream=False, start_after=NOW + timedelta(seconds=1))
    moments = iter([NOW, NOW, NOW + timedelta(seconds=5)])  # the start passes between two looks at the clock
    slept = []

    def sleep(seconds: float) -> None:
        assert seconds >= 0, seconds
        slept.append(seconds)
        deployment.advance(max(seconds, 1.0))
        for backfill in deployment.backfills.list_active():
            deployment.finish(backfill.id)

    report = launch(deployment, store, plan, current_policy=NO_POLICY, sleep=sleep,
                    clock=lambda: next(moments, deployment.now + timedelta(hours=1)))
    assert report.created and slept[0] == 0.0
