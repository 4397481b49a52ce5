"""Assets with SLAs for the freshness tests. ``afkit_sla_probe`` stays paused: its assets only change when a test
records an external event through the API."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Asset, task

from toolkit.sla import deadline, max_lag, with_slas

STALE = Asset(name="test.stale", extra=with_slas({"owner": "afkit-tests"},
                                                 max_lag(warn_after="1s", fail_after="2s", owners=["#tests"])))
RECOVERING = Asset(name="test.recovering", extra=with_slas(
    {"owner": "afkit-tests"}, max_lag(warn_after="10m", fail_after="20m", owners=["#tests"], min_rows=1)))
BROKEN = Asset(name="test.invalid_sla", extra=with_slas(
    {"owner": "afkit-tests"},
    deadline("0 6 * *", "America/Los_Angeles", owners=["#tests"], name="bad cron"),
    max_lag(warn_after="1h", fail_after="2h", owners=["#tests"], name="still fine"),
))

ALERTING = Asset(name="test.alerting", extra=with_slas(
    {"owner": "afkit-tests"}, max_lag(warn_after="20s", fail_after="40s", owners=["#tests"])))
# Fed by hand while the scheduler is stopped: it goes stale exactly the way an outage makes data stale.
HEARTBEAT = Asset(name="test.heartbeat", extra=with_slas(
    {"owner": "afkit-tests"}, max_lag(warn_after="12s", fail_after="20s", owners=["#tests"])))

with DAG(dag_id="afkit_sla_probe", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-test"]):

    @task(outlets=[STALE, RECOVERING, BROKEN, ALERTING, HEARTBEAT])
    def produce() -> None:
        pass

    produce()
