"""The embedded demo: the example DAGs running on a real Airflow, with a few days of history made by Airflow itself.

History is seeded through the REST API (pools, a Variable, unpausing, backfills) — never by writing database rows —
so the demo shows exactly what a real deployment would. Used by ``afkit demo`` and the integration-test fixture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from toolkit.airflow import AirflowClient
from toolkit.errors import AfkitError, AirflowServerError, Conflict, NotFound
from toolkit.models import Backfill
from toolkit.core.planning import PLAN_TAG

DEMO_DAGS = ("stripe_ingest", "daily_finance_close", "daily_revenue", "revenue_report", "web_sessions",
             "partner_fx_rates")
GOES_LATE = "partner.fx_rates"  # its producer always fails: the SLA the demo shows going late
DEMO_POOLS = {"warehouse": (3, "Shared warehouse connections: production and backfills compete here")}
CADENCE_VARIABLE = "stripe_ingest_cadence_minutes"
TAG = {PLAN_TAG: {"seeded_by": "afkit demo"}}  # marks the seed backfills the way plans mark theirs


def repo_dags_folder() -> Path | None:
    """The repository's example DAGs (``dags/``): the copy an installed wheel ships as ``toolkit/example_dags``, else
    the folder itself beside the ``toolkit`` package of a source checkout or an editable install."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "example_dags", package.parent / "dags"):
        if (folder / "stripe_ingest.py").exists():
            return folder
    return None


def wait_for_dags(client: AirflowClient, dag_ids: tuple[str, ...] = DEMO_DAGS, timeout: float = 180) -> None:
    """Wait until the dag-processor has parsed the DAGs (they are invisible to the API until then)."""
    deadline = time.monotonic() + timeout
    missing: set[str] = set(dag_ids)
    while time.monotonic() < deadline:
        missing = set(dag_ids) - {d.dag_id for d in client.dags.list()}
        if not missing:
            return
        time.sleep(2)
    raise AfkitError(f"DAGs not parsed after {timeout:.0f}s: {', '.join(sorted(missing))}")


def configure(client: AirflowClient) -> None:
    """Pools, the cadence Variable, unpaused DAGs: what the example DAGs need to run."""
    for name, (slots, description) in DEMO_POOLS.items():
        client.pools.ensure(name, slots, description)
    client.variables.set(CADENCE_VARIABLE, "30", "Minutes between stripe_ingest runs (the postmortem changed it to 5)")
    wait_for_dags(client)
    for dag_id in DEMO_DAGS:
        client.dags.set_paused(dag_id, False)


@dataclass(frozen=True)
class SeedPlan:
    dag_id: str
    from_date: datetime
    to_date: datetime


def seed_plan(now: datetime, days: int = 3) -> list[SeedPlan]:
    """What history to create: a few days of the daily DAGs and a few hours of the 30-minute ingest."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        SeedPlan("daily_revenue", today - timedelta(days=days), today - timedelta(days=1)),
        SeedPlan("web_sessions", today - timedelta(days=days), today - timedelta(days=1)),
        SeedPlan("stripe_ingest", now - timedelta(hours=3), now - timedelta(minutes=30)),
    ]


def seed_history(client: AirflowClient, now: datetime | None = None) -> list[Backfill]:
    """Create the seed backfills; DAGs that already have one (a re-used demo home) are left alone."""
    created = []
    for step in seed_plan(now or datetime.now(timezone.utc)):
        if client.backfills.list_for_dag(step.dag_id):
            continue
        try:
            created.append(
                client.backfills.create(step.dag_id, step.from_date, step.to_date, max_active_runs=3, dag_run_conf=TAG)
            )
        except Conflict:
            continue  # a backfill for this DAG is already running
    return created


def active_seed_backfills(client: AirflowClient) -> list[Backfill]:
    """The seed backfills still running: those just created and those a re-used demo home left unfinished."""
    return [
        b for step in seed_plan(datetime.now(timezone.utc)) for b in client.backfills.list_for_dag(step.dag_id)
        if b.active and b.dag_run_conf.get(PLAN_TAG) == TAG[PLAN_TAG]
    ]


@dataclass
class SeedProgress:
    """Which seed backfills are not complete yet, so the demo can say when its history is there and it is ready.

    ``check`` asks Airflow at most every ``interval`` seconds; a failed question (Airflow restarting a component)
    is asked again next time rather than ending the demo.
    """

    pending: set[int]
    started: float  # time.monotonic() when seeding began
    interval: float = 5.0
    _asked: float = float("-inf")

    @property
    def done(self) -> bool:
        return not self.pending

    def check(self, client: AirflowClient, now: float | None = None) -> bool:
        """True exactly once: on the call that finds the last pending seed backfill complete."""
        now = time.monotonic() if now is None else now
        if self.done or now - self._asked < self.interval:
            return False
        self._asked = now
        for backfill_id in sorted(self.pending):
            try:
                complete = client.backfills.get(backfill_id).completed_at is not None
            except NotFound:
                complete = True  # deleted: nothing left to wait for
            except AfkitError:
                return False
            if complete:
                self.pending.discard(backfill_id)
        return self.done


def last_good_drop(client: AirflowClient) -> datetime:
    """Record the partner's last good FX drop now (as the UI's "Create Asset Event" would). From here on its producer
    only fails, so the SLA goes at risk after a minute and late after three: the demo shows a breach happen."""
    asset = next((a for a in client.assets.list() if a.name == GOES_LATE), None)
    if asset is None:
        raise AfkitError(f"asset {GOES_LATE!r} not found: is partner_fx_rates in the DAGs folder?")
    for attempt in range(3):
        try:
            return client.assets.create_event(asset.id, {"row_count": 160,
                                                          "note": "last drop before the partner went down"}).timestamp
        except AirflowServerError:  # SQLite "database is locked" while the seed backfills write: nothing was stored
            if attempt == 2:
                raise
            time.sleep(3)
    raise AssertionError("unreachable")


def wait_for_backfills(client: AirflowClient, backfills: list[Backfill], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    pending = {b.id for b in backfills}
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if client.backfills.get(i).completed_at is None}
        if pending:
            time.sleep(2)
    if pending:
        raise AfkitError(f"seed backfills {sorted(pending)} not complete after {timeout:.0f}s")
