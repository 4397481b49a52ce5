"""The CLI against the in-memory Airflow (:class:`tests.fakes.FakeAirflow`): every command's client is the fake, the
state database and afkit.toml live in the test's folder, and no Slack or Airflow deployment is configured."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.fakes import URL, FakeAirflow
from toolkit.cli import options
from toolkit.cli.main import cli
from toolkit.models import Task
from toolkit.services import backfills
from toolkit.sla import max_lag, with_slas

# The CLI plans against the real clock: the fake's schedule ends yesterday, so every range planned is in the past.
TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = [TODAY - timedelta(days=20 - i) for i in range(20)]
FROM, TO = DAYS[10].date().isoformat(), DAYS[14].date().isoformat()


@pytest.fixture
def airflow(monkeypatch: pytest.MonkeyPatch) -> FakeAirflow:
    """``raw`` (daily, in the warehouse pool) produces ``raw.events``, an asset with a max-lag SLA that is late; every
    CLI command in the test gets this fake as its Airflow client."""
    fake = FakeAirflow(url=URL, now=datetime.now(timezone.utc))
    fake.add_pool("warehouse", 4)
    fake.add_dag("raw", DAYS, tasks=(Task("load", "warehouse"),))
    fake.add_asset("raw.events", producing_dags=("raw",),
                   extra=with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#data"])))
    for day in DAYS[:5]:  # history for the estimates and the cadence
        fake.add_run("raw", day)
        fake.add_event("raw.events", day + timedelta(days=1), source_dag_id="raw", source_run_id=f"scheduled__{day}")
    monkeypatch.setattr(options, "open_client", lambda settings: contextlib.nullcontext(fake))
    # A launch waits between its passes over the steps: on the fake, waiting moves the fake's clock instead.
    monkeypatch.setattr(backfills, "launch", functools.partial(backfills.launch, sleep=fake.advance))
    return fake


@dataclass
class Afkit:
    """Runs ``afkit`` with the test's environment; stdout and stderr kept apart."""

    home: Path

    @property
    def env(self) -> dict[str, str | None]:
        return {"AFKIT_URL": URL, "AFKIT_TOKEN": "test-token", "AFKIT_USERNAME": None, "AFKIT_PASSWORD": None,
                "AFKIT_PROFILE": None, "AFKIT_STATE_URL": f"sqlite:///{self.home / 'state.db'}",
                "AFKIT_CONFIG": str(self.home / "afkit.toml"), "XDG_CONFIG_HOME": str(self.home / "xdg"),
                "AIRFLOW_HOME": None, "AFKIT_SLACK_CONN_ID": None, "AFKIT_SLACK_TOKEN": None,
                "AFKIT_SLACK_CHANNEL": None, "AFKIT_SLACK_WEBHOOK_URL": None, "AFKIT_DEBUG": None}

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, [a.format(home=self.home) for a in args], env=self.env, input=input,
                                  catch_exceptions=False, prog_name="afkit")


@pytest.fixture
def afkit(tmp_path: Path) -> Afkit:
    return Afkit(tmp_path)
