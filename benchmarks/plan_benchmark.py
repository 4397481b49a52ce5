"""Issue 3 benchmark: planning 5 years of daily partitions for a chain of 20 DAGs, against the bare dry-run calls.

A real Airflow 3.3 is started (PostgreSQL when initdb is available, else SQLite; api-server with 2 workers, as in
production) with 20 generated daily DAGs chained through assets (``chain_00`` -> asset -> ``chain_01`` -> …).
Anchor: the 20 ``POST /api/v2/backfills/dry_run`` calls, one after another, that the plan cannot avoid.
Measured: ``afkit backfill plan chain_00 --downstream`` for the same range (the whole plan: DAG details, tasks, runs,
dry runs, assets, pools, durations, verification). Each is timed 3 times; the medians are reported.
Goal (issue 3): plan <= 1.5x the bare dry-run calls, and under 2 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.devserver import demo  # noqa: E402
from toolkit.airflow import AirflowClient  # noqa: E402
from toolkit.services.backfills import FETCH_WORKERS, make_plan  # noqa: E402
from toolkit.config import ConnectionSettings  # noqa: E402
from toolkit.devserver.launcher import AirflowSpec, start_airflow  # noqa: E402
from toolkit.core.planning import PlanOptions  # noqa: E402

CHAIN = 20
DAG_TEMPLATE = '''
from datetime import datetime, timezone
from airflow.sdk import DAG, Asset, task

with DAG(dag_id="chain_{i:02d}", schedule="@daily", start_date=datetime(2021, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-benchmark"]):

    @task(inlets={inlets}, outlets=[Asset(name="bench.chain_{i:02d}")])
    def step() -> None:
        pass

    step()
'''


def write_dags(folder: Path) -> None:
    for i in range(CHAIN):
        inlets = f'[Asset(name="bench.chain_{i - 1:02d}")]' if i else "[]"
        (folder / f"chain_{i:02d}.py").write_text(DAG_TEMPLATE.format(i=i, inlets=inlets))


def timed(fn, repeat: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="afkit-bench-plan-"))
    dags = work / "dags"
    dags.mkdir()
    write_dags(dags)
    running = start_airflow(AirflowSpec(home=work / "home", dags_folder=dags, database=args.database, api_workers=2))
    try:
        user, password = running.admin
        client = AirflowClient(ConnectionSettings(url=running.url, username=user, password=password, timeout=300))
        ids = tuple(f"chain_{i:02d}" for i in range(CHAIN))
        demo.wait_for_dags(client, ids, timeout=300)
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        end = today - timedelta(days=1)
        start = end - timedelta(days=5 * 365)
        options = PlanOptions(from_date=start, to_date=end, downstream=True)
        client.monitor.version()

        def bare() -> int:
            return sum(len(client.backfills.dry_run(d, start, end)) for d in ids)

        def bare_parallel() -> int:
            with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
                return sum(len(r) for r in pool.map(lambda d: client.backfills.dry_run(d, start, end), ids))

        def plan() -> object:
            return make_plan(client, ["chain_00"], options)

        bare(), plan()  # warm-up: first-request costs (imports, caches) are not what we measure
        bare_median, bare_times, partitions = timed(bare, args.repeat)
        parallel_median, parallel_times, _ = timed(bare_parallel, args.repeat)
        plan_median, plan_times, result = timed(plan, args.repeat)
        assert [d.dag_id for d in result.dags] == list(ids), "the chain was not planned in order"
        assert sum(d.run_count for d in result.dags) == partitions
        ratio = plan_median / bare_median
        print(f"Airflow {result.airflow_version} on {running.database_kind}, api-server with 2 workers, 2 cores")
        print(f"chain of {CHAIN} DAGs x {partitions // CHAIN} daily partitions = {partitions} partitions "
              f"({start.date()} .. {end.date()})")
        print(f"anchor: {CHAIN} bare dry_run calls, sequential  median {bare_median:.2f} s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in bare_times)})")
        print(f"same dry_run calls, {FETCH_WORKERS} at a time        median {parallel_median:.2f} s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in parallel_times)})")
        print(f"afkit backfill plan chain_00 --downstream       median {plan_median:.2f} s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in plan_times)})")
        print(f"ratio plan / bare dry runs: {ratio:.2f}x  (goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
        print(f"plan overhead over the same dry runs made concurrently: {plan_median / parallel_median:.2f}x")
        print(f"plan under 2 s: {'met' if plan_median < 2 else 'NOT met'} "
              f"(Airflow's own dry runs take {bare_median:.2f} s for this range)")
        return 0
    finally:
        running.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
