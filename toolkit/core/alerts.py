"""Alert lifecycle, pure: which notifications a new evaluation calls for, given the alerts already open.

Rules:

- **One alert per (SLA, breach episode).** The episode is the status's ``breach_key``, e.g. the deadline tick that
  was missed. The alert id is derived from both, so two watchers, or a watcher after a restart, compute the same id,
  and the state store's primary key refuses a second copy.
- **Escalation.** An at-risk alert whose SLA then turns late is escalated: a new notification in the same thread.
- **Reminders.** While an alert is still late or at risk, and not acknowledged, it is re-notified every
  ``renotify_after``.
- **Recovery.** When the SLA is fresh again, the open alert is resolved with a recovery message, posted as a reply in
  the alert's thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from toolkit.core.freshness import FreshnessStatus

DEFAULT_RENOTIFY_AFTER = timedelta(hours=1)
SEVERITY_RANK = {"at_risk": 1, "late": 2}


def alert_id(sla_key: str, breach_key: str) -> str:
    return hashlib.sha256(f"{sla_key}|{breach_key}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class OpenAlert:
    """An alert as the state store keeps it."""

    alert_id: str
    sla_key: str
    breach_key: str
    status: str  # at_risk | late  (the worst the alert has reached)
    opened_at: datetime
    last_notified_at: datetime | None
    acknowledged: bool = False


@dataclass(frozen=True)
class Notification:
    kind: str  # open | escalate | remind | recover
    alert_id: str
    sla_key: str
    breach_key: str
    status: FreshnessStatus


def plan_notifications(statuses: list[FreshnessStatus], open_alerts: list[OpenAlert], now: datetime,
                       renotify_after: timedelta = DEFAULT_RENOTIFY_AFTER) -> list[Notification]:
    by_sla = {a.sla_key: a for a in open_alerts}
    notes: list[Notification] = []
    for status in statuses:
        key = status.sla.key
        current = by_sla.get(key)
        if status.status in SEVERITY_RANK and status.breach_key:
            if current is None:
                notes.append(Notification("open", alert_id(key, status.breach_key), key, status.breach_key, status))
            elif SEVERITY_RANK[status.status] > SEVERITY_RANK.get(current.status, 0):
                notes.append(Notification("escalate", current.alert_id, key, current.breach_key, status))
            elif (not current.acknowledged and current.last_notified_at is not None
                  and now - current.last_notified_at >= renotify_after):
                notes.append(Notification("remind", current.alert_id, key, current.breach_key, status))
        elif status.status == "fresh" and current is not None:
            notes.append(Notification("recover", current.alert_id, key, current.breach_key, status))
    return notes
