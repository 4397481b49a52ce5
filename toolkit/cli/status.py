"""``afkit status``: one screen on the health of a deployment."""

from __future__ import annotations

import json

import click

from toolkit.airflow import AirflowClient
from toolkit.cli.options import json_option, with_client
from toolkit.render import table, when
from toolkit.service_config import load_service_config
from toolkit.services.status import StatusReport, build_status


def collect_status(client: AirflowClient) -> StatusReport:
    config = load_service_config()  # a diagnostic command: a broken afkit.toml is shown, not fatal
    return build_status(
        url=client.url,
        airflow_version=client.monitor.version(),
        components=client.monitor.health(),
        dags=client.dags.list(),
        pools=client.pools.list(),
        backfills=client.backfills.list_active(),
        policy=config.throttle,
        config_errors=config.errors,
        plugin=client.plugins.afkit_health(),
    )


def render_status(report: StatusReport) -> str:
    parts = [
        f"Airflow {report.airflow_version} at {report.url} — {'healthy' if report.healthy else 'NOT healthy'}",
        "",
        table(["component", "status", "last heartbeat"],
              [(c.name, c.status or "unknown", when(c.latest_heartbeat)) for c in report.components]),
        "",
        f"DAGs: {report.dags.total} ({report.dags.active} active, {report.dags.paused} paused, "
        f"{report.dags.asset_triggered} asset-triggered, {report.dags.with_import_errors} with import errors)",
        "",
        table(
            ["pool", "slots", "running", "queued", "scheduled", "deferred", "open", "reserve", "backfill budget"],
            [
                (p.name, "unlimited" if p.slots < 0 else p.slots, p.running_slots, p.queued_slots, p.scheduled_slots,
                 p.deferred_slots, p.open_slots, *_policy_cells(report.pool_policy.get(p.name, {})))
                for p in report.pools
            ],
        ),
        "",
    ]
    problems = [f"  ! {v['error']}" for v in report.pool_policy.values() if "error" in v]
    problems += [f"  ! afkit configuration: {e}" for e in report.config_errors]
    if problems:
        parts += ["Throttling policy problems:", *problems, ""]
    parts.append(_plugin_line(report.plugin))
    parts.append("")
    if report.active_backfills:
        parts.append(
            table(
                ["backfill", "dag", "from", "to", "paused", "max runs", "created"],
                [
                    (b.id, b.dag_id, when(b.from_date), when(b.to_date), "yes" if b.is_paused else "no",
                     b.max_active_runs, when(b.created_at))
                    for b in report.active_backfills
                ],
            )
        )
    else:
        parts.append("No active backfills.")
    return "\n".join(parts)


def _policy_cells(policy: dict) -> tuple[object, object]:
    if "error" in policy:
        return "invalid", "-"
    return policy.get("reserve", 0), policy.get("backfill_budget", "-")


def _plugin_line(plugin: dict | None) -> str:
    if plugin is None:
        return "afkit plugin: not installed in this Airflow"
    policy = plugin.get("policy", {})
    state = "active" if policy.get("active") else (
        "INACTIVE (no airflow_local_settings module)" if policy.get("registered") else "not registered")
    config = "ok" if plugin.get("config", {}).get("ok") else "INVALID: " + "; ".join(plugin["config"]["errors"])
    return f"afkit plugin {plugin.get('version')}: config {config}; backfill priority policy {state}"


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
