"""Cadence-change detection, pure: asset-event timestamps in, regime changes and a per-asset model out.

An asset changes cadence when the typical interval between its events moves persistently by about 2x or more
(faster or slower), when a schedule turns into irregular, event-driven arrivals, or when such arrivals turn into a
schedule. Operations noise is not a change: jitter, missed runs (a gap that is a whole multiple of the interval),
retries (a near-duplicate event just after the real one), backfill bursts and outages followed by the usual cadence,
slow drift, business-hours or weekday-only schedules and daylight-saving shifts.

How it works, on log-intervals (a 2x change is the same distance whatever the cadence):

1. Sort, drop exact duplicates, and drop retries: runs of at most 3 intervals shorter than 5% of the median of
   the previous ones.
2. Scan the intervals once. The current regime's baseline is the median and IQR of its last 24 clean intervals
   before the tested window (at least 8); an interval is out of band beyond 1.5x (wider for noisy regimes).
3. Verdicts on the last few intervals:
   - faster / slower: the last 4 all out of band on one side, their median moved by 1.8x or more. Isolated
     outliers never make 4 in a row, so missed runs, outages and the overnight or weekend gaps of business-hours
     schedules stay quiet. A faster run must also last half a baseline interval: a burst of re-runs seconds apart
     is held out of the baseline instead, until it proves to be a regime;
   - irregular: 4 of the last 6 out of band in different directions or sizes (at most two whole multiples excused
     as missed runs), or at most 2 in band with both short and long ones; a schedule's gaps are only long, a
     burst's intervals only short. Random arrivals missed there are caught when they have made the baseline
     itself dispersed, by judging everything since against the schedule of a little earlier;
   - regular: random arrivals (dispersed, with short intervals too) followed by 10 intervals within 1.6x of each
     other, or by a baseline that has become a schedule.
4. Place the change at its first event: for a step, where the intervals start to be nearer the new level than
   the old; for random arrivals or a new schedule, at the maximum-likelihood split between a schedule (normal
   jitter plus a few outliers) and exponential intervals. Not where it was detected.
5. A young change (under 8 intervals of the new kind, or under 4 old intervals in time) is retracted when the old
   cadence is back for 4 intervals in a row (6 for irregular arrivals, which fall in band by chance): it was a
   burst or a pause, and its intervals stay out of every baseline. A series that opens with a burst far faster
   than the schedule that follows (a catch-up backfill) has no change either.

Online use is the same call on a growing series: a 2x-10x step is reported 4-5 events after it happened.
Every window is first tested vectorised against rolling statistics; the Python loop visits only flagged windows
and the few dozen intervals after each change or burst, so 10,000 events take 10-25 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

UTC = timezone.utc

# Input cleaning
RETRY_FRACTION = 0.05  # an interval under this fraction of the local typical one ends with a retry ...
RETRY_CONTEXT = 9  # ... "local typical" being the median of this many previous intervals ...
MAX_RETRY_RUN = 3  # ... unless more follow: a longer run of tiny intervals is a burst, for the scan to judge

# Baseline and band
MIN_REFERENCE = 8  # intervals needed before a regime's baseline is trusted
REFERENCE_SIZE = 24  # the baseline looks at this many recent intervals (so it follows slow drift)
LONG_REFERENCE_SIZE = 96  # ... and this many to tell whether a regime has been random all along
IQR_TO_SIGMA = 1.349
LOG_BAND = math.log(1.5)  # an interval at least this far (in log) from the baseline is out of band ...
SPREAD_BAND = 3.0  # ... or this many robust standard deviations, in a noisy regime
MULTIPLE_TOLERANCE = 0.15  # a gap within 15% of k x the interval (k >= 2) is k - 1 missed runs

# Steps
STEP_RUN = 4  # consecutive out-of-band intervals that make a step ...
LOG_STEP = math.log(1.8)  # ... whose median moved at least this far
FAST_MIN_SPAN = 0.5  # a faster run must last this many old intervals (a burst of re-runs lasts much less)

# Irregular arrivals
IRREGULAR_WINDOW = 6  # intervals judged at once
IRREGULAR_MIN_OUT = 4  # out of band, not one step ...
LOG_IRREGULAR_RANGE = math.log(2.5)  # ... (mixed directions, or sizes this far apart)
EXCUSED_MULTIPLES = 2  # missed runs excused per window
MAX_IN_BAND_IRREGULAR = 2  # or: at most this many in band, with short and long ones
IRREGULAR_MIN_SPAN = 1.0  # the window lasts at least one old interval (not a burst)
MIN_REFERENCE_IRREGULAR = 16  # a short schedule-like stretch of random arrivals must not pass for a schedule
SCHEDULE_SPREAD = 0.35  # robust log-sd under which a regime is a schedule (+-20% jitter gives ~0.15) ...
IRREGULAR_SPREAD = 0.5  # ... and above which it is irregular (random arrivals: ~1.2)
RANDOM_SHORT_SHARE = 0.15  # random arrivals have ~37% of intervals under median / 1.5; schedules none
DRIFT_LAG = 18  # how far back the schedule (or the random arrivals) is looked for, once the baseline turned
DRIFT_MIN_OUT = 10  # of the DRIFT_LAG + 6 intervals since, out of band ...
DRIFT_MIN_FAST = 3  # ... and short
DRIFT_ON_SCHEDULE = 0.7  # share of the intervals since that must fit a new schedule

# New schedules
SCHEDULE_RUN = 10  # intervals in a row ...
LOG_TIGHT = math.log(1.6)  # ... within this factor of each other ...
SCHEDULE_MISSED_RUNS = 1  # ... once this many missed runs are folded back

# Locating a change
LOCATE_LOOKBACK = 24  # intervals searched back for the start of irregular arrivals
LOCATE_BEFORE_RUN = 8  # a step may have begun this many intervals before its out-of-band run
LOCATE_CAP = math.log(8)  # one interval's vote is capped, so an outage does not decide
MIN_SIGMA = 0.05  # jitter assumed at least (5%) for a schedule's likelihood ...
OUTLIER_SHARE = 0.05  # ... whose intervals include this share of missed runs and outages ...
OUTLIER_RANGE = 8.0  # ... spread over this many log units
IRREGULAR_MIN_SUFFIX = 3  # random arrivals last at least this many intervals

# Young changes
RETRACT_RUN = 4  # intervals in a row back in the old band that retract a young change
RETRACT_RUN_IRREGULAR = 6  # (random arrivals fall in band by chance)
YOUNG_COUNT = 8  # a change stays retractable until its regime has this many intervals of the new kind ...
YOUNG_SPAN = 4.0  # ... lasting this many old intervals in all
STARTUP_BURST_RATIO = 15.0  # an opening burst runs this much faster than the schedule that follows ...
STARTUP_BURST_SPAN = 3.0  # ... and lasts less than this many of its intervals

# Model
RECENT_INTERVALS = 200
CALENDAR_GAP = 2.5  # a gap this many typical intervals long may be a night or a weekend

FIRST_WINDOW_END = REFERENCE_SIZE + IRREGULAR_WINDOW - 1  # first interval whose rolling baseline is complete
NEVER = 1 << 62


@dataclass(frozen=True)
class CadenceChange:
    """A persistent change of cadence; ``at`` is the first event of the new regime."""

    at: datetime  # UTC
    before: timedelta  # typical (median) interval of the old regime
    after: timedelta  # typical interval of the new regime, so far
    kind: str  # "faster" | "slower" | "irregular" (random arrivals) | "regular" (random arrivals became a schedule)
    ratio: float  # after / before
    index: int  # position of ``at`` among the sorted timestamps without exact duplicates
    detected_after: int  # events of the new regime it took to detect the change
    events_since: int  # events of the new regime seen (up to the next change)
    confirmed: bool  # False while the new regime may still turn out to be a burst or a pause


@dataclass(frozen=True)
class CadenceModel:
    """What an asset's event history says about its cadence."""

    events: int  # events after dropping duplicates and retries
    typical_interval: timedelta | None  # median interval of the current regime
    spread: float | None  # IQR / median of the current regime's intervals
    pattern: str  # "regular" | "business-hours" | "irregular" | "unknown" (too few events)
    last_change: CadenceChange | None
    changes: tuple[CadenceChange, ...]
    intervals: tuple[float, ...]  # seconds between the most recent events (at most 200), oldest first
    last_event: datetime | None = None  # UTC
    since_last_event: timedelta | None = None  # now - last event, when ``now`` was given


