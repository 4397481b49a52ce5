"""Cadence-change detection benchmark: quality on a labelled synthetic corpus, and speed of the pure function.

The corpus is generated deterministically (seeded) and covers what asset-event histories really look like:

- stable series that must stay quiet: jitter, missed runs, retries, backfill bursts (also at the start, and catch-up
  bursts after an outage), outages, slow drift, business hours, weekday-only daily runs, a daily run at 06:00
  America/Los_Angeles across the 2026 daylight-saving changes, all noises mixed, and event-driven (Poisson) assets;
- changed series: 2x-10x faster or slower, a schedule turning into Poisson arrivals (mean 0.4x-3x the old
  interval), or the reverse (event-driven arrivals put on a schedule 0.3x-3x their mean interval), at a random
  position, with jitter, missed runs and retries mixed in.

Base cadences run from 1 minute to 1 day; series hold 60-300 events. afkit's detector is scored against two naive
baselines run in the same script: a trailing-median ratio with a 2x threshold, and a z-score on intervals. A report
counts as a hit when its first event is within 3 events of the true change; every other report is a false alarm.
Online delay: for changed series, the smallest k such that the method run on the first k events reports the change,
minus the change's index (events of the new regime it needed).

Goals: F1 >= 0.95, no false alarm on stable series, median online delay <= 6 events; detect_changes on 10,000 events
within 50 ms; describe_many on the plugin's workload, 10,000 assets x 100 events (95% on a schedule, 5% changed,
event-driven or in business hours), "well under 1 s" (issue 18): at most 500 ms for that mix, under 1 s with 5% changed.
(The first goal, 200 ms for the mix, held before mild steps were looked for; they make more series need the scan.)

That corpus is the one the detector was tuned on. The **honest corpus** (issue 18) follows: the same generators with
their parameters drawn wider and per series (period, jitter 5-30% of it, late runs, duplicates on every kind of
series), the cases an independent corpus found added (noisy but stable producers with late, missed and duplicated
runs; 1.5-3x slowdowns and speed-ups; 2-4x changes between noisy regimes), over 20 seeds: pooled F1, the worst seed,
the stable series with any alarm and per-category misses. Goals there: pooled F1 >= 0.97, worst seed >= 0.93, no
stable series with an alarm, median online delay <= 6 events. Run from the repository root:
``.venv/bin/python benchmarks/cadence_benchmark.py [--quick] [--seeds N] [--honest-only]``.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.core.cadence import describe, describe_many, detect_changes  # noqa: E402

UTC = timezone.utc
MATCH_TOLERANCE = 3  # events between a reported change and the true one
ONLINE_HORIZON = 40  # events after the change after which an online detection counts as never
CADENCES = [60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 4 * 3600, 6 * 3600, 12 * 3600, 86400]
ZONES = ["America/Los_Angeles", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"]
STABLE = ["jitter", "missed_runs", "retries", "burst", "outage", "drift", "business_hours", "weekday_daily",
          "dst_daily", "mixed_noise", "event_driven"]
CHANGED = ["faster", "slower", "to_irregular", "to_schedule"]
# The honest corpus adds the cases an independent corpus found (issue 18): noisy but stable producers, milder
# slowdowns and speed-ups, and changes inside noisy regimes.
HONEST_STABLE = [*STABLE, "noisy_schedule"]
HONEST_CHANGED = [*CHANGED, "slower_mild", "faster_mild", "noisy_change"]
EXPECTED_KIND = {"faster": "faster", "slower": "slower", "to_irregular": "irregular", "to_schedule": "regular",
                 "slower_mild": "slower", "faster_mild": "faster"}


@dataclass(frozen=True)
class Profile:
    """How a corpus draws its parameters: the original one (tuned on), or the honest one (drawn wider, per series)."""

    name: str
    jitter: tuple[float, float]  # each schedule's jitter, as a share of its period
    factor: tuple[float, float]  # faster / slower changes
    late_share: tuple[float, float] = (0.0, 0.0)  # runs half to one and a half periods late
    duplicate_share: tuple[float, float] = (0.0, 0.0)  # a retry's second event, on any series


LEGACY = Profile("original", jitter=(0.1, 0.2), factor=(2, 10))
HONEST = Profile("honest", jitter=(0.05, 0.3), factor=(2, 10), late_share=(0.0, 0.03), duplicate_share=(0.0, 0.03))


@dataclass
class Case:
    category: str
    times: list[datetime]
    change_index: int | None  # index in ``times`` of the first event of the new regime
    expected_kind: str | None = None


# ----------------------------------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------------------------------


def _schedule(rng: random.Random, start: float, interval: float, count: int, jitter: float,
              drift: float = 0.0) -> list[float]:
    """A scheduled series: either interval noise (each interval x (1 +- jitter)) or tick + run-duration noise."""
    times: list[float] = []
    if rng.random() < 0.5:
        t = start
        for k in range(count):
            scale = 1 + drift * k / max(count - 1, 1)
            times.append(t)
            t += interval * scale * (1 + rng.uniform(-jitter, jitter))
    else:
        t = start
        for k in range(count):
            scale = 1 + drift * k / max(count - 1, 1)
            times.append(t + interval * rng.uniform(0, jitter))
            t += interval * scale
    return times


def _miss_runs(rng: random.Random, times: list[float], rate: float, protect: set[int] = frozenset()) -> list[float]:
    """Drop scheduled events, sometimes two or three in a row (a scheduler hiccup)."""
    kept: list[float] = []
    skip = 0
    for k, t in enumerate(times):
        if k in protect or k == 0 or k == len(times) - 1:
            kept.append(t)
            continue
        if skip:
            skip -= 1
            continue
        if rng.random() < rate:
            skip = rng.choice([0, 0, 0, 1, 2])
            continue
        kept.append(t)
    return kept


def _add_retries(rng: random.Random, times: list[float], rate: float,
                 local_interval: Callable[[float], float]) -> list[float]:
    """A retry emits the event twice: the duplicate comes seconds to minutes after the real one."""
    extra = []
    for t in times:
        if rng.random() < rate:
            gap = local_interval(t)
            extra.append(t + max(1.0, min(gap * rng.uniform(0.002, 0.04), rng.uniform(5, 900))))
    return sorted(times + extra)


def _late_runs(rng: random.Random, times: list[float], share: float, interval: float) -> list[float]:
    """Some runs start half to one and a half periods late (a busy worker); the schedule after them does not move."""
    moved = [t + interval * rng.uniform(0.5, 1.5) if 0 < k < len(times) - 1 and rng.random() < share else t
             for k, t in enumerate(times)]
    return sorted(moved)


def _burst(rng: random.Random, at: float, interval: float) -> list[float]:
    """A backfill or manual re-run burst: 10-60 events seconds to minutes apart."""
    count = rng.randint(10, 60)
    spacing = interval * rng.uniform(0.002, 0.03)
    spacing = max(1.0, min(spacing, rng.uniform(20, 600)))
    times, t = [], at
    for _ in range(count):
        t += spacing * rng.uniform(0.5, 1.5)
        times.append(t)
    return times


def _start(rng: random.Random) -> float:
    base = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    return base + rng.randrange(0, 300) * 86400 + rng.randrange(0, 86400)


def _local_days(rng: random.Random, zone: ZoneInfo, first: datetime, hour: int, minute: int, weekdays_only: bool,
                count: int, jitter_minutes: float) -> list[float]:
    times: list[float] = []
    day = first.date()
    while len(times) < count:
        if not weekdays_only or day.weekday() < 5:
            local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            times.append(local.timestamp() + rng.uniform(0, jitter_minutes * 60))
        day += timedelta(days=1)
    return times


def _business_hours(rng: random.Random, count: int) -> list[float]:
    """Every 30 min / 1 h / 2 h from opening to closing on weekdays, local time, with run-duration noise."""
    zone = ZoneInfo(rng.choice(ZONES))
    step = rng.choice([30, 60, 60, 120])
    opening, closing = rng.choice([(8, 18), (9, 17), (9, 17), (7, 19)])
    day = datetime.fromtimestamp(_start(rng), UTC).date()
    times: list[float] = []
    while len(times) < count:
        if day.weekday() < 5:
            minute = opening * 60
            while minute <= closing * 60 and len(times) < count:
                local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
                times.append(local.timestamp() + step * 60 * rng.uniform(0.02, 0.2))
                minute += step
        day += timedelta(days=1)
    return times


def _poisson(rng: random.Random, start: float, mean: float, count: int) -> list[float]:
    times, t = [], start
    for _ in range(count):
        t += rng.expovariate(1 / mean)
        times.append(t)
    return times


def _stable_case(rng: random.Random, category: str, profile: Profile = LEGACY) -> list[float]:
    interval = rng.choice(CADENCES) if profile is LEGACY else rng.choice(CADENCES) * rng.uniform(0.8, 1.25)
    count = rng.randint(60, 300)
    jitter = rng.uniform(*profile.jitter)
    start = _start(rng)
    if category == "noisy_schedule":  # issue 18's false pages: noisy, late, missed and duplicated, yet stable
        times = _schedule(rng, start, interval, count, rng.uniform(max(0.15, profile.jitter[0]), profile.jitter[1]))
        times = _late_runs(rng, times, rng.uniform(0.01, 0.04), interval)
        times = _miss_runs(rng, times, rng.uniform(0.01, 0.05))
        return _add_retries(rng, times, rng.uniform(0.01, 0.05), lambda _: interval)
    if category == "jitter":
        return _schedule(rng, start, interval, count, jitter)
    if category == "missed_runs":
        return _miss_runs(rng, _schedule(rng, start, interval, count, jitter), rng.uniform(0.02, 0.08))
    if category == "retries":
        return _add_retries(rng, _schedule(rng, start, interval, count, jitter), rng.uniform(0.03, 0.15),
                            lambda _: interval)
    if category == "burst":
        times = _schedule(rng, start, interval, count, jitter)
        where = 0 if rng.random() < 0.2 else rng.randrange(10, count - 45)  # the usual cadence follows
        if where and rng.random() < 0.3:  # an outage, then the scheduler catches up
            cut = rng.randint(5, 30)
            times = times[:where] + times[where + cut :]
            burst = _burst(rng, times[where - 1] + cut * interval, interval)
            return sorted(set(times + burst))
        return sorted(set(times + _burst(rng, times[where] + 1.0, interval)))
    if category == "outage":
        times = _schedule(rng, start, interval, count, jitter)
        where = rng.randrange(15, count - 15)
        length = rng.uniform(8, 40) * interval
        shift = 0.0 if rng.random() < 0.5 else rng.uniform(0, interval)
        return times[:where] + [t + length + shift for t in times[where:]]
    if category == "drift":
        return _schedule(rng, start, interval, count, jitter, drift=rng.choice([-0.3, 0.3]))
    if category == "business_hours":
        return _miss_runs(rng, _business_hours(rng, count), rng.uniform(0, 0.03))
    if category == "weekday_daily":
        zone = ZoneInfo(rng.choice(ZONES))
        first = datetime.fromtimestamp(start, UTC)
        return _local_days(rng, zone, first, rng.randint(0, 23), rng.choice([0, 15, 30]), True, count, 20)
    if category == "dst_daily":
        zone = ZoneInfo("America/Los_Angeles")
        first = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 40))
        return _local_days(rng, zone, first, 6, 0, False, 300, 10)  # Mar 8, and mostly Nov 1, within
    if category == "mixed_noise":
        times = _schedule(rng, start, interval, count, jitter, drift=rng.uniform(-0.3, 0.3))
        times = _miss_runs(rng, times, rng.uniform(0.02, 0.06))
        where = rng.randrange(15, len(times) - 15)
        outage = rng.uniform(8, 30) * interval
        times = times[:where] + [t + outage for t in times[where:]]
        times = _add_retries(rng, times, rng.uniform(0.03, 0.1), lambda _: interval)
        where = rng.randrange(10, len(times) - 15)
        return sorted(set(times + _burst(rng, times[where] + 1.0, interval)))
    if category == "event_driven":
        return _poisson(rng, start, interval, count)
    raise ValueError(category)


def _changed_case(rng: random.Random, category: str, profile: Profile = LEGACY) -> tuple[list[float], float]:
    """A changed series and the time of the first event of the new regime."""
    interval = rng.choice(CADENCES) if profile is LEGACY else rng.choice(CADENCES) * rng.uniform(0.8, 1.25)
    count = rng.randint(60, 300)
    change = rng.randint(20, count - 20)
    jitter = rng.uniform(*profile.jitter)
    start = _start(rng)
    if category in ("slower_mild", "faster_mild", "noisy_change"):
        return _honest_change(rng, category, interval, count, change, start, profile)
    if category == "to_schedule":
        old = _poisson(rng, start, interval, change)
    else:
        old = _schedule(rng, start, interval, change, jitter)
    last = old[-1]
    if category == "to_irregular":
        new_interval = interval * math.exp(rng.uniform(math.log(0.4), math.log(3)))
        new = _poisson(rng, last, new_interval, count - change)
    elif category == "to_schedule":  # an event-driven asset put on a schedule (interval 0.3x-3x the old mean)
        new_interval = interval * math.exp(rng.uniform(math.log(0.3), math.log(3)))
        new = _schedule(rng, last + new_interval, new_interval, count - change, rng.uniform(*profile.jitter))
    else:
        factor = math.exp(rng.uniform(math.log(profile.factor[0]), math.log(profile.factor[1])))
        new_interval = interval / factor if category == "faster" else interval * factor
        new = _schedule(rng, last + new_interval, new_interval, count - change, rng.uniform(*profile.jitter))
    first_new = new[0]
    if rng.random() < 0.5:
        if category != "to_schedule":
            old = _miss_runs(rng, old, rng.uniform(0.02, 0.06), protect={len(old) - 1})
        if category != "to_irregular":
            new = _miss_runs(rng, new, rng.uniform(0.02, 0.06), protect={0})
    times = old + new
    if rng.random() < 0.5:
        times = _add_retries(rng, times, rng.uniform(0.03, 0.1),
                             lambda t: interval if t < first_new else new_interval)
    return times, first_new


def _honest_change(rng: random.Random, category: str, interval: float, count: int, change: int, start: float,
                   profile: Profile) -> tuple[list[float], float]:
    """Milder slowdowns and speed-ups (1.5-3x), and 2-4x changes either way between noisy regimes (jitter 15-30%,
    late runs, missed runs and duplicates on both sides)."""
    if category == "noisy_change":
        factor = math.exp(rng.uniform(math.log(2), math.log(4)))
        faster = rng.random() < 0.5
        jitters = [rng.uniform(0.15, 0.3) for _ in range(2)]
    else:
        factor = math.exp(rng.uniform(math.log(1.5), math.log(3)))
        faster = category == "faster_mild"
        jitters = [rng.uniform(*profile.jitter) for _ in range(2)]
    new_interval = interval / factor if faster else interval * factor
    old = _schedule(rng, start, interval, change, jitters[0])
    new = _schedule(rng, old[-1] + new_interval, new_interval, count - change, jitters[1])
    first_new = new[0]
    if category == "noisy_change":
        old = _miss_runs(rng, _late_runs(rng, old, rng.uniform(0.01, 0.03), interval), rng.uniform(0.01, 0.04),
                         protect={len(old) - 1})
        new = _miss_runs(rng, _late_runs(rng, new, rng.uniform(0.01, 0.03), new_interval), rng.uniform(0.01, 0.04),
                         protect={0})
        new[0] = first_new
    times = _add_retries(rng, old + new, rng.uniform(0.0, 0.05),
                         lambda t: interval if t < first_new else new_interval)
    return times, first_new


def build_corpus(seed: int, per_stable: int, per_changed: int, profile: Profile = LEGACY) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    stable, changed = (STABLE, CHANGED) if profile is LEGACY else (HONEST_STABLE, HONEST_CHANGED)
    for category in stable:
        for _ in range(per_stable):
            seconds = _stable_case(rng, category, profile)
            if profile.duplicate_share[1] and category != "noisy_schedule":
                interval = float(np.median(np.diff(sorted(seconds))))
                seconds = _add_retries(rng, seconds, rng.uniform(*profile.duplicate_share), lambda _: interval)
            seconds = sorted(set(seconds))
            cases.append(Case(category, [_as_datetime(s) for s in seconds], None))
    for category in changed:
        for _ in range(per_changed):
            seconds, first_new = _changed_case(rng, category, profile)
            seconds = sorted(set(seconds))
            times = [_as_datetime(s) for s in seconds]
            index = bisect.bisect_left(times, _as_datetime(first_new))
            cases.append(Case(category, times, index, _expected_kind(category, times, index)))
    return cases


def _expected_kind(category: str, times: list[datetime], index: int) -> str:
    """The kind a correct detector names: by category, or for a noisy change by the direction it took."""
    if category in EXPECTED_KIND:
        return EXPECTED_KIND[category]
    seconds = np.array([t.timestamp() for t in times])
    before, after = np.median(np.diff(seconds[:index])), np.median(np.diff(seconds[index:]))
    return "faster" if after < before else "slower"


def _as_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(round(seconds, 3), UTC)


# ----------------------------------------------------------------------------------------------------------------
# Methods: each returns the reported changes as (first event of the new regime, kind)
# ----------------------------------------------------------------------------------------------------------------


def afkit_method(times: list[datetime]) -> list[tuple[datetime, str]]:
    return [(change.at, change.kind) for change in detect_changes(times)]


def _intervals(times: list[datetime]) -> np.ndarray:
    seconds = np.array([t.timestamp() for t in times])
    return np.diff(seconds)


def trailing_median_method(times: list[datetime], recent: int = 5, history: int = 20) -> list[tuple[datetime, str]]:
    """Median of the last 5 intervals against the median of the 20 before; a change when the ratio is >=2 or <=0.5."""
    gaps = pd.Series(_intervals(times))
    now = gaps.rolling(recent).median()
    before = gaps.shift(recent).rolling(history, min_periods=10).median()
    ratio = (now / before).to_numpy()
    flagged = (ratio >= 2) | (ratio <= 0.5)
    return [(times[i - recent + 2], "faster" if ratio[i] < 1 else "slower") for i in _run_starts(flagged)]


def zscore_method(times: list[datetime], history: int = 20, threshold: float = 3.0,
                  consecutive: int = 3) -> list[tuple[datetime, str]]:
    """An interval whose z-score against the previous 20 exceeds 3, three times in a row."""
    gaps = pd.Series(_intervals(times))
    mean = gaps.shift(1).rolling(history, min_periods=10).mean()
    std = gaps.shift(1).rolling(history, min_periods=10).std()
    z = ((gaps - mean) / std.replace(0, np.nan)).to_numpy()
    out = np.abs(np.nan_to_num(z)) > threshold
    run = np.convolve(out.astype(int), np.ones(consecutive, dtype=int), mode="full")[: len(out)] == consecutive
    return [(times[i - consecutive + 2], "faster" if z[i] < 0 else "slower") for i in _run_starts(run)]


def _run_starts(flagged: np.ndarray) -> list[int]:
    """Index of the first flag of each run of flags."""
    previous = np.concatenate(([False], flagged[:-1]))
    return [int(i) for i in np.flatnonzero(flagged & ~previous)]


METHODS: dict[str, Callable[[list[datetime]], list[tuple[datetime, str]]]] = {
    "afkit": afkit_method,
    "trailing-median 2x": trailing_median_method,
    "z-score > 3": zscore_method,
}


# ----------------------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    stable_series: int = 0
    stable_with_alarm: int = 0
    kinds_right: int = 0
    delays: list[float] = field(default_factory=list)
    per_category: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    @property
    def precision(self) -> float:
        return self.true_positives / max(self.true_positives + self.false_positives, 1)

    @property
    def recall(self) -> float:
        return self.true_positives / max(self.true_positives + self.false_negatives, 1)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _match(case: Case, reports: list[tuple[datetime, str]]) -> tuple[bool, int, bool]:
    """(hit, false alarms, kind right) of one method's reports on one case."""
    indices = [(bisect.bisect_left(case.times, at), kind) for at, kind in reports]
    if case.change_index is None:
        return False, len(indices), False
    hits = [kind for index, kind in indices if abs(index - case.change_index) <= MATCH_TOLERANCE]
    hit = bool(hits)
    return hit, len(indices) - (1 if hit else 0), hit and hits[0] == case.expected_kind


