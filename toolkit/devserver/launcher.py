"""The one way afkit boots a real Airflow 3.3: used by ``afkit demo`` and by the test suite's fixture.

It starts api-server, scheduler, dag-processor and triggerer as separate processes with one ``AIRFLOW_HOME``, DAGs
folder, database and loopback port, waits until ``/api/v2/monitor/health`` reports every started component healthy,
and stops every process it started — and their children — on ``stop()``, on Ctrl-C and on errors. Topologies
(``AirflowSpec``): the LocalExecutor, or the CeleryExecutor with a loopback ``redis-server`` and N workers (each its
own Celery hostname and log-server port); N schedulers (HA, PostgreSQL only); N api-server workers. Every process that
serves logs gets a free port of its own.
While it runs, ``RunningAirflow.supervise()`` restarts a component that exited (a bounded number of times) and says so
in one line naming its log: the demo and the test fixtures call it, so a crashed scheduler is reported, not fatal.

Database: a throwaway PostgreSQL cluster when ``initdb`` and ``pg_ctl`` are on the PATH (``database="auto"``), SQLite
otherwise. Secrets it generates (JWT secret, Fernet key, user passwords) live in ``AIRFLOW_HOME/afkit-launcher.json``
so that running again reuses the same home and credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from toolkit.errors import LaunchError

log = logging.getLogger(__name__)

ALL_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
REDIS = "redis"  # the Celery broker's process name (a loopback redis-server this launcher owns)
CELERY_WORKER = "celery-worker"  # celery-worker-1, celery-worker-2, …
CELERY_READY = " ready."  # what a Celery worker logs once it consumes tasks
# Which /api/v2/monitor/health entry proves a component is up (the api-server proves itself by answering).
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
USERS = {"admin": "admin", "viewer": "viewer"}  # username -> SimpleAuthManager role
# Airflow 3.3's execution API builds its versioned routes (Cadwyn) on the first request each api-server process
# serves, synchronously on that process's event loop: 5-6 s of CPU here, 16-20 s on two busy cores, during which the
# process answers nothing. A task's first call waits behind it; Airflow's default 5 s client timeout then turns it
# into retries that queue behind the same build, and once the five attempts are spent the task fails. The launcher
# (and docker/compose.yaml's api-server healthcheck) pays the build before any task asks, and gives task processes a
# timeout the build fits into, for an api-server process that starts later (a restart) or that the warm-up missed.
EXECUTION_API_TIMEOUT_SECONDS = 30
EXECUTION_API_WARMUP_ANSWERS = 16  # quick answers in a row that say every api-server process has built its routes



STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """While active, SIGINT, SIGTERM and SIGHUP all raise one ``KeyboardInterrupt``, whatever the parent left them as.

    A job started with ``nohup … &`` from a script inherits SIGINT ignored, and Python keeps it ignored: without an
    explicit handler such a demo would not stop on SIGINT. The first signal interrupts whatever runs (boot, seeding,
    the wait loop); later ones are only noted, so they cannot break off the stop that cleans up.
    """

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.received: int | None = None
        self._cleaning_up = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set outside Python

    def cleaning_up(self) -> None:
        """From now on a signal is only noted: call it before stopping, when the stop has another cause."""
        self._cleaning_up = True

    def _handle(self, signum: int, frame: object) -> None:
        first = self.received is None
        self.received = self.received or signum
        if first and not self._cleaning_up:
            raise KeyboardInterrupt(signal.Signals(signum).name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _process_table() -> dict[int, tuple[str, int, int]]:
    """``pid -> (state, ppid, process group)`` of every process, read from /proc (no Airflow or psutil import)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (fields[0], int(fields[1]), int(fields[2]))
    return table


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``: what a dead component leaves behind (its children are re-parented,
    so :func:`descendants` no longer finds them, but they keep the group the component was started in)."""
    return [pid for pid, (state, _, group) in _process_table().items() if group == pgid and state != "Z"]


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (read from /proc, so it needs no Airflow import)."""
    children: dict[int, list[int]] = {}
    for child, (_, ppid, _) in _process_table().items():
        children.setdefault(ppid, []).append(child)
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited; only its parent's wait is missing


def _kill_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if pid_alive(p)]
        if not pids:
            return []
        time.sleep(0.1)
    return [p for p in pids if pid_alive(p)]


