"""Plain-text renderings shared by the CLI and the terminal app: tables, plans, progress, cadence sparklines; and
the one JSON format of every ``--json`` (:func:`to_json`, :func:`to_json_line`) with the shapes built here.

Stable, readable text: the CLI prints it, the terminal app shows it in its panes, and the tests compare it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from toolkit.core import pictures
from toolkit.core.humanize import format_duration, format_moment
from toolkit.core.planning import DagPlan, Plan
from toolkit.errors import hinted

if TYPE_CHECKING:  # rendering needs neither the REST boundary nor pandas: the terminal app paints before loading them
    from toolkit.core.cadence_whatif import ConsumerOutlook
    from toolkit.services.cadence import Simulation
    from toolkit.core.cadence_impact import CadenceReport
    from toolkit.core.freshness import FreshnessStatus
    from toolkit.core.sla_board import SLABoard
    from toolkit.models import Backfill
    from toolkit.services.backfills import CancelReport, DagProgress, LaunchEvent, LaunchReport
    from toolkit.services.governor import GovernorEvent
    from toolkit.services.status import StatusReport
    from toolkit.services.watch import PassReport


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def when(moment: datetime | None) -> str:
    return format_moment(moment)


# -- alerts ----------------------------------------------------------------------------------------------------------


def alert_line(kind: str, alert_id: str, sla_key: str, status: str) -> str:
    """One ``afkit watch`` line per alert message queued, with the id ``afkit sla ack`` takes."""
    line = f"alert {alert_id}: {kind} {sla_key} ({status.replace('_', ' ')})"
    return line if kind == "recover" else f"{line}; silence reminders with: afkit sla ack {alert_id}"


def alert_cell(alert: dict | None) -> str:
    """The ``alert`` column of ``afkit sla status``: the open alert's id, and who acknowledged it."""
    if alert is None:
        return "-"
    return alert["alert_id"] + (f" (acked by {alert['acknowledged_by']})" if alert.get("acknowledged_by") else "")


# -- backfill plans and progress --------------------------------------------------------------------------------------


def _grouped(dag: DagPlan) -> list[tuple[str, str, int, str, str, str]]:
    """Consecutive partitions with the same state and action, as one line each."""
    groups: list[list] = []
    for row in dag.partitions:
        if groups and groups[-1][3:] == [row.state, row.action, row.reason]:
            groups[-1][1] = row.label
            groups[-1][2] += 1
        else:
            groups.append([row.label, row.label, 1, row.state, row.action, row.reason])
    return [tuple(g) for g in groups]


