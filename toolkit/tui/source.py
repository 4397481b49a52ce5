"""What the terminal app reads and does, in one place, through the same functions as the CLI.

The screens call a :class:`Source` and render what comes back; they never talk to Airflow themselves. The real source
goes through the REST boundary, the planner and the launch journal; snapshot tests hand the app a source with fixed
data instead, so its screens can be compared pixel for pixel without a network.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from toolkit.config import ConnectionSettings
from toolkit.errors import AfkitError, BadInput, hinted
from toolkit.models import Dag, DagRun
from toolkit.files import save_plan
from toolkit.core.planning import PartitionRow, Plan, PlanOptions
from toolkit.core.sla_board import SLABoard
from toolkit.core.throttle import PoolOccupancy, ThrottlePolicy
from toolkit.tui.hints import HINTS

if TYPE_CHECKING:
    # The REST client, pandas and SQLAlchemy take longer to import than the app takes to paint: the real source
    # imports them in its worker threads, after the first frame.
    from toolkit.airflow import AirflowClient
    from toolkit.services.backfills import DagProgress
    from toolkit.core.cadence_impact import CadenceReport
    from toolkit.state import StateStore

RECENT_RUNS = 5  # run states shown per DAG
TASKS_PER_REFRESH = 50  # DAGs whose tasks (for their pools) are read per refresh; the rest on later refreshes


@dataclass
class Snapshot:
    """Everything one refresh read; each part may be missing when its request failed."""

    dags: list[Dag] | None = None
    recent_runs: dict[str, list[str]] | None = None  # DAG -> states of its latest runs, newest first
    dag_pools: dict[str, list[str]] = field(default_factory=dict)  # DAG -> pools its tasks use
    board: SLABoard | None = None
    cadences: list[CadenceReport] | None = None
    pools: list[PoolOccupancy] | None = None
    inbox: dict | None = None  # the demo's Slack inbox (``toolkit.core.inbox.inbox_to_dict``); None: no plugin
    errors: list[str] = field(default_factory=list)
    taken_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class Source(Protocol):
    def snapshot(self) -> Snapshot: ...
    def partitions(self, dag_id: str, start: datetime, end: datetime) -> list[PartitionRow]: ...
    def policy(self) -> ThrottlePolicy: ...
    def plan(self, dag_id: str, options: PlanOptions, now: datetime) -> Plan: ...
    def launch(self, plan: Plan, should_stop: Callable[[], bool], on_note: Callable[[str], None]) -> None: ...
    def progress(self, plan: Plan) -> list[DagProgress]: ...
    def act(self, plan: Plan, action: str) -> str: ...
    def cancel_warning(self, plan: Plan) -> str | None: ...
    def save(self, plan: Plan, path: Path) -> Path: ...
    def close(self) -> None: ...


def newest_states(runs: list[DagRun], per_dag: int = RECENT_RUNS) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for run in runs:  # newest first
        states = found.setdefault(run.dag_id, [])
        if len(states) < per_dag:
            states.append(run.state)
    return found


def save_plan_file(plan: Plan, path: Path) -> Path:
    """Writes the plan file as ``afkit backfill plan -o`` does; a path that cannot be written is bad input."""
    path = path.expanduser()
    if path.is_dir():
        path = path / f"afkit-plan-{plan.plan_id}.json"
    try:
        save_plan(path, plan)
    except OSError as exc:
        raise BadInput(f"cannot write the plan file {path}: {exc.strerror or exc}") from None
    return path


class AirflowSource:
    """The real source: a lazily built REST client (so a dead Airflow never stops the app from starting)."""

    def __init__(self, settings: ConnectionSettings, store: StateStore | None = None) -> None:
        self._settings = settings
        self._store = store
        self._client: AirflowClient | None = None
        self._lock = threading.Lock()
        self._dag_pools: dict[str, list[str]] = {}

    @property
    def client(self) -> AirflowClient:
        from toolkit.airflow import AirflowClient

        with self._lock:
            if self._client is None:
                self._client = AirflowClient(self._settings)
            return self._client

    @property
    def store(self) -> StateStore:
        from toolkit.state import StateStore

        with self._lock:
            if self._store is None:
                self._store = StateStore()
            return self._store

    def snapshot(self) -> Snapshot:
        """One pass over afkit's services (the plugin's boards when it is there); an error in one part does not hide
        the others."""
        from toolkit.services import backfills, occupancy
        from toolkit.services.cadence import cadence_reports
        from toolkit.services.freshness import sla_board

        snapshot = Snapshot()
        try:
            client = self.client
        except AfkitError as exc:  # the client itself could not be built
            return Snapshot(errors=[str(exc)])

        def pools() -> list[PoolOccupancy]:
            try:
                policy = backfills.configured_policy()  # afkit.toml's reserves, as the CLI uses them without overrides
            except AfkitError as exc:
                snapshot.errors.append(f"afkit.toml: {exc}; pools shown without reserves")
                policy = ThrottlePolicy()
            return occupancy.pool_occupancy(client, policy)

        parts = (("dags", client.dags.list), ("recent_runs", lambda: newest_states(client.dag_runs.newest())),
                 ("pools", pools), ("board", lambda: sla_board(client)),
                 ("cadences", lambda: cadence_reports(client, with_impact=False)),
                 ("inbox", client.plugins.demo_inbox))
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            futures = [(name, pool.submit(read)) for name, read in parts]
            for name, future in futures:
                try:
                    setattr(snapshot, name, future.result())
                except AfkitError as exc:
                    if str(exc) not in snapshot.errors:
                        snapshot.errors.append(str(exc))
        if snapshot.dags is not None:
            self._read_dag_pools(client, snapshot.dags)
        snapshot.dag_pools = dict(self._dag_pools)
        return snapshot

    def _read_dag_pools(self, client: AirflowClient, dags: list[Dag]) -> None:
        """Pools come from each DAG's tasks, one request per DAG: read once, a bounded number per refresh."""
        missing = [d.dag_id for d in dags if d.dag_id not in self._dag_pools][:TASKS_PER_REFRESH]

        def read(dag_id: str) -> tuple[str, list[str]]:
            try:
                return dag_id, sorted({t.pool for t in client.dags.tasks(dag_id)})
            except AfkitError:
                return dag_id, []

        with ThreadPoolExecutor(max_workers=4) as pool:
            self._dag_pools.update(pool.map(read, missing))

    def partitions(self, dag_id: str, start: datetime, end: datetime) -> list[PartitionRow]:
        from toolkit.services import backfills

        return backfills.partition_states(self.client, dag_id, start, end)

    def policy(self) -> ThrottlePolicy:
        """The throttling policy a plan starts from: afkit.toml's, as ``afkit backfill plan`` reads it."""
        from toolkit.services import backfills

        return backfills.configured_policy()

    def plan(self, dag_id: str, options: PlanOptions, now: datetime) -> Plan:
        from toolkit.services import backfills

        return backfills.make_plan(self.client, [dag_id], options, now)

    def launch(self, plan: Plan, should_stop: Callable[[], bool], on_note: Callable[[str], None]) -> None:
        """The launch ``afkit backfill launch --follow`` runs, governor included, until the plan completes;
        ``on_note`` hears its warnings and every governor pause or resume."""
        from toolkit.services import backfills

        backfills.launch_governed(
            self.client, self.store, plan, follow=True, should_stop=should_stop,
            on_event=lambda e: on_note(hinted(e.message, e.hint, HINTS)) if e.kind == "warning" else None,
            on_governor=lambda e: on_note(f"governor: {e.describe()}"))

    def progress(self, plan: Plan) -> list[DagProgress]:
        from toolkit.services import backfills

        return backfills.plan_progress(self.client, self.store, plan)

    def act(self, plan: Plan, action: str) -> str:
        """pause | resume | cancel, or pause_or_resume (decided from Airflow's current state); what was done."""
        from toolkit.services import backfills

        if action == "pause_or_resume":
            return backfills.pause_or_resume_plan(self.client, self.store, plan)
        if action == "cancel":
            return "cancel: " + backfills.cancel(self.client, self.store, plan).summary
        backfills.act_on_plan(self.client, self.store, plan, action)
        return action

    def cancel_warning(self, plan: Plan) -> str | None:
        """What a cancel would fail, said before it is done (as ``afkit backfill cancel`` does)."""
        from toolkit.services import backfills

        return backfills.cancel_preview(self.client, self.store, plan).warning

    def save(self, plan: Plan, path: Path) -> Path:
        return save_plan_file(plan, path)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
