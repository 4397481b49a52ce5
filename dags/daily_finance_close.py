"""Downstream victim in the afkit postmortem story.

``daily_finance_close`` is asset-triggered on ``stripe.payments``. It was meant
to run roughly once per upstream batch; when ``stripe_ingest`` moved from a
30-minute to a 5-minute cadence it started running far more often than the
finance team expected. The task logs how many triggering asset events each run
consumed, which is the evidence used in the postmortem.
"""

from __future__ import annotations

import logging
import time

from airflow.sdk import DAG, task
from example_assets import STRIPE_PAYMENTS, FINANCE_DAILY_CLOSE

log = logging.getLogger(__name__)

# Same definition (name + extra) as in stripe_ingest.py so the extras don't conflict.
with DAG(
    dag_id="daily_finance_close",
    schedule=[STRIPE_PAYMENTS],
    catchup=False,
    default_args={"owner": "finance-data"},
    tags=["afkit-demo"],
):

    @task(outlets=[FINANCE_DAILY_CLOSE])
    def close_books(**context) -> int:
        events = context["triggering_asset_events"]
        count = len(events[STRIPE_PAYMENTS]) if STRIPE_PAYMENTS in events else 0
        log.info("daily_finance_close triggered by %d asset event(s) of %s", count, STRIPE_PAYMENTS.name)
        time.sleep(2)
        return count

    close_books()
