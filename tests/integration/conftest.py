"""One real Airflow 3.3 for the whole integration suite (PostgreSQL when ``initdb`` is available, else SQLite).

Started through ``toolkit.devserver.launcher`` — the same code ``afkit demo`` uses — configured like the demo (pools, Variable,
unpaused DAGs), and stopped at the end with a check that no process it started is left behind. The launcher's
supervisor runs after every test: a component that died during a test fails that test with its log tail, and is
restarted so that the tests after it find a whole Airflow.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from toolkit.devserver import demo
from toolkit.airflow import AirflowClient
from toolkit.cli.main import cli
from toolkit.errors import Conflict
from toolkit.config import ConnectionSettings
from toolkit.devserver.launcher import AirflowSpec, LaunchError, RunningAirflow, start_airflow

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
TEST_DAGS = ("afkit_quick", "afkit_quick_report", "afkit_flaky", "afkit_depends_on_past", "afkit_mutable",
             "afkit_prod_minutely", "afkit_prod_burst", "afkit_bulk", "afkit_doomed", "afkit_sla_probe", "afkit_pulse",
             "afkit_pulse_digest", "afkit_slow_consumer", "afkit_paths_backfilled",
             "afkit_paths_incremental", "afkit_paths_listed", "afkit_carve_prod", "afkit_carve_wide",
             "afkit_carve_gated")


# The Airflow side's afkit.toml: the carving tests' own pool is carved (its backfill tasks go to carved__afkit).
AIRFLOW_SIDE_CONFIG = "[pools.carved]\nreserve = 2\n"
CARVED_POOL_SLOTS = 4


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> RunningAirflow:
    home = tmp_path_factory.mktemp("airflow-home")
    dags = tmp_path_factory.mktemp("dags")  # the example DAGs plus the tests' own, in a folder tests may edit
    for source in (*(REPO / "dags").glob("*.py"), *(REPO / "tests" / "dags").glob("*.py")):
        shutil.copy(source, dags / source.name)
    database = os.environ.get("AFKIT_TEST_DATABASE", "auto")
    home.mkdir(parents=True, exist_ok=True)
    (home / "afkit.toml").write_text(AIRFLOW_SIDE_CONFIG)  # read by the plugin and the policy in every component
    running = start_airflow(AirflowSpec(home=home, dags_folder=dags, database=database))
    print(f"\nAirflow for the suite: {running.url} on {running.database_kind} (home {home})")
    try:
        with AirflowClient(admin_settings(running)) as client:
            demo.configure(client)
            client.pools.ensure("carved", CARVED_POOL_SLOTS, "the carving tests' own pool")
            demo.wait_for_dags(client, TEST_DAGS)
        yield running
    finally:
        stop_keeping_logs(running, "suite")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After each test, supervise every Airflow it used (the suite's, ``airflow2`` …): one ``poll()`` per component.

    A component that died fails the test with its log tail; when the test failed already (likely because of it),
    the report is attached to that failure instead of hiding it."""
    try:
        result = yield
    except BaseException:
        report = _supervise(item)
        if report:
            item.add_report_section("call", "Airflow components", report)
        raise
    report = _supervise(item)
    if report:
        pytest.fail(report, pytrace=False)
    return result


def _supervise(item: pytest.Item) -> str | None:
    """Restart what exited in the Airflows the test used; what to tell about it, if anything did."""
    used = {id(v): v for v in getattr(item, "funcargs", {}).values() if isinstance(v, RunningAirflow)}
    told = []
    for running in used.values():
        try:
            restarts = running.supervise()
        except LaunchError as exc:
            told.append(str(exc))
            continue
        if restarts:
            try:
                running.wait_healthy(180, beat_after=min(r.at for r in restarts))  # for the tests after this one
                after = "it is healthy again"
            except LaunchError as exc:
                after = f"it did not come back: {exc}"
            told.extend(f"During this test, Airflow {r}; {after}. Its log before the restart ended with:\n{r.tail}"
                        for r in restarts)
    return "\n\n".join(told) or None


