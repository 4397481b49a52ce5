"""DAGs of the Celery / HA topology tests (tests/integration/test_celery_ha.py), booted in an Airflow of their own.

- ``afkit_celery_fanout``: four parallel tasks per run, a second of simulated work each, so a backfill's tasks spread
  over both Celery workers and are still running when a scheduler is killed.
- ``afkit_celery_slow``: one task of 30 s simulated work with one retry: a Celery worker is killed while it runs.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG(dag_id="afkit_celery_fanout", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"],
         max_active_runs=2):

    @task
    def part(number: int) -> int:
        time.sleep(1)  # simulated work: the runs overlap while a scheduler is killed
        return number

    part.expand(number=[1, 2, 3, 4])

with DAG(dag_id="afkit_celery_slow", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"retries": 1, "retry_delay": timedelta(seconds=1)}):

    @task
    def long_step() -> None:
        time.sleep(30)  # simulated work: long enough to kill the worker that runs it

    long_step()
