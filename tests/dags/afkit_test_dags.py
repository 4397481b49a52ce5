"""Small, fast DAGs used only by the integration tests (one task each, no sleep).

- ``afkit_quick`` -> asset ``test.quick`` -> ``afkit_quick_report`` (time-based consumer through an inlet): a
  two-step plan for ordering and kill -9 tests.
- ``afkit_flaky``: fails on the days listed in Variable ``afkit_flaky_fail_days`` (for --reprocess failed).
- ``afkit_depends_on_past``: a task with depends_on_past=True (newest-first backfills are refused).
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Asset, Variable, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
QUICK = Asset(name="test.quick", extra={"owner": "afkit-tests", "description": "Test asset."})
QUICK_REPORT = Asset(name="test.quick_report", extra={"owner": "afkit-tests", "description": "Test asset."})

with DAG(dag_id="afkit_quick", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"]):

    @task(outlets=[QUICK])
    def produce() -> None:
        pass

    produce()

with DAG(dag_id="afkit_quick_report", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"]):

    @task(inlets=[QUICK], outlets=[QUICK_REPORT])
    def report() -> None:
        pass

    report()

with DAG(dag_id="afkit_flaky", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"]):

    @task
    def sometimes_fails(**context) -> None:
        fail_days = Variable.get("afkit_flaky_fail_days", default="").split(",")
        if context["logical_date"].strftime("%Y-%m-%d") in fail_days:
            raise RuntimeError("failing on purpose for the test")

    sometimes_fails()

with DAG(dag_id="afkit_depends_on_past", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"]):

    @task(depends_on_past=True)
    def step() -> None:
        pass

    step()
