"""The resources of the REST boundary: one operations class per REST resource, as airflow-ctl's
``api/operations.py`` does, with the converters that turn client models into :mod:`toolkit.models` dataclasses, so
callers (and the core) never see client models.

Every request goes through the :class:`~toolkit.airflow.call.Transport` (the ``AirflowClient``) given to the
constructor, which adds auth, retries and error translation; this module only says what to ask and how to read it.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from airflow_client.client.api.asset_api import AssetApi
from airflow_client.client.api.backfill_api import BackfillApi
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DagRunApi
from airflow_client.client.api.monitor_api import MonitorApi
from airflow_client.client.api.pool_api import PoolApi
from airflow_client.client.api.task_api import TaskApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.variable_api import VariableApi
from airflow_client.client.models.backfill_collection_response import BackfillCollectionResponse
from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody
from airflow_client.client.models.backfill_post_body import BackfillPostBody
from airflow_client.client.models.create_asset_events_body import CreateAssetEventsBody
from airflow_client.client.models.dag_patch_body import DAGPatchBody
from airflow_client.client.models.pool_body import PoolBody
from airflow_client.client.models.pool_patch_body import PoolPatchBody
from airflow_client.client.models.variable_body import VariableBody

from toolkit.airflow.call import PAGE_SIZE, Call, Transport
from toolkit.errors import AirflowServerError, NotFound
from toolkit.models import (
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

log = logging.getLogger(__name__)


class _Operations:
    """One class per REST resource, as airflow-ctl's ``api/operations.py`` does."""

    def __init__(self, client: Transport) -> None:
        self.client = client
        self.api_client = client.api_client


class MonitorOperations(_Operations):
    def version(self) -> str:
        return self.client.check_server()

    def health(self) -> list[ComponentHealth]:
        api = MonitorApi(self.api_client)
        info = self.client.call(Call("read component health"), api.get_health)
        components = []
        for name, key in (
            ("metadatabase", None),
            ("scheduler", "latest_scheduler_heartbeat"),
            ("dag_processor", "latest_dag_processor_heartbeat"),
            ("triggerer", "latest_triggerer_heartbeat"),
        ):
            part = getattr(info, name, None)
            heartbeat = getattr(part, key, None) if key else None
            if isinstance(heartbeat, str):  # the client types these as strings
                heartbeat = datetime.fromisoformat(heartbeat)
            components.append(
                ComponentHealth(
                    name=name,
                    status=getattr(part, "status", None),
                    latest_heartbeat=heartbeat,
                )
            )
        return components


def _dag(model: Any) -> Dag:
    return Dag(
        dag_id=model.dag_id,
        is_paused=bool(model.is_paused),
        owners=tuple(model.owners or ()),
        tags=tuple(sorted(t.name for t in (model.tags or ()))),
        timetable_summary=model.timetable_summary,
        timetable_description=model.timetable_description,
        is_backfillable=bool(getattr(model, "is_backfillable", True)),
        is_partitioned=bool(getattr(model, "timetable_partitioned", False)),
        is_stale=bool(model.is_stale),
        has_import_errors=bool(model.has_import_errors),
        max_active_runs=model.max_active_runs,
    )


class DagOperations(_Operations):
    def list(self) -> list[Dag]:
        api = DAGApi(self.api_client)
        call = Call("list DAGs", permission="read access to DAGs")
        return [_dag(m) for m in self.client.paged(call, api.get_dags, "dags")]

    def get(self, dag_id: str) -> Dag:
        api = DAGApi(self.api_client)
        call = Call(f"read DAG {dag_id!r}", resource=f"DAG {dag_id!r}", permission=f"read access to DAG {dag_id!r}")
        return _dag(self.client.call(call, api.get_dag, dag_id))

    def details(self, dag_id: str) -> DagDetails:
        api = DAGApi(self.api_client)
        call = Call(f"read DAG {dag_id!r}", resource=f"DAG {dag_id!r}", permission=f"read access to DAG {dag_id!r}")
        model = self.client.call(call, api.get_dag_details, dag_id)
        version = model.latest_dag_version.version_number if model.latest_dag_version else None
        return DagDetails(
            dag=_dag(model),
            version=version,
            start_date=model.start_date,
            end_date=model.end_date,
            timezone=model.timezone,
            max_active_runs=model.max_active_runs,
            asset_expression=model.asset_expression,
        )

    def tasks(self, dag_id: str) -> list[Task]:
        api = TaskApi(self.api_client)
        call = Call(f"read the tasks of DAG {dag_id!r}", resource=f"DAG {dag_id!r}",
                    permission=f"read access to DAG {dag_id!r}")
        return [
            Task(
                task_id=t.task_id,
                pool=t.pool or "default_pool",
                pool_slots=int(t.pool_slots or 1),
                downstream_task_ids=tuple(t.downstream_task_ids or ()),
                depends_on_past=bool(t.depends_on_past),
                operator_name=t.operator_name or "",
            )
            for t in (self.client.call(call, api.get_tasks, dag_id).tasks or [])
        ]

    def set_paused(self, dag_id: str, paused: bool) -> Dag:
        api = DAGApi(self.api_client)
        verb = "pause" if paused else "unpause"
        call = Call(
            f"{verb} DAG {dag_id!r}",
            resource=f"DAG {dag_id!r}",
            permission=f"edit access to DAG {dag_id!r}",
            idempotent=True,  # setting a flag to a value is safe to repeat
        )
        return _dag(self.client.call(call, api.patch_dag, dag_id, DAGPatchBody(is_paused=paused)))