# ----------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------


def detect_changes(timestamps: Iterable[datetime]) -> list[CadenceChange]:
    """Persistent cadence changes in a series of timezone-aware event timestamps (any order), oldest first.

    Raises ValueError for naive datetimes or values that are not datetimes. Fewer than 15 events: no change.
    """
    changes, _ = _analyse(_prepare(timestamps))
    return changes


def describe(timestamps: Iterable[datetime], *, now: datetime | None = None) -> CadenceModel:
    """Cadence model of one asset: its current regime, pattern, changes and recent intervals."""
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise ValueError(f"now must be timezone-aware; {now.isoformat()} is naive")
    series = _prepare(timestamps)
    changes, regime_start = _analyse(series)
    gaps = np.diff(series.seconds)
    recent = gaps[regime_start:][-RECENT_INTERVALS:]
    typical = float(np.median(recent)) if len(recent) else None
    spread = None
    if len(recent) >= 4 and typical:
        q25, q75 = np.quantile(recent, [0.25, 0.75])
        spread = float((q75 - q25) / typical)
    last_event = series.utc_datetime(len(series.seconds) - 1) if len(series.seconds) else None
    return CadenceModel(
        events=len(series.seconds),
        typical_interval=timedelta(seconds=typical) if typical is not None else None,
        spread=spread,
        pattern=_pattern(series.seconds[regime_start:], recent),
        last_change=changes[-1] if changes else None,
        changes=tuple(changes),
        intervals=tuple(float(gap) for gap in gaps[-RECENT_INTERVALS:]),
        last_event=last_event,
        since_last_event=now - last_event if now is not None and last_event is not None else None,
    )


def human_interval(interval: timedelta) -> str:
    """Short human form of an interval, in its largest whole unit: "45 s", "5 min", "1.5 h", "1 d"."""
    seconds = interval.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{sign}{_amount(seconds / size)} {unit}"
    return f"{sign}{_amount(seconds)} s"


def _rounded(value: float) -> float:
    return round(value, 1) if value < 10 else float(round(value))


def _amount(value: float) -> str:
    text = f"{_rounded(value):.1f}" if value < 10 else f"{round(value):d}"
    return text.removesuffix(".0")


# ----------------------------------------------------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """Cleaned timestamps as sorted UTC seconds, with the way back to the caller's values."""

    seconds: np.ndarray  # sorted, no duplicates, no retries
    unique_index: np.ndarray  # position of each event among the sorted timestamps without exact duplicates
    source_index: np.ndarray  # position of each event in the caller's sequence
    source: Sequence[datetime]

    def utc_datetime(self, event: int) -> datetime:
        """The event's timestamp as a UTC datetime (converted on demand: most never are)."""
        value = self.source[int(self.source_index[event])]
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        return value.astimezone(UTC)


