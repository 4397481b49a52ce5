"""Pool-aware throttling against a real Airflow: budgets held, production first, the governor yielding and resuming."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from toolkit.devserver import demo
from toolkit.errors import ExitCode
from toolkit.state import StateStore

from .conftest import cancel_unless_completed, raw_get, raw_send, run_cli, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def env(admin_env, tmp_path) -> dict[str, str]:
    config = tmp_path / "afkit.toml"
    config.write_text("[governor]\npoll_seconds = 2\nresume_after_seconds = 6\n")
    return {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "AFKIT_CONFIG": str(config)}


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}


class PoolSampler(threading.Thread):
    """Samples the pool's task instances through the API while the scenario runs."""

    def __init__(self, airflow, pool: str, backfill_dag: str) -> None:
        super().__init__(daemon=True)
        self.airflow, self.pool, self.dag = airflow, pool, backfill_dag
        self.max_backfill = self.max_total = 0
        self.samples = 0
        self.paused_seen: list[bool] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                tis = raw_get(self.airflow, f"/api/v2/dags/~/dagRuns/~/taskInstances?pool={self.pool}"
                                            "&state=running&state=queued&limit=100")["task_instances"]
            except Exception:  # noqa: BLE001 - a missed sample is not a failure of what is measured
                continue
            backfill = sum(t["pool_slots"] for t in tis if t["dag_run_id"].startswith("backfill__"))
            self.max_backfill = max(self.max_backfill, backfill)
            self.max_total = max(self.max_total, sum(t["pool_slots"] for t in tis))
            self.samples += 1
            time.sleep(0.3)


