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
from .conftest import raw_get, raw_send

pytestmark = pytest.mark.integration


def watch_once(env: dict[str, str]) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFKIT_")}
    return subprocess.Popen([sys.executable, "-m", "toolkit", "watch", "--once"], env={**base, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=120)
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

        raw_send(airflow, "POST", "/api/v2/assets/events", {"asset_id": asset["id"], "extra": {"row_count": 3}})
        finished(watch_once(env))
        recovery = [p for p in slack.posts if "test.alerting" in p["text"]][1:]
        assert len(recovery) == 1 and recovery[0]["text"].startswith("Recovered: test.alerting")
        assert recovery[0]["thread_ts"] == mine[0]["answered_ts"]  # a reply in the alert's own thread