def _to_utc_seconds(timestamps: Iterable[datetime]) -> tuple[np.ndarray, Sequence[datetime]]:
    """Epoch seconds in input order, and the values as a sequence; naive datetimes are refused (no instant)."""
    if isinstance(timestamps, (pd.Series, pd.DatetimeIndex)) and isinstance(timestamps.dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(timestamps)
        if index.hasnans:
            raise ValueError("timestamps must be timezone-aware datetimes, got NaT")
        return (index.as_unit("us").asi8 / 1e6), index  # as datetime.timestamp() computes it
    values = list(timestamps)
    try:
        naive = [value for value in values if value.utcoffset() is None]
        seconds = np.array([value.timestamp() for value in values], dtype=float)
    except (AttributeError, TypeError, ValueError):
        strange = next((value for value in values if not isinstance(value, datetime) or value is pd.NaT), None)
        raise ValueError(
            f"timestamps must be timezone-aware datetimes, got {type(strange).__name__}: {strange!r}"
        ) from None
    if naive:
        raise ValueError(
            f"timestamps must be timezone-aware datetimes; {naive[0].isoformat()} is naive ({len(naive)} of "
            f"{len(values)} have no time zone): attach theirs, e.g. .replace(tzinfo=timezone.utc)"
        )
    return seconds, values


def _prepare(timestamps: Iterable[datetime]) -> _Series:
    """Sort, drop exact duplicates and retries."""
    seconds, source = _to_utc_seconds(timestamps)
    order = np.argsort(seconds, kind="stable")
    ordered = seconds[order]
    distinct = np.ones(len(ordered), dtype=bool)
    distinct[1:] = np.diff(ordered) > 0
    unique_seconds = ordered[distinct]
    kept = np.flatnonzero(_not_retries(unique_seconds))
    return _Series(seconds=unique_seconds[kept], unique_index=kept, source_index=order[distinct][kept], source=source)


def _not_retries(seconds: np.ndarray) -> np.ndarray:
    """Mask of events to keep: the events that end a run of at most 3 tiny intervals are retries.

    Tiny means under 5% of the median of the previous intervals (of the next ones, for the very first interval:
    a retry of the first event). Longer runs are kept: a burst (or a much faster
    regime), which the scan judges by whether it lasts. A short tiny run at the very end is dropped too: if it
    grows into a burst or a new regime, it is kept from its fourth interval on.
    """
    keep = np.ones(len(seconds), dtype=bool)
    if len(seconds) < 4:
        return keep
    gaps = np.diff(seconds)
    local = np.zeros(len(gaps))  # median of the previous RETRY_CONTEXT intervals (the next 3 for the first)
    local[0] = np.median(gaps[1:4])
    for position in range(1, min(RETRY_CONTEXT, len(gaps))):
        local[position] = np.median(gaps[:position])
    if len(gaps) > RETRY_CONTEXT:
        local[RETRY_CONTEXT:] = _rolling_quantiles(gaps[:-1], RETRY_CONTEXT, (0.5,))[0]
    tiny = gaps < RETRY_FRACTION * local
    if not tiny.any():
        return keep
    edges = np.flatnonzero(np.diff(np.concatenate(([0], tiny.astype(np.int8), [0]))))
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start <= MAX_RETRY_RUN:
            keep[start + 1 : end + 1] = False
    return keep


# ----------------------------------------------------------------------------------------------------------------
# Scan
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class _Detection:
    """A change found by the scan. Interval i separates events i and i + 1."""

    start: int  # first interval of the new regime
    kind: str
    detected_at: int  # last interval seen when it was detected
    old_baseline: float  # log-interval
    old_spread: float
    old_regime_start: int
    old_regime_kind: str
    resolves_at: int = NEVER  # interval at which the young change is retracted or confirmed
    resolution: str = "confirm"


class _Scanner:
    """One pass over the log-intervals, holding the current regime and a young change that may be retracted."""

    def __init__(self, gaps: np.ndarray) -> None:
        self.gaps = gaps
        self.logs = np.log(gaps)
        self.count = len(gaps)
        self.excluded = np.zeros(self.count, dtype=bool)  # bursts: never part of a baseline
        self.detections: list[_Detection] = []
        self.regime_start = 0
        self.regime_kind = "initial"  # how the current regime began (random arrivals cannot turn irregular)
        self.clean_start = 0  # from here + FIRST_WINDOW_END on, the rolling statistics are the regime's own
        self.pending: _Detection | None = None
        self.resume_at = 0  # the next interval worth testing, after a burst held out
        self.explicit_at, self.explicit_spread = -1, math.nan  # the last baseline computed outside the fast path
        self._precompute()

    def _precompute(self) -> None:
        """Rolling baseline and spread, and the windows worth a look, as if the series were one clean regime."""
        self.rolling_baseline = np.full(self.count, np.nan)
        self.rolling_spread = np.full(self.count, np.nan)
        flagged = np.zeros(self.count, dtype=bool)
        if self.count > FIRST_WINDOW_END:
            q25, median, q75 = _rolling_quantiles(self.logs[:-IRREGULAR_WINDOW], REFERENCE_SIZE, (0.25, 0.5, 0.75))
            self.rolling_baseline[FIRST_WINDOW_END:] = median
            self.rolling_spread[FIRST_WINDOW_END:] = (q75 - q25) / IQR_TO_SIGMA
            windows = sliding_window_view(self.logs, IRREGULAR_WINDOW)[FIRST_WINDOW_END - IRREGULAR_WINDOW + 1 :]
            spread = self.rolling_spread[FIRST_WINDOW_END:]
            previous = self.rolling_spread[FIRST_WINDOW_END - 1 : -1]
            flagged[FIRST_WINDOW_END:] = (
                np.logical_or.reduce(_verdicts(windows - median[:, None], _band(spread)[:, None]))
                | ((spread >= IRREGULAR_SPREAD) & (previous < IRREGULAR_SPREAD))  # see _drifted_irregular
                | ((spread < SCHEDULE_SPREAD) & (previous >= SCHEDULE_SPREAD))  # see _drifted_regular
            )
            noisy = FIRST_WINDOW_END + np.flatnonzero(spread >= SCHEDULE_SPREAD)
            flagged[noisy[self._schedule_windows(noisy)]] = True  # see _scheduled
        self.flagged = np.flatnonzero(flagged)

    def _schedule_windows(self, ends: np.ndarray) -> np.ndarray:
        """For each interval in ``ends``: the SCHEDULE_RUN intervals ending there look like one schedule."""
        windows = sliding_window_view(self.logs, SCHEDULE_RUN)[ends - SCHEDULE_RUN + 1]
        ordered = np.sort(windows, axis=1)
        # Necessary, and cheap: all but the longest (maybe a missed run) within the tight range.
        possible = ordered[:, -2] - ordered[:, 0] <= LOG_TIGHT
        tight = np.zeros(len(ends), dtype=bool)
        tight[possible] = _schedule_like(windows[possible])
        return tight

    def run(self) -> list[_Detection]:
        i = MIN_REFERENCE + IRREGULAR_WINDOW - 1
        while i < self.count:
            pending = self.pending
            if pending is not None and i == pending.resolves_at:
                self.pending = None
                if pending.resolution == "retract":
                    self._retract(pending, i - _retract_run(pending) + 1)
                    i += 1
                    continue
            if i - FIRST_WINDOW_END >= self.clean_start:  # the rolling statistics hold: jump to the next flag
                following = np.searchsorted(self.flagged, i)
                flag = int(self.flagged[following]) if following < len(self.flagged) else self.count
                if self.pending is not None and self.pending.resolves_at <= flag:
                    i = self.pending.resolves_at
                    continue
                if flag >= self.count:
                    break
                i = flag
                reference = float(self.rolling_baseline[i]), float(self.rolling_spread[i]), REFERENCE_SIZE
                previous_spread = float(self.rolling_spread[i - 1])
            else:
                previous_spread = self.explicit_spread if self.explicit_at == i - 1 else math.nan
                reference = self._reference(i)
                if reference is None:
                    i += 1
                    continue
                self.explicit_at, self.explicit_spread = i, reference[1]
            detection = self._test(i, *reference, previous_spread)
            if detection is not None and self.pending is not None:
                detection = self._after_young_change(detection, i)
            if detection is not None:
                self._start_regime(detection)
            i = max(i + 1, self.resume_at)
        return self.detections

    def _reference(self, i: int) -> tuple[float, float, int] | None:
        """Baseline (median), robust spread and size of the regime's last clean intervals before the window."""
        end = i - IRREGULAR_WINDOW + 1
        if end - self.regime_start < MIN_REFERENCE:
            return None
        clean = self._last_clean(end, REFERENCE_SIZE)
        if len(clean) < MIN_REFERENCE:
            return None
        q25, median, q75 = _quartiles(clean)
        return median, (q75 - q25) / IQR_TO_SIGMA, len(clean)

    def _last_clean(self, end: int, size: int) -> np.ndarray:
        """The regime's last ``size`` log-intervals before ``end`` that are not held out (fewer if there are not)."""
        lowest = end
        while lowest > self.regime_start:
            lowest = max(self.regime_start, end - 4 * (end - lowest + size))
            clean = self.logs[lowest:end][~self.excluded[lowest:end]]
            if len(clean) >= size:
                return clean[-size:]
        return self.logs[self.regime_start : end][~self.excluded[self.regime_start : end]]

    # -- young changes --

    def _start_regime(self, detection: _Detection) -> None:
        """Record the change and work out, from what follows, where it will be retracted or confirmed."""
        self.detections.append(detection)
        self.pending = detection
        self.regime_start = self.clean_start = detection.start
        self.regime_kind = detection.kind
        start, first = detection.start, detection.detected_at + 1
        deviation = self.logs[start:] - detection.old_baseline
        band = _band(detection.old_spread)
        if detection.kind == "regular":  # the old regime was random: it is back when the schedule breaks up
            on_schedule = np.abs(self.logs[start:] - np.median(self.logs[start:first])) < LOG_BAND
            returned, new_kind = ~on_schedule, on_schedule
        else:
            returned = np.abs(deviation) < band
            # Only intervals of the new kind age the new regime: a burst followed by an outage is not slower.
            new_kind = {"faster": deviation <= -band, "slower": deviation >= band}.get(detection.kind, ~returned)
        run = _retract_run(detection)
        back = np.convolve(returned, np.ones(run, dtype=int), mode="full")[: len(returned)] == run
        back[:run] = False  # the returning run lies after the change
        lasted = np.cumsum(np.where(new_kind, self.gaps[start:], 0.0))
        settled = (np.cumsum(new_kind) >= YOUNG_COUNT) & (lasted >= YOUNG_SPAN * math.exp(detection.old_baseline))
        retract_at = start + _first_true(back, first - start)
        confirm_at = start + _first_true(settled, first - start)
        detection.resolves_at = min(retract_at, confirm_at)
        detection.resolution = "retract" if retract_at < confirm_at else "confirm"

    def _retract(self, pending: _Detection, back_from: int) -> None:
        """The young regime was a burst or a pause: forget the change and keep its intervals out of baselines."""
        self.excluded[pending.start : back_from] = True
        self.detections.remove(pending)
        self.regime_start = pending.old_regime_start
        self.regime_kind = pending.old_regime_kind
        self.clean_start = back_from
        self.pending = None

    def _after_young_change(self, detection: _Detection, i: int) -> _Detection | None:
        """A change right after a young one: the young regime was a burst between the old cadence and this one.

        Back to the old cadence: retract the young change. Otherwise report one change from the old cadence.
        """
        pending = self.pending
        assert pending is not None
        self._retract(pending, detection.start)
        shift = float(np.median(self.logs[detection.start : i + 1])) - pending.old_baseline
        if abs(shift) < _band(pending.old_spread):
            return None
        kind = detection.kind if detection.kind in ("irregular", "regular") else ("faster" if shift < 0 else "slower")
        return _Detection(start=detection.start, kind=kind, detected_at=i, old_baseline=pending.old_baseline,
                          old_spread=pending.old_spread, old_regime_start=pending.old_regime_start,
                          old_regime_kind=pending.old_regime_kind)

    # -- verdicts --

    def _test(self, i: int, baseline: float, spread: float, reference_size: int,
              previous_spread: float) -> _Detection | None:
        """A change that the intervals up to i show against the regime's baseline, or None.

        ``previous_spread`` is the baseline's spread one interval earlier: the drift checks run where it crosses.
        """
        band = _band(spread)
        deviation = self.logs[i - IRREGULAR_WINDOW + 1 : i + 1] - baseline
        faster = slower = irregular = False
        if np.abs(deviation).max() >= band:  # (every verdict needs an interval out of band: skip the work if none)
            faster, slower, irregular = (bool(verdict[0]) for verdict in _verdicts(deviation[None, :], band))
        typical = math.exp(baseline)
        if faster:
            run_start = self._run_start(i, lambda d: d <= -band, baseline)
            if self.gaps[run_start : i + 1].sum() < FAST_MIN_SPAN * typical:
                self._hold_out(run_start, i, baseline, band)  # maybe a burst: out of the baseline until it lasts
                return None
            self.excluded[run_start : i + 1] = False  # it did: these intervals are the new regime's
            return self._detection(self._locate_step(run_start, i, baseline), "faster", i, baseline, spread)
        if slower:
            run_start = self._run_start(i, lambda d: d >= band, baseline)
            return self._detection(self._locate_step(run_start, i, baseline), "slower", i, baseline, spread)
        if (
            spread >= SCHEDULE_SPREAD  # (a schedule replacing random arrivals already narrows the baseline)
            and reference_size >= MIN_REFERENCE_IRREGULAR
            and self.regime_kind != "regular"
        ):
            scheduled = self._scheduled(i, baseline)
            if scheduled is not None:
                return scheduled
        if spread >= IRREGULAR_SPREAD:
            if previous_spread < IRREGULAR_SPREAD and self.regime_kind != "irregular":
                return self._drifted_irregular(i)
            return None
        if previous_spread >= SCHEDULE_SPREAD > spread and self.regime_kind != "regular" and not irregular:
            return self._drifted_regular(i)
        window = slice(i - IRREGULAR_WINDOW + 1, i + 1)
        if (
            not irregular
            or self.regime_kind == "irregular"
            or reference_size < MIN_REFERENCE_IRREGULAR
            or spread >= SCHEDULE_SPREAD
            or self.excluded[window].any()  # the tail of a burst next to the usual cadence is not irregular
            or self.gaps[window].sum() < IRREGULAR_MIN_SPAN * typical
            or self._long_run_spread(i) >= SCHEDULE_SPREAD  # random arrivals that looked scheduled for a while
        ):
            return None
        return self._detection(self._locate_irregular(i, baseline, spread), "irregular", i, baseline, spread)

    def _scheduled(self, i: int, baseline: float) -> _Detection | None:
        """Random arrivals that turned into a schedule: 10 intervals within a factor 1.6 of each other.

        Random arrivals essentially never do that, but a burst of re-runs does: the 10 must also last half a
        typical interval.
        """
        if i < SCHEDULE_RUN - 1:
            return None
        window = self.logs[i - SCHEDULE_RUN + 1 : i + 1]
        if (
            not _schedule_like(window[None, :])[0]
            or self.gaps[i - SCHEDULE_RUN + 1 : i + 1].sum() < FAST_MIN_SPAN * math.exp(baseline)
            or not self._was_random(i)
        ):
            return None
        level = float(np.median(window))
        start = i - SCHEDULE_RUN + 1
        while start - 1 > self.regime_start:  # walk back along the schedule, across single missed runs
            if abs(self.logs[start - 1] - level) <= LOG_TIGHT / 2:
                start -= 1
            elif (
                start - 2 > self.regime_start
                and _fold_missed_runs(self.logs[start - 1] - level) != self.logs[start - 1] - level
                and abs(self.logs[start - 2] - level) <= LOG_TIGHT / 2
            ):
                start -= 2
            else:
                break
        reference = self._reference(i)
        spread = reference[1] if reference is not None else IRREGULAR_SPREAD
        return self._detection(start, "regular", i, baseline, spread)

    def _drifted_regular(self, i: int) -> _Detection | None:
        """A schedule that replaced random arrivals without being caught has made the baseline a schedule.

        If the regime looked random a little earlier, and what came since fits one level, the change is at the
        maximum-likelihood split between exponential intervals and the schedule.
        """
        earlier = i - DRIFT_LAG
        enough = earlier - IRREGULAR_WINDOW + 1 - self.regime_start >= MIN_REFERENCE_IRREGULAR
        if not enough or not self._was_random(earlier):
            return None
        since = self.logs[earlier : i + 1]
        level = float(np.median(since))
        if np.count_nonzero(np.abs(_fold_missed_runs(since - level)) <= LOG_TIGHT / 2) < DRIFT_ON_SCHEDULE * len(since):
            return None
        lowest = max(self.regime_start + 1, earlier - IRREGULAR_WINDOW - LOCATE_LOOKBACK)
        logs = self.logs[lowest : i + 1]
        after = np.cumsum(_schedule_log_likelihood(logs, level, _robust_spread(since))[::-1])[::-1]
        before = _exponential_log_likelihood(logs - level)  # [k]: of logs[:k]
        start = lowest + 1 + int(np.argmax((before[:-1] + after)[1:]))
        reference = self._reference(earlier)
        old_baseline, old_spread = (reference[0], reference[1]) if reference is not None else (level, IRREGULAR_SPREAD)
        return _Detection(start=start, kind="regular", detected_at=i, old_baseline=old_baseline,
                          old_spread=old_spread, old_regime_start=self.regime_start, old_regime_kind=self.regime_kind)

    def _drifted_irregular(self, i: int) -> _Detection | None:
        """Random arrivals that were not caught within a few events have made the baseline itself dispersed.

        If the regime was a schedule a little earlier, judge everything since against that schedule: many
        intervals out of band, short ones among them (a schedule's missed runs, outages and calendar gaps are all
        long), is a change to irregular arrivals.
        """
        earlier = i - DRIFT_LAG
        reference = self._reference(earlier) if earlier - IRREGULAR_WINDOW + 1 > self.regime_start else None
        if reference is None:
            return None
        baseline, spread, reference_size = reference
        if (
            reference_size < MIN_REFERENCE_IRREGULAR
            or spread >= SCHEDULE_SPREAD
            or self._long_run_spread(earlier) >= SCHEDULE_SPREAD
        ):
            return None
        since = slice(earlier - IRREGULAR_WINDOW + 1, i + 1)
        if self.excluded[since].any():
            return None
        deviation = self.logs[since] - baseline
        band = _band(spread)
        if (
            np.count_nonzero(np.abs(deviation) >= band) < DRIFT_MIN_OUT
            or np.count_nonzero(deviation <= -band) < DRIFT_MIN_FAST
        ):
            return None
        start = self._locate_irregular(i, baseline, spread, lowest=since.start - IRREGULAR_WINDOW)
        return self._detection(start, "irregular", i, baseline, spread)

    def _was_random(self, i: int) -> bool:
        """The regime's last ~100 clean intervals before the window look like random arrivals.

        Dispersed, and with short intervals as well as long ones: the long gaps of a business-hours schedule or
        of missed runs make a schedule dispersed too, but never shorter than usual.
        """
        clean = self._long_reference(i)
        if len(clean) < MIN_REFERENCE_IRREGULAR:
            return False
        median = float(np.median(clean))
        short_share = np.count_nonzero(clean <= median - LOG_BAND) / len(clean)
        return _robust_spread(clean) >= IRREGULAR_SPREAD and short_share >= RANDOM_SHORT_SHARE

    def _long_run_spread(self, i: int) -> float:
        """Robust spread of the regime's last ~100 clean intervals before the window (0 when too few)."""
        clean = self._long_reference(i)
        return _robust_spread(clean) if len(clean) >= MIN_REFERENCE else 0.0

    def _long_reference(self, i: int) -> np.ndarray:
        end = i - IRREGULAR_WINDOW + 1
        lowest = max(self.regime_start, end - LONG_REFERENCE_SIZE)
        return self.logs[lowest:end][~self.excluded[lowest:end]]

    # -- where a change began --

    def _locate_step(self, run_start: int, i: int, baseline: float) -> int:
        """Where a step began: each interval votes for the old or the new level, whichever it is nearer to.

        Searching a little before the out-of-band run lets a new regime whose first intervals look like the old
        cadence (a missed run of the new schedule, say) start where it started; an old missed run does not.
        """
        lowest = max(self.regime_start, run_start - LOCATE_BEFORE_RUN)
        logs = self.logs[lowest : i + 1]
        new_level = float(np.median(self.logs[run_start : i + 1]))
        vote = np.clip(np.abs(logs - baseline) - np.abs(logs - new_level), -LOCATE_CAP, LOCATE_CAP)
        return lowest + _best_suffix(vote)

    def _locate_irregular(self, i: int, baseline: float, spread: float, lowest: int | None = None) -> int:
        """Where random arrivals began: the split that best explains the intervals as schedule, then random.

        Maximum likelihood: before the split, log-intervals are the schedule's (normal around the baseline, a few
        outliers for missed runs); after it, the intervals are exponential with their own mean. Random arrivals
        whose first intervals happen to look scheduled still start where they started, and a missed run just
        before the change is not taken for its start.
        """
        lowest = max(self.regime_start, i - LOCATE_LOOKBACK if lowest is None else lowest)
        logs = self.logs[lowest : i + 1]
        before = np.concatenate(([0.0], np.cumsum(_schedule_log_likelihood(logs, baseline, spread))))[:-1]
        after = _exponential_log_likelihood((logs - baseline)[::-1])[1:][::-1]  # [k]: of logs[k:]
        likelihood = (before + after)[: max(len(logs) - IRREGULAR_MIN_SUFFIX + 1, 1)]
        return lowest + int(np.argmax(likelihood))

    def _run_start(self, i: int, is_out: Callable[[np.ndarray], np.ndarray], baseline: float) -> int:
        """First interval of the run of out-of-band intervals (one way) that ends at i, within the regime."""
        end = i + 1
        while end > self.regime_start:
            lowest = max(self.regime_start, end - 64)
            quiet = np.flatnonzero(~is_out(self.logs[lowest:end] - baseline))
            if len(quiet):
                return lowest + int(quiet[-1]) + 1
            end = lowest
        return self.regime_start

    def _hold_out(self, start: int, i: int, baseline: float, band: float) -> None:
        """Keep a fast run that is too short to be a regime out of the baseline, and skip ahead to where it ends,
        lasts long enough, or stops looking like a step (nothing in between can change the verdict).
        """
        ahead = self.logs[i + 1 :] - baseline
        fast = np.flatnonzero(ahead > -band)
        run_end = i + 1 + (int(fast[0]) if len(fast) else len(ahead))
        lasted = np.cumsum(self.gaps[start:run_end]) >= FAST_MIN_SPAN * math.exp(baseline)
        weak = np.empty(0, dtype=int)  # positions where the last 4 no longer move the median far enough
        if run_end > i + 1:
            steps = sliding_window_view(self.logs[i - STEP_RUN + 2 : run_end] - baseline, STEP_RUN)
            weak = np.flatnonzero(np.median(steps, axis=1) > -LOG_STEP)
        resume = min(
            run_end,
            start + _first_true(lasted, 0),
            i + 1 + (int(weak[0]) if len(weak) else NEVER),
            self.pending.resolves_at if self.pending is not None else NEVER,
        )
        self.excluded[start:resume] = True
        self.clean_start = max(self.clean_start, resume)
        self.resume_at = resume

    def _detection(self, start: int, kind: str, i: int, baseline: float, spread: float) -> _Detection:
        return _Detection(start=max(start, self.regime_start + 1), kind=kind, detected_at=i, old_baseline=baseline,
                          old_spread=spread, old_regime_start=self.regime_start, old_regime_kind=self.regime_kind)


# ----------------------------------------------------------------------------------------------------------------
# Vectorised helpers
# ----------------------------------------------------------------------------------------------------------------


def _verdicts(deviation: np.ndarray, band: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window (row of log-deviations from the baseline): a faster step, a slower step, irregular arrivals."""
    fast = deviation <= -band
    slow = deviation >= band
    step = deviation[:, -STEP_RUN:]
    step_median = np.median(step, axis=1)
    faster = fast[:, -STEP_RUN:].all(axis=1) & (step_median <= -LOG_STEP)
    slower = slow[:, -STEP_RUN:].all(axis=1) & (step_median >= LOG_STEP)
    out = _out_of_band(deviation, band)
    highest = np.where(out, deviation, -np.inf).max(axis=1)
    lowest = np.where(out, deviation, np.inf).min(axis=1)
    not_one_step = ((highest > 0) & (lowest < 0)) | (highest - lowest >= LOG_IRREGULAR_RANGE)
    in_band = ~fast & ~slow
    unsettled = (in_band.sum(axis=1) <= MAX_IN_BAND_IRREGULAR) & fast.any(axis=1) & slow.any(axis=1)
    burst_starting = fast[:, -1] & fast[:, -2]  # a gap then re-runs: wait, it may be a burst
    irregular = ((out.sum(axis=1) >= IRREGULAR_MIN_OUT) & not_one_step) | (unsettled & ~burst_starting)
    return faster, slower, irregular


def _out_of_band(deviation: np.ndarray, band: np.ndarray | float) -> np.ndarray:
    """Out of band, except the first two gaps per window that are whole multiples (missed runs)."""
    out = np.abs(deviation) >= band
    missed = out & (deviation > 0) & (_fold_missed_runs(deviation) != deviation)
    excused = missed & (np.cumsum(missed, axis=1) <= EXCUSED_MULTIPLES)
    return out & ~excused


def _fold_missed_runs(deviation: np.ndarray | float) -> np.ndarray:
    """Log-deviations with gaps of about k >= 2 typical intervals brought back to one (k - 1 missed runs)."""
    ratio = np.exp(deviation)
    multiple = np.maximum(np.rint(ratio), 1)
    missed = (multiple >= 2) & (np.abs(ratio / multiple - 1) <= MULTIPLE_TOLERANCE)
    return np.where(missed, deviation - np.log(multiple), deviation)


def _schedule_like(windows: np.ndarray) -> np.ndarray:
    """Rows of log-intervals within a factor 1.6 of each other, once one missed run is folded back."""
    centred = windows - np.median(windows, axis=1, keepdims=True)
    folded = _fold_missed_runs(centred)
    few_missed = np.count_nonzero(folded != centred, axis=1) <= SCHEDULE_MISSED_RUNS
    return few_missed & (folded.max(axis=1) - folded.min(axis=1) <= LOG_TIGHT)


def _band(spread: np.ndarray | float) -> np.ndarray | float:
    """Half-width of the band around a baseline, in log: 1.5x, wider for noisy regimes."""
    return np.maximum(LOG_BAND, SPREAD_BAND * spread)


def _robust_spread(logs: np.ndarray) -> float:
    q25, _, q75 = _quartiles(logs)
    return (q75 - q25) / IQR_TO_SIGMA


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """First quartile, median and third quartile, interpolated as numpy's quantile does (but for a fraction of
    its overhead on the short arrays the scan asks about at every step)."""
    ordered = np.sort(values)
    last = len(ordered) - 1

    def at(quantile: float) -> float:
        position = quantile * last
        low = int(position)
        high = min(low + 1, last)
        return float(ordered[low] + (position - low) * (ordered[high] - ordered[low]))

    return at(0.25), at(0.5), at(0.75)


def _rolling_quantiles(values: np.ndarray, size: int, quantiles: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles (linear interpolation, as numpy's) of every window of ``size`` values.

    Sorting all windows at once is several times faster than pandas' rolling quantiles; chunks bound the memory.
    """
    windows = sliding_window_view(values, size)
    results = [np.empty(len(windows)) for _ in quantiles]
    for begin in range(0, len(windows), 1 << 15):
        ordered = np.sort(windows[begin : begin + (1 << 15)], axis=1)
        for result, quantile in zip(results, quantiles):
            position = quantile * (size - 1)
            low = int(position)
            high = min(low + 1, size - 1)
            result[begin : begin + len(ordered)] = ordered[:, low] + (position - low) * (
                ordered[:, high] - ordered[:, low]
            )
    return results


def _schedule_log_likelihood(logs: np.ndarray, level: float, spread: float) -> np.ndarray:
    """Per log-interval: log-likelihood under a schedule (normal jitter around ``level``, a few outliers)."""
    sigma = max(spread, MIN_SIGMA)
    z = (logs - level) / sigma
    return np.log(
        (1 - OUTLIER_SHARE) * np.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi)) + OUTLIER_SHARE / OUTLIER_RANGE
    )


