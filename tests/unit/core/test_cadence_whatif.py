"""The cadence what-if on constructed consumers: the postmortem's close at 30 and at 5 minutes, and the model's edges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from toolkit.core.cadence_whatif import (
    ConsumerHistory,
    Rhythm,
    fit_duration,
    parse_horizon,
    parse_rhythm,
    what_if,
    what_if_to_dict,
)
from toolkit.errors import BadInput
from toolkit.sla import SLA, deadline, max_lag, parse_slas, with_slas

START = datetime(2026, 12, 1, tzinfo=timezone.utc)
MINUTE = 60.0
NAMES = {"every": "--every", "cron": "--cron"}


def sla_of(asset: str, spec: dict) -> SLA:
    (sla,) = parse_slas(asset, with_slas({}, spec))
    return sla


CLOSE_LAG = sla_of("finance.daily_close", max_lag(warn_after="45m", fail_after="60m", owners=["#finance-data"]))
# The story's close: 2 minutes to open the books plus 15 per batch reconciled, one run at a time; a re-run once made
# it batch two events, which is how the model learns what a batch costs.
CLOSE = ConsumerHistory("daily_finance_close", 1, ((1, 17 * MINUTE), (1, 17 * MINUTE), (2, 32 * MINUTE)),
                        {"default_pool": 1}, ("finance.daily_close",), owners=("#finance-data",))


def outlook(minutes: float, history: ConsumerHistory = CLOSE, slas=(CLOSE_LAG,), horizon=timedelta(days=1)):
    (consumer,) = what_if("stripe.payments", Rhythm(every=timedelta(minutes=minutes)), [(history, list(slas))],
                          START, horizon).consumers
    return consumer


def test_the_duration_model_learns_what_a_batch_costs_from_runs_of_different_batches():
    model = fit_duration(CLOSE.batches)
    assert model.fitted and model.fixed == pytest.approx(2 * MINUTE) and model.per_event == pytest.approx(15 * MINUTE)
    flat = fit_duration(((1, 600.0), (1, 660.0), (1, 540.0)))
    assert (flat.fitted, flat.fixed, flat.per_event) == (False, 600.0, 0.0)
    assert fit_duration(()) is None


def test_at_thirty_minutes_the_close_runs_once_per_event_and_keeps_its_sla():
    close = outlook(30)
    assert close.runs_per_day == pytest.approx(48) and close.events_per_run == 1 and close.keeps_up
    assert close.longest_seconds == pytest.approx(17 * MINUTE)
    assert [s.status for s in close.slas] == ["fresh"]
    assert close.pool_peak == {"default_pool": 1} and close.pool_busy["default_pool"] == pytest.approx(17 / 30, rel=0.03)


def test_at_five_minutes_each_close_batches_more_than_the_last_and_the_sla_goes_late():
    close = outlook(5)
    assert not close.keeps_up and close.queued_at_end > 100
    assert close.runs_per_day < 10  # each run three times longer than the last: a handful a day
    assert close.events_per_run > 3
    (lag,) = close.slas
    assert lag.status == "late" and lag.at is not None and "fail_after 1h" in lag.reason.replace("60m", "1h")
    assert close.pool_busy["default_pool"] > 0.95  # the close never stops


def test_a_consumer_that_can_run_in_parallel_keeps_up_at_five_minutes():
    parallel = ConsumerHistory("fan_out", 16, ((1, 17 * MINUTE), (2, 32 * MINUTE)), {"warehouse": 2})
    fan = outlook(5, parallel, slas=())
    assert fan.keeps_up and fan.runs_per_day == pytest.approx(288, rel=0.01) and fan.events_per_run == 1
    assert fan.pool_peak["warehouse"] == 2 * 4  # 17 minutes a run, a run every 5: four at once, two slots each


def test_a_history_of_single_batches_is_modelled_as_a_constant_duration_and_says_so():
    flat = ConsumerHistory("daily_finance_close", 1, ((1, 17 * MINUTE),) * 5, {"default_pool": 1})
    close = outlook(5, flat, slas=())
    assert close.model.fitted is False and "is unknown" in close.note
    assert close.runs_per_day == pytest.approx(24 * 60 / 17, rel=0.02)  # back to back, 17 minutes each


def test_a_consumer_that_also_waits_for_another_asset_is_not_driven_by_the_rhythm():
    joined = ConsumerHistory("report", 1, ((1, 60.0),), {}, needs=("fx.rates",))
    report = outlook(5, joined, slas=())
    assert report.runs_per_day == 0 and "also waits for fx.rates" in report.note


def test_a_deadline_sla_is_met_when_a_run_ends_inside_its_window_every_day():
    morning = sla_of("finance.daily_close", deadline("0 6 * * *", "America/Los_Angeles", owners=["#f"]))
    assert [s.status for s in outlook(30, slas=(morning,), horizon=timedelta(days=2)).slas] == ["fresh"]
    assert [s.status for s in outlook(5, slas=(morning,), horizon=timedelta(days=2)).slas] == ["late"]


def test_a_cron_rhythm_counts_its_ticks():
    result = what_if("a", Rhythm(cron="*/10 * * * *"), [], START)
    assert result.events == 144 and result.events_per_day == pytest.approx(144)


@pytest.mark.parametrize(("every", "cron", "message"), [
    (None, None, "give exactly one of --every and --cron"),
    ("5m", "*/5 * * * *", "give exactly one of --every and --cron"),
    ("soon", None, "--every 'soon' is not a duration"),
    ("0m", None, "must be longer than zero"),
    ("2s", None, "shorter than the scheduler's loop"),
    (None, "every five minutes", "--cron 'every five minutes' is not a cron expression"),
])
def test_a_bad_rhythm_is_refused_naming_the_flag(every, cron, message):
    with pytest.raises(BadInput, match=message):
        parse_rhythm(every, cron, NAMES)


def test_the_horizon_is_a_duration_of_at_most_a_month():
    assert parse_horizon("12h", "--over") == timedelta(hours=12)
    with pytest.raises(BadInput, match="--over '90d' is longer than"):
        parse_horizon("90d", "--over")


def test_the_json_shape_carries_every_figure():
    data = what_if_to_dict(what_if("stripe.payments", Rhythm(every=timedelta(minutes=5)), [(CLOSE, [CLOSE_LAG])],
                                   START))
    (close,) = data["consumers"]
    assert data["events"] == 288 and data["rhythm"] == {"every_seconds": 300.0, "cron": None}
    assert close["keeps_up"] is False and close["slas"][0]["status"] == "late"
    assert close["duration_model"]["fitted"] is True


def test_a_replay_starts_from_the_run_already_active_and_batches_as_airflow_does():
    from toolkit.core.cadence_whatif import LastRun, simulate_consumer

    events = [START + timedelta(minutes=m) for m in (5, 10, 15)]
    busy = LastRun(START, START + timedelta(minutes=12), consumed_until=START)
    replay = simulate_consumer(CLOSE, events, START, START + timedelta(hours=2), [], last=busy,
                               loop=timedelta(seconds=1))
    # The event at 5 queues the close (its run_after); 10 arrives after it and waits for the run after: so the run
    # at 12, when the active one ends, batches one event, and the next (at 12 + 17 minutes) the other two.
    assert replay.run_starts == (START + timedelta(minutes=12), START + timedelta(minutes=29))
    assert replay.events_per_run == 1.5 and replay.queued_at_end == 0


def test_each_run_batches_up_to_the_first_event_after_the_previous_run_was_created():
    close = outlook(5, horizon=timedelta(hours=3))
    # idle at 0: 5 → run 1 (1 event, 17m, ends 22); 10 queued it again: run 2 at 22 batches 10 alone, and so on
    starts = [round((s - START).total_seconds() / 60) for s in close.run_starts]
    assert starts[:3] == [5, 22, 39]


def test_a_replay_from_an_idle_consumer_starts_with_the_event_its_last_run_left_queued():
    from toolkit.core.cadence_whatif import LastRun, simulate_consumer

    # the last run (created at -20, done at -3) batched up to -20; an event at -1 is queued: a run starts at once
    events = [START - timedelta(minutes=m) for m in (20, 1)]
    last = LastRun(START - timedelta(minutes=20), START - timedelta(minutes=3), consumed_until=START - timedelta(minutes=20))
    replay = simulate_consumer(CLOSE, events, START, START + timedelta(hours=1), [], last=last,
                               loop=timedelta(seconds=1))
    assert replay.run_starts == (START,) and replay.events_per_run == 1
