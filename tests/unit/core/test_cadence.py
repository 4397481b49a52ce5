"""Cadence-change detection on synthetic asset-event histories: what must be reported, what must stay quiet."""

from __future__ import annotations

import importlib.util
import random
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from toolkit.core.cadence import CadenceChange, CadenceModel, describe, describe_many, describe_seconds, detect_changes

UTC = timezone.utc
MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


# ----------------------------------------------------------------------------------------------------------------
# Series builders (seeded, so every test sees the same data on every run)
# ----------------------------------------------------------------------------------------------------------------


def scheduled(start: datetime, interval: timedelta, count: int, rng: random.Random, jitter: float = 0.15,
              drift: float = 0.0) -> list[datetime]:
    """``count`` events, each interval jittered by +-jitter; the interval drifts linearly by ``drift`` overall."""
    times, t = [], start
    for k in range(count):
        times.append(t)
        scale = 1 + drift * k / max(count - 1, 1)
        t += interval * scale * (1 + rng.uniform(-jitter, jitter))
    return times


def random_arrivals(start: datetime, mean: timedelta, count: int, rng: random.Random) -> list[datetime]:
    """Event-driven arrivals: exponential intervals (a Poisson process)."""
    times, t = [], start
    for _ in range(count):
        t += mean * rng.expovariate(1.0)
        times.append(t)
    return times


def changed(old: timedelta, new: timedelta, before: int, after: int, seed: int) -> tuple[list[datetime], int]:
    """A schedule whose interval changes from ``old`` to ``new``; returns the series and the first new event."""
    rng = random.Random(seed)
    times = scheduled(MONDAY, old, before, rng)
    times += scheduled(times[-1] + new, new, after, rng)
    return times, before


def local_daily(zone: str, hour: int, minute: int, first: datetime, last: datetime, rng: random.Random,
                weekdays_only: bool = False) -> list[datetime]:
    """A run at a fixed local time each day (or each weekday), finishing within a few minutes."""
    times, day = [], first.date()
    while day <= last.date():
        if not weekdays_only or day.weekday() < 5:
            local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
            times.append(local.astimezone(UTC) + timedelta(seconds=rng.uniform(30, 600)))
        day += timedelta(days=1)
    return times


def business_hours(zone: str, weeks: int, rng: random.Random) -> list[datetime]:
    """Hourly from 09:00 to 17:00 local time on weekdays, nothing at night or at the weekend."""
    times, day = [], MONDAY.date()
    for _ in range(weeks * 7):
        if day.weekday() < 5:
            for hour in range(9, 18):
                local = datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZoneInfo(zone))
                times.append(local.astimezone(UTC) + timedelta(seconds=rng.uniform(60, 600)))
        day += timedelta(days=1)
    return times


def position(times: list[datetime], change: CadenceChange) -> int:
    """Index of the reported first event of the new regime in the (sorted, distinct) series."""
    return sorted(set(times)).index(change.at)


def online_delay(times: list[datetime], first_new: int, horizon: int = 20) -> int | None:
    """Events of the new regime seen before detect_changes on the growing series reports the change."""
    for k in range(first_new + 1, min(len(times), first_new + horizon) + 1):
        if any(abs(position(times, change) - first_new) <= 3 for change in detect_changes(times[:k])):
            return k - first_new
    return None


# ----------------------------------------------------------------------------------------------------------------
# Stable series: nothing to report
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [MIN, 5 * MIN, 30 * MIN, timedelta(hours=6), timedelta(days=1)])
@pytest.mark.parametrize("seed", [1, 2])
def test_jitter_is_not_a_change(interval: timedelta, seed: int) -> None:
    rng = random.Random(seed)
    times = scheduled(MONDAY, interval, 300, rng, jitter=0.2)
    assert detect_changes(times) == []