def _exponential_log_likelihood(logs: np.ndarray) -> np.ndarray:
    """[k]: log-likelihood of logs[:k] as log-intervals of exponential arrivals, at their own mean (MLE).

    Best given in units near 1 (the caller subtracts a baseline) to keep the sums well scaled.
    """
    count = np.arange(len(logs) + 1)
    total = np.concatenate(([0.0], np.cumsum(np.exp(logs))))
    log_sum = np.concatenate(([0.0], np.cumsum(logs)))
    mean = np.where(count > 0, total / np.maximum(count, 1), 1.0)
    return log_sum - count * np.log(mean) - count


def _best_suffix(score: np.ndarray) -> int:
    """Start of the suffix with the largest total score: where the evidence for the new regime begins."""
    return int(np.argmax(np.cumsum(score[::-1])[::-1]))


def _retract_run(detection: _Detection) -> int:
    return RETRACT_RUN_IRREGULAR if detection.kind == "irregular" else RETRACT_RUN


def _first_true(mask: np.ndarray, offset: int) -> int:
    """Index of the first True at or after offset; NEVER when none."""
    hits = np.flatnonzero(mask[offset:])
    return offset + int(hits[0]) if len(hits) else NEVER


# ----------------------------------------------------------------------------------------------------------------
# From detections to changes
# ----------------------------------------------------------------------------------------------------------------


