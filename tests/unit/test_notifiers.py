"""Alert sinks through Airflow's own machinery (issue 19): the Slack provider's hooks build the Slack client from the
connection, and any ``BaseNotifier`` named in afkit.toml gets every alert. Real provider classes, the local Slack
server; Airflow is imported here (its home a temporary folder), no Airflow process runs."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta

import pytest

from toolkit.errors import ConfigError
from toolkit.service_config import parse_service_config
from toolkit.services.alerting import record_alerts
from toolkit.slack import SlackSender, SlackTarget, deliver_outbox, target_from_connection, SlackConnection
from toolkit.state import SLACK_SINK, StateStore

from ..slack_server import TOKEN
from .test_alerts_and_slack import T0, slack, statuses, store  # noqa: F401 - (slack, store: the same fixtures)

# Airflow reads its home once, when first imported: a temporary one (never the user's ~/airflow), set only for that.
_previous_home = os.environ.get("AIRFLOW_HOME")
os.environ["AIRFLOW_HOME"] = _previous_home or tempfile.mkdtemp(prefix="afkit-test-airflow-home-")
try:
    pytest.importorskip("airflow.providers.slack", reason="the Slack provider (afkit[slack]) is not installed")
    from airflow.sdk.bases.notifier import BaseNotifier
finally:
    if _previous_home is None:
        del os.environ["AIRFLOW_HOME"]

RECEIVED: list[dict] = []


class RecordingNotifier(BaseNotifier):
    """Keeps what it was asked to say, rendered as any notifier renders its template fields."""

    template_fields = ("summary",)

    def __init__(self, summary: str, fail_with: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.summary, self.fail_with = summary, fail_with

    def notify(self, context) -> None:
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        RECEIVED.append({"summary": self.summary, "afkit": context["afkit"]})


@pytest.fixture
def server_process(monkeypatch):
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")  # (restored after the test: the process is shared)


def load(toml: str):
    from toolkit.notifiers import load_notifiers
    return load_notifiers(parse_service_config(toml).require_valid().notifiers)


def queued_for(store: StateStore, sinks: tuple[str, ...], at: datetime = T0):
    return record_alerts(store, statuses(at, at - timedelta(hours=2)), at, "http://airflow", sinks=sinks)


def test_the_slack_providers_notifier_gets_every_alert(slack, store, monkeypatch, server_process):
    from toolkit.notifiers import deliver_to_notifiers
    monkeypatch.setenv("AIRFLOW_CONN_AFKIT_TEST_SLACK", json.dumps(
        {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": slack.base_url}}))
    (sink,) = load('[alerts.notifiers.team_slack]\n'
                   'class = "airflow.providers.slack.notifications.slack.SlackNotifier"\n'
                   'slack_conn_id = "afkit_test_slack"\nchannel = "#data-oncall"\n'
                   'text = "{{ afkit.title }} (owners: {{ afkit.owners | join(\', \') }}; severity {{ afkit.severity }})"\n')
    assert [n.kind for n in queued_for(store, (SLACK_SINK, sink.sink))] == ["open"]
    assert sorted(r["sink"] for r in store.outbox_rows()) == ["notifier:team_slack", "slack"]
    report = deliver_to_notifiers(store, [sink], T0)
    assert (report.sent, report.failed, report.errors) == (1, 0, [])
    (post,) = slack.posts
    assert post["channel"] == "#data-oncall"
    assert post["text"] == "LATE: stripe.payments (owners: #pay; severity warning)"
    rows = {r["sink"]: r["status"] for r in store.outbox_rows()}
    assert rows == {"notifier:team_slack": "sent", "slack": "pending"}  # Slack's own row is the Slack sender's
    assert deliver_to_notifiers(store, [sink], T0 + timedelta(hours=1)).sent == 0  # once


def test_a_notifier_gets_the_documented_fields_and_renders_them_per_message(store):
    from toolkit.notifiers import deliver_to_notifiers
    RECEIVED.clear()
    (sink,) = load('[alerts.notifiers.rec]\nclass = "tests.unit.test_notifiers.RecordingNotifier"\n'
                   'summary = "{{ afkit.kind }} {{ afkit.asset }} lag {{ afkit.lag_seconds | int }}s"\n')
    queued_for(store, (sink.sink,))
    later = T0 + timedelta(minutes=10)
    record_alerts(store, statuses(later, later - timedelta(minutes=1)), later, sinks=(sink.sink,))  # recovery
    assert deliver_to_notifiers(store, [sink], later).sent == 2
    assert [r["summary"] for r in RECEIVED] == ["open stripe.payments lag 7200s", "recover stripe.payments lag 60s"]
    fields = RECEIVED[0]["afkit"]
    assert set(fields) == {"alert_id", "kind", "title", "text", "status", "asset", "sla", "severity", "owners", "cc",
                           "reason", "expected", "lag_seconds", "last_event_at", "culprit", "cause", "runbook",
                           "airflow_url"}
    assert (fields["status"], fields["owners"], fields["runbook"]) == ("late", ["#pay"], "https://runbooks/stripe")
    assert fields["title"] == "LATE: stripe.payments" and fields["text"].startswith("LATE: stripe.payments — ")


def test_a_failing_notifier_retries_then_fails_without_holding_back_the_others(store):
    from toolkit.notifiers import NOTIFIER_ATTEMPTS, deliver_to_notifiers
    RECEIVED.clear()
    broken, working = load(
        '[alerts.notifiers.broken]\nclass = "tests.unit.test_notifiers.RecordingNotifier"\nsummary = "x"\n'
        'fail_with = "POST https://hooks.example.invalid/services/T1/B1/secret failed"\n'
        '[alerts.notifiers.working]\nclass = "tests.unit.test_notifiers.RecordingNotifier"\nsummary = "ok"\n')
    queued_for(store, (broken.sink, working.sink))
    now = T0
    for attempt in range(1, NOTIFIER_ATTEMPTS + 1):
        report = deliver_to_notifiers(store, [broken, working], now)
        assert "secret" not in " ".join(report.errors) and "<url>" in report.errors[0], report.errors
        now += timedelta(minutes=20)  # past any backoff
    assert [r["summary"] for r in RECEIVED] == ["ok"]
    rows = {r["sink"]: r for r in store.outbox_rows()}
    assert rows["notifier:working"]["status"] == "sent"
    failed = rows["notifier:broken"]
    assert (failed["status"], failed["attempts"]) == ("failed", NOTIFIER_ATTEMPTS)
    assert f"after {NOTIFIER_ATTEMPTS} attempts" in failed["last_error"] and "secret" not in failed["last_error"]
    assert deliver_to_notifiers(store, [broken, working], now + timedelta(days=1)).errors == []  # final
    assert store.undelivered()["failures"][0]["sink"] == "notifier:broken"


@pytest.mark.parametrize("toml, message", [
    ('class = "airflow.providers.nothing.Notifier"', "cannot import airflow.providers.nothing.Notifier"),
    ('class = "toolkit.errors.ConfigError"', "is not an Airflow notifier"),
    ('class = "airflow.providers.slack.notifications.slack.SlackNotifier"\nno_such_argument = 1',
     "refused its arguments (TypeError"),
])
def test_a_notifier_that_cannot_be_built_is_named_at_start(toml, message):
    with pytest.raises(ConfigError) as caught:
        load(f"[alerts.notifiers.mine]\n{toml}\n")
    assert "[alerts.notifiers.mine]" in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize("toml, message", [
    ('[alerts.notifiers.mine]\nto = "x"\n', "class must be the dotted path of an Airflow notifier class"),
    ('[alerts.notifiers.mine]\nclass = "not a path"\n', "class must be the dotted path"),
    ('[alerts]\nnotifiers = 3\n', "notifiers must be tables"),
    ('[alerts.notifiers."bad name"]\nclass = "a.B"\n', "a notifier's name is 1 to 60 letters"),
])
def test_a_broken_notifier_table_is_reported_and_left_out(toml, message):
    config = parse_service_config(toml)
    assert config.notifiers == () and any(message in e for e in config.errors), config.errors


def test_slack_is_built_through_the_providers_hook_with_the_connections_extras(slack, store, monkeypatch,
                                                                               server_process):
    monkeypatch.setenv("AIRFLOW_CONN_AFKIT_HOOKED", json.dumps(
        {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": slack.base_url, "timeout": 7}}))
    target = target_from_connection(SlackConnection("afkit_hooked", "slack", TOKEN,
                                                    extra={"base_url": slack.base_url, "timeout": 7}), "#alerts")
    sender = SlackSender(target)
    from airflow.providers.slack.hooks.slack import SlackHook
    assert sender._web.timeout == 7 and sender._web.base_url == slack.base_url  # the hook's client, its extras
    assert type(sender._web) is type(SlackHook(slack_conn_id="afkit_hooked").client)
    queued_for(store, (SLACK_SINK,))
    assert deliver_outbox(store, sender, T0).sent == 1 and len(slack.posts) == 1
    assert slack.posts[0]["metadata"]["event_type"] == "afkit_alert"


def test_a_webhook_connection_is_built_through_the_providers_webhook_hook(slack, store, monkeypatch,
                                                                          server_process):
    monkeypatch.setenv("AIRFLOW_CONN_AFKIT_HOOKED_WEBHOOK", json.dumps(
        {"conn_type": "slackwebhook", "password": slack.webhook_url, "extra": {"timeout": 9}}))
    target = target_from_connection(SlackConnection("afkit_hooked_webhook", "slackwebhook", slack.webhook_url))
    sender = SlackSender(target)
    assert sender._hook.timeout == 9  # the connection's extra, read by the provider's hook
    queued_for(store, (SLACK_SINK,))
    assert deliver_outbox(store, sender, T0).sent == 1 and slack.posts[0]["path"] == "webhook"


def test_without_the_connection_in_reach_the_hook_path_is_a_clear_error(monkeypatch, server_process):
    monkeypatch.delenv("AIRFLOW_CONN_NOT_THERE", raising=False)
    target = SlackTarget(channel="#alerts", token=TOKEN, conn_id="not_there")
    with pytest.raises(ConfigError, match="could not build a client for Airflow connection 'not_there'"):
        SlackSender(target)
