"""Freshness SLAs declared in DAG code, read back through the real API and evaluated by ``afkit sla``."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.errors import ExitCode

from .conftest import raw_get, raw_send, run_cli

pytestmark = pytest.mark.integration


def by_asset(report: dict) -> dict[str, dict]:
    return {(s["asset"], s["sla"]): s for s in report["slas"]}


def test_example_slas_are_declared_on_assets_and_evaluated(admin_env, airflow):
    extra = {a["name"]: a["extra"] for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"]}
    declared = extra["mart.daily_revenue"]["afkit_sla"][0]
    assert (declared["cron"], declared["timezone"], declared["min_rows"]) == ("0 6 * * *", "America/Los_Angeles", 1)
    result = run_cli(["sla", "status", "--json"], env=admin_env)
    assert result.exit_code == ExitCode.OK, result.stderr
    report = json.loads(result.output)
    assets = {s["asset"] for s in report["slas"]}
    assert {"mart.daily_revenue", "stripe.payments", "finance.daily_close", "web.sessions"} <= assets
    mart = next(s for s in report["slas"] if s["asset"] == "mart.daily_revenue")
    assert mart["status"] in ("fresh", "at_risk", "late", "unknown")
    assert mart["next_deadline"] and mart["owners"] == ["#analytics-eng"]


def without_qualifying_event(created: datetime, before: datetime, after: datetime, fail_after: timedelta) -> set[str]:
    """What an SLA whose asset never had a qualifying event may be, judged between ``before`` and ``after``: unknown
    while the asset is younger than ``fail_after``, late from then on (the suite's length decides which)."""
    allowed = set()
    if before - created < fail_after:
        allowed.add("unknown")
    if after - created >= fail_after:
        allowed.add("late")
    return allowed


def test_late_unknown_recovery_and_invalid_declarations(admin_env, airflow):
    assets = {a["name"]: a for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"]}
    created = datetime.fromisoformat(assets["test.stale"]["created_at"])
    recovering_created = datetime.fromisoformat(assets["test.recovering"]["created_at"])
    time.sleep(max(0.0, (created + timedelta(seconds=3) - datetime.now(timezone.utc)).total_seconds()))  # > fail_after
    before = datetime.now(timezone.utc)
    report = json.loads(run_cli(["sla", "status", "--json"], env=admin_env).output)
    after = datetime.now(timezone.utc)
    slas = by_asset(report)
    stale = slas[("test.stale", "max lag 2s")]
    assert stale["status"] == "late" and stale["culprit"] == "afkit_sla_probe has not run yet"
    assert slas[("test.recovering", "max lag 20m")]["status"] in without_qualifying_event(
        recovering_created, before, after, timedelta(minutes=20))
    assert slas[("test.invalid_sla", "still fine")]["status"] in ("unknown", "late")  # evaluated despite its twin
    invalid = {(i["asset"], i["sla"]): i["reason"] for i in report["invalid"]}
    assert "cron '0 6 * *' is not a valid cron expression" in invalid[("test.invalid_sla", "bad cron")]

    asset_id = next(a["id"] for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"]
                    if a["name"] == "test.recovering")
    raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": asset_id, "extra": {"row_count": 0}})
    before = datetime.now(timezone.utc)
    zero = by_asset(json.loads(run_cli(["sla", "status", "--json"], env=admin_env).output))
    after = datetime.now(timezone.utc)
    assert zero[("test.recovering", "max lag 20m")]["status"] in without_qualifying_event(  # 0 rows is not fresh data
        recovering_created, before, after, timedelta(minutes=20))
    raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": asset_id, "extra": {"row_count": 12}})
    after = by_asset(json.loads(run_cli(["sla", "status", "--json"], env=admin_env).output))
    fresh = after[("test.recovering", "max lag 20m")]
    assert fresh["status"] == "fresh" and fresh["last_event"]["row_count"] == 12

    table = run_cli(["sla", "status"], env=admin_env)
    assert "LATE" in table.output and "Invalid SLA declarations" in table.output and "bad cron" in table.output


def test_check_exits_with_the_late_code(admin_env):
    result = run_cli(["sla", "check"], env=admin_env)
    assert result.exit_code == ExitCode.SLA_LATE == 8
    assert "test.stale" in result.output


def test_plugin_endpoint_serves_the_same_board_from_the_database(admin_env, airflow):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(airflow.url + "/afkit/api/v1/sla", timeout=30)
    assert denied.value.code == 401
    from_db = raw_get(airflow, "/afkit/api/v1/sla")
    from_rest = json.loads(run_cli(["sla", "status", "--json"], env=admin_env).output)
    assert set(by_asset(from_db)) == set(by_asset(from_rest))
    assert {(i["asset"], i["sla"]) for i in from_db["invalid"]} == {(i["asset"], i["sla"]) for i in from_rest["invalid"]}
    stable = [k for k in by_asset(from_rest) if k[0].startswith("test.") and k != ("test.alerting", "max lag 40s")]
    for key in stable:
        db, rest = by_asset(from_db)[key], by_asset(from_rest)[key]
        assert (db["status"], db["culprit"], db["expected"]) == (rest["status"], rest["culprit"], rest["expected"]), key
        assert (db["last_event"] or {}).get("row_count") == (rest["last_event"] or {}).get("row_count"), key


def test_the_demo_sla_goes_at_risk_then_late_on_schedule(admin_env, airflow, client):
    """The demo's broken upstream: after its last good drop, partner.fx_rates is fresh, then (judged by the same
    declaration read back from Airflow) at risk after 1 minute and late after 3, naming the failing producer."""
    from toolkit.devserver import demo
    from toolkit.core.freshness import ProducerRun, evaluate
    from toolkit.sla import parse_slas

    dropped = demo.last_good_drop(client)
    report = json.loads(run_cli(["sla", "status", "--json"], env=admin_env).output)
    fx = next(s for s in report["slas"] if s["asset"] == demo.GOES_LATE)
    assert fx["status"] == "fresh" and fx["owners"] == ["#treasury-data"]
    assert fx["last_event"]["row_count"] == 160
    assert datetime.fromisoformat(fx["last_event"]["timestamp"]) == dropped

    asset = next(a for a in client.assets.list() if a.name == demo.GOES_LATE)
    (sla,) = parse_slas(asset.name, asset.extra)
    events = client.assets.events(asset.id, 10)
    producer = ProducerRun("partner_fx_rates", "failed", run_id="scheduled__x")
    assert asset.producing_dags == ("partner_fx_rates",)
    states = [evaluate(sla, events, dropped + timedelta(seconds=s), producer).status for s in (59, 61, 179, 181)]
    assert states == ["fresh", "at_risk", "at_risk", "late"]
    late = evaluate(sla, events, dropped + timedelta(minutes=4), producer)
    assert late.culprit == "partner_fx_rates run scheduled__x failed"