def score(method: Callable, cases: list[Case]) -> Score:
    result = Score()
    for case in cases:
        hit, false_alarms, kind_right = _match(case, method(case.times))
        counts = result.per_category[case.category]
        counts[0] += 1
        counts[2] += false_alarms
        result.false_positives += false_alarms
        if case.change_index is None:
            result.stable_series += 1
            result.stable_with_alarm += false_alarms > 0
        else:
            result.true_positives += hit
            result.false_negatives += not hit
            result.kinds_right += kind_right
            counts[1] += not hit
    return result


def online_delay(method: Callable, case: Case) -> float:
    """Events of the new regime needed before the method, run on the prefix, reports the change (inf: never)."""
    assert case.change_index is not None
    last = min(len(case.times), case.change_index + ONLINE_HORIZON)
    for k in range(case.change_index + 1, last + 1):
        prefix = case.times[:k]
        hit, _, _ = _match(Case(case.category, prefix, case.change_index), method(prefix))
        if hit:
            return float(k - case.change_index)
    return math.inf


# ----------------------------------------------------------------------------------------------------------------
# Speed
# ----------------------------------------------------------------------------------------------------------------


def speed(rng: random.Random, runs: int = 20) -> dict[str, float]:
    """Median milliseconds of detect_changes on 10,000 events (after a warm-up)."""
    interval = 300.0
    noisy = _add_retries(rng, _miss_runs(rng, _schedule(rng, _start(rng), interval, 10_300, 0.15), 0.03), 0.05,
                         lambda _: interval)[:10_000]
    changed = _schedule(rng, _start(rng), interval, 5_000, 0.15)
    changed += _schedule(rng, changed[-1] + interval / 4, interval / 4, 5_000, 0.15)
    series = {
        "regular with noise (list of datetime)": [_as_datetime(s) for s in noisy],
        "one change (list of datetime)": [_as_datetime(s) for s in changed],
        "event-driven (list of datetime)": [_as_datetime(s) for s in _poisson(rng, _start(rng), interval, 10_000)],
    }
    series["regular with noise (pandas Series)"] = pd.Series(
        pd.to_datetime(series["regular with noise (list of datetime)"], utc=True)
    )
    timings = {}
    for name, times in series.items():
        detect_changes(times)
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            detect_changes(times)
            samples.append((time.perf_counter() - started) * 1000)
        timings[name] = statistics.median(samples)
    return timings


