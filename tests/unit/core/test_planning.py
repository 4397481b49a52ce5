"""The pure backfill planner: Airflow's reprocess rules, verification against the dry run, steps, estimates."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.errors import BadInput, Conflict
from toolkit.models import Asset, Backfill, Dag, DagDetails, DagRun, DryRunInfo, Pool, Task
from toolkit.core.planning import (
    AssetGraph,
    DagInputs,
    PlanMismatch,
    PlanOptions,
    build_plan,
    check_root,
    condition_needs,
    consumer_impact,
    decide,
    dependency_order,
    estimate_durations,
    format_duration,
    pool_demand,
)
from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy
from toolkit.core.timeparse import PartitionSelection

UTC = timezone.utc
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = [datetime(2026, 11, d, tzinfo=UTC) for d in range(1, 11)]


def details(dag_id="d", *, paused=False, backfillable=True, summary="@daily", partitioned=False, version=1):
    return DagDetails(
        dag=Dag(dag_id, is_paused=paused, is_backfillable=backfillable, timetable_summary=summary,
                is_partitioned=partitioned),
        version=version, start_date=datetime(2026, 1, 1, tzinfo=UTC), end_date=None, timezone="UTC",
        max_active_runs=16,
    )


def run(day: datetime, state: str, *, run_type="scheduled", started: datetime | None = None, minutes: float = 10):
    start = started or day + timedelta(days=1)
    end = start + timedelta(minutes=minutes) if state in ("success", "failed") else None
    return DagRun("d", f"{run_type}__{day.isoformat()}", state, run_type, day, start_date=start, end_date=end)


def options(**overrides) -> PlanOptions:
    values = {"from_date": DAY[0], "to_date": DAY[-1]}
    values.update(overrides)
    return PlanOptions(**values)


def inputs(runs=(), dry=None, reprocess="none", **kw) -> DagInputs:
    """Dry-run results computed with Airflow's rules (so tests that expect agreement get it)."""
    if dry is None:
        latest = {}
        for r in sorted(runs, key=lambda r: r.start_date):
            latest[r.logical_date] = r
        dry = [DryRunInfo(d) for d in DAY
               if d not in latest or decide(latest[d].state, reprocess)[0] != "skip"]
    return DagInputs(details=kw.pop("details", details()), tasks=kw.pop("tasks", (Task("t", "default_pool"),)),
                     runs=tuple(runs), dry_run=tuple(dry), **kw)


def plan_for(*dag_inputs, reprocess="none", pools=None, **opts):
    return build_plan(airflow_url="http://a", airflow_version="3.3.2", now=NOW,
                      options=options(reprocess=reprocess, **opts), inputs=list(dag_inputs),
                      pools=pools or {"default_pool": Pool("default_pool", 128, 128, 0, 0)})


@pytest.mark.parametrize(
    ("state", "reprocess", "action"),
    [
        ("missing", "none", "create"),
        ("success", "none", "skip"),
        ("failed", "none", "skip"),
        ("failed", "failed", "rerun"),
        ("success", "failed", "skip"),
        ("success", "completed", "rerun"),
        ("failed", "completed", "rerun"),
        ("running", "completed", "skip"),
        ("queued", "failed", "skip"),
    ],
)
def test_airflow_reprocess_rules(state, reprocess, action):
    assert decide(state, reprocess)[0] == action


def test_ten_missing_partitions_are_one_step_of_ten_runs():
    plan = plan_for(inputs())
    dag = plan.dags[0]
    assert dag.run_count == 10 and dag.count("create") == 10
    assert [(s.from_date, s.to_date, s.runs) for s in dag.steps] == [(DAY[0], DAY[-1], 10)]
    assert plan.plan_id and len(plan.plan_id) == 16


