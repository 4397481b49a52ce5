"""Many processes, no duplicates (issue 8): two api-server workers and two ``afkit watch`` processes against one
PostgreSQL-backed Airflow, sharing one afkit state database on PostgreSQL (the production setup of
docker/compose.yaml), with the local Slack-speaking server.

- one Slack message per breach notification, while both watchers run pass after pass and evaluation changes hands;
- one governor action per decision: a backfill is paused (and later resumed) by exactly one of the two watchers;
- no lost alert when a watcher is killed with SIGKILL, inside a Slack delivery or while it records the alert: the
  survivor delivers it once the dead watcher's claim on the message (60 s) or evaluation lease (120 s) has expired.

Delivery is **effectively once** (issue 19): a message is claimed in the outbox, sent with afkit's alert id in its
metadata, then marked sent. A watcher killed after Slack posted a message but before it recorded that leaves the
message to be tried again: the survivor first looks it up in the channel (``conversations.history`` with metadata,
from just before the dead watcher's attempt), finds it and adopts it, so Slack shows it once; a watcher killed before
Slack posted it costs nothing either: the lookup finds nothing and the message is posted once. Both cases are tested.
Recording is atomic: an alert and its message are stored in one transaction.

Nothing is mocked: Airflow, PostgreSQL and the watchers are real processes; the watchers are the installed ``afkit``
command. The suite's shared Airflow runs one api-server worker, so this module boots its own, with two (and only the
test DAGs it needs), and stops it at the end.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, select, text

from toolkit.devserver import demo
from toolkit.airflow import AirflowClient
from toolkit.devserver.launcher import AirflowSpec, PostgresCluster, RunningAirflow, start_airflow
from toolkit.state import StateStore, leases
from toolkit.services.watch import EVALUATOR_LEASE

from ..slack_server import TOKEN, FakeSlack, _Handler
from .conftest import ARTIFACTS, REPO, admin_settings, cancel_unless_completed, raw_get, raw_send, stop_keeping_logs

pytestmark = pytest.mark.integration

INTERVAL = 1  # seconds between a watcher's passes
# The outbox claim a watcher takes on a message before sending it (toolkit.state.StateStore.claim_outbox's default):
# a message claimed by a watcher that died is sent again once this has passed.
CLAIM_SECONDS = 60
# How long the evaluation lease of a watcher lasts (toolkit.services.watch.Watcher's default): evaluation is taken over once it
# has expired.
EVALUATOR_LEASE_SECONDS = 120


def _afkit() -> str:
    beside = Path(sys.executable).with_name("afkit")
    found = str(beside) if beside.exists() else shutil.which("afkit")
    assert found, "the afkit command is not installed in this environment"
    return found


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 0.25) -> object:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# -- Airflow with two api-server workers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAirflow]:
    ok, why = PostgresCluster.available()
    if not ok:
        print(f"\nskipping the many-processes tests: PostgreSQL is not available ({why})")
        pytest.skip(f"PostgreSQL is needed for the many-processes tests: {why}")
    home = tmp_path_factory.mktemp("airflow-2-workers")
    dags = tmp_path_factory.mktemp("dags-2-workers")
    for name in ("afkit_test_slas.py", "afkit_test_pools.py"):  # only what these tests use: a light scheduler
        shutil.copy(REPO / "tests" / "dags" / name, dags / name)
    started = time.monotonic()
    running = start_airflow(AirflowSpec(home=home, dags_folder=dags, database="postgres", api_workers=2))
    print(f"\nAirflow with 2 api-server workers: {running.url} on {running.database_kind} "
          f"(up in {time.monotonic() - started:.0f}s)")
    try:
        with AirflowClient(admin_settings(running)) as client:
            demo.wait_for_dags(client, ("afkit_sla_probe", "afkit_mp_gated_bulk", "afkit_mp_gated_prod"))
        # Healthy means one worker answers; uvicorn starts the second one a moment later (1.6 s apart seen on a busy
        # machine), and the tests here need both.
        wait_for("the api-server's second worker to start serving", lambda: len(api_workers(running)) >= 2, 120)
        yield running
    finally:
        stop_keeping_logs(running, "many-processes")


@pytest.fixture
def client(airflow2: RunningAirflow) -> Iterator[AirflowClient]:
    with AirflowClient(admin_settings(airflow2)) as api:
        yield api


def api_workers(running: RunningAirflow) -> list[psutil.Process]:
    """The api-server's worker processes: the ones the log says started serving (uvicorn, one per worker)."""
    started = {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]",
                                              running.log_path("api-server").read_text(errors="replace"))}
    children = psutil.Process(running.processes["api-server"].pid).children(recursive=True)
    return [p for p in children if p.pid in started and p.is_running()]


