"""DAGs sharing the ``shared`` pool (4 slots): production that needs it every minute, a burst, and a backfill target.

- ``afkit_prod_minutely``: every minute, one task in ``shared`` (production).
- ``afkit_prod_burst``: triggered by hand, three parallel tasks in ``shared`` (production needing more than the reserve).
- ``afkit_bulk``: daily, one task in ``shared`` (the DAG the tests backfill). Its end date lies in the past, after
  every day the tests backfill: ``--unpause`` then makes no scheduled run of its own, which would be one more
  production task in ``shared`` than the budget test reserves for (with the minutely run and its predecessor, it
  filled the pool at a minute boundary and made production wait).
- ``afkit_doomed``: daily, one task in pool ``doomed`` (a pool the tests delete while its backfill runs).
- ``afkit_gated_bulk`` / ``afkit_gated_prod`` (and ``afkit_tui_gated_*`` in ``gated_tui``, for the terminal app's
  launch, and ``afkit_mp_gated_*`` in ``gated_mp``, for two watchers at once): the governor tests' own pairs, each in
  its own pool (3 slots). The
  backfill's task holds its slot until the test opens a gate (a file under ``AIRFLOW_HOME``), and production asks for
  2 slots at once, so production waits for exactly as long as the test decides — not for as long as a race allows.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG, task

START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG(dag_id="afkit_prod_minutely", schedule="* * * * *", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "shared"}):

    @task
    def serve() -> None:
        time.sleep(3)

    serve()

with DAG(dag_id="afkit_prod_burst", schedule=None, start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "shared"}):

    @task
    def burst(n: int) -> None:
        time.sleep(8)

    burst.expand(n=[1, 2, 3])

with DAG(dag_id="afkit_bulk", schedule="@daily", start_date=START, end_date=datetime(2026, 11, 30, tzinfo=timezone.utc),
         catchup=False, tags=["afkit-test"], default_args={"pool": "shared"}):

    @task
    def crunch() -> None:
        time.sleep(5)

    crunch()

with DAG(dag_id="afkit_doomed", schedule="@daily", start_date=START, catchup=False, tags=["afkit-test"],
         default_args={"pool": "doomed"}):

    @task
    def work() -> None:
        pass

    work()


def gate(name: str) -> Path:
    """The file a gated task waits for; the tests create it (same path: the tasks run on the suite's machine)."""
    return Path(os.environ["AIRFLOW_HOME"]) / "afkit-test-gates" / name


# One pair per governor test (CLI launch, terminal-app launch), each with its own pool and gate. The backfill DAG's end
# date lies in the past: unpausing it makes no scheduled run of its own that would take a gated slot.
for prefix, pool, gate_name in (("afkit_gated", "gated", "throttle"), ("afkit_tui_gated", "gated_tui", "tui"),
                                ("afkit_mp_gated", "gated_mp", "many-processes")):
    with DAG(dag_id=f"{prefix}_bulk", schedule="@daily", start_date=START,
             end_date=datetime(2026, 6, 30, tzinfo=timezone.utc), catchup=False, tags=["afkit-test"],
             default_args={"pool": pool}):

        @task
        def hold_until_gate_opens(name: str = gate_name) -> None:
            deadline = time.monotonic() + 600  # a test that never opens the gate fails its runs, it does not hang
            while not gate(name).exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("the test never opened the gate")
                time.sleep(0.5)

        hold_until_gate_opens()

    with DAG(dag_id=f"{prefix}_prod", schedule=None, start_date=START, catchup=False, tags=["afkit-test"],
             default_args={"pool": pool}):

        @task(pool_slots=2)
        def report() -> None:
            time.sleep(1)

        report()
