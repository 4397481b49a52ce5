"""The scan: one pass over a series' log-intervals that holds the current regime, tests the windows the vectorised
screen flagged, locates where a change began, and retracts young changes that turn out to be bursts or pauses.

The only stateful code of the detector (``_Scanner``), kept apart so its state machine reads on its own; it takes
its arithmetic from ``stats`` and its window verdicts from ``windows``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from toolkit.core.cadence.stats import (
    _best_suffix, _exponential_log_likelihood, _first_true, _median, _padded_quartiles, _quartiles, _robust_spread,
    _schedule_log_likelihood, _sorted_median,
)
from toolkit.core.cadence.tuning import (
    DRIFT_LAG, DRIFT_MIN_FAST, DRIFT_MIN_OUT, DRIFT_ON_SCHEDULE, FAST_MIN_SPAN, FASTER, FIRST_WINDOW_END,
    IQR_TO_SIGMA, IRREGULAR, IRREGULAR_MIN_SPAN, IRREGULAR_MIN_SUFFIX, IRREGULAR_SPREAD, IRREGULAR_WINDOW,
    LOCATE_BEFORE_RUN, LOCATE_CAP, LOCATE_LOOKBACK, LOG_BAND, LOG_STEP, LOG_TIGHT, LONG_REFERENCE_SIZE,
    MIN_REFERENCE, MIN_REFERENCE_IRREGULAR, NEVER, RANDOM_SHORT_SHARE, REFERENCE_SIZE, RETRACT_RUN,
    RETRACT_RUN_IRREGULAR, SCHEDULE_RUN, SCHEDULE_SPREAD, SLOWER, STEP_RUN, YOUNG_COUNT, YOUNG_SPAN,
)
from toolkit.core.cadence.windows import (
    _band, _fold_missed_runs, _mild_edge, _scan_starts, _ScanStart, _schedule_like, _Stretch, _worth_testing,
)


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
    edge: float | None = None  # a mild step's: half its shift separates old intervals from new (else the band)


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
        band = detection.edge if detection.edge is not None else _band(detection.old_spread)
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
        window = self.logs[i - IRREGULAR_WINDOW + 1 : i + 1]
        if faster:
            edge = _mild_edge(window, baseline, band, -1)
            run_start = self._run_start(i, lambda d: d <= -edge, baseline)
            if self.gaps[run_start : i + 1].sum() < FAST_MIN_SPAN * typical:
                self._hold_out(run_start, i, baseline, band)  # maybe a burst: out of the baseline until it lasts
                return None
            self.excluded[run_start : i + 1] = False  # it did: these intervals are the new regime's
            self.version += 1
            return self._step(run_start, "faster", i, baseline, spread, edge != band)
        if slower:
            edge = _mild_edge(window, baseline, band, 1)
            run_start = self._run_start(i, lambda d: d >= edge, baseline)
            return self._step(run_start, "slower", i, baseline, spread, edge != band)
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

    def _step(self, run_start: int, kind: str, i: int, baseline: float, spread: float, mild: bool) -> _Detection:
        detection = self._detection(self._locate_step(run_start, i, baseline), kind, i, baseline, spread)
        if mild:
            detection.edge = abs(_median(self.logs[run_start : i + 1]) - baseline) / 2
        return detection

    def _detection(self, start: int, kind: str, i: int, baseline: float, spread: float) -> _Detection:
        return _Detection(start=max(start, self.regime_start + 1), kind=kind, detected_at=i, old_baseline=baseline,
                          old_spread=spread, old_regime_start=self.regime_start, old_regime_kind=self.regime_kind)


def _retract_run(detection: _Detection) -> int:
    return RETRACT_RUN_IRREGULAR if detection.kind == "irregular" else RETRACT_RUN