def _beats(entry: dict, key: str, after: datetime | None) -> bool:
    """A health entry says healthy and, when ``after`` is given, its latest heartbeat is later than that."""
    if entry.get("status") != "healthy":
        return False
    if after is None:
        return True
    beat = entry.get(f"latest_{key}_heartbeat")
    try:
        when = datetime.fromisoformat(beat)
    except (TypeError, ValueError):
        return False
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)) > after


def describe_exit(returncode: int) -> str:
    """``exited (code 1)`` or ``was killed by SIGKILL``: Popen reports a signal as a negative return code."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited (code {returncode})"


@dataclass(frozen=True)
class ComponentRestart:
    """One component that exited and was started again, as :meth:`RunningAirflow.supervise` reports it."""

    component: str
    returncode: int
    restart: int  # 1 for the first restart within the window
    budget: int  # restarts allowed within the window
    log: Path
    tail: str = field(default="", repr=False)  # the log's last lines when the exit was noticed
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))  # when it was started again

    def __str__(self) -> str:
        return (f"{self.component} {describe_exit(self.returncode)}; restarted it (restart {self.restart} of "
                f"{self.budget}) — log: {self.log}")


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free loopback port, owned by this launcher."""

    data_dir: Path
    port: int
    run_as: str | None = None  # initdb refuses to run as root: run the server as this user then
    postmaster_pid: int | None = None

    @staticmethod
    def available() -> tuple[bool, str]:
        if not (shutil.which("initdb") and shutil.which("pg_ctl")):
            return False, "initdb/pg_ctl not on PATH"
        if os.geteuid() == 0:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                return False, "running as root and there is no 'postgres' user to run the server"
        return True, "initdb and pg_ctl found"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def start(self) -> str:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.run_as = "postgres"
        logfile = self.data_dir.parent / "postgres.log"
        sockdir = self.data_dir.parent / "pgsock"
        sockdir.mkdir(exist_ok=True)
        if self.run_as:
            shutil.chown(self.data_dir.parent, user=self.run_as)
            shutil.chown(sockdir, user=self.run_as)
            logfile.touch()
            shutil.chown(logfile, user=self.run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            result = subprocess.run(
                self._cmd(shutil.which("initdb") or "initdb", "-D", str(self.data_dir), "-U", "airflow",
                          "--auth=trust", "-E", "UTF8", "--no-sync"),
                capture_output=True, text=True, timeout=120,
            )
            if result.returncode != 0:
                raise LaunchError(f"initdb failed: {result.stderr.strip()}")
        options = f"-p {self.port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        result = subprocess.run(
            self._cmd(shutil.which("pg_ctl") or "pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", str(logfile),
                      "-w", "-t", "60", "start"),
            capture_output=True, text=True, timeout=90,
        )
        if result.returncode != 0:
            raise LaunchError(f"PostgreSQL did not start: {result.stderr.strip()}\n{_tail(logfile)}")
        self.postmaster_pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        url = f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"
        created = subprocess.run(
            self._cmd("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "-d", "postgres", "-tAc",
                      "SELECT 1 FROM pg_database WHERE datname = 'airflow'"),
            capture_output=True, text=True, timeout=30,
        )
        if created.stdout.strip() != "1":
            subprocess.run(
                self._cmd("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "-d", "postgres", "-c",
                          "CREATE DATABASE airflow"),
                check=True, capture_output=True, timeout=30,
            )
        return url

    def pids(self) -> list[int]:
        return [self.postmaster_pid, *descendants(self.postmaster_pid)] if self.postmaster_pid else []

    def stop(self) -> None:
        if not self.postmaster_pid:
            return
        pids = self.pids()
        subprocess.run(
            self._cmd(shutil.which("pg_ctl") or "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"),
            capture_output=True, timeout=60,
        )
        leftover = _wait_gone(pids, 10)
        _kill_all(leftover, signal.SIGKILL)
        self.postmaster_pid = None


