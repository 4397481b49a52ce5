"""One ``afkit watch`` pass (``services.watch.Watcher.run_once``) on the in-memory Airflow and the local Slack
server: it governs the running backfill, evaluates the SLAs, and delivers each alert to Slack once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.slack_server import TOKEN, running_fake_slack
from tests.unit.services.conftest import NO_POLICY, NOW, WAREHOUSE_NAMED, plan_of
from toolkit.services.backfills import launch
from toolkit.services.governor import Governor
from toolkit.services.watch import Watcher
from toolkit.slack import SlackSender, SlackTarget
from toolkit.sla import max_lag, with_slas


@pytest.fixture
def slack():
    with running_fake_slack() as server:
        yield server


def test_one_pass_governs_evaluates_and_alerts_once(airflow, store, slack):
    airflow.add_dag("stripe_ingest", [])
    airflow.add_asset("stripe.payments", producing_dags=("stripe_ingest",),
                      extra=with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#pay"])))
    airflow.add_event("stripe.payments", NOW - timedelta(hours=2), source_dag_id="stripe_ingest",
                      source_run_id="scheduled__1")
    (backfill_id,) = launch(airflow, store, plan_of(airflow, downstream=False, policy=WAREHOUSE_NAMED),
                            current_policy=NO_POLICY, sleep=airflow.advance).created
    for run in airflow.runs_of(backfill_id)[:3]:
        airflow.add_task_instance("raw", run.run_id, "running", "warehouse")
    airflow.add_task_instance("orders", "scheduled__x", "running", "warehouse")
    airflow.add_task_instance("orders", "scheduled__y", "scheduled", "warehouse")  # production waits, 0 free
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url))
    watcher = Watcher(airflow, store, Governor(airflow, store, holder="watch"), sender,
                      renotify_after=timedelta(hours=4))

    report = watcher.run_once(NOW)

    assert report.errors == []
    assert [(e.backfill_id, e.action) for e in report.governor] == [(backfill_id, "pause")]
    assert airflow.backfills.get(backfill_id).is_paused
    assert report.evaluated and report.late == 1
    assert [n.kind for n in report.alerts] == ["open"] and report.queued[0].startswith("open stripe.payments")
    assert report.delivery.sent == 1
    (post,) = slack.posts
    assert post["channel"] == "#alerts" and "LATE: stripe.payments" in post["text"]
    assert set(report.seconds) == {"governor", "cadence", "SLA board", "recording", "delivery", "total"}  # the breakdown
    assert report.seconds["total"] >= report.seconds["governor"] + report.seconds["recording"]
    absent = ("rest", "the afkit plugin is not installed in this Airflow")
    assert report.sources == {"pool occupancy": absent, "cadence": absent, "SLA board": absent}

    again = watcher.run_once(NOW + timedelta(minutes=1))  # the same breach, the backfill already paused
    assert again.errors == [] and again.late == 1 and again.alerts == [] and len(slack.posts) == 1
    assert [e.action for e in again.governor] == ["none"]
    watcher.close()


def test_the_sla_board_is_read_while_the_cadences_are(airflow, store, monkeypatch):
    """A pass reads its two boards at the same time (each is mostly the server's work): the cadence scan here can
    only begin once the SLA board's read has."""
    import threading

    import toolkit.services.watch as watch

    airflow.add_asset("stripe.payments", extra=with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#pay"])))
    airflow.add_event("stripe.payments", NOW - timedelta(hours=2))
    board_begun = threading.Event()
    real_board, real_scan = watch.sla_board, watch.cadence_scan

    def board(*args, **kwargs):
        board_begun.set()
        return real_board(*args, **kwargs)

    def scan(*args, **kwargs):
        assert board_begun.wait(30), "the SLA board was not read until the cadence scan had finished"
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(watch, "sla_board", board)
    monkeypatch.setattr(watch, "cadence_scan", scan)
    watcher = Watcher(airflow, store, Governor(airflow, store, holder="watch"), None, renotify_after=timedelta(hours=4))
    report = watcher.run_once(NOW)
    assert report.errors == [] and report.evaluated and report.late == 1
    assert report.sources["cadence"][0] == report.sources["SLA board"][0] == "rest"
