"""The seam report: what an upstream cadence change did to each asset-triggered consumer, in numbers and words."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from toolkit.core.cadence import describe
from toolkit.core.cadence_impact import CadenceReport, describe_change, seam_impact
from toolkit.models import AssetEvent, DagRun

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
CHANGE = T0 + timedelta(days=7)
NOW = CHANGE + timedelta(days=1)


def run(at: datetime, minutes: float, run_type: str = "asset_triggered", run_id: str | None = None) -> DagRun:
    return DagRun("daily_finance_close", run_id or f"asset_triggered__{at.isoformat()}", "success", run_type, None,
                  start_date=at, end_date=at + timedelta(minutes=minutes), run_after=at)


def test_consumer_runs_batches_durations_and_queue_before_and_after_the_change():
    before = [run(T0 + timedelta(days=d, hours=6), 2) for d in range(7)]  # once a day, 2 min each
    after = [run(CHANGE + timedelta(minutes=5 * i), 4) for i in range(288)]  # every 5 min for a day, 4 min each
    backfill = [run(CHANGE + timedelta(minutes=1), 1, "backfill", "backfill__x")]
    events = []
    for r in before:  # each daily run consumed 48 half-hourly events
        events += [AssetEvent("stripe.payments", r.run_after - timedelta(minutes=30 * k), consumed_by=(
            ("daily_finance_close", r.run_id),)) for k in range(48)]
    for r in after:  # each 5-minute run consumed one event
        events.append(AssetEvent("stripe.payments", r.run_after, consumed_by=(("daily_finance_close", r.run_id),)))
    events += [AssetEvent("stripe.payments", NOW + timedelta(seconds=s)) for s in (10, 20, 30)]  # not consumed yet
    impact = seam_impact("daily_finance_close", ("#finance",), CHANGE, NOW, before + after + backfill, events,
                             T0 - timedelta(days=1), ("finance.daily_close (at risk)",))
    assert impact.runs_per_day_before == 1.0 and impact.runs_per_day_after == 288.0
    assert impact.events_per_run_before == 48 and impact.events_per_run_after == 1
    assert impact.duration_before == 120 and impact.duration_after == 240
    assert impact.queued_events == 3
    text = describe_change("stripe.payments", _change(), (impact,))
    assert text.startswith("stripe.payments moved from every 30m to every 5m on ")
    assert ("daily_finance_close now runs 288×/day instead of 1×/day, batching 1 event(s) per run instead of 48, "
            "each run takes 4m instead of 2m, 3 event(s) queued now, SLA at risk: finance.daily_close "
            "(at risk)") in text


def test_a_short_history_before_the_change_is_not_diluted_over_a_week():
    """With two days of history before the change, the rate before is per those two days, not per seven."""
    start = CHANGE - timedelta(days=2)
    runs = [run(start + timedelta(hours=12 * i), 1) for i in range(4)]
    impact = seam_impact("daily_finance_close", (), CHANGE, NOW, runs, [], start)
    assert impact.runs_per_day_before == 2.0 and impact.runs_per_day_after == 0.0


def _change():
    series = [T0 + timedelta(minutes=30 * i) for i in range(40)]
    series += [series[-1] + timedelta(minutes=5 * (i + 1)) for i in range(40)]
    (change,) = describe(series).changes
    return change


def test_report_without_a_change_has_no_message_and_an_unconsumed_change_says_so():
    steady = describe([T0 + timedelta(minutes=30 * i) for i in range(60)])
    assert CadenceReport("stripe.payments", ("#p",), steady).message == ""
    assert describe_change("stripe.payments", _change()).endswith("; no asset-triggered DAG consumes it.")


def _status(asset: str, status: str, owners=("#finance",)):
    from toolkit.core.freshness import FreshnessStatus
    from toolkit.sla import SLA

    return FreshnessStatus(SLA(asset, "close-lag", "max_lag", tuple(owners)), status, "last update 2h ago")


def test_a_confirmed_change_is_the_cause_of_at_risk_and_late_slas_of_what_its_consumers_produce():
    from toolkit.core.cadence import describe as model_of
    from toolkit.core.cadence_impact import seam_causes, with_causes

    series = [T0 + timedelta(minutes=30 * i) for i in range(40)]
    series += [series[-1] + timedelta(minutes=5 * (i + 1)) for i in range(40)]
    impact = seam_impact("daily_finance_close", ("#finance",), _change().at, NOW, [], [], T0,
                         produces=("finance.daily_close",))
    report = CadenceReport("stripe.payments", ("#payments", "#finance"), model_of(series), (impact,))
    causes = seam_causes([report])
    assert set(causes) == {"finance.daily_close"}
    assert causes["finance.daily_close"].text.startswith("upstream stripe.payments moved from every 30m to every 5m")
    late, fresh, other = with_causes([_status("finance.daily_close", "late"), _status("finance.daily_close", "fresh"),
                                      _status("mart.x", "late")], causes)
    assert late.cause == causes["finance.daily_close"].text
    assert late.cc == ("#payments",)  # "#finance" owns the SLA already
    assert fresh.cause is None and other.cause is None


def test_a_change_not_yet_confirmed_is_named_as_such():
    from toolkit.core.cadence import describe as model_of
    from toolkit.core.cadence_impact import seam_causes

    series = [T0 + timedelta(minutes=30 * i) for i in range(40)]
    series += [series[-1] + timedelta(minutes=5 * (i + 1)) for i in range(5)]  # young: may still be a burst
    model = model_of(series)
    assert model.last_change is not None and not model.last_change.confirmed
    impact = seam_impact("daily_finance_close", (), model.last_change.at, NOW, [], [], T0, produces=("f.x",))
    (cause,) = seam_causes([CadenceReport("stripe.payments", (), model, (impact,))]).values()
    assert cause.text.endswith("(not confirmed yet)") and cause.consumer == "daily_finance_close"
