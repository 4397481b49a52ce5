"""SLA declarations and freshness evaluation, including the daylight-saving days of America/Los_Angeles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from toolkit.core.freshness import AssetEvent, ProducerRun, deadlines_around, evaluate, evaluate_all, expectation_for
from toolkit.sla import SLA, InvalidSLA, deadline, max_lag, parse_slas, with_slas

UTC = timezone.utc
LA = "America/Los_Angeles"


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def six_am(**kw) -> SLA:
    (sla,) = parse_slas("mart.daily_revenue", with_slas({}, deadline("0 6 * * *", LA, owners=["#analytics"], **kw)))
    return sla


# -- declarations ---------------------------------------------------------------------------------------------------


def test_helpers_write_extra_that_parses_back():
    extra = with_slas({"owner": "analytics-eng"},
                      deadline("0 6 * * *", LA, owners="#analytics", runbook="https://runbooks/x", min_rows=1),
                      max_lag(warn_after="45m", fail_after="2h", owners=["@ana"]))
    assert extra["owner"] == "analytics-eng"
    first, second = parse_slas("a", extra)
    assert (first.kind, first.owners, first.min_rows, first.expect) == ("deadline", ("#analytics",), 1, "previous_day")
    assert (second.warn_after, second.fail_after) == (timedelta(minutes=45), timedelta(hours=2))


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (deadline("0 6 * *", LA, owners=["#a"]), "cron '0 6 * *' is not a valid cron"),
        (deadline("0 6 * * *", "Mars/Olympus", owners=["#a"]), "timezone 'Mars/Olympus' is not an IANA time zone"),
        ({**deadline("0 6 * * *", LA, owners=["#a"]), "color": "red"}, "unknown field(s) color"),
        (max_lag(warn_after="2h", fail_after="1h", owners=["#a"]), "warn_after (2h) must be shorter than fail_after"),
        (max_lag(warn_after="0m", fail_after="1h", owners=["#a"]), "must be longer than zero"),
        (deadline("0 6 * * *", LA, owners=[]), "owners must be a non-empty list"),
        (deadline("0 6 * * *", LA, owners=["#a"], expect="yesterday-ish"), "expect 'yesterday-ish'"),
        (deadline("0 6 * * *", LA, owners=["#a"], severity="meh"), "severity 'meh'"),
        (deadline("0 6 * * *", LA, owners=["#a"], runbook="ftp://x"), "must be an http(s) URL"),
        ({"kind": "vibes"}, "kind 'vibes'"),
    ],
)
def test_one_broken_sla_is_invalid_and_the_others_still_parse(spec, reason):
    good = max_lag(warn_after="1h", fail_after="2h", owners=["#a"])
    found = parse_slas("a", {"afkit_sla": [spec, good]})
    assert isinstance(found[0], InvalidSLA) and reason in found[0].reason
    assert isinstance(found[1], SLA)


def test_extra_that_is_not_a_list_is_reported():
    (invalid,) = parse_slas("a", {"afkit_sla": {"kind": "deadline"}})
    assert isinstance(invalid, InvalidSLA) and "must be a list" in invalid.reason


# -- deadlines across daylight saving -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "previous", "following"),
    [
        ("2026-03-07T20:00", "2026-03-07T14:00", "2026-03-08T13:00"),  # 06:00 PST, then 06:00 PDT on spring-forward day
        ("2026-03-08T13:30", "2026-03-08T13:00", "2026-03-09T13:00"),
        ("2026-10-31T20:00", "2026-10-31T13:00", "2026-11-01T14:00"),  # 06:00 PDT, then 06:00 PST on fall-back day
        ("2026-11-01T14:00", "2026-11-01T14:00", "2026-11-02T14:00"),
    ],
)
def test_deadline_stays_at_six_local_on_dst_days(now, previous, following):
    assert deadlines_around("0 6 * * *", LA, z(now)) == (z(previous), z(following))


def test_gap_and_ambiguous_local_times():
    # 02:30 does not exist on 2026-03-08 in Los Angeles: it fires at 03:30 PDT (10:30 UTC)
    assert deadlines_around("30 2 * * *", LA, z("2026-03-08T09:00"))[1] == z("2026-03-08T10:30")
    # 01:30 happens twice on 2026-11-01: the first time (PDT, 08:30 UTC)
    assert deadlines_around("30 1 * * *", LA, z("2026-11-01T07:00"))[1] == z("2026-11-01T08:30")


def test_previous_day_expectation_on_dst_days():
    spring = expectation_for(six_am(), z("2026-03-09T13:00"))  # 06:00 PDT on 03-09 covers the 23-hour 03-08
    assert (spring.partition_key, spring.updated_since) == ("2026-03-08", z("2026-03-09T07:00"))
    fall = expectation_for(six_am(), z("2026-11-02T14:00"))  # 06:00 PST on 11-02 covers the 25-hour 11-01
    assert (fall.partition_key, fall.updated_since) == ("2026-11-01", z("2026-11-02T08:00"))


# -- statuses -------------------------------------------------------------------------------------------------------


def event(ts: str, key: str | None = None, rows: int | None = 10, run: str = "scheduled__x") -> AssetEvent:
    return AssetEvent("mart.daily_revenue", z(ts), key, "daily_revenue", run, rows)


def test_fresh_late_and_volume():
    sla = six_am(min_rows=1)
    now = z("2026-11-21T15:00")  # 07:00 PST: the 06:00 deadline for 11-20 has passed
    assert evaluate(sla, [event("2026-11-21T09:00")], now).status == "fresh"  # after local midnight
    late = evaluate(sla, [event("2026-11-20T09:00")], now, ProducerRun("daily_revenue", "failed", "scheduled__y"))
    assert late.status == "late" and late.culprit == "daily_revenue run scheduled__y failed"
    assert late.breach_key == "deadline:2026-11-21T14:00:00+00:00"
    assert late.lag == timedelta(hours=30)
    empty = evaluate(sla, [event("2026-11-21T09:00", rows=0)], now)
    assert empty.status == "late" and "wrote 0 row(s), below min_rows 1" in empty.reason
    keyed = evaluate(sla, [event("2026-11-21T00:05", key="2026-11-20")], now)
    assert keyed.status == "fresh"


def test_at_risk_when_the_producer_will_not_make_it():
    sla = six_am()
    now = z("2026-11-22T13:00")  # 05:00 PST, deadline at 14:00 UTC; yesterday's expectation was met
    events = [event("2026-11-21T09:00")]
    slow = ProducerRun("daily_revenue", "running", "scheduled__z", start_date=z("2026-11-22T12:30"), p90_seconds=7200)
    risky = evaluate(sla, events, now, slow)
    assert risky.status == "at_risk" and "still running" in risky.culprit
    quick = ProducerRun("daily_revenue", "running", "scheduled__z", start_date=z("2026-11-22T12:30"), p90_seconds=600)
    assert evaluate(sla, events, now, quick).status == "fresh"


def test_human_durations():
    from toolkit.core.humanize import format_duration as human

    assert [human(timedelta(seconds=s)) for s in (14, 240, 7500, 277200)] == ["14s", "4m", "2h 05m", "3d 5h"]


def test_max_lag_and_unknown():
    (sla,) = parse_slas("a", with_slas({}, max_lag(warn_after="45m", fail_after="2h", owners=["#a"])))
    now = z("2026-11-21T12:00")
    assert evaluate(sla, [event("2026-11-21T11:30")], now).status == "fresh"
    risky = evaluate(sla, [event("2026-11-21T11:00")], now)
    assert risky.status == "at_risk" and risky.reason == "last update 1h 00m ago, over warn_after 45m"
    assert evaluate(sla, [event("2026-11-21T09:00")], now).status == "late"
    assert evaluate(sla, [], now, known_since=z("2026-11-21T11:00")).status == "unknown"
    assert evaluate(sla, [], now, known_since=z("2026-11-20T11:00")).status == "late"


def test_culprit_walks_to_the_late_upstream_asset():
    (close,) = parse_slas("finance.daily_close", with_slas({}, deadline("0 6 * * *", LA, owners=["#fin"])))
    (payments,) = parse_slas("stripe.payments", with_slas({}, max_lag(warn_after="30m", fail_after="1h",
                                                                       owners=["#pay"])))
    now = z("2026-11-21T15:00")
    producers = {
        "finance.daily_close": ProducerRun("daily_finance_close", "success", "asset__1",
                                           upstream_assets=("stripe.payments",)),
        "stripe.payments": ProducerRun("stripe_ingest", "failed", "scheduled__s"),
    }
    events = {"stripe.payments": [AssetEvent("stripe.payments", z("2026-11-21T10:00"))]}
    statuses = {s.sla.asset: s for s in evaluate_all([close, payments], events, now, producers)}
    assert statuses["finance.daily_close"].status == "late"
    assert statuses["finance.daily_close"].culprit == (
        "upstream asset stripe.payments is late: stripe_ingest run scheduled__s failed")


def test_assets_to_read_follows_producers_upstream_and_ignores_unknown_assets():
    from toolkit.core.freshness import assets_to_read

    producers = {"finance.close": ["close_dag"], "stripe.payments": ["ingest"]}
    inputs_of = {"close_dag": ["stripe.payments", "gone.asset"], "ingest": []}
    known = {"finance.close", "stripe.payments", "web.sessions"}
    assert assets_to_read(["finance.close"], known, producers, inputs_of) == {"finance.close", "stripe.payments"}
    assert assets_to_read(["web.sessions"], known, producers, inputs_of) == {"web.sessions"}


# -- reading only the newest event where older ones cannot change the verdict ---------------------------------------


def _random_history(rng, now: datetime) -> list[AssetEvent]:
    """A few events over the last three days: some partitioned, some with too few rows, some with no row count."""
    events = []
    for _ in range(rng.randint(0, 8)):
        at = now - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        key = (at - timedelta(days=rng.choice([0, 1, 2]))).strftime("%Y-%m-%d") if rng.random() < 0.3 else None
        events.append(AssetEvent("a", at, key, "producer", "run", rng.choice([None, 0, 5, 50])))
    return sorted(events, key=lambda e: e.timestamp)


def test_a_status_decided_by_the_newest_event_is_the_status_of_the_whole_history():
    """The database path reads one event per asset and more only where ``decided_by_newest`` says so: whenever it
    says the newest is enough, judging the whole history must give exactly the same status."""
    import random

    from toolkit.core.freshness import decided_by_newest

    rng = random.Random(7)
    slas = [six_am(), six_am(min_rows=10), six_am(max_age="12h", min_rows=1),
            *parse_slas("a", with_slas({}, max_lag(warn_after="2h", fail_after="6h", owners=["#a"]),
                                       max_lag(warn_after="2h", fail_after="6h", owners=["#a"], min_rows=10)))]
    decided = undecided = 0
    for _ in range(3000):
        now = z("2026-11-03T10:00") + timedelta(minutes=rng.randint(0, 5000))
        events = _random_history(rng, now)
        for sla in slas:
            newest = events[-1:]
            first = evaluate(sla, newest, now, known_since=now - timedelta(days=30))
            if decided_by_newest(first, newest, 1):
                decided += 1
                whole = evaluate(sla, events, now, known_since=now - timedelta(days=30))
                assert (first.status, first.last_event, first.lag, first.reason) == \
                       (whole.status, whole.last_event, whole.lag, whole.reason), (sla, events, now)
            else:
                undecided += 1
    assert decided > 5000 and undecided > 500  # both branches were exercised, not just one


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e20, "99999999999999999999d",
                                   "3661d", 10**12])
def test_a_duration_that_is_not_finite_or_absurdly_long_is_an_invalid_sla_not_an_overflow(value):
    from toolkit.sla import parse_duration

    with pytest.raises(Exception) as raised:
        parse_duration(value, "max_age")
    assert type(raised.value).__name__ == "_Invalid" and "max_age" in str(raised.value)
