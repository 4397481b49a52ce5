"""afkit's Airflow cluster policy, registered by the ``airflow.policy`` entry point.

Task instances of backfill runs get a priority weight below any production task, so whenever production and a
backfill both wait for a pool slot, the scheduler gives it to production first. In a **carved** pool (one this
Airflow's afkit.toml has a ``[pools.NAME]`` table for) they also go to the companion pool ``NAME__afkit``, whose
slots afkit's governor sets to the backfill budget: the budget is then held by the scheduler's own pool accounting,
task by task (see ``toolkit.core.throttle``).

Airflow 3.3.2 applies entry-point policies during bulk task-instance creation (the api-server creates every task
instance of a backfill; the scheduler those of scheduled runs) only if an ``airflow_local_settings`` module can be
imported: it looks for policy hooks again only after importing that module. ``toolkit.devserver.launcher`` writes an
empty ``$AIRFLOW_HOME/config/airflow_local_settings.py`` for that reason; deployments need the same file in every
Airflow process, and the docker image ships one. Without it no pool is carved.

The hook runs inside the scheduler and the api-server. It must be cheap, must not open a session, and must never
raise. Its answer depends only on the run and on the carved pools read once per process (a change to afkit.toml's
pools takes effect when Airflow restarts): Airflow re-applies it to every task instance of a run, running ones too,
when a DAG's version changes, and the answer must not move them.
"""

from __future__ import annotations

import functools
import importlib.util
import logging

from airflow.policies import hookimpl

from toolkit.core.throttle import companion_of, is_companion
from toolkit.models import BACKFILL_RUN_PREFIX

log = logging.getLogger(__name__)

BACKFILL_PRIORITY_WEIGHT = -100
BACKFILL_RUN_TYPE = "backfill"


def is_backfill(task_instance: object, dag_run: object | None) -> bool:
    if dag_run is not None:
        run_type = getattr(dag_run, "run_type", None)
        return str(getattr(run_type, "value", run_type)) == BACKFILL_RUN_TYPE
    return str(getattr(task_instance, "run_id", "") or "").startswith(BACKFILL_RUN_PREFIX)


def local_settings_importable() -> bool:
    return importlib.util.find_spec("airflow_local_settings") is not None


@functools.cache
def carved_pools() -> frozenset[str]:
    """The pools this Airflow carves: those its afkit.toml has a ``[pools.NAME]`` table for, when the policy can
    take effect. A broken afkit.toml carves nothing (its errors are in the plugin's health), and never raises."""
    try:
        from toolkit.service_config import load_service_config

        if not local_settings_importable():
            return frozenset()
        config = load_service_config()
        if not config.ok:
            log.error("afkit policy: no pool is carved, afkit.toml is invalid: %s", "; ".join(config.errors))
            return frozenset()
        return frozenset(p.pool for p in config.throttle.pools if not is_companion(p.pool))
    except Exception:  # noqa: BLE001 - a policy error must never stop the scheduler or the api-server
        log.exception("afkit policy: could not read the carved pools; none is carved")
        return frozenset()


@hookimpl
def task_instance_mutation_hook(task_instance, dag_run) -> None:  # noqa: ANN001 - Airflow's hook signature
    try:
        if is_backfill(task_instance, dag_run):
            task_instance.priority_weight = BACKFILL_PRIORITY_WEIGHT
            if task_instance.pool in carved_pools():
                task_instance.pool = companion_of(task_instance.pool)
    except Exception:  # noqa: BLE001 - a policy error must never stop the scheduler
        log.exception("afkit policy: could not adjust backfill task %s", getattr(task_instance, "task_id", "?"))
