"""The cadence what-if, pure: what an upstream asset's new rhythm would do downstream, before it ships.

The seam report (``cadence_impact``) measures a change after it happened; this module asks the postmortem's question
before: at a new interval (or cron), how often would each asset-triggered consumer run, how many events would each
run batch, how long would it take, how much of its pools would it hold, and which SLAs on what it produces would go
at risk. The model is the seam report's and the scheduler's own:

- each upstream event queues for the consumers scheduled on the asset; the scheduler turns whatever is queued into
  one run, about once per loop, while the consumer has fewer than ``max_active_runs`` runs active;
- a run's duration is ``fixed + per_event × events batched``, fitted to the consumer's recent runs (how many events
  each consumed, how long it took). With only one batch size in the history the growth is unknown: runs are taken to
  last their median, and the report says so;
- the produced asset updates when a run ends; its SLAs are judged on those updates as the SLA board would.

The simulation is deterministic: events on the new rhythm from an idle consumer, over ``horizon`` (a day by default).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

from toolkit.core.freshness import deadlines_between, expectation_for
from toolkit.core.humanize import format_duration
from toolkit.core.planning import SCHEDULER_LOOP_SECONDS
from toolkit.errors import BadInput
from toolkit.sla import SLA, parse_duration

SCHEDULER_LOOP = timedelta(seconds=SCHEDULER_LOOP_SECONDS)
DAY = timedelta(days=1)
MAX_EVENTS = 100_000  # a rhythm with more events than this over the horizon is refused by the edges


@dataclass(frozen=True)
class Rhythm:
    """The proposed rhythm of the upstream asset: a fixed ``every`` or a ``cron`` (in UTC)."""

    every: timedelta | None = None
    cron: str | None = None

    def events(self, start: datetime, end: datetime) -> list[datetime]:
        if self.every is not None:
            count = int((end - start) / self.every)
            return [start + self.every * k for k in range(1, count + 1)]
        ticks, moment = [], croniter(self.cron, start)
        while len(ticks) <= MAX_EVENTS:
            tick = moment.get_next(datetime)
            if tick > end:
                break
            ticks.append(tick)
        return ticks

    @property
    def text(self) -> str:
        return f"every {format_duration(self.every)}" if self.every is not None else f"on cron {self.cron!r}"


def parse_rhythm(every: str | None, cron: str | None, names: dict[str, str]) -> Rhythm:
    """The rhythm a person typed: exactly one of ``every`` (5m, 2h) and ``cron``; ``names`` are the edge's words."""
    if (every is None) == (cron is None):
        raise BadInput(f"give exactly one of {names['every']} and {names['cron']}: the asset's proposed rhythm")
    if every is not None:
        try:
            interval = parse_duration(every, names["every"])
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        if interval < SCHEDULER_LOOP:
            raise BadInput(f"{names['every']} {every!r} is shorter than the scheduler's loop "
                           f"({format_duration(SCHEDULER_LOOP)}): events would all batch into one run per loop")
        return Rhythm(every=interval)
    if not croniter.is_valid(cron):
        raise BadInput(f"{names['cron']} {cron!r} is not a cron expression (five fields, e.g. '*/5 * * * *')")
    return Rhythm(cron=cron)


MAX_HORIZON = timedelta(days=31)


def parse_horizon(text: str, name: str) -> timedelta:
    """How long to simulate: a duration (1d, 12h), at most a month."""
    try:
        horizon = parse_duration(text, name)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if horizon > MAX_HORIZON:
        raise BadInput(f"{name} {text!r} is longer than {format_duration(MAX_HORIZON)}: a what-if over a month "
                       "says no more than over a day")
    return horizon


@dataclass(frozen=True)
class DurationModel:
    """A consumer run's duration as ``fixed + per_event × batch`` (seconds); ``fitted`` is False when the history
    had a single batch size, so ``per_event`` is 0 and the growth with a batch is unknown."""

    fixed: float
    per_event: float
    fitted: bool
    samples: int

    def seconds(self, batch: int) -> float:
        return self.fixed + self.per_event * batch


