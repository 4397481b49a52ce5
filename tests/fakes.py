"""An in-memory Airflow behind afkit's REST operations, for fast unit tests of the services.

:class:`FakeAirflow` has the attributes the services use on an ``AirflowClient`` (``url``, ``dags``, ``dag_runs``,
``backfills``, ``pools``, ``task_instances``, ``assets``, ``monitor``), returns the same :mod:`toolkit.models`
dataclasses and raises the same ``toolkit.errors`` (with the client's wording), holding everything in plain dicts.

Where the services depend on Airflow's behaviour it follows Airflow 3.3 (``models/backfill.py`` and
``api_fastapi/core_api/routes/public/backfills.py``):

- one active backfill (``completed_at`` unset) per DAG: a second ``create`` answers 409;
- a create or a dry run covers the DAG's schedule inside ``[from_date, to_date]``; an existing run is skipped while in
  flight, and otherwise re-run only as ``reprocess_behavior`` says (none | failed | completed), by clearing it to
  ``queued`` under the backfill (its run type becomes ``backfill`` and its conf the backfill's); a range without any
  scheduled date is refused (422);
- ``pause``/``unpause`` set ``is_paused`` and answer 409 on a completed backfill;
- ``cancel`` pauses, fails every *queued* run of the backfill in one update (no end date is set, as Airflow's UPDATE
  does not set one) and sets ``completed_at``; running runs keep running.

What the scheduler would do is done by the test: :meth:`FakeAirflow.finish` ends a backfill's runs and completes it,
``add_task_instance`` puts task instances into pools. The clock is ``fake.now`` (``advance`` moves it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from itertools import count

import msgspec

from toolkit.core.cadence_impact import CadenceReport
from toolkit.core.throttle import companion_of
from toolkit.errors import BadInput, Conflict, NotFound
from toolkit.models import (
    BACKFILL_RUN_PREFIX,
    Asset,
    AssetEvent,
    Backfill,
    ComponentHealth,
    Dag,
    DagDetails,
    DagRun,
    DryRunInfo,
    Pool,
    Task,
    TaskInstance,
)

URL = "http://airflow.fake:8080"
REPROCESS = ("none", "failed", "completed")


@dataclass
class FakeDag:
    dag: Dag
    schedule: list[datetime]  # the logical dates of its timetable (what a backfill of any range may create)
    tasks: list[Task]
    version: int = 1
    start_date: datetime | None = None
    max_active_runs: int = 16


@dataclass
class _BackfillRow:
    backfill: Backfill
    runs: list[str] = field(default_factory=list)  # run ids it created or cleared (Airflow's BackfillDagRun)


class FakeAirflow:
    def __init__(self, *, url: str = URL, version: str = "3.3.2",
                 now: datetime = datetime(2026, 3, 1, tzinfo=timezone.utc)) -> None:
        self.url = url
        self.version = version
        self.now = now
        self.dag_rows: dict[str, FakeDag] = {}
        self.run_rows: dict[tuple[str, str], DagRun] = {}
        self.backfill_rows: dict[int, _BackfillRow] = {}
        self.pool_rows: dict[str, Pool] = {"default_pool": Pool("default_pool", 128, 128, 0, 0)}
        self.task_instance_rows: list[TaskInstance] = []
        self.asset_rows: dict[int, Asset] = {}
        self.event_rows: dict[int, list[AssetEvent]] = {}
        self.requests: list[tuple] = []  # every change asked of Airflow: ("create", dag_id, backfill_id), ("pause", id) …
        self._ids = count(1)
        self.dags = _Dags(self)
        self.dag_runs = _DagRuns(self)
        self.backfills = _Backfills(self)
        self.pools = _Pools(self)
        self.task_instances = _TaskInstances(self)
        self.assets = _Assets(self)
        self.monitor = _Monitor(self)
        self.plugins = _Plugins(self)
        # The afkit plugin as the fake serves it: None is "not installed" (boards then come by the REST path); a
        # test sets a health and the JSON of the boards (or an exception to raise) to take the plugin path.
        self.plugin_health: dict | None = None
        self.plugin_answers: dict[str, object] = {}
        self.carved: set[str] = set()  # pools the fake's cluster policy carves (its afkit.toml's [pools.NAME])

    # -- arranging ---------------------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def add_dag(self, dag_id: str, schedule: list[datetime], *, tasks: tuple[Task, ...] = (),
                paused: bool = False, owners: tuple[str, ...] = ("ops",), version: int = 1) -> FakeDag:
        row = FakeDag(Dag(dag_id, paused, owners=owners, timetable_summary="@daily"), sorted(schedule),
                      list(tasks or (Task("work", "default_pool"),)), version,
                      start_date=min(schedule) if schedule else None)
        self.dag_rows[dag_id] = row
        return row

    def add_run(self, dag_id: str, logical_date: datetime, state: str = "success", *, run_type: str = "scheduled",
                minutes: float = 10) -> DagRun:
        start = logical_date + timedelta(days=1)
        ended = state in ("success", "failed")
        run = DagRun(dag_id, f"{run_type}__{logical_date.isoformat()}", state, run_type, logical_date,
                     start_date=start, end_date=start + timedelta(minutes=minutes) if ended else None,
                     run_after=logical_date + timedelta(days=1), queued_at=start)
        self.run_rows[(dag_id, run.run_id)] = run
        return run

    def add_pool(self, name: str, slots: int) -> None:
        self.pool_rows[name] = Pool(name, slots, slots, 0, 0)

    def add_task_instance(self, dag_id: str, run_id: str, state: str, pool: str, *, task_id: str = "work",
                          slots: int = 1) -> TaskInstance:
        """A task instance; a backfill's in a carved pool goes to the companion, as the cluster policy routes it."""
        if pool in self.carved and run_id.startswith("backfill__"):
            pool = companion_of(pool)
        ti = TaskInstance(dag_id, run_id, f"{task_id}{len(self.task_instance_rows)}", state, pool, slots)
        self.task_instance_rows.append(ti)
        return ti

    def set_task_state(self, ti: TaskInstance, state: str) -> TaskInstance:
        moved = replace(ti, state=state)
        self.task_instance_rows[self.task_instance_rows.index(ti)] = moved
        return moved

    def slot_usage(self) -> dict:
        """The plugin's /occupancy answer for the fake's pools and task instances, grouped as its query groups them
        (a task instance with state ``pending`` stands for one of a running run that has no state yet)."""
        groups: dict[tuple, int] = {}
        for t in self.task_instance_rows:
            key = (t.pool, t.state, t.dag_id, t.is_backfill)
            groups[key] = groups.get(key, 0) + t.pool_slots
        return {"pools": [{"pool": p.name, "slots": p.slots, "include_deferred": False, "description": None}
                          for p in self.pool_rows.values()],
                "slots": [{"pool": pool, "state": state, "dag_id": dag, "backfill": backfill, "slots": slots}
                          for (pool, state, dag, backfill), slots in groups.items()],
                "carving": {name: companion_of(name) for name in sorted(self.carved)}}

    def add_asset(self, name: str, *, producing_dags: tuple[str, ...] = (), scheduled_dags: tuple[str, ...] = (),
                  consuming_dags: tuple[str, ...] = (), extra: dict | None = None) -> Asset:
        asset_id = next(self._ids)
        asset = Asset(name, f"s3://{name}", producing_dags, scheduled_dags, consuming_dags, dict(extra or {}),
                      asset_id, self.now - timedelta(days=30))
        self.asset_rows[asset_id] = asset
        self.event_rows[asset_id] = []
        return asset

    def add_event(self, asset: str, timestamp: datetime, *, source_dag_id: str | None = None,
                  source_run_id: str | None = None) -> AssetEvent:
        (found,) = [a for a in self.asset_rows.values() if a.name == asset]
        event = AssetEvent(asset, timestamp, None, source_dag_id, source_run_id)
        self.event_rows[found.id].append(event)
        return event

    # -- what the scheduler does ---------------------------------------------------------------------------------------

    def finish(self, backfill_id: int, state: str = "success") -> Backfill:
        """Every unfinished run of the backfill ends in ``state``; the backfill completes (as the scheduler does a
        few seconds after its last run)."""
        row = self.backfill_rows[backfill_id]
        started = self.now
        self.advance(600)  # the runs take ten minutes
        for run_id in row.runs:
            key = (row.backfill.dag_id, run_id)
            run = self.run_rows[key]
            if run.state in ("queued", "running"):
                self.run_rows[key] = replace(run, state=state, start_date=run.start_date or started, end_date=self.now)
        self.advance(5)
        row.backfill = replace(row.backfill, completed_at=self.now)
        return row.backfill

    def runs_of(self, backfill_id: int) -> list[DagRun]:
        row = self.backfill_rows[backfill_id]
        return [self.run_rows[(row.backfill.dag_id, r)] for r in row.runs]

    def backfills_of(self, dag_id: str) -> list[Backfill]:
        return [r.backfill for r in self.backfill_rows.values() if r.backfill.dag_id == dag_id]

    # -- shared rules --------------------------------------------------------------------------------------------------

    def _dag(self, dag_id: str) -> FakeDag:
        if dag_id not in self.dag_rows:
            raise NotFound(f"DAG {dag_id!r} does not exist on Airflow at {self.url} (The Dag with ID: `{dag_id}` "
                           "was not found)")
        return self.dag_rows[dag_id]

    def _backfill(self, backfill_id: int) -> _BackfillRow:
        if backfill_id not in self.backfill_rows:
            raise NotFound(f"backfill {backfill_id} does not exist on Airflow at {self.url} (Backfill not found)")
        return self.backfill_rows[backfill_id]

    def _latest_run(self, dag_id: str, logical_date: datetime) -> DagRun | None:
        runs = [r for r in self.run_rows.values() if r.dag_id == dag_id and r.logical_date == logical_date]
        return max(runs, key=lambda r: r.queued_at or r.logical_date, default=None)

    def _infos(self, dag_id: str, from_date: datetime, to_date: datetime, reprocess: str,
               run_backwards: bool) -> tuple[list[datetime], list[datetime]]:
        """(the schedule in range, the dates a backfill would run), as ``_get_info_list`` and ``_do_dry_run``."""
        if reprocess not in REPROCESS:
            raise BadInput(f"Airflow rejected the request (HTTP 422): reprocess_behavior: {reprocess!r}")
        if from_date > to_date:
            raise BadInput("Airflow rejected the request (HTTP 422): from_date must be before to_date")
        in_range = [d for d in self._dag(dag_id).schedule if from_date <= d <= to_date]
        if run_backwards:
            in_range.reverse()
        runs = [d for d in in_range if self._no_create_reason(self._latest_run(dag_id, d), reprocess) is None]
        return in_range, runs

    @staticmethod
    def _no_create_reason(run: DagRun | None, reprocess: str) -> str | None:
        if run is None:
            return None
        if run.state not in ("success", "failed"):
            return "in flight"
        if reprocess == "none" or (reprocess == "failed" and run.state != "failed"):
            return "already exists"
        return None


