"""Judging windows of intervals, vectorised: the verdicts (faster, slower, irregular) of a window against a baseline,
which intervals are worth the scanner's attention, and the scanner's start (rolling baselines and the first
stretch) for many rows of series at once.

Apart from the scan because this is the numpy half of it: one series or ten thousand rows go through the same
functions (the scan uses them for one, the batch screen for many), and the loop in ``scan`` only visits what these
say can fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from toolkit.core.cadence.stats import _padded_quartiles, _rolling_quantiles, _sorted_median
from toolkit.core.cadence.tuning import (
    DRIFT_LAG, EXCUSED_MULTIPLES, FASTER, FIRST_WINDOW_END, IQR_TO_SIGMA, IRREGULAR, IRREGULAR_MIN_OUT,
    IRREGULAR_SPREAD, IRREGULAR_WINDOW, LATE_TOLERANCE, LOG_BAND, LOG_IRREGULAR_RANGE, LOG_STEP, LOG_TIGHT, MAX_IN_BAND_IRREGULAR,
    MILD_NOISE, MILD_SIDE, MILD_STEP, MIN_REFERENCE, MIN_REFERENCE_IRREGULAR, MULTIPLE_TOLERANCE, REFERENCE_SIZE,
    SCHEDULE_MISSED_RUNS, SCHEDULE_RUN, SCHEDULE_SPREAD, SLOWER, SPREAD_BAND, STEP_RUN,
)


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
    # Every verdict needs 4 out of band, or (a mild step) 4 at least MILD_STEP away, which is nearer.
    possible = np.count_nonzero(np.abs(deviation) >= np.minimum(band, MILD_STEP), axis=1) >= IRREGULAR_MIN_OUT
    if possible.any():
        # A mild step is judged only against a full baseline: a young regime's (a series' opening burst) is too
        # unsure of its own level.
        settled = np.broadcast_to(np.asarray(sizes) >= REFERENCE_SIZE, tested.shape)
        faster, slower, irregular = _verdicts(deviation[possible], band[possible],
                                              np.where(settled[possible], spread[possible], np.inf))
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


def _verdicts(deviation: np.ndarray, band: np.ndarray | float,
              spread: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window (row of log-deviations from the baseline): a faster step, a slower step, irregular arrivals.

    A step is the last 4 out of band with their median moved far (``LOG_STEP``), or, in a regime that is a schedule,
    a mild one (``_mild_steps``): the whole window on one side, most of it ``MILD_STEP`` away.
    """
    fast = deviation <= -band
    slow = deviation >= band
    step = deviation[:, -STEP_RUN:]
    step_median = _sorted_median(np.sort(step, axis=1))
    mild_faster, mild_slower = _mild_steps(deviation, spread)
    faster = (fast[:, -STEP_RUN:].all(axis=1) & (step_median <= -LOG_STEP)) | mild_faster
    slower = (slow[:, -STEP_RUN:].all(axis=1) & (step_median >= LOG_STEP)) | mild_slower
    out, late = _out_of_band(deviation, band)
    highest = np.where(out, deviation, -np.inf).max(axis=1)
    lowest = np.where(out, deviation, np.inf).min(axis=1)
    not_one_step = ((highest > 0) & (lowest < 0)) | (highest - lowest >= LOG_IRREGULAR_RANGE)
    in_band = ~fast & ~slow
    unsettled = ((in_band | late).sum(axis=1) <= MAX_IN_BAND_IRREGULAR) & (fast & ~late).any(axis=1) \
        & (slow & ~late).any(axis=1)
    burst_starting = fast[:, -1] & fast[:, -2]  # a gap then re-runs: wait, it may be a burst
    irregular = ((out.sum(axis=1) >= IRREGULAR_MIN_OUT) & not_one_step) | (unsettled & ~burst_starting)
    return faster, slower, irregular


def _mild_steps(deviation: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window: a mild faster or slower step (1.35x-1.8x) against a schedule's baseline (``spread`` inf: none).

    Jitter moves intervals both ways, a late run makes one long and the next short, a missed run is one long: none
    of them puts a whole window of 6 on one side with 4 of it 1.35x away. A schedule whose period changed does.
    """
    schedule = spread < SCHEDULE_SPREAD
    step = np.maximum(MILD_STEP, MILD_NOISE * spread)[:, None]  # a noisier schedule needs a larger step
    faster = schedule & (deviation <= -MILD_SIDE).all(axis=1) & (np.count_nonzero(deviation <= -step, axis=1)
                                                                >= STEP_RUN)
    slower = schedule & (deviation >= MILD_SIDE).all(axis=1) & (np.count_nonzero(deviation >= step, axis=1)
                                                               >= STEP_RUN)
    return faster, slower


def _mild_edge(logs: np.ndarray, baseline: float, band: float, sign: int) -> float:
    """How far from the baseline an interval must be to belong to the step ending ``logs`` (the window): the band
    for a step out of band, ``MILD_SIDE`` for a mild one (``sign``: -1 faster, +1 slower)."""
    return band if (sign * (logs[-STEP_RUN:] - baseline) >= band).all() else MILD_SIDE


def _out_of_band(deviation: np.ndarray, band: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Out of band, except the first two gaps per window that are whole multiples (missed runs) and, in a window
    that late runs alone take out of band, the intervals around them; and those late-run intervals."""
    out = np.abs(deviation) >= band
    missed = out & (deviation > 0) & (_fold_missed_runs(deviation) != deviation)
    excused = missed & (np.cumsum(missed, axis=1) <= EXCUSED_MULTIPLES)
    out &= ~excused
    late = _late_runs(deviation, band)
    late &= ~(out & ~late).any(axis=1)[:, None]  # random arrivals have other intervals out of band too
    return out & ~late, late


def _late_runs(deviation: np.ndarray, band: np.ndarray | float) -> np.ndarray:
    """The two intervals around a late (or early) run: one long, one short, out of band between them, and together
    the two intervals of the schedule (within ``LATE_TOLERANCE``). A busy worker, not a new cadence."""
    ratio = np.exp(deviation)
    first, second = deviation[:, :-1], deviation[:, 1:]
    out = (np.abs(first) >= band) | (np.abs(second) >= band) if np.ndim(band) == 0 else \
        (np.abs(first) >= band[:, :1]) | (np.abs(second) >= band[:, :1])
    pair = (first * second < 0) & out & (np.abs((ratio[:, :-1] + ratio[:, 1:]) / 2 - 1) <= LATE_TOLERANCE)
    late = np.zeros(deviation.shape, dtype=bool)
    late[:, :-1] |= pair
    late[:, 1:] |= pair
    return late


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
