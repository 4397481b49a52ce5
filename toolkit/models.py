"""Plain dataclasses for what afkit knows about an Airflow deployment.

The REST boundary (``toolkit.airflow``) and the plugin (reading the metadata database) both produce these, so the
pure core works the same whichever side it runs on. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

BACKFILL_RUN_PREFIX = "backfill__"  # how Airflow starts the run id of every backfill run (run_type "backfill")
BACKFILL_RUN_LIKE = BACKFILL_RUN_PREFIX.replace("_", "\\_") + "%"  # the same as a SQL LIKE pattern (escape "\\")


@dataclass(frozen=True)
class ComponentHealth:
    name: str  # metadatabase, scheduler, triggerer, dag_processor
    status: str | None  # "healthy", "unhealthy" or None when Airflow does not report it
    latest_heartbeat: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


@dataclass(frozen=True)
class Dag:
    dag_id: str
    is_paused: bool
    owners: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timetable_summary: str | None = None
    timetable_description: str | None = None
    is_backfillable: bool = True
    is_partitioned: bool = False
    is_stale: bool = False
    has_import_errors: bool = False
    max_active_runs: int | None = None

    @property
    def asset_triggered(self) -> bool:
        """Scheduled on assets: Airflow cannot backfill it natively (it runs when its upstream produces events)."""
        return not self.is_backfillable and bool(self.timetable_summary) and "asset" in self.timetable_summary.lower()


@dataclass(frozen=True)
class Pool:
    name: str
    slots: int  # -1 means unlimited in Airflow
    open_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int = 0
    deferred_slots: int = 0
    include_deferred: bool = False
    description: str | None = None

    @property
    def occupied_slots(self) -> int:
        return self.running_slots + self.queued_slots + (self.deferred_slots if self.include_deferred else 0)


@dataclass(frozen=True)
class Backfill:
    id: int
    dag_id: str
    from_date: datetime
    to_date: datetime
    is_paused: bool
    max_active_runs: int
    reprocess_behavior: str
    created_at: datetime
    completed_at: datetime | None = None
    dag_run_conf: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.completed_at is None


@dataclass(frozen=True)
class DagDetails:
    """What planning needs to know about one DAG beyond :class:`Dag`."""

    dag: Dag
    version: int | None  # latest DAG version number: a plan is refused when it changed since planning
    start_date: datetime | None
    end_date: datetime | None
    timezone: str | None
    max_active_runs: int | None
    asset_expression: dict | None = None  # an asset-triggered DAG's condition, as Airflow serializes it


@dataclass(frozen=True)
class Task:
    task_id: str
    pool: str
    pool_slots: int = 1
    downstream_task_ids: tuple[str, ...] = ()
    depends_on_past: bool = False
    operator_name: str = ""


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str  # queued, running, success, failed
    run_type: str  # scheduled, manual, backfill, asset_triggered …
    logical_date: datetime | None
    partition_key: str | None = None
    partition_date: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    conf: dict = field(default_factory=dict)
    run_after: datetime | None = None  # set for every run, asset-triggered ones included (their logical_date is None)
    queued_at: datetime | None = None  # when the run was last queued (created, or cleared to run again)

    @property
    def duration_seconds(self) -> float | None:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


@dataclass(frozen=True)
class DryRunInfo:
    """One run ``POST /api/v2/backfills/dry_run`` says a backfill would create."""

    logical_date: datetime | None
    partition_key: str | None = None
    partition_date: datetime | None = None


@dataclass(frozen=True)
class Asset:
    name: str
    uri: str
    producing_dags: tuple[str, ...] = ()  # DAGs with a task that has this asset as an outlet
    scheduled_dags: tuple[str, ...] = ()  # DAGs scheduled on this asset (asset-triggered consumers)
    consuming_dags: tuple[str, ...] = ()  # DAGs with a task that has this asset as an inlet
    extra: dict = field(default_factory=dict)
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class TaskInstance:
    dag_id: str
    run_id: str
    task_id: str
    state: str | None
    pool: str
    pool_slots: int = 1
    priority_weight: int | None = None
    scheduled_when: datetime | None = None
    queued_when: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None

    @property
    def is_backfill(self) -> bool:
        return self.run_id.startswith(BACKFILL_RUN_PREFIX)


@dataclass(frozen=True)
class AssetEvent:
    asset: str
    timestamp: datetime
    partition_key: str | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None
    row_count: int | None = None
    consumed_by: tuple[tuple[str, str], ...] = ()  # (dag_id, run_id) of the runs that consumed this event

    @property
    def from_backfill(self) -> bool:
        """Emitted by a backfill run: history being redone, not the asset's live cadence."""
        return bool(self.source_run_id and self.source_run_id.startswith(BACKFILL_RUN_PREFIX))