def test_the_api_server_runs_two_workers(airflow2):
    assert len(api_workers(airflow2)) == 2, airflow2.log_path("api-server").read_text(errors="replace")[-3000:]


def connections_served(running: RunningAirflow, clients: list[int]) -> dict[int, int]:
    """For each api-server worker, how many open connections from the ``clients`` processes it is serving now."""
    port = int(running.url.rsplit(":", 1)[1])
    client_ports = set()
    for pid in clients:
        try:
            client_ports |= {c.laddr.port for c in psutil.Process(pid).net_connections("tcp")
                             if c.raddr and c.raddr.port == port}
        except psutil.NoSuchProcess:
            continue
    return {w.pid: sum(1 for c in w.net_connections("tcp") if c.laddr.port == port and c.raddr
                       and c.raddr.port in client_ports) for w in api_workers(running)}


# -- the shared state database, the watchers and Slack ------------------------------------------------------------


DATABASES = itertools.count(1)


def create_state_database(running: RunningAirflow, name: str) -> str:
    """A fresh afkit state database on the Airflow PostgreSQL server, as docker/compose.yaml has it."""
    name = re.sub(r"[^a-z0-9]+", "_", name.lower())[:60]
    admin = create_engine(running.database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return running.database_url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class WatchProcess:
    name: str
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def holder(self) -> str | None:
        found = re.search(r"afkit watch as (\S+):", self.output())
        return found.group(1) if found else None

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail(f"watcher {self.name} did not stop within {timeout:.0f}s of SIGTERM")


@dataclass
class Deployment:
    """One afkit deployment: a state database, a config and the environment its ``afkit watch`` processes share."""

    name: str
    env: dict[str, str]
    folder: Path
    state_url: str
    started: list[WatchProcess] = field(default_factory=list)

    @functools.cached_property
    def store(self) -> StateStore:
        return StateStore(self.state_url)

    def start(self, name: str) -> WatchProcess:
        log = self.folder / f"watch-{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([_afkit(), "watch", "--interval", str(INTERVAL)], env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder)
        watcher = WatchProcess(f"{self.name}-{name}", proc, log)
        self.started.append(watcher)
        return watcher

    def pair(self) -> tuple[WatchProcess, WatchProcess]:
        """Two watchers started at once on the same (new) state database."""
        a, b = self.start("a"), self.start("b")
        for w in (a, b):
            wait_for(f"watcher {w.name} to start", lambda w=w: w.holder or w.proc.poll() is not None, 60)
            assert w.proc.poll() is None, f"watcher {w.name} exited:\n{w.output()}"
            assert w.holder.split(":")[1] == str(w.pid), w.holder  # the holder names the process
        return a, b


@pytest.fixture
def deployments(airflow2: RunningAirflow, tmp_path: Path, request: pytest.FixtureRequest):
    """``make(name, slack=None)``: a new deployment against the two-worker Airflow, optionally alerting ``slack``."""
    made: list[Deployment] = []
    user, password = airflow2.admin

    def make(name: str, slack: FakeSlack | None = None) -> Deployment:
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "afkit.toml"
        config.write_text(f"[governor]\npoll_seconds = {INTERVAL}\nresume_after_seconds = 4\n")
        state_url = create_state_database(airflow2, f"afkit_{next(DATABASES)}_{name}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AFKIT_", "AIRFLOW"))}
        env.update({"AFKIT_URL": airflow2.url, "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password,
                    "AFKIT_STATE_URL": state_url, "AFKIT_CONFIG": str(config), "PYTHONUNBUFFERED": "1"})
        if slack is not None:
            env.update({"AFKIT_SLACK_TOKEN": TOKEN, "AFKIT_SLACK_CHANNEL": "#alerts",
                        "AFKIT_SLACK_BASE_URL": slack.base_url})
        made.append(Deployment(name, env, folder, state_url))
        return made[-1]

    yield make
    watchers = [w for d in made for w in d.started]
    for w in watchers:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(timeout=10)
    ARTIFACTS.mkdir(exist_ok=True)
    for w in watchers:
        shutil.copy(w.log, ARTIFACTS / f"many-processes-{request.node.name}-watch-{w.name}.log")


