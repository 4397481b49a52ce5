"""What ``afkit backfill status`` says is Airflow's current state plus the journal, never a cached guess.

Each test has its own DAG (tests/dags/afkit_test_status.py), so no other test's runs or backfills are counted.
"""

from __future__ import annotations

import json

import pytest

from toolkit.devserver import demo
from toolkit.errors import ExitCode
from toolkit.state import StateStore

from .conftest import raw_get, raw_send, run_cli, wait_for

pytestmark = pytest.mark.integration

STATUS_DAGS = ("afkit_status_counts", "afkit_status_plans", "afkit_status_reprocess", "afkit_and_left",
               "afkit_and_both")


@pytest.fixture
def env(admin_env, client, tmp_path) -> dict[str, str]:
    demo.wait_for_dags(client, STATUS_DAGS)
    return {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}


def backfill(airflow, dag_id: str, start: str, end: str, reprocess: str = "none") -> dict:
    """A backfill afkit did not create (no run conf), straight through Airflow's API."""
    return raw_send(airflow, "POST", "/api/v2/backfills", {
        "dag_id": dag_id, "from_date": f"{start}T00:00:00Z", "to_date": f"{end}T00:00:00Z", "run_backwards": False,
        "reprocess_behavior": reprocess, "max_active_runs": 5})


def completed(airflow, backfill_id: int, timeout: float = 240) -> dict:
    return wait_for(lambda: (b := raw_get(airflow, f"/api/v2/backfills/{backfill_id}"))["completed_at"] and b, timeout,
                 f"backfill {backfill_id} to complete")


