"""Upstream producer in the afkit postmortem story.

``stripe_ingest`` pulls Stripe payments and emits the ``stripe.payments`` asset.
Its cadence comes from the Airflow Variable ``stripe_ingest_cadence_minutes``.
The incident started when someone changed it from 30 to 5: every run emits an
asset event, so the asset-triggered ``daily_finance_close`` got six times as
many batches to reconcile. Change it by hand in the plain demo (Admin ->
Variables, or ``airflow variables set``); the next parse picks it up.

The minutes are story minutes: ``afkit demo --story postmortem`` runs the DAGs
on a compressed clock (``toolkit.devserver.clock``), so 30 story minutes may be
30 real seconds. Outside the story the clock runs in real time.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, DeltaTriggerTimetable, Variable, task
from example_assets import STRIPE_PAYMENTS

from toolkit.devserver.clock import story

log = logging.getLogger(__name__)

CADENCE_VARIABLE = "stripe_ingest_cadence_minutes"
DEFAULT_CADENCE_MINUTES = 30


def _cadence_minutes() -> int:
    """Read the cadence at parse time; never raise, fall back to 30 minutes."""
    try:
        raw = Variable.get(CADENCE_VARIABLE, default=DEFAULT_CADENCE_MINUTES)
        minutes = int(raw)
        if minutes <= 0:
            raise ValueError(f"cadence must be positive, got {minutes}")
        return minutes
    except Exception as exc:  # missing API/DB, garbage value, etc.
        log.warning(
            "Cannot use Variable %s (%s); falling back to %d minutes",
            CADENCE_VARIABLE,
            exc,
            DEFAULT_CADENCE_MINUTES,
        )
        return DEFAULT_CADENCE_MINUTES


CADENCE_MINUTES = _cadence_minutes()

with DAG(
    dag_id="stripe_ingest",
    # DeltaTriggerTimetable instead of a cron like "*/N * * * *": a cron step only
    # works for N that divide 60 (N=45 or 90 would misfire), while a timedelta works
    # for any N. Passing the timetable explicitly (rather than schedule=timedelta)
    # also avoids depending on [scheduler] create_cron_data_intervals.
    schedule=DeltaTriggerTimetable(story(timedelta(minutes=CADENCE_MINUTES))),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"owner": "payments-data"},
    tags=["afkit-demo"],
):

    @task(outlets=[STRIPE_PAYMENTS])
    def ingest_payments(**context) -> int:
        time.sleep(story(timedelta(seconds=random.uniform(1, 3))).total_seconds())
        row_count = random.randint(500, 1500)
        # Freshness checks read row_count from the asset event's extra.
        context["outlet_events"][STRIPE_PAYMENTS].extra["row_count"] = row_count
        log.info("Ingested %d Stripe payments (cadence %d min)", row_count, CADENCE_MINUTES)
        return row_count

    ingest_payments()