class _Resource:
    def __init__(self, airflow: FakeAirflow) -> None:
        self.airflow = airflow


class _Monitor(_Resource):
    def version(self) -> str:
        return self.airflow.version

    def health(self) -> list[ComponentHealth]:
        return [ComponentHealth(name, "healthy", self.airflow.now)
                for name in ("metadatabase", "scheduler", "dag_processor", "triggerer")]


class _Plugins(_Resource):
    def afkit_health(self) -> dict | None:
        return self.airflow.plugin_health

    def _answer(self, name: str):
        answer = self.airflow.plugin_answers[name]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sla_board(self) -> bytes:
        return self._answer("sla")

    def cadence(self, intervals: bool = True, changed_only: bool = False) -> bytes:
        """The reports a test set, only the changed ones with ``changed_only`` (as the plugin leaves the others out)."""
        answer = self._answer("cadence")
        if not changed_only:
            return answer
        changed = [r for r in msgspec.json.decode(answer, type=list[CadenceReport]) if r.change is not None]
        return msgspec.json.encode(changed)

    def occupancy(self) -> dict:
        """A test's answer, else the fake's own rows as the plugin groups them."""
        if "occupancy" in self.airflow.plugin_answers:
            return self._answer("occupancy")
        return self.airflow.slot_usage()

    def carve(self, pool: str, *, production_slots: int | None = None, companion_slots: int | None = None,
              expect_production: int | None = None, expect_companion: int | None = None) -> dict:
        """As ``plugin.operations_db.carve_pool`` does it: compare, set both, create the companion, route."""
        rows, companion = self.airflow.pool_rows, companion_of(pool)
        if pool not in self.airflow.carved:
            raise BadInput(f"pool {pool!r} is not carved by this Airflow")
        if pool not in rows:
            raise NotFound(f"pool {pool!r} does not exist")
        rows.setdefault(companion, Pool(companion, 0, 0, 0, 0))
        if production_slots is not None:
            if (rows[pool].slots, rows[companion].slots) != (expect_production, expect_companion):
                raise Conflict(f"pool {pool!r} changed by someone else")
            rows[pool] = replace(rows[pool], slots=production_slots)
            rows[companion] = replace(rows[companion], slots=companion_slots)
            self.airflow.requests.append(("carve", pool, production_slots, companion_slots))
        routed = 0
        for n, t in enumerate(self.airflow.task_instance_rows):
            if t.pool == pool and t.is_backfill and t.state in (None, "scheduled"):
                self.airflow.task_instance_rows[n] = replace(t, pool=companion)
                routed += 1
        return {"pool": pool, "companion": companion, "production_slots": rows[pool].slots,
                "companion_slots": rows[companion].slots, "routed": routed}

    def backfills(self) -> list:
        """As the plugin serves them, from the fake's own rows unless a test set an answer."""
        if "backfills" in self.airflow.plugin_answers:
            return self._answer("backfills")
        return [{"id": b.id, "dag_id": b.dag_id, "from_date": b.from_date.isoformat(),
                 "to_date": b.to_date.isoformat(), "is_paused": b.is_paused, "max_active_runs": b.max_active_runs,
                 "reprocess_behavior": b.reprocess_behavior, "created_at": b.created_at.isoformat(),
                 "dag_run_conf": b.dag_run_conf} for b in self.airflow.backfills.list_active()]

    def demo_inbox(self) -> dict | None:
        return None