def test_missed_runs_are_not_a_change() -> None:
    rng = random.Random(3)
    full = scheduled(MONDAY, 15 * MIN, 320, rng, jitter=0.1)
    # one run in ten skipped, and twice three in a row: gaps of 2x and 4x the interval
    times = [t for k, t in enumerate(full) if k % 10 != 5 and k not in (100, 101, 102, 200, 201, 202)]
    gaps = {round((b - a) / (15 * MIN)) for a, b in zip(times, times[1:])}
    assert {2, 4} <= gaps  # the series really has them
    assert detect_changes(times) == []


@pytest.mark.parametrize(("interval", "retry_delay"), [(30 * MIN, timedelta(seconds=40)), (timedelta(days=1), 5 * MIN)])
def test_retries_that_emit_twice_are_not_a_change(interval: timedelta, retry_delay: timedelta) -> None:
    rng = random.Random(4)
    runs = scheduled(MONDAY, interval, 200, rng)
    times = runs + [t + retry_delay * rng.uniform(0.5, 1.5) for t in runs if rng.random() < 0.3]
    assert len(times) > 240  # some 50 retries
    assert detect_changes(times) == []
    assert describe(times).events == 200  # the retries are not counted as runs


def test_backfill_burst_then_usual_cadence_is_not_a_change() -> None:
    rng = random.Random(5)
    runs = scheduled(MONDAY, timedelta(hours=1), 200, rng)
    burst = [runs[100] + timedelta(seconds=20 * (k + 1)) for k in range(40)]  # 40 re-runs in 13 minutes
    times = sorted(runs + burst)
    assert detect_changes(times) == []
    # nor while it happens: it lasts far less than one usual interval
    assert all(detect_changes(times[:k]) == [] for k in range(times.index(burst[0]), times.index(burst[-1]) + 2))


def test_long_burst_is_reported_while_it_lasts_and_retracted_once_the_cadence_is_back() -> None:
    rng = random.Random(6)
    runs = scheduled(MONDAY, timedelta(hours=1), 200, rng)
    burst = [runs[100] + timedelta(minutes=2 * (k + 1)) for k in range(45)]  # a backfill lasting 1.5 hours
    times = sorted(runs + burst)
    inside = times.index(burst[-5]) + 1
    during = detect_changes(times[:inside])
    assert [(change.kind, change.confirmed) for change in during] == [("faster", False)]
    assert detect_changes(times) == []


def test_catch_up_burst_at_the_start_is_not_a_change() -> None:
    rng = random.Random(7)
    catch_up = [MONDAY + timedelta(seconds=30 * k) for k in range(30)]
    times = catch_up + scheduled(catch_up[-1] + timedelta(hours=1), timedelta(hours=1), 150, rng)
    assert detect_changes(times) == []


@pytest.mark.parametrize("outage", [timedelta(hours=10), timedelta(hours=10, minutes=17)])
def test_outage_then_same_cadence_is_not_a_change(outage: timedelta) -> None:
    rng = random.Random(8)
    before = scheduled(MONDAY, 30 * MIN, 120, rng)
    after = scheduled(before[-1] + outage, 30 * MIN, 120, rng)
    assert detect_changes(before + after) == []


@pytest.mark.parametrize("drift", [0.3, -0.3])
def test_slow_drift_is_not_a_change(drift: float) -> None:
    rng = random.Random(9)
    times = scheduled(MONDAY, 10 * MIN, 300, rng, drift=drift)
    assert detect_changes(times) == []


def test_business_hours_schedule_is_not_a_change() -> None:
    times = business_hours("America/New_York", weeks=6, rng=random.Random(10))
    assert max(b - a for a, b in zip(times, times[1:])) > timedelta(hours=60)  # weekends are in there
    assert detect_changes(times) == []
    assert describe(times).pattern == "business-hours"


def test_weekday_only_daily_run_is_not_a_change() -> None:
    times = local_daily("Europe/Berlin", 7, 30, MONDAY, MONDAY + timedelta(weeks=40), random.Random(11),
                        weekdays_only=True)
    assert detect_changes(times) == []
    assert describe(times).pattern == "business-hours"