@dataclass(frozen=True)
class ConsumerHistory:
    """What the model knows of one asset-triggered consumer."""

    dag_id: str
    max_active_runs: int
    batches: tuple[tuple[int, float], ...]  # (events consumed, seconds) of its recent runs
    pool_demand: dict[str, int]
    produces: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # other assets its condition waits for: the new rhythm alone does not drive it
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlaOutlook:
    """One SLA on an asset a consumer produces, under the new rhythm."""

    asset: str
    sla: str
    status: str  # fresh | at_risk | late
    at: datetime | None  # when it first would be
    reason: str


@dataclass(frozen=True)
class ConsumerOutlook:
    dag_id: str
    owners: tuple[str, ...]
    runs_per_day: float
    events_per_run: float | None
    duration_seconds: float | None  # of the last run
    longest_seconds: float | None
    keeps_up: bool  # False: each run batches more than the last and the queue grows
    queued_at_end: int
    pool_peak: dict[str, int]  # slots held at once, at most
    pool_busy: dict[str, float]  # slots held on average over the horizon
    model: DurationModel | None
    slas: tuple[SlaOutlook, ...] = ()
    needs: tuple[str, ...] = ()
    note: str = ""
    run_starts: tuple[datetime, ...] = ()  # when each simulated run starts

    @property
    def at_risk(self) -> tuple[SlaOutlook, ...]:
        return tuple(s for s in self.slas if s.status != "fresh")


@dataclass(frozen=True)
class WhatIf:
    asset: str
    rhythm: Rhythm
    start: datetime
    horizon: timedelta
    events: int
    consumers: tuple[ConsumerOutlook, ...]

    @property
    def events_per_day(self) -> float:
        return self.events / (self.horizon / DAY)


def fit_duration(batches: tuple[tuple[int, float], ...]) -> DurationModel | None:
    """Least squares of duration on batch size; a slope below 0 (noise) is taken as 0."""
    pairs = [(b, s) for b, s in batches if b >= 1 and s >= 0]
    if not pairs:
        return None
    sizes = {b for b, _ in pairs}
    if len(sizes) < 2:
        return DurationModel(statistics.median(s for _, s in pairs), 0.0, False, len(pairs))
    mean_b = statistics.fmean(b for b, _ in pairs)
    mean_s = statistics.fmean(s for _, s in pairs)
    slope = (sum((b - mean_b) * (s - mean_s) for b, s in pairs) / sum((b - mean_b) ** 2 for b, _ in pairs))
    slope = max(0.0, slope)
    return DurationModel(max(0.0, mean_s - slope * mean_b), slope, True, len(pairs))


@dataclass(frozen=True)
class LastRun:
    """The consumer's last run created before a replay starts (it may still be active): when it started and ends,
    and its ``run_after`` (the newest event it batched), which floors the next run's events."""

    started: datetime
    ends: datetime
    consumed_until: datetime


@dataclass
class _Run:
    start: datetime
    end: datetime
    batch: int


