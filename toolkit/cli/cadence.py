"""``afkit cadence``: each asset's rhythm, the assets whose rhythm changed, and what that did downstream."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from toolkit.airflow import AirflowClient
from toolkit.core.cadence_impact import report_to_dict
from toolkit.core.cadence_whatif import MAX_EVENTS, parse_horizon, parse_rhythm, what_if_to_dict
from toolkit.services.cadence import cadence_reports, simulate
from toolkit.cli.options import echo_json, json_option, read_progress, with_client
from toolkit.errors import BadInput
from toolkit.render import render_scan, render_show, render_simulation
from toolkit.core.timeparse import parse_instant


@click.group()
def cadence() -> None:
    """How often each asset is updated, and the upstream changes that quietly break downstream assumptions."""


@cadence.command("scan")
@click.option("--asset", "asset", metavar="NAME_OR_URI", help="Only this asset.")
@click.option("--since", metavar="WHEN", help="Only events at or after WHEN (2026-11-01, -7d, …).")
@json_option("a list with one object per asset: asset, owners, events, typical_interval_seconds, pattern, "
             "last_event, change (null when none), changes, consumers (the impact on each) and message.")
@with_client
def scan_command(client: AirflowClient, asset: str | None, since: str | None, as_json: bool) -> None:
    """Every asset with its typical interval, pattern and any cadence change, with the impact on its consumers."""
    if asset is not None and not asset.strip():
        raise BadInput("--asset is empty: give an asset name or URI, or leave the option out for every asset")
    start = parse_instant(since, datetime.now(timezone.utc), option="--since") if since is not None else None
    with read_progress(as_json) as progress:
        reports = cadence_reports(client, asset=asset, since=start, progress=progress)
    if as_json:
        echo_json([report_to_dict(r) for r in reports])
    else:
        click.echo(render_scan(reports))


@cadence.command("show")
@click.argument("asset", metavar="NAME_OR_URI")
@click.option("--width", type=click.IntRange(10, 400), default=60, show_default=True,
              help="How many of the latest intervals to draw.")
@json_option("one asset's object, as in `afkit cadence scan --json` (its full interval history).")
@with_client
def show_command(client: AirflowClient, asset: str, width: int, as_json: bool) -> None:
    """Draw the asset's interval history in the terminal, with the change marked."""
    if not asset.strip():
        raise BadInput("the asset is empty: give an asset name or URI (afkit cadence scan lists them)")
    (report,) = cadence_reports(client, asset=asset)
    if as_json:
        echo_json(report_to_dict(report))
    else:
        click.echo(render_show(report, width))


@cadence.command("simulate")
@click.argument("asset", metavar="NAME_OR_URI")
@click.option("--every", metavar="DURATION", help="The proposed interval between the asset's updates: 5m, 2h, 1d.")
@click.option("--cron", metavar="EXPR", help="The proposed schedule instead, as a cron expression (UTC).")
@click.option("--over", "horizon", metavar="DURATION", default="1d", show_default=True,
              help="How long to simulate, from an idle consumer.")
@json_option("asset, owners, current and proposed (each null or an object: rhythm, start, horizon_seconds, events, "
             "consumers with runs_per_day, events_per_run, duration_seconds, longest_seconds, keeps_up, "
             "queued_at_end, pool_peak, pool_busy, needs, note, duration_model and slas).")
@with_client
def simulate_command(client: AirflowClient, asset: str, every: str | None, cron: str | None, horizon: str,
                     as_json: bool) -> None:
    """Before an upstream change ships: what a new rhythm would do to the asset's consumers and their SLAs."""
    if not asset.strip():
        raise BadInput("the asset is empty: give an asset name or URI (afkit cadence scan lists them)")
    rhythm = parse_rhythm(every, cron, {"every": "--every", "cron": "--cron"})
    over = parse_horizon(horizon, "--over")
    if rhythm.every is not None and over / rhythm.every > MAX_EVENTS:
        raise BadInput(f"--every {every} over {horizon} makes more than {MAX_EVENTS} events: simulate less time")
    sim = simulate(client, asset, rhythm, over)
    if as_json:
        echo_json({"asset": sim.asset, "owners": list(sim.owners), "current": what_if_to_dict(sim.current),
                   "proposed": what_if_to_dict(sim.proposed)})
    else:
        click.echo(render_simulation(sim))
