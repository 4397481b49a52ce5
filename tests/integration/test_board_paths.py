"""Every board through the plugin's database path when the plugin is there, and the same board through REST: on the
suite's real Airflow, the SLA board and the cadence reports agree path for path, for an admin and for a viewer, and
the CLI and ``afkit status`` say which path answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from toolkit.airflow import AirflowClient
from toolkit.config import ConnectionSettings
from toolkit.core.cadence_impact import report_to_dict
from toolkit.services.active_backfills import read_active_backfills
from toolkit.services.cadence import cadence_scan, rest_cadence_reports
from toolkit.services.freshness import rest_sla_board, sla_board
from toolkit.services.occupancy import read_pools
from toolkit.services.plugin_path import BOARDS_ENV

from .conftest import assert_same_statuses, comparable_slas, raw_get, raw_send, run_cli, wait_for

pytestmark = pytest.mark.integration


def test_the_sla_board_is_the_same_through_the_plugin_and_rest(client):
    plugin = sla_board(client)
    rest = rest_sla_board(client)
    again = sla_board(client)
    assert plugin.source == again.source == "plugin" and plugin.source_note is None
    assert_same_statuses((plugin, again), rest)
    assert [i.key for i in rest.invalid] == [i.key for i in plugin.invalid]


def test_the_cadence_reports_are_the_same_through_the_plugin_and_rest(client):
    def comparable(reports) -> dict:
        out = {}
        for r in reports:
            d = report_to_dict(r)
            d.pop("since_last_event_seconds")
            out[r.asset] = d
        return out

    plugin, used = cadence_scan(client)
    rest = comparable(rest_cadence_reports(client))
    again, _ = cadence_scan(client)
    assert used.path == "plugin"
    first, second = comparable(plugin), comparable(again)
    # Both paths judge the live events among each asset's newest 100, so assets with backfill events agree too.
    # test.held holds an event that REST cannot serve on Airflow 3.3.2 (apache/airflow#71360, test_asset_events):
    # the REST path leaves it out, the plugin reads it.
    quiet = {a for a in first if second.get(a) == first[a] and a != "test.held"}
    assert len(quiet) >= 3
    differ = {a: {k: (first[a][k], rest[a].get(k)) for k in first[a] if first[a][k] != rest[a].get(k)} for a in quiet}
    assert {a: d for a, d in differ.items() if d} == {}


def test_an_asset_with_backfill_events_has_the_same_cadence_through_both_paths(airflow, admin_env, client):
    """Both paths judge the live ones among an asset's newest 100 events: backfill events are left out alike."""
    asset = "test.paths_backfilled"
    result = run_cli(["backfill", "launch", "afkit_paths_backfilled", "--from", "2026-02-01", "--to", "2026-02-03",
                      "--yes", "--unpause"], env=admin_env)  # unpaused: also one live, scheduled run
    assert result.exit_code == 0, result.output + result.stderr

    def events() -> list[dict]:
        (found,) = [a for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"] if a["name"] == asset]
        return raw_get(airflow, f"/api/v2/assets/events?asset_id={found['id']}&limit=100")["asset_events"]

    def mixed() -> bool:
        runs = [e["source_run_id"] or "" for e in events()]
        return sum(r.startswith("backfill__") for r in runs) == 3 and any(not r.startswith("backfill__") for r in runs)

    wait_for(mixed, 180, "three backfill events and a live one")
    client.dags.set_paused("afkit_paths_backfilled", True)
    (plugin,), used = cadence_scan(client, asset=asset)
    (rest,) = rest_cadence_reports(client, asset=asset)
    assert used.path == "plugin" and plugin.backfill_events_excluded == rest.backfill_events_excluded == 3
    assert plugin.model.events == rest.model.events >= 1
    assert {k: v for k, v in report_to_dict(plugin).items() if k != "since_last_event_seconds"} == \
        {k: v for k, v in report_to_dict(rest).items() if k != "since_last_event_seconds"}


COLD_CADENCE = """
import json, sys
from datetime import datetime, timezone
from airflow.utils.session import create_session
from toolkit.core.cadence_impact import report_to_dict
from toolkit.plugin.cadence_db import CadenceCache, cadence_from_db
with create_session() as session:
    reports = cadence_from_db(session, datetime.now(timezone.utc), intervals=True, cache=CadenceCache())
json.dump([report_to_dict(r) for r in reports], sys.stdout)
"""


def test_the_plugin_rejudges_assets_with_new_events_as_a_cold_judgement_would(airflow):
    """The plugin's cadence is incremental between requests; after new events it equals a cold judgement of the same
    database, made here in a process of its own (no cache) beside the api-server."""
    asset = "test.paths_incremental"
    (found,) = [a for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"] if a["name"] == asset]

    def plugin() -> dict:
        return {r["asset"]: {k: v for k, v in r.items() if k != "since_last_event_seconds"}
                for r in raw_get(airflow, "/afkit/api/v1/cadence?intervals=true")}

    before = plugin()[asset]["events"]  # and the plugin has judged every asset once: what follows is incremental
    for _ in range(3):
        raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": found["id"], "extra": {}})
    warm = plugin()
    done = subprocess.run([sys.executable, "-c", COLD_CADENCE], env=airflow.env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    cold = {r["asset"]: {k: v for k, v in r.items() if k != "since_last_event_seconds"} for r in json.loads(done.stdout)}
    again = plugin()
    assert warm[asset]["events"] == before + 3 and warm[asset] == cold[asset]
    assert set(warm) == set(cold)
    quiet = {a for a in warm if again.get(a) == warm[a]}  # assets that got no event while we read
    assert len(quiet) >= 5
    assert {a: warm[a] for a in quiet if warm[a] != cold[a]} == {}
    # Only the changed assets' reports, as the watcher asks: the same reports of them.
    changed = {r["asset"]: {k: v for k, v in r.items() if k != "since_last_event_seconds"}
               for r in raw_get(airflow, "/afkit/api/v1/cadence?intervals=true&changed_only=true")}
    assert all(report["change"] is not None for report in changed.values())
    assert {a: changed[a] for a in changed if a in quiet} == {a: warm[a] for a in quiet if warm[a]["change"]}


def test_the_plugin_reads_new_events_into_its_kept_board_as_a_cold_board_would(airflow, client):
    """The plugin's SLA board keeps the events it read between requests; after each new event (with rows, or without,
    which makes it look further back) it equals the board the REST path judges from scratch."""
    asset = "test.paths_incremental"
    (found,) = [a for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"] if a["name"] == asset]

    def mine(board) -> dict:
        return {k: v for k, v in comparable_slas(board).items() if k.startswith(f"{asset}#")}

    assert sla_board(client).source == "plugin"  # the plugin keeps what it read: what follows is incremental
    for rows in (0, 0, 5, 0):
        raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": found["id"], "extra": {"row_count": rows}})
        plugin, rest = mine(sla_board(client)), mine(rest_sla_board(client))
        assert len(plugin) == 1 and plugin == rest, rows


def test_pool_occupancy_is_the_same_through_the_plugin_and_rest(client, monkeypatch):
    """The governor's and the pools pane's reading: pool sizes and Airflow's own counts, and the slots held by
    production and by backfills, agree path for path (read until two plugin reads agree: tasks start and end)."""
    def slots(readings) -> dict:
        held: dict = {}
        for t in readings.instances:
            key = (t.pool, t.state, t.dag_id, t.is_backfill)
            held[key] = held.get(key, 0) + t.pool_slots
        return {"pools": set(readings.pools), "held": held}

    def steady():
        first = read_pools(client)
        with monkeypatch.context() as forced:
            forced.setenv(BOARDS_ENV, "rest")
            rest = read_pools(client)
        again = read_pools(client)
        return (first, rest) if slots(first) == slots(again) else None

    first, rest = wait_for(steady, 120, "two plugin reads, around the REST read, that agree")
    assert (first.used.path, rest.used.path) == ("plugin", "rest")
    assert slots(first) == slots(rest)
    assert "default_pool" in {p.name for p in first.pools}


def test_active_backfills_are_the_same_through_the_plugin_and_rest(client, monkeypatch):
    """What the governor and ``afkit status`` read of a backfill (paused or not, range, conf) agrees path for path."""
    backfill = client.backfills.create("afkit_paths_listed", datetime(2026, 1, 1, tzinfo=timezone.utc),
                                       datetime(2026, 1, 3, tzinfo=timezone.utc), max_active_runs=1,
                                       dag_run_conf={"note": "listed by both paths"})
    try:
        client.backfills.pause(backfill.id)
        plugin, used = read_active_backfills(client)
        monkeypatch.setenv(BOARDS_ENV, "rest")
        rest, rest_used = read_active_backfills(client)
    finally:
        client.backfills.cancel(backfill.id)
    assert (used.path, rest_used.path) == ("plugin", "rest")
    (listed,) = [b for b in plugin if b.id == backfill.id]
    assert [b for b in rest if b.id == backfill.id] == [listed]
    assert listed.is_paused and listed.completed_at is None and listed.dag_run_conf == {"note": "listed by both paths"}
    assert (listed.dag_id, listed.from_date, listed.max_active_runs) == ("afkit_paths_listed", backfill.from_date, 1)


def test_a_viewer_gets_the_board_through_the_plugin_too(airflow):
    viewer = ConnectionSettings(url=airflow.url, username="viewer", password=airflow.passwords["viewer"])
    with AirflowClient(viewer) as client:
        board = sla_board(client)
    assert board.source == "plugin" and board.statuses


def test_the_cli_and_status_say_which_path_answered(admin_env):
    result = run_cli(["sla", "status", "--json"], env=admin_env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.output)
    assert data["source"] == "plugin" and data["source_note"] is None
    text = run_cli(["sla", "status"], env=admin_env).output
    assert "(from the afkit plugin)" in text.splitlines()[0]
    status = json.loads(run_cli(["status", "--json"], env=admin_env).output)
    assert status["boards"] == {"source": "plugin", "note": None}
    assert "boards from the afkit plugin" in run_cli(["status"], env=admin_env).output


def test_a_running_watcher_prints_each_pass_with_verbose(admin_env, tmp_path):
    """``afkit watch -v``: every pass's breakdown, not only the one of --once (what the benchmark reads)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}, **admin_env,
           "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    watcher = subprocess.Popen([sys.executable, "-m", "toolkit", "watch", "-v", "--interval", "0.5"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        for line in watcher.stdout:  # ends when the watcher exits; bounded by the pass count below
            lines.append(line)
            if sum(x.startswith("pass: ") for x in lines) >= 2:
                break
    finally:
        watcher.send_signal(signal.SIGINT)
        rest, _ = watcher.communicate(timeout=60)
    passes = [x for x in lines if x.startswith("pass: ")]
    assert len(passes) == 2 and all("SLA board" in x for x in passes), "".join(lines) + rest
    assert watcher.returncode == 0 and "afkit watch stopped." in rest


def test_a_watcher_pass_through_the_plugin_never_loads_the_generated_client(admin_env, tmp_path):
    """``afkit watch --once`` and the governor's two reads (active backfills, pool occupancy) on the plugin path, in a
    process of their own: apache-airflow-client (0.7 s of every start) is never imported."""
    probe = ("import runpy, sys\n"
             "sys.argv = ['afkit', 'watch', '--once']\n"
             "try:\n    runpy.run_module('toolkit', run_name='__main__')\nexcept SystemExit as done:\n"
             "    assert not done.code, done.code\n"
             "from toolkit.airflow import AirflowClient\nfrom toolkit.config import resolve_settings\n"
             "from toolkit.services.active_backfills import read_active_backfills\n"
             "from toolkit.services.occupancy import read_pools\n"
             "client = AirflowClient(resolve_settings({}))\n"
             "print(read_active_backfills(client)[1].path, read_pools(client).used.path,\n"
             "      'airflow_client' in sys.modules)\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}, **admin_env,
           "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "plugin plugin False", done.stdout + done.stderr