@dataclass
class AirflowSpec:
    """What to boot. ``home`` is created if missing and reused if it exists."""

    home: Path
    dags_folder: Path
    port: int | None = None
    database: str = "auto"  # auto | sqlite | postgres | a SQLAlchemy URL of an existing database
    plugins_folder: Path | None = None  # None: the plugin comes from its entry point only
    components: tuple[str, ...] = ALL_COMPONENTS
    extra_env: dict[str, str] = field(default_factory=dict)
    api_workers: int = 1
    parallelism: int = 8
    migrate: bool = True
    executor: str = "local"  # local | celery (a loopback redis-server and ``celery_workers`` workers)
    schedulers: int = 1  # more than one: HA schedulers, on PostgreSQL only
    celery_workers: int = 2
    worker_concurrency: int = 4

    def processes(self) -> list[str]:
        """Every process to start, in order: the broker first, each scheduler (scheduler, scheduler-2, …), each
        Celery worker after the components."""
        names = [REDIS] if self.executor == "celery" else []
        for component in self.components:
            names.append(component)
            if component == "scheduler":
                names += [f"scheduler-{n}" for n in range(2, self.schedulers + 1)]
        if self.executor == "celery":
            names += [f"{CELERY_WORKER}-{n}" for n in range(1, self.celery_workers + 1)]
        return names

    def check(self, database_kind: str) -> None:
        """A topology that cannot run here, named before anything starts."""
        if self.executor not in EXECUTORS:
            raise LaunchError(f"unknown executor {self.executor!r}: use one of {', '.join(EXECUTORS)}")
        if min(self.schedulers, self.api_workers, self.celery_workers, self.worker_concurrency) < 1:
            raise LaunchError("schedulers, api-server workers, Celery workers and their concurrency must be at least 1")
        if self.schedulers > 1 and database_kind != "postgres":
            raise LaunchError(f"{self.schedulers} schedulers (HA) need PostgreSQL: SQLite allows one scheduler")
        if self.executor == "celery":
            if database_kind != "postgres":
                raise LaunchError("the CeleryExecutor needs PostgreSQL here (its result backend is the database)")
            if not shutil.which("redis-server"):
                raise LaunchError("the CeleryExecutor needs redis-server as its broker: apt-get install redis-server")
            try:  # (by its distribution: importing it would import and configure Airflow in this process)
                importlib.metadata.version("apache-airflow-providers-celery")
            except importlib.metadata.PackageNotFoundError:
                raise LaunchError("the CeleryExecutor needs Airflow's Celery provider: "
                                  "pip install 'afkit[celery]'") from None


def process_kind(name: str) -> str:
    """The Airflow component (or broker) a process name stands for: scheduler-2 is a scheduler."""
    if name.startswith(f"{CELERY_WORKER}-"):
        return CELERY_WORKER
    if name.startswith("scheduler-"):
        return "scheduler"
    return name


