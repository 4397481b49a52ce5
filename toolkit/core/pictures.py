"""What the afkit page draws, pure: a freshness timeline per asset, a cadence sparkline, a backfill's progress over
time. Values in, values out, "now" (the window's end) a parameter; the page's JavaScript only draws these.

- **Freshness timeline** (:func:`timeline`): an asset's events in a window as ticks, and per SLA its deadlines in the
  window, its lag at the window's end and the windows in which it was breached (late). A breach is judged by the same
  :func:`toolkit.core.freshness.evaluate` the SLA board uses, at every instant its answer can change (an event, a
  deadline, a lag threshold passed), on the events known at that instant: the timeline never disagrees with what the
  board said then. The producer's runs are not known in the past, so the past is judged late or not (at risk needs
  the producer's state then); the lag thresholds of a max-lag SLA are drawn as they are.
- **Cadence sparkline** (:func:`sparkline`): the newest intervals on a log scale, newest on the right, and which of
  them is the first of the new regime: what ``afkit cadence show`` draws in the terminal.
- **Backfill progress** (:func:`backfill_progress`): runs done (succeeded or failed) over time, from the runs' end
  dates; it ends at the backfill's done count.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from toolkit.core.freshness import deadlines_between, evaluate
from toolkit.models import AssetEvent
from toolkit.sla import SLA

MAX_TIMELINE_EVENTS = 500  # newest events of one timeline's window drawn as ticks (the window starts at the oldest)
MAX_DEADLINES = 300  # deadlines judged per SLA and window (a 5-minute cron over a day); older ones are not judged
MAX_WINDOW = timedelta(days=7)
SPARKLINE_WIDTH = 60  # intervals drawn, as `afkit cadence show` draws them in the terminal
DONE_STATES = ("success", "failed")


# -- freshness timeline ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """A window in which the SLA was late: from ``start`` to ``end`` (``open``: still late at the window's end)."""

    start: datetime
    end: datetime
    open: bool = False


@dataclass(frozen=True)
class SlaTrack:
    """One SLA on an asset's timeline."""

    sla: SLA
    judged_from: datetime  # the window's start, or its oldest deadline judged when there were more than MAX_DEADLINES
    deadlines: tuple[datetime, ...]  # deadline SLAs: every deadline in the window judged, oldest first
    breaches: tuple[Breach, ...]
    status: str  # at the window's end, as evaluate() judges it without the producer's runs
    lag: timedelta | None  # at the window's end: since the newest event that counts
    lag_since: datetime | None  # that event's time


@dataclass(frozen=True)
class Timeline:
    asset: str
    start: datetime
    end: datetime
    events: tuple[AssetEvent, ...]  # the ticks: events in [start, end], oldest first
    tracks: tuple[SlaTrack, ...]
    events_cut: bool = False  # more events than MAX_TIMELINE_EVENTS: the window starts at the oldest one drawn


def timeline_window(end: datetime, start: datetime | None = None, hours: float = 24.0) -> tuple[datetime, datetime]:
    """The window a timeline is drawn for: ``start`` to ``end``, or the ``hours`` before ``end``; at most a week.

    Raises ValueError for a window that ends before it starts, longer than a week, or naive instants."""
    if end.tzinfo is None or (start is not None and start.tzinfo is None):
        raise ValueError("a timeline's window needs time zones (UTC)")
    if start is None:
        if not 0 < hours <= MAX_WINDOW.total_seconds() / 3600:
            raise ValueError(f"hours must be more than 0 and at most {MAX_WINDOW.days * 24}, not {hours:g}")
        start = end - timedelta(hours=hours)
    if start >= end:
        raise ValueError(f"the window must start before it ends ({start.isoformat()} is not before {end.isoformat()})")
    if end - start > MAX_WINDOW:
        raise ValueError(f"the window is at most {MAX_WINDOW.days} days long")
    return start, end


def _change_points(sla: SLA, start: datetime, end: datetime, events: Sequence[AssetEvent],
                   deadlines: Sequence[datetime], known_since: datetime | None) -> list[datetime]:
    """Every instant in [start, end) where the SLA's status can change: ``evaluate`` is constant in between."""
    points = {start, *deadlines}
    for event in events:
        points.add(event.timestamp)
        if sla.kind == "max_lag":
            points.update(event.timestamp + after for after in (sla.warn_after, sla.fail_after) if after)
    if sla.kind == "max_lag" and known_since is not None and sla.fail_after:
        points.add(known_since + sla.fail_after)
    return sorted(p for p in points if start <= p < end)


def _track(sla: SLA, start: datetime, end: datetime, events: Sequence[AssetEvent],
           known_since: datetime | None) -> SlaTrack:
    deadlines: list[datetime] = []
    judged_from = start
    if sla.kind == "deadline":
        deadlines, cut = deadlines_between(sla.cron, sla.timezone, start, end, MAX_DEADLINES)
        if cut:  # more deadlines than judged: the older part of the window is left unjudged
            judged_from = deadlines[0]
    times = [e.timestamp for e in events]

    def late_at(moment: datetime) -> bool:
        known = list(events[:bisect.bisect_right(times, moment)])
        return evaluate(sla, known, moment, None, known_since).status == "late"

    breaches: list[Breach] = []
    late_since: datetime | None = None
    for point in _change_points(sla, judged_from, end, events, deadlines, known_since):
        late = late_at(point)
        if late and late_since is None:
            late_since = point
        elif not late and late_since is not None:
            breaches.append(Breach(late_since, point))
            late_since = None
    if late_since is not None:
        breaches.append(Breach(late_since, end, open=True))
    final = evaluate(sla, list(events), end, None, known_since)
    lag_since = end - final.lag if final.lag is not None else None
    return SlaTrack(sla, judged_from, tuple(deadlines), tuple(breaches), final.status, final.lag, lag_since)


def timeline(asset: str, slas: Iterable[SLA], events: Iterable[AssetEvent], start: datetime, end: datetime,
             known_since: datetime | None = None, events_cut: bool = False) -> Timeline:
    """An asset's freshness timeline over [start, end].

    ``events`` are the asset's events up to ``end`` (any order): those in the window become ticks, and those before
    it say what was fresh when the window began (give at least ``freshness.EVENTS_PER_ASSET`` of them, as the board
    reads). ``known_since`` is when the asset appeared. ``events_cut``: the caller read only the newest events of the
    window, so its ``start`` is the oldest of them."""
    ordered = sorted((e for e in events if e.timestamp <= end), key=lambda e: e.timestamp)
    ticks = tuple(e for e in ordered if e.timestamp >= start)
    tracks = tuple(_track(s, start, end, ordered, known_since) for s in slas if s.asset == asset)
    return Timeline(asset, start, end, ticks, tracks, events_cut)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def timeline_to_dict(found: Timeline) -> dict:
    """The one JSON shape of a timeline (the plugin's ``/timelines``)."""
    return {
        "asset": found.asset,
        "start": found.start.isoformat(),
        "end": found.end.isoformat(),
        "events_cut": found.events_cut,
        "events": [{"timestamp": e.timestamp.isoformat(), "partition_key": e.partition_key,
                    "dag_id": e.source_dag_id, "run_id": e.source_run_id, "row_count": e.row_count,
                    "from_backfill": e.from_backfill} for e in found.events],
        "slas": [{
            "sla": t.sla.name,
            "kind": t.sla.kind,
            "judged_from": t.judged_from.isoformat(),
            "deadlines": [d.isoformat() for d in t.deadlines],
            "breaches": [{"start": b.start.isoformat(), "end": b.end.isoformat(), "open": b.open,
                          "seconds": (b.end - b.start).total_seconds()} for b in t.breaches],
            "status": t.status,
            "lag_seconds": _seconds(t.lag),
            "lag_since": _iso(t.lag_since),
            "warn_after_seconds": _seconds(t.sla.warn_after),
            "fail_after_seconds": _seconds(t.sla.fail_after),
        } for t in found.tracks],
    }


# -- cadence sparkline -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sparkline:
    """The newest intervals (seconds, oldest first) with their height on a log scale (0 lowest … 1 highest)."""

    intervals: tuple[float, ...]
    levels: tuple[float, ...]
    ends: tuple[datetime, ...]  # when each drawn interval ended (the event that closed it)
    offset: int  # index of the first drawn interval among all the report's intervals
    change_index: int | None  # the drawn interval that ends at the change's first event, if drawn
    change_before: bool = False  # the change happened before the oldest interval drawn


def _interval_ends(intervals: Sequence[float], last_event: datetime | None) -> list[datetime]:
    """When each interval ended: they run back from the last event."""
    if last_event is None:
        return []
    ends, end = [], last_event
    for gap in reversed(intervals):
        ends.append(end)
        end -= timedelta(seconds=gap)
    ends.reverse()
    return ends


def sparkline(intervals: Sequence[float], last_event: datetime | None, change_at: datetime | None = None,
              width: int = SPARKLINE_WIDTH) -> Sparkline:
    """The sparkline of a cadence report's intervals (``CadenceModel.intervals``, newest last, which end at
    ``last_event``): the newest ``width`` of them on a log scale, and the one ending at ``change_at``'s event."""
    ends = _interval_ends(intervals, last_event)
    offset = max(0, len(intervals) - width)
    drawn = tuple(float(v) for v in intervals[offset:])
    logs = [math.log(max(v, 1e-3)) for v in drawn]
    low, high = (min(logs), max(logs)) if logs else (0.0, 0.0)
    span = (high - low) or 1.0
    levels = tuple((v - low) / span for v in logs)
    change_index, before = None, False
    if change_at is not None and ends:
        nearest = min(range(len(ends)), key=lambda i: abs((ends[i] - change_at).total_seconds()))
        if nearest >= offset:
            change_index = nearest - offset
        else:
            before = True
    return Sparkline(drawn, levels, tuple(ends[offset:]), offset, change_index, before)


def sparkline_to_dict(line: Sparkline) -> dict:
    return {
        "intervals_seconds": list(line.intervals),
        "levels": [round(v, 4) for v in line.levels],
        "ends": [e.isoformat() for e in line.ends],
        "low_seconds": min(line.intervals) if line.intervals else None,
        "high_seconds": max(line.intervals) if line.intervals else None,
        "offset": line.offset,
        "change_index": line.change_index,
        "change_before_drawn": line.change_before,
    }


# -- backfill progress -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillRun:
    state: str | None
    start_date: datetime | None = None
    end_date: datetime | None = None


@dataclass(frozen=True)
class ProgressPoint:
    at: datetime
    done: int  # runs finished (succeeded or failed) by then
    failed: int


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    failed: int
    points: tuple[ProgressPoint, ...]  # a step line from (start, 0) to (until, done)


def backfill_progress(runs: Iterable[BackfillRun], created_at: datetime, until: datetime) -> Progress:
    """Runs done over time, from the backfill's creation to ``until`` (its completion, or now).

    A run counts as done when it ended, succeeded or failed; a finished run without an end date (a queued run failed
    by a cancel) counts at ``until``, and one that ended before the backfill was created (reprocessed, ended again
    later) at ``created_at``, so that the line always ends at the backfill's done count."""
    runs = list(runs)
    finished = sorted((min(max(r.end_date or until, created_at), until), r.state == "failed")
                      for r in runs if r.state in DONE_STATES)
    points = [ProgressPoint(created_at, 0, 0)]
    done = failed = 0
    for at, is_failure in finished:
        done, failed = done + 1, failed + is_failure
        if points[-1].at == at:
            points[-1] = ProgressPoint(at, done, failed)
        else:
            points.append(ProgressPoint(at, done, failed))
    if points[-1].at < until:
        points.append(ProgressPoint(until, done, failed))
    return Progress(len(runs), done, failed, tuple(points))


def progress_to_dict(progress: Progress) -> dict:
    return {"total": progress.total, "done": progress.done, "failed": progress.failed,
            "points": [{"at": p.at.isoformat(), "done": p.done, "failed": p.failed} for p in progress.points]}
