"""A seconds-scale producer whose cadence a test changes through a Variable, and its asset-triggered consumer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Asset, DeltaTriggerTimetable, Variable, task

from toolkit.sla import max_lag, with_slas

PULSE = Asset(name="test.pulse", extra={"owner": "pulse-team", "description": "Beats at a cadence set by a Variable."})
DIGEST = Asset(name="test.pulse_digest", extra=with_slas(
    {"owner": "digest-team"}, max_lag(warn_after="1h", fail_after="2h", owners=["#digest-team"])))


def _seconds() -> int:
    try:
        return max(1, int(Variable.get("afkit_pulse_seconds", default=12)))
    except Exception:  # noqa: BLE001 - no API or a garbage value: the default cadence
        return 12


with DAG(dag_id="afkit_pulse", schedule=DeltaTriggerTimetable(timedelta(seconds=_seconds())),
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False, max_active_runs=4,
         default_args={"owner": "pulse-team"}, tags=["afkit-test"]):

    @task(outlets=[PULSE])
    def beat() -> None:
        pass

    beat()

with DAG(dag_id="afkit_pulse_digest", schedule=[PULSE], start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, default_args={"owner": "digest-team"}, tags=["afkit-test"]):

    @task(outlets=[DIGEST])
    def digest() -> None:
        pass

    digest()


# Airflow 3.3.2 cannot list an event consumed by a run that has not started (apache/airflow#71360). A test makes one:
# an asset-triggered run finishes quickly, a manual run then holds the only active slot, and the first run, cleared,
# waits queued with no start date.
HELD = Asset(name="test.held", extra={"owner": "afkit-tests"})

with DAG(dag_id="afkit_slow_consumer", schedule=[HELD], start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, max_active_runs=1, tags=["afkit-test"]):

    @task
    def take_time(**context) -> None:
        import time

        time.sleep(60 if context["dag_run"].run_type == "manual" else 1)

    take_time()
