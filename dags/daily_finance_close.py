"""Downstream victim in the afkit postmortem story.

``daily_finance_close`` is asset-triggered on ``stripe.payments``. Each run opens the books (2 minutes), reconciles
every Stripe batch it was triggered by against the ledger (15 minutes a batch) and closes them, one run at a time
(``max_active_runs=1``: two closes must never write the ledger at once). It was sized for the 30-minute ingest: a
batch every 30 minutes takes 17 minutes to close. When ``stripe_ingest`` moved to every 5 minutes, batches arrived
faster than they could be reconciled: Airflow batched the waiting events into the next run, each run took longer than
the one before, and the close stopped keeping up. The task logs how many triggering asset events each run consumed,
which is the evidence used in the postmortem.

The minutes are story minutes (``toolkit.devserver.clock``): real minutes outside ``afkit demo --story``.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from airflow.sdk import DAG, task
from example_assets import FINANCE_DAILY_CLOSE, STRIPE_PAYMENTS

from toolkit.devserver.clock import story

log = logging.getLogger(__name__)

OPEN_AND_CLOSE_BOOKS = timedelta(minutes=2)
RECONCILE_ONE_BATCH = timedelta(minutes=15)

with DAG(
    dag_id="daily_finance_close",
    schedule=[STRIPE_PAYMENTS],
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "finance-data"},
    tags=["afkit-demo"],
):

    @task(outlets=[FINANCE_DAILY_CLOSE])
    def close_books(**context) -> int:
        events = context["triggering_asset_events"]
        count = len(events[STRIPE_PAYMENTS]) if STRIPE_PAYMENTS in events else 0
        log.info("daily_finance_close triggered by %d asset event(s) of %s", count, STRIPE_PAYMENTS.name)
        time.sleep(story(OPEN_AND_CLOSE_BOOKS + max(count, 1) * RECONCILE_ONE_BATCH).total_seconds())
        return count

    close_books()
