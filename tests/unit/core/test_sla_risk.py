"""The SLA risk of a backfill, on constructed histories: which deadlines a plan's pool occupancy would make a producer
miss, and the fixes that keep it out of risk."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from toolkit.core.sla_risk import (
    Occupancy,
    Producer,
    finish_time,
    held,
    occupancy_schedule,
    risks,
    usual_gap,
    usual_lead,
)
from toolkit.sla import SLA, deadline, max_lag, parse_slas, with_slas

LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc


def la(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LA).astimezone(UTC)


def one_sla(asset: str, spec: dict) -> SLA:
    (sla,) = parse_slas(asset, with_slas({}, spec))
    assert isinstance(sla, SLA), sla
    return sla


MART = one_sla("mart.daily_revenue", deadline("0 6 * * *", "America/Los_Angeles", owners=["#analytics-eng"]))


def producer(starts: list[datetime], p90: float = 600, need: int = 2, pool: str = "warehouse") -> Producer:
    return Producer("daily_revenue", {pool: need}, p90, tuple(starts))


def usual_at_five(days=range(10, 15)) -> list[datetime]:
    return [la(d, 5) for d in days]


def backfill(start: datetime, end: datetime, slots: int = 3, pool: str = "warehouse") -> list[Occupancy]:
    return [Occupancy("web_sessions", start, end, {pool: slots})]


def test_a_backfill_holding_the_whole_pool_across_the_producers_usual_start_endangers_the_deadline():
    found = risks([(MART, producer(usual_at_five()))], backfill(la(16, 4, 30), la(16, 7)),
                  {"warehouse": 3}, {"warehouse": 3})

    assert len(found) == 1
    risk = found[0]
    assert (risk.asset, risk.producer, risk.pools) == ("mart.daily_revenue", "daily_revenue", ("warehouse",))
    assert risk.deadline == la(16, 6)
    assert risk.run_start == la(16, 5)
    assert risk.finish_without == la(16, 5, 10)
    assert risk.finish_with == la(16, 7, 10)  # no slot until the backfill ends, then its usual 10 minutes
    assert risk.window == (la(16, 5), la(16, 6))
    assert "1h 10m after the deadline 2026-11-16 14:00 UTC" in risk.text
    budget, later = risk.fixes
    # the largest budget that still meets it: 2 leaves 1 slot, two waves of 10 minutes end at 05:20
    assert (budget.kind, budget.pool, budget.slots, budget.reserve) == ("budget", "warehouse", 2, 1)
    assert (later.kind, later.at) == ("start_after", la(16, 6))


def test_a_budget_that_leaves_the_producer_its_width_endangers_nothing():
    assert risks([(MART, producer(usual_at_five()))], backfill(la(16, 4, 30), la(16, 7), slots=1),
                 {"warehouse": 3}, {"warehouse": 1}) == []


def test_a_backfill_that_ends_before_the_producer_starts_or_starts_after_the_deadline_endangers_nothing():
    sla_producer = [(MART, producer(usual_at_five()))]
    assert risks(sla_producer, backfill(la(16, 1), la(16, 4, 59)), {"warehouse": 3}, {"warehouse": 3}) == []
    assert risks(sla_producer, backfill(la(16, 6), la(16, 23)), {"warehouse": 3}, {"warehouse": 3}) == []


def test_fewer_slots_than_the_producer_needs_slow_it_down_in_waves():
    sla_producer = [(MART, Producer("daily_revenue", {"warehouse": 3}, 40 * 60, tuple(la(d, 5, 10) for d in range(10, 15))))]

    found = risks(sla_producer, backfill(la(16, 5), la(16, 8), slots=2), {"warehouse": 4}, {"warehouse": 2})

    (risk,) = found
    assert risk.finish_without == la(16, 5, 50)
    assert risk.finish_with == la(16, 6, 30)  # 2 of the 3 slots it needs: two waves, twice as long
    assert [(f.kind, f.slots, f.reserve) for f in risk.fixes][0] == ("budget", 1, 3)


def test_a_producer_already_late_without_the_backfill_is_left_to_the_sla_board():
    slow = Producer("daily_revenue", {"warehouse": 2}, 2 * 3600, tuple(usual_at_five()))  # 05:00 + 2 h > 06:00
    assert risks([(MART, slow)], backfill(la(16, 4), la(16, 8)), {"warehouse": 3}, {"warehouse": 3}) == []


def test_a_producer_in_another_pool_or_without_history_or_durations_is_not_reported():
    window = backfill(la(16, 4, 30), la(16, 7))
    sizes, budgets = {"warehouse": 3, "default_pool": 128}, {"warehouse": 3}
    assert risks([(MART, producer(usual_at_five(), pool="default_pool"))], window, sizes, budgets) == []
    assert risks([(MART, producer([]))], window, sizes, budgets) == []
    assert risks([(MART, Producer("daily_revenue", {"warehouse": 2}, None, tuple(usual_at_five())))],
                 window, sizes, budgets) == []


def test_the_usual_lead_counts_only_runs_that_can_meet_a_deadline():
    # 05:00 on five days, plus a run at 23:00 the evening before one deadline: its data is of the wrong local day
    starts = (*usual_at_five(), la(13, 23))
    assert usual_lead(MART, starts) == timedelta(hours=1)
    assert usual_lead(MART, ()) is None


def test_a_later_start_is_the_first_deadline_after_which_the_whole_backfill_is_clear():
    usual = [(MART, producer(usual_at_five()))]
    # 22 hours from 06:00 end at 04:00 the next day, before that day's 05:00 run: starting after the deadline clears it
    (risk,) = risks(usual, backfill(la(16, 4, 30), la(16, 4, 30) + timedelta(hours=22)),
                    {"warehouse": 3}, {"warehouse": 3})
    assert [f.at for f in risk.fixes if f.kind == "start_after"] == [la(16, 6)]
    # 24 hours always cover some day's 05:00 run: no start is clear, only a smaller budget helps
    (risk,) = risks(usual, backfill(la(16, 4, 30), la(16, 4, 30) + timedelta(hours=24)),
                    {"warehouse": 3}, {"warehouse": 3})
    assert [f.kind for f in risk.fixes] == ["budget"]


def test_a_max_lag_sla_goes_at_risk_when_the_backfill_holds_back_a_run_past_warn_after():
    lag = one_sla("stripe.payments", max_lag(warn_after="45m", fail_after="2h", owners=["#payments-data"]))
    ingest = Producer("stripe_ingest", {"warehouse": 1}, 300, tuple(la(16, 0) + timedelta(minutes=30 * k)
                                                                    for k in range(8)))
    assert usual_gap(ingest.starts) == timedelta(minutes=30)

    (risk,) = risks([(lag, ingest)], backfill(la(16, 4, 10), la(16, 5, 30)), {"warehouse": 3}, {"warehouse": 3})

    assert risk.run_start == la(16, 4, 30)  # the first usual run inside the backfill
    assert risk.deadline == la(16, 4, 50)  # the run before it finished at 04:05; warn_after is 45 minutes
    assert risk.finish_with == la(16, 5, 35)
    assert risks([(lag, ingest)], backfill(la(16, 4, 10), la(16, 5, 30), slots=2),
                 {"warehouse": 3}, {"warehouse": 2}) == []


def test_the_occupancy_schedule_follows_the_launch_order_and_the_budget():
    start = la(16, 0)
    schedule = occupancy_schedule(start, [
        ("a", (), 3600, {"warehouse": 4}),
        ("b", (), 1800, {"warehouse": 1, "default_pool": 2}),
        ("c", ("a",), 600, {"warehouse": 2}),
        ("d", (), None, {"warehouse": 1}),
    ], {"warehouse": 3})
    by_dag = {o.dag_id: o for o in schedule}
    assert by_dag["a"].slots == {"warehouse": 3}  # one DAG never holds more than the pool's budget
    assert (by_dag["c"].start, by_dag["c"].end) == (start + timedelta(hours=1), start + timedelta(minutes=70))
    assert by_dag["d"].start == by_dag["d"].end == start
    assert held(schedule, "warehouse", start + timedelta(minutes=10), budget=3) == 3  # a and b together, capped
    assert held(schedule, "warehouse", start + timedelta(minutes=10)) == 4
    assert held(schedule, "warehouse", start + timedelta(minutes=65), budget=3) == 2
    assert held(schedule, "default_pool", start + timedelta(minutes=40)) == 0


def test_the_finish_time_integrates_the_rate_over_the_backfills_edges():
    run = Producer("p", {"warehouse": 2}, 600, ())
    schedule = [Occupancy("x", la(16, 5, 5), la(16, 5, 20), {"warehouse": 3})]
    # five minutes at full speed, nothing for fifteen, the last five after the backfill
    assert finish_time(la(16, 5), 600, run, schedule, {"warehouse": 3}, {"warehouse": 3}) == la(16, 5, 25)
    unlimited = {"warehouse": -1}
    assert finish_time(la(16, 5), 600, run, schedule, unlimited, {"warehouse": 3}) == la(16, 5, 10)