def simulate_consumer(history: ConsumerHistory, events: list[datetime], start: datetime, end: datetime,
                      slas: list[SLA], *, last: LastRun | None = None,
                      loop: timedelta = SCHEDULER_LOOP) -> ConsumerOutlook:
    """One consumer under the new rhythm: the scheduler's ``loop`` over the horizon, run by run, from an idle consumer
    or from its ``last`` run before ``start``. ``events``: the upstream asset's event times (those up to ``start`` that
    no run consumed yet are queued at once).

    Airflow 3.3's rule for which events a run batches (``SchedulerJobRunner._create_dag_runs_asset_triggered``): the
    first event after a run was created queues the consumer (its ``AssetDagRunQueue`` row, whose ``created_at``
    becomes the next run's ``run_after``); later events do not move it. The next run, created once fewer than
    ``max_active_runs`` are active, batches the events after the previous run's ``run_after`` up to its own: events
    that came after the queueing wait for the run after it.
    """
    model = fit_duration(history.batches)
    if history.needs or model is None:
        note = (f"also waits for {', '.join(history.needs)}: the new rhythm alone does not set how often it runs"
                if history.needs else "no finished run with its events recorded: nothing to model it on")
        return ConsumerOutlook(history.dag_id, history.owners, 0.0, None, None, None, True, 0, {}, {}, model,
                               needs=history.needs, note=note)
    events = sorted(events)
    runs: list[_Run] = [_Run(last.started, last.ends, 0)] if last is not None and last.ends > start else []
    floor = last.consumed_until if last is not None else start  # the last run's run_after: events up to it are used
    created = last.started if last is not None else start  # when the last run was created
    queued_at: datetime | None = None  # the AssetDagRunQueue row's created_at
    seen = 0  # events[:seen] have arrived
    moment = start
    while moment <= end:
        while seen < len(events) and events[seen] <= moment:
            if queued_at is None and events[seen] > created and events[seen] > floor:
                queued_at = events[seen]
            seen += 1
        if queued_at is not None and sum(1 for r in runs if r.end > moment) < history.max_active_runs:
            batch = sum(1 for e in events[:seen] if floor < e <= queued_at)
            runs.append(_Run(moment, moment + timedelta(seconds=model.seconds(batch)), batch))
            floor, created, queued_at = queued_at, moment, None
        upcoming = events[seen] if seen < len(events) else None
        moment = _next_moment(moment, upcoming, runs, end, loop)
    pending = sum(1 for e in events if e > floor and e <= end)
    runs = [r for r in runs if r.batch]  # the run active at the start is not the rhythm's
    finished = [r for r in runs if r.end <= end]
    batches = [r.batch for r in runs]
    growing = len(batches) >= 3 and batches[-1] > batches[-2] > batches[-3]  # each run batches more than the last
    peak, busy = _pools(history.pool_demand, runs, start, end)
    outlooks = tuple(_sla(sla, [r.end for r in finished], start, end) for sla in slas)
    note = "" if model.fitted else (
        f"every recent run batched {history.batches[0][0] if history.batches else 1} event(s): how a run's duration "
        "grows with its batch is unknown, so each run is taken to last the median of its recent runs")
    return ConsumerOutlook(
        dag_id=history.dag_id,
        owners=history.owners,
        runs_per_day=len(runs) / ((end - start) / DAY),
        events_per_run=statistics.fmean(batches) if batches else None,
        duration_seconds=(runs[-1].end - runs[-1].start).total_seconds() if runs else None,
        longest_seconds=max(((r.end - r.start).total_seconds() for r in runs), default=None),
        keeps_up=not growing and pending <= max(batches, default=0),
        queued_at_end=pending,
        pool_peak=peak,
        pool_busy=busy,
        model=model,
        slas=outlooks,
        note=note,
        run_starts=tuple(r.start for r in runs),
    )


def _next_moment(moment: datetime, upcoming: datetime | None, runs: list[_Run], end: datetime,
                 loop: timedelta) -> datetime:
    """The next scheduler loop at which something can change: the next event or the next run's end, on the loop."""
    candidates = [t for t in (upcoming, *(r.end for r in runs if r.end > moment)) if t is not None]
    if not candidates:
        return end + loop
    target = max(min(candidates), moment + loop)
    return moment + loop * math.ceil((target - moment) / loop)


def _pools(demand: dict[str, int], runs: list[_Run], start: datetime, end: datetime
           ) -> tuple[dict[str, int], dict[str, float]]:
    span = (end - start).total_seconds()
    edges = sorted({t for r in runs for t in (r.start, r.end)})
    most = max((sum(1 for r in runs if r.start <= t < r.end) for t in edges), default=0)
    held = sum((min(r.end, end) - r.start).total_seconds() for r in runs if r.start < end)
    return ({pool: need * most for pool, need in demand.items()},
            {pool: need * held / span for pool, need in demand.items()} if span > 0 else {})


