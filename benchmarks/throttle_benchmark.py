"""Issue 4 benchmark: production wait and pool occupancy under a native backfill vs an afkit-throttled one.

One real Airflow 3.3 (PostgreSQL when initdb is available, else SQLite), a pool ``shared`` of 4 slots, a production
DAG with one 3 s task in that pool every 15 s (more often than the test's minute, so the percentiles have samples),
and a daily DAG with one 5 s task in the pool that is backfilled over 20 partitions. Three phases in one run:

1. baseline — production alone;
2. native  — ``POST /backfills`` with ``max_active_runs=5``, nothing else (what Airflow offers);
3. afkit   — the same backfill planned with ``--reserve shared=2`` and launched with the governor ticking.

Per phase: production queue wait (``scheduled_when`` → ``queued_when``) p50/p95, maximum backfill and total pool
occupancy (sampled through the API every 0.3 s), backfill wall time, and the ideal wall time for the budget
(ceil(20 / concurrency) × the median backfill run duration).
Goals: afkit production p95 within one scheduler loop of the baseline, backfill occupancy never above budget,
backfill wall time at most 1.25× the ideal.
"""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.devserver import demo  # noqa: E402

from toolkit.services import backfills
from toolkit.airflow import AirflowClient  # noqa: E402
from toolkit.config import ConnectionSettings  # noqa: E402
from toolkit.services.governor import Governor  # noqa: E402
from toolkit.devserver.launcher import AirflowSpec, start_airflow  # noqa: E402
from toolkit.core.planning import PlanOptions  # noqa: E402
from toolkit.state import StateStore  # noqa: E402
from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy  # noqa: E402

SCHEDULER_LOOP_SECONDS = 1.0  # Airflow's scheduler loop when it has work (scheduler_idle_sleep_time is 1 s)
DAGS = '''
import time
from datetime import datetime, timedelta, timezone
from airflow.sdk import DAG, DeltaTriggerTimetable, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG(dag_id="production", schedule=DeltaTriggerTimetable(timedelta(seconds=15)), start_date=START,
         catchup=False, default_args={"pool": "shared"}):
    @task
    def serve():
        time.sleep(3)
    serve()

with DAG(dag_id="bulk", schedule="@daily", start_date=START, catchup=False, default_args={"pool": "shared"}):
    @task
    def crunch():
        time.sleep(5)
    crunch()
'''


