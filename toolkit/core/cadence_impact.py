"""The seam report, pure: what an upstream cadence change does to the asset-triggered DAGs downstream of it.

A producer that moves from every 30 minutes to every 5 is a good change upstream; downstream it multiplies how often
each asset-triggered consumer runs, changes how many events each run batches, and can push a consumer's own SLA past
its deadline. This module takes the change, the consumer runs and the asset's events, and says so in one message.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from toolkit.core.cadence import CadenceChange, CadenceModel
from toolkit.core.freshness import FreshnessStatus
from toolkit.core.humanize import format_duration
from toolkit.models import Asset, AssetEvent, DagRun
from toolkit.sla import SLA, parse_slas

DAY = timedelta(days=1)
BASELINE = timedelta(days=7)  # how far before the change the "before" figures look, at most
CADENCE_EVENTS_PER_ASSET = 100  # the cadence history judged per asset, by the REST path and the plugin alike


@dataclass(frozen=True)
class SeamImpact:
    """One asset-triggered consumer, before and after an upstream cadence change (rates per day; durations in
    seconds). Not ``planning.ConsumerImpact``, which is what a backfill would trigger downstream."""

    dag_id: str
    owners: tuple[str, ...]
    runs_per_day_before: float | None
    runs_per_day_after: float | None
    events_per_run_before: float | None
    events_per_run_after: float | None
    queued_events: int  # events of the asset that no run of this consumer has consumed yet
    duration_before: float | None  # median run duration
    duration_after: float | None
    slas_at_risk: tuple[str, ...] = ()  # "asset (status)" of assets this consumer produces
    produces: tuple[str, ...] = ()  # the assets this consumer produces (whose SLAs the change may endanger)


@dataclass(frozen=True)
class SeamCause:
    """Why an SLA downstream of a cadence change may be at risk: the change, in words, and who owns its source."""

    upstream: str  # the asset whose cadence changed
    consumer: str  # the asset-triggered DAG between it and the SLA's asset
    text: str
    owners: tuple[str, ...]  # the upstream asset's owners: the other side of the seam


@dataclass(frozen=True)
class CadenceReport:
    """An asset's cadence and, when it changed, the consumers' side of the seam."""

    asset: str
    owners: tuple[str, ...]  # the producer's side: the asset's owner(s)
    model: CadenceModel
    consumers: tuple[SeamImpact, ...] = ()
    backfill_events_excluded: int = 0

    @property
    def change(self) -> CadenceChange | None:
        return self.model.last_change

    @property
    def message(self) -> str:
        return describe_change(self.asset, self.change, self.consumers) if self.change else ""


def asset_owners(asset: Asset) -> tuple[str, ...]:
    """Who hears about the asset: its SLAs' owners (Slack handles or channels), then its ``owner`` in ``extra``."""
    owners = [o for s in parse_slas(asset.name, asset.extra) if isinstance(s, SLA) for o in s.owners]
    if isinstance(asset.extra.get("owner"), str):
        owners.append(asset.extra["owner"])
    return tuple(dict.fromkeys(owners))


def _per_day(count: int, span: timedelta) -> float | None:
    return count / (span / DAY) if span > timedelta(0) else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def consumed_counts(events: Iterable[AssetEvent], dag_id: str) -> dict[str, int]:
    """How many of ``events`` each run of ``dag_id`` consumed, by run id: the batch each run reconciled."""
    counts: dict[str, int] = {}
    for event in events:
        for consumer, run_id in event.consumed_by:
            if consumer == dag_id:
                counts[run_id] = counts.get(run_id, 0) + 1
    return counts


def seam_impact(dag_id: str, owners: tuple[str, ...], change_at: datetime, now: datetime,
                runs: list[DagRun], events: list[AssetEvent], first_event: datetime | None,
                slas_at_risk: tuple[str, ...] = (), produces: tuple[str, ...] = ()) -> SeamImpact:
    """Before/after figures for one consumer. ``runs`` are its runs since shortly before the change (backfills are
    ignored), ``events`` the changed asset's events (with the runs that consumed each)."""
    live = [r for r in runs if r.run_type != "backfill" and r.run_after is not None]
    start = max(change_at - BASELINE, first_event or change_at - BASELINE)
    before = [r for r in live if start <= r.run_after < change_at]
    after = [r for r in live if r.run_after >= change_at]
    consumed = consumed_counts(events, dag_id)
    latest = max((r.run_after for r in live), default=None)
    queued = sum(1 for e in events if not any(c == dag_id for c, _ in e.consumed_by)
                 and (latest is None or e.timestamp > latest))

    def batch(group: list[DagRun]) -> float | None:
        counts = [consumed[r.run_id] for r in group if r.run_id in consumed]
        return sum(counts) / len(counts) if counts else None

    def durations(group: list[DagRun]) -> float | None:
        return _median([r.duration_seconds for r in group if r.duration_seconds is not None])

    return SeamImpact(
        dag_id=dag_id,
        owners=owners,
        runs_per_day_before=_per_day(len(before), change_at - start),
        runs_per_day_after=_per_day(len(after), now - change_at),
        events_per_run_before=batch(before),
        events_per_run_after=batch(after),
        queued_events=queued,
        duration_before=durations(before),
        duration_after=durations(after),
        slas_at_risk=slas_at_risk,
        produces=produces,
    )


