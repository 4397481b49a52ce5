"""Freshness evaluation, pure: SLAs, asset events and producer runs in, one status per SLA out. "now" is a parameter.

Statuses:

- **fresh**: the last deadline's expectation is met (or the lag is within bounds);
- **at risk**: before the next deadline, the producing run has not started or is still running, and its p90 duration
  says it will finish after the deadline (or it failed); for max-lag SLAs, the lag is past ``warn_after``;
- **late**: a deadline passed without its expectation being met, or the lag is past ``fail_after``;
- **unknown**: the asset has never had an event and no deadline has passed since it appeared.

Deadlines are cron ticks in the SLA's own time zone, computed on local wall-clock time and then converted to UTC,
so 06:00 America/Los_Angeles stays 06:00 local across daylight-saving changes. A local time that does not exist (the
spring-forward gap) is shifted later by the gap; an ambiguous one (the fall-back hour) is its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from toolkit.core.humanize import format_duration
from toolkit.models import AssetEvent
from toolkit.sla import SLA

UTC = timezone.utc
EVENTS_PER_ASSET = 10  # newest events judged per asset: the REST path and the plugin judge the same ones


@dataclass(frozen=True)
class ProducerRun:
    """The producing DAG's most recent run and what its history says about how long one takes."""

    dag_id: str
    state: str | None  # None: no run yet; queued | running | success | failed
    run_id: str | None = None
    start_date: datetime | None = None
    p90_seconds: float | None = None
    next_run_after: datetime | None = None
    upstream_assets: tuple[str, ...] = ()  # assets this producer is scheduled on


@dataclass(frozen=True)
class Expectation:
    description: str
    partition_key: str | None = None  # for partitioned assets: the key that must exist
    updated_since: datetime | None = None  # otherwise: an update at or after this instant


@dataclass
class FreshnessStatus:
    """One SLA's status. A value: changed only through ``dataclasses.replace``. Not frozen because a board builds one
    per SLA (200,000 at 100,000 assets) and a frozen dataclass is built five times slower (0.7 s of such a board)."""

    sla: SLA
    status: str  # fresh | at_risk | late | unknown
    reason: str
    expected: str | None = None
    last_event: AssetEvent | None = None
    lag: timedelta | None = None
    previous_deadline: datetime | None = None
    next_deadline: datetime | None = None
    culprit: str | None = None
    breach_key: str | None = None  # identifies the breach episode (deadline tick or lag episode) for alerting
    cause: str | None = None  # a cadence change upstream that explains it (set by the watcher, which has both)
    cc: tuple[str, ...] = ()  # owners of that cause, who hear of the alert too


def _localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time → UTC. ``fold=0`` makes an ambiguous time (fall back) its first occurrence, and shifts a
    non-existent one (spring forward) later by the gap: 02:30 on the spring-forward day is 03:30 daylight time."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


