"""Alert lifecycle and Slack delivery through slack-sdk, against a local server that speaks Slack's Web API and
webhook formats (as slack-sdk's own tests do), including 429 rate limits, 5xx, a dead server and a bad token."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from toolkit.services.alerting import acknowledge, record_alerts
from toolkit.core.alerts import alert_id
from toolkit.core.freshness import evaluate
from toolkit.models import AssetEvent
from toolkit.slack import SlackSender, SlackTarget, deliver_outbox
from toolkit.sla import max_lag, parse_slas, with_slas
from toolkit.state import AlertRecord, StateStore

from ..slack_server import TOKEN, running_fake_slack

T0 = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
@pytest.fixture
def slack():
    with running_fake_slack() as server:
        yield server


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
    for expected in ("#pay", "stripe_ingest / scheduled__1", "Runbook", "http://airflow/assets", "2h 00m"):
        assert expected in blocks

    # a restarted watcher (new store object on the same database) sees the same breach: nothing new
    again = StateStore(store.url)
    assert record_alerts(again, statuses(T0 + timedelta(minutes=5), T0 - timedelta(hours=2)), T0) == []
    assert deliver_outbox(again, sender, T0 + timedelta(minutes=5)).sent == 0

    fresh = statuses(T0 + timedelta(minutes=10), T0 + timedelta(minutes=9))
    assert [n.kind for n in record_alerts(again, fresh, T0 + timedelta(minutes=10))] == ["recover"]
    deliver_outbox(again, sender, T0 + timedelta(minutes=10))
    recovery = slack.posts[1]
    assert recovery["thread_ts"] == first["ts"] and "Recovered" in recovery["text"]
    assert len(slack.posts) == 2
    assert TOKEN not in json.dumps(store.outbox_rows(), default=str)


def test_a_pass_records_its_alerts_together_and_leaves_one_another_watcher_recorded_meanwhile_to_it(store):
    def opening(alert: str) -> AlertRecord:
        return AlertRecord(alert, f"{alert}:open:", "open", {"text": alert},
                           opened={"sla_key": f"{alert}#lag", "breach_key": "lag:1", "status": "late",
                                   "opened_at": T0, "last_notified_at": T0})

    other_watcher = StateStore(store.url)
    assert other_watcher.record_alerts([opening("b")], T0) == [True]
    assert store.record_alerts([opening("a"), opening("b"), opening("c")], T0) == [True, False, True]
    assert sorted(row["alert_id"] for row in store.outbox_rows()) == ["a", "b", "c"]  # b's message once
    assert {a.alert_id for a in store.open_alert_states()} == {"a", "b", "c"}
    assert store.record_alerts([opening("a")], T0) == [False]  # and nothing twice


def test_reminder_after_interval_unless_acknowledged(slack, store):
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url))
    late_at = lambda t: statuses(t, T0 - timedelta(hours=2))  # noqa: E731
    record_alerts(store, late_at(T0), T0, renotify_after=timedelta(minutes=30))
    deliver_outbox(store, sender, T0)
    kinds = [n.kind for n in record_alerts(store, late_at(T0 + timedelta(minutes=31)), T0 + timedelta(minutes=31),
                                           renotify_after=timedelta(minutes=30))]
    assert kinds == ["remind"]
    deliver_outbox(store, sender, T0 + timedelta(minutes=31))
    assert len(slack.posts) == 2 and slack.posts[-1]["thread_ts"] == slack.posts[0]["ts"]
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
    assert report.failed == 1 and "invalid_auth (check the bot token)" in report.errors[0]
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


def test_two_processes_creating_a_new_state_database_at_once(tmp_path):
    """Two watchers started together on a new database both create its tables; neither may fail."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = f"from toolkit.state import StateStore; StateStore({url!r}).open_alerts()"
    for _ in range(5):
        procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
        assert all(rc == 0 for rc, _ in results), [err for _, err in results if err]
        (tmp_path / "race.db").unlink()
        for extra in tmp_path.glob("race.db-*"):
            extra.unlink()


# -- configured the Airflow way: Slack provider connections ----------------------------------------------------------


