"""The page's pictures, pure: a freshness timeline's ticks, deadlines, lag and breach windows (judged by the board's
own rules at every instant they can change), a cadence sparkline's levels and change, a backfill's progress steps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from toolkit.core.freshness import deadlines_between, evaluate
from toolkit.core.pictures import (MAX_DEADLINES, BackfillRun, backfill_progress, progress_to_dict,
                                   sparkline, sparkline_to_dict, timeline, timeline_to_dict, timeline_window)
from toolkit.models import AssetEvent
from toolkit.render import sparkline as terminal_sparkline
from toolkit.sla import deadline, max_lag, parse_slas, with_slas

UTC = timezone.utc
NOW = datetime(2026, 12, 3, 11, 17, 23, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)


def slas_of(*declared):
    return parse_slas("mart.pictures", with_slas({}, *declared))


def events(*moments, run_id=None):
    return [AssetEvent("mart.pictures", m, source_run_id=run_id) for m in moments]


# Every 30 minutes for 10 hours, nothing for 5 hours, then every 10 minutes: the browser test's history too.
HISTORY = events(*[NOW - 20 * H + 30 * M * i for i in range(21)], *[NOW - 5 * H + 10 * M * i for i in range(30)])
LAST_SLOW = NOW - 10 * H
FIRST_FAST = NOW - 5 * H


def test_a_max_lag_breach_runs_from_fail_after_past_the_last_event_to_the_next_event():
    (sla,) = slas_of(max_lag(warn_after="2h", fail_after="3h", owners=["#t"]))
    found = timeline("mart.pictures", [sla], HISTORY, NOW - 24 * H, NOW, known_since=NOW - M)
    assert len(found.events) == len(HISTORY)  # every event of the window is a tick
    (track,) = found.tracks
    assert [(b.start, b.end, b.open) for b in track.breaches] == [(LAST_SLOW + 3 * H, FIRST_FAST, False)]
    assert track.status == "fresh" and track.lag == 10 * M and track.lag_since == NOW - 10 * M
    assert track.deadlines == ()


def test_a_deadline_breach_starts_at_the_first_deadline_missed_and_ends_when_an_update_arrives():
    (sla,) = slas_of(deadline("0 * * * *", "UTC", max_age="2h", owners=["#t"]))
    found = timeline("mart.pictures", [sla], HISTORY, NOW - 24 * H, NOW, known_since=NOW - M)
    (track,) = found.tracks
    # The last slow event is at 01:17:23; the 03:00 deadline still sees it (2 h), the 04:00 one does not.
    first_missed = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    assert [(b.start, b.end) for b in track.breaches] == [(first_missed, FIRST_FAST)]
    assert len(track.deadlines) == 24 and track.deadlines[0] == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert all(d.minute == 0 and NOW - 24 * H < d <= NOW for d in track.deadlines)


def test_breaches_agree_with_the_board_at_every_minute_of_the_window():
    """The timeline is the board's own judgement replayed: late inside a breach, not late outside, minute by minute."""
    slas = slas_of(max_lag(warn_after="20m", fail_after="40m", owners=["#t"]),
                   deadline("*/15 * * * *", "America/Los_Angeles", max_age="25m", owners=["#t"]))
    moments = [NOW - 6 * H + timedelta(minutes=m) for m in (0, 10, 50, 55, 140, 141, 142, 260, 300, 330)]
    history = events(*moments)
    found = timeline("mart.pictures", slas, history, NOW - 6 * H, NOW, known_since=NOW - 7 * H)
    for track in found.tracks:
        assert track.breaches, track.sla.name
        for minute in range(0, 6 * 60, 1):
            moment = NOW - 6 * H + timedelta(minutes=minute, seconds=30)
            known = [e for e in history if e.timestamp <= moment]
            late = evaluate(track.sla, known, moment, None, NOW - 7 * H).status == "late"
            inside = any(b.start <= moment < b.end for b in track.breaches)
            assert late == inside, (track.sla.name, moment)


def test_an_open_breach_lasts_to_the_windows_end_and_an_asset_never_updated_is_late_after_fail_after():
    (sla,) = slas_of(max_lag(warn_after="1h", fail_after="2h", owners=["#t"]))
    found = timeline("mart.pictures", [sla], [], NOW - 6 * H, NOW, known_since=NOW - 5 * H)
    (track,) = found.tracks
    assert [(b.start, b.end, b.open) for b in track.breaches] == [(NOW - 3 * H, NOW, True)]
    assert track.status == "late" and track.lag is None and found.events == ()


