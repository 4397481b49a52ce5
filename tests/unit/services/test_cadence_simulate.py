"""``simulate`` through the cadence service (the in-memory Airflow): the consumer's batches are read from which of
the asset's events each run consumed, its SLAs from what it produces, and the current rhythm from the events."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.fakes import FakeAirflow
from tests.unit.services.conftest import NOW
from toolkit.core.cadence_whatif import Rhythm
from toolkit.models import DagRun, Task
from toolkit.services.cadence import simulate
from toolkit.sla import max_lag, with_slas


def postmortem() -> FakeAirflow:
    """stripe.payments every 30 minutes for a day; the close consumes each event in a run of 17 minutes, except once,
    after a re-run, when it batched two in 32."""
    fake = FakeAirflow(now=NOW)
    fake.add_dag("stripe_ingest", [], tasks=(Task("ingest", "default_pool"),))
    close = fake.add_dag("daily_finance_close", [], tasks=(Task("close_books", "default_pool"),))
    close.max_active_runs = 1
    fake.add_asset("stripe.payments", producing_dags=("stripe_ingest",), scheduled_dags=("daily_finance_close",))
    fake.add_asset("finance.daily_close", producing_dags=("daily_finance_close",), extra=with_slas(
        {}, max_lag(warn_after="45m", fail_after="60m", owners=["#finance-data"])))
    start = NOW - timedelta(days=1)
    for k in range(48):
        at = start + timedelta(minutes=30 * k)
        run_id = f"asset_triggered__{k // 2 * 2 if k in (10, 11) else k}"
        event = fake.add_event("stripe.payments", at, source_dag_id="stripe_ingest", source_run_id=f"s{k}")
        fake.event_rows[next(iter(fake.asset_rows))][-1] = replace(event, consumed_by=(("daily_finance_close", run_id),))
        if k == 11:
            continue
        minutes = 32 if k == 10 else 17
        fake.run_rows[("daily_finance_close", run_id)] = DagRun(
            "daily_finance_close", run_id, "success", "asset_triggered", None, start_date=at,
            end_date=at + timedelta(minutes=minutes), run_after=at)
    return fake


def test_the_close_is_modelled_from_its_runs_and_the_five_minute_rhythm_makes_it_late():
    sim = simulate(postmortem(), "stripe.payments", Rhythm(every=timedelta(minutes=5)), now=NOW)

    assert sim.current is not None and sim.current.rhythm.every == timedelta(minutes=30)
    (now,), (then,) = sim.current.consumers, sim.proposed.consumers
    assert now.model.fitted and round(now.model.per_event / 60) == 15 and round(now.model.fixed / 60) == 2
    assert now.keeps_up and [s.status for s in now.slas] == ["fresh"]
    assert not then.keeps_up and [s.status for s in then.slas] == ["late"]
    assert then.owners == ("#finance-data",) and then.runs_per_day < now.runs_per_day / 5


def test_an_asset_without_consumers_simulates_nothing_downstream():
    fake = postmortem()
    sim = simulate(fake, "finance.daily_close", Rhythm(every=timedelta(hours=1)), now=NOW)
    assert sim.proposed.consumers == () and sim.proposed.events == 24
