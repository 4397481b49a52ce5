"""``afkit tui``: the terminal app, with the same connection options as every other command."""

from __future__ import annotations

import click

from toolkit.cli.options import connection_settings, finite_float


@click.command()
@click.option("--refresh", type=click.FloatRange(min=2, max=3600), default=15.0, show_default=True,
              callback=finite_float, help="Seconds between background refreshes.")
@click.pass_context
def tui(ctx: click.Context, refresh: float) -> None:
    """DAGs, freshness SLAs, cadence changes and pools in one terminal screen (press ? for keys)."""
    from toolkit.tui.app import create_app

    create_app(connection_settings(ctx), refresh).run()
