"""Which path a board comes by: the afkit plugin (computed from the metadata database, one request) or the REST API
(one request per asset and more).

Every board service asks here first, so the watcher, the CLI and the TUI take the same path. The plugin is used when
its health says it speaks this afkit's ``API_VERSION``; otherwise, or when its answer fails (a 500, a timeout, JSON of
another shape), the read is made through REST and the reason is kept, to be shown once: the board is the same either
way, only slower. Permission errors are not a reason to switch: REST would refuse the same user.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from weakref import WeakKeyDictionary

from toolkit.airflow import AirflowClient
from toolkit.core.allocation import allocation_burst
from toolkit.core.plugin_api import API_VERSION, UnreadableBoard
from toolkit.errors import AirflowServerError, AirflowUnreachable, ConfigError, NotFound

log = logging.getLogger(__name__)
PLUGIN, REST = "plugin", "rest"
RECHECK_SECONDS = 60.0  # a long-running watcher notices a plugin installed, upgraded or removed within a minute
BOARDS_ENV = "AFKIT_BOARDS"  # "rest" forces the REST path (troubleshooting, benchmarks); "auto", the default
T = TypeVar("T")


@dataclass(frozen=True)
class PathUsed:
    path: str  # plugin | rest
    note: str | None = None  # why REST, when the plugin was not usable

    def describe(self) -> str:
        return "the afkit plugin" if self.path == PLUGIN else f"the REST API ({self.note})" if self.note else "REST"


_checked: WeakKeyDictionary = WeakKeyDictionary()  # client -> (monotonic time, usable, note)


def plugin_usable(client: AirflowClient, now: float | None = None) -> tuple[bool, str | None]:
    """Whether the plugin can serve boards to this afkit, and if not, why (asked at most once a minute)."""
    forced = os.environ.get(BOARDS_ENV, "auto").strip().lower()
    if forced not in ("auto", "rest"):
        raise ConfigError(f"{BOARDS_ENV}={os.environ[BOARDS_ENV]!r} is not auto or rest")
    if forced == "rest":
        return False, f"{BOARDS_ENV}=rest"
    now = time.monotonic() if now is None else now
    cached = _checked.get(client)
    if cached is not None and now - cached[0] < RECHECK_SECONDS:
        return cached[1], cached[2]
    try:
        health = client.plugins.afkit_health()
    except (AirflowServerError, AirflowUnreachable) as exc:
        usable, note = False, f"the afkit plugin's health could not be read ({exc})"
    else:
        if health is None:
            usable, note = False, "the afkit plugin is not installed in this Airflow"
        elif health.get("api") != API_VERSION:
            found = health.get("api") or "none (a plugin older than versioning)"
            usable, note = False, (f"the afkit plugin speaks API version {found} and this afkit {API_VERSION}: "
                                   "upgrade one of them for the fast path")
        else:
            usable, note = True, None
    if cached is None or cached[1:] != (usable, note):
        if note:
            log.warning("boards through the REST API: %s", note)
    _checked[client] = (now, usable, note)
    return usable, note


def read(client: AirflowClient, what: str, from_plugin: Callable[[], T], from_rest: Callable[[], T]) -> tuple[T, PathUsed]:
    """``what`` through the plugin when it is usable, else (or when its answer fails) through REST."""
    usable, note = plugin_usable(client)
    if usable:
        try:
            with allocation_burst():  # a board of 20,000 statuses is read back into as many dataclasses
                return from_plugin(), PathUsed(PLUGIN)
        # NotFound: the plugin was removed (or downgraded) since its health was read.
        except (AirflowServerError, AirflowUnreachable, UnreadableBoard, NotFound) as exc:
            note = f"the afkit plugin's {what} failed ({exc})"
            log.warning("%s: read through the REST API instead", note)
    return from_rest(), PathUsed(REST, note)
