"""One pass of ``afkit watch``: govern running backfills, evaluate SLAs and cadences, record alerts, deliver Slack
messages.

Each part fails on its own: an unreachable Airflow or Slack is reported and the pass goes on. Evaluation takes the
``sla-evaluator`` lease, so two watchers never evaluate (and alert) at the same time. Cadences are scanned less often
than SLAs (``cadence_every``): a change needs several events to show, and a scan reads every asset's history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from toolkit.airflow import AirflowClient
from toolkit.services.alerting import record_alerts, record_cadence_alerts
from toolkit.core.alerts import Notification, OpenAlert
from toolkit.core.cadence_impact import SeamCause, seam_causes, with_causes
from toolkit.services.cadence import cadence_scan
from toolkit.errors import AfkitError
from toolkit.services.governor import Governor, GovernorEvent
from toolkit.slack import DeliveryReport, SlackSender, deliver_outbox
from toolkit.core.sla_board import SLABoard
from toolkit.services.freshness import sla_board
from toolkit.notifiers import NotifierSink, deliver_to_notifiers
from toolkit.state import SLACK_SINK, StateStore

log = logging.getLogger(__name__)
EVALUATOR_LEASE = "sla-evaluator"


@dataclass
class PassReport:
    governor: list[GovernorEvent] = field(default_factory=list)
    evaluated: bool = False
    late: int = 0
    queued: list[str] = field(default_factory=list)
    alerts: list[Notification] = field(default_factory=list)  # the SLA alert messages queued (their ids for ack)
    cadence_changes: list[str] = field(default_factory=list)  # assets whose cadence change was announced
    delivery: DeliveryReport | None = None
    errors: list[str] = field(default_factory=list)
    sources: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # board -> (plugin | rest, why not plugin)
    seconds: dict[str, float] = field(default_factory=dict)  # how long each part took (the boards overlap), and total


class Watcher:
    def __init__(self, client: AirflowClient, store: StateStore, governor: Governor, sender: SlackSender | None,
                 renotify_after: timedelta, lease_seconds: float = 120,
                 cadence_every: timedelta = timedelta(minutes=1), notifiers: list[NotifierSink] | None = None) -> None:
        self.client, self.store, self.governor, self.sender = client, store, governor, sender
        self.notifiers = list(notifiers or [])
        # Every alert is queued for Slack (it waits in the outbox while no Slack is configured) and each notifier.
        self.sinks = (SLACK_SINK, *(n.sink for n in self.notifiers))
        self.renotify_after, self.lease_seconds, self.cadence_every = renotify_after, lease_seconds, cadence_every
        self._cadence_scanned: datetime | None = None
        self._causes: dict[str, SeamCause] = {}  # from the latest cadence scan

    def run_once(self, now: datetime | None = None) -> PassReport:
        now = now or datetime.now(timezone.utc)
        report = PassReport()
        pass_started = time.perf_counter()

        def timed(part: str):
            started = time.perf_counter()
            return lambda: report.seconds.__setitem__(part, report.seconds.get(part, 0.0) + time.perf_counter() - started)

        done = timed("governor")
        try:
            report.governor = self.governor.tick(now)
            if self.governor.pools_used is not None:
                report.sources["pool occupancy"] = (self.governor.pools_used.path, self.governor.pools_used.note)
        except AfkitError as exc:
            report.errors.append(f"governor: {exc}")
        done()
        if self.store.acquire_lease(EVALUATOR_LEASE, self.governor.holder, self.lease_seconds, now):
            with ThreadPoolExecutor(1) as reader:
                # The SLA board is read while the cadences are (both are mostly the server's work; through REST too:
                # 553 s overlapped against 574 s in turn at 10,000 assets); it is judged after them: a change
                # upstream is the cause an SLA alert of this same pass should name.
                board = reader.submit(self._timed_board, now)
                open_alerts = self._open_alerts(timed)  # meanwhile: the board is the server's work
                if self._cadence_scanned is None or now - self._cadence_scanned >= self.cadence_every:
                    self._scan_cadences(report, now, timed)
                self._evaluate_slas(report, now, board.result(), timed, open_alerts)
        if self.sender is not None or self.notifiers:
            done = timed("delivery")
            report.delivery = self._deliver(now, report)
            done()
        for error in report.errors:
            log.error("watch: %s", error)
        report.seconds["total"] = time.perf_counter() - pass_started
        return report

    def _deliver(self, now: datetime, report: PassReport) -> DeliveryReport:
        """Slack's messages, then the notifiers'; an unreachable state database is reported, the pass goes on."""
        delivered = DeliveryReport()
        for deliver, sink in ((deliver_outbox, self.sender), (deliver_to_notifiers, self.notifiers)):
            if not sink:
                continue
            try:
                part = deliver(self.store, sink, now)
            except AfkitError as exc:
                report.errors.append(f"delivery: {exc}")
                continue
            delivered.sent, delivered.waiting = delivered.sent + part.sent, delivered.waiting + part.waiting
            delivered.failed += part.failed
            delivered.errors += part.errors
        return delivered

    def _timed_board(self, now: datetime) -> tuple[SLABoard | AfkitError, float]:
        started = time.perf_counter()
        try:
            board: SLABoard | AfkitError = sla_board(self.client, now)
        except AfkitError as exc:
            board = exc
        return board, time.perf_counter() - started

    def _scan_cadences(self, report: PassReport, now: datetime, timed) -> None:
        done = timed("cadence")
        try:
            reports, used = cadence_scan(self.client, now=now, intervals=False, changed_only=True)
            report.sources["cadence"] = (used.path, used.note)
            done()
            done = timed("recording")
            changed = record_cadence_alerts(self.store, reports, now, self.client.url, self.sinks)
            report.queued += [f"cadence change {asset}" for asset in changed]
            report.cadence_changes = list(changed)
            self._causes = seam_causes(reports)
            self._cadence_scanned = now
        except AfkitError as exc:
            report.errors.append(f"cadence scan: {exc}")
        done()

    def _open_alerts(self, timed) -> list[OpenAlert] | None:
        """The open alerts, read while the boards are (None when that failed: the recording reads and says why)."""
        done = timed("recording")
        try:
            return self.store.open_alert_states()
        except AfkitError:
            return None
        finally:
            done()

    def _evaluate_slas(self, report: PassReport, now: datetime, read: tuple[SLABoard | AfkitError, float],
                       timed, open_alerts: list[OpenAlert] | None) -> None:
        board, seconds = read
        report.seconds["SLA board"] = seconds
        if isinstance(board, AfkitError):
            report.errors.append(f"SLA evaluation: {board}")
            return
        report.sources["SLA board"] = (board.source, board.source_note)
        report.evaluated, report.late = True, board.count("late")
        done = timed("recording")
        try:
            statuses = with_causes(list(board.statuses), self._causes)
            queued = record_alerts(self.store, statuses, now, self.client.url, self.renotify_after, open_alerts,
                                   self.sinks)
            report.queued += [f"{n.kind} {n.sla_key}" for n in queued]
            report.alerts = list(queued)
        except AfkitError as exc:
            report.errors.append(f"SLA evaluation: {exc}")
        done()

    def run(self, interval: float, *, on_report: Callable[[PassReport], None], should_stop: Callable[[], bool],
            once: bool = False) -> None:
        """Pass after pass, ``interval`` seconds apart, until ``should_stop`` (checked every 0.2 s) or one pass when
        ``once``; each pass's report goes to ``on_report``. The evaluator lease is released at the end."""
        try:
            while not should_stop():
                on_report(self.run_once())
                if once:
                    return
                deadline = time.monotonic() + interval
                while not should_stop() and time.monotonic() < deadline:
                    time.sleep(0.2)
        finally:
            self.close()

    def close(self) -> None:
        self.store.release_lease(EVALUATOR_LEASE, self.governor.holder)
        self.governor.release_leases()
