"""Order statistics and likelihoods over numpy arrays, bit for bit as numpy computes them but for a fraction of its
overhead: medians, quartiles (plain, padded, rolling), robust spreads, the schedule-vs-exponential likelihoods.

A seam of its own because it knows nothing about cadences: it is pure arithmetic whose only contract is "equal to
``np.median`` / ``np.quantile``", tested by that; the scan, the batch screen and the input cleaning all stand on it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from toolkit.core.cadence.tuning import IQR_TO_SIGMA, MIN_SIGMA, NEVER, OUTLIER_RANGE, OUTLIER_SHARE


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


def _first_true(mask: np.ndarray, offset: int) -> int:
    """Index of the first True at or after offset; NEVER when none."""
    hits = np.flatnonzero(mask[offset:])
    return offset + int(hits[0]) if len(hits) else NEVER
