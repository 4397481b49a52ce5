"""The launcher's topologies (issue 20), as far as they are decided before anything starts: which processes, which
ports, which settings, and the topologies it refuses. Booting them is tests/integration/test_celery_ha.py's job."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from toolkit.devserver import launcher
from toolkit.devserver.launcher import (AirflowSpec, LaunchError, RunningAirflow, airflow_env, process_kind,
                                        process_ports)
from toolkit.errors import LaunchError as SharedLaunchError

STATE = {"fernet_key": "f", "secret_key": "s", "jwt_secret": "j", "passwords": {"admin": "a"}}
DATABASE = "postgresql+psycopg2://airflow@127.0.0.1:5999/airflow"


def spec(tmp_path: Path, **topology) -> AirflowSpec:
    return AirflowSpec(home=tmp_path, dags_folder=tmp_path, **topology)


def running(tmp_path: Path, **topology) -> RunningAirflow:
    made = spec(tmp_path, **topology)
    ports = process_ports(made)
    return RunningAirflow(spec=made, url="http://127.0.0.1:8080", env=airflow_env(made, 8080, DATABASE, STATE, ports),
                          passwords={}, database_url=DATABASE, ports=ports)


def test_the_local_topology_is_the_four_components_with_free_log_server_ports(tmp_path):
    made = running(tmp_path)
    assert made.spec.processes() == ["api-server", "scheduler", "dag-processor", "triggerer"]
    assert made.env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and "AIRFLOW__CELERY__BROKER_URL" not in made.env
    worker_port = int(made.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"])
    trigger_port = int(made.env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"])
    assert made.ports == {"scheduler": worker_port}  # the scheduler runs the tasks, and serves their logs
    assert worker_port != trigger_port and not {worker_port, trigger_port} & {8793, 8794}


def test_the_celery_ha_topology_adds_the_broker_each_scheduler_and_each_worker(tmp_path):
    made = running(tmp_path, executor="celery", schedulers=2, celery_workers=3, worker_concurrency=5)
    assert made.spec.processes() == ["redis", "api-server", "scheduler", "scheduler-2", "dag-processor", "triggerer",
                                     "celery-worker-1", "celery-worker-2", "celery-worker-3"]
    assert [process_kind(p) for p in ("scheduler-2", "celery-worker-3", "redis")] == [
        "scheduler", "celery-worker", "redis"]
    assert set(made.ports) == {"redis", "celery-worker-1", "celery-worker-2", "celery-worker-3"}
    assert len(set(made.ports.values())) == 4
    env = made.env
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://127.0.0.1:{made.ports['redis']}/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+{DATABASE}"  # psycopg2, not psycopg 3
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "5"
    # each worker: its own Celery hostname and its own log server
    assert made.component_command("celery-worker-2")[-5:] == ["worker", "--celery-hostname", "worker2@%h",
                                                              "--concurrency", "5"]
    ports = {int(made.component_env(w)["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]) for w in made.ports if w != "redis"}
    assert ports == {made.ports[w] for w in made.ports if w != "redis"}
    redis = made.component_command("redis")
    assert redis[redis.index("--port") + 1] == str(made.ports["redis"])
    assert redis[redis.index("--bind") + 1] == "127.0.0.1"
    assert redis[redis.index("--appendonly") + 1] == "yes"  # a queue survives a restart of the same home
    assert made.component_command("scheduler-2")[-1] == "scheduler"


def test_a_plain_postgresql_url_gets_psycopg2_for_the_result_backend(tmp_path):
    made = spec(tmp_path, executor="celery")
    env = airflow_env(made, 8080, "postgresql://u@127.0.0.1/a", STATE, process_ports(made))
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://u@127.0.0.1/a"


@pytest.mark.parametrize("topology, database, message", [
    ({"schedulers": 2}, "sqlite", "2 schedulers (HA) need PostgreSQL"),
    ({"executor": "celery"}, "sqlite", "the CeleryExecutor needs PostgreSQL"),
    ({"executor": "kubernetes"}, "postgres", "unknown executor 'kubernetes'"),
    ({"celery_workers": 0}, "postgres", "must be at least 1"),
])
def test_a_topology_that_cannot_run_is_refused_before_anything_starts(tmp_path, topology, database, message):
    with pytest.raises(LaunchError, match=re.escape(message)):
        spec(tmp_path, **topology).check(database)
    assert LaunchError is SharedLaunchError and not list(tmp_path.iterdir())  # nothing was written


def test_the_celery_executor_names_a_missing_broker(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LaunchError, match="needs redis-server as its broker: apt-get install redis-server"):
        spec(tmp_path, executor="celery").check("postgres")


def test_the_demo_refuses_a_topology_its_database_cannot_run(tmp_path):
    from click.testing import CliRunner
    from toolkit.cli.main import cli
    for args, message in ((["--executor", "celery"], "--executor celery needs PostgreSQL: add --database postgres"),
                          (["--schedulers", "2"], "--schedulers 2 needs PostgreSQL: add --database postgres")):
        result = CliRunner().invoke(cli, ["demo", "--home", str(tmp_path / "home"), *args])
        assert result.exit_code == 2 and message in result.output + (result.stderr or ""), result.output
    assert launcher.EXECUTORS == {"local": "LocalExecutor", "celery": "CeleryExecutor"}
