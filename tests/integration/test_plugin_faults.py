"""The operator side where the afkit plugin is missing, older or failing: every board comes through the REST API
instead, says so once, and is the same board.

A second api-server shares the suite's database, started from a virtualenv without afkit (so no entry point brings
the plugin) with a stand-in plugin (``tests/plugins_standin``) whose mode the test sets: ``absent`` lets Airflow
answer ``/afkit/…`` itself, as where afkit is not installed; ``old``, ``fail`` and ``slow`` answer as an older, a
failing and a hanging plugin would. The suite's own api-server, with the real plugin, gives the board to compare with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.airflow import AirflowClient
from toolkit.config import ConnectionSettings
from toolkit.core.plugin_api import API_VERSION
from toolkit.services.cadence import cadence_scan
from toolkit.services.freshness import sla_board
from toolkit.services.occupancy import read_pools
from toolkit.services.plugin_path import plugin_usable
from toolkit.tui.source import AirflowSource

from ..slack_server import TOKEN, running_fake_slack
from .conftest import REPO, assert_same_statuses, comparable_slas, second_api_server

pytestmark = pytest.mark.integration

NOT_INSTALLED = "the afkit plugin is not installed in this Airflow"
OLD = ("the afkit plugin speaks API version none (a plugin older than versioning) and this afkit "
       f"{API_VERSION}: upgrade one of them for the fast path")


@pytest.fixture(scope="module")
def fallback(airflow, airflow_only_python, tmp_path_factory):
    where = tmp_path_factory.mktemp("fallback-api-server")
    with second_api_server(airflow, airflow_only_python, where, plugins=REPO / "tests" / "plugins_standin",
                           extra_env={"AFKIT_STANDIN_API": str(API_VERSION), "AFKIT_STANDIN_DELAY": "20"}) as server:
        yield server


def set_mode(server, mode: str) -> None:
    (server.home / "afkit-standin-mode").write_text(mode)


def settings(server, user: str = "admin") -> ConnectionSettings:
    return ConnectionSettings(url=server.url, username=user, password=server.passwords[user])


def env_for(server, tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    return {**base, "AFKIT_URL": server.url, "AFKIT_USERNAME": "admin", "AFKIT_PASSWORD": server.passwords["admin"],
            "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", **extra}


def afkit(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_without_the_plugin_every_board_comes_through_rest_and_is_the_same(airflow, client, fallback, tmp_path):
    set_mode(fallback, "absent")
    for user in ("admin", "viewer"):  # a viewer reads the same board on both paths
        main = ConnectionSettings(url=airflow.url, username=user, password=airflow.passwords[user])
        with AirflowClient(main) as with_plugin, AirflowClient(settings(fallback, user)) as without:
            assert plugin_usable(without) == (False, NOT_INSTALLED)
            first = sla_board(with_plugin)
            rest = sla_board(without)
            again = sla_board(with_plugin)
            assert (first.source, rest.source, rest.source_note) == ("plugin", "rest", NOT_INSTALLED)
            assert_same_statuses((first, again), rest)

    with AirflowClient(settings(fallback)) as without:
        pools = read_pools(without)
        assert (pools.used.path, pools.used.note) == ("rest", NOT_INSTALLED)
        assert {(p.name, p.slots) for p in pools.pools} == {(p.name, p.slots) for p in read_pools(client).pools}
        reports, used = cadence_scan(without)
        assert used.path == "rest"
        assert {r.asset for r in reports} == {r.asset for r in cadence_scan(client)[0]}

    # The terminal app reads through the same services.
    snapshot = AirflowSource(settings(fallback)).snapshot()
    assert snapshot.board is not None and snapshot.board.source == "rest", snapshot.errors
    assert set(comparable_slas(snapshot.board)) == set(comparable_slas(sla_board(client)))
    assert snapshot.pools and snapshot.cadences

    env = env_for(fallback, tmp_path)
    status = afkit(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["boards"] == {"source": "rest", "note": NOT_INSTALLED}
    board = afkit(env, "sla", "status", "--json")
    assert board.returncode == 0 and json.loads(board.stdout)["source"] == "rest", board.stderr
    assert "Traceback" not in status.stderr + board.stderr


def test_an_older_plugin_is_passed_over_for_rest_with_a_one_line_warning(fallback, tmp_path):
    set_mode(fallback, "old")
    result = afkit(env_for(fallback, tmp_path), "sla", "status")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"boards through the REST API: {OLD}"]
    assert result.stdout.splitlines()[0].endswith(f"(through the REST API: {OLD})"), result.stdout


@pytest.mark.parametrize("mode, says", [("fail", "HTTP 500"), ("slow", "timed out")])
def test_a_failing_or_hanging_plugin_falls_back_for_the_pass_and_still_alerts(fallback, tmp_path, mode, says):
    set_mode(fallback, mode)
    with running_fake_slack() as slack:
        env = env_for(fallback, tmp_path, AFKIT_SLACK_TOKEN=TOKEN, AFKIT_SLACK_CHANNEL="#alerts",
                      AFKIT_SLACK_BASE_URL=slack.base_url, AFKIT_TIMEOUT="3")
        result = afkit(env, "watch", "--once")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        for board, what in (("SLA board", "SLA board"), ("cadence", "cadence reports")):
            line = next(line for line in output.splitlines() if line.startswith(f"{board}: "))
            assert line.startswith(f"{board}: through the REST API: the afkit plugin's {what} failed"), line
            assert says in line, line
        late = [p for p in slack.posts if p["text"].startswith("LATE: test.stale")]
        assert len(late) == 1, [p["text"] for p in slack.posts]
        assert "Traceback" not in output and TOKEN not in output