def test_daily_local_run_across_both_2026_daylight_saving_changes_is_not_a_change() -> None:
    times = local_daily("America/Los_Angeles", 6, 0, datetime(2026, 1, 5, tzinfo=UTC),
                        datetime(2026, 12, 20, tzinfo=UTC), random.Random(12))
    hours = {round((b - a).total_seconds() / 3600) for a, b in zip(times, times[1:])}
    assert {23, 24, 25} <= hours  # Mar 8 springs forward, Nov 1 falls back
    assert detect_changes(times) == []
    model = describe(times)
    assert model.pattern == "regular"
    assert abs(model.typical_interval - timedelta(days=1)) < timedelta(minutes=15)


def test_event_driven_arrivals_are_not_a_change() -> None:
    times = random_arrivals(MONDAY, 20 * MIN, 300, random.Random(13))
    assert detect_changes(times) == []
    assert describe(times).pattern == "irregular"


# ----------------------------------------------------------------------------------------------------------------
# Changes: reported, at the right event, with the right figures
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_30_min_to_5_min_is_reported_at_the_first_5_min_event(seed: int) -> None:
    times, first_new = changed(30 * MIN, 5 * MIN, before=60, after=60, seed=seed)
    (change,) = detect_changes(times)
    assert abs(position(times, change) - first_new) <= 1
    assert change.kind == "faster"
    assert abs(change.before - 30 * MIN) < 3 * MIN
    assert abs(change.after - 5 * MIN) < 0.5 * MIN
    assert 0.14 < change.ratio < 0.2
    assert change.confirmed and change.events_since == 60


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_5_min_to_30_min_is_reported_as_slower(seed: int) -> None:
    times, first_new = changed(5 * MIN, 30 * MIN, before=60, after=40, seed=seed)
    (change,) = detect_changes(times)
    assert abs(position(times, change) - first_new) <= 1
    assert change.kind == "slower"
    assert abs(change.after - 30 * MIN) < 3 * MIN
    assert 5 < change.ratio < 7


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_a_2x_change_is_reported(factor: float) -> None:
    times, first_new = changed(20 * MIN, 20 * MIN * factor, before=80, after=60, seed=14)
    (change,) = detect_changes(times)
    assert abs(position(times, change) - first_new) <= 1
    assert change.kind == ("slower" if factor > 1 else "faster")


@pytest.mark.parametrize(("factor", "jitter"), [(1.5, 0.1), (1 / 1.5, 0.1), (2.0, 0.25), (0.5, 0.25), (3.0, 0.3)])
def test_a_mild_slowdown_or_speed_up_is_reported(factor: float, jitter: float) -> None:
    """1.5x-3x either way, in schedules with 10-30 % jitter: a 2x slowdown halves how often a consumer runs."""
    rng = random.Random(16)
    times = scheduled(MONDAY, 10 * MIN, 80, rng, jitter=jitter)
    times += scheduled(times[-1] + 10 * MIN * factor, 10 * MIN * factor, 60, rng, jitter=jitter)
    (change,) = detect_changes(times)
    assert abs(position(times, change) - 80) <= 3
    assert change.kind == ("slower" if factor > 1 else "faster") and change.confirmed


@pytest.mark.parametrize("seed", range(6))
def test_a_noisy_stable_producer_with_late_missed_and_duplicated_runs_is_not_a_change(seed: int) -> None:
    """Jitter of 30 % of the period, runs up to 1.5 periods late, missed runs, a retry's duplicate: no page."""
    rng = random.Random(100 + seed)
    times = scheduled(MONDAY, 10 * MIN, 200, rng, jitter=0.3)
    times = [t + 10 * MIN * rng.uniform(0.5, 1.5) if 0 < k < 199 and rng.random() < 0.03 else t
             for k, t in enumerate(times)]
    times = [t for k, t in enumerate(times) if k in (0, 199) or rng.random() > 0.04]
    times += [t + timedelta(seconds=rng.uniform(5, 20)) for t in times if rng.random() < 0.03]
    assert detect_changes(sorted(times)) == []


