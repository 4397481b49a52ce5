"""``afkit sla``: the freshness SLAs declared on assets, as a table, as JSON, or as a check for cron and CI."""

from __future__ import annotations

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import echo_json, json_option, read_progress, with_client
from toolkit.core.sla_board import SLABoard, board_to_dict, board_with_alerts
from toolkit.errors import ExitCode
from toolkit.render import render_board
from toolkit.services.alerting import alert_deliveries, open_alerts_by_sla
from toolkit.services.status import deliveries_to_dict
from toolkit.services.freshness import sla_board


def show_board(board: SLABoard, as_json: bool) -> None:
    alerts, note = open_alerts_by_sla()
    deliveries, deliveries_note = alert_deliveries()
    if as_json:
        echo_json({**board_with_alerts(board, alerts, note),
                   "alert_deliveries": deliveries_to_dict(deliveries, deliveries_note)})
    else:
        click.echo(render_board(board, alerts, note, deliveries, deliveries_note))


@click.group()
def sla() -> None:
    """Freshness SLAs declared on assets (toolkit.sla helpers in DAG code)."""


@sla.command("status")
@json_option("evaluated_at, counts {fresh, at_risk, late, unknown}, slas (one object per SLA: asset, sla, kind, "
             "status, reason, lag_seconds, next_deadline, owners, severity, culprit, alert_id …), invalid, source, "
             "source_note and alert_deliveries.")
@with_client
def status_command(client: AirflowClient, as_json: bool) -> None:
    """Every SLA: fresh / at risk / late / unknown, lag, next deadline, owners, the upstream culprit, and the id of
    its open alert (the one ``afkit watch`` announced), to give to ``afkit sla ack``."""
    with read_progress(as_json) as progress:
        board = sla_board(client, progress=progress)
    show_board(board, as_json)


@sla.command("check")
@json_option("evaluated_at, counts, slas and invalid, as `afkit sla status --json` without the alert ids; the exit "
             "code says the verdict.")
@with_client
@click.pass_context
def check_command(ctx: click.Context, client: AirflowClient, as_json: bool) -> None:
    """One evaluation for cron or CI: exit 0 when nothing is late, 8 when any SLA is late, 2 when a declaration is
    invalid (and none is late)."""
    with read_progress(as_json) as progress:
        board = sla_board(client, progress=progress)
    if as_json:
        echo_json(board_to_dict(board))
    else:
        click.echo(render_board(board))
    if board.count("late"):
        ctx.exit(int(ExitCode.SLA_LATE))
    if board.invalid:
        ctx.exit(int(ExitCode.BAD_INPUT))


@sla.command("ack")
@click.argument("alert", metavar="ALERT_ID")
@click.option("--by", "who", default=None, help="Who acknowledges (default: $USER).")
@json_option("alert_id, sla_key, breach_key and acknowledged_by of the alert acknowledged.")
def ack_command(alert: str, who: str | None, as_json: bool) -> None:
    """Acknowledge an open alert (by id or a unique prefix): no more reminders until it recovers."""
    import getpass

    from toolkit.services.alerting import acknowledge
    from toolkit.state import StateStore

    who = who or getpass.getuser()
    found = acknowledge(StateStore(), alert, who)
    if as_json:
        echo_json({"alert_id": found["alert_id"], "sla_key": found["sla_key"], "breach_key": found["breach_key"],
                   "acknowledged_by": who})
    else:
        click.echo(f"acknowledged alert {found['alert_id']} ({found['sla_key']}, {found['breach_key']})")