@dataclass
class RunningAirflow:
    spec: AirflowSpec
    url: str
    env: dict[str, str] = field(repr=False)  # holds the Fernet key and JWT secret: kept out of test reports
    passwords: dict[str, str] = field(repr=False)
    database_url: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    postgres: PostgresCluster | None = None
    seen_pids: set[int] = field(default_factory=set)
    max_restarts: int = 3  # per component within restart_window; one more exit is a LaunchError
    restart_window: float = 600.0
    restarts: dict[str, list[float]] = field(default_factory=dict)  # component -> monotonic times of its restarts
    ports: dict[str, int] = field(default_factory=dict)  # process -> its own loopback port (broker, log servers)
    log_offsets: dict[str, int] = field(default_factory=dict)  # process -> its log's size when it was last started

    @property
    def admin(self) -> tuple[str, str]:
        return "admin", self.passwords["admin"]

    @property
    def database_kind(self) -> str:
        return "postgres" if self.database_url.startswith("postgresql") else "sqlite"

    def airflow_pids(self) -> list[int]:
        """The Airflow components and every child they spawned (executors, task supervisors, api workers)."""
        pids: list[int] = []
        for proc in self.processes.values():
            if proc.poll() is None:
                pids.append(proc.pid)
            pids.extend(descendants(proc.pid))
            pids.extend(p for p in group_members(proc.pid) if p not in pids)  # orphans of a component that died
        self.seen_pids.update(pids)
        return pids

    def all_pids(self) -> list[int]:
        """Every process this launch owns right now, the database server included."""
        pids = self.airflow_pids() + (self.postgres.pids() if self.postgres else [])
        self.seen_pids.update(pids)
        return pids

    def log_path(self, component: str) -> Path:
        return self.spec.home / "logs" / f"{component}.log"

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
            return json.loads(response.read())

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise LaunchError(
                    f"Airflow {name} {describe_exit(proc.returncode)}; last lines of "
                    f"{self.log_path(name)}:\n{_tail(self.log_path(name))}"
                )

    def supervise(self, now: float | None = None) -> list[ComponentRestart]:
        """Start again every component that exited since the last call, and report each restart.

        Cheap (one ``poll()`` per component unless one died), so callers may run it every second or between tests.
        What a dead component left in its process group is stopped first, so a restarted api-server finds its port
        free. Raises :class:`LaunchError`, naming the component and quoting its log, once a component exits again
        after ``max_restarts`` restarts within ``restart_window`` seconds: then something is wrong that restarting
        will not fix.
        """
        now = time.monotonic() if now is None else now
        restarted = []
        for name, proc in list(self.processes.items()):
            code = proc.poll()
            if code is None:
                continue
            path = self.log_path(name)
            tail = _tail(path)
            self._stop_group(proc.pid)
            recent = [t for t in self.restarts.get(name, []) if now - t < self.restart_window]
            if len(recent) >= self.max_restarts:
                raise LaunchError(
                    f"Airflow {name} {describe_exit(code)} again after {len(recent)} restarts within "
                    f"{self.restart_window / 60:.0f} min; not restarting it. Last lines of {path}:\n{tail}"
                )
            self.restarts[name] = [*recent, now]
            event = ComponentRestart(name, code, len(recent) + 1, self.max_restarts, path, tail)
            with contextlib.suppress(OSError), open(path, "a") as logfile:  # mark where the new process begins
                logfile.write(f"\n--- afkit launcher: {event} ---\n")
            self.start_component(name)
            restarted.append(event)  # the caller reports it (the demo prints it, the test fixture fails the test)
        return restarted

    def _stop_group(self, pgid: int, timeout: float = 10) -> None:
        """Stop what is left of a component's process group (executor workers, api-server workers)."""
        members = group_members(pgid)
        if not members:
            return
        self.seen_pids.update(members)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        _kill_all(_wait_gone(members, timeout), signal.SIGKILL)

    def wait_healthy(self, timeout: float = 180, *, beat_after: datetime | None = None) -> float:
        """Block until every started component is healthy; returns the seconds it took.

        ``beat_after``: also require each component's heartbeat to be later than this, because Airflow still calls a
        component that was just killed healthy until its last heartbeat grows old (30 s for the scheduler).
        """
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                health = self.health()
                missing = [
                    c for c in self.spec.components
                    if c in HEALTH_KEYS and not _beats(health.get(HEALTH_KEYS[c]) or {}, HEALTH_KEYS[c], beat_after)
                ]
                missing += self._not_ready(beat_after)
                if (health.get("metadatabase") or {}).get("status") == "healthy" and not missing:
                    if "api-server" in self.spec.components:
                        self.warm_execution_api(deadline)
                    return time.monotonic() - started
                last = f"waiting for {', '.join(missing) or 'metadatabase'}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = f"api-server not answering ({exc})"
            time.sleep(1)
        raise LaunchError(f"Airflow at {self.url} not healthy after {timeout:.0f}s: {last}")

    def warm_execution_api(self, deadline: float) -> None:
        """Make every api-server process build its execution API routes now (see EXECUTION_API_TIMEOUT_SECONDS).

        One process: its first answer proves it. Several share one socket, and the kernel hands each connection to
        whichever idle process accepts first, so a process still cold is only likely, not certain, to take one of
        the quick answers in a row asked for; a missed one costs a task one slow first call, within the timeout."""
        wanted = 1 if self.spec.api_workers == 1 else EXECUTION_API_WARMUP_ANSWERS
        quick = 0
        while quick < wanted:
            if time.monotonic() > deadline:
                raise LaunchError(f"the execution API of {self.url} did not answer quickly before the deadline")
            asked = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/execution/health",
                                            timeout=EXECUTION_API_TIMEOUT_SECONDS) as response:
                    response.read()
            except (urllib.error.URLError, OSError) as exc:
                log.debug("execution API warm-up: %s", exc)
                quick = 0
                time.sleep(0.5)
                continue
            quick = quick + 1 if self.spec.api_workers == 1 or time.monotonic() - asked < 1 else 0

    def _not_ready(self, beat_after: datetime | None) -> list[str]:
        """What the health endpoint cannot tell: every HA scheduler heartbeating, every Celery worker consuming."""
        waiting = []
        schedulers = [p for p in self.processes if process_kind(p) == "scheduler"]
        if len(schedulers) > 1 and self._running_schedulers(beat_after) < len(schedulers):
            waiting.append(f"{len(schedulers)} schedulers")
        for name in self.processes:
            if process_kind(name) == CELERY_WORKER and not self._logged_since_start(name, CELERY_READY):
                waiting.append(name)
        return waiting

    def _running_schedulers(self, beat_after: datetime | None) -> int:
        """Scheduler jobs that are running and heartbeating (after ``beat_after``), from the metadata database."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                beats = conn.execute(text("SELECT latest_heartbeat FROM job WHERE job_type = 'SchedulerJob' "
                                          "AND state = 'running'")).scalars().all()
        finally:
            engine.dispose()
        recent = datetime.now(timezone.utc).timestamp() - 30
        floor = max(recent, beat_after.timestamp()) if beat_after else recent
        return sum(1 for beat in beats if beat is not None and _utc(beat).timestamp() > floor)

    def _logged_since_start(self, name: str, marker: str) -> bool:
        try:
            with open(self.log_path(name), "rb") as handle:
                handle.seek(self.log_offsets.get(name, 0))
                return marker.encode() in handle.read()
        except OSError:
            return False

    def component_command(self, component: str) -> list[str]:
        """The command line of one process (the supervisor's tests replace it with short-lived stand-ins)."""
        kind = process_kind(component)
        if kind == REDIS:
            (self.spec.home / "redis").mkdir(exist_ok=True)
            # An append-only file in the home: tasks queued when the launcher stopped are still queued when it boots
            # the same home again (without it, their task instances stay "queued" until task_queued_timeout).
            return [shutil.which("redis-server") or "redis-server", "--port", str(self.ports[REDIS]), "--bind",
                    "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", str(self.spec.home / "redis")]
        if kind == CELERY_WORKER:
            number = component.rsplit("-", 1)[1]
            return [sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname", f"worker{number}@%h",
                    "--concurrency", str(self.spec.worker_concurrency)]
        args = [sys.executable, "-m", "airflow", kind]
        if kind == "api-server":
            port = self.url.rsplit(":", 1)[1]
            args += ["--host", "127.0.0.1", "--port", port, "--workers", str(self.spec.api_workers)]
        return args

    def component_env(self, component: str) -> dict[str, str]:
        """The environment of one process: each task-running one (schedulers under the LocalExecutor, Celery
        workers) serves its logs on a port of its own, so that several never clash, nor two Airflows."""
        if component in self.ports and process_kind(component) != REDIS:
            return {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports[component])}
        return self.env

    def start_component(self, component: str) -> None:
        """Start one process (again), in its own process group, logging to ``logs/<component>.log``."""
        args = self.component_command(component)
        path = self.log_path(component)
        self.log_offsets[component] = path.stat().st_size if path.exists() else 0
        with open(path, "ab") as logfile:
            self.processes[component] = subprocess.Popen(
                args, env=self.component_env(component), stdout=logfile, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.spec.home,  # not the caller's directory: a source checkout there would register the plugin twice
                start_new_session=True,  # its own process group: stop() signals the whole group
            )

    def stop_component(self, component: str, timeout: float = 30) -> None:
        """Stop one component (SIGTERM to its group, SIGKILL for whatever outlives ``timeout``), as an outage would."""
        proc = self.processes.pop(component)
        pids = ([proc.pid] if proc.poll() is None else []) + descendants(proc.pid)
        self.seen_pids.update(pids)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _kill_all(_wait_gone(pids, timeout), signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, timeout: float = 30) -> list[int]:
        """Stop every process; returns the pids still alive afterwards (empty when the stop was clean)."""
        self.all_pids()  # remember the database server's pids too, for the final check
        pids = self.airflow_pids()
        self._signal_groups(signal.SIGTERM)
        # Whatever ignored SIGTERM, left its process group, or was forked meanwhile (a scheduler starting executor
        # workers as it shuts down) is killed — the groups as a whole, then each straggler — until none is left.
        remaining = set(_wait_gone(pids, timeout)) | set(self.airflow_pids())
        for _ in range(3):
            if not remaining:
                break
            self._signal_groups(signal.SIGKILL)
            _kill_all(remaining, signal.SIGKILL)
            remaining = set(_wait_gone(remaining, 10)) | set(self.airflow_pids())
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.postgres:
            self.postgres.stop()
        return [p for p in self.seen_pids if pid_alive(p)]

    def _signal_groups(self, sig: int) -> None:
        """Signal each component's process group, even when the component itself has exited (its orphans remain)."""
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def __enter__(self) -> RunningAirflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