@pytest.mark.parametrize("seed", [20260505, 20260507, 20260510, 20260512])
def test_the_honest_corpus_noisy_producers_raise_no_alarm(benchmark: types.ModuleType, seed: int) -> None:
    """Seeds where late runs close together, or a retry beside a missed run, once made an "irregular" page (and a
    faster or slower one that did not move the level)."""
    noisy = [c for c in benchmark.build_corpus(seed, 12, 0, benchmark.HONEST) if c.category == "noisy_schedule"]
    assert [detect_changes(case.times) for case in noisy] == [[] for _ in noisy]


@pytest.mark.parametrize("seed", [20, 21, 22, 28])
def test_a_few_schedule_like_first_intervals_of_random_arrivals_are_no_schedule_that_changed(seed: int) -> None:
    """Random arrivals whose first 9 intervals happen to look like a schedule: no schedule turned irregular."""
    rng = random.Random(seed)
    first = [1.0, 0.89, 0.74, 1.06, 1.02, 1.1, 0.95, 1.3, 0.9]
    times = [MONDAY]
    for gap in first + [rng.expovariate(1.0) for _ in range(120)]:
        times.append(times[-1] + 10 * MIN * gap)
    assert detect_changes(times) == []


@pytest.mark.parametrize("mean_factor", [1.0, 0.5, 2.0])
def test_schedule_to_random_arrivals_is_reported_as_irregular(mean_factor: float) -> None:
    rng = random.Random(15)
    schedule = scheduled(MONDAY, 15 * MIN, 80, rng)
    times = schedule + random_arrivals(schedule[-1], 15 * MIN * mean_factor, 80, rng)
    (change,) = detect_changes(times)
    assert change.kind == "irregular"
    assert abs(position(times, change) - 80) <= 3


def test_random_arrivals_put_on_a_schedule_are_reported_as_regular() -> None:
    rng = random.Random(16)
    arrivals = random_arrivals(MONDAY, 15 * MIN, 100, rng)
    times = arrivals + scheduled(arrivals[-1] + 10 * MIN, 10 * MIN, 80, rng, jitter=0.1)
    (change,) = detect_changes(times)
    assert change.kind == "regular"
    assert abs(position(times, change) - 100) <= 3
    assert describe(times).pattern == "regular"


def test_a_change_and_a_change_back_are_both_reported() -> None:
    rng = random.Random(17)
    times = scheduled(MONDAY, 30 * MIN, 60, rng)
    times += scheduled(times[-1] + 5 * MIN, 5 * MIN, 150, rng)  # 12.5 hours at 5 minutes: a regime, not a burst
    times += scheduled(times[-1] + 30 * MIN, 30 * MIN, 40, rng)
    assert [(change.kind, position(times, change)) for change in detect_changes(times)] == [
        ("faster", 60),
        ("slower", 210),
    ]


def test_an_unconfirmed_change_becomes_confirmed_as_the_new_regime_lasts() -> None:
    times, first_new = changed(30 * MIN, 5 * MIN, before=60, after=60, seed=18)
    (early,) = detect_changes(times[: first_new + 6])
    assert not early.confirmed and early.events_since == 6
    (later,) = detect_changes(times)
    assert later.confirmed and later.at == early.at


# ----------------------------------------------------------------------------------------------------------------
# Online use: a growing series
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(30 * MIN, 5 * MIN), (5 * MIN, 30 * MIN), (10 * MIN, 20 * MIN),
                                          (timedelta(hours=1), timedelta(minutes=6))])