def render_plan(plan: Plan, hints: Mapping[str, str] | None = None) -> str:
    """The plan as text; ``hints`` are the edge's words for the SLA risk fixes (its flags, its keys)."""
    o = plan.options
    lines = [
        f"Backfill plan {plan.plan_id} for {plan.airflow_url} (Airflow {plan.airflow_version}), "
        f"made {when(plan.created_at)}",
        f"Range {o.from_date.isoformat()} … {o.to_date.isoformat()}  reprocess={o.reprocess}  order={o.order}"
        + (f"  partitions={o.partitions.to_dict()}" if o.partitions else "")
        + (f"  start after {when(o.start_after)}" if o.start_after else ""),
        "",
        table(
            ["dag", "runs", "create", "rerun", "skip", "p50", "p90", "pools (slots/run)", "concurrency", "ETA p50/p90",
             "after"],
            [
                (d.dag_id + (" (paused)" if d.is_paused else ""), d.run_count, d.count("create"), d.count("rerun"),
                 d.count("skip"),
                 format_duration(d.estimate.p50) if d.estimate.known else "no history",
                 format_duration(d.estimate.p90) if d.estimate.known else "-",
                 ", ".join(f"{k}:{v}" for k, v in d.pool_demand.items()), d.concurrency,
                 f"{format_duration(d.eta_p50)} / {format_duration(d.eta_p90)}", ", ".join(d.upstream) or "-")
                for d in plan.dags
            ],
        ),
    ]
    if plan.budgets:
        lines += ["", table(["pool", "slots", "reserved for production", "backfill cap", "backfill budget", "held"],
                            [(b.pool, "unlimited" if b.slots < 0 else b.slots, b.reserve,
                              "-" if b.cap is None else b.cap, b.budget,
                              "task by task (carved)" if b.carved else "run by run") for b in plan.budgets])]
    for dag in plan.dags:
        lines += ["", f"{dag.dag_id} — {dag.added_by}; concurrency {dag.concurrency} ({dag.concurrency_reason})"]
        lines.append(table(
            ["partitions", "count", "state", "action", "why"],
            [(first if first == last else f"{first} … {last}", n, state, action, reason)
             for first, last, n, state, action, reason in _grouped(dag)],
        ))
    if plan.impacts:
        lines += ["", "Asset-triggered consumers (Airflow cannot backfill them; this is what they will do):"]
        lines += [f"  - {i.summary}" for i in plan.impacts]
    lines += ["", *render_sla_risk(plan, hints or {})]
    if plan.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in plan.warnings]
    lines += ["", f"Verified: for every DAG the runs to create equal Airflow's dry run ({len(plan.steps)} backfill "
                  f"step(s), {sum(d.run_count for d in plan.dags)} run(s))."]
    return "\n".join(lines)


def render_sla_risk(plan: Plan, hints: Mapping[str, str]) -> list[str]:
    """The plan's "SLA risk" section: each SLA the backfill would move to at risk, its window and its fixes."""
    start = f"starting {when(plan.starts_at)}"
    if not plan.sla_risks:
        return [f"SLA risk: none ({start}): no SLA's producer would be short of slots before a deadline, as far as "
                "the runs' history tells"]
    lines = [f"SLA risk ({start}): {len(plan.sla_risks)} SLA(s) would go at risk"]
    for risk in plan.sla_risks:
        lines.append(f"  ! {risk.text}")
        lines.append(f"    window {when(risk.window[0])} … {when(risk.window[1])}; owners "
                     f"{', '.join(risk.owners) or '-'}")
        lines += [f"    fix: {hinted(fix.text, fix.remedy, hints, fix.remedy_args)}" for fix in risk.fixes]
    return lines


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def render_progress(progress: list[DagProgress]) -> str:
    return "\n".join(
        f"{p.dag_id:<24} {_bar(p.done, p.total)} {p.done}/{p.total} done  failed {p.failed}  running {p.running}  "
        f"queued {p.queued}" + (f"  cancelled {p.cancelled}" if p.cancelled else "")
        + f"  {p.status}  ETA {format_duration(p.eta_seconds)}"
        for p in progress
    )


# -- cadences --------------------------------------------------------------------------------------------------------

BARS = "▁▂▃▄▅▆▇█"


def sparkline(intervals: tuple[float, ...] | list[float], width: int = 60) -> str:
    """Intervals as bars on a log scale (a 30 min → 5 min change is as visible as 1 d → 4 h), newest on the right:
    the levels of the page's sparkline (``core.pictures``), drawn as characters."""
    return _bars(pictures.sparkline(intervals, None, width=width))


def _bars(line: pictures.Sparkline) -> str:
    return "".join(BARS[round(level * (len(BARS) - 1))] for level in line.levels)


def _change_cell(report: CadenceReport) -> str:
    change = report.change
    if change is None:
        return "-"
    arrow = f"{format_duration(change.before)} → {format_duration(change.after)}"
    if change.kind in ("irregular", "regular"):
        arrow += f" ({change.kind})"
    return f"{arrow} at {when(change.at)}" + ("" if change.confirmed else " (unconfirmed)")


