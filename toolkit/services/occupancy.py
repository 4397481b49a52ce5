"""Pool occupancy — each pool's size and the slots production and backfills hold or wait for — from the afkit plugin
when it is there (one grouped query in the metadata database), else through the REST API (the pools, then every task
instance holding or waiting for a slot, paged).

The governor and the terminal app's pools pane both read it here, so they take the same path and judge the same
numbers under the operator side's own throttling policy (the plugin's page judges the same slot usage under the
policy of the Airflow side's afkit.toml).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.airflow import AirflowClient
from toolkit.core.plugin_api import carving_from_dict, occupancy_from_dict
from toolkit.core.throttle import OCCUPYING, WAITING, PoolOccupancy, ThrottlePolicy, fold_companions, occupancy
from toolkit.models import Pool, TaskInstance
from toolkit.services import plugin_path
from toolkit.services.plugin_path import PathUsed


@dataclass(frozen=True)
class PoolReadings:
    """One moment's pools and the task instances (or, from the plugin, groups of them) that hold or wait for slots."""

    pools: tuple[Pool, ...]
    instances: tuple[TaskInstance, ...]
    used: PathUsed
    carving: dict[str, str] = field(default_factory=dict)  # carved pool -> companion (known through the plugin only)

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)

    def in_pool(self, name: str) -> list[TaskInstance]:
        return [t for t in self.instances if t.pool == name]


def read_pools(client: AirflowClient) -> PoolReadings:
    """The pools now. Which pools Airflow carves is known only through the plugin (its cluster policy does the
    routing): through REST, no pool is treated as carved."""
    def from_plugin() -> tuple[list[Pool], list[TaskInstance], dict[str, str]]:
        data = client.plugins.occupancy()
        return (*occupancy_from_dict(data), carving_from_dict(data))

    def from_rest() -> tuple[list[Pool], list[TaskInstance], dict[str, str]]:
        return client.pools.list(), client.task_instances.list(states=[*OCCUPYING, *WAITING]), {}

    (pools, instances, carving), used = plugin_path.read(client, "pool occupancy", from_plugin, from_rest)
    return PoolReadings(tuple(pools), tuple(instances), used, carving)


def pool_occupancy(client: AirflowClient, policy: ThrottlePolicy) -> list[PoolOccupancy]:
    """Every pool's production and backfill occupancy against the throttling policy."""
    readings = read_pools(client)
    return occupancy(list(readings.pools), list(readings.instances), policy)


def pools_for_planning(client: AirflowClient) -> tuple[dict[str, Pool], frozenset[str]]:
    """Each pool at its configured size (a carved pool with its companion's slots, the companion not listed) and the
    pools Airflow carves: what planning and launch admission judge budgets on."""
    readings = read_pools(client)
    pools, _ = fold_companions(readings.pools, ())
    return {p.name: p for p in pools}, frozenset(readings.carving)
