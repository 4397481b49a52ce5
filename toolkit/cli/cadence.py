"""``afkit cadence``: each asset's rhythm, the assets whose rhythm changed, and what that did downstream."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import click

from toolkit.airflow import AirflowClient
from toolkit.cadence import human_interval
from toolkit.cadence_impact import CadenceReport, report_to_dict
from toolkit.cadence_scan import cadence_reports
from toolkit.cli.options import json_option, with_client
from toolkit.cli.render import table, when
from toolkit.timeparse import parse_instant

BARS = "▁▂▃▄▅▆▇█"


def sparkline(intervals: tuple[float, ...] | list[float], width: int = 60) -> str:
    """Intervals as bars on a log scale (a 30 min → 5 min change is as visible as 1 d → 4 h), newest on the right."""
    values = [math.log(max(v, 1e-3)) for v in intervals[-width:]]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(BARS[round((v - low) / span * (len(BARS) - 1))] for v in values)


def _change_cell(report: CadenceReport) -> str:
    change = report.change
    if change is None:
        return "-"
    arrow = f"{human_interval(change.before)} → {human_interval(change.after)}"
    if change.kind in ("irregular", "regular"):
        arrow += f" ({change.kind})"
    return f"{arrow} at {when(change.at)}" + ("" if change.confirmed else " (unconfirmed)")


def render_scan(reports: list[CadenceReport]) -> str:
    changed = [r for r in reports if r.change is not None]
    lines = [f"Cadence of {len(reports)} asset(s): {len(changed)} changed", "",
             table(["asset", "every", "pattern", "events", "change", "owners"],
                   [(r.asset, human_interval(r.model.typical_interval) if r.model.typical_interval else "-",
                     r.model.pattern, r.model.events, _change_cell(r), ", ".join(r.owners) or "-")
                    for r in reports]) if reports else "No assets."]
    for report in changed:
        lines += ["", f"! {report.message}"]
    return "\n".join(lines)


def render_show(report: CadenceReport, width: int = 60) -> str:
    model = report.model
    intervals = list(model.intervals)[-width:]
    lines = [f"{report.asset}: {model.events} events, typically every "
             f"{human_interval(model.typical_interval) if model.typical_interval else '?'} ({model.pattern})"]
    if report.backfill_events_excluded:
        lines.append(f"({report.backfill_events_excluded} event(s) from backfill runs left out)")
    if not intervals:
        return "\n".join(lines + ["Not enough events to draw intervals."])
    lines += ["", f"interval  {sparkline(intervals, width)}"]
    change = report.change
    if change is not None:
        first_new = _first_interval_after(report, change.at) - (len(model.intervals) - len(intervals))
        if 0 <= first_new < len(intervals):
            lines.append(" " * (10 + first_new) + "^ " + f"changed {when(change.at)}: "
                         f"{human_interval(change.before)} → {human_interval(change.after)}")
        else:
            lines.append(f"changed {when(change.at)} (before the intervals drawn): "
                         f"{human_interval(change.before)} → {human_interval(change.after)}")
        lines += ["", report.message]
    low, high = min(intervals), max(intervals)
    lines.append(f"(log scale: ▁ {human_interval_seconds(low)} … █ {human_interval_seconds(high)}; newest right)")
    return "\n".join(lines)


def _first_interval_after(report: CadenceReport, at: datetime) -> int:
    """Index of the interval that ends at the change's first event (intervals run back from the last event)."""
    end = report.model.last_event.timestamp() if report.model.last_event else 0.0
    ends = []
    for gap in reversed(report.model.intervals):
        ends.append(end)
        end -= gap
    ends.reverse()
    return min(range(len(ends)), key=lambda i: abs(ends[i] - at.timestamp())) if ends else -1


def human_interval_seconds(seconds: float) -> str:
    from datetime import timedelta

    return human_interval(timedelta(seconds=seconds))


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
    start = parse_instant(since, datetime.now(timezone.utc), option="--since") if since else None
    reports = cadence_reports(client, asset=asset, since=start)
    click.echo(json.dumps([report_to_dict(r) for r in reports], indent=2) if as_json else render_scan(reports))


@cadence.command("show")
@click.argument("asset", metavar="NAME_OR_URI")
@click.option("--width", type=click.IntRange(10, 400), default=60, show_default=True,
              help="How many of the latest intervals to draw.")
@json_option
@with_client
def show_command(client: AirflowClient, asset: str, width: int, as_json: bool) -> None:
    """Draw the asset's interval history in the terminal, with the change marked."""
    (report,) = cadence_reports(client, asset=asset)
    click.echo(json.dumps(report_to_dict(report), indent=2) if as_json else render_show(report, width))
