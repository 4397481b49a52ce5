"""``afkit watch`` against the real Airflow and a local Slack-speaking server: one alert per breach, even with two
watchers at once, and the recovery posted in the alert's thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from ..slack_server import TOKEN, running_fake_slack
from .conftest import output_of, raw_get, raw_send

pytestmark = pytest.mark.integration


def watch_once(env: dict[str, str]) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    return subprocess.Popen([sys.executable, "-m", "toolkit", "watch", "--once"], env={**base, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def afkit(env: dict[str, str], *args: str) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    return subprocess.Popen([sys.executable, "-m", "toolkit", *args], env={**base, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(proc: subprocess.Popen) -> str:
    output = output_of(proc, 120, " ".join(["afkit", *proc.args[3:]]))
    assert proc.returncode == 0, output
    return output


def test_watch_alerts_once_per_breach_and_recovers_in_the_thread(airflow, admin_env, tmp_path):
    asset = next(a for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"] if a["name"] == "test.alerting")
    created = datetime.fromisoformat(asset["created_at"])
    time.sleep(max(0.0, (created + timedelta(seconds=41) - datetime.now(timezone.utc)).total_seconds()))
    with running_fake_slack() as slack:
        env = {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "AFKIT_SLACK_TOKEN": TOKEN,
               "AFKIT_SLACK_CHANNEL": "#alerts", "AFKIT_SLACK_BASE_URL": slack.base_url}
        outputs = [finished(p) for p in [watch_once(env), watch_once(env)]]  # two watchers at the same time
        mine = [p for p in slack.posts if "test.alerting" in p["text"]]
        assert len(mine) == 1, (outputs, [p["text"] for p in slack.posts])
        assert mine[0]["text"].startswith("LATE: test.alerting") and "#tests" in json.dumps(mine[0]["blocks"])
        assert all(TOKEN not in o for o in outputs)

        finished(watch_once(env))  # a later pass, as after a restart: nothing new for the same breach
        assert len([p for p in slack.posts if "test.alerting" in p["text"]]) == 1

        # The id afkit sla ack needs is shown where the user sees the alert: the watcher's line …
        opened = [line for o in outputs for line in o.splitlines()
                  if line.startswith("alert ") and ": open test.alerting#" in line]
        assert len(opened) == 1, outputs
        alert_id = opened[0].split()[1].rstrip(":")
        assert opened[0].endswith(f"silence reminders with: afkit sla ack {alert_id}")
        # … and afkit sla status, as a table column and in --json
        row = next(line for line in finished(afkit(env, "sla", "status")).splitlines() if " test.alerting " in line)
        assert alert_id in row, row
        board = json.loads(finished(afkit(env, "sla", "status", "--json")))
        entry = next(e for e in board["slas"] if e["asset"] == "test.alerting")
        assert entry["alert_id"] == alert_id and entry["alert_acknowledged_by"] is None
        assert all(e["alert_id"] is None for e in board["slas"] if e["status"] == "fresh")
        acked = finished(afkit(env, "sla", "ack", alert_id, "--by", "oncall"))
        assert acked.startswith(f"acknowledged alert {alert_id} (test.alerting#")
        row = next(line for line in finished(afkit(env, "sla", "status")).splitlines() if " test.alerting " in line)
        assert f"{alert_id} (acked by oncall)" in row, row

        raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": {"row_count": 3}})
        finished(watch_once(env))
        recovery = [p for p in slack.posts if "test.alerting" in p["text"]][1:]
        assert len(recovery) == 1 and recovery[0]["text"].startswith("Recovered: test.alerting")
        assert recovery[0]["thread_ts"] == mine[0]["ts"]  # a reply in the alert's own thread


@pytest.mark.parametrize("kind", ["slack", "slackwebhook"])
def test_watch_finds_slack_through_an_airflow_connection(airflow, admin_env, tmp_path, kind):
    """Configured the Airflow way: the provider's default connection, stored in Airflow's metadata database and
    read through Airflow's own secrets lookup, with no AFKIT_SLACK_* variable set."""
    with running_fake_slack() as slack:
        if kind == "slack":
            conn = {"connection_id": "slack_api_default", "conn_type": "slack", "password": TOKEN,
                    "extra": json.dumps({"channel": "#from-connection", "base_url": slack.base_url})}
        else:
            conn = {"connection_id": "slack_default", "conn_type": "slackwebhook", "schema": "http",
                    "host": f"127.0.0.1:{slack.server_address[1]}/services", "password": "T000/B000/secretpart"}
        raw_send(airflow, "POST", "/api/v2/connections", conn)
        try:
            env = {**airflow.env, **admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
            output = finished(watch_once(env))
        finally:
            raw_send(airflow, "DELETE", f"/api/v2/connections/{conn['connection_id']}")
    assert f"Airflow connection {conn['connection_id']}" in output
    late = [p for p in slack.posts if p["text"].startswith("LATE: test.stale")]
    assert len(late) == 1, (output, [p["text"] for p in slack.posts])
    if kind == "slack":
        assert late[0]["path"] == "chat.postMessage" and late[0]["channel"] == "#from-connection"
    else:
        assert late[0]["path"] == "webhook"
    assert TOKEN not in output and "secretpart" not in output


def test_a_breach_is_alerted_while_the_scheduler_is_down(airflow, admin_env, tmp_path):
    """Staleness is exactly what a dead scheduler causes: with the scheduler stopped, an asset that was fresh goes
    late and the watcher still alerts, once."""
    heartbeat = next(a for a in raw_get(airflow, "/api/v2/assets?limit=100")["assets"] if a["name"] == "test.heartbeat")
    airflow.stop_component("scheduler")
    try:
        with running_fake_slack() as slack:
            env = {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "AFKIT_SLACK_TOKEN": TOKEN,
                   "AFKIT_SLACK_CHANNEL": "#alerts", "AFKIT_SLACK_BASE_URL": slack.base_url}
            assert "scheduler" not in airflow.processes
            raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": heartbeat["id"], "extra": {}})
            posted = time.monotonic()
            finished(watch_once(env))
            if time.monotonic() - posted < 12:  # the pass ended before warn_after: it judged the asset fresh
                assert not [p for p in slack.posts if "test.heartbeat" in p["text"]]
            time.sleep(21)  # past fail_after (20 s), with no scheduler to produce anything
            output = finished(watch_once(env))
            finished(watch_once(env))
            mine = [p["text"] for p in slack.posts if "test.heartbeat" in p["text"]]
            opened = [t for t in mine if t.startswith(("LATE: test.heartbeat", "AT RISK: test.heartbeat"))]
            assert len(opened) == 1, (output, mine)  # one alert: opened late, or at risk then escalated in its thread
            assert mine[-1].startswith(("LATE: test.heartbeat", "Now late: test.heartbeat")), (output, mine)
    finally:
        airflow.start_component("scheduler")
        airflow.wait_healthy(120)


def test_watch_routes_every_alert_to_a_notifier_named_in_afkit_toml(airflow, admin_env, tmp_path):
    """The path a team that routes task failures through notifiers takes (issue 19): the Slack provider's own
    SlackNotifier, named in afkit.toml, gets the alert beside afkit's Slack message; both are recorded as sent."""
    pytest.importorskip("airflow.providers.slack", reason="the Slack provider (afkit[slack]) is not installed")
    with running_fake_slack() as slack:
        config = tmp_path / "afkit.toml"
        config.write_text('[alerts.notifiers.team]\n'
                          'class = "airflow.providers.slack.notifications.slack.SlackNotifier"\n'
                          'slack_conn_id = "afkit_notified"\nchannel = "#notified"\n'
                          'text = "via notifier: {{ afkit.title }} ({{ afkit.severity }}, {{ afkit.owners | join(\' \') }})"\n')
        state = f"sqlite:///{tmp_path / 'state.db'}"
        env = {**airflow.env, **admin_env, "AFKIT_STATE_URL": state, "AFKIT_CONFIG": str(config),
               "AFKIT_SLACK_TOKEN": TOKEN, "AFKIT_SLACK_CHANNEL": "#alerts", "AFKIT_SLACK_BASE_URL": slack.base_url,
               "AIRFLOW_CONN_AFKIT_NOTIFIED": json.dumps({"conn_type": "slack", "password": TOKEN,
                                                          "extra": {"base_url": slack.base_url}})}
        output = finished(watch_once(env))
    started = next(line for line in output.splitlines() if line.startswith("afkit watch as "))
    assert started.endswith("; notifiers team (SlackNotifier)"), output
    direct = [p for p in slack.posts if p["text"].startswith("LATE: test.stale")]
    notified = [p for p in slack.posts if p["text"].startswith("via notifier: LATE: test.stale")]
    assert len(direct) == 1 and len(notified) == 1, (output, [p["text"] for p in slack.posts])
    assert direct[0]["metadata"]["event_type"] == "afkit_alert" and notified[0]["channel"] == "#notified"
    from toolkit.state import StateStore
    rows = [r for r in StateStore(state).outbox_rows() if json.loads(r["payload"])["text"].startswith("LATE: test.stale")]
    assert sorted((r["sink"], r["status"]) for r in rows) == [("notifier:team", "sent"), ("slack", "sent")]
    assert TOKEN not in output
