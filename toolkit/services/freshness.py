"""Freshness status of every declared SLA: from the afkit plugin when it is there, else gathered through the REST API
and judged by the pure core.

The plugin computes the same statuses from the metadata database, in one request however many assets there are;
``services.plugin_path`` decides which path a read takes, the same for the watcher, the CLI and the TUI.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from toolkit.airflow import AirflowClient
from toolkit.core.freshness import EVENTS_PER_ASSET, ProducerRun, assets_to_read, evaluate_all
from toolkit.core.planning import AssetGraph, estimate_durations
from toolkit.sla import SLA, InvalidSLA, parse_slas
from toolkit.core.plugin_api import board_from_typed_json
from toolkit.core.sla_board import SLABoard, sorted_statuses
from toolkit.services import plugin_path
from toolkit.services.progress import Progress, tracked


def producer_run(client: AirflowClient, dag_id: str, graph: AssetGraph) -> ProducerRun:
    latest = client.dag_runs.latest(dag_id)
    estimate = estimate_durations(client.dag_runs.recent(dag_id, limit=30))
    return ProducerRun(
        dag_id=dag_id,
        state=latest.state if latest else None,
        run_id=latest.run_id if latest else None,
        start_date=latest.start_date if latest else None,
        p90_seconds=estimate.p90,
        upstream_assets=tuple(graph.schedule_assets(dag_id)),
    )


def sla_board(client: AirflowClient, now: datetime | None = None, progress: Progress | None = None) -> SLABoard:
    """Every SLA's status; ``source`` says which path answered (the plugin judges at its own "now"). ``progress``
    hears how the REST path's reads advance."""
    board, used = plugin_path.read(client, "SLA board", lambda: board_from_typed_json(client.plugins.sla_board()),
                                   lambda: rest_sla_board(client, now, progress))
    return replace(board, source=used.path, source_note=used.note)


def rest_sla_board(client: AirflowClient, now: datetime | None = None, progress: Progress | None = None) -> SLABoard:
    """The board through the REST API: every asset, its newest events and its producer's runs."""
    now = now or datetime.now(timezone.utc)
    assets = client.assets.list()
    graph = AssetGraph(tuple(assets))
    slas: list[SLA] = []
    invalid: list[InvalidSLA] = []
    for asset in assets:
        for found in parse_slas(asset.name, asset.extra):
            (slas if isinstance(found, SLA) else invalid).append(found)
    by_name = {a.name: a for a in assets}
    producers_of = {a.name: a.producing_dags for a in assets}
    inputs_of = {d: graph.schedule_assets(d) for a in assets for d in a.producing_dags}
    needed = assets_to_read([s.asset for s in slas], set(by_name), producers_of, inputs_of)
    events = {name: client.assets.events(by_name[name].id, EVENTS_PER_ASSET)
              for name in tracked(needed, len(needed), "asset events for the SLA board", progress)}
    producers = {}
    runs_cache: dict[str, ProducerRun] = {}
    for name in needed:
        dags = by_name[name].producing_dags
        if dags:
            if dags[0] not in runs_cache:
                runs_cache[dags[0]] = producer_run(client, dags[0], graph)
            producers[name] = runs_cache[dags[0]]
    known_since = {name: by_name[name].created_at for name in needed if by_name[name].created_at}
    statuses = evaluate_all(slas, events, now, producers, known_since)
    return SLABoard(now, sorted_statuses(statuses), tuple(invalid))
