"""The SLA board: every status of one evaluation, in the one JSON shape the CLI, the plugin and the TUI share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from toolkit.core.freshness import FreshnessStatus
from toolkit.sla import InvalidSLA

ORDER = {"late": 0, "at_risk": 1, "unknown": 2, "fresh": 3}


@dataclass(frozen=True)
class SLABoard:
    evaluated_at: datetime
    statuses: tuple[FreshnessStatus, ...]
    invalid: tuple[InvalidSLA, ...]
    # How it was read (plugin | rest) and why not through the plugin: not part of the board's value.
    source: str = field(default="rest", compare=False)
    source_note: str | None = field(default=None, compare=False)

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.statuses)


def sorted_statuses(statuses: list[FreshnessStatus]) -> tuple[FreshnessStatus, ...]:
    """Worst first, then by SLA, so the board reads top-down by urgency."""
    return tuple(sorted(statuses, key=lambda s: (ORDER[s.status], s.sla.key)))


def board_to_dict(board: SLABoard) -> dict:
    return {
        "evaluated_at": board.evaluated_at.isoformat(),
        "counts": {s: board.count(s) for s in ("fresh", "at_risk", "late", "unknown")},
        "slas": [
            {
                "asset": s.sla.asset,
                "sla": s.sla.name,
                "kind": s.sla.kind,
                "status": s.status,
                "reason": s.reason,
                "expected": s.expected,
                "last_event": None if s.last_event is None else {
                    "timestamp": s.last_event.timestamp.isoformat(),
                    "partition_key": s.last_event.partition_key,
                    "dag_id": s.last_event.source_dag_id,
                    "run_id": s.last_event.source_run_id,
                    "row_count": s.last_event.row_count,
                },
                "lag_seconds": s.lag.total_seconds() if s.lag is not None else None,
                "previous_deadline": s.previous_deadline.isoformat() if s.previous_deadline else None,
                "next_deadline": s.next_deadline.isoformat() if s.next_deadline else None,
                "culprit": s.culprit,
                "owners": list(s.sla.owners),
                "severity": s.sla.severity,
                "runbook": s.sla.runbook,
                "breach_key": s.breach_key,
                "cause": s.cause,
                "cc": list(s.cc),
                "spec": _spec(s.sla),
            }
            for s in board.statuses
        ],
        "invalid": [{"asset": i.asset, "sla": i.name, "reason": i.reason} for i in board.invalid],
    }


def _spec(sla) -> dict:
    """The rest of the SLA's declaration, so that a board read back from JSON judges and alerts the same."""
    def seconds(value):
        return None if value is None else value.total_seconds()

    return {"min_rows": sla.min_rows, "cron": sla.cron, "timezone": sla.timezone, "expect": sla.expect,
            "max_age_seconds": seconds(sla.max_age), "warn_after_seconds": seconds(sla.warn_after),
            "fail_after_seconds": seconds(sla.fail_after)}


def board_with_alerts(board: SLABoard, alerts: dict[str, dict], note: str | None) -> dict:
    """``--json``: the board, each SLA with the id of its open alert (null when none) and who acknowledged it."""
    data = board_to_dict(board)
    data["source"], data["source_note"] = board.source, board.source_note  # which path answered, and why not the plugin
    for entry, status in zip(data["slas"], board.statuses):
        alert = alerts.get(status.sla.key)
        entry["alert_id"] = alert["alert_id"] if alert else None
        entry["alert_acknowledged_by"] = alert.get("acknowledged_by") if alert else None
    if note:
        data["alerts_note"] = note
    return data
