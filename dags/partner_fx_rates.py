"""The demo's broken upstream: a partner's FX-rates API that is down.

``partner_fx_rates`` tries every five minutes and fails, so ``partner.fx_rates`` stops being updated. Its max-lag SLA
(at risk after 1 minute, late after 3) goes late a few minutes into the demo, with this DAG's failed run named as the
culprit, and ``afkit watch`` alerts ``#treasury-data``. Nothing here is random: it fails on every run.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, task
from example_assets import PARTNER_FX_RATES

with DAG(
    dag_id="partner_fx_rates",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"owner": "treasury-data", "retries": 0},
    tags=["afkit-demo"],
):

    @task(outlets=[PARTNER_FX_RATES])
    def pull_rates() -> None:
        raise RuntimeError("partner FX API answered HTTP 503 Service Unavailable (the demo's partner is always down)")

    pull_rates()