def _launch(env: dict[str, str], *args: str) -> subprocess.Popen:
    """``afkit backfill launch … --yes --follow --unpause`` as a user runs it: its own process, the governor inside."""
    command = [sys.executable, "-m", "toolkit", "backfill", "launch", *args, "--yes", "--follow", "--unpause"]
    return subprocess.Popen(command, env={**_base_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _created_backfill(store: StateStore, launch: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and launch.poll() is None:
        plans = store.plans()
        steps = store.steps(plans[0].plan_id) if plans else {}
        found = next((s.backfill_id for s in steps.values() if s.backfill_id), None)
        if found is not None:
            return found
        time.sleep(0.5)
    output = launch.communicate(timeout=30)[0] if launch.poll() is not None else ""
    raise AssertionError(f"the launch did not create its backfill: {output}")


def test_backfill_stays_within_budget_and_production_goes_first(airflow, env, client):
    """A 20-day backfill beside every-minute production in a 4-slot pool with 2 reserved: the backfill never holds
    more than its 2 slots, production never waits for one, and the governor has no reason to act."""
    client.pools.ensure("shared", 4, "shared by production and backfills")
    client.dags.set_paused("afkit_prod_minutely", False)
    sampler = PoolSampler(airflow, "shared", "afkit_bulk")
    sampler.start()
    launch = _launch(env, "afkit_bulk", "--from", "2026-02-01", "--to", "2026-02-20", "--reserve", "shared=2")
    try:
        store = StateStore(env["AFKIT_STATE_URL"])
        backfill_id = _created_backfill(store, launch)
        assert client.backfills.get(backfill_id).max_active_runs == 2  # admission: (4 slots - 2 reserved) / 1 per run
        output, _ = launch.communicate(timeout=600)
        assert launch.returncode == 0, output
    finally:
        sampler.stop.set()
        if launch.poll() is None:
            launch.kill()
        client.dags.set_paused("afkit_prod_minutely", True)
    assert sampler.samples > 20
    assert sampler.max_backfill <= 2, f"backfill held {sampler.max_backfill} slots of a budget of 2"
    assert sampler.max_total <= 4
    # The premise: production is the minutely DAG alone (the backfill's DAG, unpaused, made no run of its own).
    assert not raw_get(airflow, "/api/v2/dags/afkit_bulk/dagRuns?run_type=scheduled&limit=1")["dag_runs"]
    assert store.actions(backfill_id) == [], "the governor acted although production never waited"

    bulk = raw_get(airflow, "/api/v2/dags/afkit_bulk/dagRuns?logical_date_gte=2026-02-01T00:00:00Z"
                            "&logical_date_lte=2026-02-20T00:00:00Z&limit=100")["dag_runs"]
    assert len(bulk) == 20 and {r["state"] for r in bulk} == {"success"}

    backfill_tis = raw_get(airflow, "/api/v2/dags/afkit_bulk/dagRuns/~/taskInstances?limit=100")["task_instances"]
    assert {t["priority_weight"] for t in backfill_tis if t["dag_run_id"].startswith("backfill__")} == {-100}
    prod = raw_get(airflow, "/api/v2/dags/afkit_prod_minutely/dagRuns/~/taskInstances?limit=100")["task_instances"]
    assert prod and all(t["priority_weight"] >= 1 for t in prod)
    waits = [(datetime.fromisoformat(t["queued_when"]) - datetime.fromisoformat(t["scheduled_when"])).total_seconds()
             for t in prod if t["queued_when"] and t["scheduled_when"]]
    assert waits and max(waits) <= 5, f"production waited for a slot: {waits}"


def test_the_governor_pauses_while_production_waits_and_resumes_once_it_cleared(airflow, env, client):
    """The governor test's own pool and DAGs: the backfill holds its 2-slot budget of the 3-slot ``gated`` pool until
    the test opens a gate, and production needs 2 slots, so production waits until the test lets it through. The
    governor must pause the backfill while production waits, and resume it after production has been clear for
    ``resume_after_seconds``; the backfill then completes."""
    client.pools.ensure("gated", 3, "the governor test's own pool")
    demo.wait_for_dags(client, ("afkit_gated_bulk", "afkit_gated_prod"))
    client.dags.set_paused("afkit_gated_prod", False)
    gate = airflow.spec.home / "afkit-test-gates" / "throttle"
    gate.parent.mkdir(exist_ok=True)
    sampler = PoolSampler(airflow, "gated", "afkit_gated_bulk")
    sampler.start()
    launch = _launch(env, "afkit_gated_bulk", "--from", "2026-02-01", "--to", "2026-02-06", "--reserve", "gated=1")
    try:
        store = StateStore(env["AFKIT_STATE_URL"])
        backfill_id = _created_backfill(store, launch)
        assert client.backfills.get(backfill_id).max_active_runs == 2
        wait_for(lambda: sampler.max_backfill == 2, 180, "the backfill to take its 2-slot budget")
        production = raw_send(airflow, "POST", "/api/v2/dags/afkit_gated_prod/dagRuns",
                              {"logical_date": None, "conf": {}})
        wait_for(lambda: client.backfills.get(backfill_id).is_paused, 120,
               "the governor to pause the backfill while production waits")
        actions = store.actions(backfill_id)
        assert [a["action"] for a in actions] == ["pause"]
        assert "2 production task(s) wait for pool 'gated' (1 free)" in actions[0]["reason"]
        gate.touch()  # the backfill's tasks finish, production gets its 2 slots, then runs clear
        wait_for(lambda: not client.backfills.get(backfill_id).is_paused, 180,
               "the governor to resume the backfill once production cleared")
        output, _ = launch.communicate(timeout=600)
        assert launch.returncode == 0, output
    finally:
        gate.touch()
        sampler.stop.set()
        if launch.poll() is None:
            launch.kill()
        client.dags.set_paused("afkit_gated_prod", True)
    assert "governor: pause" in output and "governor: resume" in output
    assert [a["action"] for a in store.actions(backfill_id)][:2] == ["pause", "resume"]
    assert sampler.max_backfill <= 2, f"backfill held {sampler.max_backfill} slots of a budget of 2"
    assert sampler.max_total <= 3

    runs = raw_get(airflow, "/api/v2/dags/afkit_gated_bulk/dagRuns?limit=100")["dag_runs"]
    assert len(runs) == 6 and {r["state"] for r in runs} == {"success"}
    prod = raw_get(airflow, f"/api/v2/dags/afkit_gated_prod/dagRuns/{production['dag_run_id']}")
    assert prod["state"] == "success"


@pytest.mark.parametrize(
    ("reserve", "message"),
    [
        ("shared=5", "the reserve 5 for pool 'shared' is more than its 4 slot(s)"),
        ("shared=-1", "is negative"),
        ("shared=150%", "is more than 100%"),
        ("nope=1", "names pool 'nope', which does not exist"),
        ("shared", "use POOL=AMOUNT"),
    ],
)
def test_bad_reserves_are_refused_and_create_nothing(airflow, env, client, reserve, message):
    client.pools.ensure("shared", 4, "shared by production and backfills")
    before = raw_get(airflow, "/ui/backfills?limit=1")["total_entries"]
    for command in ("plan", "launch"):
        args = ["backfill", command, "afkit_bulk", "--from", "2026-03-01", "--to", "2026-03-02", "--reserve", reserve]
        result = run_cli(args + (["--yes"] if command == "launch" else []), env=env)
        assert result.exit_code == ExitCode.BAD_INPUT, result.output + result.stderr
        assert message in result.stderr
    assert raw_get(airflow, "/ui/backfills?limit=1")["total_entries"] == before


def test_zero_budget_needs_force(airflow, env, client):
    client.pools.ensure("shared", 4, "shared by production and backfills")
    args = ["backfill", "launch", "afkit_bulk", "--from", "2026-03-05", "--to", "2026-03-05", "--reserve", "shared=100%"]
    result = run_cli(args + ["--yes"], env=env)
    assert result.exit_code == ExitCode.BAD_INPUT and "no pool budget left for afkit_bulk" in result.stderr
    forced = run_cli(args + ["--yes", "--force", "--unpause"], env=env)
    assert forced.exit_code == ExitCode.OK, forced.stderr
    created = [b for b in raw_get(airflow, "/api/v2/backfills?dag_id=afkit_bulk&limit=100")["backfills"]
               if b["from_date"].startswith("2026-03-05")]
    assert len(created) == 1 and created[0]["max_active_runs"] == 1
    cancel_unless_completed(client, created[0]["id"])


def test_a_deleted_pool_is_reported_and_other_backfills_still_governed(airflow, env, client):
    client.pools.ensure("doomed", 2, "deleted by the test")
    client.pools.ensure("shared", 4, "shared by production and backfills")
    for dag_id, day in (("afkit_doomed", "2026-03-10"), ("afkit_bulk", "2026-03-11")):
        client.dags.set_paused(dag_id, True)  # runs stay queued: the backfills stay active during the test
        result = run_cli(["backfill", "launch", dag_id, "--from", day, "--to", day, "--yes"], env=env)
        assert result.exit_code == ExitCode.OK, result.stderr
    raw_send(airflow, "DELETE", "/api/v2/pools/doomed")
    watched = run_cli(["watch", "--once"], env=env)
    assert watched.exit_code == ExitCode.OK, watched.stderr
    assert "pool 'doomed' was deleted while backfill" in watched.output
    store = StateStore(env["AFKIT_STATE_URL"])
    governed = {}
    for plan in store.plans():
        for step in store.steps(plan.plan_id).values():
            governed[step.dag_id] = step.backfill_id
            cancel_unless_completed(client, step.backfill_id)
    assert set(governed) == {"afkit_doomed", "afkit_bulk"}
    paused_by_governor, clear_since = store.governor_state(governed["afkit_bulk"])
    assert paused_by_governor is False and clear_since is not None  # the healthy pool was sampled and judged
