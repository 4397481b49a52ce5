"""``afkit watch``: the long-running service that governs backfills and delivers SLA alerts."""

from __future__ import annotations

import logging
import signal
from datetime import datetime, timedelta, timezone

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import finite_float, json_option, with_client
from toolkit.errors import WATCH_PASS_FAILED
from toolkit.services.governor import configured_governor
from toolkit.render import alert_line, board_source, pass_to_dict, to_json_line
from toolkit.service_config import load_service_config
from toolkit.notifiers import load_notifiers
from toolkit.slack import SlackSender, resolve_target
from toolkit.state import StateStore
from toolkit.services.watch import PassReport, Watcher

PASS_SHAPE = ("JSON lines, one object per pass: at, ok (false when a part of the pass failed), errors, governor "
              "[{action, backfill_id, pool, reason, text}], evaluated, late, alerts [{kind, alert_id, sla_key, "
              "status}], cadence_changes, delivery {sent, waiting, failed, errors} or null, sources {board: "
              "{source, note}} and seconds {part: seconds}.")


@click.command()
@click.option("--interval", type=click.FloatRange(min=0.2, max=3600), callback=finite_float,
              help="Seconds between passes, 0.2 to 3600 (default: [governor] poll_seconds, 10).")
@click.option("--once", is_flag=True, help=f"Make one pass and exit (for cron or scripts): exit {int(WATCH_PASS_FAILED)} "
              "when a part of the pass failed.")
@click.option("--verbose", "-v", is_flag=True,
              help="Print every pass's breakdown (governor, cadence, SLA board, recording, delivery), as --once does.")
@json_option(PASS_SHAPE)
@with_client
@click.pass_context
def watch(ctx: click.Context, client: AirflowClient, interval: float | None, once: bool, verbose: bool,
          as_json: bool) -> None:
    """Govern running afkit backfills and evaluate freshness SLAs, alerting owners in Slack.

    Slack: the Airflow connection named by AFKIT_SLACK_CONN_ID; or AFKIT_SLACK_TOKEN and AFKIT_SLACK_CHANNEL
    (threads), or AFKIT_SLACK_WEBHOOK_URL; or, inside an Airflow deployment, the connection slack_api_default or
    slack_default. Without any, alerts are still recorded and wait in the outbox. Several watchers may run at once:
    leases in afkit's state database let only one act on a backfill, and only one evaluate SLAs, at a time.

    A failed part of a pass (Airflow or the state database not reachable …) is said on stderr; a long-running watch
    goes on with the next pass, and --once exits non-zero. With --json, stdout has only the passes' JSON lines.
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
    slack = f"{source}: alerts wait in the outbox" if target is None else (
        f"Slack channel {target.channel} ({source})" if target.token else f"a Slack webhook ({source})")
    if notifiers:
        slack += "; notifiers " + ", ".join(f"{n.name} ({n.notifier_class.__name__})" for n in notifiers)
    click.echo(f"afkit watch as {governor.holder}: every {pause:g}s against {client.url}; {slack}", err=as_json)

    shown_sources: dict[str, tuple[str, str | None]] = {}
    failed = {"any": False}

    def show(report: PassReport) -> None:
        failed["any"] = failed["any"] or bool(report.errors)
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        if as_json:
            click.echo(to_json_line(pass_to_dict(report, datetime.now(timezone.utc))))
            return
        for board, path in report.sources.items():  # the path each board takes, said when it changes
            if shown_sources.get(board) != path:
                click.echo(f"{board}: {board_source(*path)}")
                shown_sources[board] = path
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
        if once or verbose or logging.getLogger().isEnabledFor(logging.DEBUG):
            click.echo("pass: " + ", ".join(f"{part} {seconds:.2f}s" for part, seconds in report.seconds.items()))

    stop = {"now": False}
    previous = {signum: signal.signal(signum, lambda *_: stop.update(now=True))
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher.run(pause, on_report=show, should_stop=lambda: stop["now"], once=once)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if once:
        if failed["any"]:
            ctx.exit(int(WATCH_PASS_FAILED))
        return
    click.echo("afkit watch stopped.", err=as_json)
