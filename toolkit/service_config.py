"""Configuration of afkit's server side (the plugin inside Airflow, ``afkit watch``): one TOML file.

Location: ``$AFKIT_CONFIG``, else ``$AIRFLOW_HOME/afkit.toml``; a missing file means defaults. Loading never raises:
a broken file must not stop Airflow's api-server, scheduler or dag-processor, so problems are collected in
``ServiceConfig.errors`` (shown by the plugin's health endpoint and ``afkit status``) and defaults are used instead.
Callers that should refuse to run on a broken file call :meth:`ServiceConfig.require_valid`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from toolkit.errors import BadInput, ConfigError
from toolkit.files import read_text_limited
from toolkit.core.throttle import ThrottlePolicy, parse_policy

MAX_CONFIG_BYTES = 1024 * 1024  # afkit.toml is a few dozen lines
# The sections of afkit.toml and the keys each accepts (docs/configuration.md lists them; a test checks it). [pools]
# is free-form here: its keys and its [pools.NAME] tables are toolkit.core.throttle's POOLS_KEYS and POOL_KEYS.
KNOWN_SECTIONS = {"state": {"url"}, "pools": None, "governor": {"poll_seconds", "resume_after_seconds"},
                  "alerts": {"renotify_after_minutes", "cadence_scan_seconds", "notifiers"}}
NOTIFIER_CLASS_KEY = "class"  # [alerts.notifiers.NAME]: the one key afkit reads; every other is the notifier's
NOTIFIER_NAME = re.compile(r"[A-Za-z0-9_-]{1,60}")  # a notifier's name: its outbox sink is "notifier:<name>"
CLASS_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class NotifierConfig:
    """``[alerts.notifiers.NAME]``: an Airflow ``BaseNotifier`` subclass (``class``, a dotted path) and the keyword
    arguments it is built with (every other key; string values are Jinja templates over the alert's fields)."""

    name: str
    class_path: str
    arguments: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceConfig:
    path: Path | None
    state_url: str | None = None  # [state] url (AFKIT_STATE_URL wins over it); None: the default state database
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    governor_poll_seconds: float = 10.0
    governor_resume_after_seconds: float = 20.0
    renotify_after_minutes: float = 60.0
    cadence_scan_seconds: float = 60.0  # afkit watch scans every asset's cadence this often (SLAs: every pass)
    notifiers: tuple[NotifierConfig, ...] = ()  # [alerts.notifiers.NAME]: Airflow notifiers that get every alert
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    def require_valid(self) -> ServiceConfig:
        if self.errors:
            raise ConfigError(f"afkit configuration {self.path} is invalid: " + "; ".join(self.errors))
        return self


def config_path(env: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    if env.get("AFKIT_CONFIG"):
        return Path(env["AFKIT_CONFIG"])
    if env.get("AIRFLOW_HOME"):
        return Path(env["AIRFLOW_HOME"]) / "afkit.toml"
    return None


def parse_service_config(text: str, path: Path | None = None) -> ServiceConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return ServiceConfig(path=path, errors=(f"not valid TOML: {exc}",))
    errors: list[str] = []
    for section, value in data.items():
        if section not in KNOWN_SECTIONS:
            errors.append(f"unknown section [{section}] (known: {', '.join(sorted(KNOWN_SECTIONS))})")
            continue
        if not isinstance(value, dict):
            errors.append(f"[{section}] must be a table")
            continue
        if KNOWN_SECTIONS[section] is None:  # free-form tables, validated below
            continue
        for key in sorted(set(value) - KNOWN_SECTIONS[section]):
            errors.append(f"unknown key {key!r} in [{section}] (known: {', '.join(sorted(KNOWN_SECTIONS[section]))})")
    state = data.get("state") if isinstance(data.get("state"), dict) else {}
    state_url = state.get("url")
    if state_url is not None and (not isinstance(state_url, str) or "://" not in state_url or len(state_url) > 2000):
        got = type(state_url).__name__ if not isinstance(state_url, str) else "a string without '://'"
        errors.append(f"[state] url must be a SQLAlchemy URL such as sqlite:////var/lib/afkit/state.db, got {got}")
        state_url = None
    throttle = ThrottlePolicy()
    try:
        throttle = parse_policy(data.get("pools"))
    except BadInput as exc:
        errors.append(str(exc))
    governor = data.get("governor") if isinstance(data.get("governor"), dict) else {}
    timings = {}
    for key, default, most in (("poll_seconds", 10.0, 3600), ("resume_after_seconds", 20.0, 86400)):
        value = governor.get(key, default)
        if not _positive(value, most):
            errors.append(f"[governor] {key} must be a positive number of seconds up to {most}, got {value!r}")
            value = default
        timings[key] = float(value)
    alerts = data.get("alerts") if isinstance(data.get("alerts"), dict) else {}
    renotify = alerts.get("renotify_after_minutes", 60.0)
    if not _positive(renotify, 525600):
        errors.append(f"[alerts] renotify_after_minutes must be a positive number of minutes up to 525600 (a year), "
                      f"got {renotify!r}")
        renotify = 60.0
    cadence_scan = alerts.get("cadence_scan_seconds", 60.0)
    if not _positive(cadence_scan, 86400):
        errors.append(f"[alerts] cadence_scan_seconds must be a positive number of seconds up to 86400 (a day), "
                      f"got {cadence_scan!r}")
        cadence_scan = 60.0
    notifiers = _notifiers(alerts.get("notifiers", {}), errors)
    return ServiceConfig(path=path, state_url=state_url, throttle=throttle, renotify_after_minutes=float(renotify),
                         cadence_scan_seconds=float(cadence_scan), notifiers=notifiers,
                         governor_poll_seconds=timings["poll_seconds"],
                         governor_resume_after_seconds=timings["resume_after_seconds"], errors=tuple(errors))


def _notifiers(tables: object, errors: list[str]) -> tuple[NotifierConfig, ...]:
    """``[alerts.notifiers.NAME]`` tables; a broken one is reported and left out (the others still work)."""
    if not isinstance(tables, dict):
        errors.append("[alerts] notifiers must be tables: [alerts.notifiers.NAME] with a class key")
        return ()
    found = []
    for name, table in tables.items():
        where = f"[alerts.notifiers.{name}]"
        if not NOTIFIER_NAME.fullmatch(name):
            errors.append(f"{where}: a notifier's name is 1 to 60 letters, digits, '-' or '_'")
            continue
        if not isinstance(table, dict):
            errors.append(f"{where} must be a table with a class key")
            continue
        class_path = table.get(NOTIFIER_CLASS_KEY)
        if not isinstance(class_path, str) or not CLASS_PATH.fullmatch(class_path):
            errors.append(f"{where} class must be the dotted path of an Airflow notifier class, such as "
                          f"airflow.providers.slack.notifications.slack.SlackNotifier, got {class_path!r}")
            continue
        found.append(NotifierConfig(name, class_path, {k: v for k, v in table.items() if k != NOTIFIER_CLASS_KEY}))
    return tuple(found)


def _positive(value: object, most: float) -> bool:
    """A finite number above 0 and at most ``most`` (TOML allows nan and inf; sleeping or adding those fails)."""
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and 0 < value <= most)


def load_service_config(env: Mapping[str, str] | None = None) -> ServiceConfig:
    path = config_path(env)
    if path is None or (not path.exists() and not path.is_symlink()):
        return ServiceConfig(path=path)
    try:
        text = read_text_limited(path, "afkit configuration", limit=MAX_CONFIG_BYTES)
    except BadInput as exc:  # the bounded reader names the file; the error list names it again, so keep the reason
        reason = str(exc).removeprefix(f"afkit configuration {path} ")
        return ServiceConfig(path=path, errors=(reason,))
    return parse_service_config(text, path)