class _Dags(_Resource):
    def list(self) -> list[Dag]:
        return [row.dag for row in self.airflow.dag_rows.values()]

    def get(self, dag_id: str) -> Dag:
        return self.airflow._dag(dag_id).dag

    def details(self, dag_id: str) -> DagDetails:
        row = self.airflow._dag(dag_id)
        return DagDetails(row.dag, row.version, row.start_date, None, "UTC", row.max_active_runs)

    def tasks(self, dag_id: str) -> list[Task]:
        return list(self.airflow._dag(dag_id).tasks)

    def set_paused(self, dag_id: str, paused: bool) -> Dag:
        row = self.airflow._dag(dag_id)
        row.dag = replace(row.dag, is_paused=paused)
        self.airflow.requests.append(("pause dag" if paused else "unpause dag", dag_id))
        return row.dag


class _DagRuns(_Resource):
    def _of(self, dag_id: str) -> list[DagRun]:
        self.airflow._dag(dag_id)
        return [r for r in self.airflow.run_rows.values() if r.dag_id == dag_id]

    def list(self, dag_id: str, *, logical_date_gte: datetime | None = None,
             logical_date_lte: datetime | None = None, states: list[str] | None = None,
             run_types: list[str] | None = None, conf_contains: str | None = None) -> list[DagRun]:
        found = []
        for run in self._of(dag_id):
            if logical_date_gte is not None and (run.logical_date is None or run.logical_date < logical_date_gte):
                continue
            if logical_date_lte is not None and (run.logical_date is None or run.logical_date > logical_date_lte):
                continue
            if states and run.state not in states or run_types and run.run_type not in run_types:
                continue
            if conf_contains is not None and conf_contains not in json.dumps(run.conf):  # a LIKE on the JSON
                continue
            found.append(run)
        return found

    def since(self, dag_id: str, run_after_gte: datetime) -> list[DagRun]:
        return sorted((r for r in self._of(dag_id) if r.run_after and r.run_after >= run_after_gte),
                      key=lambda r: r.run_after)

    def latest(self, dag_id: str) -> DagRun | None:
        return max(self._of(dag_id), key=lambda r: r.run_after or r.logical_date, default=None)

    def recent(self, dag_id: str, *, state: str = "success", limit: int = 50) -> list[DagRun]:
        done = [r for r in self._of(dag_id) if r.state == state and r.end_date is not None]
        return sorted(done, key=lambda r: r.end_date, reverse=True)[:limit]


