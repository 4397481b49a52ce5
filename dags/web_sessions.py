"""Partitioned producer in the afkit postmortem story.

``web_sessions`` runs daily at 00:00 UTC on a ``CronPartitionTimetable``, so
every run carries a partition key (the previous day, e.g. ``2026-01-01``) and
the ``web.sessions`` asset events it emits are tagged with that key. It is the
"healthy" contrast to the unpartitioned Stripe -> finance chain.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timezone

from airflow.sdk import DAG, CronPartitionTimetable, task
from example_assets import WEB_SESSIONS

log = logging.getLogger(__name__)

with DAG(
    dag_id="web_sessions",
    # run_offset=-1: the run at 00:00 on day D builds the partition for day D-1.
    schedule=CronPartitionTimetable("0 0 * * *", timezone="UTC", run_offset=-1, key_format="%Y-%m-%d"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"owner": "web-analytics"},
    tags=["afkit-demo"],
):

    @task
    def collect_events(**context) -> None:
        log.info("Collecting web events for partition %s", context.get("partition_key"))
        time.sleep(1)

    @task(pool="warehouse", outlets=[WEB_SESSIONS])
    def build_sessions(**context) -> int:
        time.sleep(2)
        row_count = random.randint(10_000, 20_000)
        # The run's partition_key is attached to the asset event automatically.
        context["outlet_events"][WEB_SESSIONS].extra["row_count"] = row_count
        log.info("Built %d sessions for partition %s", row_count, context.get("partition_key"))
        return row_count

    collect_events() >> build_sessions()
