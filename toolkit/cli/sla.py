"""``afkit sla``: the freshness SLAs declared on assets, as a table, as JSON, or as a check for cron and CI."""

from __future__ import annotations

import json

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import json_option, with_client
from toolkit.errors import AfkitError, ExitCode
from toolkit.core.freshness import FreshnessStatus
from toolkit.core.humanize import format_duration
from toolkit.render import alert_cell, table, when
from toolkit.core.sla_board import SLABoard, board_to_dict
from toolkit.services.freshness import sla_board


def _lag(status: FreshnessStatus) -> str:
    return format_duration(status.lag) if status.lag is not None else "-"


def open_alerts_by_sla() -> tuple[dict[str, dict], str | None]:
    """The open alert of each SLA from afkit's state database (what ``afkit watch`` recorded), for its id.

    The board comes from Airflow; a state database that cannot be opened only leaves the ids out (and says why)."""
    from toolkit.state import StateStore

    try:
        alerts = StateStore().open_alerts()
    except AfkitError as exc:
        return {}, f"alert ids not shown: {exc}"
    found: dict[str, dict] = {}
    for alert in sorted(alerts, key=lambda a: a["opened_at"]):  # the newest open alert of an SLA wins
        found[alert["sla_key"]] = alert
    return found, None


def render_board(board: SLABoard, alerts: dict[str, dict] | None = None, note: str | None = None) -> str:
    alerts = alerts or {}
    lines = [
        f"Freshness SLAs at {when(board.evaluated_at)}: {board.count('late')} late, {board.count('at_risk')} at risk, "
        f"{board.count('fresh')} fresh, {board.count('unknown')} unknown, {len(board.invalid)} invalid",
        "",
        table(
            ["status", "asset", "sla", "lag", "next deadline", "owners", "alert (afkit sla ack ID)", "why / culprit"],
            [
                (s.status.upper() if s.status in ("late", "at_risk") else s.status, s.sla.asset, s.sla.name, _lag(s),
                 when(s.next_deadline), ", ".join(s.sla.owners), alert_cell(alerts.get(s.sla.key)),
                 s.culprit or s.reason)
                for s in board.statuses
            ],
        ) if board.statuses else "No SLAs declared on any asset.",
    ]
    if board.invalid:
        lines += ["", "Invalid SLA declarations (not evaluated):"]
        lines += [f"  ! {i.asset} {i.name}: {i.reason}" for i in board.invalid]
    if note:
        lines += ["", note]
    return "\n".join(lines)


def board_with_alerts(board: SLABoard, alerts: dict[str, dict], note: str | None) -> dict:
    """``--json``: the board, each SLA with the id of its open alert (null when none) and who acknowledged it."""
    data = board_to_dict(board)
    for entry, status in zip(data["slas"], board.statuses):
        alert = alerts.get(status.sla.key)
        entry["alert_id"] = alert["alert_id"] if alert else None
        entry["alert_acknowledged_by"] = alert.get("acknowledged_by") if alert else None
    if note:
        data["alerts_note"] = note
    return data


def show_board(board: SLABoard, as_json: bool) -> None:
    alerts, note = open_alerts_by_sla()
    click.echo(json.dumps(board_with_alerts(board, alerts, note), indent=2) if as_json
               else render_board(board, alerts, note))


@click.group()
def sla() -> None:
    """Freshness SLAs declared on assets (toolkit.sla helpers in DAG code)."""


@sla.command("status")
@json_option
@with_client
def status_command(client: AirflowClient, as_json: bool) -> None:
    """Every SLA: fresh / at risk / late / unknown, lag, next deadline, owners, the upstream culprit, and the id of
    its open alert (the one ``afkit watch`` announced), to give to ``afkit sla ack``."""
    board = sla_board(client)
    show_board(board, as_json)


@sla.command("check")
@json_option
@with_client
@click.pass_context
def check_command(ctx: click.Context, client: AirflowClient, as_json: bool) -> None:
    """One evaluation for cron or CI: exit 0 when nothing is late, 8 when any SLA is late, 2 when a declaration is
    invalid (and none is late)."""
    board = sla_board(client)
    click.echo(json.dumps(board_to_dict(board), indent=2) if as_json else render_board(board))
    if board.count("late"):
        ctx.exit(int(ExitCode.SLA_LATE))
    if board.invalid:
        ctx.exit(int(ExitCode.BAD_INPUT))


@sla.command("ack")
@click.argument("alert", metavar="ALERT_ID")
@click.option("--by", "who", default=None, help="Who acknowledges (default: $USER).")
def ack_command(alert: str, who: str | None) -> None:
    """Acknowledge an open alert (by id or a unique prefix): no more reminders until it recovers."""
    import getpass

    from toolkit.services.alerting import acknowledge
    from toolkit.state import StateStore

    found = acknowledge(StateStore(), alert, who or getpass.getuser())
    click.echo(f"acknowledged alert {found['alert_id']} ({found['sla_key']}, {found['breach_key']})")
