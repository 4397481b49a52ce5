"""The deployment overview behind ``afkit status`` (pure: data in, report out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from toolkit.errors import BadInput
from toolkit.models import Backfill, ComponentHealth, Dag, Pool
from toolkit.core.throttle import ThrottlePolicy, budget_for, companion_of, fold_companions, is_companion

if TYPE_CHECKING:
    from toolkit.airflow import AirflowClient


@dataclass(frozen=True)
class DagCounts:
    total: int
    active: int  # not paused
    paused: int
    asset_triggered: int
    with_import_errors: int


@dataclass(frozen=True)
class CarveView:
    """A carved pool as it is split now: production's slots and the companion's (the backfills' share)."""

    pool: str
    production_slots: int
    companion_slots: int
    carved_by_airflow: bool  # the plugin's policy routes backfill tasks of this pool to its companion

    @property
    def companion(self) -> str:
        return companion_of(self.pool)

    @property
    def size(self) -> int:
        return self.production_slots + self.companion_slots

    @property
    def in_place(self) -> bool:
        return self.companion_slots > 0

    def describe(self) -> str:
        state = "in place: the backfills hold their share" if self.in_place else "idle: production has every slot"
        routed = "" if self.carved_by_airflow else " (not carved by Airflow's policy now: the next watcher gives the " \
                                                  "slots back)"
        return (f"{self.pool}: {self.production_slots} + {self.companion} {self.companion_slots} of {self.size} "
                f"slot(s), {state}{routed}")


def carve_views(pools: list[Pool], carved: set[str] | frozenset[str]) -> list[CarveView]:
    names = {p.name: p for p in pools}
    found = []
    for pool in sorted(pools, key=lambda p: p.name):
        share = names.get(companion_of(pool.name))
        if is_companion(pool.name) or (share is None and pool.name not in carved):
            continue
        found.append(CarveView(pool.name, pool.slots, share.slots if share else 0, pool.name in carved))
    return found


@dataclass(frozen=True)
class StatusReport:
    url: str
    airflow_version: str
    components: tuple[ComponentHealth, ...]
    dags: DagCounts
    pools: tuple[Pool, ...]
    active_backfills: tuple[Backfill, ...]
    pool_policy: dict[str, dict] = field(default_factory=dict)  # pool -> {"reserve", "budget"} or {"error"}
    plugin: dict | None = None  # the afkit plugin's health endpoint, None when it is not installed
    boards: tuple[str, str | None] | None = None  # the path boards take (plugin | rest) and why not the plugin
    config_errors: tuple[str, ...] = ()  # problems in the local afkit.toml (defaults are used instead)
    carves: tuple[CarveView, ...] = ()  # the pools Airflow carves, and any pool with a companion
    deliveries: dict | None = None  # alert messages not delivered (StateStore.undelivered); None: not read
    deliveries_note: str | None = None  # why not

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.components)

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "airflow_version": self.airflow_version,
            "healthy": self.healthy,
            "components": {
                c.name: {
                    "status": c.status,
                    "latest_heartbeat": c.latest_heartbeat.isoformat() if c.latest_heartbeat else None,
                }
                for c in self.components
            },
            "dags": vars(self.dags).copy(),
            "pools": [
                {
                    "name": p.name,
                    "slots": p.slots,
                    "running": p.running_slots,
                    "queued": p.queued_slots,
                    "scheduled": p.scheduled_slots,
                    "deferred": p.deferred_slots,
                    "open": p.open_slots,
                    **self.pool_policy.get(p.name, {}),
                }
                for p in self.pools
            ],
            "carves": [{"pool": c.pool, "companion": c.companion, "production_slots": c.production_slots,
                        "companion_slots": c.companion_slots, "size": c.size, "in_place": c.in_place,
                        "carved_by_airflow": c.carved_by_airflow} for c in self.carves],
            "plugin": self.plugin,
            "boards": None if self.boards is None else {"source": self.boards[0], "note": self.boards[1]},
            "config_errors": list(self.config_errors),
            "alert_deliveries": deliveries_to_dict(self.deliveries, self.deliveries_note),
            "active_backfills": [
                {
                    "id": b.id,
                    "dag_id": b.dag_id,
                    "from_date": b.from_date.isoformat(),
                    "to_date": b.to_date.isoformat(),
                    "is_paused": b.is_paused,
                    "max_active_runs": b.max_active_runs,
                    "reprocess_behavior": b.reprocess_behavior,
                    "created_at": b.created_at.isoformat(),
                }
                for b in self.active_backfills
            ],
        }