class Sampler(threading.Thread):
    def __init__(self, client: AirflowClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.max_backfill = self.max_total = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tis = self.client.task_instances.list(pools=["shared"], states=["running", "queued"])
            self.max_backfill = max(self.max_backfill, sum(t.pool_slots for t in tis if t.is_backfill))
            self.max_total = max(self.max_total, sum(t.pool_slots for t in tis))
            time.sleep(0.3)


@dataclass
class Phase:
    name: str
    waits: list[float]
    max_backfill: int
    max_total: int
    wall: float | None
    ideal: float | None
    budget: int | None

    def pct(self, q: float) -> float:
        if not self.waits:
            return float("nan")
        ordered = sorted(self.waits)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def production_waits(client: AirflowClient, since: datetime, until: datetime) -> list[float]:
    waits = []
    for ti in client.task_instances.list(dag_id="production"):
        if ti.scheduled_when and ti.queued_when and since <= ti.scheduled_when <= until:
            waits.append((ti.queued_when - ti.scheduled_when).total_seconds())
    return waits


def run_durations(client: AirflowClient, start: datetime, end: datetime) -> list[float]:
    runs = client.dag_runs.list("bulk", logical_date_gte=start, logical_date_lte=end)
    return [r.duration_seconds for r in runs if r.duration_seconds is not None]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="afkit-bench-throttle-"))
    (work / "dags").mkdir()
    (work / "dags" / "bench.py").write_text(DAGS)
    running = start_airflow(AirflowSpec(home=work / "home", dags_folder=work / "dags"))
    phases: list[Phase] = []
    try:
        user, password = running.admin
        client = AirflowClient(ConnectionSettings(url=running.url, username=user, password=password))
        demo.wait_for_dags(client, ("production", "bulk"))
        client.pools.ensure("shared", 4)
        for dag_id in ("production", "bulk"):
            client.dags.set_paused(dag_id, False)

        def phase(name: str, action) -> None:
            sampler = Sampler(client)
            sampler.start()
            since = datetime.now(timezone.utc)
            wall, ideal, budget = action()
            sampler.done.set()
            sampler.join()
            phases.append(Phase(name, production_waits(client, since, datetime.now(timezone.utc)),
                                sampler.max_backfill, sampler.max_total, wall, ideal, budget))

        def baseline():
            time.sleep(90)
            return None, None, None

        def native():
            start, end = datetime(2026, 2, 1, tzinfo=timezone.utc), datetime(2026, 2, 20, tzinfo=timezone.utc)
            began = time.monotonic()
            created = client.backfills.create("bulk", start, end, max_active_runs=5)
            while client.backfills.get(created.id).completed_at is None:
                time.sleep(1)
            wall = time.monotonic() - began
            per_run = statistics.median(run_durations(client, start, end))
            return wall, math.ceil(20 / 4) * per_run, 4

        def throttled():
            start, end = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 20, tzinfo=timezone.utc)
            policy = ThrottlePolicy(pools=(PoolPolicy("shared", Amount(2)),))
            store = StateStore(f"sqlite:///{work / 'state.db'}")
            governor = Governor(client, store, resume_after=timedelta(seconds=6))
            began = time.monotonic()
            plan = backfills.make_plan(client, ["bulk"], PlanOptions(start, end, policy=policy))
            backfills.launch(client, store, plan, until="completed", poll_seconds=1,
                             should_stop=lambda: bool(governor.tick()) and False)
            wall = time.monotonic() - began
            per_run = statistics.median(run_durations(client, start, end))
            concurrency = plan.dags[0].concurrency
            return wall, math.ceil(20 / concurrency) * per_run, concurrency

        phase("baseline (no backfill)", baseline)
        phase("native backfill (max_active_runs=5)", native)
        phase("afkit (reserve 2, governor)", throttled)
    finally:
        running.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"Airflow on {running.database_kind}, pool 'shared' = 4 slots, production every 15 s, 20-partition backfill")
    header = f"{'phase':<38} {'prod wait p50':>13} {'p95':>6} {'n':>3} {'max backfill':>12} {'max total':>9} " \
             f"{'wall':>7} {'ideal':>7}"
    print(header)
    for p in phases:
        wall = f"{p.wall:.0f}s" if p.wall else "-"
        ideal = f"{p.ideal:.0f}s" if p.ideal else "-"
        print(f"{p.name:<38} {p.pct(0.5):>12.2f}s {p.pct(0.95):>5.2f}s {len(p.waits):>3} {p.max_backfill:>12} "
              f"{p.max_total:>9} {wall:>7} {ideal:>7}")
    base, native_phase, afkit = phases
    print(f"afkit p95 - baseline p95 = {afkit.pct(0.95) - base.pct(0.95):+.2f}s (goal within one scheduler loop, "
          f"{SCHEDULER_LOOP_SECONDS:.0f}s: {'met' if afkit.pct(0.95) - base.pct(0.95) <= SCHEDULER_LOOP_SECONDS else 'NOT met'})")
    print(f"afkit backfill occupancy max {afkit.max_backfill} vs budget {afkit.budget}: "
          f"{'met' if afkit.max_backfill <= (afkit.budget or 0) else 'NOT met'}")
    ratio = afkit.wall / afkit.ideal
    print(f"afkit wall / ideal = {ratio:.2f}x (goal <= 1.25x: {'met' if ratio <= 1.25 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