@lru_cache(maxsize=4096)
def deadlines_around(cron: str, tz: str, now: datetime) -> tuple[datetime, datetime]:
    """The last deadline at or before ``now`` and the next one after it, both in UTC.

    Cached: thousands of SLAs usually share a handful of (cron, zone) pairs, and one evaluation uses one ``now``."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone).replace(tzinfo=None)
    previous = _localize(croniter(cron, local + timedelta(seconds=1)).get_prev(datetime), zone)
    if previous > now:  # the fall-back hour can map a local "previous" tick after now: step back once more
        previous = _localize(croniter(cron, local - timedelta(hours=1)).get_prev(datetime), zone)
    following = _localize(croniter(cron, local).get_next(datetime), zone)
    if following <= now:
        following = _localize(croniter(cron, local + timedelta(hours=1)).get_next(datetime), zone)
    return previous, following


def deadlines_between(cron: str, tz: str, start: datetime, end: datetime,
                      limit: int | None = None) -> tuple[list[datetime], bool]:
    """The deadlines of ``cron`` in ``tz`` after ``start`` and up to ``end`` (UTC), oldest first: at most the newest
    ``limit`` of them (all when None), and whether there were more. Ticks are local wall-clock times made UTC as
    ``deadlines_around`` makes them (a time in the spring-forward gap shifted later, an ambiguous one its
    first occurrence); read back from ``end``, so a long window of a frequent cron costs ``limit`` ticks."""
    zone = ZoneInfo(tz)
    ticks = croniter(cron, end.astimezone(zone).replace(tzinfo=None) + timedelta(seconds=1))
    found: list[datetime] = []
    while True:
        moment = _localize(ticks.get_prev(datetime), zone)
        if moment > end or (found and moment >= found[-1]):
            continue  # the fall-back hour read backwards, or a gap time shifted onto the next tick
        if moment <= start:
            return found[::-1], False
        if limit is not None and len(found) == limit:
            return found[::-1], True
        found.append(moment)


def expectation_for(sla: SLA, deadline: datetime) -> Expectation:
    return _expectation(sla.max_age, sla.timezone, sla.expect, deadline)


@lru_cache(maxsize=4096)
def _expectation(max_age: timedelta | None, tz: str, expect: str | None, deadline: datetime) -> Expectation:
    if max_age is not None:
        since = deadline - max_age
        return Expectation(f"an update since {since.isoformat(timespec='minutes')}", updated_since=since)
    zone = ZoneInfo(tz)
    local = deadline.astimezone(zone)
    if expect == "previous_hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        period = (start.replace(tzinfo=None) - timedelta(hours=1))
        key = period.strftime("%Y-%m-%dT%H")
        return Expectation(f"partition {key} (the hour before {local:%H:%M %Z})", partition_key=key,
                           updated_since=_localize(start.replace(tzinfo=None), zone))
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0).replace(tzinfo=None)
    key = (day_start - timedelta(days=1)).strftime("%Y-%m-%d")
    return Expectation(f"partition {key} (the day before {local:%Y-%m-%d %H:%M %Z})", partition_key=key,
                       updated_since=_localize(day_start, zone))


def satisfies(event: AssetEvent, expectation: Expectation, min_rows: int | None) -> bool:
    if min_rows is not None and (event.row_count is None or event.row_count < min_rows):
        return False
    if event.partition_key is not None and expectation.partition_key is not None:
        return event.partition_key.startswith(expectation.partition_key)
    return expectation.updated_since is not None and event.timestamp >= expectation.updated_since


def _volume_note(events: list[AssetEvent], min_rows: int | None) -> str:
    if min_rows is None or not events:
        return ""
    last = events[-1]
    if last.row_count is None:
        return f"; the last event has no row_count (min_rows {min_rows})"
    if last.row_count < min_rows:
        return f"; the last event wrote {last.row_count} row(s), below min_rows {min_rows}"
    return ""


def _producer_culprit(producer: ProducerRun | None, now: datetime) -> str | None:
    if producer is None:
        return "no DAG produces this asset"
    if producer.state == "failed":
        return f"{producer.dag_id} run {producer.run_id} failed"
    if producer.state in ("running", "queued"):
        since = producer.start_date.isoformat(timespec="minutes") if producer.start_date else "not started"
        return f"{producer.dag_id} run {producer.run_id} is still {producer.state} (since {since})"
    if producer.state is None:
        return f"{producer.dag_id} has not run yet"
    return f"{producer.dag_id} last succeeded ({producer.run_id}) without producing what is expected"


def _finish_estimate(producer: ProducerRun, now: datetime) -> datetime | None:
    if producer.p90_seconds is None:
        return None
    if producer.state in ("running", "queued"):
        return (producer.start_date or now) + timedelta(seconds=producer.p90_seconds)
    start = max(now, producer.next_run_after or now)
    return start + timedelta(seconds=producer.p90_seconds)


@lru_cache(maxsize=1024)
def _threshold(value: timedelta) -> str:
    """A threshold's short form: SLAs share a handful of them (the board formats 200,000 at 100,000 assets)."""
    return format_duration(value)