def test_reprocess_failed_reruns_only_failed_and_reasons_say_why():
    runs = [run(DAY[1], "failed"), run(DAY[3], "failed"), run(DAY[5], "success")]
    dag = plan_for(inputs(runs, reprocess="failed"), reprocess="failed").dags[0]
    by_day = {p.logical_date: p for p in dag.partitions}
    assert [d for d, p in by_day.items() if p.action == "rerun"] == [DAY[1], DAY[3]]
    assert by_day[DAY[5]].action == "skip" and "already succeeded" in by_day[DAY[5]].reason
    assert dag.count("create") == 7


def test_latest_run_decides_like_airflow():
    """A failed run re-run successfully later: the newest started run wins, so nothing to re-run."""
    runs = [run(DAY[2], "failed", started=DAY[2] + timedelta(days=1)),
            run(DAY[2], "success", run_type="backfill", started=DAY[2] + timedelta(days=5))]
    dag = plan_for(inputs(runs, reprocess="failed"), reprocess="failed").dags[0]
    assert {p.logical_date: p.action for p in dag.partitions}[DAY[2]] == "skip"


def test_a_dry_run_that_disagrees_is_an_error_naming_the_partition():
    runs = [run(DAY[4], "failed")]
    dry = [DryRunInfo(d) for d in DAY if d != DAY[4]]  # Airflow says it would not re-run the failed day
    with pytest.raises(PlanMismatch, match=r"afkit would rerun, Airflow would not"):
        plan_for(inputs(runs, dry=dry), reprocess="failed")
    dry = [DryRunInfo(d) for d in DAY]  # … or would create a day afkit skips
    with pytest.raises(PlanMismatch, match=r"Airflow would create a run, afkit would skip"):
        plan_for(inputs([run(DAY[4], "success")], dry=dry))


def test_manual_runs_off_the_schedule_are_left_out_not_mismatched():
    odd = DagRun("d", "manual__x", "failed", "manual", DAY[2] + timedelta(hours=13), start_date=DAY[3],
                 end_date=DAY[3])
    plan = plan_for(inputs([odd], dry=[DryRunInfo(d) for d in DAY]), reprocess="failed")
    assert plan.dags[0].run_count == 10
    assert any("not on its schedule" in w for w in plan.warnings)


def test_selected_keys_become_contiguous_steps():
    dry = [DryRunInfo(None, d.strftime("%Y-%m-%d"), d) for d in DAY]
    part = inputs(dry=dry, details=details(partitioned=True))
    selection = PartitionSelection(keys=("2026-11-02", "2026-11-03", "2026-11-07"))
    dag = plan_for(part, partitions=selection).dags[0]
    assert [p.partition_key for p in dag.partitions] == ["2026-11-02", "2026-11-03", "2026-11-07"]
    assert [(s.from_date.day, s.to_date.day, s.runs) for s in dag.steps] == [(2, 3, 2), (7, 7, 1)]


def test_selected_dates_of_a_time_based_dag_become_contiguous_steps():
    """The terminal app's grid sends a scattered selection of a daily DAG as logical dates."""
    selection = PartitionSelection(keys=(DAY[1].isoformat(), DAY[2].isoformat(), "2026-11-07"))
    dag = plan_for(inputs(), partitions=selection).dags[0]
    assert [p.logical_date for p in dag.partitions] == [DAY[1], DAY[2], DAY[6]]
    assert [(s.from_date.day, s.to_date.day, s.runs) for s in dag.steps] == [(2, 3, 2), (7, 7, 1)]


def test_newest_first_reverses_partitions():
    dag = plan_for(inputs(), order="newest").dags[0]
    assert dag.partitions[0].logical_date == DAY[-1]


def test_selecting_nothing_is_bad_input():
    with pytest.raises(BadInput, match="selects no runs of DAG 'd'"):
        plan_for(inputs(dry=[]))


