"""The fields of an alert that every sink other than Slack's blocks gets: plain values, one shape for all alerts.

A notifier named in afkit.toml (``[alerts.notifiers.NAME]``) renders its templated arguments over these, as
``{{ afkit.title }}``, ``{{ afkit.owners | join(", ") }}`` …; the outbox keeps them with the message, so a sink added
later, or a retry, sends what the alert said when it was recorded. docs/alert-sinks.md lists them.
"""

from __future__ import annotations

from toolkit.core.alerts import Notification
from toolkit.core.cadence_impact import CadenceReport

CADENCE_KIND = "cadence"  # the ``kind`` of a cadence-change alert (SLA alerts: open | escalate | remind | recover)


def notification_fields(note: Notification, title: str, text: str, airflow_url: str | None = None) -> dict:
    """An SLA alert's fields (``title`` and ``text``: the message's, as Slack shows them without blocks)."""
    status, sla = note.status, note.status.sla
    last = status.last_event
    return {
        "alert_id": note.alert_id,
        "kind": note.kind,
        "title": title,
        "text": text,
        "status": status.status,
        "asset": sla.asset,
        "sla": sla.name,
        "severity": sla.severity,
        "owners": list(sla.owners),
        "cc": list(status.cc),
        "reason": status.reason,
        "expected": status.expected,
        "lag_seconds": status.lag.total_seconds() if status.lag is not None else None,
        "last_event_at": last.timestamp.isoformat() if last else None,
        "culprit": status.culprit,
        "cause": status.cause,
        "runbook": sla.runbook,
        "airflow_url": airflow_url,
    }


def cadence_fields(report: CadenceReport, alert_id: str, title: str, text: str,
                   airflow_url: str | None = None) -> dict:
    """A cadence change's fields: the asset, the change, and everyone to tell (the producer's and consumers' owners)."""
    change = report.change
    assert change is not None, "only a changed asset has an alert"
    consumers = [{"dag_id": c.dag_id, "owners": list(c.owners)} for c in report.consumers]
    return {
        "alert_id": alert_id,
        "kind": CADENCE_KIND,
        "title": title,
        "text": text,
        "status": change.kind,
        "asset": report.asset,
        "owners": list(dict.fromkeys([*report.owners, *(o for c in report.consumers for o in c.owners)])),
        "producer_owners": list(report.owners),
        "consumers": consumers,
        "before_seconds": change.before.total_seconds(),
        "after_seconds": change.after.total_seconds(),
        "ratio": change.ratio,
        "since": change.at.isoformat(),
        "reason": report.message,
        "airflow_url": airflow_url,
    }
