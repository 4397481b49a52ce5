"""``afkit backfill`` against a real Airflow: plan, dry-run, launch, follow, reprocess, downstream, kill -9, bad input."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from toolkit.errors import ExitCode

from .conftest import cancel_unless_completed, raw_get, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def env(admin_env, tmp_path) -> dict[str, str]:
    """Admin connection plus a private afkit state database (the launch journal) for the test."""
    return {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}


def backfills_total(airflow) -> int:
    return raw_get(airflow, "/ui/backfills?limit=1")["total_entries"]


def runs(airflow, dag_id: str, start: str, end: str) -> list[dict]:
    query = f"logical_date_gte={start}T00:00:00Z&logical_date_lte={end}T00:00:00Z&limit=100"
    return raw_get(airflow, f"/api/v2/dags/{dag_id}/dagRuns?{query}")["dag_runs"]


def wait_runs_settled(airflow, dag_id: str, start: str, end: str, expected: int, timeout: float = 240) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = runs(airflow, dag_id, start, end)
        if len(found) >= expected and all(r["state"] in ("success", "failed") for r in found):
            return found
        time.sleep(2)
    raise AssertionError(f"{dag_id}: runs did not settle: {[(r['logical_date'], r['state']) for r in found]}")


def test_ten_partitions_planned_dry_run_launched_and_completed(airflow, env, tmp_path):
    plan_file = tmp_path / "plan.json"
    result = run_cli(["backfill", "plan", "afkit_quick", "--from", "2026-03-01", "--to", "2026-03-10",
                      "-o", str(plan_file)], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    assert "2026-03-01T00:00:00+00:00 … 2026-03-10T00:00:00+00:00  10     missing  create" in result.output
    plan = json.loads(plan_file.read_text())
    assert plan["dags"][0]["counts"] == {"create": 10, "rerun": 0, "skip": 0}
    assert "password" not in plan_file.read_text().lower() and env["AFKIT_PASSWORD"] not in plan_file.read_text()

    before = backfills_total(airflow)
    dry = run_cli(["backfill", "launch", str(plan_file), "--dry-run"], env=env)
    assert dry.exit_code == ExitCode.OK, dry.output + dry.stderr
    assert "POST /api/v2/backfills {'dag_id': 'afkit_quick'" in dry.output
    assert dry.output.count("2026-03-") >= 10
    assert backfills_total(airflow) == before  # the dry run created nothing …
    assert runs(airflow, "afkit_quick", "2026-03-01", "2026-03-10") == []  # … and no run

    launched = run_cli(["backfill", "launch", str(plan_file), "--yes", "--follow", "--unpause"], env=env)
    assert launched.exit_code == ExitCode.OK, launched.output + launched.stderr
    assert "completed." in launched.output
    assert backfills_total(airflow) == before + 1
    created = runs(airflow, "afkit_quick", "2026-03-01", "2026-03-10")
    assert sorted(r["logical_date"][:10] for r in created) == [f"2026-03-{d:02d}" for d in range(1, 11)]
    assert {r["state"] for r in created} == {"success"}
    assert {r["conf"]["afkit"]["plan_id"] for r in created} == {plan["plan_id"]}

    again = run_cli(["backfill", "launch", str(plan_file), "--yes"], env=env)  # launching a finished plan again
    assert again.exit_code == ExitCode.OK and backfills_total(airflow) == before + 1


def test_reprocess_failed_reruns_only_the_failed_partitions(airflow, env, client):
    client.variables.set("afkit_flaky_fail_days", "2026-05-02,2026-05-04")
    first = run_cli(["backfill", "launch", "afkit_flaky", "--from", "2026-05-01", "--to", "2026-05-06", "--yes",
                     "--follow", "--unpause"], env=env)
    assert first.exit_code == ExitCode.OK, first.output + first.stderr
    states = {r["logical_date"][:10]: r["state"] for r in wait_runs_settled(airflow, "afkit_flaky", "2026-05-01",
                                                                             "2026-05-06", 6)}
    assert sorted(d for d, s in states.items() if s == "failed") == ["2026-05-02", "2026-05-04"]

    client.variables.set("afkit_flaky_fail_days", "")
    plan = run_cli(["backfill", "plan", "afkit_flaky", "--from", "2026-05-01", "--to", "2026-05-06",
                    "--reprocess", "failed", "--json"], env=env)
    assert plan.exit_code == ExitCode.OK, plan.output + plan.stderr
    rows = json.loads(plan.output)["dags"][0]["partitions"]
    assert sorted(r["logical_date"][:10] for r in rows if r["action"] == "rerun") == ["2026-05-02", "2026-05-04"]
    assert sum(r["action"] == "skip" for r in rows) == 4

    second = run_cli(["backfill", "launch", "afkit_flaky", "--from", "2026-05-01", "--to", "2026-05-06",
                      "--reprocess", "failed", "--yes", "--follow"], env=env)
    assert second.exit_code == ExitCode.OK, second.output + second.stderr
    latest = {}
    for run in sorted(runs(airflow, "afkit_flaky", "2026-05-01", "2026-05-06"), key=lambda r: r["start_date"] or ""):
        latest[run["logical_date"][:10]] = run
    assert {d: r["state"] for d, r in latest.items()} == {f"2026-05-0{d}": "success" for d in range(1, 7)}
    rerun_plan = {r["conf"].get("afkit", {}).get("step") for d, r in latest.items() if d in ("2026-05-02", "2026-05-04")}
    assert rerun_plan == {"afkit_flaky#0"}
    untouched = [r for d, r in latest.items() if d not in ("2026-05-02", "2026-05-04")]
    first_plan_id = untouched[0]["conf"]["afkit"]["plan_id"]
    assert all(r["conf"]["afkit"]["plan_id"] == first_plan_id for r in untouched)  # not re-run by the second plan


def test_downstream_orders_time_based_consumers_and_describes_asset_triggered_ones(env):
    result = run_cli(["backfill", "plan", "daily_revenue", "--from", "2026-06-01", "--to", "2026-06-03",
                      "--downstream", "--json"], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    plan = json.loads(result.output)
    assert [d["dag_id"] for d in plan["dags"]] == ["daily_revenue", "revenue_report"]
    assert plan["dags"][1]["upstream"] == ["daily_revenue"]
    assert plan["dags"][1]["added_by"] == "downstream of daily_revenue"
    assert plan["dags"][0]["pool_demand"] == {"warehouse": 2}

    result = run_cli(["backfill", "plan", "stripe_ingest", "--from", "-3h", "--downstream", "--json"], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    plan = json.loads(result.output)
    assert [d["dag_id"] for d in plan["dags"]] == ["stripe_ingest"]
    impact = plan["impacts"][0]
    assert impact["dag_id"] == "daily_finance_close" and impact["assets"] == ["stripe.payments"]
    assert impact["upstream_events"] == plan["dags"][0]["counts"]["create"] > 0
    assert 1 <= impact["expected_runs"] <= impact["upstream_events"]
    assert impact["partition_aware"] is False
    assert any("daily_finance_close is not partition-aware" in w for w in plan["warnings"])


def _journal(state_db: Path) -> dict[str, tuple[str, int | None]]:
    if not state_db.exists():
        return {}
    try:
        with sqlite3.connect(state_db, timeout=1) as conn:
            return {k: (s, b) for k, s, b in conn.execute(
                "SELECT step_key, status, backfill_id FROM afkit_launch_steps")}
    except sqlite3.OperationalError:
        return {}


def test_kill_9_during_launch_then_relaunch_creates_exactly_the_planned_runs(airflow, env, tmp_path):
    plan_file = tmp_path / "plan.json"
    planned = run_cli(["backfill", "plan", "afkit_quick", "--from", "2026-04-01", "--to", "2026-04-05",
                       "--downstream", "-o", str(plan_file)], env=env)
    assert planned.exit_code == ExitCode.OK, planned.output + planned.stderr
    plan = json.loads(plan_file.read_text())
    assert [s["dag_id"] for s in plan["dags"]] == ["afkit_quick", "afkit_quick_report"]
    state_db = Path(env["AFKIT_STATE_URL"].removeprefix("sqlite:///"))
    command = [sys.executable, "-m", "toolkit", "backfill", "launch", str(plan_file), "--yes", "--follow", "--unpause"]

    first = subprocess.Popen(command, env={**_base_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        step = _journal(state_db).get("afkit_quick#0")
        if step and step[0] in ("creating", "created"):
            break
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)  # at the most dangerous moment we can catch: around the create call
    first.wait(timeout=30)
    killed_at = _journal(state_db)

    second = subprocess.run(command, env={**_base_env(), **env}, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "completed." in second.stdout

    for dag_id in ("afkit_quick", "afkit_quick_report"):
        dag_runs = runs(airflow, dag_id, "2026-04-01", "2026-04-05")
        assert sorted(r["logical_date"][:10] for r in dag_runs) == [f"2026-04-0{d}" for d in range(1, 6)], dag_id
        assert all(r["state"] == "success" for r in dag_runs)
        mine = [b for b in raw_get(airflow, f"/api/v2/backfills?dag_id={dag_id}&limit=100")["backfills"]
                if (b["dag_run_conf"] or {}).get("afkit", {}).get("plan_id") == plan["plan_id"]]
        assert len(mine) == 1, (dag_id, killed_at, mine)  # never a second backfill for one plan step
    report_start = min(r["start_date"] for r in runs(airflow, "afkit_quick_report", "2026-04-01", "2026-04-05"))
    quick_end = max(r["end_date"] for r in runs(airflow, "afkit_quick", "2026-04-01", "2026-04-05"))
    assert report_start > quick_end  # the downstream backfill started only after its upstream completed


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}


# -- bad input: a clear message, a non-zero exit, nothing created ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["no_such_dag", "--from", "2026-03-01"], ExitCode.NOT_FOUND, "DAG 'no_such_dag' does not exist"),
        (["daily_finance_close", "--from", "2026-03-01"], ExitCode.BAD_INPUT,
         "is scheduled only on assets (stripe.payments) and cannot be backfilled; backfill its upstream DAG(s) "
         "instead: stripe_ingest"),
        (["afkit_quick", "--from", "2026-03-10", "--to", "2026-03-01"], ExitCode.BAD_INPUT, "is after --to"),
        (["afkit_quick", "--from", "2099-01-01", "--to", "2099-01-05"], ExitCode.BAD_INPUT, "is in the future"),
        (["afkit_quick", "--from", "2025-01-01", "--to", "2025-01-05"], ExitCode.BAD_INPUT, "before DAG 'afkit_quick' starts"),
        (["afkit_quick", "--from", "2026-03-01T01:00:00Z", "--to", "2026-03-01T02:00:00Z"], ExitCode.BAD_INPUT,
         "selects no runs of DAG 'afkit_quick'"),
        (["afkit_quick", "--from", "2026-03-01T01:00"], ExitCode.BAD_INPUT, "has no time zone"),
        (["afkit_quick", "--from", "last tuesday"], ExitCode.BAD_INPUT, "is not a date"),
        (["afkit_depends_on_past", "--from", "2026-03-01", "--to", "2026-03-03", "--order", "newest",
          "--reprocess", "failed"], ExitCode.BAD_INPUT, "depends_on_past=True: it can only be backfilled oldest first"),
    ],
)
def test_bad_plan_requests_are_refused_and_create_nothing(airflow, env, args, code, message):
    before = backfills_total(airflow)
    for command in (["backfill", "plan", *args], ["backfill", "launch", *args, "--yes"]):
        result = run_cli(command, env=env)
        assert result.exit_code == code, (command, result.output, result.stderr)
        assert message in result.stderr, result.stderr
    assert backfills_total(airflow) == before


@pytest.fixture
def good_plan(env, tmp_path) -> Path:
    path = tmp_path / "good.json"
    result = run_cli(["backfill", "plan", "afkit_quick", "--from", "2026-07-01", "--to", "2026-07-03", "-o", str(path)],
                     env=env)
    assert result.exit_code == ExitCode.OK, result.stderr
    return path


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "{ this is not json", "is not valid JSON"),
        (lambda text: text[: len(text) // 2], "looks truncated"),
        (lambda text: json.dumps({"hello": "world"}), "is not an afkit backfill plan"),
        (lambda text: "", "is empty"),
        (lambda text: text.replace('"schema_version": 1', '"schema_version": 9'), "has schema version 9"),
        (lambda text: json.dumps({**json.loads(text), "dags": "nope"}), "$.dags: expected array, got 'nope'"),
        (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "options"}), "$.options: missing"),
        (lambda text: text.replace('"action": "create"', '"action": "explode"', 1),
         "expected one of 'create', 'rerun', 'skip', got 'explode'"),
        (lambda text: json.dumps({**json.loads(text), "airflow_url": "http://elsewhere.example:8080"}),
         "this plan was made against http://elsewhere.example:8080"),
    ],
)
def test_bad_plan_files_are_refused_and_create_nothing(airflow, env, good_plan, damage, message):
    good_plan.write_text(damage(good_plan.read_text()))
    before = backfills_total(airflow)
    result = run_cli(["backfill", "launch", str(good_plan), "--yes"], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT, (result.output, result.stderr)
    assert message in result.stderr
    if "elsewhere" not in message:
        assert f"plan file {good_plan}" in result.stderr
    assert backfills_total(airflow) == before


def test_active_backfill_is_named_with_its_age_and_progress(airflow, env, client):
    start = datetime(2026, 8, 1, tzinfo=timezone.utc)
    other = client.backfills.create("afkit_quick", start, start.replace(day=3), max_active_runs=1)
    client.backfills.pause(other.id)
    try:
        before = backfills_total(airflow)
        result = run_cli(["backfill", "plan", "afkit_quick", "--from", "2026-08-10", "--to", "2026-08-12"], env=env)
        assert result.exit_code == ExitCode.CONFLICT, result.stderr
        assert f"already has an active backfill: #{other.id}" in result.stderr
        assert "running since" in result.stderr and "(paused)" in result.stderr and "runs done" in result.stderr
        assert backfills_total(airflow) == before
    finally:
        cancel_unless_completed(client, other.id)


def test_a_dag_changed_since_planning_is_refused(airflow, env, client, good_plan):
    """Airflow 3 makes a new DAG version only once the current one has runs (otherwise it updates it in place), so
    the DAG first gets a run; then its file changes after planning."""
    dag_file = airflow.spec.dags_folder / "afkit_test_mutable.py"
    plan_path = good_plan.parent / "mutable.json"
    client.dags.set_paused("afkit_mutable", False)
    day = datetime(2026, 6, 15, tzinfo=timezone.utc)
    first = client.backfills.create("afkit_mutable", day, day, max_active_runs=1)
    deadline = time.monotonic() + 120
    while client.backfills.get(first.id).completed_at is None and time.monotonic() < deadline:
        time.sleep(1)
    made = run_cli(["backfill", "plan", "afkit_mutable", "--from", "2026-07-01", "--to", "2026-07-02",
                    "-o", str(plan_path)], env=env)
    assert made.exit_code == ExitCode.OK, made.stderr
    version = client.dags.details("afkit_mutable").version
    dag_file.write_text(dag_file.read_text().replace("def version_one", "def version_two").replace(
        "version_one()", "version_two()"))
    deadline = time.monotonic() + 120
    while client.dags.details("afkit_mutable").version == version and time.monotonic() < deadline:
        time.sleep(2)
    assert client.dags.details("afkit_mutable").version != version, "the dag-processor did not pick up the change"
    before = backfills_total(airflow)
    result = run_cli(["backfill", "launch", str(plan_path), "--yes"], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "DAG 'afkit_mutable' changed since planning" in result.stderr and "re-plan" in result.stderr
    assert backfills_total(airflow) == before


def test_viewer_cannot_launch_and_is_told_which_permission(airflow, env):
    viewer = {**env, "AFKIT_USERNAME": "viewer", "AFKIT_PASSWORD": airflow.passwords["viewer"]}
    before = backfills_total(airflow)
    result = run_cli(["backfill", "launch", "afkit_quick", "--from", "2026-09-01", "--to", "2026-09-02", "--yes"],
                     env=viewer)
    assert result.exit_code == ExitCode.AUTH, result.stderr
    assert "user 'viewer' lacks" in result.stderr
    assert backfills_total(airflow) == before


def test_launch_without_yes_and_without_a_terminal_refuses(airflow, env, good_plan):
    before = backfills_total(airflow)
    result = run_cli(["backfill", "launch", str(good_plan)], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "pass --yes" in result.stderr
    assert backfills_total(airflow) == before
