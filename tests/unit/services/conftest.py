"""Services against :class:`tests.fakes.FakeAirflow` and a SQLite state database in a temporary folder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.fakes import FakeAirflow
from toolkit.core.planning import PlanOptions
from toolkit.core.throttle import Amount, PoolPolicy, ThrottlePolicy
from toolkit.models import Task
from toolkit.services.backfills import make_plan
from toolkit.state import StateStore

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAYS = [START + timedelta(days=i) for i in range(10)]
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
NO_POLICY = ThrottlePolicy()  # what afkit.toml would configure; passed so no test reads a file
# A policy that names warehouse (with no reserve): the governor then holds production first there; a pool no policy
# names is left as Airflow runs it.
WAREHOUSE_NAMED = ThrottlePolicy(pools=(PoolPolicy("warehouse", Amount(0)),))


@pytest.fixture
def store(tmp_path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture
def airflow() -> FakeAirflow:
    """``raw`` produces ``raw.events``, which the daily ``mart`` reads: a plan for ``raw`` with downstream has two
    steps, and ``mart``'s waits for ``raw``'s to complete."""
    fake = FakeAirflow(now=NOW)
    fake.add_pool("warehouse", 4)
    fake.add_dag("raw", DAYS, tasks=(Task("load", "warehouse"),))
    fake.add_dag("mart", DAYS, tasks=(Task("build", "default_pool"),))
    fake.add_asset("raw.events", producing_dags=("raw",), consuming_dags=("mart",))
    for day in DAYS[:3]:  # history for the estimates, outside the range planned below
        fake.add_run("raw", day)
        fake.add_run("mart", day)
    return fake


def plan_of(airflow: FakeAirflow, dag_ids=("raw",), *, downstream: bool = True, days=(5, 9), **options):
    return make_plan(airflow, list(dag_ids), PlanOptions(DAYS[days[0]], DAYS[days[1]], downstream=downstream,
                                                        **options), now=NOW)