def stop_keeping_logs(running: RunningAirflow, prefix: str) -> None:
    """Stop a test Airflow, keep its component logs in test-artifacts/, and fail if any process outlived it."""
    leftover = running.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    for log in (running.spec.home / "logs").glob("*.log"):
        shutil.copy(log, ARTIFACTS / f"{prefix}-{log.name}")
    assert leftover == [], f"processes left behind by the launcher: {leftover}"


def stop_demo_keeping_logs(proc: subprocess.Popen, home: Path, prefix: str) -> int:
    """Stop an `afkit demo` process as a user does (SIGINT), keep its component logs, and return its exit code.

    A demo that does not stop within 2 minutes is killed, so a failed test never leaves Airflow running.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        ARTIFACTS.mkdir(exist_ok=True)
        for component_log in (home / "logs").glob("*.log"):
            shutil.copy(component_log, ARTIFACTS / f"{prefix}-{component_log.name}")


def admin_settings(running: RunningAirflow) -> ConnectionSettings:
    user, password = running.admin
    return ConnectionSettings(url=running.url, username=user, password=password)


@pytest.fixture
def client(airflow: RunningAirflow) -> AirflowClient:
    with AirflowClient(admin_settings(airflow)) as api:
        yield api


@pytest.fixture
def admin_env(airflow: RunningAirflow) -> dict[str, str]:
    user, password = airflow.admin
    return {"AFKIT_URL": airflow.url, "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password}


_BACKFILL_RANGES = itertools.count()


@pytest.fixture
def paused_backfill(airflow: RunningAirflow) -> int:
    """An active backfill of three new ``afkit_bulk`` partitions (in September, three days further each time) that
    stays active: created paused, cancelled after."""
    first = datetime(2026, 9, 1, tzinfo=timezone.utc) + timedelta(days=3 * next(_BACKFILL_RANGES))
    made = raw_send(airflow, "POST", "/api/v2/backfills", {
        "dag_id": "afkit_bulk", "from_date": first.isoformat(), "to_date": (first + timedelta(days=2)).isoformat(),
        "run_backwards": False, "dag_run_conf": {"afkit": {"plan_id": "pagetest", "step": "afkit_bulk#0"}},
        "reprocess_behavior": "none", "max_active_runs": 1})
    raw_send(airflow, "PUT", f"/api/v2/backfills/{made['id']}/pause")
    yield made["id"]
    raw_send(airflow, "PUT", f"/api/v2/backfills/{made['id']}/cancel")


def cancel_unless_completed(client: AirflowClient, backfill_id: int) -> None:
    """A test's cleanup: cancel its backfill unless Airflow completed it already.

    A backfill a test unpaused can finish before the test's cleanup runs (on an idle machine it often does); Airflow
    then answers a cancel with 409 "already completed", which is not a failure of the test."""
    if not client.backfills.get(backfill_id).active:
        return
    try:
        client.backfills.cancel(backfill_id)
    except Conflict:
        if client.backfills.get(backfill_id).active:
            raise


def run_cli(args: list[str], env: dict[str, str] | None = None) -> Result:
    """Run the real ``afkit`` click command in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def raw_get(running: RunningAirflow, path: str, token: str | None = None) -> Any:
    """Ask Airflow directly (not through afkit's boundary) to cross-check what afkit reports."""
    if token is None:
        token = raw_token(running, *running.admin)
    request = urllib.request.Request(running.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def raw_send(running: RunningAirflow, method: str, path: str, body: dict | None = None) -> Any:
    """POST/PATCH/DELETE straight to Airflow, for test set-up that afkit itself never does (trigger a run …)."""
    request = urllib.request.Request(
        running.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {raw_token(running, *running.admin)}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    return json.loads(data) if data else None


def raw_token(running: RunningAirflow, username: str, password: str) -> str:
    request = urllib.request.Request(
        running.url + "/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def wait_for(predicate, timeout: float, what: str, every: float = 1.0):
    """Poll ``predicate`` until it returns something truthy (returned), for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def output_of(proc: subprocess.Popen, timeout: float, what: str) -> str:
    """What an afkit process printed once it exited; killed if it outlives ``timeout``. A process left running after
    its test failed would go on acting on the shared Airflow: a ``launch --follow`` left behind governs the pools the
    next test measures (its governor, with its own state store, carves them its own way)."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate(timeout=30)[0]
        raise AssertionError(f"{what} did not exit within {timeout:.0f}s (killed); it printed:\n{output}") from None


@pytest.fixture(scope="session")
def airflow_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with Airflow and afkit's dependencies, but not afkit itself: no ``airflow.plugins`` entry point
    exists there, so an api-server started from it has the afkit plugin only if a plugins folder brings it."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (./dev setup installs it into .venv); cannot build the second virtualenv")
    path = tmp_path_factory.mktemp("airflow-only-venv")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["airflow"]
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(path)], check=True, timeout=120)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), "-c",
         str(REPO / "constraints.txt"), *requirements],
        check=True, timeout=900,
    )
    return path / "bin" / "python"


