"""Alert sinks that are Airflow notifiers: any ``BaseNotifier`` subclass named in afkit.toml gets every alert.

Teams already route task failures through notifiers (the Slack, SMTP or PagerDuty providers'); naming one in
``[alerts.notifiers.NAME]`` routes afkit's alerts the same way::

    [alerts.notifiers.oncall_mail]
    class = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    to = "oncall@example.org"
    subject = "[afkit] {{ afkit.title }}"
    html_content = "{{ afkit.text }}"

Every key but ``class`` is an argument of the notifier; its templated arguments are rendered over the context
``{"afkit": fields}`` (``toolkit.core.alert_fields``). A notifier renders its arguments into itself, so each message
gets a new instance. Each notifier has its own outbox rows (sink ``notifier:NAME``): a failing one retries with
backoff, up to ``NOTIFIER_ATTEMPTS``, without holding back Slack or the others. Delivery is at least once: a
notifier says nothing a later attempt could look up.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from toolkit.errors import ConfigError
from toolkit.service_config import NotifierConfig
from toolkit.slack import MAX_BACKOFF, DeliveryReport
from toolkit.state import StateStore, notifier_sink

log = logging.getLogger(__name__)

NOTIFIER_ATTEMPTS = 5  # a notifier's failures cannot be told apart (transient or not): this many, then failed
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")  # an error may quote a webhook URL or a DSN: never shown


@dataclass(frozen=True)
class NotifierSink:
    """One configured notifier: how to build it, and the outbox sink it reads."""

    name: str
    notifier_class: type
    arguments: dict[str, Any]

    @property
    def sink(self) -> str:
        return notifier_sink(self.name)

    def notify(self, fields: dict) -> None:
        self.notifier_class(**self.arguments)({"afkit": fields})


def load_notifiers(configs: tuple[NotifierConfig, ...]) -> list[NotifierSink]:
    """Import and check every configured notifier once, at start: a class that cannot be imported, is not a
    notifier, or refuses its arguments is a ConfigError naming the notifier."""
    if not configs:
        return []
    try:
        from airflow.sdk.bases.notifier import BaseNotifier
    except ImportError:
        raise ConfigError("afkit.toml names notifiers ([alerts.notifiers]), which need Airflow installed where afkit "
                          "watch runs (pip install 'afkit[airflow]')") from None
    sinks = []
    for config in configs:
        where = f"[alerts.notifiers.{config.name}]"
        module_name, _, class_name = config.class_path.rpartition(".")
        try:
            notifier_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{where}: cannot import {config.class_path} ({type(exc).__name__}: {exc}); is its "
                              "provider installed?") from None
        if not (isinstance(notifier_class, type) and issubclass(notifier_class, BaseNotifier)):
            raise ConfigError(f"{where}: {config.class_path} is not an Airflow notifier (a BaseNotifier subclass)")
        sink = NotifierSink(config.name, notifier_class, dict(config.arguments))
        try:
            notifier_class(**sink.arguments)
        except Exception as exc:  # noqa: BLE001 - whatever the notifier's constructor says, named and redacted
            raise ConfigError(f"{where}: {config.class_path} refused its arguments ({_described(exc)})") from None
        sinks.append(sink)
    return sinks


def deliver_to_notifiers(store: StateStore, sinks: list[NotifierSink], now: datetime) -> DeliveryReport:
    """Hand every due message of the notifiers' sinks to its notifier, oldest first."""
    report = DeliveryReport()
    by_sink = {sink.sink: sink for sink in sinks}
    for message in store.claim_outbox(now, tuple(by_sink)):
        sink = by_sink[message["sink"]]
        fields = message["payload"].get("fields") or {"title": message["payload"].get("text", ""),
                                                      "text": message["payload"].get("text", "")}
        try:
            sink.notify(fields)
        except Exception as exc:  # noqa: BLE001 - a notifier may raise anything; the next message still goes
            error = f"notifier {sink.name}: {_described(exc)}"
            if message["attempts"] >= NOTIFIER_ATTEMPTS:
                store.finish_outbox(message["id"], "failed", now, f"{error} (after {message['attempts']} attempts)")
                report.failed += 1
            else:
                backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(message["attempts"], 9)))
                store.finish_outbox(message["id"], "pending", now, error, retry_at=now + backoff)
                report.waiting += 1
            report.errors.append(error)
            log.warning("%s", error)
            continue
        store.finish_outbox(message["id"], "sent", now)
        report.sent += 1
    return report


def _described(exc: BaseException) -> str:
    """An exception in one line, without any URL it quotes (webhooks and DSNs carry secrets)."""
    text = " ".join(str(exc).split())
    text = URL.sub("<url>", text)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