def _analyse(series: _Series) -> tuple[list[CadenceChange], int]:
    """The changes, and the first interval of the current regime."""
    gaps = np.diff(series.seconds)
    if len(gaps) < MIN_REFERENCE + IRREGULAR_WINDOW:
        return [], 0
    scanner = _Scanner(gaps)
    detections, regime_start = _without_startup_burst(scanner.run(), gaps)
    changes: list[CadenceChange] = []
    for number, detection in enumerate(detections):
        end = detections[number + 1].start if number + 1 < len(detections) else len(gaps)
        segment = scanner.logs[detection.start : end]
        new_logs = segment[~scanner.excluded[detection.start : end]]
        if len(new_logs) == 0:
            new_logs = segment
        after = float(np.median(new_logs))
        event = detection.start + 1
        changes.append(
            CadenceChange(
                at=series.utc_datetime(event),
                before=timedelta(seconds=math.exp(detection.old_baseline)),
                after=timedelta(seconds=math.exp(after)),
                kind=_kind(detection, new_logs),
                ratio=math.exp(after - detection.old_baseline),
                index=int(series.unique_index[event]),
                detected_after=detection.detected_at - detection.start + 1,
                events_since=end - detection.start,
                confirmed=detection is not scanner.pending,
            )
        )
    return changes, detections[-1].start if detections else regime_start


