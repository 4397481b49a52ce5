"""The one Slack boundary: messages (built by ``toolkit.core.slack_blocks``, within Slack's limits) sent through one
slack-sdk client.

Two ways to reach Slack:

- a **bot token** and a channel: ``chat.postMessage``, with follow-ups posted as replies in the alert's thread;
- an **incoming webhook**: the same content, without threads.

Messages are queued in the durable outbox (``toolkit.state``) before any attempt. :func:`deliver_outbox` sends what is
due:

- a 429 is retried by slack-sdk after the ``Retry-After`` delay, then later with backoff; a 5xx, Slack's transient
  codes or a connection failure leave the message queued, with backoff;
- every other refusal is final: the message is marked failed with Slack's reason (``afkit status`` and ``afkit sla
  status`` show it) and the outbox goes on; a refused *content* (``invalid_blocks``, ``msg_too_long``) is first sent
  once more as plain text;
- **effectively once** with a bot token: every message carries afkit's alert id in its metadata (event type
  ``afkit_alert``), and a message tried before is looked up in the channel (or its thread) before it is posted again,
  and adopted if an earlier attempt posted it. A webhook cannot be read back: through a webhook, delivery is at
  least once (a deliverer killed after Slack accepted a message but before recording it posts it again).

Tokens and webhook URLs never appear in the outbox, in errors or in logs.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from toolkit.core.alert_fields import cadence_fields, notification_fields
from toolkit.core.alerts import Notification
from toolkit.core.slack_blocks import build_cadence_message, build_message, plain_text, unescape
from toolkit.core.cadence_impact import CadenceReport
from toolkit.errors import ConfigError
from toolkit.state import SLACK_SINK, AlertRecord, StateStore

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=10)
COPY_SEARCH_MARGIN = timedelta(minutes=2)  # an earlier copy is looked for from this long before its attempt (clocks)
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{5,}")  # a conversation id, as Slack writes them


# -- configuration and sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackTarget:
    """Where alerts go. ``repr`` never shows the token or the webhook URL."""

    channel: str | None = None
    token: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    base_url: str | None = None  # a Slack-compatible server (tests; enterprise proxies)
    conn_id: str | None = None  # the Airflow connection it came from: the Slack provider's hooks then build the client

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
        return SlackTarget(channel=channel, token=secret, base_url=str(base_url) if base_url else None,
                           conn_id=conn.conn_id)
    if conn.conn_type == "slackwebhook":
        if not secret:
            raise ConfigError(f"Airflow connection {conn.conn_id!r} has no webhook in its password field")
        if "://" in secret:
            return SlackTarget(webhook_url=secret, conn_id=conn.conn_id)
        host = (conn.host or WEBHOOK_HOST).strip().rstrip("/")
        url = host if "://" in host else f"{conn.schema or 'https'}://{host}"
        return SlackTarget(webhook_url=f"{url}/{secret.lstrip('/')}", conn_id=conn.conn_id)
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


ALERT_EVENT_TYPE = "afkit_alert"  # the metadata event type of afkit's messages: how a copy is found again
# Slack's error codes that trying again can cure; every other refusal gives the same answer next time.
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# Refusals of the message's content: its plain-text version may still go through.
REJECTED_CONTENT = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_attachments",
                              "too_many_attachments", "invalid_payload"})
SETUP_ERRORS = {"invalid_auth": "check the bot token", "not_authed": "check the bot token",
                "account_inactive": "check the bot token", "token_revoked": "check the bot token",
                "channel_not_found": "check the channel", "not_in_channel": "invite the bot to the channel",
                "is_archived": "the channel is archived", "missing_scope": "the token lacks a scope"}
HISTORY_PAGES = 5  # pages of history read when looking for an earlier copy (200 messages each)


class SlackSendError(Exception):
    """Sending failed. ``retry``: trying again later can help (after ``retry_after`` seconds when Slack said);
    ``code``: Slack's error code; ``rejected_content``: Slack refused the content, not the request. The message never
    holds a secret."""

    def __init__(self, message: str, retry: bool, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry, self.code, self.retry_after = retry, code, retry_after

    @property
    def rejected_content(self) -> bool:
        return self.code in REJECTED_CONTENT


def api_error(status: int, code: str | None, retry_after: str | None = None) -> SlackSendError:
    """One Web API or webhook refusal, classified: 429, 5xx and Slack's transient codes are retried; the rest is
    final (the same request gets the same answer)."""
    code = code or None
    if status == 429 or code == "ratelimited":
        wait = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
        return SlackSendError(f"Slack is rate limiting (HTTP 429{f', retry after {wait:g}s' if wait else ''})",
                              retry=True, code=code or "ratelimited", retry_after=wait)
    if status >= 500 or code in RETRYABLE_ERRORS:
        return SlackSendError(f"Slack answered HTTP {status}: {code or 'server error'}", retry=True, code=code)
    hint = SETUP_ERRORS.get(code or "")
    if code in REJECTED_CONTENT:
        hint = "the message breaks Slack's limits"
    return SlackSendError(f"Slack refused the message: {code or f'HTTP {status}'}" + (f" ({hint})" if hint else ""),
                          retry=False, code=code)


def translated(exc: SlackApiError | OSError) -> SlackSendError:
    """A slack-sdk call's failure as afkit reports it: Slack's answer classified (``api_error``), or, for a connection
    refused, reset or timed out, unreachable (retried)."""
    if isinstance(exc, SlackApiError):
        return api_error(exc.response.status_code, exc.response.get("error"),
                         (exc.response.headers or {}).get("Retry-After"))
    return SlackSendError(f"Slack is unreachable ({type(exc).__name__})", retry=True)


SERVER_PROCESS = ("_AIRFLOW_PROCESS_CONTEXT", "server")  # how Airflow's own daemons (the scheduler) read connections


def provider_clients(target: SlackTarget) -> tuple[WebClient | None, WebhookClient | None]:
    """The slack-sdk client the Slack provider's ``SlackHook`` / ``SlackWebhookHook`` build for the connection the
    target came from, honouring its ``timeout``, ``proxy`` and ``base_url`` extras as a task's would; (None, None)
    when the target has no connection or the provider is not installed (afkit then builds the client itself).

    Outside a task, the hooks read connections from ``AIRFLOW_CONN_*`` variables only, unless the process says it is
    a server-side daemon, as the scheduler does: ``afkit watch`` is one, so it says so (when nothing else was set)."""
    if target.conn_id is None:
        return None, None
    try:
        from airflow.providers.slack.hooks.slack import SlackHook
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
    except ImportError:
        return None, None
    os.environ.setdefault(*SERVER_PROCESS)
    try:
        if target.token:
            return SlackHook(slack_conn_id=target.conn_id).client, None
        return None, SlackWebhookHook(slack_webhook_conn_id=target.conn_id).client
    except Exception as exc:  # noqa: BLE001 - the provider's own errors; the connection is named, never its secret
        raise ConfigError(f"the Slack provider could not build a client for Airflow connection {target.conn_id!r} "
                          f"({type(exc).__name__})") from None


class SlackSender:
    """Posts through one slack-sdk client: a ``WebClient`` (bot token) or a ``WebhookClient``, built by the Slack
    provider's hooks when the target is an Airflow connection and the provider is installed (``provider_clients``),
    else here; ``web``/``webhook``: clients built by the caller."""

    def __init__(self, target: SlackTarget, *, rate_limit_retries: int = 2, timeout: int = 10,
                 web: WebClient | None = None, webhook: WebhookClient | None = None) -> None:
        self.target = target
        self._channel_id: str | None = None
        if web is None and webhook is None:
            web, webhook = provider_clients(target)
        if target.token:
            if web is None:
                kwargs = {"base_url": target.base_url} if target.base_url else {}
                web = WebClient(token=target.token, timeout=timeout, **kwargs)
            self._web = web
        else:
            self._hook = webhook or WebhookClient(target.webhook_url, timeout=timeout)
        # slack-sdk waits out a 429 itself. It must not re-send after a lost connection: Slack may have posted the
        # message, and only the outbox's retry looks for that copy first.
        client = web if target.token else self._hook
        handlers = [h for h in client.retry_handlers if not isinstance(h, ConnectionErrorRetryHandler)]
        if not any(isinstance(h, RateLimitErrorRetryHandler) for h in handlers):
            handlers.append(RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries))
        client.retry_handlers = handlers

    @property
    def finds_copies(self) -> bool:
        """Whether an earlier copy of a message can be looked up (the Web API can; a webhook cannot)."""
        return bool(self.target.token)

    def send(self, payload: dict, thread_ts: str | None = None,
             metadata: dict | None = None) -> tuple[str | None, str | None]:
        """Post one message; returns (channel id, ts) with a token, (None, None) with a webhook."""
        try:
            if self.target.token:
                response = self._web.chat_postMessage(channel=self.target.channel, text=payload["text"],
                                                      blocks=payload.get("blocks"), thread_ts=thread_ts,
                                                      metadata=metadata)
                self._channel_id = response.get("channel") or self._channel_id
                return response.get("channel"), response.get("ts")
            response = self._hook.send(text=payload["text"], blocks=payload.get("blocks"))
        except (SlackApiError, OSError) as exc:
            raise translated(exc) from None
        if response.status_code >= 400:
            body = (response.body or "").strip()
            raise api_error(response.status_code, body if body.replace("_", "").isalpha() else None,
                            (response.headers or {}).get("Retry-After"))
        return None, None

    def find_copy(self, event_payload: dict, since: datetime, thread_ts: str | None = None,
                  channel: str | None = None) -> tuple[str, str] | None:
        """(channel id, ts) of a message posted since ``since`` whose afkit metadata is ``event_payload``: a message
        an earlier attempt posted although its deliverer never heard back. Top-level messages are in the channel's
        history; replies only in their thread."""
        channel = channel or self.channel_id()
        if channel is None:
            return None
        oldest = f"{since.timestamp():.6f}"
        cursor = None
        try:
            for _ in range(HISTORY_PAGES):
                if thread_ts:
                    page = self._web.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest, limit=200,
                                                           include_all_metadata=True, cursor=cursor)
                else:
                    page = self._web.conversations_history(channel=channel, oldest=oldest, limit=200,
                                                           include_all_metadata=True, cursor=cursor)
                for message in page.get("messages") or []:
                    meta = message.get("metadata") or {}
                    if meta.get("event_type") == ALERT_EVENT_TYPE and meta.get("event_payload") == event_payload:
                        return channel, message["ts"]
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not page.get("has_more") or not cursor:
                    return None
        except (SlackApiError, OSError) as exc:
            raise translated(exc) from None
        return None

    def channel_id(self) -> str | None:
        """The alert channel's id, which the history needs: the configured value when it is an id, else learnt from
        a post or looked up by name (``conversations.list``, scope channels:read)."""
        configured = (self.target.channel or "").lstrip("#")
        if CHANNEL_ID.fullmatch(configured):
            return configured
        if self._channel_id is None:
            cursor = None
            try:
                while True:
                    page = self._web.conversations_list(types="public_channel,private_channel", limit=1000,
                                                        exclude_archived=True, cursor=cursor)
                    found = next((c["id"] for c in page.get("channels") or [] if c.get("name") == configured), None)
                    cursor = (page.get("response_metadata") or {}).get("next_cursor")
                    if found or not cursor:
                        self._channel_id = found
                        break
            except (SlackApiError, OSError) as exc:
                raise translated(exc) from None
        return self._channel_id


# -- the outbox -----------------------------------------------------------------------------------------------------


def notification_record(note: Notification, airflow_url: str | None = None, sequence: str = "", *,
                        opened: dict | None = None, changes: dict | None = None) -> AlertRecord:
    """One notification as the outbox keeps it, with the alert change it comes from (the alert to open, ``opened``,
    or its ``changes``): stored together (``StateStore.record_alerts``), and once (the dedupe key)."""
    message = build_message(note, airflow_url)
    fields = notification_fields(note, _title(message), unescape(message["text"]), airflow_url)
    return AlertRecord(note.alert_id, f"{note.alert_id}:{note.kind}:{sequence}", note.kind,
                       {**message, "fields": fields}, opened, changes)


def cadence_payload(report: CadenceReport, alert_id: str, airflow_url: str | None = None) -> dict:
    """A cadence change's message as the outbox keeps it: Slack's text and blocks, and the fields other sinks get."""
    message = build_cadence_message(report, airflow_url)
    return {**message, "fields": cadence_fields(report, alert_id, _title(message), unescape(message["text"]),
                                                airflow_url)}


def _title(message: dict) -> str:
    """The message's title as a person reads it (other sinks than Slack get it unescaped)."""
    return unescape(message["text"].split(" — ", 1)[0])