def test_slack_connections_are_read_as_the_provider_reads_them():
    from toolkit.slack import SlackConnection, target_from_connection

    api = target_from_connection(SlackConnection("slack_api_default", "slack", "xoxb-1", extra={
        "channel": "#data-alerts", "base_url": "http://127.0.0.1:9/api/"}))
    assert (api.token, api.channel, api.base_url, api.threads) == ("xoxb-1", "#data-alerts", "http://127.0.0.1:9/api/",
                                                                   True)
    assert target_from_connection(SlackConnection("c", "slack", "xoxb-1"), "#override").channel == "#override"
    full = target_from_connection(SlackConnection("slack_default", "slackwebhook", "https://example.test/hook/T/B/x"))
    assert full.webhook_url == "https://example.test/hook/T/B/x" and not full.threads
    bare = target_from_connection(SlackConnection("slack_default", "slackwebhook", "T0/B0/secret"))
    assert bare.webhook_url == "https://hooks.slack.com/services/T0/B0/secret"
    hosted = target_from_connection(SlackConnection("w", "slackwebhook", "T0/B0/s", host="proxy.internal/slack/",
                                                    schema="http"))
    assert hosted.webhook_url == "http://proxy.internal/slack/T0/B0/s"


@pytest.mark.parametrize(("conn", "message"), [
    (("c", "slack", None, {"channel": "#a"}), "has no bot token in its password field"),
    (("c", "slack", "xoxb-secret", {}), "names no channel"),
    (("c", "slackwebhook", "  ", {}), "has no webhook in its password field"),
    (("c", "http", "xoxb-secret", {}), "has type 'http'"),
])
def test_unusable_slack_connections_are_named_without_their_secret(conn, message):
    from toolkit.errors import ConfigError
    from toolkit.slack import SlackConnection, target_from_connection

    conn_id, conn_type, password, extra = conn
    with pytest.raises(ConfigError) as raised:
        target_from_connection(SlackConnection(conn_id, conn_type, password, extra=extra))
    assert message in str(raised.value) and "'c'" in str(raised.value)
    assert "xoxb-secret" not in str(raised.value)
    assert "xoxb-secret" not in repr(SlackConnection(conn_id, conn_type, password))


def test_where_the_slack_target_comes_from():
    from toolkit.errors import ConfigError
    from toolkit.slack import SlackConnection, resolve_target

    stored = {"slack_api_default": SlackConnection("slack_api_default", "slack", "xoxb-a", extra={"channel": "#a"}),
              "team_hook": SlackConnection("team_hook", "slackwebhook", "https://example.test/h")}
    asked: list[str] = []

    def lookup(conn_id):
        asked.append(conn_id)
        return stored.get(conn_id)

    target, source = resolve_target({"AFKIT_SLACK_CONN_ID": "team_hook", "AFKIT_SLACK_TOKEN": "xoxb-env",
                                     "AFKIT_SLACK_CHANNEL": "#env"}, lookup)
    assert target.webhook_url == "https://example.test/h" and source == "Airflow connection team_hook"
    target, source = resolve_target({"AFKIT_SLACK_TOKEN": "xoxb-env", "AFKIT_SLACK_CHANNEL": "#env",
                                     "AIRFLOW_HOME": "/x"}, lookup)
    assert target.token == "xoxb-env" and "environment" in source
    target, source = resolve_target({"AIRFLOW_HOME": "/x"}, lookup)
    assert (target.token, target.channel, source) == ("xoxb-a", "#a", "Airflow connection slack_api_default")
    asked.clear()
    assert resolve_target({}, lookup) == (None, "no Slack configured") and asked == []  # outside Airflow: no lookup
    with pytest.raises(ConfigError, match="'missing', which does not exist"):
        resolve_target({"AFKIT_SLACK_CONN_ID": "missing"}, lookup)

    def broken(conn_id):
        raise ConfigError(f"could not read Airflow connection {conn_id!r} (OperationalError)")

    target, source = resolve_target({"AIRFLOW_HOME": "/x"}, broken)  # not asked for by name: carry on without Slack
    assert target is None and "OperationalError" in source


# -- issue 19: permanent failures are final, refused content falls back once, an earlier copy is adopted -----------


