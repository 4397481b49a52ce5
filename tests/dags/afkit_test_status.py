"""DAGs of the status tests only (each test its own DAG, so no other test's runs are counted).

- ``afkit_status_counts``: daily, one quick task — a backfill per test, counted by id.
- ``afkit_status_plans``: daily, one quick task — plans launched without ``--follow``, paused, resumed by id.
- ``afkit_status_reprocess``: daily, one quick task — a ``--reprocess completed`` backfill cancelled mid-way.
- ``afkit_policy_free`` (default_pool) and ``afkit_policy_tight`` (pool ``tight``): a plan file hand-edited from
  the first to the second must not launch with the first one's runs-at-once.
- ``afkit_and_left`` produces ``test.and_left``; ``afkit_and_both`` is scheduled on ``test.and_left & test.and_right``
  (as Airflow's ``asset_consumes_1_and_2`` example): backfilling the left producer alone triggers no run of it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Asset, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
LEFT = Asset(name="test.and_left", extra={"owner": "afkit-tests"})
RIGHT = Asset(name="test.and_right", extra={"owner": "afkit-tests"})

for dag_id, pool in (("afkit_status_counts", "default_pool"), ("afkit_status_plans", "default_pool"),
                     ("afkit_status_reprocess", "default_pool"), ("afkit_policy_free", "default_pool"),
                     ("afkit_policy_tight", "tight")):
    with DAG(dag_id=dag_id, schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"],
             default_args={"pool": pool}):

        @task
        def step() -> None:
            pass

        step()

with DAG(dag_id="afkit_and_left", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"]):

    @task(outlets=[LEFT])
    def left() -> None:
        pass

    left()

with DAG(dag_id="afkit_and_both", schedule=(LEFT & RIGHT), start_date=START, catchup=False, tags=["afkit-test"]):

    @task
    def both() -> None:
        pass

    both()
