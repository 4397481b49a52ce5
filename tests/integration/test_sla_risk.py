"""The plan's SLA risk on a real Airflow: a backfill of ``web_sessions`` planned into the ``warehouse`` pool just
before ``daily_revenue`` usually runs flags ``mart.daily_revenue``'s 06:00 America/Los_Angeles deadline, and each
fix the plan names, planned again, clears it.

The Airflow is this module's own (the example DAGs of the story, nothing else), because the test gives
``daily_revenue`` a history: its runs are real, triggered through the REST API and run by the scheduler, and then
their start and end are moved (durations kept) to one minute before 06:00 Los Angeles time on the previous days,
through Airflow's own models. That is the one part of the history the REST API cannot set, and it is what "usually
starts at 05:59" means; everything the plan reads, it reads through the REST API as a user's plan does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from toolkit.airflow import AirflowClient
from toolkit.devserver import demo
from toolkit.devserver.launcher import AirflowSpec, RunningAirflow, start_airflow

from .conftest import REPO, admin_settings, raw_send, run_cli, stop_keeping_logs, wait_for

LA = ZoneInfo("America/Los_Angeles")
PRODUCER, BACKFILLED = "daily_revenue", "web_sessions"
DAG_FILES = ("example_assets.py", "daily_revenue.py", "web_sessions.py")
PRODUCER_RUNS = 3
LEAD = timedelta(minutes=1)  # daily_revenue's moved runs start one minute before the deadline

MOVE_RUNS = """
import json, sys
from datetime import datetime
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session

moves = json.loads(sys.argv[1])
with create_session() as session:
    for run_id, start in moves.items():
        run = session.query(DagRun).filter(DagRun.dag_id == sys.argv[2], DagRun.run_id == run_id).one()
        took = run.end_date - run.start_date
        run.start_date = datetime.fromisoformat(start)
        run.end_date = run.start_date + took
"""


def deadline_on(day) -> datetime:
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=LA).astimezone(timezone.utc)


@pytest.fixture(scope="module")
def story_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAirflow]:
    home, dags = tmp_path_factory.mktemp("airflow-sla-risk"), tmp_path_factory.mktemp("dags-sla-risk")
    for name in DAG_FILES:
        shutil.copy(REPO / "dags" / name, dags / name)
    running = start_airflow(AirflowSpec(home=home, dags_folder=dags))
    try:
        with AirflowClient(admin_settings(running)) as client:
            client.pools.ensure("warehouse", *demo.DEMO_POOLS["warehouse"])
            demo.wait_for_dags(client, (PRODUCER, BACKFILLED))
            for dag_id in (PRODUCER, BACKFILLED):
                client.dags.set_paused(dag_id, False)
            give_history(running, client)
        yield running
    finally:
        stop_keeping_logs(running, "sla-risk")


def give_history(running: RunningAirflow, client: AirflowClient) -> None:
    """Real runs of both DAGs (for their durations), then daily_revenue's moved to 05:59 Los Angeles time."""
    for _ in range(PRODUCER_RUNS):
        raw_send(running, "POST", f"/api/v2/dags/{PRODUCER}/dagRuns", {"logical_date": None})
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    seeded = client.backfills.create(dag_id=BACKFILLED, from_date=today - timedelta(days=3),
                                     to_date=today - timedelta(days=2), reprocess_behavior="none",
                                     run_backwards=False, max_active_runs=2, dag_run_conf={})
    done = wait_for(lambda: (runs := client.dag_runs.recent(PRODUCER)) and len(runs) >= PRODUCER_RUNS and runs,
                    300, f"{PRODUCER_RUNS} successful runs of {PRODUCER}")
    wait_for(lambda: len(client.dag_runs.recent(BACKFILLED)) >= 2, 300, f"two successful runs of {BACKFILLED}")
    # The scheduler marks a backfill complete a few seconds after its last run; until then Airflow (and a plan)
    # refuse another backfill of the DAG.
    wait_for(lambda: client.backfills.get(seeded.id).completed_at is not None, 120, f"backfill {seeded.id} to complete")
    local_today = datetime.now(LA).date()
    moves = {run.run_id: (deadline_on(local_today - timedelta(days=n + 1)) - LEAD).isoformat()
             for n, run in enumerate(sorted(done, key=lambda r: r.start_date))}
    subprocess.run([sys.executable, "-c", MOVE_RUNS, json.dumps(moves), PRODUCER], env=running.env, check=True,
                   timeout=120, capture_output=True)
    moved = {r.run_id: r.start_date for r in client.dag_runs.recent(PRODUCER)}
    assert {k: moved[k].isoformat() for k in moves} == moves, "the history was not moved"


def plan_json(running: RunningAirflow, *flags: str) -> dict:
    result = run_cli(["backfill", "plan", BACKFILLED, "--from", "2026-01-01", "--to", "-6d", *flags, "--json"],
                     env=admin_env_of(running))
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def admin_env_of(running: RunningAirflow) -> dict[str, str]:
    user, password = running.admin
    return {"AFKIT_URL": running.url, "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password}


def mart_risks(document: dict) -> list[dict]:
    return [r for r in document.get("sla_risks", []) if r["asset"] == "mart.daily_revenue"]


def test_a_backfill_planned_into_the_warehouse_just_before_the_producer_flags_the_0600_deadline(story_airflow):
    now = datetime.now(timezone.utc)
    upcoming = deadline_on(now.astimezone(LA).date())
    if upcoming - timedelta(minutes=5) < now:  # too close to plan before it: the next day's
        upcoming = deadline_on(now.astimezone(LA).date() + timedelta(days=1))
    start = upcoming - 2 * LEAD

    document = plan_json(story_airflow, "--start-after", start.isoformat())

    (risk,) = mart_risks(document)
    assert (risk["producer"], risk["pools"], risk["sla"]) == (PRODUCER, ["warehouse"], "deadline 0 6 * * * America/Los_Angeles")
    assert datetime.fromisoformat(risk["deadline"]) == upcoming
    assert datetime.fromisoformat(risk["run_start"]) == upcoming - LEAD
    assert datetime.fromisoformat(risk["finish_without"]) <= upcoming < datetime.fromisoformat(risk["finish_with"])
    assert risk["owners"] == ["#analytics-eng"]
    budget = next(f for f in risk["fixes"] if f["kind"] == "budget")
    later = next(f for f in risk["fixes"] if f["kind"] == "start_after")
    assert budget["pool"] == "warehouse" and budget["slots"] < 3 and datetime.fromisoformat(later["at"]) == upcoming

    text = run_cli(["backfill", "plan", BACKFILLED, "--from", "2026-01-01", "--to", "-6d", "--start-after",
                    start.isoformat()], env=admin_env_of(story_airflow))
    assert text.exit_code == 0, text.stderr
    assert "SLA risk (starting" in text.stdout and "mart.daily_revenue" in text.stdout
    assert f"--reserve warehouse={budget['reserve']}" in text.stdout and "--start-after" in text.stdout

    # each fix, planned again, clears the deadline
    assert mart_risks(plan_json(story_airflow, "--start-after", start.isoformat(),
                                "--reserve", f"warehouse={budget['reserve']}")) == []
    assert mart_risks(plan_json(story_airflow, "--start-after", later["at"])) == []