class SlowSlack(FakeSlack):
    """The fake Slack, logging every attempt (time, text, client port), able to hold one chosen request open.

    ``hold(match, accept)``: the first request whose text starts with ``match`` is held until ``release()``. With
    ``accept`` Slack posts the message first and only its answer is held (the sender dies not knowing it was
    posted); without it, the message is not posted at all."""

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = _SlowHandler
        self.attempts: list[dict] = []
        self.lock = threading.Lock()
        self._match: str | None = None
        self._accept = False
        self.held = threading.Event()
        self.held_port: int | None = None
        self._release = threading.Event()

    def hold(self, match: str, accept: bool) -> None:
        with self.lock:
            self._match, self._accept = match, accept

    def release(self) -> None:
        self._release.set()

    def texts(self, prefix: str = "") -> list[str]:
        return [p["text"] for p in list(self.posts) if p["text"].startswith(prefix)]


class _SlowHandler(_Handler):
    server: SlowSlack

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else {}
        message = body.get("text", "")
        with self.server.lock:
            self.server.attempts.append({"at": time.time(), "text": message, "port": self.client_address[1]})
            hold = self.server._match is not None and message.startswith(self.server._match)
            if hold:
                self.server._match = None  # only the first attempt
        self.rfile = io.BytesIO(raw)
        if not hold:
            super().do_POST()
            return
        real = self.wfile
        if self.server._accept:
            self.wfile = io.BytesIO()  # posted now; the answer waits
            super().do_POST()
        self.server.held_port = self.client_address[1]
        self.server.held.set()
        self.server._release.wait(timeout=300)
        if self.server._accept:
            try:
                real.write(self.wfile.getvalue())
            except OSError:
                pass  # the sender is gone
        self.close_connection = True


@contextlib.contextmanager
def running_slow_slack() -> Iterator[SlowSlack]:
    server = SlowSlack()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.release()
        server.shutdown()
        server.server_close()


@pytest.fixture
def slack() -> Iterator[SlowSlack]:
    with running_slow_slack() as server:
        yield server


def lease_row(store: StateStore, name: str) -> dict | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(leases).where(leases.c.name == name)).mappings().first()
    return dict(row) if row else None


def outbox_rows(store: StateStore, prefix: str) -> list[dict]:
    return [r for r in store.outbox_rows() if json.loads(r["payload"])["text"].startswith(prefix)]


def count_renewals(store: StateStore, holder: str, passes: int, timeout: float) -> int:
    """Wait until ``holder`` has renewed the evaluator lease ``passes`` times (one renewal per evaluating pass)."""
    seen: set = set()

    def renewed() -> bool:
        row = lease_row(store, EVALUATOR_LEASE)
        if row and row["holder"] == holder:
            seen.add(row["expires_at"])
        return len(seen) >= passes

    wait_for(f"{passes} evaluating passes of {holder}", renewed, timeout, every=0.2)
    return len(seen)


def heartbeat(airflow2: RunningAirflow) -> dict:
    return next(a for a in raw_get(airflow2, "/api/v2/assets?limit=100")["assets"] if a["name"] == "test.heartbeat")


def by_pid(pid: int, watchers: list[WatchProcess]) -> WatchProcess:
    return next(w for w in watchers if w.pid == pid)


