"""``afkit cadence``: each asset's rhythm, the assets whose rhythm changed, and what that did downstream."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from toolkit.airflow import AirflowClient
from toolkit.core.cadence_impact import report_to_dict
from toolkit.services.cadence import cadence_reports
from toolkit.cli.options import json_option, read_progress, with_client
from toolkit.errors import BadInput
from toolkit.render import render_scan, render_show
from toolkit.core.timeparse import parse_instant


@click.group()
def cadence() -> None:
    """How often each asset is updated, and the upstream changes that quietly break downstream assumptions."""


@cadence.command("scan")
@click.option("--asset", "asset", metavar="NAME_OR_URI", help="Only this asset.")
@click.option("--since", metavar="WHEN", help="Only events at or after WHEN (2026-11-01, -7d, …).")
@json_option
@with_client
def scan_command(client: AirflowClient, asset: str | None, since: str | None, as_json: bool) -> None:
    """Every asset with its typical interval, pattern and any cadence change, with the impact on its consumers."""
    if asset is not None and not asset.strip():
        raise BadInput("--asset is empty: give an asset name or URI, or leave the option out for every asset")
    start = parse_instant(since, datetime.now(timezone.utc), option="--since") if since is not None else None
    with read_progress(as_json) as progress:
        reports = cadence_reports(client, asset=asset, since=start, progress=progress)
    click.echo(json.dumps([report_to_dict(r) for r in reports], indent=2) if as_json else render_scan(reports))


@cadence.command("show")
@click.argument("asset", metavar="NAME_OR_URI")
@click.option("--width", type=click.IntRange(10, 400), default=60, show_default=True,
              help="How many of the latest intervals to draw.")
@json_option
@with_client
def show_command(client: AirflowClient, asset: str, width: int, as_json: bool) -> None:
    """Draw the asset's interval history in the terminal, with the change marked."""
    if not asset.strip():
        raise BadInput("the asset is empty: give an asset name or URI (afkit cadence scan lists them)")
    (report,) = cadence_reports(client, asset=asset)
    click.echo(json.dumps(report_to_dict(report), indent=2) if as_json else render_show(report, width))
