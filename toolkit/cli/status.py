"""``afkit status``: one screen on the health of a deployment."""

from __future__ import annotations

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import echo_json, json_option, with_client
from toolkit.render import render_status
from toolkit.services.status import collect_status


@click.command()
@json_option("url, airflow_version, healthy, components {name: {status, latest_heartbeat}}, dags (counts), pools (slots by state, reserve, backfill_budget), carves, plugin, boards, config_errors, alert_deliveries and active_backfills.")
@with_client
def status(client: AirflowClient, as_json: bool) -> None:
    """Airflow version, component health, DAG counts, pools and active backfills.

    \b
    Example:
      afkit --profile demo status --json
    """
    report = collect_status(client)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_status(report))
