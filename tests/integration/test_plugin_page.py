"""The plugin's page and JSON API on the suite's real Airflow: authentication on every route (401), permissions on
the mutating ones (403 for a viewer), active backfills with progress, pool occupancy with the reserve, the page and
its assets served from the package, and the navigation entry Airflow's UI builds from the plugin."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime

import pytest

from .conftest import raw_get, raw_token

pytestmark = pytest.mark.integration

ROUTES = ["/afkit/api/v1/health", "/afkit/api/v1/sla", "/afkit/api/v1/cadence", "/afkit/api/v1/backfills",
          "/afkit/api/v1/pools", "/afkit/api/v1/demo/inbox", "/afkit/ui/", "/afkit/ui/afkit.js", "/afkit/ui/afkit.css", "/afkit/ui/icon.svg"]


def status_of(url: str, method: str = "GET", token: str | None = None, cookie: str | None = None) -> int:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = f"_token={cookie}"
    request = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_airflow_authentication(airflow, route):
    assert status_of(airflow.url + route) == 401
    assert status_of(airflow.url + route, token="not-a-jwt") in (401, 403)  # Airflow: 403 for a malformed token
    viewer = raw_token(airflow, "viewer", airflow.passwords["viewer"])
    assert status_of(airflow.url + route, token=viewer) == 200
    assert status_of(airflow.url + route, cookie=viewer) == 200  # the browser's session cookie works the same way


@pytest.mark.parametrize("board", ["sla", "cadence"])
def test_a_board_form_the_plugin_does_not_know_is_refused_by_name(airflow, board):
    viewer = raw_token(airflow, "viewer", airflow.passwords["viewer"])
    request = urllib.request.Request(f"{airflow.url}/afkit/api/v1/{board}?form=xml",
                                     headers={"Authorization": f"Bearer {viewer}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["detail"] == "form must be dict or typed, not 'xml'"


def test_outside_the_story_the_demo_inbox_is_off_and_empty(airflow):
    assert raw_get(airflow, "/afkit/api/v1/demo/inbox") == {"enabled": False, "messages": 0, "threads": []}


def test_pausing_needs_edit_access_to_the_dags_runs(airflow, paused_backfill):
    url = f"{airflow.url}/afkit/api/v1/backfills/{paused_backfill}"
    viewer = raw_token(airflow, "viewer", airflow.passwords["viewer"])
    admin = raw_token(airflow, *airflow.admin)
    assert status_of(url + "/resume", "POST") == 401
    assert status_of(url + "/resume", "POST", token=viewer) == 403
    assert raw_get(airflow, f"/api/v2/backfills/{paused_backfill}")["is_paused"] is True  # nothing changed
    assert status_of(url + "/resume", "POST", token=admin) == 200
    assert raw_get(airflow, f"/api/v2/backfills/{paused_backfill}")["is_paused"] is False
    audit = raw_get(airflow, "/api/v2/eventLogs?event=afkit_resume_backfill&order_by=-when&limit=5")["event_logs"]
    assert audit and audit[0]["owner"] == "admin"  # in Airflow's audit log, like Airflow's own pause
    assert status_of(url + "/pause", "POST", token=admin) == 200
    assert raw_get(airflow, f"/api/v2/backfills/{paused_backfill}")["is_paused"] is True
    assert status_of(f"{airflow.url}/afkit/api/v1/backfills/987654/pause", "POST", token=admin) == 404


def test_the_backfill_list_says_who_may_pause_and_resume(airflow, paused_backfill):
    """The page shows Pause/Resume only where Airflow would allow it: the answer of the same auth-manager check."""
    def listed_as(token: str) -> dict:
        request = urllib.request.Request(airflow.url + "/afkit/api/v1/backfills",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return {b["id"]: b for b in json.load(response)}

    viewer = listed_as(raw_token(airflow, "viewer", airflow.passwords["viewer"]))[paused_backfill]
    admin = listed_as(raw_token(airflow, *airflow.admin))[paused_backfill]
    assert viewer["can_pause_resume"] is False and admin["can_pause_resume"] is True
    # … and the answer matches what the routes do: the viewer's resume is refused, nothing changes
    url = f"{airflow.url}/afkit/api/v1/backfills/{paused_backfill}/resume"
    assert status_of(url, "POST", token=raw_token(airflow, "viewer", airflow.passwords["viewer"])) == 403


def test_active_backfills_with_progress_and_their_afkit_plan(airflow, paused_backfill):
    listed = {b["id"]: b for b in raw_get(airflow, "/afkit/api/v1/backfills")}
    mine = listed[paused_backfill]
    airflow_view = raw_get(airflow, f"/api/v2/backfills/{paused_backfill}")
    assert mine["dag_id"] == "afkit_bulk" and mine["is_paused"] is True and mine["afkit_plan"] == "pagetest"
    runs = [r for r in raw_get(airflow, "/api/v2/dags/afkit_bulk/dagRuns?run_type=backfill&limit=100")["dag_runs"]
            if r["conf"] == {"afkit": {"plan_id": "pagetest", "step": "afkit_bulk#0"}}
            and airflow_view["from_date"] <= r["logical_date"] <= airflow_view["to_date"]]
    assert mine["total"] == len(runs) == 3
    assert mine["queued"] + mine["running"] + mine["success"] + mine["failed"] == 3
    assert datetime.fromisoformat(mine["from_date"]) == datetime.fromisoformat(airflow_view["from_date"])


def test_pool_occupancy_matches_airflow_and_shows_the_reserve(airflow):
    pools = raw_get(airflow, "/afkit/api/v1/pools")
    by_name = {p["pool"]: p for p in pools["pools"]}
    airflow_pools = {p["name"]: p for p in raw_get(airflow, "/api/v2/pools")["pools"]}
    # A carved pool and its companion (the carving tests' "carved__afkit") are shown as the one pool configured.
    companions = {name for name in airflow_pools if name.endswith("__afkit") and name[:-7] in airflow_pools}
    assert set(by_name) == set(airflow_pools) - companions
    for name, pool in by_name.items():
        parts = [airflow_pools[name], *([airflow_pools[f"{name}__afkit"]] if f"{name}__afkit" in companions else [])]
        assert pool["slots"] == sum(p["slots"] for p in parts)
        assert pool["production"] + pool["backfill"] <= sum(p["running_slots"] + p["queued_slots"] for p in parts) \
            + 1  # +1: a task may start between the two reads
        assert pool["budget"] == pool["slots"] - pool["reserve"] or pool["slots"] < 0
        assert 0 <= pool["backfill_share"] <= 1


def test_the_page_and_its_assets_come_from_the_package_and_are_listed_in_airflows_navigation(airflow):
    token = raw_token(airflow, *airflow.admin)
    request = urllib.request.Request(airflow.url + "/afkit/ui/", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        page = response.read().decode()
    assert '<script src="afkit.js"></script>' in page and "Freshness SLAs" in page
    assert "http://" not in page and "https://" not in page  # no CDN: the page works without network access
    plugins = raw_get(airflow, "/api/v2/plugins")["plugins"]
    views = [v for p in plugins if p["name"] == "afkit" for v in p["external_views"]]
    assert views and views[0]["href"] == "/afkit/ui/" and views[0]["url_route"] == "afkit"
    assert views[0]["destination"] == "nav"
    assert status_of(airflow.url + "/afkit/ui/nothing.js", token=token) == 404
    assert status_of(airflow.url + "/afkit/ui/..%2Fapp.py", token=token) == 404