def render_scan(reports: list[CadenceReport]) -> str:
    changed = [r for r in reports if r.change is not None]
    lines = [f"Cadence of {len(reports)} asset(s): {len(changed)} changed", "",
             table(["asset", "every", "pattern", "events", "change", "owners"],
                   [(r.asset, format_duration(r.model.typical_interval) if r.model.typical_interval else "-",
                     r.model.pattern, r.model.events, _change_cell(r), ", ".join(r.owners) or "-")
                    for r in reports]) if reports else "No assets."]
    for report in changed:
        lines += ["", f"! {report.message}"]
    return "\n".join(lines)


def render_show(report: CadenceReport, width: int = 60) -> str:
    model = report.model
    intervals = list(model.intervals)[-width:]
    lines = [f"{report.asset}: {model.events} events, typically every "
             f"{format_duration(model.typical_interval) if model.typical_interval else '?'} ({model.pattern})"]
    if report.backfill_events_excluded:
        lines.append(f"({report.backfill_events_excluded} event(s) from backfill runs left out)")
    if not intervals:
        return "\n".join(lines + ["Not enough events to draw intervals."])
    change = report.change
    line = pictures.sparkline(model.intervals, model.last_event, change.at if change else None, width)
    lines += ["", f"interval  {_bars(line)}"]
    if change is not None:
        first_new = line.change_index if line.change_index is not None else -1
        if 0 <= first_new < len(intervals):
            lines.append(" " * (10 + first_new) + "^ " + f"changed {when(change.at)}: "
                         f"{format_duration(change.before)} → {format_duration(change.after)}")
        else:
            lines.append(f"changed {when(change.at)} (before the intervals drawn): "
                         f"{format_duration(change.before)} → {format_duration(change.after)}")
        lines += ["", report.message]
    low, high = min(intervals), max(intervals)
    lines.append(f"(log scale: ▁ {format_duration(low)} … █ {format_duration(high)}; newest right)")
    return "\n".join(lines)


def render_simulation(sim: Simulation) -> str:
    """``afkit cadence simulate``: each consumer now and under the proposed rhythm, side by side."""
    proposed, current = sim.proposed, sim.current
    days = format_duration(proposed.horizon)
    now_text = f"now {current.rhythm.text} ({current.events_per_day:.0f} events/day)" if current else \
        "now: no regular rhythm yet"
    lines = [f"{sim.asset} {proposed.rhythm.text} ({proposed.events_per_day:.0f} events/day); {now_text}. "
             f"Simulated over {days} from an idle consumer."]
    if not proposed.consumers:
        return "\n".join([*lines, "", "No asset-triggered DAG is scheduled on it: nothing downstream changes."])
    before = {c.dag_id: c for c in current.consumers} if current else {}

    def cell(outlook: ConsumerOutlook | None, value) -> str:
        return "-" if outlook is None else value(outlook)

    rows = []
    for c in proposed.consumers:
        was = before.get(c.dag_id)
        rows.append((
            c.dag_id,
            f"{cell(was, lambda o: f'{o.runs_per_day:.1f}')} → {c.runs_per_day:.1f}",
            f"{cell(was, lambda o: _batch_cell(o.events_per_run))} → {_batch_cell(c.events_per_run)}",
            f"{cell(was, lambda o: format_duration(o.longest_seconds))} → {format_duration(c.longest_seconds)}",
            "yes" if c.keeps_up else f"no ({c.queued_at_end} queued)",
            ", ".join(f"{p}: {n} at once, {c.pool_busy[p]:.1f} busy" for p, n in c.pool_peak.items()) or "-",
            "; ".join(f"{s.asset} {s.status.replace('_', ' ')}" for s in c.slas) or "-",
        ))
    lines += ["", table(["consumer", "runs/day", "events/run", "longest run", "keeps up", "pools", "SLAs"], rows)]
    for c in proposed.consumers:
        for s in c.at_risk:
            lines.append(f"  ! {s.asset} ({s.sla}) {s.status.replace('_', ' ')} from {when(s.at)}: {s.reason}")
        if c.note:
            lines.append(f"  note: {c.dag_id} {c.note}")
        elif c.model is not None:
            lines.append(f"  {c.dag_id}: a run takes {format_duration(c.model.fixed)} + "
                         f"{format_duration(c.model.per_event)} per event batched ({c.model.samples} recent runs)")
    return "\n".join(lines)