def test_depends_on_past_rules():
    tasks = (Task("t", "default_pool", depends_on_past=True),)
    with pytest.raises(BadInput, match="only be backfilled oldest first"):
        plan_for(inputs(tasks=tasks, reprocess="failed"), reprocess="failed", order="newest")
    with pytest.raises(BadInput, match="requires reprocess failed or completed"):
        plan_for(inputs(tasks=tasks))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"from_date": DAY[5], "to_date": DAY[1]}, "is after the end"),
        ({"from_date": NOW + timedelta(days=1), "to_date": NOW + timedelta(days=2)}, "is in the future"),
        ({"reprocess": "sometimes"}, "reprocess 'sometimes'"),
        ({"max_active_runs": 0}, "must be at least 1"),
    ],
)
def test_option_validation(overrides, message):
    with pytest.raises(BadInput, match=message):
        options(**overrides).validate(NOW)


def test_active_backfill_of_another_launch_is_a_conflict_naming_it():
    other = Backfill(7, "d", DAY[0], DAY[2], True, 2, "none", NOW - timedelta(hours=2))
    with pytest.raises(Conflict, match=r"#7 for .* running since 2026-11-21T10:00:00\+00:00 \(paused\)"):
        plan_for(inputs(active_backfills=(other,)))


def test_asset_only_dag_as_root_names_its_upstream():
    graph = AssetGraph((Asset("stripe.payments", "stripe.payments", producing_dags=("stripe_ingest",),
                              scheduled_dags=("close",)),))
    with pytest.raises(BadInput, match=r"scheduled only on assets \(stripe.payments\).*instead: stripe_ingest"):
        check_root(details("close", backfillable=False, summary="Asset"), graph)


def test_estimates_and_eta():
    runs = [run(DAY[i], "success", minutes=m) for i, m in enumerate([5, 6, 7, 8, 9, 10, 11, 12, 13, 30])]
    est = estimate_durations(runs)
    assert est.samples == 10 and est.p50 == 9.5 * 60 and 12 * 60 < est.p90 <= 30 * 60
    dag = plan_for(inputs(recent_successes=tuple(runs), dry=[DryRunInfo(d) for d in DAY]),
                   max_active_runs=3).dags[0]
    assert dag.concurrency == 3 and dag.eta_p50 == 4 * est.p50  # ceil(10 / 3) waves
    assert estimate_durations([]).known is False


def test_pool_demand_is_the_widest_level_and_limits_concurrency():
    tasks = (Task("extract", "warehouse", downstream_task_ids=("a", "b")), Task("a", "warehouse",
             downstream_task_ids=("load",)), Task("b", "warehouse", pool_slots=2, downstream_task_ids=("load",)),
             Task("load", "warehouse"), Task("notify", "default_pool"))
    assert pool_demand(tasks) == {"default_pool": 1, "warehouse": 3}
    pools = {"warehouse": Pool("warehouse", 7, 7, 0, 0), "default_pool": Pool("default_pool", -1, -1, 0, 0)}
    dag = plan_for(inputs(tasks=tasks), pools=pools).dags[0]
    assert dag.concurrency == 2 and "pool 'warehouse' budget 7" in dag.concurrency_reason


def test_reserve_lowers_concurrency_and_a_zero_budget_is_flagged():
    tasks = (Task("a", "warehouse"),)
    pools = {"warehouse": Pool("warehouse", 4, 4, 0, 0)}
    policy = ThrottlePolicy(pools=(PoolPolicy("warehouse", Amount(2)),))
    plan = plan_for(inputs(tasks=tasks), pools=pools, policy=policy)
    assert plan.dags[0].concurrency == 2
    assert [(b.pool, b.reserve, b.budget) for b in plan.budgets] == [("warehouse", 2, 2)]
    full = ThrottlePolicy(pools=(PoolPolicy("warehouse", Amount(100, percent=True)),))
    plan = plan_for(inputs(tasks=tasks), pools=pools, policy=full)
    assert plan.dags[0].concurrency == 0 and plan.dags[0].eta_p50 is None
    assert any("no backfill budget" in w and "unless forced" in w for w in plan.warnings)


