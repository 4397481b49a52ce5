"""Cadence-change detection on the real Airflow: a producer switched through its Variable from every 12 s to every
2 s (6x faster) is reported with its consumer's side of the seam; a backfill burst of the producer is not a change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.services.cadence import cadence_reports

from ..slack_server import TOKEN, running_fake_slack
from .conftest import raw_get, run_cli, wait_for
from .test_sla_alerts import finished, watch_once

pytestmark = pytest.mark.integration

SLOW, FAST = 12, 2


def pulse_events(client) -> list:
    asset = next(a for a in client.assets.list() if a.name == "test.pulse")
    return client.assets.events(asset.id, 200)


def test_a_producer_made_6x_faster_is_reported_with_its_consumer_impact(airflow, client, admin_env, tmp_path):
    client.variables.set("afkit_pulse_seconds", str(SLOW))
    for dag_id in ("afkit_pulse", "afkit_pulse_digest"):
        client.dags.set_paused(dag_id, False)
    try:
        wait_for(lambda: len([e for e in pulse_events(client) if not e.from_backfill]) >= 11, 240,
                 "10 intervals of the slow cadence")

        # A backfill of the producer: a burst of events in a few seconds, which must not read as a change.
        now = datetime.now(timezone.utc)
        backfill = client.backfills.create("afkit_pulse", now - timedelta(minutes=3), now - timedelta(minutes=1),
                                           max_active_runs=4)
        wait_for(lambda: client.backfills.get(backfill.id).completed_at is not None, 120, "the backfill to finish")
        (steady,) = cadence_reports(client, asset="test.pulse")
        assert steady.backfill_events_excluded >= 5
        assert steady.change is None, steady.model.changes
        assert SLOW * 0.7 <= steady.model.typical_interval.total_seconds() <= SLOW * 1.4

        switched = datetime.now(timezone.utc)
        client.variables.set("afkit_pulse_seconds", str(FAST))  # the dag-processor re-parses within ~10 s

        def changed():
            (report,) = cadence_reports(client, asset="test.pulse")
            return report if report.change is not None and report.change.confirmed else None

        report = wait_for(changed, 150, "the change to be detected")
    finally:
        for dag_id in ("afkit_pulse", "afkit_pulse_digest"):
            client.dags.set_paused(dag_id, True)
    change = report.change
    assert change.kind == "faster" and change.at >= switched - timedelta(seconds=SLOW)
    assert SLOW * 0.7 <= change.before.total_seconds() <= SLOW * 1.4
    assert change.after.total_seconds() <= FAST * 2.5
    (digest,) = report.consumers
    assert digest.dag_id == "afkit_pulse_digest" and digest.owners == ("#digest-team", "digest-team")
    assert digest.runs_per_day_after > 2 * digest.runs_per_day_before
    assert digest.events_per_run_before is not None and digest.events_per_run_before >= 1
    assert report.message.startswith("test.pulse moved from every ") and "afkit_pulse_digest now runs" in report.message

    result = run_cli(["cadence", "scan", "--json"], env=admin_env)
    assert result.exit_code == 0, result.stderr
    pulse = next(r for r in json.loads(result.output) if r["asset"] == "test.pulse")
    assert pulse["change"]["kind"] == "faster" and pulse["consumers"][0]["dag_id"] == "afkit_pulse_digest"
    shown = run_cli(["cadence", "show", "test.pulse"], env=admin_env)
    assert shown.exit_code == 0 and "^ changed" in shown.output and "afkit_pulse_digest" in shown.output

    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(airflow.url + "/afkit/api/v1/cadence", timeout=30)
    assert denied.value.code == 401
    from_db = next(r for r in raw_get(airflow, "/afkit/api/v1/cadence?changed_only=true") if r["asset"] == "test.pulse")
    assert from_db["change"]["at"] == pulse["change"]["at"] and from_db["change"]["kind"] == "faster"
    assert [c["dag_id"] for c in from_db["consumers"]] == ["afkit_pulse_digest"]
    assert from_db["consumers"][0]["runs_per_day_after"] > 2 * from_db["consumers"][0]["runs_per_day_before"]
    assert from_db["owners"] == pulse["owners"] == ["pulse-team"]

    with running_fake_slack() as slack:  # one alert per change, to the producer's and the consumer's owners
        env = {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "AFKIT_SLACK_TOKEN": TOKEN,
               "AFKIT_SLACK_CHANNEL": "#alerts", "AFKIT_SLACK_BASE_URL": slack.base_url}
        outputs = [finished(p) for p in [watch_once(env), watch_once(env)]]
        finished(watch_once(env))
        posts = [p for p in slack.posts if p["text"].startswith("Cadence change: test.pulse —")]
        assert len(posts) == 1, (outputs, [p["text"] for p in slack.posts])
        assert "pulse-team" in posts[0]["text"] and "#digest-team" in posts[0]["text"]
        assert "afkit_pulse_digest now runs" in json.dumps(posts[0]["blocks"])


def test_cadence_of_an_unknown_asset_is_a_clear_error(admin_env):
    result = run_cli(["cadence", "show", "no.such.asset"], env=admin_env)
    assert result.exit_code == 5 and "no active asset named 'no.such.asset'" in result.stderr