def count_dags(dags: list[Dag]) -> DagCounts:
    live = [d for d in dags if not d.is_stale]
    return DagCounts(
        total=len(live),
        active=sum(not d.is_paused for d in live),
        paused=sum(d.is_paused for d in live),
        asset_triggered=sum(d.asset_triggered for d in live),
        with_import_errors=sum(d.has_import_errors for d in live),
    )


def build_status(
    url: str,
    airflow_version: str,
    components: list[ComponentHealth],
    dags: list[Dag],
    pools: list[Pool],
    backfills: list[Backfill],
    policy: ThrottlePolicy | None = None,
    plugin: dict | None = None,
    config_errors: tuple[str, ...] = (),
    boards: tuple[str, str | None] | None = None,
    deliveries: tuple[dict | None, str | None] = (None, None),
) -> StatusReport:
    return StatusReport(
        url=url,
        airflow_version=airflow_version,
        components=tuple(components),
        dags=count_dags(dags),
        pools=tuple(sorted(pools, key=lambda p: p.name)),
        active_backfills=tuple(sorted((b for b in backfills if b.active), key=lambda b: b.id)),
        pool_policy=pool_policy(fold_companions(pools, ())[0], policy or ThrottlePolicy()),
        plugin=plugin,
        carves=tuple(carve_views(pools, set(((plugin or {}).get("policy") or {}).get("carved_pools") or ()))),
        config_errors=tuple(config_errors),
        boards=boards,
        deliveries=deliveries[0],
        deliveries_note=deliveries[1],
    )


def pool_policy(pools: list[Pool], policy: ThrottlePolicy) -> dict[str, dict]:
    """Reserve and backfill budget of each pool under the policy; a policy that does not fit a pool is reported."""
    found = {}
    for pool in pools:
        try:
            budget = budget_for(pool, policy.for_pool(pool.name))
        except BadInput as exc:
            found[pool.name] = {"error": str(exc)}
            continue
        found[pool.name] = {"reserve": budget.reserve, "backfill_budget": budget.budget}
    for entry in policy.pools:
        if entry.pool not in found:
            found[entry.pool] = {"error": f"the throttling policy names pool {entry.pool!r}, which does not exist"}
    return found


def collect_status(client: AirflowClient) -> StatusReport:
    """Everything ``afkit status`` shows, read through the REST API (active backfills through the afkit plugin when
    it is there) and afkit.toml."""
    from toolkit.service_config import load_service_config
    from toolkit.services.alerting import alert_deliveries
    from toolkit.services.active_backfills import read_active_backfills
    from toolkit.services.plugin_path import PLUGIN, REST, plugin_usable

    config = load_service_config()  # a diagnostic command: a broken afkit.toml is shown, not fatal
    usable, note = plugin_usable(client)
    return build_status(
        url=client.url,
        airflow_version=client.monitor.version(),
        components=client.monitor.health(),
        dags=client.dags.list(),
        pools=client.pools.list(),
        backfills=read_active_backfills(client)[0],
        policy=config.throttle,
        config_errors=config.errors,
        plugin=client.plugins.afkit_health(),
        boards=(PLUGIN, None) if usable else (REST, note),
        deliveries=alert_deliveries(),
    )


def deliveries_to_dict(summary: dict | None, note: str | None) -> dict | None:
    """``--json``: the undelivered alert messages (the failed ones' times as ISO text), or null with why."""
    if summary is None:
        return {"note": note} if note else None
    return {**summary, "failures": [{**f, "at": f["at"].isoformat() if f["at"] else None}
                                    for f in summary["failures"]]}

