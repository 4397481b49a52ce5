"""From an evaluation to queued Slack messages: the alert lifecycle applied to afkit's state database.

The pure rules live in ``toolkit.core.alerts``; this module stores their outcome. Alert ids derive from (SLA, breach), and
every outbox entry carries a dedupe key, so a restart or a second watcher cannot produce a second alert. The caller
also holds the ``sla-evaluator`` lease, so only one watcher evaluates at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from toolkit.core.alerts import DEFAULT_RENOTIFY_AFTER, Notification, OpenAlert, alert_id, plan_notifications
from toolkit.core.cadence_impact import CadenceReport
from toolkit.errors import AfkitError, BadInput, NotFound
from toolkit.core.freshness import FreshnessStatus
from toolkit.slack import cadence_payload, notification_record
from toolkit.state import SLACK_SINK, StateStore

CADENCE_ALERT_WINDOW = timedelta(days=7)  # older changes are history: a new watcher does not announce them


def record_alerts(store: StateStore, statuses: list[FreshnessStatus], now: datetime, airflow_url: str | None = None,
                  renotify_after: timedelta = DEFAULT_RENOTIFY_AFTER,
                  current: list[OpenAlert] | None = None,
                  sinks: tuple[str, ...] = (SLACK_SINK,)) -> list[Notification]:
    """Open, escalate, remind and resolve alerts; queue one outbox message per notification and sink. Returns what
    was queued.

    ``current``: the open alerts, when the caller read them already (the watcher does while its boards are read:
    80,000 of them take 0.7 s); the caller holds the evaluator lease, so none was opened or resolved meanwhile."""
    if current is None:
        current = store.open_alert_states()
    previous = {a.alert_id: a for a in current}
    notes, records = [], []
    for note in plan_notifications(statuses, current, now, renotify_after):
        opened = changes = None
        sequence = ""
        if note.kind == "open":  # refused when already open: another watcher, or this one before a restart
            opened = {"sla_key": note.sla_key, "breach_key": note.breach_key, "status": note.status.status,
                      "opened_at": now, "last_notified_at": now}
        elif note.kind == "recover":
            changes = {"status": "resolved", "resolved_at": now}
        else:
            before = previous[note.alert_id].last_notified_at
            sequence = note.status.status if note.kind == "escalate" else (before.isoformat() if before else "")
            changes = {"status": note.status.status, "last_notified_at": now}
        notes.append(note)
        records.append(notification_record(note, airflow_url, sequence, opened=opened, changes=changes))
    # Each alert's change and its message are stored together: a watcher killed here loses neither.
    return [note for note, queued in zip(notes, store.record_alerts(records, now, sinks)) if queued]


def record_cadence_alerts(store: StateStore, reports: list[CadenceReport], now: datetime,
                          airflow_url: str | None = None, sinks: tuple[str, ...] = (SLACK_SINK,)) -> list[str]:
    """One message per confirmed cadence change, to the producer's and the consumers' owners. Returns the assets.

    A change is an event, not a state: its alert is stored already resolved, only to remember it was announced. The
    change point of a young regime may still move by an event or two as data arrives, so an alert for the same asset
    within a few intervals of an earlier one counts as the same change."""
    queued = []
    for report in reports:
        change = report.change
        if change is None or not change.confirmed or now - change.at > CADENCE_ALERT_WINDOW:
            continue
        subject = f"cadence:{report.asset}"
        tolerance = 3 * max(change.before, change.after)
        if any(abs(datetime.fromisoformat(a["breach_key"]) - change.at) <= tolerance for a in store.alerts_for(subject)):
            continue
        identity = alert_id(subject, change.at.isoformat())
        opened = {"sla_key": subject, "breach_key": change.at.isoformat(), "status": "resolved", "opened_at": now,
                  "last_notified_at": now}
        if store.record_alert(identity, f"{identity}:cadence", "open", cadence_payload(report, identity, airflow_url), now,
                              opened=opened, sinks=sinks):
            queued.append(report.asset)
    return queued


def acknowledge(store: StateStore, prefix: str, who: str) -> dict:
    """Silence reminders for one open alert, named by its id or an unambiguous prefix of it."""
    found = [a for a in store.find_alerts(prefix) if a["status"] != "resolved"]
    if not found:
        raise NotFound(f"no open alert whose id starts with {prefix!r}")
    if len(found) > 1:
        raise BadInput(f"{prefix!r} matches {len(found)} open alerts: give more of the id")
    store.update_alert(found[0]["alert_id"], acknowledged_by=who)
    return found[0]


def open_alerts_by_sla() -> tuple[dict[str, dict], str | None]:
    """The open alert of each SLA from afkit's state database (what ``afkit watch`` recorded), for its id.

    The board comes from Airflow; a state database that cannot be opened only leaves the ids out (and says why)."""
    try:
        alerts = StateStore().open_alerts()
    except AfkitError as exc:
        return {}, f"alert ids not shown: {exc}"
    found: dict[str, dict] = {}
    for alert in sorted(alerts, key=lambda a: a["opened_at"]):  # the newest open alert of an SLA wins
        found[alert["sla_key"]] = alert
    return found, None


def alert_deliveries() -> tuple[dict | None, str | None]:
    """What afkit's outbox has not delivered (``StateStore.undelivered``), for ``afkit status`` and ``afkit sla
    status``; None and why when the state database cannot be opened."""
    try:
        store = StateStore()
    except AfkitError as exc:
        return None, f"alert deliveries not shown: {exc}"
    try:
        return store.undelivered(), None
    except AfkitError as exc:
        return None, f"alert deliveries not shown: {exc}"
    finally:
        store.dispose()

