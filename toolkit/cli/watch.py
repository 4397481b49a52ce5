"""``afkit watch``: the long-running service that governs backfills and delivers SLA alerts."""

from __future__ import annotations

import logging
import signal
from datetime import timedelta

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import finite_float, with_client
from toolkit.services.governor import configured_governor
from toolkit.render import alert_line, board_source
from toolkit.service_config import load_service_config
from toolkit.notifiers import load_notifiers
from toolkit.slack import SlackSender, resolve_target
from toolkit.state import StateStore
from toolkit.services.watch import PassReport, Watcher


@click.command()
@click.option("--interval", type=click.FloatRange(min=0.2, max=3600), callback=finite_float,
              help="Seconds between passes, 0.2 to 3600 (default: [governor] poll_seconds, 10).")
@click.option("--once", is_flag=True, help="Make one pass and exit (for cron or scripts).")
@click.option("--verbose", "-v", is_flag=True,
              help="Print every pass's breakdown (governor, cadence, SLA board, recording, delivery), as --once does.")
@with_client
def watch(client: AirflowClient, interval: float | None, once: bool, verbose: bool) -> None:
    """Govern running afkit backfills and evaluate freshness SLAs, alerting owners in Slack.

    Slack: the Airflow connection named by AFKIT_SLACK_CONN_ID; or AFKIT_SLACK_TOKEN and AFKIT_SLACK_CHANNEL
    (threads), or AFKIT_SLACK_WEBHOOK_URL; or, inside an Airflow deployment, the connection slack_api_default or
    slack_default. Without any, alerts are still recorded and wait in the outbox. Several watchers may run at once:
    leases in afkit's state database let only one act on a backfill, and only one evaluate SLAs, at a time.
    """
    config = load_service_config().require_valid()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    target, source = resolve_target()
    store = StateStore()
    governor = configured_governor(client, store)
    notifiers = load_notifiers(config.notifiers)
    watcher = Watcher(client, store, governor, SlackSender(target) if target else None,
                      renotify_after=timedelta(minutes=config.renotify_after_minutes),
                      cadence_every=timedelta(seconds=config.cadence_scan_seconds), notifiers=notifiers)
    pause = interval or config.governor_poll_seconds
    stop = {"now": False}
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.update(now=True))
    slack = f"{source}: alerts wait in the outbox" if target is None else (
        f"Slack channel {target.channel} ({source})" if target.token else f"a Slack webhook ({source})")
    if notifiers:
        slack += "; notifiers " + ", ".join(f"{n.name} ({n.notifier_class.__name__})" for n in notifiers)
    click.echo(f"afkit watch as {governor.holder}: every {pause:g}s against {client.url}; {slack}")

    shown_sources: dict[str, tuple[str, str | None]] = {}

    def show(report: PassReport) -> None:
        for board, source in report.sources.items():  # the path each board takes, said when it changes
            if shown_sources.get(board) != source:
                click.echo(f"{board}: {board_source(*source)}")
                shown_sources[board] = source
        for event in report.governor:
            if event.action != "none":  # a watcher standing aside for another says so each pass ("skipped")
                click.echo(f"governor: {event.describe()}")
        for note in report.alerts:
            click.echo(alert_line(note.kind, note.alert_id, note.sla_key, note.status.status))
        for asset in report.cadence_changes:
            click.echo(f"alert: cadence change {asset}")
        if report.delivery and (report.delivery.sent or report.delivery.errors):
            click.echo(f"delivery: {report.delivery.sent} sent, {report.delivery.waiting} waiting, "
                       f"{report.delivery.failed} failed"
                       + (f" ({report.delivery.errors[-1]})" if report.delivery.errors else ""))
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        if once or verbose or logging.getLogger().isEnabledFor(logging.DEBUG):
            click.echo("pass: " + ", ".join(f"{part} {seconds:.2f}s" for part, seconds in report.seconds.items()))

    watcher.run(pause, on_report=show, should_stop=lambda: stop["now"], once=once)
    if once:
        return
    click.echo("afkit watch stopped.")
