"""The production topology, for real (issue 20): PostgreSQL, the CeleryExecutor with two workers (a loopback
redis-server as broker), two schedulers (HA) and an api-server with two workers, booted once for this module by the
launcher ``afkit demo --executor celery --schedulers 2`` uses.

- a backfill planned and launched through afkit runs on both workers, with the afkit policy's priority;
- a scheduler killed with SIGKILL mid-backfill: the other carries on, and afkit's plan completes with no run lost or
  doubled;
- a Celery worker killed mid-task: Airflow's heartbeat check fails the task, its retry runs on the other worker, and
  ``afkit backfill status`` reports what happened (one retry, success);
- two ``afkit watch`` processes: one late SLA gives exactly one Slack message;
- the governor holds a carved pool's backfill budget exactly, as on the LocalExecutor.

Skipped, with the reason printed, only when redis-server, PostgreSQL or the Celery provider is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from toolkit.airflow import AirflowClient
from toolkit.devserver import demo
from toolkit.devserver.launcher import AirflowSpec, LaunchError, RunningAirflow, process_kind, start_airflow
from toolkit.errors import ExitCode
from toolkit.plugin.policy import BACKFILL_PRIORITY_WEIGHT

from ..slack_server import TOKEN, running_fake_slack
from .conftest import (AIRFLOW_SIDE_CONFIG, CARVED_POOL_SLOTS, REPO, admin_settings, output_of, raw_get,
                       run_cli, stop_keeping_logs, wait_for)
from .test_carving import COMPANION, POOL, Sampler

pytestmark = pytest.mark.integration

HEARTBEAT_TIMEOUT = 20  # seconds: a task whose worker died is failed (and retried) this long after its last beat
TASK_QUEUED_TIMEOUT = 90  # seconds: a task queued this long is revoked and requeued (its token lives as long)


@pytest.fixture(scope="module")
def celery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAirflow]:
    home = tmp_path_factory.mktemp("airflow-celery-ha")
    dags = tmp_path_factory.mktemp("dags-celery-ha")
    shutil.copy(REPO / "tests" / "dags" / "celery" / "afkit_test_celery.py", dags)
    shutil.copy(REPO / "tests" / "dags" / "afkit_test_slas.py", dags)  # test.stale: late from the start
    shutil.copy(REPO / "tests" / "dags" / "afkit_test_carving.py", dags)  # in pool "carved", carved by this home
    (home / "afkit.toml").write_text(AIRFLOW_SIDE_CONFIG)
    spec = AirflowSpec(home=home, dags_folder=dags, database="postgres", executor="celery", schedulers=2,
                       api_workers=2, celery_workers=2, worker_concurrency=4,
                       extra_env={"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                                  "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                                  # a dead scheduler's queued tasks are adopted by the other this soon (default 300 s)
                                  "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
                                  # a task the dead scheduler marked queued but never sent to Celery is adopted as
                                  # PENDING and requeued only after task_queued_timeout (default 600 s, checked every
                                  # 120 s): the Celery provider's documented window, hit now and then by the kill
                                  "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(TASK_QUEUED_TIMEOUT),
                                  "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10"})
    started = time.monotonic()
    try:
        spec.check("postgres")
        running = start_airflow(spec, timeout=300)
    except LaunchError as exc:
        if any(missing in str(exc) for missing in ("redis-server", "Celery provider", "not available")):
            print(f"\nskipping the Celery/HA tests: {exc}")
            pytest.skip(str(exc))
        raise
    print(f"\nCelery x2, 2 schedulers, api-server x2: {running.url} healthy in {time.monotonic() - started:.0f}s")
    try:
        with AirflowClient(admin_settings(running)) as client:
            demo.wait_for_dags(client, ("afkit_celery_fanout", "afkit_celery_slow", "afkit_carve_wide"))
            for dag_id in ("afkit_celery_fanout", "afkit_celery_slow"):
                client.dags.set_paused(dag_id, False)
            client.pools.ensure(POOL, CARVED_POOL_SLOTS, "the carving test's pool, on the Celery topology")
        yield running
    finally:
        stop_keeping_logs(running, "celery-ha")


@pytest.fixture
def env(celery: RunningAirflow, tmp_path: Path) -> dict[str, str]:
    user, password = celery.admin
    return {"AFKIT_URL": celery.url, "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password,
            "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}


def workers(running: RunningAirflow) -> list[str]:
    return sorted(name for name in running.processes if process_kind(name) == "celery-worker")


def received(running: RunningAirflow, worker: str) -> int:
    """Tasks a Celery worker has taken (its log says each "received"), since the module's Airflow started."""
    return running.log_path(worker).read_text(errors="replace").count("] received")