def test_events_before_the_window_say_what_was_fresh_at_its_start_and_are_no_ticks():
    (sla,) = slas_of(max_lag(warn_after="1h", fail_after="2h", owners=["#t"]))
    found = timeline("mart.pictures", [sla], events(NOW - 7 * H, NOW - H), NOW - 6 * H, NOW)
    assert [e.timestamp for e in found.events] == [NOW - H]
    # late 2 h after the event 7 h ago, until the event an hour ago
    assert [(b.start, b.end) for b in found.tracks[0].breaches] == [(NOW - 5 * H, NOW - H)]
    # late since 7 h ago: already late when the window began
    earlier = timeline("mart.pictures", [sla], events(NOW - 9 * H, NOW - H), NOW - 6 * H, NOW)
    assert [(b.start, b.end) for b in earlier.tracks[0].breaches] == [(NOW - 6 * H, NOW - H)]


def test_a_backfills_events_are_ticks_marked_as_such():
    found = timeline("mart.pictures", [], events(NOW - H, run_id="backfill__2026-01-01T00:00:00+00:00"),
                     NOW - 2 * H, NOW)
    data = timeline_to_dict(found)
    assert [e["from_backfill"] for e in data["events"]] == [True] and data["slas"] == []


def test_other_assets_slas_and_events_after_the_end_are_left_out():
    other = parse_slas("other", with_slas({}, max_lag(warn_after="1h", fail_after="2h", owners=["#t"])))
    found = timeline("mart.pictures", other, events(NOW - H, NOW + H), NOW - 2 * H, NOW)
    assert found.tracks == () and [e.timestamp for e in found.events] == [NOW - H]


def test_a_minutely_deadline_over_days_judges_only_its_newest_deadlines_and_says_from_when():
    (sla,) = slas_of(deadline("* * * * *", "UTC", max_age="5m", owners=["#t"]))
    found = timeline("mart.pictures", [sla], events(NOW - 30 * M), NOW - 48 * H, NOW)
    (track,) = found.tracks
    assert len(track.deadlines) == MAX_DEADLINES and track.deadlines[-1] == NOW.replace(second=0)
    assert track.judged_from == track.deadlines[0] > NOW - 48 * H
    assert all(b.start >= track.judged_from for b in track.breaches)
    assert [(b.start, b.open) for b in track.breaches][-1] == (NOW.replace(second=0) - 25 * M + M, True)


def test_deadlines_between_follow_the_zone_across_daylight_saving():
    start = datetime(2026, 3, 7, 12, tzinfo=UTC)
    found, cut = deadlines_between("0 6 * * *", "America/Los_Angeles", start, start + timedelta(days=3))
    assert not cut and [d.hour for d in found] == [14, 13, 13]  # 06:00 PST, then 06:00 PDT


@pytest.mark.parametrize("cron", ["0 6 * * *", "30 1 * * *", "30 2 * * *", "*/20 * * * *", "0 * * * *"])
@pytest.mark.parametrize("start", [datetime(2026, 3, 7, 20, tzinfo=UTC), datetime(2026, 10, 31, 20, tzinfo=UTC)])
def test_deadlines_between_are_the_boards_deadlines_one_after_another(cron, start):
    """Read back from the end, they are the ticks the board steps through forward (``deadlines_around``), across
    both daylight-saving changes of Los Angeles (a gap in March, a repeated hour in November)."""
    from toolkit.core.freshness import deadlines_around

    end = start + timedelta(days=2)
    stepped, moment = [], start
    while (moment := deadlines_around(cron, "America/Los_Angeles", moment)[1]) <= end:
        stepped.append(moment)
    assert deadlines_between(cron, "America/Los_Angeles", start, end, limit=1000) == (stepped, False)


def test_the_window_is_the_hours_before_its_end_at_most_a_week_and_never_naive():
    assert timeline_window(NOW) == (NOW - 24 * H, NOW)
    assert timeline_window(NOW, NOW - 2 * H) == (NOW - 2 * H, NOW)
    for bad in (dict(hours=0), dict(hours=24 * 8), dict(start=NOW), dict(start=NOW - timedelta(days=8)),
                dict(start=NOW.replace(tzinfo=None))):
        with pytest.raises(ValueError):
            timeline_window(NOW, **bad)


