"""Every board through the plugin's database path when the plugin is there, and the same board through REST: on the
suite's real Airflow, the SLA board and the cadence reports agree path for path, for an admin and for a viewer, and
the CLI and ``afkit status`` say which path answered."""

from __future__ import annotations

import json

import pytest

from toolkit.airflow import AirflowClient
from toolkit.config import ConnectionSettings
from toolkit.core.cadence_impact import report_to_dict
from toolkit.core.sla_board import board_to_dict
from toolkit.services.cadence import cadence_scan, rest_cadence_reports
from toolkit.services.freshness import rest_sla_board, sla_board

from .conftest import run_cli

pytestmark = pytest.mark.integration


def judged(board) -> dict:
    """What must agree between the paths: each SLA's JSON entry (the one shape every consumer reads), but for its
    lag and the reason's wording, which move with the clock between the two reads."""
    entries = board_to_dict(board)["slas"]
    return {f"{e['asset']}#{e['sla']}": {k: v for k, v in e.items() if k not in ("lag_seconds", "reason")}
            for e in entries}


def stable(first: dict, second: dict) -> set[str]:
    return {k for k in first if second.get(k) == first[k]}


def test_the_sla_board_is_the_same_through_the_plugin_and_rest(client):
    plugin = sla_board(client)
    rest = rest_sla_board(client)
    again = sla_board(client)
    assert plugin.source == again.source == "plugin" and plugin.source_note is None
    keys = stable(judged(plugin), judged(again))  # SLAs whose status did not change while we read
    assert len(keys) >= 5, judged(plugin)
    assert {k: v for k, v in judged(rest).items() if k in keys} == {k: judged(plugin)[k] for k in keys}
    assert set(judged(rest)) == set(judged(plugin))
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
    # Assets with backfill events among their newest 100 differ by design for now: the plugin judges the newest 100
    # live events, REST the live ones among the newest 100 (issue 16 leaves this to align).
    # test.held holds an event that REST cannot serve on Airflow 3.3.2 (apache/airflow#71360, test_asset_events):
    # the REST path leaves it out, the plugin reads it.
    quiet = {a for a in first if second.get(a) == first[a] and rest[a]["backfill_events_excluded"] == 0
             and a != "test.held"}
    assert len(quiet) >= 3
    differ = {a: {k: (first[a][k], rest[a].get(k)) for k in first[a] if first[a][k] != rest[a].get(k)} for a in quiet}
    assert {a: d for a, d in differ.items() if d} == {}


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