# -- 1. one Slack message per breach ------------------------------------------------------------------------------


def test_one_slack_message_per_breach_with_two_watchers(airflow2, deployments, slack):
    deployment = deployments("alerts", slack)
    a, b = deployment.pair()
    store = deployment.store
    # Both SLAs were already late when the watchers started (no event since their assets appeared).
    wait_for("the alerts for test.stale and test.heartbeat",
             lambda: slack.texts("LATE: test.stale") and slack.texts("LATE: test.heartbeat"), 120)
    evaluator = by_pid(int(lease_row(store, EVALUATOR_LEASE)["holder"].split(":")[1]), [a, b])
    other = b if evaluator is a else a

    # A breach happens while both watch: the asset is fed once, then goes at risk (12 s) and late (20 s).
    raw_send(airflow2, "POST", "/api/v2/assets/events", {"asset_id": heartbeat(airflow2)["id"], "extra": {}})
    wait_for("the escalation of the new test.heartbeat breach", lambda: slack.texts("Now late: test.heartbeat"), 120)
    first_passes = count_renewals(store, evaluator.holder, 3, 60)

    # Evaluation changes hands: the evaluator stops (SIGTERM releases its lease), the other watcher takes over and
    # evaluates the same open breaches, pass after pass.
    assert evaluator.stop() == 0, evaluator.output()
    assert "afkit watch stopped." in evaluator.output()
    wait_for("the other watcher to take over evaluation",
             lambda: (lease_row(store, EVALUATOR_LEASE) or {}).get("holder") == other.holder, 30)
    second_passes = count_renewals(store, other.holder, 4, 60)
    assert other.proc.poll() is None, other.output()

    served = connections_served(airflow2, [a.pid, b.pid])
    texts = slack.texts()
    print(f"\napi workers serving the watchers' connections (worker pid: connections): {served}")
    print(f"{len(texts)} Slack messages; evaluator {evaluator.name} for >= {first_passes} passes, then "
          f"{other.name} for >= {second_passes}:\n  " + "\n  ".join(texts))
    assert len(slack.texts("LATE: test.stale")) == 1, texts
    assert len(slack.texts("LATE: test.heartbeat")) == 1, texts  # the breach already there at the start
    assert len(slack.texts("Recovered: test.heartbeat")) == 1, texts  # ... which the event ended
    assert len(slack.texts("AT RISK: test.heartbeat")) == 1, texts  # the new breach
    assert len(slack.texts("Now late: test.heartbeat")) == 1, texts  # ... escalated once, in its thread
    at_risk = next(p for p in slack.posts if p["text"].startswith("AT RISK: test.heartbeat"))
    late = next(p for p in slack.posts if p["text"].startswith("Now late: test.heartbeat"))
    assert late["thread_ts"] == at_risk["ts"], (late, at_risk)
    duplicates = [t for t, n in Counter(texts).items() if n > 1]
    assert duplicates == [], duplicates
    # Every message sent is one outbox entry, sent once; nothing is left waiting.
    rows = store.outbox_rows()
    assert [r["status"] for r in rows] == ["sent"] * len(rows), rows
    assert len(rows) == len(slack.posts) and all(r["attempts"] == 1 for r in rows), rows
    # Only the evaluator of the moment queued alerts: the other one queued none before it took over.
    opened = re.compile(r"^alert [0-9a-f]+: open test\.stale#", re.M)
    assert opened.search(evaluator.output())
    assert not opened.search(other.output())


# -- 2. one governor action per decision --------------------------------------------------------------------------


def backfill_slots(airflow2: RunningAirflow, pool: str) -> tuple[int, int]:
    """(slots the backfill holds, slots production holds) in ``pool``, read straight from Airflow."""
    tis = raw_get(airflow2, f"/api/v2/dags/~/dagRuns/~/taskInstances?pool={pool}&state=running&state=queued"
                            "&limit=100")["task_instances"]
    backfill = sum(t["pool_slots"] for t in tis if t["dag_run_id"].startswith("backfill__"))
    return backfill, sum(t["pool_slots"] for t in tis) - backfill