LOCAL_SETTINGS = """\"\"\"Present so that Airflow applies cluster policies registered by entry point (afkit's among them).

Airflow 3.3.2 looks for policy hooks again only after importing this module; without it, the scheduler's bulk
task-instance creation ignores entry-point policies. It may stay empty.
\"\"\"
"""


def write_local_settings(home: Path) -> Path:
    """``$AIRFLOW_HOME/config/airflow_local_settings.py`` (empty), unless the home already has one of its own."""
    path = home / "config" / "airflow_local_settings.py"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LOCAL_SETTINGS)
    return path


def _state(home: Path) -> dict:
    """Secrets and ports that must stay the same each time a home is reused."""
    path = home / "afkit-launcher.json"
    try:
        state = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise LaunchError(f"{path} cannot be read ({exc}); delete it to generate new secrets and passwords") from None
    if not isinstance(state, dict):
        raise LaunchError(f"{path} is not a JSON object; delete it to generate new secrets and passwords")
    changed = False
    defaults = {
        "jwt_secret": lambda: secrets.token_urlsafe(32),
        "secret_key": lambda: secrets.token_urlsafe(32),
        "fernet_key": lambda: urlsafe_b64encode(os.urandom(32)).decode(),
        "passwords": lambda: {user: secrets.token_urlsafe(9) for user in USERS},
    }
    for key, make in defaults.items():
        if key not in state:
            state[key] = make()
            changed = True
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=2)
    return state


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def process_ports(spec: AirflowSpec) -> dict[str, int]:
    """A free loopback port for every process that listens besides the api-server: the broker, and the log server
    of each process that runs tasks (Airflow's defaults, 8793 and 8794, clash between Airflows side by side)."""
    ports = {}
    for name in spec.processes():
        kind = process_kind(name)
        if kind == REDIS or kind == CELERY_WORKER or (kind == "scheduler" and spec.executor == "local"):
            ports[name] = free_port()
    return ports


