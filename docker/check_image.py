"""Build-time self-check of the afkit image, run by docker/Dockerfile: a broken image fails its build, not its first start.

It checks what the compose stack relies on and nothing else shows before Airflow is running:

- afkit's plugin and cluster policy are registered through their entry points;
- an ``airflow_local_settings`` module is importable and Airflow itself considers the task-instance mutation hook
  active (without that module Airflow 3.3.2 ignores entry-point policies in the scheduler's bulk task-instance
  creation: see toolkit/plugin/policy.py);
- the Celery provider that the compose file's ``celery`` profile needs can be imported (the official image ships it;
  ``--without-celery`` skips this, for environments that only install afkit);
- the ``afkit`` command is on PATH (the ``afkit-watch`` service runs it).

Exit status 0 when everything holds; 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from importlib.metadata import entry_points

CELERY_EXECUTOR_MODULE = "airflow.providers.celery.executors.celery_executor"


def problems(with_celery: bool = True) -> list[str]:
    found: list[str] = []
    if not any(ep.name == "afkit" for ep in entry_points(group="airflow.plugins")):
        found.append("the afkit plugin is not registered (entry point group airflow.plugins)")

    # Importing airflow runs its settings initialisation: $AIRFLOW_HOME/config goes onto sys.path, policy plugins
    # are loaded and airflow_local_settings is imported, exactly as in every Airflow component.
    import airflow.settings

    from toolkit.plugin.app import policy_status

    policy = policy_status()
    if not policy["registered"]:
        found.append("afkit's cluster policy is not registered (entry point group airflow.policy)")
    if not policy["airflow_local_settings"]:
        found.append("no airflow_local_settings module is importable: Airflow would ignore afkit's policy when the "
                     "scheduler creates task instances in bulk")
    if getattr(airflow.settings.task_instance_mutation_hook, "is_noop", True):
        found.append("Airflow does not consider any task_instance_mutation_hook active")

    if with_celery:
        try:
            importlib.import_module(CELERY_EXECUTOR_MODULE)
        except Exception as exc:  # noqa: BLE001 - any failure to import it means the celery profile cannot work
            found.append(f"the Celery provider cannot be imported ({type(exc).__name__}: {exc})")

    if shutil.which("afkit") is None:
        found.append("the afkit command is not on PATH")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--without-celery", action="store_true", help="do not require the Celery provider")
    args = parser.parse_args(argv)
    found = problems(with_celery=not args.without_celery)
    for problem in found:
        print(f"afkit image check: {problem}", file=sys.stderr)
    if not found:
        print("afkit image check: plugin, policy, airflow_local_settings"
              + ("" if args.without_celery else ", celery provider") + " and the afkit command are in place")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