@lru_cache(maxsize=4096)
def _iso(moment: datetime, timespec: str = "auto") -> str:
    """A deadline as text: thousands of SLAs share each of the few deadlines of one evaluation."""
    return moment.isoformat(timespec=timespec)


def _timestamp(event: AssetEvent) -> datetime:
    return event.timestamp


def evaluate(sla: SLA, events: list[AssetEvent], now: datetime, producer: ProducerRun | None = None,
             known_since: datetime | None = None) -> FreshnessStatus:
    """One SLA's status. ``events`` are the asset's events (any order); ``known_since`` is when the asset appeared."""
    if len(events) > 1:  # a board calls this 200,000 times, mostly with the one newest event
        events = sorted(events, key=_timestamp)
    last = events[-1] if events else None
    if sla.kind == "max_lag":
        good = [e for e in events if sla.min_rows is None or (e.row_count or 0) >= sla.min_rows]
        newest = good[-1] if good else None
        if newest is None:
            if known_since is None or now - known_since < sla.fail_after:
                return FreshnessStatus(sla, "unknown", "no event yet" + _volume_note(events, sla.min_rows),
                                       last_event=last)
            return FreshnessStatus(sla, "late", f"no qualifying event since the asset appeared "
                                                f"{_volume_note(events, sla.min_rows)}", last_event=last,
                                   culprit=_producer_culprit(producer, now), breach_key=f"lag:{known_since}")
        lag = now - newest.timestamp
        if lag >= sla.fail_after:
            return FreshnessStatus(sla, "late", f"last update {format_duration(lag)} ago, over {_threshold(sla.fail_after)}", last_event=newest,
                                   lag=lag, culprit=_producer_culprit(producer, now),
                                   breach_key=f"lag:{newest.timestamp.isoformat()}")
        if lag >= sla.warn_after:
            return FreshnessStatus(sla, "at_risk", f"last update {format_duration(lag)} ago, over warn_after {_threshold(sla.warn_after)}",
                                   last_event=newest, lag=lag, culprit=_producer_culprit(producer, now),
                                   breach_key=f"lag-warn:{newest.timestamp.isoformat()}")
        return FreshnessStatus(sla, "fresh", f"last update {format_duration(lag)} ago", last_event=newest, lag=lag)

    previous, following = deadlines_around(sla.cron, sla.timezone, now)
    due = expectation_for(sla, previous)
    met = [e for e in events if satisfies(e, due, sla.min_rows)]
    lag = now - (met[-1] if met else last).timestamp if (met or last) else None
    base = {"previous_deadline": previous, "next_deadline": following, "lag": lag}
    if not met:
        if last is None and known_since is not None and known_since > previous:
            return FreshnessStatus(sla, "unknown", "no event yet; the first deadline is still ahead",
                                   expected=due.description, **base)
        return FreshnessStatus(
            sla, "late", f"deadline {_iso(previous, 'minutes')} passed without "
                         f"{due.description}{_volume_note(events, sla.min_rows)}",
            expected=due.description, last_event=last, culprit=_producer_culprit(producer, now),
            breach_key=f"deadline:{_iso(previous)}", **base)
    upcoming = expectation_for(sla, following)
    if any(satisfies(e, upcoming, sla.min_rows) for e in events) or producer is None:
        return FreshnessStatus(sla, "fresh", f"{due.description} arrived", expected=upcoming.description,
                               last_event=met[-1], **base)
    if producer.state == "failed" and producer.start_date and producer.start_date >= (upcoming.updated_since or now):
        return FreshnessStatus(sla, "at_risk", "the producing run failed before the next deadline",
                               expected=upcoming.description, last_event=met[-1],
                               culprit=_producer_culprit(producer, now),
                               breach_key=f"risk:{following.isoformat()}", **base)
    finish = _finish_estimate(producer, now)
    if finish is not None and finish > following:
        return FreshnessStatus(
            sla, "at_risk", f"{producer.dag_id} is expected to finish around {finish.isoformat(timespec='minutes')} "
                            f"(p90 {int(producer.p90_seconds)}s), after the deadline "
                            f"{_iso(following, 'minutes')}",
            expected=upcoming.description, last_event=met[-1], culprit=_producer_culprit(producer, now),
            breach_key=f"risk:{following.isoformat()}", **base)
    return FreshnessStatus(sla, "fresh", f"{due.description} arrived; next due "
                                         f"{_iso(following, 'minutes')}",
                           expected=upcoming.description, last_event=met[-1], **base)


