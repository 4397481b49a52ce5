"""Alert lifecycle and Slack delivery through slack-sdk, against a local server that speaks Slack's Web API and
webhook formats (as slack-sdk's own tests do), including 429 rate limits, 5xx, a dead server and a bad token."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.alerting import acknowledge, record_alerts
from toolkit.alerts import alert_id
from toolkit.freshness import evaluate
from toolkit.models import AssetEvent
from toolkit.slack import SlackSender, SlackTarget, deliver_outbox
from toolkit.sla import max_lag, parse_slas, with_slas
from toolkit.state import StateStore

T0 = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
TOKEN = "xoxb-test-secret-token"


class FakeSlack(http.server.ThreadingHTTPServer):
    """chat.postMessage and an incoming webhook; ``script`` holds canned failures to serve before succeeding."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[dict] = []
        self.script: list[tuple[int, dict, dict]] = []  # (status, body, headers)
        self.ts = 1000

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeSlack

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        body = json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else dict(
            urllib.parse.parse_qsl(raw))
        if self.server.script:
            status, answer, headers = self.server.script.pop(0)
            self._reply(status, answer, headers)
            return
        if self.path.startswith("/api/chat.postMessage"):
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(200, {"ok": False, "error": "invalid_auth"})
                return
            self.server.ts += 1
            self.server.posts.append({**body, "path": "chat.postMessage"})
            self._reply(200, {"ok": True, "channel": "C123", "ts": f"{self.server.ts}.0001"})
        elif self.path.startswith("/services/"):
            self.server.posts.append({**body, "path": "webhook"})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
        else:
            self._reply(404, {"ok": False, "error": "unknown_method"})

    def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slack():
    server = FakeSlack()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def store(tmp_path) -> StateStore:
    return StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def lag_sla():
    (sla,) = parse_slas("stripe.payments", with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#pay"],
                                                                  runbook="https://runbooks/stripe")))
    return sla


def statuses(at: datetime, last_update: datetime):
    event = AssetEvent("stripe.payments", last_update, None, "stripe_ingest", "scheduled__1", 5)
    return [evaluate(lag_sla(), [event], at)]


def test_one_alert_per_breach_recovery_in_thread_and_no_duplicates_after_restart(slack, store, tmp_path):
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url))
    late = statuses(T0, T0 - timedelta(hours=2))
    assert [n.kind for n in record_alerts(store, late, T0, "http://airflow")] == ["open"]
    assert deliver_outbox(store, sender, T0).sent == 1
    first = slack.posts[0]
    assert first["channel"] == "#alerts" and "LATE: stripe.payments" in first["text"]
    blocks = json.dumps(first["blocks"])
    for expected in ("#pay", "stripe_ingest / scheduled__1", "Runbook", "http://airflow/assets", "2h00m"):
        assert expected in blocks

    # a restarted watcher (new store object on the same database) sees the same breach: nothing new
    again = StateStore(store.url)
    assert record_alerts(again, statuses(T0 + timedelta(minutes=5), T0 - timedelta(hours=2)), T0) == []
    assert deliver_outbox(again, sender, T0 + timedelta(minutes=5)).sent == 0

    fresh = statuses(T0 + timedelta(minutes=10), T0 + timedelta(minutes=9))
    assert [n.kind for n in record_alerts(again, fresh, T0 + timedelta(minutes=10))] == ["recover"]
    deliver_outbox(again, sender, T0 + timedelta(minutes=10))
    recovery = slack.posts[1]
    assert recovery["thread_ts"] == "1001.0001" and "Recovered" in recovery["text"]
    assert len(slack.posts) == 2
    assert TOKEN not in json.dumps(store.outbox_rows(), default=str)


def test_reminder_after_interval_unless_acknowledged(slack, store):
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url))
    late_at = lambda t: statuses(t, T0 - timedelta(hours=2))  # noqa: E731
    record_alerts(store, late_at(T0), T0, renotify_after=timedelta(minutes=30))
    deliver_outbox(store, sender, T0)
    kinds = [n.kind for n in record_alerts(store, late_at(T0 + timedelta(minutes=31)), T0 + timedelta(minutes=31),
                                           renotify_after=timedelta(minutes=30))]
    assert kinds == ["remind"]
    deliver_outbox(store, sender, T0 + timedelta(minutes=31))
    assert len(slack.posts) == 2 and slack.posts[-1]["thread_ts"] == "1001.0001"  # a reply in the alert's thread
    assert "Still LATE" in slack.posts[-1]["text"]
    opened = store.open_alerts()[0]
    acknowledge(store, opened["alert_id"][:8], "oncall")
    assert record_alerts(store, late_at(T0 + timedelta(hours=3)), T0 + timedelta(hours=3),
                         renotify_after=timedelta(minutes=30)) == []


def test_rate_limit_then_success_is_delivered_once(slack, store):
    slack.script = [(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})]
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url))
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    report = deliver_outbox(store, sender, T0)
    assert report.sent == 1 and len(slack.posts) == 1
    assert deliver_outbox(store, sender, T0 + timedelta(hours=1)).sent == 0 and len(slack.posts) == 1


def test_server_errors_and_a_dead_server_keep_the_alert_until_it_is_delivered_once(slack, store):
    slack.script = [(500, {"ok": False, "error": "internal_error"}, {})]
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url))
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    first = deliver_outbox(store, sender, T0)
    assert (first.sent, first.waiting) == (0, 1) and "HTTP 500" in first.errors[0]
    dead = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url="http://127.0.0.1:9/api/"))
    down = deliver_outbox(store, dead, T0 + timedelta(minutes=1))
    assert down.sent == 0 and "unreachable" in down.errors[0] and TOKEN not in down.errors[0]
    back = deliver_outbox(store, sender, T0 + timedelta(hours=1))
    assert back.sent == 1 and len(slack.posts) == 1
    assert deliver_outbox(store, sender, T0 + timedelta(hours=2)).sent == 0 and len(slack.posts) == 1


def test_bad_token_is_reported_clearly_and_not_retried(slack, store):
    sender = SlackSender(SlackTarget(channel="#alerts", token="xoxb-wrong", base_url=slack.base_url))
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    report = deliver_outbox(store, sender, T0)
    assert report.failed == 1 and "invalid_auth (check the bot token and channel)" in report.errors[0]
    assert "xoxb-wrong" not in report.errors[0] and slack.posts == []


def test_webhook_gets_the_same_content_without_threads(slack, store):
    hook = f"http://127.0.0.1:{slack.server_address[1]}/services/T000/B000/secretpart"
    sender = SlackSender(SlackTarget(webhook_url=hook))
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    deliver_outbox(store, sender, T0)
    record_alerts(store, statuses(T0 + timedelta(minutes=5), T0 + timedelta(minutes=4)), T0 + timedelta(minutes=5))
    deliver_outbox(store, sender, T0 + timedelta(minutes=5))
    assert [p["path"] for p in slack.posts] == ["webhook", "webhook"]
    assert "LATE" in slack.posts[0]["text"] and "Recovered" in slack.posts[1]["text"]
    assert "thread_ts" not in slack.posts[1]
    assert "secretpart" not in repr(sender.target)


def test_alert_ids_are_stable():
    assert alert_id("a#x", "deadline:1") == alert_id("a#x", "deadline:1") != alert_id("a#x", "deadline:2")
