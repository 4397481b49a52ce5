"""``afkit status``: one screen on the health of a deployment."""

from __future__ import annotations

import json

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import json_option, with_client
from toolkit.cli.render import table, when
from toolkit.status import StatusReport, build_status


def collect_status(client: AirflowClient) -> StatusReport:
    return build_status(
        url=client.url,
        airflow_version=client.monitor.version(),
        components=client.monitor.health(),
        dags=client.dags.list(),
        pools=client.pools.list(),
        backfills=client.backfills.list_active(),
    )


def render_status(report: StatusReport) -> str:
    parts = [
        f"Airflow {report.airflow_version} at {report.url} — {'healthy' if report.healthy else 'NOT healthy'}",
        "",
        table(["component", "status", "last heartbeat"],
              [(c.name, c.status or "unknown", when(c.latest_heartbeat)) for c in report.components]),
        "",
        f"DAGs: {report.dags.total} ({report.dags.active} active, {report.dags.paused} paused, "
        f"{report.dags.asset_triggered} asset-triggered, {report.dags.with_import_errors} with import errors)",
        "",
        table(
            ["pool", "slots", "running", "queued", "scheduled", "deferred", "open"],
            [
                (p.name, "unlimited" if p.slots < 0 else p.slots, p.running_slots, p.queued_slots, p.scheduled_slots,
                 p.deferred_slots, p.open_slots)
                for p in report.pools
            ],
        ),
        "",
    ]
    if report.active_backfills:
        parts.append(
            table(
                ["backfill", "dag", "from", "to", "paused", "max runs", "created"],
                [
                    (b.id, b.dag_id, when(b.from_date), when(b.to_date), "yes" if b.is_paused else "no",
                     b.max_active_runs, when(b.created_at))
                    for b in report.active_backfills
                ],
            )
        )
    else:
        parts.append("No active backfills.")
    return "\n".join(parts)


@click.command()
@json_option
@with_client
def status(client: AirflowClient, as_json: bool) -> None:
    """Airflow version, component health, DAG counts, pools and active backfills.

    \b
    Example:
      afkit --profile demo status --json
    """
    report = collect_status(client)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else render_status(report))
