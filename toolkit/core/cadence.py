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
Every window is first tested vectorised, against rolling statistics or, after a change or a burst, against the
regime's own baselines for the few dozen intervals ahead: the Python loop visits only the windows where a verdict
or check can fire, so 10,000 events take 5-10 ms.

Many assets at once (``describe_many``, epoch seconds): the series are grouped by length and screened together.
Bounds from sorted rows clear most of them (every baseline lies between order statistics of the intervals it is
drawn from); the scan's own first statistics, computed for the rest at once, clear those where no window is worth
a test; their models are then computed as whole columns. Only series with something to find take the loop above.
The models are exactly those of ``describe``: 10,000 assets x 100 events take about 0.1-0.2 s instead of 3 s.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from toolkit.core.humanize import human_interval  # noqa: F401  (part of this module's API)

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
FASTER, SLOWER, IRREGULAR = 1, 2, 4  # a window's verdicts, as bits


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
    _check_aware(now)
    return _model(_prepare(timestamps), now)


def describe_seconds(seconds: np.ndarray, *, now: datetime | None = None) -> CadenceModel:
    """``describe`` of epoch seconds (UTC, any order), without building a datetime per event.

    Instants are taken to the microsecond, as datetimes hold them: the model equals ``describe`` of the same
    instants as timezone-aware datetimes. Raises ValueError for values that are not finite.
    """
    _check_aware(now)
    return _model(_series_of_microseconds(_whole_microseconds(np.asarray(seconds, dtype=float))), now)


def describe_many(series: Mapping[Hashable, np.ndarray], *,
                  now: datetime | None = None) -> dict[Hashable, CadenceModel]:
    """``describe_seconds`` of many assets' event times at once, in a fraction of the time of one call each.

    Each value is a 1-D array of epoch seconds (UTC), ascending or not, possibly empty or with duplicates; the
    models come back under the same keys, in the same order, each equal to ``describe_seconds`` of its series.
    All series are first screened together (numpy over all of them); only those where the scan could find
    anything (a change, a retry, a burst, a noisy stretch) take the one-series path.
    """
    _check_aware(now)
    return _describe_many(series, now)


def _check_aware(now: datetime | None) -> None:
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise ValueError(f"now must be timezone-aware; {now.isoformat()} is naive")


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