def _pool(model: Any) -> Pool:
    return Pool(
        name=model.name,
        slots=model.slots,
        open_slots=model.open_slots,
        running_slots=model.running_slots,
        queued_slots=model.queued_slots,
        scheduled_slots=model.scheduled_slots or 0,
        deferred_slots=model.deferred_slots or 0,
        include_deferred=bool(model.include_deferred),
        description=model.description,
    )


class PoolOperations(_Operations):
    def list(self) -> list[Pool]:
        api = PoolApi(self.api_client)
        return [_pool(m) for m in self.client.paged(Call("list pools", permission="read access to pools"), api.get_pools, "pools")]

    def get(self, name: str) -> Pool:
        api = PoolApi(self.api_client)
        call = Call(f"read pool {name!r}", resource=f"pool {name!r}", permission="read access to pools")
        return _pool(self.client.call(call, api.get_pool, name))

    def ensure(self, name: str, slots: int, description: str = "") -> Pool:
        """Create the pool, or set its slots and description if it exists (idempotent: used by the demo and tests)."""
        api = PoolApi(self.api_client)
        try:
            current = self.get(name)
        except NotFound:
            call = Call(f"create pool {name!r}", permission="create access to pools", idempotent=False)
            body = PoolBody(name=name, slots=slots, description=description, include_deferred=False)
            return _pool(self.client.call(call, api.post_pool, body))
        if (current.slots, current.description or "") == (slots, description):
            return current
        call = Call(f"update pool {name!r}", resource=f"pool {name!r}", permission="edit access to pools")
        # Airflow 3.3 validates a PATCH body as a whole pool: include_deferred is required even with update_mask.
        body = PoolPatchBody(pool=name, slots=slots, description=description, include_deferred=current.include_deferred)
        return _pool(self.client.call(call, api.patch_pool, name, body, update_mask=["slots", "description"]))


def _backfill(model: Any) -> Backfill:
    behaviour = model.reprocess_behavior
    return Backfill(
        id=model.id,
        dag_id=model.dag_id,
        from_date=model.from_date,
        to_date=model.to_date,
        is_paused=bool(model.is_paused),
        max_active_runs=model.max_active_runs,
        reprocess_behavior=getattr(behaviour, "value", behaviour),
        created_at=model.created_at,
        completed_at=model.completed_at,
        dag_run_conf=dict(model.dag_run_conf or {}),
    )


def _backfill_body(dag_id: str, from_date: datetime, to_date: datetime, reprocess_behavior: str,
                   run_backwards: bool, **extra: Any) -> BackfillPostBody:
    """The body ``POST /backfills`` and its dry run share, so a dry run asks exactly what a launch will."""
    return BackfillPostBody(dag_id=dag_id, from_date=from_date, to_date=to_date,
                            reprocess_behavior=reprocess_behavior, run_backwards=run_backwards, **extra)


