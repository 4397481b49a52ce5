"""From the scan's detections to what callers see: ``CadenceChange`` values (with the startup burst dropped and the
kind settled) and the ``CadenceModel`` of one cleaned series.

The seam between the internal scan state and the public dataclasses: both ``api`` (one series) and ``batch``
(the unsure rows of many) build models through ``_model`` here, so they cannot drift apart.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from toolkit.core.cadence.model import CadenceChange, CadenceModel
from toolkit.core.cadence.pattern import _pattern
from toolkit.core.cadence.scan import _Detection, _Scanner
from toolkit.core.cadence.series import _Series
from toolkit.core.cadence.stats import _median, _robust_spread, _sorted_median, _sorted_quantile
from toolkit.core.cadence.tuning import (
    IRREGULAR_SPREAD, IRREGULAR_WINDOW, MILD_SIDE, MIN_REFERENCE, MIN_REFERENCE_IRREGULAR, RECENT_INTERVALS, STARTUP_BURST_RATIO,
    STARTUP_BURST_SPAN, STEP_RUN,
)
from toolkit.core.cadence.windows import _ScanStart


def _model(series: _Series, now: datetime | None, start: _ScanStart | None = None) -> CadenceModel:
    """The model of one cleaned series: the scan, then the current regime's statistics."""
    changes, regime_start = _analyse(series, start)
    gaps = np.diff(series.seconds)
    recent = gaps[regime_start:][-RECENT_INTERVALS:]
    ordered = np.sort(recent)[None, :]
    typical = float(_sorted_median(ordered)[0]) if len(recent) else None
    spread = None
    if len(recent) >= 4 and typical:
        q25, q75 = (_sorted_quantile(ordered, quantile) for quantile in (0.25, 0.75))
        spread = float((q75[0] - q25[0]) / typical)
    last_event = series.utc_datetime(len(series.seconds) - 1) if len(series.seconds) else None
    return CadenceModel(
        events=len(series.seconds),
        typical_interval=timedelta(seconds=typical) if typical is not None else None,
        spread=spread,
        pattern=_pattern(series.seconds[regime_start:], recent),
        last_change=changes[-1] if changes else None,
        changes=tuple(changes),
        intervals=tuple(gaps[-RECENT_INTERVALS:].tolist()),
        last_event=last_event,
        since_last_event=now - last_event if now is not None and last_event is not None else None,
    )


def _analyse(series: _Series, start: _ScanStart | None = None) -> tuple[list[CadenceChange], int]:
    """The changes, and the first interval of the current regime (``start``: the scanner's start, if already
    computed with other series')."""
    gaps = np.diff(series.seconds)
    if len(gaps) < MIN_REFERENCE + IRREGULAR_WINDOW:
        return [], 0
    scanner = _Scanner(gaps, start)
    detections, regime_start = _without_startup_burst(scanner.run(), gaps)
    detections = _that_moved(detections, scanner)
    changes: list[CadenceChange] = []
    for number, detection in enumerate(detections):
        end = detections[number + 1].start if number + 1 < len(detections) else len(gaps)
        new_logs = _new_logs(scanner, detection.start, end)
        after = _median(new_logs)
        event = detection.start + 1
        changes.append(
            CadenceChange(
                at=series.utc_datetime(event),
                before=timedelta(seconds=math.exp(detection.old_baseline)),
                after=timedelta(seconds=math.exp(after)),
                kind=_kind(detection, new_logs),  # (never a step that did not move: see _that_moved)
                ratio=math.exp(after - detection.old_baseline),
                index=int(series.unique_index[event]),
                detected_after=detection.detected_at - detection.start + 1,
                events_since=end - detection.start,
                confirmed=detection is not scanner.pending,
            )
        )
    return changes, detections[-1].start if detections else regime_start


def _new_logs(scanner: _Scanner, start: int, end: int) -> np.ndarray:
    """The new regime's log-intervals, without those held out (bursts), unless that leaves none."""
    segment = scanner.logs[start:end]
    kept = segment[~scanner.excluded[start:end]]
    return kept if len(kept) else segment


def _that_moved(detections: list[_Detection], scanner: _Scanner) -> list[_Detection]:
    """Drop a change that comes out faster or slower (as detected, or irregular arrivals that turned out not to be
    dispersed) while its new regime sits at the old level: a few late, missed or duplicated runs in a row made it,
    not a new period. A real step moves the level at least as far as a mild one."""
    kept: list[_Detection] = []
    for number, detection in enumerate(detections):
        end = detections[number + 1].start if number + 1 < len(detections) else len(scanner.logs)
        new_logs = _new_logs(scanner, detection.start, end)
        shift = _median(new_logs) - detection.old_baseline
        kind = _kind(detection, new_logs)
        if kind in ("faster", "slower") and abs(shift) < MILD_SIDE:
            continue
        # Irregular arrivals replace a schedule only once there was one: a series' first few intervals that happen
        # to look scheduled are no schedule (the scan's own irregular verdict asks as much of the baseline).
        if kind == "irregular" and detection.start - detection.old_regime_start < MIN_REFERENCE_IRREGULAR:
            continue
        kept.append(detection)
    return kept


def _without_startup_burst(detections: list[_Detection], gaps: np.ndarray) -> tuple[list[_Detection], int]:
    """Drop a first "slower" change that ends an opening burst (a catch-up backfill), and say where it ended.

    The burst runs 15x faster than the schedule that takes over, and lasts less than 3 of its intervals.
    """
    if detections and detections[0].kind == "slower":
        first = detections[0]
        opening = gaps[: first.start]
        schedule = _median(gaps[first.start : first.start + MIN_REFERENCE])
        if opening.sum() < STARTUP_BURST_SPAN * schedule and _median(opening) * STARTUP_BURST_RATIO < schedule:
            return detections[1:], first.start
    return detections, 0


def _kind(detection: _Detection, new_logs: np.ndarray) -> str:
    """Irregular if the new regime is dispersed and the old one was not; otherwise as detected, by direction."""
    if len(new_logs) < STEP_RUN or detection.kind == "regular":
        return detection.kind
    new_spread = _robust_spread(new_logs)
    if new_spread >= IRREGULAR_SPREAD and detection.old_spread < IRREGULAR_SPREAD:
        return "irregular"
    if detection.kind == "irregular" and new_spread < IRREGULAR_SPREAD:
        return "faster" if _median(new_logs) < detection.old_baseline else "slower"
    return detection.kind