@dataclass
class DeliveryReport:
    sent: int = 0
    waiting: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_outbox(store: StateStore, sender: SlackSender, now: datetime) -> DeliveryReport:
    """Send what is due, oldest first; see the module's docstring for what each failure does. A reply waits until
    its alert's first message has a thread to reply in (or goes out on its own if that message failed)."""
    report = DeliveryReport()
    for message in store.claim_outbox(now, (SLACK_SINK,)):
        alert = store.alert(message["alert_id"]) or {}
        thread = None
        if message["kind"] != "open" and sender.target.threads:
            thread = alert.get("thread_ts")
            if thread is None and not store.opening_failed(message["alert_id"]):
                store.finish_outbox(message["id"], "pending", now, "waiting for the alert's first message",
                                    retry_at=now)
                report.waiting += 1
                continue
        identity = {"alert_id": message["alert_id"], "message": message["dedupe_key"]}
        try:
            channel, ts = _deliver_once(sender, message, thread, identity, alert.get("channel"))
        except SlackSendError as exc:
            if exc.retry:
                backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(message["attempts"], 9)))
                if exc.retry_after:
                    backoff = max(backoff, timedelta(seconds=exc.retry_after))
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


def _deliver_once(sender: SlackSender, message: dict, thread: str | None, identity: dict,
                  channel: str | None) -> tuple[str | None, str | None]:
    """Post a claimed message, unless an earlier attempt did: a message tried before is first looked up by its afkit
    metadata, from just before that attempt, and adopted when found. A rich message Slack refuses is sent once more
    as plain text."""
    if message["attempts"] > 1 and sender.finds_copies:
        since = (message["previous_attempt_at"] or message["created_at"]) - COPY_SEARCH_MARGIN
        try:
            found = sender.find_copy(identity, since, thread, channel)
        except SlackSendError as exc:
            if exc.retry:
                raise  # Slack is busy or away: look again later
            # The lookup is refused for good (a missing scope): a possible duplicate beats a lost alert.
            log.warning("slack: cannot look for an earlier copy of message %s (%s); posting it again",
                        message["dedupe_key"], exc)
            found = None
        if found is not None:
            log.info("slack: message %s was posted by an earlier attempt; adopted", message["dedupe_key"])
            return found
    metadata = {"event_type": ALERT_EVENT_TYPE, "event_payload": identity}
    try:
        return sender.send(message["payload"], thread_ts=thread, metadata=metadata)
    except SlackSendError as exc:
        if not exc.rejected_content:
            raise
        try:
            return sender.send(plain_text(message["payload"]), thread_ts=thread, metadata=metadata)
        except SlackSendError as again:
            raise SlackSendError(f"{exc}; its plain-text version too: {again}", retry=again.retry, code=again.code,
                                 retry_after=again.retry_after) from None