def seam_causes(reports: list[CadenceReport]) -> dict[str, SeamCause]:
    """For each asset produced by an asset-triggered consumer of a changed asset: the change as the likely cause of
    its SLA trouble. A change not confirmed yet (it may still turn out to be a burst) is named as such: the SLA is in
    trouble either way, and the on-call engineer should see what changed upstream."""
    causes: dict[str, SeamCause] = {}
    for report in reports:
        change = report.change
        if change is None:
            continue
        for impact in report.consumers:
            text = (f"upstream {_change_head(report.asset, change)} since {change.at:%H:%M} UTC"
                    + ("" if change.confirmed else " (not confirmed yet)"))
            details = []
            if impact.events_per_run_after is not None:
                details.append(f"{impact.dag_id} now batches {_batch(impact.events_per_run_after)} event(s) per run "
                               f"instead of {_batch(impact.events_per_run_before)}")
            if impact.duration_after is not None:
                details.append(f"each run takes {_seconds(impact.duration_after)} instead of "
                               f"{_seconds(impact.duration_before)}")
            if impact.queued_events:
                details.append(f"{impact.queued_events} event(s) waiting")
            if details:
                text += ": " + ", ".join(details)
            for asset in impact.produces:
                causes.setdefault(asset, SeamCause(report.asset, impact.dag_id, text, report.owners))
    return causes


def _rate(per_day: float | None) -> str:
    if per_day is None:
        return "?"
    return f"{per_day:.0f}×/day" if per_day >= 10 else f"{per_day:.1f}×/day".replace(".0×", "×")


def _seconds(value: float | None) -> str:
    return "?" if value is None else format_duration(value)


def describe_change(asset: str, change: CadenceChange, consumers: tuple[SeamImpact, ...] = ()) -> str:
    """One plain paragraph, e.g. "stripe.payments moved from every 30 min to every 5 min on 2026-11-02 14:05 UTC;
    daily_finance_close now runs 96×/day instead of 1×/day, each run takes 4 min instead of 2 min"."""
    parts = [f"{_change_head(asset, change)} on {change.at:%Y-%m-%d %H:%M} UTC"]
    for impact in consumers:
        words = [f"{impact.dag_id} now runs {_rate(impact.runs_per_day_after)} instead of "
                 f"{_rate(impact.runs_per_day_before)}"]
        if impact.events_per_run_before is not None or impact.events_per_run_after is not None:
            words.append(f"batching {_batch(impact.events_per_run_after)} event(s) per run instead of "
                         f"{_batch(impact.events_per_run_before)}")
        if impact.duration_after is not None:
            words.append(f"each run takes {_seconds(impact.duration_after)} instead of "
                         f"{_seconds(impact.duration_before)}")
        if impact.queued_events:
            words.append(f"{impact.queued_events} event(s) queued now")
        if impact.slas_at_risk:
            words.append(f"SLA at risk: {', '.join(impact.slas_at_risk)}")
        parts.append(", ".join(words))
    if not consumers:
        parts.append("no asset-triggered DAG consumes it")
    return "; ".join(parts) + "."


def with_causes(statuses: list[FreshnessStatus], causes: dict[str, SeamCause]) -> list[FreshnessStatus]:
    """At-risk and late statuses of assets downstream of a cadence change, with the change as their cause and its
    owners in copy (those not already owners of the SLA)."""
    out = []
    for status in statuses:
        cause = causes.get(status.sla.asset) if status.status in ("at_risk", "late") else None
        if cause is not None:
            status = replace(status, cause=cause.text, cc=tuple(o for o in cause.owners if o not in status.sla.owners))
        out.append(status)
    return out


def _change_to_dict(change: CadenceChange | None) -> dict | None:
    if change is None:
        return None
    return {"at": change.at.isoformat(), "before_seconds": change.before.total_seconds(),
            "after_seconds": change.after.total_seconds(), "kind": change.kind, "ratio": change.ratio,
            "confirmed": change.confirmed, "index": change.index, "detected_after": change.detected_after,
            "events_since": change.events_since}


def _change_head(asset: str, change: CadenceChange) -> str:
    if change.kind == "irregular":
        return (f"{asset} moved from every {format_duration(change.before)} to irregular arrivals "
                f"(typically {format_duration(change.after)} apart)")
    if change.kind == "regular":
        return f"{asset} moved from irregular arrivals to every {format_duration(change.after)}"
    return f"{asset} moved from every {format_duration(change.before)} to every {format_duration(change.after)}"


def _batch(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}".removesuffix(".0")


def report_to_dict(report: CadenceReport, intervals: bool = True) -> dict:
    """The one JSON shape of a cadence report: ``afkit cadence scan --json``, the plugin endpoint and the TUI.

    ``intervals=False`` leaves the interval history out (``null``): it is most of the size of a 10,000-asset board."""
    model, change = report.model, report.change
    return {
        "asset": report.asset,
        "owners": list(report.owners),
        "events": model.events,
        "backfill_events_excluded": report.backfill_events_excluded,
        "typical_interval_seconds": model.typical_interval.total_seconds() if model.typical_interval else None,
        "spread": model.spread,
        "pattern": model.pattern,
        "last_event": model.last_event.isoformat() if model.last_event else None,
        "since_last_event_seconds": model.since_last_event.total_seconds() if model.since_last_event else None,
        "change": _change_to_dict(change),
        "changes": [_change_to_dict(c) for c in model.changes],
        "consumers": [
            {"dag_id": c.dag_id, "owners": list(c.owners), "runs_per_day_before": c.runs_per_day_before,
             "runs_per_day_after": c.runs_per_day_after, "events_per_run_before": c.events_per_run_before,
             "events_per_run_after": c.events_per_run_after, "queued_events": c.queued_events,
             "duration_seconds_before": c.duration_before, "duration_seconds_after": c.duration_after,
             "slas_at_risk": list(c.slas_at_risk), "produces": list(c.produces)}
            for c in report.consumers
        ],
        "message": report.message or None,
        "intervals_seconds": list(report.model.intervals) if intervals else None,
    }
