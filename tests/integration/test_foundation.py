"""The foundation against a real Airflow: ``afkit status``, connection errors, token renewal, the plugin."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from toolkit.airflow import AirflowClient
from toolkit.config import ConnectionSettings
from toolkit.errors import AuthenticationFailed, ExitCode, NotFound, PermissionDenied
from toolkit.devserver.launcher import free_port

from .conftest import cancel_unless_completed, raw_get, raw_token, run_cli

pytestmark = [
    pytest.mark.integration,
    # Tokens are re-signed with the launcher's generated secret, whose length is Airflow's concern, not ours.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


_DAYS_BACK = itertools.count(10)


@pytest.fixture
def paused_backfill(client: AirflowClient):
    """A real, paused backfill of one day of ``web_sessions`` (cancelled afterwards so other tests can backfill).

    A new day each time: a cancelled backfill's run may still be queued, and Airflow then has nothing to create for
    that day."""
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=next(_DAYS_BACK))
    backfill = client.backfills.create("web_sessions", day, day, max_active_runs=1)
    client.backfills.pause(backfill.id)
    yield backfill
    cancel_unless_completed(client, backfill.id)


def asset_scheduled(airflow) -> set[str]:
    """DAGs scheduled on assets, as Airflow's asset listing says (independent of afkit's own reading of the DAGs)."""
    return {d["dag_id"] for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"] for d in a["scheduled_dags"]}


def test_status_table_shows_health_dags_pools_and_backfills(admin_env, airflow, paused_backfill):
    result = run_cli(["status"], env=admin_env)
    assert result.exit_code == ExitCode.OK, result.output
    out = result.output
    assert f"Airflow 3.3.2 at {airflow.url} — healthy" in out
    for component in ("metadatabase", "scheduler", "dag_processor", "triggerer"):
        assert any(line.split()[:2] == [component, "healthy"] for line in out.splitlines()), component
    dags = raw_get(airflow, "/api/v2/dags")["dags"]
    active = sum(not d["is_paused"] for d in dags)
    triggered = len(asset_scheduled(airflow))
    assert (f"DAGs: {len(dags)} ({active} active, {len(dags) - active} paused, {triggered} asset-triggered, "
            "0 with import errors)") in out
    warehouse = next(line.split() for line in out.splitlines() if line.startswith("warehouse"))
    assert warehouse[1] == "3"  # slots
    backfill_line = next(line.split() for line in out.splitlines() if line.startswith(str(paused_backfill.id) + " "))
    assert backfill_line[1] == "web_sessions" and "yes" in backfill_line  # paused


def test_status_json_matches_what_airflow_reports(admin_env, airflow, paused_backfill):
    result = run_cli(["status", "--json"], env=admin_env)
    assert result.exit_code == ExitCode.OK, result.output
    report = json.loads(result.output)
    api_pools = {p["name"]: p for p in raw_get(airflow, "/api/v2/pools")["pools"]}
    assert {p["name"] for p in report["pools"]} == set(api_pools) >= {"default_pool", "warehouse"}
    for pool in report["pools"]:
        assert pool["slots"] == api_pools[pool["name"]]["slots"]
    api_dags = raw_get(airflow, "/api/v2/dags")["dags"]
    assert report["dags"]["total"] == len(api_dags) >= 5
    assert report["dags"]["paused"] == sum(d["is_paused"] for d in api_dags)
    assert report["dags"]["asset_triggered"] == len(asset_scheduled(airflow))
    assert {"daily_finance_close", "afkit_pulse_digest"} <= asset_scheduled(airflow)
    assert report["healthy"] is True and report["airflow_version"] == "3.3.2"
    ids = [b["id"] for b in report["active_backfills"]]
    assert paused_backfill.id in ids
    mine = next(b for b in report["active_backfills"] if b["id"] == paused_backfill.id)
    assert mine["dag_id"] == "web_sessions" and mine["is_paused"] is True


def test_paused_dag_is_counted_as_paused(admin_env, client):
    before = json.loads(run_cli(["status", "--json"], env=admin_env).output)["dags"]
    client.dags.set_paused("daily_finance_close", True)
    try:
        report = json.loads(run_cli(["status", "--json"], env=admin_env).output)
        assert (report["dags"]["active"], report["dags"]["paused"]) == (before["active"] - 1, before["paused"] + 1)
    finally:
        client.dags.set_paused("daily_finance_close", False)


def test_wrong_password_is_a_clear_auth_error(airflow):
    env = {"AFKIT_URL": airflow.url, "AFKIT_USERNAME": "admin", "AFKIT_PASSWORD": "not-the-password"}
    result = run_cli(["status"], env=env)
    assert result.exit_code == ExitCode.AUTH == 4
    assert "rejected the credentials of user 'admin'" in result.stderr
    assert "not-the-password" not in result.output + result.stderr


def test_unreachable_url_names_the_url(tmp_path):
    port = free_port()  # nothing listens there
    result = run_cli(["--url", f"http://127.0.0.1:{port}", "--username", "a", "--password", "b", "status"])
    assert result.exit_code == ExitCode.CONNECTION == 3
    assert f"Is the Airflow API server running at http://127.0.0.1:{port}?" in result.stderr


def _expired_copy(token: str, secret: str) -> str:
    """The same claims the server issued, re-signed with the server's own secret, but expired an hour ago."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    past = int(time.time()) - 3600
    claims.update(iat=past - 60, nbf=past - 60, exp=past)
    return jwt.encode(claims, secret, algorithm=header["alg"], headers={"kid": header.get("kid")} if header.get("kid") else None)


