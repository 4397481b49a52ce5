"""Many series at once (``describe_many``): group by length, clean what needs it, clear most series by bounds and the
rest by the scan's own first statistics computed together, build the quiet ones' models as whole columns (their
intervals read straight from the array's bytes), and send only the unsure ones through the one-series path.

Its own module because it is an optimisation with one contract, "the same models as ``describe_seconds``, faster",
and none of it is needed to understand what the detector decides.
"""

from __future__ import annotations

import itertools
import struct
from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from toolkit.core.cadence.changes import _model
from toolkit.core.cadence.model import CadenceModel
from toolkit.core.cadence.pattern import _calendar_rows
from toolkit.core.cadence.series import (
    _EPOCH, _Instants, _not_retries, _Series, _tiny_intervals, _whole_microseconds, _without_retries,
)
from toolkit.core.cadence.stats import _padded_quartiles, _sorted_median, _sorted_quantile
from toolkit.core.cadence.tuning import (
    FIRST_WINDOW_END, IQR_TO_SIGMA, IRREGULAR_MIN_OUT, IRREGULAR_SPREAD, IRREGULAR_WINDOW, LOG_BAND, MILD_SIDE, MILD_STEP,
    MIN_REFERENCE,
    RECENT_INTERVALS, REFERENCE_SIZE, RETRY_FRACTION, SCHEDULE_SPREAD, STEP_RUN,
)
from toolkit.core.cadence.windows import _scan_starts, _ScanStarts


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
    # How far above the lowest baseline or below the highest an interval lies (within the margin): a verdict needs
    # 4 of a window's 6 out of band, or a mild step, the whole window on one side with 4 of it MILD_STEP away.
    above = tested - ordered[:, median_rank, None] + SCREEN_MARGIN
    below = ordered[:, -1 - median_rank, None] - tested + SCREEN_MARGIN
    out = _per_window((above >= LOG_BAND) | (below >= LOG_BAND))
    mild_up = (_per_window(above >= MILD_SIDE) == IRREGULAR_WINDOW) & (_per_window(above >= MILD_STEP) >= STEP_RUN)
    mild_down = (_per_window(below >= MILD_SIDE) == IRREGULAR_WINDOW) & (_per_window(below >= MILD_STEP) >= STEP_RUN)
    may_act = (out >= IRREGULAR_MIN_OUT) | mild_up | mild_down
    return (widest_spread < SCHEDULE_SPREAD - SCREEN_MARGIN) & ~may_act.any(axis=1)


def _per_window(flags: np.ndarray) -> np.ndarray:
    """How many of each window of 6 consecutive flags (rows) are set."""
    flags = flags.view(np.int8)
    last = flags.shape[1] - IRREGULAR_WINDOW + 1
    return sum(flags[:, start : start + last] for start in range(IRREGULAR_WINDOW))


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