class BackfillOperations(_Operations):
    def list_active(self) -> list[Backfill]:
        """Active backfills of every DAG. The public list endpoint requires one ``dag_id``; Airflow's UI API lists
        all of them with the same response model, so one call serves a deployment of any size."""
        call = Call("list active backfills", permission="read access to backfills")
        offset, found = 0, []
        while True:
            data = self.client.get_json(
                call, "/ui/backfills", {"active": "true", "limit": PAGE_SIZE, "offset": offset, "order_by": "id"}
            )
            page = BackfillCollectionResponse.from_dict(data)
            found.extend(_backfill(b) for b in page.backfills)
            offset += len(page.backfills)
            if not page.backfills or offset >= page.total_entries:
                return found

    def list_for_dag(self, dag_id: str) -> list[Backfill]:
        api = BackfillApi(self.api_client)
        call = Call(f"list backfills of DAG {dag_id!r}", resource=f"DAG {dag_id!r}", permission="read access to backfills")
        return [_backfill(b) for b in self.client.paged(call, api.list_backfills, "backfills", dag_id=dag_id)]

    def create(
        self,
        dag_id: str,
        from_date: datetime,
        to_date: datetime,
        *,
        reprocess_behavior: str = "none",
        max_active_runs: int = 10,
        run_backwards: bool = False,
        dag_run_conf: dict | None = None,
    ) -> Backfill:
        api = BackfillApi(self.api_client)
        body = _backfill_body(dag_id, from_date, to_date, reprocess_behavior, run_backwards,
                              max_active_runs=max_active_runs, dag_run_conf=dag_run_conf or {})
        call = Call(
            f"create a backfill of DAG {dag_id!r}",
            resource=f"DAG {dag_id!r}",
            permission=f"create access to backfills of DAG {dag_id!r}",
            idempotent=False,
        )
        return _backfill(self.client.call(call, api.create_backfill, body))

    def dry_run(
        self,
        dag_id: str,
        from_date: datetime,
        to_date: datetime,
        *,
        reprocess_behavior: str = "none",
        run_backwards: bool = False,
    ) -> list[DryRunInfo]:
        """The runs a backfill with these arguments would create; creates nothing."""
        api = BackfillApi(self.api_client)
        body = _backfill_body(dag_id, from_date, to_date, reprocess_behavior, run_backwards)
        call = Call(
            f"dry-run a backfill of DAG {dag_id!r}",
            resource=f"DAG {dag_id!r}",
            permission=f"read access to backfills of DAG {dag_id!r}",
            idempotent=True,  # creates nothing
        )
        result = self.client.call(call, api.create_backfill_dry_run, body)
        return [
            DryRunInfo(logical_date=r.logical_date, partition_key=r.partition_key, partition_date=r.partition_date)
            for r in (result.backfills or [])
        ]

    def get(self, backfill_id: int) -> Backfill:
        api = BackfillApi(self.api_client)
        call = Call(f"read backfill {backfill_id}", resource=f"backfill {backfill_id}", permission="read access to backfills")
        return _backfill(self.client.call(call, api.get_backfill, backfill_id))


    def _act(self, action: str, backfill_id: int) -> Backfill:
        api = BackfillApi(self.api_client)
        method = {"pause": api.pause_backfill, "unpause": api.unpause_backfill, "cancel": api.cancel_backfill}[action]
        call = Call(
            f"{action} backfill {backfill_id}",
            resource=f"backfill {backfill_id}",
            permission="edit access to backfills",
            idempotent=True,  # pausing a paused backfill (or cancelling a cancelled one) changes nothing
        )
        return _backfill(self.client.call(call, method, backfill_id))

    def pause(self, backfill_id: int) -> Backfill:
        return self._act("pause", backfill_id)

    def unpause(self, backfill_id: int) -> Backfill:
        return self._act("unpause", backfill_id)

    def cancel(self, backfill_id: int) -> Backfill:
        return self._act("cancel", backfill_id)


def _run(model: Any) -> DagRun:
    run_type = getattr(model.run_type, "value", model.run_type)
    state = getattr(model.state, "value", model.state)
    return DagRun(
        dag_id=model.dag_id,
        run_id=model.dag_run_id,
        state=str(state),
        run_type=str(run_type),
        logical_date=model.logical_date,
        partition_key=model.partition_key,
        partition_date=model.partition_date,
        start_date=model.start_date,
        end_date=model.end_date,
        conf=dict(model.conf or {}),
        run_after=model.run_after,
        queued_at=model.queued_at,
    )


