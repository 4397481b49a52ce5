"""Deterministic data for the terminal app's snapshot tests and benchmark: a fixed :class:`Source`.

No network and no clock: the app gets the same DAGs, SLA board, cadences, pools and partitions every time, and plans
are made by the real (pure) planner from fixed runs, so the screens can be compared as pictures. Behaviour against a
real Airflow is tested in ``tests/integration/test_tui.py``, which shares :func:`keep_notifications` with them.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from textual.app import App

from toolkit.services.backfills import DagProgress
from toolkit.core.cadence import describe
from toolkit.core.cadence_impact import CadenceReport
from toolkit.core.freshness import FreshnessStatus
from toolkit.models import Dag, DagDetails, DagRun, DryRunInfo, Pool, Task
from toolkit.core.planning import DagInputs, PartitionRow, Plan, PlanOptions, build_plan, decide
from toolkit.sla import SLA
from toolkit.core.sla_board import SLABoard
from toolkit.core.throttle import Amount, PoolOccupancy, PoolPolicy, ThrottlePolicy, occupancy
from toolkit.tui.source import Snapshot, save_plan_file

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
UTC = timezone.utc

DAGS = [
    Dag("daily_revenue", False, ("finance",), timetable_summary="@daily"),
    Dag("stripe_ingest", False, ("payments",), timetable_summary="*/30 * * * *"),
    Dag("daily_finance_close", False, ("finance",), timetable_summary="Asset", is_backfillable=False),
    Dag("web_sessions", True, ("web",), timetable_summary="@hourly"),
    Dag("reconcile_ledger", False, ("finance",), timetable_summary="None",  # schedule=None, as Airflow reports it
        timetable_description="Never, external triggers only"),
    Dag("clickstream_5min", False, ("web",), timetable_summary="*/5 * * * *"),
]
FIVE_MINUTE_DAG = "clickstream_5min"
RECENT = {"daily_revenue": ["running", "success", "success", "failed", "success"],  # newest first
          "stripe_ingest": ["success"] * 5, "daily_finance_close": ["queued", "success"]}
DAG_POOLS = {"daily_revenue": ["warehouse"], "stripe_ingest": ["default_pool"], "web_sessions": ["warehouse"]}


def partition_state(day: int) -> str:
    """A fixed pattern: mostly success, a failed streak, a few missing and one running (the newest)."""
    if day % 97 in (3, 4, 5):
        return "failed"
    if day % 61 == 7:
        return "missing"
    return "success"


def daily_rows(days: int, end: datetime = NOW) -> list[PartitionRow]:
    last = end.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    rows = []
    for i in range(days):
        moment = last - timedelta(days=days - 1 - i)
        state = "running" if i == days - 1 else partition_state(i)
        rows.append(PartitionRow(moment, None, None, state, "skip", "fixed"))
    return rows


def five_minute_rows(count: int, end: datetime = NOW) -> list[PartitionRow]:
    """``count`` partitions every 5 minutes up to ``end``: a failed hour now and then, the newest one running."""
    last = end.replace(minute=end.minute - end.minute % 5, second=0, microsecond=0) - timedelta(minutes=5)
    first = last - timedelta(minutes=5 * (count - 1))
    return [PartitionRow(first + timedelta(minutes=5 * i), None, None,
                         "running" if i == count - 1 else "failed" if i % 300 < 12 and i % 3600 > 3000 else
                         "missing" if i % 457 == 5 else "success", "skip", "fixed")
            for i in range(count)]


def board() -> SLABoard:
    def sla(asset: str, name: str, owners: tuple[str, ...]) -> SLA:
        return SLA(asset, name, "max_lag", owners, max_age=timedelta(hours=1))

    return SLABoard(NOW, (
        FreshnessStatus(sla("partner.fx_rates", "max-lag", ("treasury",)), "late", "no update for 3h 10m",
                        lag=timedelta(hours=3, minutes=10), culprit="partner_fx_rates run scheduled__… failed"),
        FreshnessStatus(sla("warehouse.revenue", "by-06:00", ("finance",)), "at_risk", "deadline in 25m",
                        lag=timedelta(minutes=95), culprit="daily_revenue is still running"),
        FreshnessStatus(sla("stripe.payments", "max-lag", ("payments",)), "fresh", "updated 4m ago",
                        lag=timedelta(minutes=4)),
    ), ())


def cadences() -> list[CadenceReport]:
    start = NOW - timedelta(days=2)
    every_30 = [start + timedelta(minutes=30 * i) for i in range(60)]
    every_5 = [every_30[-1] + timedelta(minutes=5 * (i + 1)) for i in range(12)]
    hourly = [start + timedelta(hours=i) for i in range(40)]
    return [CadenceReport("stripe.payments", ("payments",), describe(every_30 + every_5, now=NOW)),
            CadenceReport("web.sessions", ("web",), describe(hourly, now=NOW))]


POLICY = ThrottlePolicy(Amount(0), (PoolPolicy("warehouse", Amount(2)),))


def pools() -> list[PoolOccupancy]:
    from toolkit.models import TaskInstance

    instances = [TaskInstance("daily_revenue", "scheduled__x", "load", "running", "warehouse"),
                 TaskInstance("daily_revenue", "backfill__x", "load", "running", "warehouse", 2),
                 TaskInstance("web_sessions", "backfill__y", "agg", "queued", "warehouse")]
    return occupancy([Pool("default_pool", 128, 120, 8, 0), Pool("warehouse", 8, 4, 4, 0)],
                     instances + [TaskInstance("stripe_ingest", "scheduled__z", f"t{i}", "running", "default_pool")
                                  for i in range(8)], POLICY)


class FixedSource:
    """Same answers every time; records what the app asked it to do."""

    def __init__(self, days: int = 120, five_minute_partitions: int = 600) -> None:
        self.days = days
        self.five_minute_partitions = five_minute_partitions
        self.actions: list[str] = []
        self.paused = False
        self.warning: str | None = None  # what cancel_warning says
        self.governor_note: str | None = None  # what the launch reports, as a governor would
        self.saved: list[Path] = []
        self.inbox: dict | None = None  # the demo inbox the plugin would serve; None: not the demo
        # Set to hold partition reads until released (the loading indicator's test); released when the app closes.
        self.hold_partitions: threading.Event | None = None
        self.reading_partitions = threading.Event()

    def snapshot(self) -> Snapshot:
        return Snapshot(dags=list(DAGS), recent_runs=dict(RECENT), dag_pools=dict(DAG_POOLS), board=board(),
                        cadences=cadences(), pools=pools(), inbox=self.inbox, taken_at=NOW)

    def partitions(self, dag_id: str, start: datetime, end: datetime) -> list[PartitionRow]:
        self.reading_partitions.set()
        if self.hold_partitions is not None:
            self.hold_partitions.wait(timeout=60)
        rows = (five_minute_rows(self.five_minute_partitions) if dag_id == FIVE_MINUTE_DAG
                else daily_rows(self.days))
        return [r for r in rows if start <= r.logical_date <= end]

    def policy(self) -> ThrottlePolicy:
        return POLICY

    def plan(self, dag_id: str, options: PlanOptions, now: datetime) -> Plan:
        """The real planner on fixed runs; the dry run follows Airflow's rules, as the planner's unit tests do."""
        rows = [r for r in daily_rows(self.days) if options.from_date <= r.logical_date <= options.to_date]
        runs = tuple(DagRun(dag_id, f"scheduled__{r.logical_date.isoformat()}", r.state, "scheduled", r.logical_date,
                            start_date=r.logical_date + timedelta(days=1),
                            end_date=r.logical_date + timedelta(days=1, minutes=12) if r.state != "running" else None)
                     for r in rows if r.state != "missing")
        latest = {r.logical_date: r.state for r in runs}
        dry = tuple(DryRunInfo(r.logical_date) for r in rows
                    if decide(latest.get(r.logical_date, "missing"), options.reprocess)[0] != "skip")
        details = DagDetails(Dag(dag_id, False, ("finance",), timetable_summary="@daily"), 3,
                             datetime(2016, 1, 1, tzinfo=UTC), None, "UTC", 16)
        inputs = DagInputs(details, (Task("extract", "default_pool"), Task("load", "warehouse", 2)), runs, dry,
                           recent_successes=tuple(r for r in runs if r.state == "success")[-20:])
        return build_plan(airflow_url="http://airflow.example:8080", airflow_version="3.3.2", now=now,
                          options=options, inputs=[inputs],
                          pools={"default_pool": Pool("default_pool", 128, 128, 0, 0),
                                 "warehouse": Pool("warehouse", 8, 8, 0, 0)})

    def launch(self, plan: Plan, should_stop: Callable[[], bool], on_note: Callable[[str], None]) -> None:
        self.actions.append(f"launch {plan.plan_id}")
        if self.governor_note:
            on_note(self.governor_note)

    def progress(self, plan: Plan) -> list[DagProgress]:
        return [DagProgress(d.dag_id, d.run_count, d.run_count // 2, 1, 2, 1, (7,), False, "running", 840.0)
                for d in plan.dags]

    def act(self, plan: Plan, action: str) -> str:
        if action == "pause_or_resume":  # decided from the source's state, as the real source asks Airflow
            action = "resume" if self.paused else "pause"
        self.paused = action == "pause"
        self.actions.append(action)
        return action

    def cancel_warning(self, plan: Plan) -> str | None:
        return self.warning

    def save(self, plan: Plan, path: Path) -> Path:
        written = save_plan_file(plan, path)
        self.saved.append(written)
        return written

    def close(self) -> None:
        if self.hold_partitions is not None:
            self.hold_partitions.set()



def demo_inbox() -> dict:
    """What the demo's inbox holds after the story: a cadence alert, and an SLA alert with its recovery reply."""
    from toolkit.core.alerts import Notification
    from toolkit.core.freshness import FreshnessStatus
    from toolkit.core.inbox import inbox_to_dict
    from toolkit.models import AssetEvent
    from toolkit.sla import SLA
    from toolkit.slack import build_cadence_message, build_message

    (report,) = [r for r in cadences() if r.change is not None][:1]
    sla = SLA("finance.daily_close", "story-close-lag", "max_lag", ("#finance-data",), runbook="https://r/close")
    risk = FreshnessStatus(sla, "at_risk", "last update 47s ago, over warn_after 45s", lag=timedelta(seconds=47),
                           last_event=AssetEvent("finance.daily_close", NOW, None, "daily_finance_close", "r1"),
                           culprit="daily_finance_close run r2 is still running",
                           cause="upstream stripe.payments moved from every 30s to every 5s since 13:17 UTC",
                           cc=("#payments-data",))
    fresh = FreshnessStatus(sla, "fresh", "last update 3s ago", lag=timedelta(seconds=3))
    posts = [{**build_cadence_message(report, "http://airflow"), "ts": "1.1", "channel": "C0DEMO"},
             {**build_message(Notification("open", "a1", sla.key, "k", risk), "http://airflow"), "ts": "2.1",
              "channel": "C0DEMO"},
             {**build_message(Notification("recover", "a1", sla.key, "k", fresh)), "ts": "3.1", "thread_ts": "2.1",
              "channel": "C0DEMO"}]
    for index, post in enumerate(posts):
        post["received_at"] = NOW.timestamp() + index
    return inbox_to_dict(True, posts)


_KEPT: weakref.WeakKeyDictionary[App, list[str]] = weakref.WeakKeyDictionary()
AnyApp = TypeVar("AnyApp", bound=App)


def keep_notifications(app: AnyApp) -> AnyApp:
    """Record every message ``app`` notifies from now on, at the call, for :func:`notifications` to read.

    Textual's own collection (``app._notifications``) is no record: ``App.notify`` only posts a message, so the
    collection holds a notification once the app's queue has handled it, and it drops one once its timeout (8 s for
    the app's errors) has passed. A check that wakes just after the state it waits for is set can read it too early
    (a CI run's wrong-password test did: the error was in the snapshot, its notification still in the queue)."""
    kept = _KEPT.setdefault(app, [])
    notify = app.notify

    def recording(message: str, *args: Any, **kwargs: Any) -> None:
        kept.append(message)
        notify(message, *args, **kwargs)

    app.notify = recording  # screens and widgets reach it as self.app.notify
    return app


def notifications(app: App) -> list[str]:
    """The messages ``app`` notified since :func:`keep_notifications`, oldest first, none expired."""
    return list(_KEPT[app])