@dataclass
class SecondApiServer:
    url: str
    home: Path
    passwords: dict[str, str]
    exit_code: int | None = None  # after the context ends: the launcher's, on Ctrl-C
    owned: list[int] | None = None  # after the context ends: every pid the launcher tracked


def _read_ready_line(proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"launcher exited with {proc.returncode}")
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("{"):
                return json.loads(line)
    raise AssertionError("launcher did not report ready in time")


@contextlib.contextmanager
def second_api_server(airflow: RunningAirflow, python: Path, where: Path, *, plugins: Path | None,
                      extra_env: dict[str, str] | None = None, api_workers: int = 1) -> Iterator[SecondApiServer]:
    """Another api-server on the suite's database, started by ``python -m toolkit.devserver.launcher`` from the
    Airflow-only virtualenv (afkit's source on its path, never installed) and stopped with Ctrl-C."""
    source = where / "src"
    shutil.copytree(REPO / "toolkit", source / "toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    home, pidfile = where / "home", where / "pids.json"
    command = [str(python), "-m", "toolkit.devserver.launcher", "--home", str(home), "--dags", str(REPO / "dags"),
               "--database", airflow.database_url, "--components", "api-server", "--api-workers", str(api_workers),
               "--no-migrate", "--pidfile", str(pidfile)]
    if plugins is not None:
        command += ["--plugins", str(plugins)]
    for key, value in (extra_env or {}).items():
        command += ["--env", f"{key}={value}"]
    proc = subprocess.Popen(command, cwd=where, env={**airflow.env, "PYTHONPATH": str(source), "AIRFLOW_HOME": str(home)},
                            stdout=subprocess.PIPE, text=True)
    server = None
    try:
        url = _read_ready_line(proc, timeout=240)["url"]
        server = SecondApiServer(url, home, json.loads((home / "passwords.json").read_text()))
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        exit_code = proc.wait(timeout=90)
        if server is not None:
            server.exit_code = exit_code
            server.owned = json.loads(pidfile.read_text())


def comparable_slas(board) -> dict:
    """Each SLA's JSON entry (the one shape every consumer reads) but for what moves with the clock between two
    reads: its lag and the reason's wording."""
    from toolkit.core.sla_board import board_to_dict

    return {f"{e['asset']}#{e['sla']}": {k: v for k, v in e.items() if k not in ("lag_seconds", "reason")}
            for e in board_to_dict(board)["slas"]}


def assert_same_statuses(plugin_reads, rest_board) -> None:
    """The REST board agrees with the plugin's on every SLA whose status held still across the plugin's two reads."""
    first, again = (comparable_slas(b) for b in plugin_reads)
    rest = comparable_slas(rest_board)
    steady = {k for k in first if again.get(k) == first[k]}
    assert len(steady) >= 5, first
    assert set(rest) == set(first)
    assert {k: rest[k] for k in steady} == {k: first[k] for k in steady}
