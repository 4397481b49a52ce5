"""The plugin's JSON API as the operator side reads it, pure: its version, and its boards back into the dataclasses.

The plugin computes the SLA board and the cadence reports from the metadata database and serves them in the one JSON
shape of each (``sla_board.board_to_dict``, ``cadence_impact.report_to_dict``); the services read them back here into
the same ``SLABoard`` and ``CadenceReport`` values the REST path builds, so every consumer (watcher, CLI, TUI) works on
one type whichever path answered. ``API_VERSION`` changes when a shape changes incompatibly: an operator-side afkit
that finds another version uses REST instead of misreading.

The SLA board and the cadence reports also come in a typed form (``?form=typed``, what the operator side asks for):
the dataclasses themselves as msgspec encodes them, decoded straight back into them with every field's type checked.
At 200,000 statuses that is about a quarter of the time of building the dict shape and reading it back, on both
sides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from toolkit.core.cadence import CadenceChange, CadenceModel
from toolkit.core.cadence_impact import CadenceReport, SeamImpact
from toolkit.core.freshness import FreshnessStatus
from toolkit.core.sla_board import SLABoard
from toolkit.core.throttle import OCCUPYING, PENDING, WAITING
from toolkit.models import BACKFILL_RUN_PREFIX, AssetEvent, Backfill, Pool, TaskInstance
from toolkit.sla import SLA, InvalidSLA

API_VERSION = 2  # 2: the typed forms
DICT_FORM, TYPED_FORM = "dict", "typed"  # the two forms of the SLA board and the cadence reports (``?form=``)


class UnreadableBoard(ValueError):
    """The plugin answered JSON that is not the shape of this API version."""


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def board_from_dict(data: dict) -> SLABoard:
    """``board_to_dict``'s inverse. Raises UnreadableBoard naming what is missing."""
    try:
        statuses = []
        for entry in data["slas"]:
            spec = entry["spec"]
            sla = SLA(asset=entry["asset"], name=entry["sla"], kind=entry["kind"], owners=tuple(entry["owners"]),
                      severity=entry["severity"], runbook=entry["runbook"], min_rows=spec["min_rows"],
                      cron=spec["cron"], timezone=spec["timezone"], expect=spec["expect"],
                      max_age=_seconds(spec["max_age_seconds"]), warn_after=_seconds(spec["warn_after_seconds"]),
                      fail_after=_seconds(spec["fail_after_seconds"]))
            last = entry["last_event"]
            event = None if last is None else AssetEvent(
                entry["asset"], datetime.fromisoformat(last["timestamp"]), last["partition_key"], last["dag_id"],
                last["run_id"], last["row_count"])
            statuses.append(FreshnessStatus(
                sla, entry["status"], entry["reason"], expected=entry["expected"], last_event=event,
                lag=_seconds(entry["lag_seconds"]), previous_deadline=_when(entry["previous_deadline"]),
                next_deadline=_when(entry["next_deadline"]), culprit=entry["culprit"],
                breach_key=entry["breach_key"], cause=entry["cause"], cc=tuple(entry["cc"])))
        invalid = tuple(InvalidSLA(i["asset"], i["sla"], i["reason"]) for i in data["invalid"])
        return SLABoard(datetime.fromisoformat(data["evaluated_at"]), tuple(statuses), invalid)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableBoard(f"the SLA board is not in the shape of API version {API_VERSION} "
                              f"({type(exc).__name__}: {exc})") from None


def board_from_typed_json(data: bytes) -> SLABoard:
    """The SLA board from its typed form (``?form=typed``). Raises UnreadableBoard naming what does not fit."""
    try:
        return msgspec.json.decode(data, type=SLABoard)
    except msgspec.DecodeError as exc:  # a ValidationError (wrong field, wrong type) is one too
        raise UnreadableBoard(f"the SLA board is not in the typed form of API version {API_VERSION} ({exc})") from None


def reports_from_typed_json(data: bytes) -> list[CadenceReport]:
    """The cadence reports from their typed form (``?form=typed``). Raises UnreadableBoard naming what does not fit."""
    try:
        return msgspec.json.decode(data, type=list[CadenceReport])
    except msgspec.DecodeError as exc:
        raise UnreadableBoard(f"the cadence reports are not in the typed form of API version {API_VERSION} "
                              f"({exc})") from None


def _change(data: dict | None, events: int) -> CadenceChange | None:
    if data is None:
        return None
    return CadenceChange(at=datetime.fromisoformat(data["at"]), before=timedelta(seconds=data["before_seconds"]),
                         after=timedelta(seconds=data["after_seconds"]), kind=data["kind"], ratio=data["ratio"],
                         index=data["index"], detected_after=data["detected_after"],
                         events_since=data["events_since"], confirmed=data["confirmed"])