def test_expired_token_is_renewed_before_use(airflow):
    expired = _expired_copy(raw_token(airflow, *airflow.admin), airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"])
    user, password = airflow.admin
    with AirflowClient(ConnectionSettings(url=airflow.url, username=user, password=password, token=expired)) as api:
        assert {p.name for p in api.pools.list()} >= {"warehouse"}
        assert api._token != expired


def test_token_rejected_as_expired_is_renewed_and_the_call_retried(airflow):
    """The client's clock is an hour behind, so it believes the expired token is valid; Airflow answers 401 and the
    client must renew with the credentials and retry once."""
    expired = _expired_copy(raw_token(airflow, *airflow.admin), airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"])
    user, password = airflow.admin
    settings = ConnectionSettings(url=airflow.url, username=user, password=password, token=expired)
    with AirflowClient(settings, clock=lambda: time.time() - 7200) as api:
        assert [d.dag_id for d in api.dags.list()]
        assert api._token != expired


def test_expired_token_without_credentials_says_so(airflow):
    expired = _expired_copy(raw_token(airflow, *airflow.admin), airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"])
    result = run_cli(["--url", airflow.url, "--token", expired, "status"])
    assert result.exit_code == ExitCode.AUTH
    assert "rejected the token" in result.stderr and "may have expired" in result.stderr
    assert expired not in result.stderr


def test_viewer_cannot_pause_a_dag_and_is_told_which_permission(airflow):
    settings = ConnectionSettings(url=airflow.url, username="viewer", password=airflow.passwords["viewer"])
    with AirflowClient(settings) as api:
        with pytest.raises(PermissionDenied) as caught:
            api.dags.set_paused("daily_revenue", True)
    assert "user 'viewer' lacks edit access to DAG 'daily_revenue'" in str(caught.value)


def test_unknown_dag_is_not_found_by_name(client):
    with pytest.raises(NotFound, match="DAG 'no_such_dag' does not exist"):
        client.dags.get("no_such_dag")


def test_plugin_is_listed_by_airflow(airflow):
    plugins = raw_get(airflow, "/api/v2/plugins")["plugins"]
    afkit = [p for p in plugins if p["name"] == "afkit"]
    assert len(afkit) == 1
    assert afkit[0]["fastapi_apps"][0]["url_prefix"] == "/afkit"
    errors = raw_get(airflow, "/api/v2/plugins/importErrors")
    assert errors["total_entries"] == 0, errors


def test_plugin_health_requires_authentication(airflow):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(airflow.url + "/afkit/api/v1/health", timeout=10)
    assert denied.value.code == 401
    health = raw_get(airflow, "/afkit/api/v1/health")
    assert health["plugin"] == "afkit" and health["config"]["ok"] is True
    from toolkit.core.plugin_api import API_VERSION

    assert health["api"] == API_VERSION  # what an operator-side afkit checks before reading the plugin's boards


def test_client_refuses_a_token_it_could_not_use_without_leaking_it(airflow):
    with AirflowClient(ConnectionSettings(url=airflow.url, token="not-a-jwt")) as api:
        with pytest.raises(AuthenticationFailed, match="rejected the token as invalid") as caught:
            api.pools.list()
    assert "not-a-jwt" not in str(caught.value)


def test_demo_configuration_can_run_again_and_restores_the_pool(client):
    """``afkit demo`` on an existing home configures again: an existing pool is updated, not duplicated."""
    from toolkit.devserver import demo

    assert client.pools.ensure("warehouse", 5, "resized").slots == 5
    assert client.pools.get("warehouse").slots == 5
    demo.configure(client)
    assert client.pools.get("warehouse").slots == 3
    assert [p.name for p in client.pools.list()].count("warehouse") == 1


def test_secrets_never_reach_logs_or_output(admin_env, airflow, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        result = run_cli(["status", "--json"], env=admin_env)
    assert result.exit_code == ExitCode.OK
    assert caplog.records  # DEBUG logging really was captured (urllib3, afkit)
    for text in (caplog.text, result.output, result.stderr):
        assert admin_env["AFKIT_PASSWORD"] not in text
        assert "eyJ" not in text  # the start of every JWT (base64 of '{"')
