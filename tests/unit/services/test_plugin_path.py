"""Which path a board comes by (``services.plugin_path``): the plugin when it speaks this afkit's API version, REST
otherwise or when its answer fails, with the reason kept; the same board either way."""

from __future__ import annotations

import logging
from datetime import timedelta

import msgspec
import pytest

from tests.unit.services.conftest import NOW
from toolkit.core.cadence_impact import report_to_dict
from toolkit.core.plugin_api import API_VERSION
from toolkit.errors import AirflowServerError, PermissionDenied
from toolkit.services.cadence import cadence_scan, rest_cadence_reports
from toolkit.services.freshness import rest_sla_board, sla_board
from toolkit.core.throttle import Amount, PoolBudget, PoolPolicy, PoolSample, ThrottlePolicy
from toolkit.services import occupancy
from toolkit.services.governor import Governor
from toolkit.services.plugin_path import BOARDS_ENV
from toolkit.sla import max_lag, with_slas

HEALTH = {"plugin": "afkit", "api": API_VERSION}


@pytest.fixture
def deployment(airflow):
    airflow.add_dag("ingest", [])
    airflow.add_asset("raw.orders", producing_dags=("ingest",),
                      extra=with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#orders"])))
    for hours in range(40, 0, -1):
        airflow.add_event("raw.orders", NOW - timedelta(minutes=30 * hours - 20), source_dag_id="ingest",
                          source_run_id=f"scheduled__{hours}")
    return airflow


def serve_the_rest_boards(airflow) -> None:
    """The plugin's answers, as the real one computes them from the same data (its own test proves that)."""
    airflow.plugin_health = dict(HEALTH)
    airflow.plugin_answers = {"sla": msgspec.json.encode(rest_sla_board(airflow, NOW)),  # the typed form
                              "cadence": msgspec.json.encode(rest_cadence_reports(airflow, now=NOW))}


def test_without_the_plugin_the_boards_come_through_rest_and_say_why(deployment):
    board = sla_board(deployment, NOW)
    assert board.source == "rest" and board.source_note == "the afkit plugin is not installed in this Airflow"
    assert [s.status for s in board.statuses] == ["fresh"]
    reports, used = cadence_scan(deployment, now=NOW)
    assert used.path == "rest" and "raw.orders" in [r.asset for r in reports]


def test_with_the_plugin_the_same_boards_come_through_it(deployment):
    rest = rest_sla_board(deployment, NOW)
    serve_the_rest_boards(deployment)
    before = len(deployment.requests)
    board = sla_board(deployment, NOW)
    assert board.source == "plugin" and board.source_note is None and board == rest
    reports, used = cadence_scan(deployment, now=NOW)
    assert used.path == "plugin" and reports == rest_cadence_reports(deployment, now=NOW)
    assert len(deployment.requests) == before  # nothing asked of Airflow's REST API


@pytest.mark.parametrize("health, says", [({"plugin": "afkit"}, "API version none (a plugin older than versioning)"),
                                          ({"plugin": "afkit", "api": 99}, f"API version 99 and this afkit {API_VERSION}")])
def test_a_plugin_of_another_api_version_is_not_read_and_the_warning_says_which(deployment, caplog, health, says):
    serve_the_rest_boards(deployment)
    deployment.plugin_health = health
    deployment.plugin_answers = {"sla": b'{"garbage": true}'}
    with caplog.at_level(logging.WARNING):
        board = sla_board(deployment, NOW)
        sla_board(deployment, NOW)
    assert board.source == "rest" and says in board.source_note
    assert [r.message for r in caplog.records].count(f"boards through the REST API: {board.source_note}") == 1


@pytest.mark.parametrize("failure", [AirflowServerError("Airflow answered HTTP 500"), b'{"slas": "not a list"}'])
def test_a_failing_plugin_answer_falls_back_to_rest_for_that_read(deployment, failure):
    serve_the_rest_boards(deployment)
    deployment.plugin_answers["sla"] = failure
    board = sla_board(deployment, NOW)
    assert board.source == "rest" and "the afkit plugin's SLA board failed" in board.source_note
    assert [s.status for s in board.statuses] == ["fresh"]


def test_a_permission_refused_by_the_plugin_is_not_hidden_by_rest(deployment):
    serve_the_rest_boards(deployment)
    deployment.plugin_answers["sla"] = PermissionDenied("no read access to assets")
    with pytest.raises(PermissionDenied):
        sla_board(deployment, NOW)


def test_a_scan_since_a_time_is_not_on_the_plugin(deployment):
    serve_the_rest_boards(deployment)
    reports, used = cadence_scan(deployment, now=NOW, since=NOW - timedelta(hours=3))
    assert used.path == "rest" and "since" in used.note


def test_an_asset_asked_by_uri_goes_through_rest_without_a_warning(deployment, caplog):
    serve_the_rest_boards(deployment)
    with caplog.at_level(logging.WARNING):
        (by_name,), named = cadence_scan(deployment, now=NOW, asset="raw.orders")
        (by_uri,), uri = cadence_scan(deployment, now=NOW, asset="s3://raw.orders")
    assert named.path == "plugin" and (uri.path, uri.note) == ("rest", "'s3://raw.orders' is not an asset name the "
                                                                       "plugin reports")
    assert report_to_dict(by_uri) == report_to_dict(by_name)
    assert [r.message for r in caplog.records if "failed" in r.message] == []


def test_afkit_boards_rest_forces_the_rest_path_and_a_bad_value_is_named(deployment, monkeypatch):
    from toolkit.errors import ConfigError

    serve_the_rest_boards(deployment)
    monkeypatch.setenv("AFKIT_BOARDS", "rest")
    board = sla_board(deployment, NOW)
    assert board.source == "rest" and board.source_note == "AFKIT_BOARDS=rest"
    monkeypatch.setenv("AFKIT_BOARDS", "fast")
    with pytest.raises(ConfigError, match="AFKIT_BOARDS='fast' is not auto or rest"):
        sla_board(deployment, NOW)


def slot_usage(airflow) -> dict:
    """The plugin's /occupancy answer for the fake's pools and task instances, grouped as its query groups them."""
    return airflow.slot_usage()


def test_pool_occupancy_and_the_governors_reading_are_the_same_through_the_plugin(airflow, monkeypatch):
    airflow.add_pool("shared", 6)
    airflow.add_pool("idle", 2)
    for dag, run, state, slots in (("bulk", "backfill__2026-01-01", "running", 2), ("bulk", "backfill__2026-01-02",
                                   "queued", 1), ("other", "backfill__2026-01-01", "running", 1),
                                   ("prod", "scheduled__1", "running", 1), ("prod", "scheduled__2", "scheduled", 2)):
        airflow.add_task_instance(dag, run, state, "shared", slots=slots)
    policy = ThrottlePolicy(pools=(PoolPolicy("shared", Amount(2)),))
    airflow.plugin_health = dict(HEALTH)
    airflow.plugin_answers = {"occupancy": slot_usage(airflow)}
    before = len(airflow.requests)
    plugin = occupancy.read_pools(airflow)
    assert plugin.used.path == "plugin" and len(airflow.requests) == before  # nothing asked of the REST API
    monkeypatch.setenv(BOARDS_ENV, "rest")
    rest = occupancy.read_pools(airflow)
    assert rest.used.path == "rest"
    assert plugin.pools == rest.pools  # Airflow's own counts, rebuilt from the groups
    assert occupancy.occupancy(list(plugin.pools), list(plugin.instances), policy) == \
        occupancy.occupancy(list(rest.pools), list(rest.instances), policy)
    budget = PoolBudget("shared", 6, 2, None, 4)
    assert Governor.sample(plugin, "shared", "bulk", budget) == Governor.sample(rest, "shared", "bulk", budget) == \
        PoolSample("shared", 5, 3, 1, 2)  # one slot held by the other backfill; production runs 1 and waits for 2


def test_a_broken_occupancy_answer_falls_back_to_rest(airflow):
    airflow.add_pool("shared", 4)
    airflow.plugin_health = dict(HEALTH)
    airflow.plugin_answers = {"occupancy": {"pools": [{"pool": "shared"}], "slots": []}}
    readings = occupancy.read_pools(airflow)
    assert readings.used.path == "rest" and "pool occupancy failed" in readings.used.note
    assert "shared" in [p.name for p in readings.pools]


def test_a_scan_of_the_changed_assets_only_gives_the_same_reports_of_them_through_both_paths(deployment,
                                                                                             monkeypatch):
    deployment.add_asset("raw.stripe", extra={"owner": "#stripe"})
    start = NOW - timedelta(hours=30)
    times = [start + timedelta(minutes=30 * i) for i in range(40)]  # every 30 minutes, then every 5
    times += [times[-1] + timedelta(minutes=5 * (i + 1)) for i in range(40)]
    for at in times:
        deployment.add_event("raw.stripe", at, source_dag_id="stripe_ingest")
    every = rest_cadence_reports(deployment, now=NOW)
    assert {"raw.orders", "raw.stripe"} <= {r.asset for r in every}  # one steady, one changed
    changed = [r for r in every if r.change is not None]
    assert [r.asset for r in changed] == ["raw.stripe"]

    serve_the_rest_boards(deployment)
    plugin, used = cadence_scan(deployment, now=NOW, changed_only=True)
    assert used.path == "plugin" and plugin == changed
    monkeypatch.setenv(BOARDS_ENV, "rest")
    rest, used = cadence_scan(deployment, now=NOW, changed_only=True)
    assert used.path == "rest" and rest == changed