def task_instances(running: RunningAirflow, dag_id: str) -> list[dict]:
    return raw_get(running, f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=500")["task_instances"]


def backfill_status(env: dict[str, str], backfill_id: int) -> dict:
    result = run_cli(["backfill", "status", str(backfill_id), "--json"], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    return json.loads(result.output)


def launch_following(env: dict[str, str], dag_id: str, start: str, end: str) -> subprocess.Popen:
    """``afkit backfill launch … --yes --follow``, the installed command, as a user runs it (governor included)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    return subprocess.Popen([sys.executable, "-m", "toolkit", "backfill", "launch", dag_id, "--from", start, "--to",
                             end, "--yes", "--follow"], env={**base, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def completed(launch: subprocess.Popen, timeout: float) -> str:
    output = output_of(launch, timeout, "afkit backfill launch --follow")
    assert launch.returncode == ExitCode.OK and "completed." in output, output
    return output


def newest_backfill(running: RunningAirflow, dag_id: str) -> int:
    found = raw_get(running, f"/api/v2/backfills?dag_id={dag_id}&limit=100")["backfills"]
    return max(b["id"] for b in found)


def runs_of(running: RunningAirflow, dag_id: str, start: str, end: str) -> list[dict]:
    found = raw_get(running, f"/api/v2/dags/{dag_id}/dagRuns?limit=200&logical_date_gte={start}T00:00:00Z"
                             f"&logical_date_lte={end}T00:00:00Z")["dag_runs"]
    return found


def test_the_topology_is_what_was_asked_for(celery):
    assert len(workers(celery)) == 2 and len([p for p in celery.processes if process_kind(p) == "scheduler"]) == 2
    assert celery.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert celery.env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    assert celery._running_schedulers(None) == 2
    # every log server on a port of its own, each listening on loopback (none on Airflow's defaults)
    log_ports = {name: port for name, port in celery.ports.items() if name != "redis"}
    assert len(log_ports) == 2 and len(set(log_ports.values())) == 2 and not {8793, 8794} & set(log_ports.values())
    for name, port in log_ports.items():
        pids = {celery.processes[name].pid, *(c.pid for c in psutil.Process(celery.processes[name].pid)
                                              .children(recursive=True))}
        listening = {c.laddr.port for pid in pids for c in psutil.Process(pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert port in listening, (name, port, listening)


def test_a_backfill_launched_through_afkit_runs_on_both_workers_with_the_policys_priority(celery, env):
    before = {worker: received(celery, worker) for worker in workers(celery)}
    completed(launch_following(env, "afkit_celery_fanout", "2026-02-01", "2026-02-04"), 300)
    backfill_id = newest_backfill(celery, "afkit_celery_fanout")
    runs = runs_of(celery, "afkit_celery_fanout", "2026-02-01", "2026-02-04")
    assert sorted(r["state"] for r in runs) == ["success"] * 4 and {r["run_type"] for r in runs} == {"backfill"}
    run_ids = {r["dag_run_id"] for r in runs}
    tis = [t for t in task_instances(celery, "afkit_celery_fanout") if t["dag_run_id"] in run_ids]
    assert len(tis) == 16 and {t["priority_weight"] for t in tis} == {BACKFILL_PRIORITY_WEIGHT}, tis[:2]
    taken = {worker: received(celery, worker) - before[worker] for worker in workers(celery)}
    print(f"\n16 backfill tasks on the two Celery workers: {taken}")
    assert sum(taken.values()) >= 16 and all(n > 0 for n in taken.values()), taken
    assert backfill_status(env, backfill_id)["completed_at"] is not None


def test_a_scheduler_killed_mid_backfill_leaves_the_other_to_finish_the_plan(celery, env):
    following = launch_following(env, "afkit_celery_fanout", "2026-03-01", "2026-03-08")
    wait_for(lambda: [r for r in runs_of(celery, "afkit_celery_fanout", "2026-03-01", "2026-03-08")
                      if r["state"] == "running"], 120, "a run of the backfill to be running", every=0.5)
    victim = celery.processes["scheduler"]
    os.killpg(victim.pid, signal.SIGKILL)  # the scheduler and everything it started, at once
    victim.wait(timeout=30)
    try:
        try:
            output = completed(following, 420)  # afkit's plan, followed through the kill, completes
        except AssertionError as exc:  # what Airflow did with the tasks that did not finish, for the record
            unfinished = [(t["logical_date"][:10], t["map_index"], t["state"], t["queued_when"], t["hostname"])
                          for t in task_instances(celery, "afkit_celery_fanout")
                          if t["logical_date"] >= "2026-03" and t["state"] != "success"]
            raise AssertionError(f"{exc}\nunfinished task instances: {unfinished}") from None
        found = runs_of(celery, "afkit_celery_fanout", "2026-03-01", "2026-03-08")
        days = sorted(r["logical_date"][:10] for r in found)
        assert days == [f"2026-03-{d:02d}" for d in range(1, 9)], (days, output)  # none lost, none doubled
        assert {r["state"] for r in found} == {"success"}
        status = backfill_status(env, newest_backfill(celery, "afkit_celery_fanout"))
        assert status["completed_at"] is not None and status["progress"].startswith("8 of 8 runs done"), status
    finally:
        for restart in celery.supervise():  # the killed scheduler comes back for the tests after this one
            print(f"\n{restart}")
        celery.wait_healthy(180)


def test_a_celery_worker_killed_mid_task_is_retried_on_the_other_and_reported(celery, env):
    following = launch_following(env, "afkit_celery_slow", "2026-04-01", "2026-04-01")

    def running_task() -> dict | None:
        tis = [t for t in task_instances(celery, "afkit_celery_slow") if t["logical_date"].startswith("2026-04-01")]
        return next((t for t in tis if t["state"] == "running" and t.get("pid")), None)

    ti = wait_for(running_task, 180, "the slow task to run on a worker", every=0.5)
    ancestors = {p.pid for p in psutil.Process(ti["pid"]).parents()}
    victim = next(name for name in workers(celery) if celery.processes[name].pid in ancestors)
    worker = psutil.Process(celery.processes[victim].pid)
    for process in [worker, *worker.children(recursive=True)]:  # the worker and the task it runs, as a lost host
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    celery.processes[victim].wait(timeout=30)
    try:
        output = completed(following, HEARTBEAT_TIMEOUT + 240)
        found = runs_of(celery, "afkit_celery_slow", "2026-04-01", "2026-04-01")
        assert [r["state"] for r in found] == ["success"], (found, output)
        (final,) = [t for t in task_instances(celery, "afkit_celery_slow")
                    if t["logical_date"].startswith("2026-04-01")]
        assert final["state"] == "success" and final["try_number"] == 2, final  # retried after the kill
        status = backfill_status(env, newest_backfill(celery, "afkit_celery_slow"))
        assert status["completed_at"] is not None and status["progress"].startswith("1 of 1 runs done"), status
    finally:
        for restart in celery.supervise():
            print(f"\n{restart}")
        celery.wait_healthy(180)


def passes(log: Path) -> int:
    return log.read_text(errors="replace").count("\npass: ")


def test_two_watchers_on_this_topology_send_one_slack_message_for_a_late_sla(celery, env, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    logs = [tmp_path / "watch-a.log", tmp_path / "watch-b.log"]
    with running_fake_slack() as slack:
        watch_env = {**base, **env, "AFKIT_SLACK_TOKEN": TOKEN, "AFKIT_SLACK_CHANNEL": "#alerts",
                     "AFKIT_SLACK_BASE_URL": slack.base_url}
        watchers = []
        for log in logs:
            with open(log, "wb") as out:
                watchers.append(subprocess.Popen([sys.executable, "-m", "toolkit", "watch", "--interval", "1", "-v"],
                                                 env=watch_env, stdout=out, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL))
        try:
            wait_for(lambda: [p for p in slack.posts if p["text"].startswith("LATE: test.stale")], 120,
                     "the late SLA's Slack message", every=0.5)
            after = [passes(log) for log in logs]
            wait_for(lambda: all(passes(log) >= n + 3 for log, n in zip(logs, after)), 120,
                     "three more passes of each watcher", every=0.5)
        finally:
            for watcher in watchers:
                watcher.terminate()
            for watcher in watchers:
                watcher.wait(timeout=60)
        late = [p for p in slack.posts if p["text"].startswith("LATE: test.stale")]
    assert len(late) == 1, [p["text"] for p in slack.posts]
    assert all(w.returncode == 0 for w in watchers), [log.read_text(errors="replace")[-2000:] for log in logs]


def test_the_governor_holds_a_carved_pools_budget_on_celery_as_on_the_local_executor(celery, env, tmp_path):
    """Three parallel tasks per run against a budget of 2 (4 slots, 2 reserved), run by the Celery workers: never
    more than 2 backfill slots held, the pool whole again at the end, no pause."""
    config = tmp_path / "afkit.toml"
    config.write_text("[governor]\npoll_seconds = 1\nresume_after_seconds = 6\n")
    sampler = Sampler(celery)
    sampler.start()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    try:
        launched = subprocess.run([sys.executable, "-m", "toolkit", "backfill", "launch", "afkit_carve_wide", "--from",
                                   "2026-02-01", "--to", "2026-02-04", "--reserve", f"{POOL}=2", "--yes", "--follow",
                                   "--unpause"], env={**base, **env, "AFKIT_CONFIG": str(config)},
                                  capture_output=True, text=True, timeout=900)
    finally:
        sampler.stop.set()
    output = launched.stdout + launched.stderr
    assert launched.returncode == 0, output
    assert "governor: carve pool carved: carved 4→2, carved__afkit 0→2" in output
    assert "governor: pause" not in output
    assert sampler.samples > 5 and sampler.max_backfill <= 2, (sampler.samples, sampler.max_backfill, sampler.widest)
    assert sampler.max_total <= CARVED_POOL_SLOTS
    pools = {p["name"]: p["slots"] for p in raw_get(celery, "/api/v2/pools?limit=100")["pools"]}
    assert (pools[POOL], pools.get(COMPANION, 0)) == (CARVED_POOL_SLOTS, 0)
    tis = raw_get(celery, "/api/v2/dags/afkit_carve_wide/dagRuns/~/taskInstances?limit=100")["task_instances"]
    assert len(tis) == 12 and {t["pool"] for t in tis} == {COMPANION} and {t["state"] for t in tis} == {"success"}

