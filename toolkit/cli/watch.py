"""``afkit watch``: the long-running service that keeps governing backfills when no terminal is open."""

from __future__ import annotations

import logging
import signal
import time
from datetime import timedelta

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import with_client
from toolkit.governor import Governor
from toolkit.service_config import load_service_config
from toolkit.state import StateStore


@click.command()
@click.option("--interval", type=float, help="Seconds between passes (default: [governor] poll_seconds, 10).")
@click.option("--once", is_flag=True, help="Make one pass and exit (for cron or scripts).")
@with_client
def watch(client: AirflowClient, interval: float | None, once: bool) -> None:
    """Govern running afkit backfills: pause them when production waits for a pool, resume them after.

    Several watchers may run at once: a lease in afkit's state database lets only one act on a backfill.
    """
    config = load_service_config().require_valid()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    governor = Governor(client, StateStore(), resume_after=timedelta(seconds=config.governor_resume_after_seconds))
    pause = interval or config.governor_poll_seconds
    stop = {"now": False}
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.update(now=True))
    click.echo(f"afkit watch as {governor.holder}: every {pause:g}s against {client.url}")
    while not stop["now"]:
        for event in governor.tick():
            if event.action != "none":
                click.echo(f"backfill {event.backfill_id}: {event.action}: {event.reason}")
        if once:
            return
        deadline = time.monotonic() + pause
        while not stop["now"] and time.monotonic() < deadline:
            time.sleep(0.2)
    click.echo("afkit watch stopped.")