def _sla(sla: SLA, updates: list[datetime], start: datetime, end: datetime) -> SlaOutlook:
    """The SLA judged on the produced asset's simulated updates (the first update comes from the first run)."""
    label = sla.name
    if sla.kind == "max_lag":
        if not updates:
            return SlaOutlook(sla.asset, label, "late", start + sla.fail_after, "no run would finish in the horizon")
        previous = updates[0]  # what the asset's lag was before the first simulated update is not the rhythm's doing
        worst: SlaOutlook | None = None
        for moment in [*updates[1:], end]:
            gap = moment - previous
            if gap >= sla.fail_after:
                return SlaOutlook(sla.asset, label, "late", previous + sla.fail_after,
                                  f"no update for {format_duration(gap)} (fail_after {format_duration(sla.fail_after)})")
            if gap >= sla.warn_after and worst is None:
                worst = SlaOutlook(sla.asset, label, "at_risk", previous + sla.warn_after,
                                   f"no update for {format_duration(gap)} (warn_after {format_duration(sla.warn_after)})")
            previous = moment
        if worst is not None:
            return worst
        return SlaOutlook(sla.asset, label, "fresh", None, "updated within warn_after throughout")
    for deadline in deadlines_between(sla.cron, sla.timezone, start, end)[0]:
        since = expectation_for(sla, deadline).updated_since
        if not any((since is None or u >= since) and u <= deadline for u in updates):
            return SlaOutlook(sla.asset, label, "late", deadline,
                              f"no update between {since:%Y-%m-%d %H:%M} UTC and the deadline")
    return SlaOutlook(sla.asset, label, "fresh", None, "every deadline in the horizon met")


def what_if(asset: str, rhythm: Rhythm, consumers: list[tuple[ConsumerHistory, list[SLA]]], start: datetime,
            horizon: timedelta = DAY, loop: timedelta = SCHEDULER_LOOP) -> WhatIf:
    """Every consumer of ``asset`` under ``rhythm``, from ``start`` over ``horizon``; ``loop``: how often the
    scheduler turns queued events into runs (a compressed demo's Airflow loops faster than the story's clock)."""
    end = start + horizon
    events = rhythm.events(start, end)
    outlooks = tuple(simulate_consumer(history, events, start, end, slas, loop=loop) for history, slas in consumers)
    return WhatIf(asset, rhythm, start, horizon, len(events), outlooks)


def what_if_to_dict(result: WhatIf | None) -> dict | None:
    """The one JSON shape of a what-if (``afkit cadence simulate --json``)."""
    if result is None:
        return None
    return {
        "rhythm": {"every_seconds": result.rhythm.every.total_seconds() if result.rhythm.every else None,
                   "cron": result.rhythm.cron},
        "start": result.start.isoformat(),
        "horizon_seconds": result.horizon.total_seconds(),
        "events": result.events,
        "consumers": [
            {"dag_id": c.dag_id, "owners": list(c.owners), "runs_per_day": c.runs_per_day,
             "events_per_run": c.events_per_run, "duration_seconds": c.duration_seconds,
             "longest_seconds": c.longest_seconds, "keeps_up": c.keeps_up, "queued_at_end": c.queued_at_end,
             "pool_peak": c.pool_peak, "pool_busy": c.pool_busy, "needs": list(c.needs), "note": c.note or None,
             "duration_model": None if c.model is None else {
                 "fixed_seconds": c.model.fixed, "per_event_seconds": c.model.per_event, "fitted": c.model.fitted,
                 "samples": c.model.samples},
             "slas": [{"asset": s.asset, "sla": s.sla, "status": s.status,
                       "at": s.at.isoformat() if s.at else None, "reason": s.reason} for s in c.slas]}
            for c in result.consumers
        ],
    }