def test_one_governor_action_per_decision_with_two_watchers(airflow2, deployments, client):
    """The test's own gated pair (``afkit_mp_gated_*``, see ``tests/dags/afkit_test_pools.py``): the backfill holds
    its 2-slot budget of the 3-slot ``gated_mp`` pool until the test opens a gate, and production asks for 2 slots,
    so production waits for exactly as long as the test decides, never for as long as a race allows."""
    client.pools.ensure("gated_mp", 3, "the two-watcher governor test's own pool")
    client.dags.set_paused("afkit_mp_gated_prod", False)
    gate = airflow2.spec.home / "afkit-test-gates" / "many-processes"
    gate.parent.mkdir(exist_ok=True)
    deployment = deployments("governor")
    a, b = deployment.pair()
    launch = subprocess.run(
        [_afkit(), "backfill", "launch", "afkit_mp_gated_bulk", "--from", "2026-02-01", "--to", "2026-02-06",
         "--reserve", "gated_mp=1", "--yes", "--unpause"],
        env=deployment.env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert launch.returncode == 0, launch.stdout + launch.stderr
    store = deployment.store
    (plan,) = store.plans()
    (step,) = store.steps(plan.plan_id).values()
    backfill_id = step.backfill_id

    def stood_aside() -> int:
        return max(w.output().count(f"governor: skipped backfill {backfill_id}:") for w in (a, b))

    try:
        assert client.backfills.get(backfill_id).max_active_runs == 2  # (3 slots - 1 reserved) / 1 slot per run
        wait_for("the backfill to hold its budget of 2 slots", lambda: backfill_slots(airflow2, "gated_mp") == (2, 0),
                 180)
        raw_send(airflow2, "POST", "/api/v2/dags/afkit_mp_gated_prod/dagRuns", {"logical_date": None, "conf": {}})
        wait_for("the governor to pause the backfill", lambda: client.backfills.get(backfill_id).is_paused, 120)
        # Production still waits (the gate is shut): both watchers go on governing, the one that holds the backfill
        # judges it, the other keeps standing aside (one "skipped" line per pass).
        before = stood_aside()
        wait_for("three more passes of the watcher standing aside", lambda: stood_aside() >= before + 3, 90)
        gate.touch()  # the backfill's tasks finish, production gets its 2 slots, then runs clear
        wait_for("the governor to resume the backfill", lambda: not client.backfills.get(backfill_id).is_paused, 180)
    finally:
        gate.touch()
        cancel_unless_completed(client, backfill_id)
        client.dags.set_paused("afkit_mp_gated_bulk", True)
        client.dags.set_paused("afkit_mp_gated_prod", True)
    for w in (a, b):
        assert w.stop() == 0, w.output()

    actions = store.actions(backfill_id)
    print(f"\ngovernor actions for backfill {backfill_id}: "
          + "; ".join(f"{x['action']} by {x['holder']}: {x['reason']}" for x in actions))
    assert [x["action"] for x in actions] == ["pause", "resume"], actions
    assert "2 production task(s) wait for pool 'gated_mp' (1 free)" in actions[0]["reason"]
    (holder,) = {x["holder"] for x in actions}  # the same watcher decided both
    actor = next(w for w in (a, b) if w.holder == holder)
    bystander = b if actor is a else a
    said = {w.name: re.findall(rf"^governor: (pause|resume|skipped) backfill {backfill_id}:", w.output(),
                               re.MULTILINE)
            for w in (a, b)}
    print(f"watcher {actor.name} acted; {bystander.name} said "
          f"{Counter(said[bystander.name])}; {actor.name} said {Counter(said[actor.name])}")
    assert said[actor.name] == ["pause", "resume"], actor.output()
    assert set(said[bystander.name]) == {"skipped"} and len(said[bystander.name]) >= 3, bystander.output()


# -- 3. no lost alert when the delivering watcher is killed -------------------------------------------------------


def watcher_on_port(watchers: tuple[WatchProcess, ...], port: int) -> WatchProcess | None:
    """The watcher process with an open TCP connection from local ``port``."""
    for w in watchers:
        if any(c.laddr.port == port for c in psutil.Process(w.pid).net_connections("tcp")):
            return w
    return None


def blocked_enqueue_port(store: StateStore) -> int | None:
    """The client port of a state-database session waiting for a lock to queue an outbox message, if any."""
    with store.engine.connect() as conn:
        return conn.execute(text(
            "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE 'INSERT INTO afkit_outbox%'")).scalar()


def test_no_lost_alert_when_a_watcher_is_killed(airflow2, deployments):
    """Three deployments side by side (each: its own state database, two watchers and Slack), so that the three cases
    share one wait for the dead watcher's claim or lease to expire. The same breach (test.heartbeat at risk) happens
    in all three, and one watcher of each is killed with SIGKILL:

    - before-post: inside the Slack delivery of the alert, before Slack posted it;
    - after-post: inside the Slack delivery, after Slack posted it (only the answer was lost);
    - mid-recording: while it records the alert, before its message is in the outbox (the outbox table is locked
      from here so that the watcher waits exactly there).
    """
    opening = "AT RISK: test.heartbeat"
    with running_slow_slack() as slack_before, running_slow_slack() as slack_after, \
            running_slow_slack() as slack_mid:
        held = {"before-post": (slack_before, False), "after-post": (slack_after, True)}
        slacks = {"before-post": slack_before, "after-post": slack_after, "mid-recording": slack_mid}
        cases = {name: deployments(name, slack) for name, slack in slacks.items()}
        pairs = {name: deployment.pair() for name, deployment in cases.items()}
        for slack in slacks.values():
            wait_for("the alert for the current test.heartbeat breach",
                     lambda s=slack: s.texts("LATE: test.heartbeat"), 120)
        # The next breach's first message will hang inside Slack: the watcher delivering it is then killed.
        for slack, accept in held.values():
            slack.hold(opening, accept=accept)
        raw_send(airflow2, "POST", "/api/v2/assets/events", {"asset_id": heartbeat(airflow2)["id"], "extra": {}})
        wait_for("the recovery of the earlier breach", lambda: slack_mid.texts("Recovered: test.heartbeat"), 30, 0.1)
        mid_store = cases["mid-recording"].store
        assert outbox_rows(mid_store, opening) == [], "the new breach was queued before the outbox could be locked"
        locker = mid_store.engine.connect()
        lock = locker.begin()
        locker.execute(text("LOCK TABLE afkit_outbox IN SHARE MODE"))  # queuing waits; reading goes on

        killed: dict[str, tuple[WatchProcess, datetime | None, float]] = {}

        def kill(name: str, port: int | None) -> None:
            victim = watcher_on_port(pairs[name], port)
            assert victim is not None, f"{name}: no watcher has the connection from port {port}"
            rows = outbox_rows(cases[name].store, opening)
            if name in held:
                assert [(r["status"], r["attempts"]) for r in rows] == [("sending", 1)], rows  # claimed by the victim
            else:
                assert rows == [], rows  # not queued yet: the victim waits to queue it
            victim.proc.send_signal(signal.SIGKILL)
            assert victim.proc.wait(timeout=10) == -signal.SIGKILL
            killed[name] = (victim, rows[0]["claimed_until"] if rows else None, time.time())

        def kill_each_at_its_moment() -> bool:
            for name, (slack, _) in held.items():
                if name not in killed and slack.held.is_set():
                    kill(name, slack.held_port)
                    slack.release()  # what Slack does with the dead connection no longer matters
            if "mid-recording" not in killed:
                port = blocked_enqueue_port(mid_store)
                if port is not None:
                    kill("mid-recording", port)
                    lock.rollback()
            return len(killed) == len(cases)

        try:
            wait_for("a watcher of each deployment at its moment to be killed", kill_each_at_its_moment, 90, 0.1)
        finally:
            if lock.is_active:
                lock.rollback()
            locker.close()

        for name, (slack, slack_got_it) in held.items():
            victim, claimed_until, killed_at = killed[name]
            survivor = next(w for w in pairs[name] if w is not victim)
            store = cases[name].store
            # The survivor sends it again once the dead watcher's claim has expired, and records it as sent.
            wait_for(f"the survivor of {name} to deliver the alert",
                     lambda s=store: [r for r in outbox_rows(s, opening) if r["status"] == "sent"], CLAIM_SECONDS + 90)
            (message,) = outbox_rows(store, opening)
            attempts = [x for x in slack.attempts if x["text"].startswith(opening)]
            posted = [p for p in slack.posts if p["text"].startswith(opening)]
            print(f"\n{name}: killed {victim.name} inside the delivery of {opening!r}; survivor {survivor.name} "
                  f"{'adopted' if slack_got_it else 'sent'} it {message['sent_at'].timestamp() - killed_at:.0f}s after "
                  f"the kill; {len(attempts)} attempts, {len(posted)} "
                  f"posted; all messages: {slack.texts()}")
            assert survivor.proc.poll() is None, survivor.output()
            assert message["attempts"] == 2, message  # the dead watcher's claim, then the survivor's
            assert attempts[0]["port"] == slack.held_port
            # Exactly once either way: when Slack had posted it, the survivor found that copy and posted nothing.
            assert len(posted) == 1, slack.texts()
            assert len(attempts) == (1 if slack_got_it else 2), attempts
            # Not before the claim ran out: the survivor never takes a message another watcher still holds.
            assert message["sent_at"].timestamp() >= claimed_until.timestamp() - 1, (message, claimed_until)
            assert posted[0]["metadata"] == {"event_type": "afkit_alert", "event_payload": {
                "alert_id": message["alert_id"], "message": message["dedupe_key"]}}
            if not slack_got_it:
                assert attempts[1]["port"] != slack.held_port
                assert attempts[1]["at"] >= claimed_until.timestamp() - 1, (attempts, claimed_until)
            # Follow-ups thread under the message the survivor recorded.
            assert store.alert(message["alert_id"])["thread_ts"] == posted[-1]["ts"]
            others = [t for t, n in Counter(slack.texts()).items() if n > 1 and not t.startswith(opening)]
            assert others == [], slack.texts()

        # mid-recording: the survivor evaluates once the dead evaluator's lease has expired, and alerts the breach
        # (late by then), once.
        victim, _, killed_at = killed["mid-recording"]
        survivor = next(w for w in pairs["mid-recording"] if w is not victim)

        def new_breach_posts() -> list[dict]:
            return [x for x in slack_mid.attempts if x["at"] > killed_at
                    and x["text"].startswith(("LATE: test.heartbeat", opening, "Now late: test.heartbeat"))]

        wait_for("the breach to be alerted by the survivor", new_breach_posts, EVALUATOR_LEASE_SECONDS + 90)
        count_renewals(mid_store, survivor.holder, 3, 30)  # a few more evaluating passes: nothing more to say
        print(f"\nmid-recording: killed {victim.name} while it recorded the alert; survivor {survivor.name} alerted "
              f"{new_breach_posts()[0]['at'] - killed_at:.0f}s after the kill: {[x['text'] for x in new_breach_posts()]}")
        assert survivor.proc.poll() is None, survivor.output()
        assert [x["text"].split(" —")[0] for x in new_breach_posts()] == ["LATE: test.heartbeat"]
        stuck = [r for r in mid_store.outbox_rows() if r["status"] != "sent"]
        assert stuck == [], stuck

        # By now the survivors of the delivery cases evaluate too: the breach, late, is escalated once, as a reply to
        # the message the survivor recorded (after-post: not to the copy the dead watcher never heard back about).
        for name, (slack, _) in held.items():
            wait_for(f"the escalation in {name}", lambda s=slack: s.texts("Now late: test.heartbeat"), 90)
            posted = [p for p in slack.posts if p["text"].startswith(opening)]
            late = [p for p in slack.posts if p["text"].startswith("Now late: test.heartbeat")]
            assert len(late) == 1 and late[0]["thread_ts"] == posted[-1]["ts"], (late, posted)
