"""DAGs sharing the ``shared`` pool (4 slots): production that needs it every minute, a burst, and a backfill target.

- ``afkit_prod_minutely``: every minute, one task in ``shared`` (production).
- ``afkit_prod_burst``: triggered by hand, three parallel tasks in ``shared`` (production needing more than the reserve).
- ``afkit_bulk``: daily, one task in ``shared`` (the DAG the tests backfill).
- ``afkit_doomed``: daily, one task in pool ``doomed`` (a pool the tests delete while its backfill runs).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from airflow.sdk import DAG, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG(dag_id="afkit_prod_minutely", schedule="* * * * *", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "shared"}):

    @task
    def serve() -> None:
        time.sleep(3)

    serve()

with DAG(dag_id="afkit_prod_burst", schedule=None, start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "shared"}):

    @task
    def burst(n: int) -> None:
        time.sleep(8)

    burst.expand(n=[1, 2, 3])

with DAG(dag_id="afkit_bulk", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "shared"}):

    @task
    def crunch() -> None:
        time.sleep(5)

    crunch()

with DAG(dag_id="afkit_doomed", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "doomed"}):

    @task
    def work() -> None:
        pass

    work()
