"""Input: timestamps (datetimes, pandas, or epoch seconds) to one cleaned ``_Series`` of sorted UTC seconds, with
exact duplicates and retries dropped, and the way back from a kept event to the caller's value.

Its own module because everything about accepting and validating the caller's values (naive datetimes, NaT,
non-finite seconds, rounding to datetimes' microseconds) lives here, and nothing after it sees them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from toolkit.core.cadence.stats import _padded_median, _rolling_quantiles, _sorted_median
from toolkit.core.cadence.tuning import MAX_RETRY_RUN, RETRY_CONTEXT, RETRY_FRACTION, UTC


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
