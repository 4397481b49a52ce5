"""Throttling benchmark (issues 4 and 17): production wait and pool occupancy beside a native backfill and beside an
afkit backfill held at task level by a carved pool, and the afkit backfill's wall time against its budget's ideal.

One real Airflow 3.3 (PostgreSQL when initdb is available, else SQLite) whose afkit.toml carves pool ``shared``
(4 slots, 2 reserved for production). Two twin pools with the same DAGs, so the native backfill is not carved:

- production: two DAGs per pool, every minute, each two sequential tasks of 3 s (at most 2 slots at a time);
- ``bulk_<pool>``: daily, three parallel tasks of 30 s per run — wider than the backfill budget of 2.

Phases, one after the other:
1. baseline — production alone, pool ``shared``;
2. native   — ``POST /backfills`` with ``max_active_runs=4`` in the uncarved twin pool ``native`` (what Airflow offers;
   afkit's policy still lowers backfill priority there);
3. afkit    — ``afkit backfill launch bulk_shared … --reserve shared=2 --yes --follow --unpause``, the command a user
   runs, timed from process start to exit; its governor carves ``shared``.

Per phase: production's queue wait (``scheduled_when`` → ``queued_when``) p50/p95, the maximum backfill and total
occupancy of the pool and its companion (sampled through the API every second), the backfill's wall time, its ideal
for the budget (task-seconds ÷ budget) and the governor's actions. Goals (issue 17): afkit production p95 ≤ baseline
+ one scheduler loop; backfill occupancy never above the budget; wall ≤ 1.15× the ideal; no ``--force``.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.airflow import AirflowClient  # noqa: E402
from toolkit.config import ConnectionSettings  # noqa: E402
from toolkit.devserver import demo  # noqa: E402
from toolkit.devserver.launcher import AirflowSpec, start_airflow  # noqa: E402
from toolkit.state import StateStore  # noqa: E402

SCHEDULER_LOOP_SECONDS = 1.0  # Airflow's scheduler loop when it has work (scheduler_idle_sleep_time is 1 s)
POOL_SLOTS, RESERVE, TASK_SECONDS, PARTITIONS, WIDTH = 4, 2, 30, 8, 3
BASELINE_SECONDS = 180
BUDGET = POOL_SLOTS - RESERVE
DAGS = f'''
import time
from datetime import datetime, timezone
from airflow.sdk import DAG, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)

for pool in ("shared", "native"):
    for name in ("a", "b"):
        with DAG(dag_id=f"production_{{pool}}_{{name}}", schedule="* * * * *", start_date=START, catchup=False,
                 default_args={{"pool": pool}}):
            @task
            def extract():
                time.sleep(3)

            @task
            def publish():
                time.sleep(3)

            extract() >> publish()

    # end_date: unpausing it for the backfill schedules no run of its own in the pool
    with DAG(dag_id=f"bulk_{{pool}}", schedule="@daily", start_date=START, end_date=datetime(2026, 3, 1,
             tzinfo=timezone.utc), catchup=False, default_args={{"pool": pool}}):
        for part in range({WIDTH}):
            @task(task_id=f"crunch_{{part}}")
            def crunch():
                time.sleep({TASK_SECONDS})

            crunch()
'''


class Sampler(threading.Thread):
    """Every second: slots held in the pool and its companion, by backfill task instances and by all."""

    def __init__(self, client: AirflowClient, pool: str) -> None:
        super().__init__(daemon=True)
        self.client, self.pools = client, [pool, f"{pool}__afkit"]
        self.max_backfill = self.max_total = self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            tis = self.client.task_instances.list(pools=self.pools, states=["running", "queued"])
            self.max_backfill = max(self.max_backfill, sum(t.pool_slots for t in tis if t.is_backfill))
            self.max_total = max(self.max_total, sum(t.pool_slots for t in tis))
            self.samples += 1


@dataclass
class Phase:
    name: str
    waits: list[float]
    max_backfill: int
    max_total: int
    samples: int
    wall: float | None = None
    ideal: float | None = None
    actions: int | None = None

    def pct(self, q: float) -> float:
        if not self.waits:
            return float("nan")
        ordered = sorted(self.waits)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def production_waits(client: AirflowClient, pool: str, since: datetime, until: datetime) -> list[float]:
    waits = []
    for name in ("a", "b"):
        for ti in client.task_instances.list(dag_id=f"production_{pool}_{name}"):
            if ti.scheduled_when and ti.queued_when and since <= ti.scheduled_when <= until:
                waits.append((ti.queued_when - ti.scheduled_when).total_seconds())
    return waits


def task_seconds(client: AirflowClient, dag_id: str) -> float:
    return sum((t.end_date - t.start_date).total_seconds() for t in client.task_instances.list(dag_id=dag_id)
               if t.is_backfill and t.start_date and t.end_date)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="afkit-bench-throttle-"))
    (work / "dags").mkdir()
    (work / "dags" / "bench.py").write_text(DAGS)
    home = work / "home"
    home.mkdir()
    (home / "afkit.toml").write_text(f"[pools.shared]\nreserve = {RESERVE}\n")  # the Airflow side carves 'shared'
    running = start_airflow(AirflowSpec(home=home, dags_folder=work / "dags"))
    phases: list[Phase] = []
    start, end = datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 2, PARTITIONS, tzinfo=timezone.utc)
    try:
        user, password = running.admin
        client = AirflowClient(ConnectionSettings(url=running.url, username=user, password=password))
        dag_ids = [f"{kind}_{pool}" for pool in ("shared", "native") for kind in ("production", "bulk")]
        demo.wait_for_dags(client, tuple(f"production_{p}_{n}" for p in ("shared", "native") for n in "ab")
                           + tuple(d for d in dag_ids if d.startswith("bulk")))
        for pool in ("shared", "native"):
            client.pools.ensure(pool, POOL_SLOTS)

        def production(pool: str, on: bool) -> None:
            for name in ("a", "b"):
                client.dags.set_paused(f"production_{pool}_{name}", not on)

        def phase(name: str, pool: str, action) -> Phase:
            sampler = Sampler(client, pool)
            sampler.start()
            since = datetime.now(timezone.utc)
            found = Phase(name, [], 0, 0, 0)
            action(found)
            sampler.done.set()
            sampler.join()
            found.waits = production_waits(client, pool, since, datetime.now(timezone.utc))
            found.max_backfill, found.max_total, found.samples = sampler.max_backfill, sampler.max_total, sampler.samples
            phases.append(found)
            return found

        def baseline(found: Phase) -> None:
            time.sleep(BASELINE_SECONDS)

        def native(found: Phase) -> None:
            began = time.monotonic()
            created = client.backfills.create("bulk_native", start, end, max_active_runs=POOL_SLOTS)
            client.dags.set_paused("bulk_native", False)
            while client.backfills.get(created.id).completed_at is None:
                time.sleep(1)
            found.wall = time.monotonic() - began
            found.ideal = task_seconds(client, "bulk_native") / POOL_SLOTS

        def throttled(found: Phase) -> None:
            config = work / "operator.toml"
            config.write_text("[governor]\npoll_seconds = 2\n")
            env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AFKIT_", "AIRFLOW__"))},
                   "AFKIT_URL": running.url, "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password,
                   "AFKIT_STATE_URL": f"sqlite:///{work / 'state.db'}", "AFKIT_CONFIG": str(config)}
            command = [sys.executable, "-m", "toolkit", "backfill", "launch", "bulk_shared", "--from",
                       start.date().isoformat(), "--to", end.date().isoformat(), "--reserve", f"shared={RESERVE}",
                       "--yes", "--follow", "--unpause"]
            began = time.monotonic()
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            found.wall = time.monotonic() - began
            if result.returncode != 0:
                raise SystemExit(f"afkit backfill launch failed ({result.returncode}):\n{result.stdout}{result.stderr}")
            found.ideal = task_seconds(client, "bulk_shared") / BUDGET
            found.actions = len(StateStore(env["AFKIT_STATE_URL"]).actions())
            print("afkit's governor:", *[line for line in result.stdout.splitlines() if "governor:" in line],
                  sep="\n  ")

        production("shared", True)
        phase("baseline (no backfill)", "shared", baseline)
        production("shared", False)
        production("native", True)
        phase(f"native backfill (max_active_runs={POOL_SLOTS})", "native", native)
        production("native", False)
        production("shared", True)
        phase(f"afkit (reserve {RESERVE}, carved)", "shared", throttled)
        production("shared", False)
    finally:
        running.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"Airflow on {running.database_kind}, pools of {POOL_SLOTS} slots, production: 2 DAGs every minute of 2 "
          f"sequential 3 s tasks; backfill: {PARTITIONS} runs of {WIDTH} parallel {TASK_SECONDS} s tasks")
    print(f"{'phase':<34} {'prod wait p50':>13} {'p95':>6} {'n':>3} {'max backfill':>12} {'max total':>9} "
          f"{'samples':>7} {'wall':>6} {'ideal':>6} {'actions':>7}")
    for p in phases:
        wall = f"{p.wall:.0f}s" if p.wall else "-"
        ideal = f"{p.ideal:.0f}s" if p.ideal else "-"
        actions = "-" if p.actions is None else str(p.actions)
        print(f"{p.name:<34} {p.pct(0.5):>12.2f}s {p.pct(0.95):>5.2f}s {len(p.waits):>3} {p.max_backfill:>12} "
              f"{p.max_total:>9} {p.samples:>7} {wall:>6} {ideal:>6} {actions:>7}")
    base, _, afkit = phases
    gap = afkit.pct(0.95) - base.pct(0.95)
    print(f"afkit p95 - baseline p95 = {gap:+.2f}s (goal within one scheduler loop, {SCHEDULER_LOOP_SECONDS:.0f}s: "
          f"{'met' if gap <= SCHEDULER_LOOP_SECONDS else 'NOT met'})")
    print(f"afkit backfill occupancy max {afkit.max_backfill} vs budget {BUDGET}: "
          f"{'met' if afkit.max_backfill <= BUDGET else 'NOT met'}; total max {afkit.max_total} of {POOL_SLOTS}")
    ratio = afkit.wall / afkit.ideal
    print(f"afkit wall / ideal = {afkit.wall:.0f}s / {afkit.ideal:.0f}s = {ratio:.2f}x "
          f"(goal <= 1.15x: {'met' if ratio <= 1.15 else 'NOT met'}); no --force")
    return 0


if __name__ == "__main__":
    sys.exit(main())