class _Backfills(_Resource):
    def list_active(self) -> list[Backfill]:
        return [r.backfill for r in self.airflow.backfill_rows.values() if r.backfill.completed_at is None]

    def list_for_dag(self, dag_id: str) -> list[Backfill]:
        self.airflow._dag(dag_id)
        return self.airflow.backfills_of(dag_id)

    def get(self, backfill_id: int) -> Backfill:
        return self.airflow._backfill(backfill_id).backfill

    def dry_run(self, dag_id: str, from_date: datetime, to_date: datetime, *, reprocess_behavior: str = "none",
                run_backwards: bool = False) -> list[DryRunInfo]:
        _, dates = self.airflow._infos(dag_id, from_date, to_date, reprocess_behavior, run_backwards)
        return [DryRunInfo(d) for d in dates]

    def create(self, dag_id: str, from_date: datetime, to_date: datetime, *, reprocess_behavior: str = "none",
               max_active_runs: int = 10, run_backwards: bool = False, dag_run_conf: dict | None = None) -> Backfill:
        af = self.airflow
        af._dag(dag_id)
        if any(b.completed_at is None for b in af.backfills_of(dag_id)):
            raise Conflict(f"Airflow refused to create a backfill of DAG {dag_id!r} (HTTP 409): There is already a "
                           f"running backfill for dag {dag_id}")
        in_range, dates = af._infos(dag_id, from_date, to_date, reprocess_behavior, run_backwards)
        if not in_range:
            raise BadInput(f"Airflow rejected the request to create a backfill of DAG {dag_id!r} (HTTP 422): No runs "
                           f"to create for Dag {dag_id} in the range [{from_date}, {to_date}]")
        conf = dict(dag_run_conf or {})
        backfill = Backfill(next(af._ids), dag_id, from_date, to_date, False, max_active_runs, reprocess_behavior,
                            af.now, None, conf)
        row = _BackfillRow(backfill)
        for date in dates:
            existing = af._latest_run(dag_id, date)
            if existing is not None:  # cleared to run again under the backfill (``_handle_clear_run``)
                run = replace(existing, state="queued", run_type="backfill", conf=conf, start_date=None,
                              end_date=None, queued_at=af.now)
            else:
                run = DagRun(dag_id, f"{BACKFILL_RUN_PREFIX}{date.isoformat()}", "queued", "backfill", date,
                             start_date=af.now, conf=conf, run_after=date + timedelta(days=1), queued_at=af.now)
            af.run_rows[(dag_id, run.run_id)] = run
            row.runs.append(run.run_id)
        af.backfill_rows[backfill.id] = row
        af.requests.append(("create", dag_id, backfill.id))
        return backfill

    def _settable(self, action: str, backfill_id: int) -> _BackfillRow:
        row = self.airflow._backfill(backfill_id)
        if row.backfill.completed_at is not None:
            raise Conflict(f"Airflow refused to {action} backfill {backfill_id} (HTTP 409): Backfill is already "
                           "completed.")
        self.airflow.requests.append((action, backfill_id))
        return row

    def pause(self, backfill_id: int) -> Backfill:
        row = self._settable("pause", backfill_id)
        row.backfill = replace(row.backfill, is_paused=True)
        return row.backfill

    def unpause(self, backfill_id: int) -> Backfill:
        row = self._settable("unpause", backfill_id)
        row.backfill = replace(row.backfill, is_paused=False)
        return row.backfill

    def cancel(self, backfill_id: int) -> Backfill:
        af = self.airflow
        row = self._settable("cancel", backfill_id)
        for run_id in row.runs:
            key = (row.backfill.dag_id, run_id)
            if af.run_rows[key].state == "queued":  # one UPDATE of the state only: no end date
                af.run_rows[key] = replace(af.run_rows[key], state="failed")
        row.backfill = replace(row.backfill, is_paused=True, completed_at=af.now)
        return row.backfill


