"""Every asset's cadence: from the afkit plugin when it is there, else gathered through the REST API and judged by the
pure ``toolkit.core.cadence``.

This is the path of ``afkit cadence``, ``afkit watch`` and the TUI; ``services.plugin_path`` picks the plugin or REST
for all of them alike. For a changed asset it also gathers the seam report:
the runs of each asset-triggered consumer around the change, how many events each consumed, and the freshness SLAs
of what those consumers produce. Events emitted by backfill runs are left out: a backfill redoes history, it is not
the asset's live rhythm.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from toolkit.airflow import AirflowClient
from toolkit.core.cadence_impact import (BASELINE, CADENCE_EVENTS_PER_ASSET, CadenceReport, SeamImpact, asset_owners,
                                         consumed_counts, seam_impact)
from toolkit.core.cadence_whatif import DAY, SCHEDULER_LOOP, ConsumerHistory, Rhythm, WhatIf, what_if
from toolkit.core.planning import AssetGraph, condition_needs, pool_demand
from toolkit.core.plugin_api import reports_from_typed_json
from toolkit.sla import SLA, parse_slas
from toolkit.errors import NotFound
from toolkit.models import Asset, AssetEvent
from toolkit.core.sla_board import SLABoard
from toolkit.services import plugin_path
from toolkit.services.freshness import sla_board
from toolkit.services.plugin_path import REST, PathUsed
from toolkit.services.progress import Progress, tracked

FETCH_WORKERS = 4


def find_asset(assets: list[Asset], wanted: str) -> Asset:
    for asset in assets:
        if wanted in (asset.name, asset.uri):
            return asset
    raise NotFound(f"no active asset named {wanted!r} (afkit cadence scan lists them)")


def cadence_reports(client: AirflowClient, **options) -> list[CadenceReport]:
    """One report per asset (or for ``asset`` only), changed assets first (``cadence_scan``'s options)."""
    return cadence_scan(client, **options)[0]


class _NotAName(Exception):
    """The asset asked for is not named in the plugin's reports (not a failure of the plugin: no warning)."""


def cadence_scan(client: AirflowClient, *, asset: str | None = None, since: datetime | None = None,
                 now: datetime | None = None, events_per_asset: int = CADENCE_EVENTS_PER_ASSET,
                 with_impact: bool = True, intervals: bool = True, changed_only: bool = False,
                 progress: Progress | None = None) -> tuple[list[CadenceReport], PathUsed]:
    """The reports and the path they came by. The plugin judges every asset's newest ``CADENCE_EVENTS_PER_ASSET``
    events at its own "now": a scan ``since`` a time, or of another depth, goes through REST. Without
    ``intervals`` the plugin leaves out the interval histories of unchanged assets (the watcher draws no sparklines);
    with ``changed_only`` only the changed assets' reports come (all the watcher alerts on: at 100,000 assets the
    others were 31 MB a pass). ``progress`` hears how the REST path's reads advance."""
    def from_plugin() -> list[CadenceReport]:
        answer = client.plugins.cadence(intervals=intervals, changed_only=changed_only and asset is None)
        reports = sorted(reports_from_typed_json(answer), key=lambda r: (r.change is None, r.asset))
        if asset is None:
            return reports
        chosen = [r for r in reports if r.asset == asset]
        if not chosen:
            raise _NotAName
        return [r for r in chosen if r.change is not None] if changed_only else chosen

    def from_rest() -> list[CadenceReport]:
        reports = rest_cadence_reports(client, asset=asset, since=since, now=now, events_per_asset=events_per_asset,
                                       with_impact=with_impact, progress=progress)
        return [r for r in reports if r.change is not None] if changed_only else reports

    if since is not None or events_per_asset != CADENCE_EVENTS_PER_ASSET:
        return from_rest(), PathUsed(REST, "a scan since a time, or of another depth, is not on the plugin")
    try:
        return plugin_path.read(client, "cadence reports", from_plugin, from_rest)
    except _NotAName:  # perhaps a URI: the REST path resolves it, or says that no such asset exists
        return from_rest(), PathUsed(REST, f"{asset!r} is not an asset name the plugin reports")


def rest_cadence_reports(client: AirflowClient, *, asset: str | None = None, since: datetime | None = None,
                         now: datetime | None = None, events_per_asset: int = CADENCE_EVENTS_PER_ASSET,
                         with_impact: bool = True, progress: Progress | None = None) -> list[CadenceReport]:
    """The reports through the REST API: every asset's events, one request (or more) each."""
    from toolkit.core.cadence import describe  # the detector (pandas, numpy) is loaded only where it judges

    now = now or datetime.now(timezone.utc)
    assets = client.assets.list()
    chosen = [find_asset(assets, asset)] if asset else assets
    with ThreadPoolExecutor(FETCH_WORKERS) as pool:
        histories = list(tracked(pool.map(lambda a: client.assets.events(a.id, events_per_asset, since), chosen),
                                 len(chosen), "asset events for the cadence scan", progress))
    produced_by: dict[str, list[Asset]] = {}
    for a in assets:
        for dag_id in a.producing_dags:
            produced_by.setdefault(dag_id, []).append(a)
    board: list[SLABoard] = []  # computed once, and only when some asset changed

    def at_risk(dag_id: str) -> tuple[str, ...]:
        if not board:
            board.append(sla_board(client, now, progress))
        names = {a.name for a in produced_by.get(dag_id, [])}
        return tuple(f"{s.sla.asset} ({s.status.replace('_', ' ')})" for s in board[0].statuses
                     if s.sla.asset in names and s.status in ("at_risk", "late"))

    reports = []
    for item, events in zip(chosen, histories):
        live = [e for e in events if not e.from_backfill]
        model = describe([e.timestamp for e in live], now=now)
        consumers: tuple[SeamImpact, ...] = ()
        if with_impact and model.last_change is not None:
            consumers = tuple(_impact(client, dag_id, model.last_change.at, now, live, produced_by, at_risk)
                              for dag_id in item.scheduled_dags)
        reports.append(CadenceReport(item.name, asset_owners(item), model, consumers, len(events) - len(live)))
    return sorted(reports, key=lambda r: (r.change is None, r.asset))


def _impact(client: AirflowClient, dag_id: str, change_at: datetime, now: datetime, events: list[AssetEvent],
            produced_by: dict[str, list[Asset]], at_risk) -> SeamImpact:
    runs = client.dag_runs.since(dag_id, change_at - BASELINE)
    owners = tuple(dict.fromkeys(o for a in produced_by.get(dag_id, []) for o in asset_owners(a)))
    if not owners:
        dag = client.dags.get(dag_id)
        owners = tuple(dag.owners)
    first = min((e.timestamp for e in events), default=None)
    produces = tuple(sorted(a.name for a in produced_by.get(dag_id, [])))
    return seam_impact(dag_id, owners, change_at, now, runs, events, first, at_risk(dag_id), produces)


# -- what if the asset's rhythm changed ------------------------------------------------------------------------------

CONSUMER_RUNS = 50  # the consumer's recent successful runs the duration model is fitted on
DEFAULT_MAX_ACTIVE_RUNS = 16  # Airflow's [core] max_active_runs_per_dag, for a DAG that does not set its own


@dataclass(frozen=True)
class Simulation:
    """``afkit cadence simulate``: the asset's consumers at its current rhythm (when it has one) and at the proposed
    one, by the same model, so the difference is the rhythm's alone."""

    asset: str
    owners: tuple[str, ...]
    current: WhatIf | None
    proposed: WhatIf
    histories: list[tuple[ConsumerHistory, list[SLA]]] = field(default_factory=list)  # what the model knew


def simulate(client: AirflowClient, asset: str, rhythm: Rhythm, horizon: timedelta = DAY,
             now: datetime | None = None, loop: timedelta = SCHEDULER_LOOP) -> Simulation:
    """What ``rhythm`` would do to the asset's asset-triggered consumers: their runs, batches, durations, pools and
    SLAs, from their recent runs (how many of the asset's events each consumed, how long it took)."""
    from toolkit.core.cadence import describe  # the detector (pandas, numpy) is loaded only where it judges

    now = now or datetime.now(timezone.utc)
    assets = client.assets.list()
    item = find_asset(assets, asset)
    graph = AssetGraph(tuple(assets))
    events = client.assets.events(item.id, CADENCE_EVENTS_PER_ASSET)
    live = [e for e in events if not e.from_backfill]

    def history(dag_id: str) -> tuple[ConsumerHistory, list[SLA]]:
        details = client.dags.details(dag_id)
        runs = client.dag_runs.recent(dag_id, limit=CONSUMER_RUNS)
        consumed = consumed_counts(live, dag_id)
        batches = tuple((consumed[r.run_id], r.duration_seconds) for r in runs
                        if r.run_id in consumed and r.duration_seconds is not None)
        produced = graph.produced_by(dag_id)
        slas = [s for a in produced for s in parse_slas(a.name, a.extra) if isinstance(s, SLA)]
        needs = condition_needs(details.asset_expression, {item.name}) or ()
        owners = tuple(dict.fromkeys(o for a in produced for o in asset_owners(a))) or tuple(details.dag.owners)
        return ConsumerHistory(dag_id, details.max_active_runs or DEFAULT_MAX_ACTIVE_RUNS, batches,
                               pool_demand(client.dags.tasks(dag_id)), tuple(sorted(a.name for a in produced)),
                               needs, owners), slas

    with ThreadPoolExecutor(FETCH_WORKERS) as pool:
        consumers = list(pool.map(history, item.scheduled_dags))
    typical = describe([e.timestamp for e in live], now=now).typical_interval
    current = what_if(item.name, Rhythm(every=typical), consumers, now, horizon, loop) if typical else None
    return Simulation(item.name, asset_owners(item), current,
                      what_if(item.name, rhythm, consumers, now, horizon, loop), consumers)