def test_growing_series_reports_within_6_events_of_the_change_and_not_before(old: timedelta, new: timedelta) -> None:
    times, first_new = changed(old, new, before=50, after=30, seed=19)
    assert all(detect_changes(times[:k]) == [] for k in range(15, first_new + 1, 5))
    delay = online_delay(times, first_new)
    assert delay is not None and delay <= 6


def test_growing_series_reports_random_arrivals_within_a_few_events() -> None:
    delays = []
    for seed in range(6):
        rng = random.Random(seed)
        schedule = scheduled(MONDAY, 15 * MIN, 50, rng)
        times = schedule + random_arrivals(schedule[-1], 15 * MIN, 40, rng)
        delays.append(online_delay(times, 50, horizon=30))
    assert all(delay is not None for delay in delays)
    assert sorted(delays)[len(delays) // 2] <= 8


# ----------------------------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------------------------


def test_unsorted_and_duplicated_input_gives_the_same_changes() -> None:
    times, _ = changed(30 * MIN, 5 * MIN, before=60, after=60, seed=20)
    rng = random.Random(20)
    messy = times + rng.sample(times, 30)
    rng.shuffle(messy)
    assert detect_changes(messy) == detect_changes(times)
    assert len(detect_changes(times)) == 1


def test_pandas_series_and_other_time_zones_give_the_same_changes() -> None:
    times, _ = changed(30 * MIN, 5 * MIN, before=60, after=60, seed=21)
    expected = detect_changes(times)
    tokyo = [t.astimezone(ZoneInfo("Asia/Tokyo")) for t in times]
    assert detect_changes(tokyo) == expected
    assert detect_changes(pd.Series(pd.to_datetime(times, utc=True)).dt.tz_convert("Europe/Paris")) == expected
    assert detect_changes(pd.DatetimeIndex(times)) == expected
    assert detect_changes(tuple(times)) == expected
    assert expected[0].at.tzinfo is not None and expected[0].at.utcoffset() == timedelta(0)


def test_index_counts_distinct_sorted_events() -> None:
    times, _ = changed(30 * MIN, 5 * MIN, before=60, after=60, seed=22)
    (change,) = detect_changes(times[:10] + times)  # the first 10 duplicated
    assert sorted(set(times))[change.index] == change.at


@pytest.mark.parametrize(
    "timestamps",
    [
        [datetime(2026, 1, 1, 6, 0)] * 20,
        [MONDAY + timedelta(hours=k) for k in range(19)] + [datetime(2026, 1, 1, 6, 0)],
        pd.Series(pd.date_range("2026-01-01", periods=30, freq="h")),
        ["2026-01-01T06:00:00Z"] * 20,
    ],
    ids=["naive", "one-naive-among-aware", "naive-pandas", "strings"],
)
def test_naive_or_non_datetime_input_is_refused(timestamps: object) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        detect_changes(timestamps)  # type: ignore[arg-type]


def test_empty_and_short_input_report_nothing() -> None:
    assert detect_changes([]) == []
    assert detect_changes([MONDAY]) == []
    assert detect_changes([MONDAY + timedelta(minutes=k * k) for k in range(12)]) == []


# ----------------------------------------------------------------------------------------------------------------
# describe()
# ----------------------------------------------------------------------------------------------------------------


def test_describe_a_regular_series() -> None:
    rng = random.Random(23)
    times = scheduled(MONDAY, 30 * MIN, 300, rng, jitter=0.1)
    now = times[-1] + timedelta(minutes=45)
    model = describe(times, now=now)
    assert isinstance(model, CadenceModel)
    assert model.events == 300 and model.pattern == "regular"
    assert abs(model.typical_interval - 30 * MIN) < MIN
    assert model.spread is not None and model.spread < 0.2
    assert len(model.intervals) == 200 and all(1500 < gap < 2100 for gap in model.intervals)
    assert model.last_change is None and model.changes == ()
    assert model.last_event == times[-1] and model.since_last_event == timedelta(minutes=45)


def test_describe_follows_the_current_regime() -> None:
    times, _ = changed(30 * MIN, 5 * MIN, before=60, after=60, seed=24)
    model = describe(times)
    assert model.last_change is not None and model.last_change.kind == "faster"
    assert model.changes == (model.last_change,)
    assert abs(model.typical_interval - 5 * MIN) < 0.5 * MIN


def test_describe_irregular_and_unknown() -> None:
    arrivals = random_arrivals(MONDAY, timedelta(hours=2), 150, random.Random(25))
    irregular = describe(arrivals)
    assert irregular.pattern == "irregular" and irregular.spread is not None and irregular.spread > 0.8
    few = describe(arrivals[:5])
    assert few.pattern == "unknown" and few.events == 5 and few.last_change is None
    empty = describe([])
    assert empty.pattern == "unknown" and empty.typical_interval is None and empty.last_event is None


def test_describe_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        describe([MONDAY], now=datetime(2026, 1, 1))


# ----------------------------------------------------------------------------------------------------------------
# describe_many() and describe_seconds(): epoch seconds in, exactly describe()'s models out
# ----------------------------------------------------------------------------------------------------------------

NOW = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def benchmark() -> types.ModuleType:
    """The benchmark script, for its corpus generators."""
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "cadence_benchmark.py"
    spec = importlib.util.spec_from_file_location("cadence_benchmark_for_tests", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def seconds_of(times: list[datetime]) -> np.ndarray:
    return np.array([t.timestamp() for t in times])


def as_datetimes(seconds: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(s, UTC) for s in np.asarray(seconds, dtype=float).tolist()]


def assert_same_as_describe(series: dict[str, np.ndarray], now: datetime | None = NOW) -> dict[str, CadenceModel]:
    models = describe_many(series, now=now)
    assert list(models) == list(series)
    for key, seconds in series.items():
        expected = describe(as_datetimes(seconds), now=now)
        assert models[key] == expected, key
        assert describe_seconds(seconds, now=now) == expected, key
    return models


def varied_series(rng: random.Random) -> dict[str, np.ndarray]:
    """One of each: schedules with noise, event-driven, calendar schedules, changes; some short or duplicated."""
    times = {
        "jitter": scheduled(MONDAY, 5 * MIN, 100, rng, jitter=0.2),
        "drift": scheduled(MONDAY, timedelta(hours=1), 100, rng, drift=0.3),
        "missed-runs": [t for k, t in enumerate(scheduled(MONDAY, 15 * MIN, 110, rng)) if k % 9 != 4],
        "retries": sorted(t + d for t in scheduled(MONDAY, 30 * MIN, 100, rng)
                          for d in ([timedelta(0), timedelta(seconds=40)] if rng.random() < 0.2 else [timedelta(0)])),
        "burst": sorted(scheduled(MONDAY, timedelta(hours=1), 100, rng)
                        + [MONDAY + timedelta(hours=50, seconds=20 * k) for k in range(1, 30)]),
        "outage": (lambda s: s[:50] + [t + timedelta(days=2) for t in s[50:]])(scheduled(MONDAY, 10 * MIN, 100, rng)),
        "event-driven": random_arrivals(MONDAY, timedelta(hours=2), 100, rng),
        "business-hours": business_hours("Europe/Berlin", 3, rng)[:100],
        "weekday-daily": local_daily("America/New_York", 7, 0, MONDAY, MONDAY + timedelta(days=140), rng, True)[:100],
        "dst-daily": local_daily("America/Los_Angeles", 6, 0, datetime(2026, 2, 1, tzinfo=UTC),
                                 datetime(2026, 5, 31, tzinfo=UTC), rng)[:100],
        "faster": changed(30 * MIN, 5 * MIN, before=60, after=40, seed=rng.randrange(1000))[0],
        "slower": changed(5 * MIN, 30 * MIN, before=60, after=40, seed=rng.randrange(1000))[0],
        "irregular": (lambda s: s + random_arrivals(s[-1], timedelta(hours=1), 40, rng))(
            scheduled(MONDAY, timedelta(hours=1), 60, rng)),
        "regular": (lambda s: s + scheduled(s[-1] + 20 * MIN, 20 * MIN, 50, rng))(
            random_arrivals(MONDAY, timedelta(hours=1), 50, rng)),
    }
    series = {name: seconds_of(values) for name, values in times.items()}
    for name in list(series):
        series[f"{name} (first 20)"] = series[name][:20]
        series[f"{name} (first 40)"] = series[name][:40]
    series["with duplicates"] = np.sort(np.concatenate([series["jitter"], series["jitter"][::7]]))
    series["unsorted"] = series["faster"][rng.sample(range(len(series["faster"])), len(series["faster"]))]
    return series


def test_describe_many_equals_describe_on_varied_series() -> None:
    assert_same_as_describe(varied_series(random.Random(41)))


def test_describe_many_equals_describe_on_the_benchmark_corpus(benchmark: types.ModuleType) -> None:
    cases = benchmark.build_corpus(20260501, 6, 12)
    rng = random.Random(42)
    series = {}
    for number, case in enumerate(cases):
        seconds = seconds_of(case.times)
        series[f"{case.category} {number}"] = seconds
        series[f"{case.category} {number} (newest 100)"] = seconds[-100:]
        series[f"{case.category} {number} (growing)"] = seconds[: rng.randrange(1, len(seconds))]
    assert_same_as_describe(series)


def test_describe_many_equals_describe_on_the_honest_corpus(benchmark: types.ModuleType) -> None:
    """Parameters drawn per series, noisy producers, mild and noisy changes (issue 18's benchmark corpus)."""
    cases = benchmark.build_corpus(20260511, 3, 5, benchmark.HONEST)
    assert_same_as_describe({f"{case.category} {number}": seconds_of(case.times) for number, case in enumerate(cases)})


def test_describe_many_equals_describe_on_the_plugin_workload(benchmark: types.ModuleType) -> None:
    """The speed benchmark's fleet: mostly schedules, a few changed, event-driven or business-hours assets."""
    fleet = benchmark.fleet(random.Random(43), assets=400, other_share=0.25)
    assert_same_as_describe(fleet)
    assert_same_as_describe(dict(list(fleet.items())[:50]), now=None)


def test_describe_many_on_empty_and_short_series() -> None:
    assert describe_many({}) == {}
    series = {"empty": np.empty(0), "one": np.array([1.78e9]), "two": np.array([1.78e9, 1.78e9 + 60]),
              "three": np.array([1.78e9, 1.78e9 + 60, 1.78e9 + 61]), "same twice": np.array([1.78e9, 1.78e9]),
              "list": [1.78e9 + 60 * k for k in range(5)]}
    models = assert_same_as_describe(series)  # type: ignore[arg-type]
    assert models["empty"].events == 0 and models["empty"].last_event is None
    assert models["one"].events == 1 and models["one"].typical_interval is None and models["one"].intervals == ()
    assert models["two"].intervals == (60.0,) and models["same twice"].events == 1


def test_describe_seconds_rounds_to_the_microsecond_as_datetimes_do() -> None:
    """Half microseconds round to even, like datetime.fromtimestamp; before 1970 too."""
    values = np.array([-86400.5000005, 1.0000005, 1.0000015, 1767225600.0000005, 1767225600.1234565,
                       1767225600.9999996, 1767225700.25])
    for value in values:
        assert describe_seconds(np.array([value])).last_event == datetime.fromtimestamp(value, UTC)
    assert_same_as_describe({"tricky": values})


def test_describe_many_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        describe_many({"a": np.arange(5.0)}, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="'b': epoch seconds must be finite"):
        describe_many({"a": np.arange(5.0), "b": np.array([1.0, np.nan, 3.0, 4.0, 5.0])})
    with pytest.raises(ValueError, match="1-D"):
        describe_many({"a": np.zeros((2, 3))})