def status_of(env, target) -> dict:
    result = run_cli(["backfill", "status", str(target), "--json"], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    return json.loads(result.output)


def test_a_backfill_counts_only_its_own_runs_and_not_the_cancelled_ones(airflow, env, client):
    client.dags.set_paused("afkit_status_counts", False)
    first = backfill(airflow, "afkit_status_counts", "2026-05-01", "2026-05-05")
    completed(airflow, first["id"])
    second = backfill(airflow, "afkit_status_counts", "2026-05-04", "2026-05-10")  # 04 and 05 exist: 5 new runs
    completed(airflow, second["id"])
    client.dags.set_paused("afkit_status_counts", True)  # the third one's runs stay queued …
    third = backfill(airflow, "afkit_status_counts", "2026-05-20", "2026-05-22")
    raw_send(airflow, "PUT", f"/api/v2/backfills/{third['id']}/cancel")  # … and Airflow fails them on cancel

    assert status_of(env, first["id"])["progress"] == "5 of 5 runs done, 0 running or queued"
    assert status_of(env, second["id"])["progress"] == "5 of 5 runs done, 0 running or queued"
    assert status_of(env, third["id"])["progress"] == (
        "0 of 3 runs done, 0 running or queued, 3 cancelled before they started")
    text = run_cli(["backfill", "status", str(second["id"])], env=env)
    assert "5 of 5 runs done" in text.output


def test_plans_report_airflows_state_not_the_journals_last_word(airflow, env, client):
    client.dags.set_paused("afkit_status_plans", False)
    launched = run_cli(["backfill", "launch", "afkit_status_plans", "--from", "2026-06-01", "--to", "2026-06-02",
                        "--yes"], env=env)  # no --follow: nothing stays around to record the completion
    assert launched.exit_code == ExitCode.OK, launched.output + launched.stderr
    store = StateStore(env["AFKIT_STATE_URL"])
    (plan,) = store.plans()
    (step,) = store.steps(plan.plan_id).values()
    completed(airflow, step.backfill_id)
    (progress,) = status_of(env, plan.plan_id)
    assert progress["status"] == "completed" and progress["success"] == 2 and progress["eta_seconds"] == 0.0
    assert "2/2 done" in run_cli(["backfill", "status", plan.plan_id], env=env).output

    client.dags.set_paused("afkit_status_plans", True)  # the next plan's runs stay queued: it stays active
    launched = run_cli(["backfill", "launch", "afkit_status_plans", "--from", "2026-06-10", "--to", "2026-06-12",
                        "--yes"], env=env)
    assert launched.exit_code == ExitCode.OK, launched.output + launched.stderr
    paused_plan = next(p for p in store.plans() if p.plan_id != plan.plan_id)
    (step,) = store.steps(paused_plan.plan_id).values()
    try:
        assert run_cli(["backfill", "pause", paused_plan.plan_id], env=env).exit_code == ExitCode.OK
        assert status_of(env, paused_plan.plan_id)[0]["status"] == "paused"
        assert run_cli(["backfill", "resume", str(step.backfill_id)], env=env).exit_code == ExitCode.OK
        assert raw_get(airflow, f"/api/v2/backfills/{step.backfill_id}")["is_paused"] is False
        (progress,) = status_of(env, paused_plan.plan_id)
        assert progress["status"] == "running" and progress["paused"] is False
    finally:
        raw_send(airflow, "PUT", f"/api/v2/backfills/{step.backfill_id}/cancel")
    (progress,) = status_of(env, paused_plan.plan_id)
    assert progress["status"] == "cancelled" and progress["cancelled"] == 3 and progress["success"] == 0


def test_a_consumer_that_needs_another_asset_too_is_not_promised_runs(airflow, env):
    result = run_cli(["backfill", "plan", "afkit_and_left", "--from", "2026-07-01", "--to", "2026-07-03",
                      "--downstream"], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    assert "afkit_and_both is asset-triggered by test.and_left together with test.and_right" in result.output
    assert "triggers no run of afkit_and_both until that asset updates too" in result.output
    assert "will trigger about" not in result.output


def test_cancelling_a_reprocess_completed_plan_warns_first_and_reports_what_changed(airflow, env, client):
    client.dags.set_paused("afkit_status_reprocess", False)
    first = backfill(airflow, "afkit_status_reprocess", "2026-09-01", "2026-09-03")
    completed(airflow, first["id"])  # three successful days …
    client.dags.set_paused("afkit_status_reprocess", True)  # … reprocessed by a plan whose runs stay queued
    launched = run_cli(["backfill", "launch", "afkit_status_reprocess", "--from", "2026-09-01", "--to", "2026-09-03",
                        "--reprocess", "completed", "--yes"], env=env)
    assert launched.exit_code == ExitCode.OK, launched.output + launched.stderr
    (plan,) = StateStore(env["AFKIT_STATE_URL"]).plans()
    days = [f"2026-09-0{d}T00:00:00+00:00" for d in (1, 2, 3)]

    refused = run_cli(["backfill", "cancel", plan.plan_id], env=env)  # no terminal, no --yes: warned and refused
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.output + refused.stderr
    assert "cancelling marks 3 queued run(s) failed" in refused.stderr
    assert f"3 of them had succeeded before this backfill reran them and will be left failed: {', '.join(days)}" \
        in refused.stderr
    (step,) = StateStore(env["AFKIT_STATE_URL"]).steps(plan.plan_id).values()
    assert raw_get(airflow, f"/api/v2/backfills/{step.backfill_id}")["completed_at"] is None  # nothing was cancelled

    cancelled = run_cli(["backfill", "cancel", plan.plan_id, "--yes"], env=env)
    assert cancelled.exit_code == ExitCode.OK, cancelled.output + cancelled.stderr
    assert "3 partition(s) changed state:" in cancelled.output
    for day in days:
        assert f"afkit_status_reprocess {day}: queued → failed" in cancelled.output
    runs = raw_get(airflow, "/api/v2/dags/afkit_status_reprocess/dagRuns?logical_date_gte=2026-09-01T00:00:00Z"
                            "&logical_date_lte=2026-09-03T00:00:00Z&limit=100")["dag_runs"]
    assert sorted(r["state"] for r in runs) == ["failed"] * 3  # Airflow's behaviour, now said out loud
