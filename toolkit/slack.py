"""The one Slack boundary: Block Kit messages built by a pure function, sent through one injected slack-sdk client.

Two ways to reach Slack:

- a **bot token** and a channel: ``chat.postMessage``, with follow-ups posted as replies in the alert's thread;
- an **incoming webhook**: the same content, without threads.

Messages are queued in the durable outbox (``toolkit.state``) before any attempt. :func:`deliver_outbox` sends what is
due:

- a 429 is retried by slack-sdk after the ``Retry-After`` delay;
- a 5xx or a connection failure leaves the message queued, with backoff;
- a rejected token is reported once, clearly, and evaluation carries on.

Tokens and webhook URLs never appear in the outbox, in errors or in logs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from toolkit.core.alerts import Notification
from toolkit.core.cadence_impact import CadenceReport
from toolkit.errors import ConfigError
from toolkit.core.humanize import format_duration
from toolkit.state import AlertRecord, StateStore

log = logging.getLogger(__name__)

EMOJI = {"late": ":red_circle:", "at_risk": ":large_orange_circle:", "fresh": ":large_green_circle:",
         "unknown": ":white_circle:"}
TITLE = {"open": "{status}: {asset}", "escalate": "Now late: {asset}", "remind": "Still {status}: {asset}",
         "recover": "Recovered: {asset} is fresh again"}
MAX_BACKOFF = timedelta(minutes=10)


# -- the message (pure) -------------------------------------------------------------------------------------------


def _mention(owner: str) -> str:
    return f"<{owner}>" if owner.startswith(("@U", "!", "#C")) else owner


def build_message(note: Notification, airflow_url: str | None = None) -> dict:
    """Text and Block Kit blocks for one notification: asset, owners, expected vs last, lag, culprit, run, links."""
    status = note.status
    sla = status.sla
    label = status.status.replace("_", " ")
    title = TITLE[note.kind].format(status=label.upper(), asset=sla.asset)
    owners = " ".join(_mention(o) for o in sla.owners)
    if status.cc:
        owners += " (cc " + " ".join(_mention(o) for o in status.cc) + ")"
    last = status.last_event
    fields = [
        f"*SLA*\n{sla.name} ({sla.severity})",
        f"*Owners*\n{owners}",
        f"*Expected*\n{status.expected or '-'}",
        f"*Last update*\n" + (f"{last.timestamp:%Y-%m-%d %H:%M UTC}"
                              + (f", partition {last.partition_key}" if last.partition_key else "")
                              + (f", {last.row_count} rows" if last.row_count is not None else "")
                              if last else "never"),
        f"*Lag*\n{format_duration(status.lag) if status.lag is not None else '-'}",
        f"*Culprit*\n{status.culprit or '-'}",
    ]
    if status.cause:
        fields.append(f"*Cause*\n{status.cause}")
    if last and last.source_run_id:
        fields.append(f"*Run*\n{last.source_dag_id} / {last.source_run_id}")
    links = []
    if airflow_url:
        links.append(f"<{airflow_url.rstrip('/')}/assets|Assets in Airflow>")
    if sla.runbook:
        links.append(f"<{sla.runbook}|Runbook>")
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{EMOJI.get(status.status, '')} *{title}*\n"
                                                                f"{status.reason}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
    ]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    cause = f"; cause: {status.cause}" if status.cause else ""
    text = f"{title} — {status.reason}{cause} (owners: {', '.join([*sla.owners, *status.cc])})"
    return {"text": text, "blocks": blocks}


def build_cadence_message(report: CadenceReport, airflow_url: str | None = None) -> dict:
    """A cadence change, addressed to the producer's owners and every consumer's owners, with the seam report."""
    change = report.change
    assert change is not None, "only a changed asset has a message"
    title = f"Cadence change: {report.asset}"
    producer = " ".join(_mention(o) for o in report.owners) or "-"
    consumers = "\n".join(f"{c.dag_id}: {' '.join(_mention(o) for o in c.owners) or '-'}" for c in report.consumers)
    fields = [
        f"*Before*\nevery {format_duration(change.before)}",
        f"*After*\n{'irregular, ~' if change.kind == 'irregular' else 'every '}{format_duration(change.after)}",
        f"*Since*\n{change.at:%Y-%m-%d %H:%M UTC}",
        f"*Producer owners*\n{producer}",
        f"*Consumers*\n{consumers or 'none asset-triggered'}",
    ]
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":arrows_counterclockwise: *{title}*\n{report.message}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if airflow_url:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{airflow_url.rstrip('/')}/assets|Assets in Airflow>"}]})
    everyone = list(dict.fromkeys([*report.owners, *(o for c in report.consumers for o in c.owners)]))
    return {"text": f"{title} — {report.message} (owners: {', '.join(everyone)})", "blocks": blocks}


# -- configuration and sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackTarget:
    """Where alerts go. ``repr`` never shows the token or the webhook URL."""

    channel: str | None = None
    token: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    base_url: str | None = None  # a Slack-compatible server (tests; enterprise proxies)

    @property
    def threads(self) -> bool:
        return bool(self.token)


API_CONNECTION = "slack_api_default"  # the Slack provider's default connection ids, bot token and webhook
WEBHOOK_CONNECTION = "slack_default"
WEBHOOK_HOST = "hooks.slack.com/services"  # what the provider prefixes to a webhook connection's bare token


def target_from_env(env: Mapping[str, str] | None = None) -> SlackTarget | None:
    """``AFKIT_SLACK_TOKEN`` + ``AFKIT_SLACK_CHANNEL``, or ``AFKIT_SLACK_WEBHOOK_URL``; None when neither is set."""
    env = os.environ if env is None else env
    token, webhook = env.get("AFKIT_SLACK_TOKEN"), env.get("AFKIT_SLACK_WEBHOOK_URL")
    if token and not env.get("AFKIT_SLACK_CHANNEL"):
        raise ConfigError("AFKIT_SLACK_TOKEN is set but AFKIT_SLACK_CHANNEL is not: name the channel for alerts")
    if not token and not webhook:
        return None
    return SlackTarget(channel=env.get("AFKIT_SLACK_CHANNEL"), token=token, webhook_url=webhook,
                       base_url=env.get("AFKIT_SLACK_BASE_URL"))


@dataclass(frozen=True)
class SlackConnection:
    """The fields of an Airflow connection that afkit reads (``repr`` hides the password)."""

    conn_id: str
    conn_type: str | None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    schema: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)


def target_from_connection(conn: SlackConnection, channel: str | None = None) -> SlackTarget:
    """A Slack provider connection as the provider reads it.

    - ``slack`` (bot token in the password): the channel comes from ``AFKIT_SLACK_CHANNEL`` or the extra field
      ``channel``; ``base_url`` in the extra points at a Slack-compatible server;
    - ``slackwebhook``: the password is the whole webhook URL, or only its token part, which is then appended to
      the host (default the provider's) with the schema (default https).
    """
    secret = (conn.password or "").strip()
    extra = dict(conn.extra or {})
    if conn.conn_type == "slack":
        if not secret:
            raise ConfigError(f"Airflow connection {conn.conn_id!r} has no bot token in its password field")
        channel = channel or extra.get("channel")
        if not isinstance(channel, str) or not channel:
            raise ConfigError(f"Airflow connection {conn.conn_id!r} names no channel: set AFKIT_SLACK_CHANNEL or "
                              "the connection's extra field \"channel\"")
        base_url = extra.get("base_url") or extra.get("extra__slack__base_url")
        return SlackTarget(channel=channel, token=secret, base_url=str(base_url) if base_url else None)
    if conn.conn_type == "slackwebhook":
        if not secret:
            raise ConfigError(f"Airflow connection {conn.conn_id!r} has no webhook in its password field")
        if "://" in secret:
            return SlackTarget(webhook_url=secret)
        host = (conn.host or WEBHOOK_HOST).strip().rstrip("/")
        url = host if "://" in host else f"{conn.schema or 'https'}://{host}"
        return SlackTarget(webhook_url=f"{url}/{secret.lstrip('/')}")
    raise ConfigError(f"Airflow connection {conn.conn_id!r} has type {conn.conn_type!r}; afkit reads Slack "
                      "connections of type slack (bot token) or slackwebhook (incoming webhook)")


def airflow_connection(conn_id: str) -> SlackConnection | None:
    """The connection through Airflow's own secrets lookup (``AIRFLOW_CONN_*`` variables, a configured secrets
    backend, then the metadata database), as a task would see it. None when it does not exist or Airflow is not
    installed here."""
    try:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection
    except ImportError:
        return None
    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    except Exception as exc:  # noqa: BLE001 - a broken backend must not take the watcher down; the reason is named
        raise ConfigError(f"could not read Airflow connection {conn_id!r} ({type(exc).__name__})") from None
    return SlackConnection(conn_id, conn.conn_type, conn.password, conn.host, conn.schema, conn.extra_dejson)


def resolve_target(env: Mapping[str, str] | None = None,
                   lookup=airflow_connection) -> tuple[SlackTarget | None, str]:
    """Where alerts go, and a line saying where that came from (never the secret itself).

    In order: the connection named by ``AFKIT_SLACK_CONN_ID`` (it must exist); the ``AFKIT_SLACK_*`` variables; inside
    an Airflow deployment (``AIRFLOW_HOME`` or ``AIRFLOW_CONN_*`` set), the provider's default connections
    ``slack_api_default`` then ``slack_default``; otherwise none, and alerts wait in the outbox."""
    env = os.environ if env is None else env
    named = env.get("AFKIT_SLACK_CONN_ID")
    if named:
        conn = lookup(named)
        if conn is None:
            raise ConfigError(f"AFKIT_SLACK_CONN_ID names Airflow connection {named!r}, which does not exist here "
                              "(or Airflow is not installed in this environment)")
        return target_from_connection(conn, env.get("AFKIT_SLACK_CHANNEL")), f"Airflow connection {named}"
    target = target_from_env(env)
    if target is not None:
        return target, "AFKIT_SLACK_* environment variables"
    if env.get("AIRFLOW_HOME") or any(k.startswith("AIRFLOW_CONN_SLACK") for k in env):
        for conn_id in (API_CONNECTION, WEBHOOK_CONNECTION):
            try:
                conn = lookup(conn_id)
            except ConfigError as exc:  # nobody asked for this one by name: say so, and carry on without Slack
                return None, f"no Slack configured ({exc})"
            if conn is not None:
                return target_from_connection(conn, env.get("AFKIT_SLACK_CHANNEL")), f"Airflow connection {conn_id}"
    return None, "no Slack configured"


class SlackSendError(Exception):
    """Sending failed; ``retry`` says whether trying again later can help. The message never holds a secret."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class SlackSender:
    def __init__(self, target: SlackTarget, *, rate_limit_retries: int = 2, timeout: int = 10) -> None:
        self.target = target
        handlers = [RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)]
        if target.token:
            kwargs = {"base_url": target.base_url} if target.base_url else {}
            self._web = WebClient(token=target.token, timeout=timeout, retry_handlers=handlers, **kwargs)
        else:
            self._hook = WebhookClient(target.webhook_url, timeout=timeout, retry_handlers=handlers)

    def send(self, payload: dict, thread_ts: str | None = None) -> tuple[str | None, str | None]:
        """Post one message; returns (channel, ts) with a token, (None, None) with a webhook."""
        try:
            if self.target.token:
                response = self._web.chat_postMessage(channel=self.target.channel, text=payload["text"],
                                                      blocks=payload["blocks"], thread_ts=thread_ts)
                return response.get("channel"), response.get("ts")
            response = self._hook.send(text=payload["text"], blocks=payload["blocks"])
        except SlackApiError as exc:
            status, error = exc.response.status_code, exc.response.get("error")
            if error in ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "channel_not_found",
                         "not_in_channel"):
                raise SlackSendError(f"Slack refused the message: {error} (check the bot token and channel)",
                                     retry=False) from None
            raise SlackSendError(f"Slack answered HTTP {status}: {error or 'error'}", retry=True) from None
        except OSError as exc:  # connection refused, timeout
            raise SlackSendError(f"Slack is unreachable ({type(exc).__name__})", retry=True) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise SlackSendError(f"Slack webhook answered HTTP {response.status_code}", retry=True)
        if response.status_code >= 400:
            raise SlackSendError(f"Slack webhook refused the message: HTTP {response.status_code} {response.body}",
                                 retry=False)
        return None, None