class DagRunOperations(_Operations):
    def list(
        self,
        dag_id: str,
        *,
        logical_date_gte: datetime | None = None,
        logical_date_lte: datetime | None = None,
        states: list[str] | None = None,
        run_types: list[str] | None = None,
        conf_contains: str | None = None,
    ) -> list[DagRun]:
        api = DagRunApi(self.api_client)
        call = Call(f"list runs of DAG {dag_id!r}", resource=f"DAG {dag_id!r}",
                    permission=f"read access to runs of DAG {dag_id!r}")
        filters = {
            "logical_date_gte": logical_date_gte,
            "logical_date_lte": logical_date_lte,
            "state": states,
            "run_type": run_types,
            "conf_contains": conf_contains,
        }
        filters = {k: v for k, v in filters.items() if v is not None}
        return [_run(m) for m in self.client.paged(call, api.get_dag_runs, "dag_runs", dag_id=dag_id,
                                                   order_by=["id"], **filters)]

    def trigger(self, dag_id: str, note: str | None = None) -> DagRun:
        """A manual run of the DAG now (as the UI's Trigger button makes one)."""
        api = DagRunApi(self.api_client)
        call = Call(f"trigger a run of DAG {dag_id!r}", resource=f"DAG {dag_id!r}",
                    permission=f"permission to trigger runs of DAG {dag_id!r}", idempotent=False)
        return _run(self.client.call(call, api.trigger_dag_run, dag_id=dag_id,
                                     trigger_dag_run_post_body=TriggerDAGRunPostBody(logical_date=None, note=note)))

    def since(self, dag_id: str, run_after_gte: datetime) -> list[DagRun]:
        """Every run due at or after ``run_after_gte`` (asset-triggered runs have no logical date), oldest first."""
        api = DagRunApi(self.api_client)
        call = Call(f"list runs of DAG {dag_id!r}", resource=f"DAG {dag_id!r}",
                    permission=f"read access to runs of DAG {dag_id!r}")
        return [_run(m) for m in self.client.paged(call, api.get_dag_runs, "dag_runs", dag_id=dag_id,
                                                   run_after_gte=run_after_gte, order_by=["run_after"])]

    def latest(self, dag_id: str) -> DagRun | None:
        api = DagRunApi(self.api_client)
        call = Call(f"read the latest run of DAG {dag_id!r}", resource=f"DAG {dag_id!r}",
                    permission=f"read access to runs of DAG {dag_id!r}")
        page = self.client.call(call, api.get_dag_runs, dag_id=dag_id, limit=1, order_by=["-run_after"])
        return _run(page.dag_runs[0]) if page.dag_runs else None

    def newest(self, limit: int = 300) -> list[DagRun]:
        """The newest ``limit`` runs across every DAG, newest first (a few requests, whatever the number of DAGs)."""
        api = DagRunApi(self.api_client)
        call = Call("list the newest runs of every DAG", permission="read access to DAG runs")
        found: list[DagRun] = []
        while len(found) < limit:
            page = self.client.call(call, api.get_dag_runs, dag_id="~", limit=min(PAGE_SIZE, limit - len(found)),
                                    offset=len(found), order_by=["-run_after"])
            found += [_run(m) for m in (page.dag_runs or [])]
            if len(page.dag_runs or []) < min(PAGE_SIZE, limit):
                break
        return found

    def recent(self, dag_id: str, *, state: str = "success", limit: int = 50) -> list[DagRun]:
        """The latest ``limit`` runs in ``state``, newest first (for duration estimates)."""
        api = DagRunApi(self.api_client)
        call = Call(f"list recent runs of DAG {dag_id!r}", resource=f"DAG {dag_id!r}",
                    permission=f"read access to runs of DAG {dag_id!r}")
        page = self.client.call(call, api.get_dag_runs, dag_id=dag_id, state=[state], limit=limit,
                                order_by=["-end_date"])
        return [_run(m) for m in (page.dag_runs or [])]