def web_sender(slack, channel: str = "#alerts") -> SlackSender:
    return SlackSender(SlackTarget(channel=channel, token=TOKEN, base_url=slack.base_url))


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "invalid_auth", "is_archived"])
def test_a_permanent_refusal_is_tried_once_reported_and_does_not_block_the_outbox(slack, store, code):
    slack.script_for("chat.postMessage", 200, {"ok": False, "error": code})
    sender = web_sender(slack)
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    report = deliver_outbox(store, sender, T0)
    assert (report.sent, report.failed) == (0, 1) and code in report.errors[0], report
    (row,) = store.outbox_rows()
    assert (row["status"], row["attempts"]) == ("failed", 1) and code in row["last_error"]
    assert deliver_outbox(store, sender, T0 + timedelta(days=1)).failed == 0  # never tried again
    assert slack.posts == [] and store.outbox_rows()[0]["attempts"] == 1
    undelivered = store.undelivered()
    assert undelivered["failed"] == 1 and undelivered["failures"][0]["error"] == row["last_error"]
    assert undelivered["failures"][0]["title"] == "LATE: stripe.payments"
    # The recovery, whose opening failed, goes out on its own rather than waiting for a thread forever.
    record_alerts(store, statuses(T0 + timedelta(minutes=10), T0 + timedelta(minutes=9)), T0 + timedelta(minutes=10))
    assert deliver_outbox(store, sender, T0 + timedelta(minutes=10)).sent == 1
    assert "Recovered" in slack.posts[0]["text"] and "thread_ts" not in slack.posts[0]


@pytest.mark.parametrize("code", ["invalid_blocks", "msg_too_long"])
def test_refused_content_is_sent_once_more_as_plain_text(slack, store, code):
    slack.script_for("chat.postMessage", 200, {"ok": False, "error": code})
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    assert deliver_outbox(store, web_sender(slack), T0).sent == 1
    (post,) = slack.posts
    assert post["text"].startswith("LATE: stripe.payments") and "blocks" not in post
    assert post["metadata"]["event_type"] == "afkit_alert"
    assert store.outbox_rows()[0]["status"] == "sent"


def test_refused_content_whose_plain_text_is_refused_too_is_failed_with_both_reasons(slack, store):
    slack.script_for("chat.postMessage", 200, {"ok": False, "error": "invalid_blocks"})
    slack.script_for("chat.postMessage", 200, {"ok": False, "error": "msg_too_long"})
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    report = deliver_outbox(store, web_sender(slack), T0)
    assert report.failed == 1 and "invalid_blocks" in report.errors[0] and "msg_too_long" in report.errors[0]
    assert slack.posts == [] and store.outbox_rows()[0]["status"] == "failed"