# -- the outbox -----------------------------------------------------------------------------------------------------


def notification_record(note: Notification, airflow_url: str | None = None, sequence: str = "", *,
                        opened: dict | None = None, changes: dict | None = None) -> AlertRecord:
    """One notification as the outbox keeps it, with the alert change it comes from (the alert to open, ``opened``,
    or its ``changes``): stored together (``StateStore.record_alerts``), and once (the dedupe key)."""
    return AlertRecord(note.alert_id, f"{note.alert_id}:{note.kind}:{sequence}", note.kind,
                       build_message(note, airflow_url), opened, changes)


@dataclass
class DeliveryReport:
    sent: int = 0
    waiting: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_outbox(store: StateStore, sender: SlackSender, now: datetime) -> DeliveryReport:
    """Send what is due, oldest first. A reply waits until its alert's first message has a thread to reply in."""
    report = DeliveryReport()
    for message in store.claim_outbox(now):
        alert = store.alert(message["alert_id"]) or {}
        thread = None
        if message["kind"] != "open" and sender.target.threads:
            thread = alert.get("thread_ts")
            if thread is None:  # the alert's first message has not gone out yet
                store.finish_outbox(message["id"], "pending", now, "waiting for the alert's first message",
                                    retry_at=now)
                report.waiting += 1
                continue
        try:
            channel, ts = sender.send(message["payload"], thread_ts=thread)
        except SlackSendError as exc:
            if exc.retry:
                backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(message["attempts"], 9)))
                store.finish_outbox(message["id"], "pending", now, str(exc), retry_at=now + backoff)
                report.waiting += 1
            else:
                store.finish_outbox(message["id"], "failed", now, str(exc))
                report.failed += 1
            report.errors.append(str(exc))
            log.warning("slack: %s", exc)
            continue
        store.finish_outbox(message["id"], "sent", now)
        if message["kind"] == "open" and ts:
            store.update_alert(message["alert_id"], channel=channel, thread_ts=ts)
        report.sent += 1
    return report