def _row_count(extra: Any) -> int | None:
    value = (extra or {}).get("row_count") if isinstance(extra, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _asset_event(e: Any) -> AssetEvent:
    return AssetEvent(
        asset=e.name or e.uri,
        timestamp=e.timestamp,
        partition_key=e.partition_key,
        source_dag_id=e.source_dag_id,
        source_run_id=e.source_run_id,
        row_count=_row_count(e.extra),
        consumed_by=tuple((r.dag_id, r.run_id) for r in (e.created_dagruns or [])),
    )


class AssetOperations(_Operations):
    def list(self) -> list[Asset]:
        api = AssetApi(self.api_client)
        call = Call("list assets", permission="read access to assets")
        return [
            Asset(
                name=m.name,
                uri=m.uri,
                producing_dags=tuple(sorted({t.dag_id for t in (m.producing_tasks or [])})),
                scheduled_dags=tuple(sorted({d.dag_id for d in (m.scheduled_dags or [])})),
                consuming_dags=tuple(sorted({t.dag_id for t in (m.consuming_tasks or [])})),
                extra=dict(m.extra or {}),
                id=m.id,
                created_at=m.created_at,
            )
            for m in self.client.paged(call, api.get_assets, "assets")
        ]

    def events(self, asset_id: int, limit: int = 50, since: datetime | None = None) -> list[AssetEvent]:
        """The asset's most recent events (at most ``limit``, at or after ``since``), newest first.

        Pages of ``PAGE_SIZE``: the API caps one page at its ``maximum_page_limit`` (100 by default)."""
        found: list[AssetEvent] = []
        while len(found) < limit:
            size = min(PAGE_SIZE, limit - len(found))
            batch, complete = self._events_page(asset_id, len(found), size, since)
            found.extend(batch)
            if not complete:
                break
        return found

    def _events_page(self, asset_id: int, offset: int, size: int, since: datetime | None,
                     patience: tuple[float, ...] = (0.5, 1.5)) -> tuple[list[AssetEvent], bool]:
        """One page of events, and whether it was full.

        Airflow 3.3.2 answers 500 for every page holding an event consumed by a run that has not started yet
        (apache/airflow#71360, fixed after 3.3.2): the run's missing start date fails the response model. Usually the
        run starts within a second, so the page is asked again; if it still fails, it is split until the unreadable
        events are isolated, and those are left out (and logged) rather than failing the whole read."""
        api = AssetApi(self.api_client)
        call = Call(f"list events of asset {asset_id}", resource=f"asset {asset_id}",
                    permission="read access to assets")
        filters = {"timestamp_gte": since} if since is not None else {}
        for pause in (*patience, None):
            try:
                page = self.client.call(call, api.get_asset_events, asset_id=asset_id, limit=size, offset=offset,
                                        order_by=["-timestamp"], **filters)
                batch = page.asset_events or []
                return [_asset_event(e) for e in batch], len(batch) == size
            except AirflowServerError as exc:
                if "(HTTP 500)" not in str(exc):
                    raise
                if pause is not None:
                    time.sleep(pause)
        if size == 1:
            log.warning("skipped event at offset %d of asset %d: Airflow cannot serialise it (HTTP 500, "
                        "apache/airflow#71360)", offset, asset_id)
            return [], True
        half = size // 2
        first, full = self._events_page(asset_id, offset, half, since, patience=())
        if not full:
            return first, False
        second, full = self._events_page(asset_id, offset + half, size - half, since, patience=())
        return first + second, full

    def create_event(self, asset_id: int, extra: dict | None = None) -> AssetEvent:
        """Record an update of the asset by hand, as the UI's "Create Asset Event" does (never retried)."""
        api = AssetApi(self.api_client)
        call = Call(f"create an event for asset {asset_id}", resource=f"asset {asset_id}",
                    permission="write access to assets", idempotent=False)
        return _asset_event(self.client.call(call, api.create_asset_event,
                                             CreateAssetEventsBody(asset_id=asset_id, extra=dict(extra or {}))))


class TaskInstanceOperations(_Operations):
    def list(self, *, pools: list[str] | None = None, states: list[str] | None = None, dag_id: str = "~",
             run_id: str = "~") -> list[TaskInstance]:
        """Task instances across DAGs and runs (``~``), filtered by pool and state."""
        api = TaskInstanceApi(self.api_client)
        call = Call("list task instances", permission="read access to task instances")
        filters = {k: v for k, v in {"pool": pools, "state": states}.items() if v}
        return [
            TaskInstance(
                dag_id=t.dag_id,
                run_id=t.dag_run_id,
                task_id=t.task_id,
                state=str(getattr(t.state, "value", t.state)) if t.state is not None else None,
                pool=t.pool,
                pool_slots=int(t.pool_slots or 1),
                priority_weight=t.priority_weight,
                scheduled_when=t.scheduled_when,
                queued_when=t.queued_when,
                start_date=t.start_date,
                end_date=t.end_date,
            )
            for t in self.client.paged(call, api.get_task_instances, "task_instances", dag_id=dag_id,
                                       dag_run_id=run_id, **filters)
        ]


class VariableOperations(_Operations):
    def set(self, key: str, value: str, description: str | None = None) -> None:
        """Create or replace a Variable (idempotent)."""
        api = VariableApi(self.api_client)
        call = Call(f"set Variable {key!r}", permission="edit access to Variables", idempotent=True)
        body = VariableBody(key=key, value=value, description=description)
        try:
            self.client.call(call, api.patch_variable, key, body)
        except NotFound:
            self.client.call(Call(call.what, permission=call.permission, idempotent=False), api.post_variable, body)
