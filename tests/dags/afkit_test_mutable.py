"""A DAG the tests rewrite to create a new DAG version (plans made before must then be refused)."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, task

with DAG(dag_id="afkit_mutable", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-test"]):

    @task
    def version_one() -> None:
        pass

    version_one()