def fleet(rng: random.Random, assets: int = 10_000, events: int = 100, other_share: float = 0.05,
          others: tuple[str, ...] = ("changed", "event_driven", "business_hours")) -> dict[str, np.ndarray]:
    """What the plugin reads: each asset's newest ``events`` event times, as epoch seconds (ascending).

    Most assets run on a schedule (1 minute to 1 day, 5-20% jitter, a third with missed runs); ``other_share`` of
    them, in equal parts, are of the ``others`` kinds: changed cadence within the window (faster, slower, to or
    from event-driven), event-driven, or business hours only.
    """
    series = {}
    for number in range(assets):
        if rng.random() >= other_share:
            interval = rng.choice(CADENCES)
            times = _schedule(rng, _start(rng), interval, events + 10, rng.uniform(0.05, 0.2))
            if rng.random() < 1 / 3:
                times = _miss_runs(rng, times, rng.uniform(0.01, 0.04))
            times = times[-events:]
        else:
            category = rng.choice(others)
            if category == "event_driven":
                times = _poisson(rng, _start(rng), rng.choice(CADENCES), events)
            elif category == "business_hours":
                times = _business_hours(rng, events)
            else:  # a window of the newest events that holds the change
                times, first_new = _changed_case(rng, rng.choice(CHANGED))
                change = bisect.bisect_left(times, first_new)
                first = max(0, min(change - rng.randint(events // 5, events - events // 5), len(times) - events))
                times = times[first : first + events]
        series[f"asset-{number}"] = np.array(times)
    return series


FLEET_GOAL_MS = 500.0  # "well under 1 s": the plugin's budget for the detection, the database read taking the rest
WORST_GOAL_MS = 1000.0  # ... and under the second when many assets changed at once (each takes the scan)
MIXED = "95% scheduled, 5% changed / event-driven / business hours"
ALL_SCHEDULED = "all scheduled"
MANY_CHANGED = "95% scheduled, 5% changed"


@dataclass
class FleetSpeed:
    describe_many_ms: dict[str, float]  # mix -> median milliseconds for the whole fleet
    describe_ms_per_asset: float  # describe() on datetimes, one call per asset, on a sample
    sample_equal: bool  # describe_many gave exactly describe()'s models on that sample


def fleet_speed(rng: random.Random, runs: int = 5, sample: int = 300) -> FleetSpeed:
    """describe_many on 10,000 assets x 100 events: median of ``runs`` after a warm-up, per mix; and describe()
    in a loop on a sample of the mixed fleet, per asset, for comparison (and to check the models are the same)."""
    mixes = {MIXED: fleet(rng), ALL_SCHEDULED: fleet(rng, other_share=0.0),
             MANY_CHANGED: fleet(rng, others=("changed",))}
    timings = {}
    for name, series in mixes.items():
        describe_many(series)
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            models = describe_many(series)
            samples.append((time.perf_counter() - started) * 1000)
            del models  # (freeing 10,000 models is the caller's time, not describe_many's)
        timings[name] = statistics.median(samples)
    chosen = random.Random(0).sample(sorted(mixes[MIXED].items()), sample)
    as_datetimes = {key: [datetime.fromtimestamp(s, UTC) for s in seconds.tolist()] for key, seconds in chosen}
    started = time.perf_counter()
    one_by_one = {key: describe(times) for key, times in as_datetimes.items()}
    per_asset = (time.perf_counter() - started) * 1000 / sample
    return FleetSpeed(timings, per_asset, describe_many(dict(chosen)) == one_by_one)


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass
class MethodResult:
    score: Score
    delays: dict[str, list[float]]  # category -> online delays
    seconds: float

    @property
    def all_delays(self) -> list[float]:
        return [delay for delays in self.delays.values() for delay in delays]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def honest_report(first_seed: int, seeds: int, per_stable: int, per_changed: int, online: int) -> Score:
    """The honest corpus (parameters drawn per series, issue 18's cases added) over many seeds: pooled F1, the worst
    seed, stable series with any alarm, per-category misses, and the online delay on a sample. Returns afkit's
    pooled score."""
    pooled = {name: Score() for name in METHODS}
    per_seed: dict[str, list[tuple[float, int]]] = {name: [] for name in METHODS}
    online_cases: list[Case] = []
    series = events = 0
    for seed in range(first_seed, first_seed + seeds):
        cases = build_corpus(seed, per_stable, per_changed, HONEST)
        series += len(cases)
        events += sum(len(c.times) for c in cases)
        changed = [c for c in cases if c.change_index is not None]
        online_cases += random.Random(seed).sample(changed, min(max(1, online // seeds), len(changed)))
        for name, method in METHODS.items():
            result = score(method, cases)
            per_seed[name].append((result.f1, seed))
            total = pooled[name]
            total.true_positives += result.true_positives
            total.false_positives += result.false_positives
            total.false_negatives += result.false_negatives
            total.stable_series += result.stable_series
            total.stable_with_alarm += result.stable_with_alarm
            total.kinds_right += result.kinds_right
            for category, counts in result.per_category.items():
                for k in range(3):
                    total.per_category[category][k] += counts[k]
    print(f"\nhonest corpus ({HONEST.name} profile): {seeds} seeds from {first_seed}, {series} series, {events:,} "
          f"events; jitter {HONEST.jitter[0]:.2f}-{HONEST.jitter[1]:.2f} of the period, late runs, duplicates, "
          "and issue 18's categories")
    header = (f"{'method':<20} {'pooled F1':>9} {'precision':>9} {'recall':>7} {'worst seed F1':>14} "
              f"{'stable w/ alarm':>17} {'median delay':>12} {'kind ok':>8}")
    print(header)
    print("-" * len(header))
    delays = {name: [online_delay(method, case) for case in online_cases] for name, method in METHODS.items()}
    for name, total in pooled.items():
        worst, worst_seed = min(per_seed[name])
        stable_alarm = f"{total.stable_with_alarm}/{total.stable_series}"
        kinds = f"{100 * total.kinds_right / max(total.true_positives, 1):.0f}%" if name == "afkit" else "-"
        print(f"{name:<20} {total.f1:>9.3f} {total.precision:>9.3f} {total.recall:>7.3f} "
              f"{worst:>8.3f} ({worst_seed}) {stable_alarm:>17} {_median(delays[name]):>12} {kinds:>8}")
    print(f"(online delay on {len(online_cases)} changed series, a few from each seed)")
    print("\nper category, pooled: series / missed changes / false alarms")
    print(f"{'category':<16}" + "".join(f"{name:>24}" for name in METHODS))
    for category in HONEST_STABLE + HONEST_CHANGED:
        row = f"{category:<16}"
        for name in METHODS:
            n, missed, false_alarms = pooled[name].per_category[category]
            cell = f"{n} / {missed if category in HONEST_CHANGED else '-'} / {false_alarms}"
            row += f"{cell:>24}"
        print(row)
    afkit, afkit_delay = pooled["afkit"], _median(delays["afkit"])
    worst = min(per_seed["afkit"])[0]
    print("\ngoals on the honest corpus (afkit, issue 18)")
    print(f"  pooled F1 >= 0.97                   {afkit.f1:.3f}  {_verdict(afkit.f1 >= 0.97)}")
    print(f"  worst seed F1 >= 0.93               {worst:.3f}  {_verdict(worst >= 0.93)}")
    print(f"  no stable series with an alarm      {afkit.stable_with_alarm}/{afkit.stable_series}  "
          f"{_verdict(afkit.stable_with_alarm == 0)}")
    print(f"  median online delay <= 6 events     {afkit_delay}  {_verdict(afkit_delay <= 6)}")
    return afkit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smaller corpus (about a fifth)")
    parser.add_argument("--seed", type=int, default=20260501)
    parser.add_argument("--online", type=int, default=150, help="changed series used for the online delay")
    parser.add_argument("--seeds", type=int, default=20, help="seeds of the honest corpus (issue 18)")
    parser.add_argument("--honest-only", action="store_true", help="only the honest corpus, not the original one")
    args = parser.parse_args()
    if args.honest_only:
        honest_report(args.seed, args.seeds, 3 if args.quick else 12, 5 if args.quick else 20, args.online)
        return 0
    per_stable, per_changed = (8, 25) if args.quick else (40, 110)
    online = args.online // 3 if args.quick else args.online
    cases = build_corpus(args.seed, per_stable, per_changed)
    changed = [case for case in cases if case.change_index is not None]
    online_sample = random.Random(args.seed + 1).sample(changed, min(online, len(changed)))
    print(f"corpus: {len(cases)} series ({len(cases) - len(changed)} stable, {len(changed)} changed), "
          f"{sum(len(c.times) for c in cases):,} events, seed {args.seed}")
    print(f"online delay: on a random {len(online_sample)} of the changed series, events of the new regime seen "
          f"before the method (run on the growing prefix) reports the change; never within {ONLINE_HORIZON} = inf\n")

    results: dict[str, MethodResult] = {}
    for name, method in METHODS.items():
        started = time.perf_counter()
        delays: dict[str, list[float]] = defaultdict(list)
        for case in online_sample:
            delays[case.category].append(online_delay(method, case))
        results[name] = MethodResult(score(method, cases), delays, time.perf_counter() - started)

    header = (f"{'method':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'stable w/ alarm':>17} "
              f"{'false alarms':>12} {'median delay':>12} {'online found':>12} {'kind ok':>8} {'time s':>7}")
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        sc = result.score
        share = 100 * sc.stable_with_alarm / max(sc.stable_series, 1)
        stable_alarm = f"{sc.stable_with_alarm}/{sc.stable_series} ({share:.1f}%)"
        kinds = f"{100 * sc.kinds_right / max(sc.true_positives, 1):.0f}%" if name == "afkit" else "-"
        found = sum(math.isfinite(d) for d in result.all_delays) / max(len(result.all_delays), 1)
        print(f"{name:<20} {sc.precision:>9.3f} {sc.recall:>7.3f} {sc.f1:>6.3f} {stable_alarm:>17} "
              f"{sc.false_positives:>12} {_median(result.all_delays):>12} {100 * found:>11.0f}% {kinds:>8} "
              f"{result.seconds:>7.1f}")

    print("(a method that alarms all the time also finds changes online quickly: read the delay with precision)")
    print("\nper category: series / missed changes / false alarms (/ median online delay, series measured)")
    names = list(results)
    print(f"{'category':<16}" + "".join(f"{name:>28}" for name in names))
    for category in STABLE + CHANGED:
        row = f"{category:<16}"
        for name in names:
            n, missed, false_alarms = results[name].score.per_category[category]
            cell = f"{n} / {missed if category in CHANGED else '-'} / {false_alarms}"
            if category in CHANGED:
                delays = results[name].delays[category]
                cell += f" / {_median(delays)} ({len(delays)})"
            row += f"{cell:>28}"
        print(row)

    timings = speed(random.Random(args.seed + 2))
    print("\nspeed: detect_changes on 10,000 events, median of 20 runs after a warm-up")
    for name, ms in timings.items():
        print(f"  {name:<40} {ms:8.1f} ms  {_verdict(ms <= 50)}")

    fleet_timings = fleet_speed(random.Random(args.seed + 3))
    print("\nspeed: describe_many on 10,000 assets x 100 events (epoch seconds), median of 5 runs after a warm-up")
    for name, ms in fleet_timings.describe_many_ms.items():
        goal = WORST_GOAL_MS if name == MANY_CHANGED else FLEET_GOAL_MS
        print(f"  {name:<60} {ms:8.1f} ms  {_verdict(ms <= goal)} (goal {goal:.0f} ms)")
    per_asset = fleet_timings.describe_ms_per_asset
    print(f"  (describe() on datetimes, one call per asset: {per_asset:.3f} ms each, {per_asset * 10:.1f} s for "
          f"10,000; models {'the same' if fleet_timings.sample_equal else 'DIFFERENT'} on the sample)")

    afkit = results["afkit"]
    delay = _median(afkit.all_delays)
    print("\ngoals (afkit)")
    print(f"  F1 >= 0.95                          {afkit.score.f1:.3f}  {_verdict(afkit.score.f1 >= 0.95)}")
    print(f"  no false alarm on stable series     {afkit.score.stable_with_alarm}/{afkit.score.stable_series}  "
          f"{_verdict(afkit.score.stable_with_alarm == 0)}")
    print(f"  median online delay <= 6 events     {delay}  {_verdict(delay <= 6)}")
    slowest = max(timings.values())
    print(f"  10,000 events <= 50 ms              {slowest:.1f} ms  {_verdict(slowest <= 50)}")
    mixed = fleet_timings.describe_many_ms[MIXED]
    print(f"  10,000 assets x 100 <= {FLEET_GOAL_MS:.0f} ms       {mixed:.1f} ms  "
          f"{_verdict(mixed <= FLEET_GOAL_MS and fleet_timings.sample_equal)}")
    honest_report(args.seed, args.seeds, 3 if args.quick else 12, 5 if args.quick else 20, args.online)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
