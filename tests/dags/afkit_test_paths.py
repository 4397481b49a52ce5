"""``afkit_paths_backfilled``: daily, producing ``test.paths_backfilled``; the board-path tests backfill it so that
one asset's newest events mix backfill and live events, which both paths must leave out alike.
``afkit_paths_incremental`` only declares ``test.paths_incremental``, whose events the incremental-cadence and
incremental-board tests post.
``afkit_paths_listed``: daily, the DAG of the backfill whose listing both paths must agree on."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Asset, task

from toolkit.sla import max_lag, with_slas

BACKFILLED = Asset(name="test.paths_backfilled", extra={"owner": "afkit-tests"})

with DAG(dag_id="afkit_paths_backfilled", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-test"]):

    @task(outlets=[BACKFILLED])
    def produce() -> None:
        pass

    produce()

# Its SLA needs rows: an event without them makes the board look further back (the plugin's deeper read).
INCREMENTAL = Asset(name="test.paths_incremental", extra=with_slas(
    {"owner": "afkit-tests"}, max_lag(warn_after="1h", fail_after="2h", owners=["#afkit-tests"], min_rows=1)))

# Never scheduled: only the incremental-cadence test creates this asset's events, so it knows exactly how many.
with DAG(dag_id="afkit_paths_incremental", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-test"]):

    @task(outlets=[INCREMENTAL])
    def declare() -> None:
        pass

    declare()

with DAG(dag_id="afkit_paths_listed", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-test"]):

    @task
    def work() -> None:
        pass

    work()
