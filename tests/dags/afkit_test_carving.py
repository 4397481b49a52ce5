"""DAGs in the ``carved`` pool (4 slots), which the suite's Airflow carves (its afkit.toml has ``[pools.carved]``):
backfill task instances there go to ``carved__afkit``, whose slots afkit's governor sets.

- ``afkit_carve_prod``: production, every minute, two sequential tasks in ``carved``.
- ``afkit_carve_wide``: daily, three parallel tasks in ``carved`` — wider than a backfill budget of 2.
- ``afkit_carve_gated``: daily, two parallel tasks that hold their slot until the test opens a gate (a file under
  ``AIRFLOW_HOME``), so a carve stays in place for exactly as long as the test needs it.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
END = datetime(2026, 6, 1, tzinfo=timezone.utc)  # unpaused for a backfill, a backfill target schedules no run of its own

with DAG(dag_id="afkit_carve_prod", schedule="* * * * *", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "carved"}):

    @task
    def extract() -> None:
        time.sleep(2)

    @task
    def publish() -> None:
        time.sleep(2)

    extract() >> publish()

with DAG(dag_id="afkit_carve_wide", schedule="@daily", start_date=START, end_date=END, catchup=False,
         tags=["afkit-test"],
         default_args={"pool": "carved"}):

    for part in ("a", "b", "c"):

        @task(task_id=f"crunch_{part}")
        def crunch() -> None:
            time.sleep(4)

        crunch()

with DAG(dag_id="afkit_carve_gated", schedule="@daily", start_date=START, end_date=END, catchup=False,
         tags=["afkit-test"],
         default_args={"pool": "carved"}):

    for part in ("a", "b"):

        @task(task_id=f"hold_{part}")
        def hold() -> None:
            gate = Path(os.environ["AIRFLOW_HOME"]) / "afkit-test-gates" / "carve"
            deadline = time.monotonic() + 600
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.5)

        hold()