def _batch_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}".removesuffix(".0")


# -- afkit status and afkit sla ----------------------------------------------------------------------------------


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
    if report.carves:
        parts += ["Carved pools (backfill tasks run in the companion, whose slots afkit's governor sets):",
                  *(f"  {c.describe()}" for c in report.carves), ""]
    problems = [f"  ! {v['error']}" for v in report.pool_policy.values() if "error" in v]
    problems += [f"  ! afkit configuration: {e}" for e in report.config_errors]
    if problems:
        parts += ["Throttling policy problems:", *problems, ""]
    parts.append(_plugin_line(report.plugin, report.boards))
    parts.append("")
    deliveries = render_deliveries(report.deliveries, report.deliveries_note)
    if deliveries:
        parts += [*deliveries, ""]
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


def board_source(path: str, note: str | None) -> str:
    """How a board was read, in one phrase: the status line of ``sla status``, the watcher's log, ``afkit status``."""
    if path == "plugin":
        return "from the afkit plugin"
    return f"through the REST API: {note}" if note else "through the REST API"


def _plugin_line(plugin: dict | None, boards: tuple[str, str | None] | None = None) -> str:
    boards_text = f"; boards {board_source(*boards)}" if boards else ""
    if plugin is None:
        return "afkit plugin: not installed in this Airflow" + boards_text
    policy = plugin.get("policy", {})
    state = "active" if policy.get("active") else (
        "INACTIVE (no airflow_local_settings module)" if policy.get("registered") else "not registered")
    config = "ok" if plugin.get("config", {}).get("ok") else "INVALID: " + "; ".join(plugin["config"]["errors"])
    return (f"afkit plugin {plugin.get('version')} (API {plugin.get('api', 'unversioned')}): config {config}; "
            f"backfill priority policy {state}{boards_text}")


def _lag(status: FreshnessStatus) -> str:
    return format_duration(status.lag) if status.lag is not None else "-"