def test_the_timeline_json_names_every_mark_with_its_instant():
    slas = slas_of(max_lag(warn_after="2h", fail_after="3h", owners=["#t"]))
    data = timeline_to_dict(timeline("mart.pictures", slas, HISTORY, NOW - 24 * H, NOW, NOW - M))
    assert (data["start"], data["end"]) == ((NOW - 24 * H).isoformat(), NOW.isoformat())
    (track,) = data["slas"]
    assert track["breaches"] == [{"start": (LAST_SLOW + 3 * H).isoformat(), "end": FIRST_FAST.isoformat(),
                                  "open": False, "seconds": 7200.0}]
    assert (track["lag_seconds"], track["warn_after_seconds"], track["fail_after_seconds"]) == (600.0, 7200.0, 10800.0)
    assert len(data["events"]) == 51 and data["events"][0]["timestamp"] == HISTORY[0].timestamp.isoformat()


# -- sparkline -------------------------------------------------------------------------------------------------------


def test_the_sparkline_has_the_terminals_levels_and_marks_the_interval_ending_at_the_change():
    intervals = [1800.0] * 20 + [600.0] * 29
    last = NOW - 10 * M
    change_at = FIRST_FAST + 10 * M  # the first event of the new regime
    line = sparkline(intervals, last, change_at)
    assert len(line.intervals) == len(line.levels) == len(line.ends) == 49 and line.offset == 0
    assert line.ends[-1] == last and line.ends[line.change_index] == change_at and line.change_index == 20
    bars = "▁▂▃▄▅▆▇█"
    assert "".join(bars[round(v * 7)] for v in line.levels) == terminal_sparkline(intervals, 60)


def test_only_the_newest_sixty_intervals_are_drawn_and_an_older_change_is_said_to_be_before_them():
    intervals = [100.0] * 10 + [50.0] * 90
    last = NOW
    line = sparkline(intervals, last, change_at=last - timedelta(seconds=50 * 90))
    assert len(line.levels) == 60 and line.offset == 40 and line.change_index is None and line.change_before
    recent = sparkline(intervals, last, change_at=last - timedelta(seconds=50 * 5))
    assert recent.change_index == 59 - 5 and not recent.change_before


def test_a_sparkline_without_intervals_or_change_draws_nothing_marked():
    assert sparkline_to_dict(sparkline([], None, NOW)) == {
        "intervals_seconds": [], "levels": [], "ends": [], "low_seconds": None, "high_seconds": None, "offset": 0,
        "change_index": None, "change_before_drawn": False}
    flat = sparkline([60.0, 60.0], NOW)
    assert flat.levels == (0.0, 0.0) and flat.change_index is None


# -- backfill progress -----------------------------------------------------------------------------------------------


def test_progress_steps_up_at_each_runs_end_and_ends_at_the_done_count():
    created = NOW - H
    runs = [BackfillRun("success", created, created + 10 * M), BackfillRun("failed", created, created + 20 * M),
            BackfillRun("success", created, created + 20 * M), BackfillRun("running", created + 20 * M),
            BackfillRun("queued")]
    progress = backfill_progress(runs, created, NOW)
    assert (progress.total, progress.done, progress.failed) == (5, 3, 1)
    assert [(p.at, p.done, p.failed) for p in progress.points] == [
        (created, 0, 0), (created + 10 * M, 1, 0), (created + 20 * M, 3, 1), (NOW, 3, 1)]
    assert progress_to_dict(progress)["points"][-1] == {"at": NOW.isoformat(), "done": 3, "failed": 1}


def test_runs_done_without_an_end_or_before_the_backfill_count_within_its_life():
    created = NOW - H
    runs = [BackfillRun("failed"), BackfillRun("success", end_date=created - H)]
    progress = backfill_progress(runs, created, NOW)
    assert [(p.at, p.done) for p in progress.points] == [(created, 1), (NOW, 2)]


def test_a_backfill_without_runs_is_a_flat_line_at_zero():
    progress = backfill_progress([], NOW, NOW)
    assert [(p.at, p.done) for p in progress.points] == [(NOW, 0)] and progress.total == 0