def _without_startup_burst(detections: list[_Detection], gaps: np.ndarray) -> tuple[list[_Detection], int]:
    """Drop a first "slower" change that ends an opening burst (a catch-up backfill), and say where it ended.

    The burst runs 15x faster than the schedule that takes over, and lasts less than 3 of its intervals.
    """
    if detections and detections[0].kind == "slower":
        first = detections[0]
        opening = gaps[: first.start]
        schedule = float(np.median(gaps[first.start : first.start + MIN_REFERENCE]))
        if opening.sum() < STARTUP_BURST_SPAN * schedule and float(np.median(opening)) * STARTUP_BURST_RATIO < schedule:
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
        return "faster" if np.median(new_logs) < detection.old_baseline else "slower"
    return detection.kind


# ----------------------------------------------------------------------------------------------------------------
# Pattern
# ----------------------------------------------------------------------------------------------------------------


def _pattern(seconds: np.ndarray, recent_gaps: np.ndarray) -> str:
    """regular, business-hours (the long gaps are nights or weekends), irregular, or unknown (too few events)."""
    if len(recent_gaps) < MIN_REFERENCE:
        return "unknown"
    if _calendar_gaps(seconds):
        return "business-hours"
    return "irregular" if _robust_spread(np.log(recent_gaps)) >= IRREGULAR_SPREAD else "regular"


def _calendar_gaps(seconds: np.ndarray) -> bool:
    """The long gaps recur: nearly every day and ending at the same time of day (runs only in business hours),
    or about weekly and ending on the same weekday (runs only on weekdays).

    Time of day and weekday are taken in UTC: a schedule in any one time zone keeps them, give or take the hour a
    daylight-saving change moves them.
    """
    gaps = np.diff(seconds)
    typical = float(np.median(gaps))
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
