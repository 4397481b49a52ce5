"""afkit's Airflow cluster policy, registered by the ``airflow.policy`` entry point.

Task instances of backfill runs get a priority weight below any production task, so whenever production and a
backfill both wait for a pool slot, the scheduler gives it to production first.

Airflow 3.3.2 applies entry-point policies during the scheduler's bulk task-instance creation only if an
``airflow_local_settings`` module can be imported (it looks for policy hooks again only after importing that module).
``toolkit.devserver.launcher`` writes an empty ``$AIRFLOW_HOME/config/airflow_local_settings.py`` for that reason. Deployments
need the same file; the docker image ships one.

The hook runs inside the scheduler. It must be cheap, must not open a session, and must never raise.
"""

from __future__ import annotations

import logging

from airflow.policies import hookimpl

from toolkit.models import BACKFILL_RUN_PREFIX

log = logging.getLogger(__name__)

BACKFILL_PRIORITY_WEIGHT = -100
BACKFILL_RUN_TYPE = "backfill"


def is_backfill(task_instance: object, dag_run: object | None) -> bool:
    if dag_run is not None:
        run_type = getattr(dag_run, "run_type", None)
        return str(getattr(run_type, "value", run_type)) == BACKFILL_RUN_TYPE
    return str(getattr(task_instance, "run_id", "") or "").startswith(BACKFILL_RUN_PREFIX)


@hookimpl
def task_instance_mutation_hook(task_instance, dag_run) -> None:  # noqa: ANN001 - Airflow's hook signature
    try:
        if is_backfill(task_instance, dag_run):
            task_instance.priority_weight = BACKFILL_PRIORITY_WEIGHT
    except Exception:  # noqa: BLE001 - a policy error must never stop the scheduler
        log.exception("afkit policy: could not lower the priority of %s", getattr(task_instance, "task_id", "?"))