class _Pools(_Resource):
    def _with_usage(self, pool: Pool) -> Pool:
        held = {s: sum(t.pool_slots for t in self.airflow.task_instance_rows if t.pool == pool.name and t.state == s)
                for s in ("running", "queued", "scheduled", "deferred")}
        open_slots = pool.slots - held["running"] - held["queued"] if pool.slots >= 0 else pool.slots
        return replace(pool, open_slots=open_slots, running_slots=held["running"], queued_slots=held["queued"],
                       scheduled_slots=held["scheduled"], deferred_slots=held["deferred"])

    def list(self) -> list[Pool]:
        return [self._with_usage(p) for p in self.airflow.pool_rows.values()]

    def get(self, name: str) -> Pool:
        if name not in self.airflow.pool_rows:
            raise NotFound(f"pool {name!r} does not exist on Airflow at {self.airflow.url} (The Pool with name: "
                           f"`{name}` was not found)")
        return self._with_usage(self.airflow.pool_rows[name])

    def ensure(self, name: str, slots: int, description: str = "") -> Pool:
        self.airflow.pool_rows[name] = replace(self.airflow.pool_rows.get(name, Pool(name, slots, slots, 0, 0)),
                                               slots=slots, description=description)
        return self.get(name)


class _TaskInstances(_Resource):
    def list(self, *, pools: list[str] | None = None, states: list[str] | None = None, dag_id: str = "~",
             run_id: str = "~") -> list[TaskInstance]:
        return [t for t in self.airflow.task_instance_rows
                if (not pools or t.pool in pools) and (not states or t.state in states)
                and dag_id in ("~", t.dag_id) and run_id in ("~", t.run_id)]


class _Assets(_Resource):
    def list(self) -> list[Asset]:
        return list(self.airflow.asset_rows.values())

    def events(self, asset_id: int, limit: int = 50, since: datetime | None = None) -> list[AssetEvent]:
        if asset_id not in self.airflow.event_rows:
            raise NotFound(f"asset {asset_id} does not exist on Airflow at {self.airflow.url}")
        events = [e for e in self.airflow.event_rows[asset_id] if since is None or e.timestamp >= since]
        return sorted(events, key=lambda e: e.timestamp, reverse=True)[:limit]

    def create_event(self, asset_id: int, extra: dict | None = None) -> AssetEvent:
        asset = self.airflow.asset_rows[asset_id]
        return self.airflow.add_event(asset.name, self.airflow.now)
