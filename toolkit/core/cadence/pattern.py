"""The pattern of a regime: regular, business-hours (long gaps that are nights or weekends), irregular, or unknown.

Its own module because it is a separate question from change detection (calendar arithmetic on times of day and
weekdays), asked of the current regime once the scan is done, for one series or many rows.
"""

from __future__ import annotations

import math

import numpy as np

from toolkit.core.cadence.stats import _median, _robust_spread
from toolkit.core.cadence.tuning import CALENDAR_GAP, IRREGULAR_SPREAD, MIN_REFERENCE


def _pattern(seconds: np.ndarray, recent_gaps: np.ndarray) -> str:
    """regular, business-hours (the long gaps are nights or weekends), irregular, or unknown (too few events)."""
    if len(recent_gaps) < MIN_REFERENCE:
        return "unknown"
    if _calendar_gaps(seconds):
        return "business-hours"
    return "irregular" if _robust_spread(np.log(recent_gaps)) >= IRREGULAR_SPREAD else "regular"


def _calendar_rows(seconds: np.ndarray, gaps: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """``_calendar_gaps`` of each row of series of one length (``typical``: the median of its gaps), at once.

    Counts are exact; the concentration of the times of day (a mean, summed here in another order) decides only
    clear of its threshold: a row within a hair of it asks ``_calendar_gaps``.
    """
    long = gaps >= CALENDAR_GAP * typical[:, None]
    count = np.count_nonzero(long, axis=1)
    span_days = (seconds[:, -1] - seconds[:, 0]) / 86400.0
    possible = (count >= 2) & (span_days >= 2)
    daily = possible & (typical < 20 * 3600) & (count >= 0.5 * span_days * 5 / 7)
    weekly = possible & (typical >= 20 * 3600) & (typical <= 28 * 3600) & (count >= 0.6 * span_days / 7)
    calendar = np.zeros(len(seconds), dtype=bool)
    rows = np.flatnonzero(daily)
    if len(rows):
        angle = (seconds[rows, 1:] % 86400.0) / 86400.0 * 2 * math.pi  # when each gap ended
        resumed = long[rows]
        concentration = np.hypot(np.where(resumed, np.cos(angle), 0.0).sum(axis=1) / count[rows],
                                 np.where(resumed, np.sin(angle), 0.0).sum(axis=1) / count[rows])
        calendar[rows] = concentration >= 0.9
        for row in rows[np.abs(concentration - 0.9) < 1e-9].tolist():
            calendar[row] = _calendar_gaps(seconds[row])
    rows = np.flatnonzero(weekly)
    if len(rows):
        weekday = ((seconds[rows, 1:] // 86400.0).astype(np.int64) + 3) % 7
        resumed = long[rows]
        on_busiest = np.max([np.count_nonzero(resumed & (weekday == day), axis=1) for day in range(7)], axis=0)
        calendar[rows] = on_busiest >= 0.8 * count[rows]
    return calendar


def _calendar_gaps(seconds: np.ndarray) -> bool:
    """The long gaps recur: nearly every day and ending at the same time of day (runs only in business hours),
    or about weekly and ending on the same weekday (runs only on weekdays).

    Time of day and weekday are taken in UTC: a schedule in any one time zone keeps them, give or take the hour a
    daylight-saving change moves them.
    """
    gaps = np.diff(seconds)
    typical = _median(gaps)
    long = np.flatnonzero(gaps >= CALENDAR_GAP * typical)
    span_days = (seconds[-1] - seconds[0]) / 86400.0
    if len(long) < 2 or span_days < 2:
        return False
    resumed = seconds[long + 1]
    if typical < 20 * 3600:
        angle = (resumed % 86400.0) / 86400.0 * 2 * math.pi
        concentration = math.hypot(float(np.cos(angle).mean()), float(np.sin(angle).mean()))
        return concentration >= 0.9 and len(long) >= 0.5 * span_days * 5 / 7
    if typical <= 28 * 3600:
        weekday = ((resumed // 86400.0).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
        return np.bincount(weekday, minlength=7).max() >= 0.8 * len(long) and len(long) >= 0.6 * span_days / 7
    return False