def assets_to_read(watched: list[str], known: set[str], producers: dict[str, list[str]] | dict[str, tuple[str, ...]],
                   inputs_of: dict[str, list[str]] | dict[str, tuple[str, ...]]) -> set[str]:
    """The watched assets and everything upstream of them (needed for the culprit walk).

    ``producers`` maps an asset to the DAGs producing it, ``inputs_of`` a DAG to the assets it is scheduled on."""
    needed, queue = set(), list(watched)
    while queue:
        name = queue.pop()
        if name in needed or name not in known:
            continue
        needed.add(name)
        for dag_id in producers.get(name, ()):
            queue.extend(inputs_of.get(dag_id, ()))
    return needed


def evaluate_all(slas: list[SLA], events: dict[str, list[AssetEvent]], now: datetime,
                 producers: dict[str, ProducerRun] | None = None,
                 known_since: dict[str, datetime] | None = None) -> list[FreshnessStatus]:
    """Every SLA; a late or at-risk asset whose producer waits on a late upstream asset names that upstream."""
    producers = producers or {}
    statuses = [evaluate(s, events.get(s.asset, []), now, producers.get(s.asset), (known_since or {}).get(s.asset))
                for s in slas]
    return with_upstream_culprits(statuses, producers)


def with_upstream_culprits(statuses: list[FreshnessStatus],
                           producers: dict[str, ProducerRun]) -> list[FreshnessStatus]:
    """Name the first late upstream asset as the culprit of a late or at-risk one (the walk needs every status)."""
    late = {s.sla.asset: s for s in statuses if s.status == "late"}
    resolved = []
    for status in statuses:
        producer = producers.get(status.sla.asset)
        if status.status in ("late", "at_risk") and producer is not None:
            chain = _upstream_culprit(status.sla.asset, producers, late, set())
            if chain:
                status = replace(status, culprit=chain)
        resolved.append(status)
    return resolved


def decided_by_newest(status: FreshnessStatus, newest: list[AssetEvent], limit: int) -> bool:
    """Whether ``status``, judged on only the ``limit`` newest events, would stay the same with older ones too.

    This lets the database path read one event per asset and go back further only where it can matter: a fresh
    status never changes (older events are never the newest satisfying one), nor does a lag judged without a volume
    check; a deadline judged on update times (``max_age``) stays missed when the oldest event read already predates
    what it asks for. A partition expectation always reads further: any older event may carry the partition."""
    sla = status.sla
    if status.status == "fresh" or len(newest) < limit:
        return True
    if sla.kind == "max_lag":
        return sla.min_rows is None or any((e.row_count or 0) >= sla.min_rows for e in newest)
    if sla.max_age is None or status.previous_deadline is None:
        return False
    due = expectation_for(sla, status.previous_deadline)
    return due.updated_since is not None and min(e.timestamp for e in newest) < due.updated_since


def _upstream_culprit(asset: str, producers: dict[str, ProducerRun], late: dict[str, FreshnessStatus],
                      seen: set[str]) -> str | None:
    producer = producers.get(asset)
    if producer is None or asset in seen:
        return None
    seen.add(asset)
    for upstream in producer.upstream_assets:
        if upstream in late:
            deeper = _upstream_culprit(upstream, producers, late, seen)
            return deeper or f"upstream asset {upstream} is late: {late[upstream].culprit or late[upstream].reason}"
    return None
