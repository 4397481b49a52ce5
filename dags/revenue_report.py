"""Time-based consumer in the afkit story: a daily report that reads ``mart.daily_revenue``.

It is scheduled by time, not by the asset, so a backfill of ``daily_revenue`` does not trigger it; it must be
backfilled itself, *after* its upstream. ``afkit backfill plan daily_revenue --downstream`` adds it in that order.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from airflow.sdk import DAG, task
from example_assets import MART_DAILY_REVENUE, REVENUE_REPORT

log = logging.getLogger(__name__)

with DAG(
    dag_id="revenue_report",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"owner": "finance-data"},
    tags=["afkit-demo"],
):

    @task(inlets=[MART_DAILY_REVENUE], outlets=[REVENUE_REPORT])
    def build_report() -> None:
        time.sleep(1)
        log.info("Report built from mart.daily_revenue")

    build_report()