def test_a_rate_limit_beyond_slack_sdks_retries_waits_as_long_as_slack_asks(slack, store):
    for _ in range(3):  # slack-sdk retries twice by itself
        slack.script_for("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    sender = SlackSender(SlackTarget(channel="#alerts", token=TOKEN, base_url=slack.base_url), rate_limit_retries=2)
    report = deliver_outbox(store, sender, T0)
    assert report.waiting == 1 and "rate limiting" in report.errors[0]
    (row,) = store.outbox_rows()
    assert row["status"] == "pending"
    assert deliver_outbox(store, sender, T0 + timedelta(minutes=1)).sent == 1 and len(slack.posts) == 1


def claim_and_post_then_die(store: StateStore, sender: SlackSender, now: datetime, posted: bool,
                            thread_ts: str | None = None) -> dict:
    """What a watcher killed inside a delivery leaves: the message claimed, and (``posted``) Slack holding it."""
    (message,) = store.claim_outbox(now)
    if posted:
        identity = {"alert_id": message["alert_id"], "message": message["dedupe_key"]}
        sender.send(message["payload"], thread_ts=thread_ts,
                    metadata={"event_type": "afkit_alert", "event_payload": identity})
    return message


def test_a_message_an_earlier_attempt_posted_is_adopted_not_posted_again(slack, store):
    sender = web_sender(slack)
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    now = datetime.now(timezone.utc)  # the local Slack stamps messages with the real clock
    claim_and_post_then_die(store, sender, now, posted=True)
    assert deliver_outbox(store, sender, now + timedelta(seconds=30)).sent == 0  # the claim still holds
    report = deliver_outbox(store, web_sender(slack), now + timedelta(minutes=2))  # another watcher, claim expired
    assert report.sent == 1 and len(slack.posts) == 1, slack.posts
    (row,) = store.outbox_rows()
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert store.alert(row["alert_id"])["thread_ts"] == slack.posts[0]["ts"]
    # A reply (the recovery), posted in its thread by a watcher that then died, is found in that thread.
    later = now + timedelta(minutes=1)  # (an earlier copy is looked for from 2 minutes before its attempt)
    assert [n.kind for n in record_alerts(store, statuses(later, later - timedelta(minutes=1)), later)] == ["recover"]
    claim_and_post_then_die(store, sender, later, posted=True, thread_ts=slack.posts[0]["ts"])
    assert deliver_outbox(store, web_sender(slack), later + timedelta(minutes=2)).sent == 1
    assert len(slack.posts) == 2 and slack.posts[1]["thread_ts"] == slack.posts[0]["ts"]
    assert [r["status"] for r in store.outbox_rows()] == ["sent", "sent"]


def test_a_message_no_earlier_attempt_posted_is_posted_once(slack, store):
    sender = web_sender(slack)
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    now = datetime.now(timezone.utc)
    claim_and_post_then_die(store, sender, now, posted=False)
    assert deliver_outbox(store, web_sender(slack), now + timedelta(minutes=2)).sent == 1
    assert len(slack.posts) == 1 and slack.posts[0]["metadata"]["event_payload"]["alert_id"]


def test_an_older_state_database_gains_the_new_outbox_columns(tmp_path):
    import sqlite3
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # afkit_outbox as the first release created it
        db.execute("CREATE TABLE afkit_outbox (id INTEGER PRIMARY KEY, dedupe_key VARCHAR(200) NOT NULL UNIQUE, "
                   "alert_id VARCHAR(40) NOT NULL, kind VARCHAR(16) NOT NULL, payload TEXT NOT NULL, status "
                   "VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL, next_attempt_at DATETIME NOT NULL, claimed_until "
                   "DATETIME, last_error TEXT, created_at DATETIME NOT NULL, sent_at DATETIME)")
        db.execute("INSERT INTO afkit_outbox VALUES (1, 'a:open:', 'a', 'open', '{\"text\": \"x\"}', 'pending', 0, "
                   "'2026-11-21 12:00:00', NULL, NULL, '2026-11-21 12:00:00', NULL)")
    store = StateStore(f"sqlite:///{path}")
    (row,) = store.outbox_rows()
    assert row["sink"] == "slack" and row["attempted_at"] is None
    assert [m["id"] for m in store.claim_outbox(T0)] == [1]


def test_other_sinks_get_the_alert_as_a_person_reads_it_and_slack_gets_it_escaped():
    from dataclasses import replace
    from toolkit.core.alerts import Notification
    from toolkit.slack import notification_record
    (status,) = statuses(T0, T0 - timedelta(hours=2))
    status = replace(status, sla=replace(status.sla, asset="fx<eu>&us"))
    record = notification_record(Notification("open", "a1", status.sla.key, "lag:1", status))
    fields = record.payload["fields"]
    assert fields["title"] == "LATE: fx<eu>&us" and fields["asset"] == "fx<eu>&us"
    assert fields["text"].startswith("LATE: fx<eu>&us — ")
    assert record.payload["text"].startswith("LATE: fx&lt;eu&gt;&amp;us — ")


def test_a_lookup_refused_for_good_posts_again_rather_than_lose_the_alert(slack, store):
    """Without channels:history the earlier copy cannot be looked for: the alert still goes out (at least once)."""
    sender = web_sender(slack)
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    now = datetime.now(timezone.utc)
    claim_and_post_then_die(store, sender, now, posted=False)
    slack.script_for("conversations.history", 200, {"ok": False, "error": "missing_scope"})
    assert deliver_outbox(store, web_sender(slack), now + timedelta(minutes=2)).sent == 1
    assert len(slack.posts) == 1 and store.outbox_rows()[0]["status"] == "sent"


def test_a_lookup_slack_cannot_answer_now_is_tried_again_later(slack, store):
    sender = web_sender(slack)
    record_alerts(store, statuses(T0, T0 - timedelta(hours=2)), T0)
    now = datetime.now(timezone.utc)
    claim_and_post_then_die(store, sender, now, posted=True)
    slack.script_for("conversations.history", 503, {"ok": False, "error": "service_unavailable"})
    report = deliver_outbox(store, web_sender(slack), now + timedelta(minutes=2))
    assert (report.sent, report.waiting) == (0, 1) and len(slack.posts) == 1  # no blind second post
    assert deliver_outbox(store, web_sender(slack), now + timedelta(minutes=10)).sent == 1  # found and adopted
    assert len(slack.posts) == 1 and store.outbox_rows()[0]["status"] == "sent"
