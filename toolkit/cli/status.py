"""``afkit status``: one screen on the health of a deployment."""

from __future__ import annotations

import json

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import json_option, with_client
from toolkit.render import render_status
from toolkit.services.status import collect_status


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