def reports_from_dicts(data: list) -> list[CadenceReport]:
    """``report_to_dict``'s inverse, for each report. Raises UnreadableBoard naming what is missing."""
    try:
        reports = []
        for entry in data:
            change = _change(entry["change"], entry["events"])
            last = _when(entry["last_event"])
            model = CadenceModel(
                events=entry["events"], typical_interval=_seconds(entry["typical_interval_seconds"]),
                spread=entry["spread"], pattern=entry["pattern"], last_change=change,
                changes=tuple(_change(c, entry["events"]) for c in entry["changes"]),
                intervals=tuple(entry["intervals_seconds"] or ()), last_event=last,
                since_last_event=_seconds(entry["since_last_event_seconds"]))
            consumers = tuple(SeamImpact(
                dag_id=c["dag_id"], owners=tuple(c["owners"]), runs_per_day_before=c["runs_per_day_before"],
                runs_per_day_after=c["runs_per_day_after"], events_per_run_before=c["events_per_run_before"],
                events_per_run_after=c["events_per_run_after"], queued_events=c["queued_events"],
                duration_before=c["duration_seconds_before"], duration_after=c["duration_seconds_after"],
                slas_at_risk=tuple(c["slas_at_risk"]), produces=tuple(c["produces"])) for c in entry["consumers"])
            reports.append(CadenceReport(entry["asset"], tuple(entry["owners"]), model, consumers,
                                         entry["backfill_events_excluded"]))
        return reports
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableBoard(f"the cadence reports are not in the shape of API version {API_VERSION} "
                              f"({type(exc).__name__}: {exc})") from None


def occupancy_from_dict(data: dict) -> tuple[list[Pool], list[TaskInstance]]:
    """The plugin's slot usage (``plugin.operations_db.slot_usage``) as the pools and task instances the REST path
    lists: each pool with Airflow's own counts, and each group of task instances that hold or wait for slots (one
    state, DAG and kind of run) as one task instance carrying the group's slots — the governor and
    ``throttle.occupancy`` only ever sum slots. Raises UnreadableBoard naming what is missing."""
    try:
        by_pool: dict[str, dict[str, int]] = {}
        instances = []
        for group in data["slots"]:
            counts = by_pool.setdefault(group["pool"], {})
            counts[group["state"]] = counts.get(group["state"], 0) + int(group["slots"])
            if group["state"] in (*OCCUPYING, *WAITING, *PENDING):
                instances.append(TaskInstance(group["dag_id"], BACKFILL_RUN_PREFIX if group["backfill"] else "", "",
                                              group["state"], group["pool"], int(group["slots"])))
        pools = []
        for entry in data["pools"]:
            counts = by_pool.get(entry["pool"], {})
            running, queued = counts.get("running", 0), counts.get("queued", 0)
            deferred, include_deferred = counts.get("deferred", 0), bool(entry["include_deferred"])
            occupied = running + queued + (deferred if include_deferred else 0)
            slots = int(entry["slots"])
            pools.append(Pool(entry["pool"], slots, -1 if slots == -1 else slots - occupied, running, queued,
                              counts.get("scheduled", 0), deferred, include_deferred, entry["description"]))
        return pools, instances
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableBoard(f"the pool occupancy is not in the shape of API version {API_VERSION} "
                              f"({type(exc).__name__}: {exc})") from None


def carving_from_dict(data: dict) -> dict[str, str]:
    """The carved pools and their companions named in the plugin's slot usage (none from an older plugin)."""
    carving = data.get("carving", {})
    if not isinstance(carving, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in carving.items()):
        raise UnreadableBoard(f"the pool occupancy's carving is not in the shape of API version {API_VERSION}")
    return dict(carving)


def backfills_from_dicts(data: list) -> list[Backfill]:
    """The plugin's active backfills (``plugin.operations_db.active_backfills``) as the REST path lists them.
    Raises UnreadableBoard naming what is missing."""
    try:
        return [Backfill(int(b["id"]), b["dag_id"], datetime.fromisoformat(b["from_date"]),
                         datetime.fromisoformat(b["to_date"]), bool(b["is_paused"]), int(b["max_active_runs"]),
                         b["reprocess_behavior"], datetime.fromisoformat(b["created_at"]), None,
                         dict(b["dag_run_conf"]))
                for b in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableBoard(f"the active backfills are not in the shape of API version {API_VERSION} "
                              f"({type(exc).__name__}: {exc})") from None
