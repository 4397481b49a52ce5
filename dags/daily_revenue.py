"""Bystander on the shared warehouse pool in the afkit postmortem story.

``daily_revenue`` is a plain time-scheduled (@daily) mart build. Its fan-out
(two parallel transforms) needs 2 slots of the ``warehouse`` pool at its widest
point, so it competes with anything else using that pool.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone

from airflow.sdk import DAG, task
from example_assets import MART_DAILY_REVENUE

log = logging.getLogger(__name__)

with DAG(
    dag_id="daily_revenue",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"owner": "analytics-eng", "pool": "warehouse"},
    tags=["afkit-demo"],
):

    @task
    def extract() -> None:
        time.sleep(1)

    @task
    def transform_orders() -> None:
        time.sleep(2)

    @task
    def transform_refunds() -> None:
        time.sleep(2)

    @task(outlets=[MART_DAILY_REVENUE])
    def load(**context) -> int:
        time.sleep(1)
        row_count = random.randint(20, 40)
        context["outlet_events"][MART_DAILY_REVENUE].extra["row_count"] = row_count
        log.info("Loaded %d revenue rows", row_count)
        return row_count

    extract() >> [transform_orders(), transform_refunds()] >> load()