def airflow_env(spec: AirflowSpec, port: int, database_url: str, state: dict,
                ports: dict[str, int] | None = None) -> dict[str, str]:
    ports = ports or {}
    home = spec.home
    url = f"http://127.0.0.1:{port}"
    plugins = spec.plugins_folder or (home / "plugins")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(spec.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__EXECUTOR": EXECUTORS[spec.executor],
            "AIRFLOW__CORE__PARALLELISM": str(spec.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": state["fernet_key"],
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": str(EXECUTION_API_TIMEOUT_SECONDS),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": str(spec.api_workers),
            "AIRFLOW__API__SECRET_KEY": state["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": state["jwt_secret"],
            "AIRFLOW__API_AUTH__JWT_ISSUER": "afkit-launcher",
            # Fast enough for tests and the demo: new DAG files are seen within seconds.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CORE__MP_START_METHOD": "fork",
            # Every log server on a free port of its own (each task-running process overrides the worker's).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.get("scheduler") or free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if spec.executor == "celery":
        env.update({
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{ports[REDIS]}/0",
            # psycopg2 named explicitly: a bare db+postgresql:// picks psycopg 3, which afkit[airflow] does not install
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url.replace("postgresql://", "postgresql+psycopg2://",
                                                                            1),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(spec.worker_concurrency),
        })
    env.update(spec.extra_env)
    return env


def _database_kind(spec: AirflowSpec) -> str:
    """postgres or sqlite: what ``_resolve_database`` will give, known before anything starts."""
    if spec.database == "auto":
        return "postgres" if PostgresCluster.available()[0] else "sqlite"
    if spec.database in ("sqlite", "postgres"):
        return spec.database
    return "postgres" if spec.database.startswith("postgresql") else "sqlite"


def _resolve_database(spec: AirflowSpec) -> tuple[str, PostgresCluster | None]:
    choice = spec.database
    if choice == "auto":
        ok, why = PostgresCluster.available()
        choice = "postgres" if ok else "sqlite"
        log.info("database: %s (%s)", choice, why)
    if choice == "sqlite":
        return f"sqlite:///{spec.home / 'airflow.db'}", None
    if choice == "postgres":
        ok, why = PostgresCluster.available()
        if not ok:
            raise LaunchError(f"PostgreSQL requested but not available: {why}")
        base = spec.home / "postgres"
        if os.geteuid() == 0:
            # The server runs as 'postgres', which may not be able to enter the home (pytest's tmp dirs are 0700):
            # keep the cluster in a directory of its own, the same one each time this home is used.
            digest = hashlib.sha1(str(spec.home).encode()).hexdigest()[:12]
            base = Path(tempfile.gettempdir()) / f"afkit-pg-{digest}"
        cluster = PostgresCluster(data_dir=base / "data", port=free_port())
        return cluster.start(), cluster
    return choice, None


def start_airflow(spec: AirflowSpec, *, wait: bool = True, timeout: float = 240) -> RunningAirflow:
    """Boot Airflow as ``spec`` says. On any failure everything already started is stopped again."""
    spec.home = spec.home.resolve()
    spec.dags_folder = spec.dags_folder.resolve()  # components run with cwd=home: relative paths would break
    if spec.plugins_folder is not None:
        spec.plugins_folder = spec.plugins_folder.resolve()
    spec.home.mkdir(parents=True, exist_ok=True)
    (spec.home / "logs").mkdir(exist_ok=True)
    (spec.plugins_folder or spec.home / "plugins").mkdir(parents=True, exist_ok=True)
    write_local_settings(spec.home)
    state = _state(spec.home)
    passwords_file = spec.home / "passwords.json"
    passwords_file.write_text(json.dumps(state["passwords"]))
    passwords_file.chmod(0o600)
    port = spec.port or free_port()
    spec.check(_database_kind(spec))
    database_url, cluster = _resolve_database(spec)
    ports = process_ports(spec)
    running = RunningAirflow(
        spec=spec,
        url=f"http://127.0.0.1:{port}",
        env=airflow_env(spec, port, database_url, state, ports),
        passwords=dict(state["passwords"]),
        database_url=database_url,
        postgres=cluster,
        ports=ports,
    )
    airflow_bin = [sys.executable, "-m", "airflow"]
    try:
        if spec.migrate:
            with open(spec.home / "logs" / "db-migrate.log", "wb") as out:
                result = subprocess.run(
                    [*airflow_bin, "db", "migrate"], env=running.env, stdout=out, stderr=subprocess.STDOUT,
                    timeout=600, start_new_session=True, cwd=spec.home,
                )
            if result.returncode != 0:
                raise LaunchError(f"`airflow db migrate` failed:\n{_tail(spec.home / 'logs' / 'db-migrate.log')}")
        for component in spec.processes():
            running.start_component(component)
        if wait:
            running.wait_healthy(timeout)
    except BaseException:
        running.stop()
        raise
    return running


def main(argv: list[str] | None = None) -> int:
    """``python -m toolkit.devserver.launcher``: boot Airflow in the foreground until SIGINT/SIGTERM (used by tests)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--dags", type=Path, required=True)
    parser.add_argument("--database", default="auto", help="auto, sqlite, postgres or a SQLAlchemy URL")
    parser.add_argument("--plugins", type=Path, help="plugins folder (default: AIRFLOW_HOME/plugins)")
    parser.add_argument("--components", default=",".join(ALL_COMPONENTS))
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--executor", choices=sorted(EXECUTORS), default="local")
    parser.add_argument("--schedulers", type=int, default=1)
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument("--pidfile", type=Path, help="keep the owned pids here (JSON), refreshed every second")
    parser.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for Airflow's environment")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = AirflowSpec(
        home=args.home,
        dags_folder=args.dags,
        database=args.database,
        plugins_folder=args.plugins,
        components=tuple(c for c in args.components.split(",") if c),
        migrate=not args.no_migrate,
        api_workers=args.api_workers,
        executor=args.executor,
        schedulers=args.schedulers,
        celery_workers=args.celery_workers,
        extra_env=dict(item.split("=", 1) for item in args.env),
    )
    with StopSignals() as signals:
        try:
            running = start_airflow(spec)  # stops what it started if interrupted
        except KeyboardInterrupt:
            return 0
        except LaunchError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        failed = False
        try:
            print(json.dumps({"url": running.url, "ready": True}), flush=True)
            while True:
                running.all_pids()
                if args.pidfile:
                    args.pidfile.write_text(json.dumps(sorted(running.seen_pids)))
                for restart in running.supervise():
                    log.warning("Airflow %s", restart)
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        except LaunchError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            failed = True
        finally:
            signals.cleaning_up()
            leftover = running.stop()
            if args.pidfile:
                args.pidfile.write_text(json.dumps(sorted(running.seen_pids)))
    return 1 if leftover or failed else 0


if __name__ == "__main__":
    sys.exit(main())