class _Instants(Sequence[datetime]):
    """Whole microseconds since the epoch, read as UTC datetimes on demand."""

    def __init__(self, microseconds: np.ndarray) -> None:
        self.microseconds = microseconds

    def __len__(self) -> int:
        return len(self.microseconds)

    def __getitem__(self, index: int) -> datetime:  # type: ignore[override]
        return _EPOCH + timedelta(microseconds=int(self.microseconds[index]))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _whole_microseconds(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds to whole microseconds (int64), rounded as ``datetime.fromtimestamp`` rounds them.

    CPython splits the fraction off and rounds it half to even: the same instant as the datetime the value makes.
    """
    if not np.isfinite(seconds.sum()):  # (NaN or infinity anywhere)
        raise ValueError("epoch seconds must be finite numbers")
    fraction, whole = np.modf(seconds)
    microseconds = whole.astype(np.int64)
    microseconds *= 1_000_000
    fraction *= 1e6
    microseconds += np.rint(fraction, out=fraction).astype(np.int64)
    return microseconds


def _series_of_microseconds(microseconds: np.ndarray) -> _Series:
    """The cleaned series of whole epoch microseconds, with seconds as ``datetime.timestamp`` gives them."""
    return _clean(microseconds / 1e6, _Instants(microseconds))


def _prepare(timestamps: Iterable[datetime]) -> _Series:
    """Sort, drop exact duplicates and retries."""
    return _clean(*_to_utc_seconds(timestamps))


def _clean(seconds: np.ndarray, source: Sequence[datetime]) -> _Series:
    """Sort, drop exact duplicates and retries."""
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
    if len(seconds) < 4:
        return np.ones(len(seconds), dtype=bool)
    return _without_retries(_tiny_intervals(np.diff(seconds)[None, :]))[0]


def _without_retries(tiny: np.ndarray) -> np.ndarray:
    """Rows of events to keep, given rows of which intervals are tiny: all but the ends of runs of at most 3."""
    rows, count = tiny.shape
    keep = np.ones((rows, count + 1), dtype=bool)
    if not tiny.any():
        return keep
    starts = tiny.copy()
    starts[:, 1:] &= ~tiny[:, :-1]  # first tiny interval of each run
    run = np.arange(rows)[:, None] * (count + 1) + np.cumsum(starts, axis=1)  # (a number per run, all rows)
    length = np.bincount(run[tiny], minlength=rows * (count + 1))
    keep[:, 1:] = ~(tiny & (length[run] <= MAX_RETRY_RUN))
    return keep


def _tiny_intervals(gaps: np.ndarray) -> np.ndarray:
    """Rows of intervals (at least 3 a row): which are under 5% of the median of the previous RETRY_CONTEXT
    (of the next 3, for the very first)."""
    rows, count = gaps.shape
    local = np.empty((rows, count))
    local[:, 0] = _sorted_median(np.sort(gaps[:, 1:4], axis=1))
    head = min(RETRY_CONTEXT, count)  # intervals 1 to head - 1 have fewer than RETRY_CONTEXT before them
    if head > 1:
        sizes = np.arange(1, head)
        padded = np.where(np.arange(head - 1) < sizes[:, None], gaps[:, None, : head - 1], np.inf)
        local[:, 1:head] = _padded_median(np.sort(padded, axis=2), sizes)
    if count > RETRY_CONTEXT:
        local[:, RETRY_CONTEXT:] = _rolling_quantiles(gaps[:, :-1], RETRY_CONTEXT, (0.5,))[0]
    return gaps < RETRY_FRACTION * local


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


@dataclass
class _Stretch:
    """Baselines of consecutive intervals tested outside the fast path, valid while the scanner's version holds."""

    version: int
    first: int  # first interval covered
    stop: int  # first interval not covered (the fast path takes over there, or the series ends)
    baseline: np.ndarray  # NaN where the regime has too few clean intervals for a baseline
    spread: np.ndarray
    sizes: np.ndarray  # clean intervals each baseline is made of
    worth: np.ndarray  # the intervals worth a test, ascending
    verdicts: np.ndarray  # of each interval's window (FASTER | SLOWER | IRREGULAR bits)

    def ready(self, i: int) -> bool:
        return not math.isnan(self.baseline[i - self.first])

    def reference(self, i: int) -> tuple[float, float, int] | None:
        """As ``_Scanner._reference`` would compute it."""
        k = i - self.first
        if math.isnan(self.baseline[k]):
            return None
        return float(self.baseline[k]), float(self.spread[k]), int(self.sizes[k])

    def verdict(self, i: int) -> int:
        return int(self.verdicts[i - self.first])

    def next_worth_testing(self, i: int) -> int:
        following = np.searchsorted(self.worth, i)
        return int(self.worth[following]) if following < len(self.worth) else self.stop


class _Scanner:
    """One pass over the log-intervals, holding the current regime and a young change that may be retracted."""

    def __init__(self, gaps: np.ndarray, start: _ScanStart | None = None) -> None:
        start = start if start is not None else _scan_starts(np.log(gaps)[None, :]).row(0)
        self.gaps = gaps
        self.logs = start.logs  # (the very values the start was computed from)
        self.count = len(gaps)
        self.excluded = np.zeros(self.count, dtype=bool)  # bursts: never part of a baseline
        self.detections: list[_Detection] = []
        self.regime_start = 0
        self.regime_kind = "initial"  # how the current regime began (random arrivals cannot turn irregular)
        self.clean_start = 0  # from here + FIRST_WINDOW_END on, the rolling statistics are the regime's own
        self.pending: _Detection | None = None
        self.resume_at = 0  # the next interval worth testing, after a burst held out
        self.explicit_at, self.explicit_spread = -1, math.nan  # the last baseline computed outside the fast path
        self.version = 0  # bumped whenever the regime or the held-out intervals change
        self.stretch = start.stretch  # baselines of the intervals ahead, tested outside the fast path
        self.rolling = start.rolling  # the fast path's

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
                following = np.searchsorted(self.rolling.worth, i)
                flag = int(self.rolling.worth[following]) if following < len(self.rolling.worth) else self.count
                if self.pending is not None and self.pending.resolves_at <= flag:
                    i = self.pending.resolves_at
                    continue
                if flag >= self.count:
                    break
                i = flag
                reference = float(self.rolling.baseline[i]), float(self.rolling.spread[i]), REFERENCE_SIZE
                previous_spread = float(self.rolling.spread[i - 1])
                verdict = int(self.rolling.verdicts[i])
            else:
                stretch = self._explicit_stretch(i)
                worth = stretch.next_worth_testing(i)
                if self.pending is not None:
                    worth = min(worth, self.pending.resolves_at)
                if worth > i:  # nothing to find before it: skip ahead, as if each interval had been tested
                    ready = stretch.ready(worth - 1)
                    self.explicit_at = worth - 1 if ready else -1
                    self.explicit_spread = stretch.spread[worth - 1 - stretch.first] if ready else math.nan
                    i = worth
                    continue
                previous_spread = self.explicit_spread if self.explicit_at == i - 1 else math.nan
                reference = stretch.reference(i)
                if reference is None:
                    i += 1
                    continue
                self.explicit_at, self.explicit_spread = i, reference[1]
                verdict = stretch.verdict(i)
            detection = self._test(i, *reference, previous_spread, verdict)
            if detection is not None and self.pending is not None:
                detection = self._after_young_change(detection, i)
            if detection is not None:
                self._start_regime(detection)
            i = max(i + 1, self.resume_at)
        return self.detections

    def _explicit_stretch(self, i: int) -> _Stretch:
        """The baselines of intervals i on, up to where the fast path takes over, while the regime stays as is.

        Computed at once (a few numpy calls instead of a few per interval), and with them the intervals worth a
        test: the same verdicts as ``_test``, so the intervals in between can be skipped without changing anything.
        """
        stretch = self.stretch
        if stretch.version == self.version and stretch.first <= i < stretch.stop:
            return stretch
        stop = min(self.clean_start + FIRST_WINDOW_END, self.count)
        tested = np.arange(i, stop)
        ends = tested - IRREGULAR_WINDOW + 1  # each reference ends where its tested window starts
        start = self.regime_start
        clean = start + np.flatnonzero(~self.excluded[start : max(int(ends[-1]), start)])
        before = np.searchsorted(clean, ends)  # clean intervals of the regime before each end
        sizes = np.minimum(before, REFERENCE_SIZE)
        ready = (ends - start >= MIN_REFERENCE) & (sizes >= MIN_REFERENCE)
        baseline = np.full(len(tested), np.nan)
        spread = np.full(len(tested), np.nan)
        rows = np.flatnonzero(ready)
        if len(rows):
            # The last ``size`` clean log-intervals before each end, padded to REFERENCE_SIZE with +inf (sorted last).
            position = before[rows, None] - REFERENCE_SIZE + np.arange(REFERENCE_SIZE)
            values = np.where(position >= 0, self.logs[clean[np.maximum(position, 0)]], np.inf)
            q25, median, q75 = _padded_quartiles(np.sort(values, axis=1), sizes[rows])
            baseline[rows] = median
            spread[rows] = (q75 - q25) / IQR_TO_SIGMA
        previous = np.empty(len(tested))
        previous[0] = self.explicit_spread if self.explicit_at == i - 1 else math.nan
        previous[1:] = spread[:-1]  # NaN where there was no reference, as in ``run``
        worth = np.zeros(len(tested), dtype=bool)
        verdicts = np.zeros(len(tested), dtype=np.uint8)
        if len(rows):
            worth[rows], verdicts[rows] = _worth_testing(
                self.logs[None, :], np.zeros(len(rows), dtype=np.int64), tested[rows], baseline[rows], spread[rows],
                sizes[rows], previous[rows], start,
            )
        self.stretch = _Stretch(version=self.version, first=i, stop=stop, baseline=baseline, spread=spread,
                                sizes=sizes, worth=i + np.flatnonzero(worth), verdicts=verdicts)
        return self.stretch

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
        self.version += 1
        self.regime_start = self.clean_start = detection.start
        self.regime_kind = detection.kind
        start, first = detection.start, detection.detected_at + 1
        deviation = self.logs[start:] - detection.old_baseline
        band = _band(detection.old_spread)
        if detection.kind == "regular":  # the old regime was random: it is back when the schedule breaks up
            on_schedule = np.abs(self.logs[start:] - _median(self.logs[start:first])) < LOG_BAND
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
        self.version += 1
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
        shift = _median(self.logs[detection.start : i + 1]) - pending.old_baseline
        if abs(shift) < _band(pending.old_spread):
            return None
        kind = detection.kind if detection.kind in ("irregular", "regular") else ("faster" if shift < 0 else "slower")
        return _Detection(start=detection.start, kind=kind, detected_at=i, old_baseline=pending.old_baseline,
                          old_spread=pending.old_spread, old_regime_start=pending.old_regime_start,
                          old_regime_kind=pending.old_regime_kind)

    # -- verdicts --

    def _test(self, i: int, baseline: float, spread: float, reference_size: int, previous_spread: float,
              verdict: int) -> _Detection | None:
        """A change that the intervals up to i show against the regime's baseline, or None.

        ``previous_spread`` is the baseline's spread one interval earlier: the drift checks run where it crosses.
        ``verdict``: the ``_verdicts`` of the window ending at i against this baseline (as FASTER | SLOWER |
        IRREGULAR bits), computed with the other windows'.
        """
        band = _band(spread)
        faster, slower, irregular = bool(verdict & FASTER), bool(verdict & SLOWER), bool(verdict & IRREGULAR)
        typical = math.exp(baseline)
        if faster:
            run_start = self._run_start(i, lambda d: d <= -band, baseline)
            if self.gaps[run_start : i + 1].sum() < FAST_MIN_SPAN * typical:
                self._hold_out(run_start, i, baseline, band)  # maybe a burst: out of the baseline until it lasts
                return None
            self.excluded[run_start : i + 1] = False  # it did: these intervals are the new regime's
            self.version += 1
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
        level = _median(window)
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
        level = _median(since)
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
        median = _median(clean)
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
        new_level = _median(self.logs[run_start : i + 1])
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
            weak = np.flatnonzero(_sorted_median(np.sort(steps, axis=1)) > -LOG_STEP)
        resume = min(
            run_end,
            start + _first_true(lasted, 0),
            i + 1 + (int(weak[0]) if len(weak) else NEVER),
            self.pending.resolves_at if self.pending is not None else NEVER,
        )
        self.excluded[start:resume] = True
        self.version += 1
        self.clean_start = max(self.clean_start, resume)
        self.resume_at = resume

    def _detection(self, start: int, kind: str, i: int, baseline: float, spread: float) -> _Detection:
        return _Detection(start=max(start, self.regime_start + 1), kind=kind, detected_at=i, old_baseline=baseline,
                          old_spread=spread, old_regime_start=self.regime_start, old_regime_kind=self.regime_kind)


# ----------------------------------------------------------------------------------------------------------------
# Vectorised helpers
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rolling:
    """The fast path's references: per interval, the baseline and spread of the 24 intervals before its window
    (NaN before the first full one), and the intervals worth a test, as if the series were one clean regime."""

    baseline: np.ndarray
    spread: np.ndarray
    worth: np.ndarray  # the intervals, ascending
    verdicts: np.ndarray  # of each interval's window (FASTER | SLOWER | IRREGULAR bits)


@dataclass(frozen=True)
class _ScanStart:
    """What a fresh scanner computes before its loop: the fast path's references, and the first stretch."""

    logs: np.ndarray  # the log-intervals
    rolling: _Rolling
    stretch: _Stretch


@dataclass(frozen=True)
class _ScanStarts:
    """``_ScanStart`` of rows of clean series of one length (at least 14 intervals), computed at once.

    The first stretch: intervals 13 to 28, each against all the intervals before its window.
    """

    logs: np.ndarray  # (rows, intervals)
    rolling_baseline: np.ndarray
    rolling_spread: np.ndarray
    rolling_worth: np.ndarray  # bool
    rolling_verdicts: np.ndarray
    first: int
    stop: int
    baseline: np.ndarray  # (rows, stop - first)
    spread: np.ndarray
    sizes: np.ndarray  # (stop - first)
    worth: np.ndarray  # bool (rows, stop - first)
    verdicts: np.ndarray  # (rows, stop - first)

    def quiet(self) -> np.ndarray:
        """Which series have no interval worth a test: the scan would find nothing."""
        return ~self.worth.any(axis=1) & ~self.rolling_worth.any(axis=1)

    def row(self, row: int) -> _ScanStart:
        rolling = _Rolling(self.rolling_baseline[row], self.rolling_spread[row],
                           np.flatnonzero(self.rolling_worth[row]), self.rolling_verdicts[row])
        stretch = _Stretch(version=0, first=self.first, stop=self.stop, baseline=self.baseline[row],
                           spread=self.spread[row], sizes=self.sizes,
                           worth=self.first + np.flatnonzero(self.worth[row]), verdicts=self.verdicts[row])
        return _ScanStart(self.logs[row], rolling, stretch)


def _scan_starts(logs: np.ndarray) -> _ScanStarts:
    """The scanner's start for rows of log-intervals (clean series of one length, at least 14 intervals)."""
    rows, count = logs.shape
    # The first stretch, as ``_Scanner._explicit_stretch`` computes it for a fresh scanner: intervals 13 to 28,
    # each against all the intervals before its window.
    first, stop = MIN_REFERENCE + IRREGULAR_WINDOW - 1, min(FIRST_WINDOW_END, count)
    growing = np.arange(first, stop)
    sizes = growing - IRREGULAR_WINDOW + 1
    longest = int(sizes[-1])
    padded = np.where(np.arange(longest) < sizes[:, None], logs[:, None, :longest], np.inf)  # (rows, tested, longest)
    q25, median, q75 = _padded_quartiles(np.sort(padded, axis=2).reshape(-1, longest), np.tile(sizes, rows))
    growing_baseline = median.reshape(rows, -1)
    growing_spread = ((q75 - q25) / IQR_TO_SIGMA).reshape(rows, -1)
    # The fast path: from interval 29 on, against the 24 intervals before the window.
    rolling_baseline = np.full((rows, count), np.nan)
    rolling_spread = np.full((rows, count), np.nan)
    if count > FIRST_WINDOW_END:
        q25, median, q75 = _rolling_quantiles(logs[:, :-IRREGULAR_WINDOW], REFERENCE_SIZE, (0.25, 0.5, 0.75))
        rolling_baseline[:, FIRST_WINDOW_END:] = median
        rolling_spread[:, FIRST_WINDOW_END:] = (q75 - q25) / IQR_TO_SIGMA
    # Which intervals are worth a test, all at once.
    tested = np.concatenate((growing, np.arange(FIRST_WINDOW_END, count)))
    previous = np.concatenate(
        (np.full((rows, 1), np.nan), growing_spread[:, :-1], rolling_spread[:, FIRST_WINDOW_END - 1 : -1]), axis=1
    )
    worth, verdicts = _worth_testing(
        logs,
        np.repeat(np.arange(rows), len(tested)),
        np.tile(tested, rows),
        np.concatenate((growing_baseline, rolling_baseline[:, FIRST_WINDOW_END:]), axis=1).ravel(),
        np.concatenate((growing_spread, rolling_spread[:, FIRST_WINDOW_END:]), axis=1).ravel(),
        np.tile(np.concatenate((sizes, np.full(len(tested) - len(growing), REFERENCE_SIZE))), rows),
        previous.ravel(),
        0,  # (for the fast path, the regime may start anywhere before: the earliest it can)
    )
    worth, verdicts = worth.reshape(rows, -1), verdicts.reshape(rows, -1)
    rolling_worth = np.zeros((rows, count), dtype=bool)
    rolling_verdicts = np.zeros((rows, count), dtype=np.uint8)
    rolling_worth[:, FIRST_WINDOW_END:] = worth[:, len(growing) :]
    rolling_verdicts[:, FIRST_WINDOW_END:] = verdicts[:, len(growing) :]
    return _ScanStarts(logs, rolling_baseline, rolling_spread, rolling_worth, rolling_verdicts, first, stop,
                       growing_baseline, growing_spread, sizes, worth[:, : len(growing)],
                       verdicts[:, : len(growing)])


def _worth_testing(logs: np.ndarray, rows: np.ndarray, tested: np.ndarray, baseline: np.ndarray, spread: np.ndarray,
                   sizes: np.ndarray | int, previous: np.ndarray, regime_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Which tested intervals (``rows``, ``tested``) of rows of log-intervals ``_test`` may act on, given their
    references: a verdict, a spread crossing a threshold far enough into the regime for the drift checks to look
    DRIFT_LAG back, or a noisy baseline before 10 schedule-like intervals (the new-schedule check). ``_test``
    passes every other one without a trace. Also the verdicts (FASTER | SLOWER | IRREGULAR bits), for ``_test``.
    """
    windows = logs[rows[:, None], tested[:, None] + np.arange(1 - IRREGULAR_WINDOW, 1)]
    deviation = windows - baseline[:, None]
    band = _band(spread)[:, None]
    verdicts = np.zeros(len(tested), dtype=np.uint8)
    possible = np.count_nonzero(np.abs(deviation) >= band, axis=1) >= IRREGULAR_MIN_OUT  # (every verdict needs 4)
    if possible.any():
        faster, slower, irregular = _verdicts(deviation[possible], band[possible])
        verdicts[possible] = faster * FASTER | slower * SLOWER | irregular * IRREGULAR
    worth = verdicts > 0
    into_regime = tested - regime_start
    worth |= ((spread >= IRREGULAR_SPREAD) & (previous < IRREGULAR_SPREAD)  # see _drifted_irregular
              & (into_regime >= DRIFT_LAG + IRREGULAR_WINDOW - 1 + MIN_REFERENCE))
    worth |= ((previous >= SCHEDULE_SPREAD) & (spread < SCHEDULE_SPREAD)  # see _drifted_regular
              & (into_regime >= DRIFT_LAG + IRREGULAR_WINDOW - 1 + MIN_REFERENCE_IRREGULAR))
    noisy = np.flatnonzero((spread >= SCHEDULE_SPREAD) & (np.asarray(sizes) >= MIN_REFERENCE_IRREGULAR))
    if len(noisy):
        worth[noisy[_schedule_windows(logs, rows[noisy], tested[noisy])]] = True  # see _scheduled
    return worth, verdicts


def _schedule_windows(logs: np.ndarray, rows: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each interval (``rows``, ``ends``): the SCHEDULE_RUN intervals ending there look like one schedule."""
    windows = logs[rows[:, None], ends[:, None] + np.arange(1 - SCHEDULE_RUN, 1)]
    ordered = np.sort(windows, axis=1)
    # Necessary, and cheap: all but the longest (maybe a missed run) within the tight range.
    possible = ordered[:, -2] - ordered[:, 0] <= LOG_TIGHT
    tight = np.zeros(len(ends), dtype=bool)
    tight[possible] = _schedule_like(windows[possible])
    return tight


def _verdicts(deviation: np.ndarray, band: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window (row of log-deviations from the baseline): a faster step, a slower step, irregular arrivals."""
    fast = deviation <= -band
    slow = deviation >= band
    step = deviation[:, -STEP_RUN:]
    step_median = _sorted_median(np.sort(step, axis=1))
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
    centred = windows - _sorted_median(np.sort(windows, axis=1))[:, None]
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


def _padded_quartiles(ordered: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``_quartiles`` of each row's first ``sizes`` values (the rest, +inf padding, sorted after them), bit for bit:
    rows q25, median, q75."""
    last = sizes - 1
    position = np.array([[0.25], [0.5], [0.75]]) * last
    low = position.astype(np.int64)
    high = np.minimum(low + 1, last)
    rows = np.arange(len(ordered))
    lower = ordered[rows, low]
    return lower + (position - low) * (ordered[rows, high] - lower)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array, bit for bit, for a fraction of its overhead (NaN when empty)."""
    return float(_sorted_median(np.sort(values))) if len(values) else math.nan


def _sorted_median(ordered: np.ndarray) -> np.ndarray:
    """``np.median`` of each row of sorted values, bit for bit (the mean of the middle two, for an even count)."""
    middle = ordered.shape[-1] // 2
    if ordered.shape[-1] % 2:
        return ordered[..., middle]
    return (ordered[..., middle - 1] + ordered[..., middle]) / 2


def _padded_median(ordered: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``np.median`` of the first ``sizes[k]`` values of ``ordered[..., k, :]`` (sorted, padded after), bit for bit."""
    middle = sizes // 2
    columns = np.arange(len(sizes))
    upper = ordered[..., columns, middle]
    lower = ordered[..., columns, np.maximum(middle - 1, 0)]
    return np.where(sizes % 2 == 1, upper, (lower + upper) / 2)


def _sorted_quantile(ordered: np.ndarray, quantile: float) -> np.ndarray:
    """``np.quantile`` (linear) of each row of sorted values, bit for bit: numpy's own interpolation, which
    counts down from the upper value past the midpoint. (At least 2 values a row.)"""
    position = (ordered.shape[-1] - 1) * quantile
    low = math.floor(position)
    high = min(low + 1, ordered.shape[-1] - 1)
    weight = position - low
    lower, upper = ordered[..., low], ordered[..., high]
    step = upper - lower
    return upper - step * (1 - weight) if weight >= 0.5 else lower + step * weight


def _rolling_quantiles(values: np.ndarray, size: int, quantiles: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles (linear interpolation, as numpy's) of every window of ``size`` values along the last axis (of a
    series, or of rows of series).

    Sorting all windows at once is several times faster than pandas' rolling quantiles; chunks of about 32,000
    windows bound the memory (the windows are views until sorted).
    """
    windows = sliding_window_view(np.atleast_2d(values), size, axis=-1)  # (rows, windows, size)
    rows, count = windows.shape[:2]
    results = [np.empty((rows, count)) for _ in quantiles]
    chunk = 1 << 15
    rows_at_once = max(1, chunk // max(count, 1))
    for row in range(0, rows, rows_at_once):
        for begin in range(0, count, chunk):  # (one long series: its windows in chunks too)
            ordered = np.sort(windows[row : row + rows_at_once, begin : begin + chunk], axis=-1)
            for result, quantile in zip(results, quantiles):
                position = quantile * (size - 1)
                low = int(position)
                high = min(low + 1, size - 1)
                result[row : row + rows_at_once, begin : begin + chunk] = ordered[..., low] + (position - low) * (
                    ordered[..., high] - ordered[..., low]
                )
    return [result.reshape(values.shape[:-1] + (count,)) for result in results]


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


def _analyse(series: _Series, start: _ScanStart | None = None) -> tuple[list[CadenceChange], int]:
    """The changes, and the first interval of the current regime (``start``: the scanner's start, if already
    computed with other series')."""
    gaps = np.diff(series.seconds)
    if len(gaps) < MIN_REFERENCE + IRREGULAR_WINDOW:
        return [], 0
    scanner = _Scanner(gaps, start)
    detections, regime_start = _without_startup_burst(scanner.run(), gaps)
    changes: list[CadenceChange] = []
    for number, detection in enumerate(detections):
        end = detections[number + 1].start if number + 1 < len(detections) else len(gaps)
        segment = scanner.logs[detection.start : end]
        new_logs = segment[~scanner.excluded[detection.start : end]]
        if len(new_logs) == 0:
            new_logs = segment
        after = _median(new_logs)
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


# ----------------------------------------------------------------------------------------------------------------
# Many series at once
# ----------------------------------------------------------------------------------------------------------------

SCREEN_MARGIN = 1e-9  # (log units) the screen's bounds keep this much room for rounding, on the safe side
GROWING_BANDS = ((MIN_REFERENCE, 12), (13, FIRST_WINDOW_END - IRREGULAR_WINDOW))  # reference sizes bounded together
SCREEN_BATCH = 1024  # series whose scanner start is computed at once


@dataclass
class _CleanGroup:
    """Clean series of one length, gathered from every input length (a series may shrink as it is cleaned)."""

    keys: list[Hashable] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)  # rows of the kept events' whole microseconds
    sources: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list)  # see _describe_clean

    def add(self, keys: list[Hashable], microseconds: np.ndarray,
            sources: list[tuple[np.ndarray, np.ndarray] | None]) -> None:
        self.keys += keys
        self.blocks.append(microseconds)
        self.sources += sources


def _describe_many(series: Mapping[Hashable, np.ndarray], now: datetime | None) -> dict[Hashable, CadenceModel]:
    """Group the series by length, clean them (most need nothing), and describe each length of clean ones at once."""
    by_length: dict[int, list[tuple[Hashable, np.ndarray]]] = defaultdict(list)
    for key, values in series.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 1:
            raise ValueError(f"series {key!r}: expected a 1-D array of epoch seconds, got shape {values.shape}")
        by_length[len(values)].append((key, values))
    groups: dict[int, _CleanGroup] = defaultdict(_CleanGroup)  # by length once clean
    for length, members in by_length.items():
        keys = [key for key, _ in members]
        try:
            microseconds = _whole_microseconds(np.array([values for _, values in members]))
        except ValueError:
            strange = next(key for key, values in members if not np.isfinite(values).all())
            raise ValueError(f"series {strange!r}: epoch seconds must be finite numbers") from None
        fixes = _cleaning(microseconds, microseconds / 1e6)
        for row, (distinct, kept) in fixes.items():
            groups[len(kept)].add([keys[row]], distinct[kept][None, :], [(distinct, kept)])
        if fixes:
            rows = np.setdiff1d(np.arange(len(keys)), list(fixes))
            keys, microseconds = [keys[row] for row in rows.tolist()], microseconds[rows]
        groups[length].add(keys, microseconds, [None] * len(keys))
    models: dict[Hashable, CadenceModel] = {}
    for group in groups.values():
        microseconds = np.concatenate(group.blocks) if len(group.blocks) > 1 else group.blocks[0]
        _describe_clean(group.keys, microseconds, group.sources, now, models)
    return {key: models[key] for key in series}


def _cleaning(microseconds: np.ndarray, seconds: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """What ``_clean`` would change in series of one length (rows): for each row it changes, the distinct sorted
    instants and the positions kept among them. Most series are sorted, distinct and without retries."""
    fixes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if seconds.shape[1] < 2:
        return fixes
    gaps = np.diff(seconds, axis=1)
    increasing = (gaps > 0).all(axis=1)
    for row in np.flatnonzero(~increasing).tolist():  # unsorted or duplicated
        distinct = _distinct_sorted(microseconds[row], seconds[row])
        fixes[row] = distinct, np.flatnonzero(_not_retries(distinct / 1e6))
    if seconds.shape[1] >= 4:  # (shorter: no retry is looked for)
        # A tiny interval is under 5% of a median of other intervals, so of their maximum: most series are clear.
        unsure = np.flatnonzero(increasing & (gaps.min(axis=1) < RETRY_FRACTION * gaps.max(axis=1)))
        tiny = _tiny_intervals(gaps[unsure])
        with_tiny = tiny.any(axis=1)
        for row, keep in zip(unsure[with_tiny].tolist(), _without_retries(tiny[with_tiny])):
            fixes[row] = microseconds[row], np.flatnonzero(keep)
    return fixes


def _distinct_sorted(microseconds: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """One series' instants sorted, without exact duplicates, as ``_clean`` keeps them (the first of equals)."""
    order = np.argsort(seconds, kind="stable")
    distinct = np.ones(len(order), dtype=bool)
    distinct[1:] = np.diff(seconds[order]) > 0
    return microseconds[order][distinct]


def _describe_clean(keys: list[Hashable], microseconds: np.ndarray,
                    sources: list[tuple[np.ndarray, np.ndarray] | None], now: datetime | None,
                    models: dict[Hashable, CadenceModel]) -> None:
    """Models of clean series of one length (a row each: the kept events' whole microseconds).

    ``sources``: per row, the distinct sorted instants and the positions kept among them (None: all kept).
    Three tiers: bounds clear most series at the cost of a sort; the scan's own references, computed for the
    rest at once, clear those where no interval is worth a test; what remains takes the one-series path.
    """
    seconds = microseconds / 1e6
    rows, count = seconds.shape[0], seconds.shape[1] - 1
    quiet = np.zeros(rows, dtype=bool)
    starts: dict[int, tuple[_ScanStarts, int]] = {}  # the scanner's start of each unsure row: in which batch, where
    if count >= 1:
        gaps = np.diff(seconds, axis=1)
        quiet[:] = True
        sorted_logs = None
        if count >= MIN_REFERENCE + IRREGULAR_WINDOW:  # (shorter: no scan)
            logs = np.log(gaps)
            sorted_logs = np.sort(logs, axis=1)
            quiet = _surely_quiet(logs, sorted_logs)
            unsure = np.flatnonzero(~quiet)
            for first in range(0, len(unsure), SCREEN_BATCH):  # (batches bound the memory)
                batch = unsure[first : first + SCREEN_BATCH]
                batch_starts = _scan_starts(logs[batch])
                quiet[batch] = batch_starts.quiet()
                starts.update((row, (batch_starts, number)) for number, row in enumerate(batch.tolist()))
        calm = np.flatnonzero(quiet)
        if len(calm):
            calm_models = _quiet_models(microseconds, seconds, gaps, sorted_logs, calm, now)
            models.update(zip([keys[row] for row in calm.tolist()], calm_models))
    for row in np.flatnonzero(~quiet).tolist():
        distinct, kept = sources[row] or (microseconds[row], np.arange(count + 1))
        series = _Series(seconds=seconds[row], unique_index=kept, source_index=kept, source=_Instants(distinct))
        batch_starts, number = starts.get(row, (None, 0))
        models[keys[row]] = _model(series, now, batch_starts.row(number) if batch_starts is not None else None)


def _surely_quiet(logs: np.ndarray, sorted_logs: np.ndarray) -> np.ndarray:
    """Which series (rows of log-intervals, clean) certainly have no interval worth a test, from bounds.

    Conservative: instead of the scan's baselines (medians of up to 24 intervals) and spreads (IQRs), bounds on
    all of them at once. A baseline of at least w intervals lies between the floor((w - 1) / 2)-th smallest and
    largest of the intervals it can be drawn from, and its quartiles between the floor((w - 1) / 4)-th: if every
    spread is under the schedule threshold, no drift or schedule check can run; if no 6 tested intervals hold 4
    that could be out of band for any baseline, no verdict can fire. The scan then skips every window.
    """
    count = logs.shape[1]
    quiet = np.ones(len(logs), dtype=bool)
    # Intervals 13 to 28 are tested against the growing reference of all intervals before their window: bounds
    # per band of reference sizes (those of its smallest size, over the intervals of its largest) ...
    for smallest, largest in GROWING_BANDS:
        largest = min(largest, count - IRREGULAR_WINDOW)
        if smallest > largest:
            break
        growing = np.sort(logs[:, :largest], axis=1)
        quiet &= _quiet_against(growing, smallest, logs[:, smallest : largest + IRREGULAR_WINDOW])
    # ... and from 29 on, against the rolling reference of the 24 intervals before it (drawn from all of them).
    if count > FIRST_WINDOW_END:
        quiet &= _quiet_against(sorted_logs, REFERENCE_SIZE, logs[:, FIRST_WINDOW_END - IRREGULAR_WINDOW + 1 :])
    return quiet


def _quiet_against(ordered: np.ndarray, smallest: int, tested: np.ndarray) -> np.ndarray:
    """Whether windows of the ``tested`` log-intervals (at least 6 a row), against baselines of at least
    ``smallest`` of the ``ordered`` (sorted rows) log-intervals, certainly stay quiet (see ``_surely_quiet``)."""
    median_rank, quartile_rank = (smallest - 1) // 2, (smallest - 1) // 4
    widest_spread = (ordered[:, -1 - quartile_rank] - ordered[:, quartile_rank]) / IQR_TO_SIGMA
    # Out of band for some baseline: at least LOG_BAND above the lowest or below the highest (within the margin).
    above = ordered[:, median_rank, None] + (LOG_BAND - SCREEN_MARGIN)
    below = ordered[:, -1 - median_rank, None] - (LOG_BAND - SCREEN_MARGIN)
    may_be_out = ((tested >= above) | (tested <= below)).view(np.int8)
    last = tested.shape[1] - IRREGULAR_WINDOW + 1
    per_window = sum(may_be_out[:, start : start + last] for start in range(IRREGULAR_WINDOW))  # (windows of 6)
    return (widest_spread < SCHEDULE_SPREAD - SCREEN_MARGIN) & (per_window.max(axis=1) < IRREGULAR_MIN_OUT)


def _quiet_models(microseconds: np.ndarray, seconds: np.ndarray, gaps: np.ndarray, sorted_logs: np.ndarray | None,
                  calm: np.ndarray, now: datetime | None) -> list[CadenceModel]:
    """``_model`` of the ``calm`` rows of clean series of one length: quiet ones (no change, one regime from the
    first event). ``sorted_logs``: the rows' log-intervals, sorted, if at hand.

    The statistics are taken for all rows at once (whole columns of sorted rows: cheaper than copying the calm
    ones out), then the Python objects are made for the calm rows: most of the time goes there.
    """
    rows, count = gaps.shape
    recent = gaps[:, -RECENT_INTERVALS:]
    ordered = np.sort(recent, axis=1)
    typical = _sorted_median(ordered)
    spreads: list[float | None] = [None] * len(calm)
    if recent.shape[1] >= 4:
        spreads = ((_sorted_quantile(ordered, 0.75) - _sorted_quantile(ordered, 0.25)) / typical)[calm].tolist()
    patterns = ["unknown"] * len(calm)
    if recent.shape[1] >= MIN_REFERENCE:
        log_ordered = sorted_logs if sorted_logs is not None and count <= RECENT_INTERVALS else (
            np.sort(np.log(recent), axis=1))
        q25, _, q75 = _padded_quartiles(log_ordered, np.full(rows, recent.shape[1]))
        overall = typical if count <= RECENT_INTERVALS else _sorted_median(np.sort(gaps, axis=1))
        kind = np.where((q75 - q25) / IQR_TO_SIGMA >= IRREGULAR_SPREAD, 1, 0)  # as _pattern decides
        kind[_calendar_rows(seconds, gaps, overall)] = 2
        patterns = [("regular", "irregular", "business-hours")[k] for k in kind[calm].tolist()]
    # The Python objects, in bulk: a million floats and tens of thousands of objects. Each row's intervals as a
    # tuple of floats, straight from the array's bytes (the few rows not calm are made too: cheaper than a copy).
    every_row = struct.Struct(f"={recent.shape[1]}d").iter_unpack(np.ascontiguousarray(recent))
    is_calm = np.zeros(rows, dtype=bool)
    is_calm[calm] = True
    intervals = itertools.compress(every_row, is_calm.tolist())
    last_events = [_EPOCH + timedelta(microseconds=last) for last in microseconds[calm, -1].tolist()]
    since = [now - last for last in last_events] if now is not None else [None] * len(calm)
    return [
        CadenceModel(events=count + 1, typical_interval=timedelta(seconds=typical_seconds), spread=spread,
                     pattern=pattern, last_change=None, changes=(), intervals=interval_tuple,
                     last_event=last_event, since_last_event=since_last_event)
        for interval_tuple, typical_seconds, spread, pattern, last_event, since_last_event in zip(
            intervals, typical[calm].tolist(), spreads, patterns, last_events, since
        )
    ]


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
