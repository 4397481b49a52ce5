"""Carving against a real Airflow: the suite's Airflow carves pool ``carved`` (4 slots; its afkit.toml has
``[pools.carved]``), so backfill task instances there go to ``carved__afkit`` and afkit's governor sets its slots.

A backfill wider than its budget is admitted without ``--force`` and never holds more than its budget, sampled every
second; production (two sequential tasks every minute) is served beside it; a watcher killed while the carve is in
place leaves the next watcher to give the slots back; a pool resized or deleted by someone else is reported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime

import pytest

from toolkit.errors import ExitCode
from toolkit.state import StateStore

from .conftest import CARVED_POOL_SLOTS, cancel_unless_completed, raw_get, raw_send, run_cli, wait_for

pytestmark = pytest.mark.integration
POOL, COMPANION = "carved", "carved__afkit"


@pytest.fixture
def env(admin_env, tmp_path) -> dict[str, str]:
    config = tmp_path / "afkit.toml"
    config.write_text("[governor]\npoll_seconds = 1\nresume_after_seconds = 6\n")
    return {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "AFKIT_CONFIG": str(config)}


@pytest.fixture
def pool_restored(client):
    """Each test starts and ends with the pool at its configured size and its companion empty."""
    client.pools.ensure(POOL, CARVED_POOL_SLOTS, "the carving tests' own pool")
    yield
    client.pools.ensure(POOL, CARVED_POOL_SLOTS, "the carving tests' own pool")
    if any(p.name == COMPANION for p in client.pools.list()):
        raw_send_slots(client, COMPANION, 0)


def raw_send_slots(client, name: str, slots: int) -> None:
    current = client.pools.get(name)
    client.pools.ensure(name, slots, current.description or "")


def _process_env(env: dict[str, str]) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}, **env}


class Sampler(threading.Thread):
    """Every second, through the API: the backfill's and everyone's task instances holding slots of the pool."""

    def __init__(self, airflow) -> None:
        super().__init__(daemon=True)
        self.airflow = airflow
        self.max_backfill = self.max_total = self.samples = 0
        self.widest: list[tuple] = []  # the backfill's task instances in the sample that held the most slots
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                tis = [t for pool in (POOL, COMPANION) for t in raw_get(
                    self.airflow, f"/api/v2/dags/~/dagRuns/~/taskInstances?pool={pool}&state=running&state=queued"
                                  "&limit=100")["task_instances"]]
            except Exception:  # noqa: BLE001 - a missed sample is not a failure of what is measured
                continue
            backfill = [t for t in tis if t["dag_run_id"].startswith("backfill__")]
            held = sum(t["pool_slots"] for t in backfill)
            if held > self.max_backfill:
                self.max_backfill = held
                self.widest = [(t["dag_id"], t["dag_run_id"], t["task_id"], t["map_index"], t["pool"], t["state"],
                                t["queued_when"], t["hostname"]) for t in backfill]
            self.max_total = max(self.max_total, sum(t["pool_slots"] for t in tis))
            self.samples += 1


def pool_slots(client) -> tuple[int, int]:
    pools = {p.name: p.slots for p in client.pools.list()}
    return pools.get(POOL, -99), pools.get(COMPANION, 0)


def test_a_backfill_wider_than_its_budget_holds_it_exactly_and_production_is_served(airflow, env, client,
                                                                                      pool_restored):
    """Three parallel tasks per run against a budget of 2 (4 slots, 2 reserved): admitted without --force, two runs
    at a time, never more than 2 backfill slots held, production's two sequential tasks never wait for a slot, no
    pause, and the pool whole again at the end."""
    planned = run_cli(["backfill", "plan", "afkit_carve_wide", "--from", "2026-02-01", "--to", "2026-02-06",
                       "--reserve", f"{POOL}=2"], env=env)
    assert planned.exit_code == ExitCode.OK, planned.output + planned.stderr
    assert "needs 3 slots of pool 'carved' at its widest point, more than its backfill budget of 2: those tasks " \
           "queue and run 2 slot(s) at a time" in planned.output + planned.stderr
    client.dags.set_paused("afkit_carve_prod", False)
    sampler = Sampler(airflow)
    sampler.start()
    command = [sys.executable, "-m", "toolkit", "backfill", "launch", "afkit_carve_wide", "--from", "2026-02-01",
               "--to", "2026-02-06", "--reserve", f"{POOL}=2", "--yes", "--follow", "--unpause"]
    try:
        launched = subprocess.run(command, env=_process_env(env), capture_output=True, text=True, timeout=900)
    finally:
        sampler.stop.set()
        client.dags.set_paused("afkit_carve_prod", True)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    output = launched.stdout + launched.stderr
    assert "governor: carve pool carved: carved 4→2, carved__afkit 0→2" in output
    assert "governor: release pool carved" in output and "governor: pause" not in output
    assert sampler.samples > 10
    assert sampler.max_backfill <= 2, (f"the backfill held {sampler.max_backfill} slots of a budget of 2",
                                       sampler.widest)
    assert sampler.max_total <= CARVED_POOL_SLOTS
    assert pool_slots(client) == (CARVED_POOL_SLOTS, 0)
    store = StateStore(env["AFKIT_STATE_URL"])
    assert store.carves() == {}
    (plan,) = store.plans(("completed",))
    (step,) = store.steps(plan.plan_id).values()
    assert client.backfills.get(step.backfill_id).max_active_runs == 2
    assert [a["action"] for a in store.actions(step.backfill_id)] == []

    runs = raw_get(airflow, "/api/v2/dags/afkit_carve_wide/dagRuns?logical_date_gte=2026-02-01T00:00:00Z"
                            "&logical_date_lte=2026-02-06T00:00:00Z&limit=100")["dag_runs"]
    assert len(runs) == 6 and {r["state"] for r in runs} == {"success"}
    tis = raw_get(airflow, "/api/v2/dags/afkit_carve_wide/dagRuns/~/taskInstances?limit=100")["task_instances"]
    assert {t["pool"] for t in tis if t["dag_run_id"].startswith("backfill__")} == {COMPANION}
    assert {t["pool"] for t in tis if not t["dag_run_id"].startswith("backfill__")} <= {POOL}
    prod = raw_get(airflow, "/api/v2/dags/afkit_carve_prod/dagRuns/~/taskInstances?limit=100")["task_instances"]
    assert {t["pool"] for t in prod} == {POOL}
    waits = [(datetime.fromisoformat(t["queued_when"]) - datetime.fromisoformat(t["scheduled_when"])).total_seconds()
             for t in prod if t["queued_when"] and t["scheduled_when"]]
    assert waits and max(waits) <= 5, f"production waited for a slot: {waits}"


def _gate(airflow):
    gate = airflow.spec.home / "afkit-test-gates" / "carve"
    gate.parent.mkdir(exist_ok=True)
    gate.unlink(missing_ok=True)
    return gate


def _launch_gated(env: dict[str, str], day: str) -> int:
    result = run_cli(["backfill", "launch", "afkit_carve_gated", "--from", day, "--to", day, "--reserve",
                      f"{POOL}=2", "--yes", "--unpause"], env=env)
    assert result.exit_code == ExitCode.OK, result.output + result.stderr
    store = StateStore(env["AFKIT_STATE_URL"])
    (plan,) = store.plans()
    (step,) = store.steps(plan.plan_id).values()
    return step.backfill_id


def test_a_killed_watcher_leaves_the_next_one_to_give_the_slots_back(airflow, env, client, pool_restored):
    gate = _gate(airflow)
    backfill_id = _launch_gated(env, "2026-03-02")
    store = StateStore(env["AFKIT_STATE_URL"])
    watcher = subprocess.Popen([sys.executable, "-m", "toolkit", "watch", "--interval", "1"], env=_process_env(env),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # the launch's own governor pass carved the pool: the gated tasks hold the share
        assert pool_slots(client) == (2, 2) and store.carves()["carved"].size == CARVED_POOL_SLOTS
        wait_for(lambda: raw_get(airflow, f"/api/v2/dags/afkit_carve_gated/dagRuns/~/taskInstances?pool={COMPANION}"
                                          "&state=running")["total_entries"] == 2, 180,
                 "both gated backfill tasks to run in the companion")
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(timeout=30)
        gate.touch()
        wait_for(lambda: client.backfills.get(backfill_id).completed_at is not None, 180, "the backfill to complete")
        assert pool_slots(client) == (2, 2), "nobody governs: the carve is still in place"

        def restored() -> bool:
            result = run_cli(["watch", "--once"], env=env)  # a new watcher, once the killed one's lease expires
            return pool_slots(client) == (CARVED_POOL_SLOTS, 0) and "release pool carved" in result.output

        wait_for(restored, 150, "a new watcher to give the pool its 4 slots back", every=5)
        assert store.carves() == {}
    finally:
        gate.touch()
        if watcher.poll() is None:
            watcher.kill()
        watcher.communicate(timeout=30)
        cancel_unless_completed(client, backfill_id)


def test_a_carved_pool_resized_or_deleted_by_someone_else_is_reported(airflow, env, client, pool_restored):
    gate = _gate(airflow)
    backfill_id = _launch_gated(env, "2026-03-03")
    store = StateStore(env["AFKIT_STATE_URL"])
    try:
        assert pool_slots(client) == (2, 2)
        raw_send_slots(client, POOL, 6)  # an operator sees 2 slots and gives the pool 6
        watched = run_cli(["watch", "--once"], env=env)
        assert watched.exit_code == ExitCode.OK, watched.stderr
        assert "resized by someone else to 6 slot(s) (afkit had set 2 of 4): 6 is its configured size now" \
            in watched.output
        assert store.carves()["carved"].size == 6 and sum(pool_slots(client)) == 6
        raw_send(airflow, "DELETE", f"/api/v2/pools/{POOL}")
        watched = run_cli(["watch", "--once"], env=env)
        assert "deleted by someone else while carved (configured size 6)" in watched.output + watched.stderr
        assert store.carves() == {}
        assert any(p.name == COMPANION for p in client.pools.list())  # the companion is never deleted
    finally:
        gate.touch()
        client.pools.ensure(POOL, CARVED_POOL_SLOTS, "the carving tests' own pool")
        cancel_unless_completed(client, backfill_id)
