"""Topology benchmark (issue 20): time to healthy, and to a completed 10-partition backfill, per deployment topology.

For each topology the launcher boots a fresh Airflow 3.3 on PostgreSQL (``AirflowSpec``: what ``afkit demo
--executor …`` and the tests boot) with one DAG, ``afkit_celery_fanout`` (four parallel tasks of 1 s per run; the
Celery tests' DAG). Then it times the command a user runs, from process start to exit:
``afkit backfill launch afkit_celery_fanout --from 2026-05-01 --to 2026-05-10 --yes --follow``.

Topologies: LocalExecutor with one scheduler (the anchor), and CeleryExecutor with two workers, two schedulers and
two api-server workers. The compose stack is not measured here (see docs/deployment.md for why).

    python benchmarks/topology_benchmark.py [--only local|celery]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.airflow import AirflowClient  # noqa: E402
from toolkit.config import ConnectionSettings  # noqa: E402
from toolkit.devserver import demo  # noqa: E402
from toolkit.devserver.launcher import AirflowSpec, LaunchError, start_airflow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "tests" / "dags" / "celery" / "afkit_test_celery.py"
DAG_ID = "afkit_celery_fanout"
TOPOLOGIES = {
    "local": {"label": "LocalExecutor, 1 scheduler", "executor": "local"},
    "celery": {"label": "Celery x2 workers, 2 schedulers, api-server x2", "executor": "celery", "schedulers": 2,
               "celery_workers": 2, "api_workers": 2},
}


def measure(name: str, topology: dict, work: Path) -> tuple[float, float, str]:
    home, dags = work / f"{name}-home", work / f"{name}-dags"
    dags.mkdir(parents=True)
    shutil.copy(DAG_FILE, dags)
    options = {k: v for k, v in topology.items() if k != "label"}
    started = time.monotonic()
    running = start_airflow(AirflowSpec(home=home, dags_folder=dags, database="postgres", **options), timeout=300)
    healthy = time.monotonic() - started
    try:
        user, password = running.admin
        with AirflowClient(ConnectionSettings(url=running.url, username=user, password=password)) as client:
            demo.wait_for_dags(client, (DAG_ID,))
            client.dags.set_paused(DAG_ID, False)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}, "AFKIT_URL": running.url,
               "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password, "AFKIT_STATE_URL": f"sqlite:///{work / name}.db"}
        launched = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "toolkit", "backfill", "launch", DAG_ID, "--from",
                                 "2026-05-01", "--to", "2026-05-10", "--yes", "--follow"], env=env,
                                capture_output=True, text=True, timeout=1200)
        backfill = time.monotonic() - launched
        outcome = "completed" if result.returncode == 0 and "completed." in result.stdout else (
            f"FAILED (exit {result.returncode}): {result.stdout[-300:]}{result.stderr[-300:]}")
    finally:
        running.stop()
    return healthy, backfill, outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=sorted(TOPOLOGIES))
    args = parser.parse_args()
    chosen = {k: v for k, v in TOPOLOGIES.items() if args.only in (None, k)}
    print(f"{'topology':<50} {'healthy':>9} {'10-partition backfill':>22}  outcome")
    with tempfile.TemporaryDirectory(prefix="afkit-topology-") as scratch:
        for name, topology in chosen.items():
            try:
                healthy, backfill, outcome = measure(name, topology, Path(scratch))
            except LaunchError as exc:
                print(f"{topology['label']:<50} {'-':>9} {'-':>22}  not run: {exc}")
                continue
            print(f"{topology['label']:<50} {healthy:8.0f}s {backfill:21.0f}s  {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