def test_missing_or_small_pools_warn():
    tasks = (Task("a", "tiny", pool_slots=3), Task("b", "ghost"))
    plan = plan_for(inputs(tasks=tasks), pools={"tiny": Pool("tiny", 2, 2, 0, 0)})
    assert any("pool 'ghost', which does not exist" in w for w in plan.warnings)
    assert any("needs 3 slots of pool 'tiny', which has only 2: it can never run" in w for w in plan.warnings)


def test_dependency_order_puts_upstream_first_and_is_stable():
    assert dependency_order(["c", "b", "a"], {"c": ("b",), "b": ("a",)}) == ["a", "b", "c"]
    assert dependency_order(["y", "x"], {}) == ["x", "y"]
    assert sorted(dependency_order(["p", "q"], {"p": ("q",), "q": ("p",)})) == ["p", "q"]  # a cycle still ends


def test_consumer_impact_batches_events_per_scheduler_loop():
    upstream = plan_for(inputs(recent_successes=tuple(run(DAY[i], "success", minutes=1) for i in range(3)),
                               dry=[DryRunInfo(d) for d in DAY]), max_active_runs=5).dags[0]
    impact = consumer_impact(details("close", backfillable=False, summary="Asset"), [(upstream, ["stripe.payments"])],
                             loop_seconds=30)
    assert impact.upstream_events == 10
    assert impact.expected_runs == 4 and impact.events_per_run == 2.5  # 2 waves of 60 s over 30 s loops
    assert not impact.partition_aware and "trigger about 4 run(s)" in impact.summary
    no_history = consumer_impact(details("close", backfillable=False), [(plan_for(inputs()).dags[0], ["x"])])
    assert no_history.expected_runs == 10 and no_history.events_per_run == 1.0


def test_format_duration():
    assert [format_duration(s) for s in (None, 5, 119, 600, 3 * 3600 + 60, 90000)] == [
        "unknown", "5s", "119s", "10m", "3h 01m", "1d 1h"]


def test_a_consumer_that_also_needs_an_asset_the_backfill_does_not_update_gets_no_run():
    """Airflow's asset_consumes_1_and_2: scheduled on a & b; a backfill of a's producer alone triggers nothing."""
    upstream = plan_for(inputs(dry=[DryRunInfo(d) for d in DAY])).dags[0]

    def consumer(expression):
        found = details("both", backfillable=False, summary="Asset")
        return consumer_impact(replace(found, asset_expression=expression), [(upstream, ["a"])])

    a, b, c = ({"asset": {"name": n, "uri": f"s3://x/{n}", "group": "asset"}} for n in "abc")
    both = consumer({"all": [a, b]})
    assert both.upstream_events == 10 and both.expected_runs == 0 and both.needs == ("b",)
    assert "together with b" in both.summary and "triggers no run of both until that asset updates" in both.summary
    assert consumer({"any": [a, b]}).expected_runs == 10 and consumer({"any": [a, b]}).needs == ()
    assert consumer(a).needs == () and consumer({"all": [a, {"any": [b, c]}]}).needs in (("b",), ("c",))
    assert consumer({"all": [b, c]}).needs == ("b", "c")
    alias = {"alias": {"name": "dynamic", "group": "asset"}}
    assert consumer({"all": [a, alias]}).expected_runs == 10  # an alias cannot be judged here: the old estimate
    assert consumer({"all": [b, alias]}).needs == ("b",)  # … but a known missing asset still blocks
    assert consumer(None).expected_runs == 10


def test_condition_needs_reads_airflows_serialized_conditions():
    a = {"asset": {"name": "a", "uri": "s3://x/a"}}
    b = {"asset": {"name": "b", "uri": "s3://x/b"}}
    assert condition_needs(a, {"s3://x/a"}) == ()  # a URI names it too
    assert condition_needs({"any": [a, b]}, set()) == ("a",)
    assert condition_needs({"all": []}, set()) == () and condition_needs({"any": []}, set()) == ()
    for unknown in ({"asset_ref": {"name": "a"}}, {"weird": 1}, [a], "a", {"all": "a"}):
        assert condition_needs(unknown, {"a"}) is None