def render_board(board: SLABoard, alerts: dict[str, dict] | None = None, note: str | None = None,
                 deliveries: dict | None = None, deliveries_note: str | None = None) -> str:
    alerts = alerts or {}
    lines = [
        f"Freshness SLAs at {when(board.evaluated_at)}: {board.count('late')} late, {board.count('at_risk')} at risk, "
        f"{board.count('fresh')} fresh, {board.count('unknown')} unknown, {len(board.invalid)} invalid "
        f"({board_source(board.source, board.source_note)})",
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
    deliveries = render_deliveries(deliveries, deliveries_note)
    if deliveries:
        lines += ["", *deliveries]
    return "\n".join(lines)


def render_deliveries(summary: dict | None, note: str | None = None) -> list[str]:
    """Alert messages not delivered (``StateStore.undelivered``): how many wait, and each failed one with why."""
    if summary is None:
        return [note] if note else []
    if not summary["waiting"] and not summary["failed"]:
        return []
    lines = [f"Alert messages: {summary['waiting']} waiting to be delivered, {summary['failed']} failed"
             + (" (newest first):" if summary["failures"] else "")]
    lines += [f"  ! {f['title'] or f['kind']} [{f['sink']}, alert {f['alert_id']}, {f['attempts']} attempt(s), "
              f"{when(f['at'])}]: {f['error']}" for f in summary["failures"]]
    return lines


# -- JSON: one format for every --json -------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """What json cannot encode itself: instants as ISO 8601 text, tuples and sets as lists, dataclasses as objects."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value: Any) -> Any:
    """NaN and infinities (which JSON has no words for) as null, everywhere in decoded JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _dumps(data: Any, **layout: Any) -> str:
    try:
        return json.dumps(data, allow_nan=False, default=_json_default, **layout)
    except ValueError:  # a NaN or an infinity somewhere (rare): written as null, so every parser reads the result
        decoded = json.loads(json.dumps(data, default=_json_default))
        return json.dumps(_finite(decoded), allow_nan=False, **layout)


def to_json(data: Any) -> str:
    """A command's ``--json`` result: one document, indented for people; strict JSON (no NaN), ASCII only."""
    return _dumps(data, indent=2)


def to_json_line(data: Any) -> str:
    """One JSON object on one line: what a long-running command (``afkit watch --json``) prints per pass."""
    return _dumps(data, separators=(",", ":"))


def backfill_to_dict(backfill: Backfill) -> dict:
    """An Airflow backfill in every ``--json`` that shows one."""
    return {"id": backfill.id, "dag_id": backfill.dag_id, "from_date": backfill.from_date,
            "to_date": backfill.to_date, "is_paused": backfill.is_paused, "max_active_runs": backfill.max_active_runs,
            "reprocess_behavior": backfill.reprocess_behavior, "created_at": backfill.created_at,
            "completed_at": backfill.completed_at}


def governor_event_to_dict(event: GovernorEvent) -> dict:
    return {"action": event.action, "backfill_id": event.backfill_id, "pool": event.pool, "reason": event.reason,
            "text": event.describe()}


def launch_to_dict(report: LaunchReport, events: list[LaunchEvent], governor: list[GovernorEvent],
                   progress: list[DagProgress] | None) -> dict:
    """``afkit backfill launch --json``: how the launch ended, what it created or adopted, every event on the way."""
    outcome = "completed" if report.complete else ("detached" if report.stopped_early else "created")
    return {"plan_id": report.plan_id, "outcome": outcome, "resumed": report.resumed, "created": report.created,
            "adopted": report.adopted,
            "events": [{"kind": e.kind, "message": e.message, "step": e.step, "backfill_id": e.backfill_id}
                       for e in events],
            "governor": [governor_event_to_dict(e) for e in governor], "progress": progress}


def action_to_dict(action: str, plan_id: str | None, backfills: Iterable[Backfill]) -> dict:
    """``afkit backfill pause|resume|cancel --json``: the action, the plan (null for a backfill named by id) and the
    Airflow backfills it touched, as Airflow answered."""
    return {"action": action, "plan_id": plan_id, "backfills": [backfill_to_dict(b) for b in backfills]}


def cancel_to_dict(plan_id: str | None, report: CancelReport, warning: str | None) -> dict:
    return {**action_to_dict("cancel", plan_id, report.backfills), "warning": warning,
            "changed": [{"dag_id": dag, "partition": label, "before": before, "after": after}
                        for dag, label, before, after in report.changed]}


def pass_to_dict(report: PassReport, at: datetime) -> dict:
    """One ``afkit watch --json`` line: a pass's outcome (``ok`` is false when any part of it failed)."""
    delivery = report.delivery
    return {
        "at": at, "ok": not report.errors, "errors": report.errors,
        "governor": [governor_event_to_dict(e) for e in report.governor],
        "evaluated": report.evaluated, "late": report.late,
        "alerts": [{"kind": n.kind, "alert_id": n.alert_id, "sla_key": n.sla_key, "status": n.status.status}
                   for n in report.alerts],
        "cadence_changes": report.cadence_changes,
        "delivery": None if delivery is None else {"sent": delivery.sent, "waiting": delivery.waiting,
                                                   "failed": delivery.failed, "errors": delivery.errors},
        "sources": {board: {"source": path, "note": note} for board, (path, note) in report.sources.items()},
        "seconds": {part: round(seconds, 3) for part, seconds in report.seconds.items()},
    }
