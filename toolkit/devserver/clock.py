"""The demo's clock: how much story time one real second stands for, shared by the launcher and the example DAGs.

``afkit demo --story postmortem`` replays an incident measured in minutes and hours in a few real minutes. It does
not fake time: the DAGs really run on a shorter schedule and really work for a shorter while, so every event time
the SLA and cadence models judge is real. The compression is one number, the scale (story seconds per real second,
1 outside the story), which the launcher gives every Airflow component in ``AFKIT_DEMO_TIME_SCALE`` and which the
DAG files read when parsed (and their tasks when they run). Pure and dependency-free: DAG files import it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from datetime import timedelta

TIME_SCALE_ENV = "AFKIT_DEMO_TIME_SCALE"
MAX_SCALE = 600  # 1 real second = 10 story minutes: beyond that a 5-minute cadence is under a second

log = logging.getLogger(__name__)


def check_scale(value: float) -> float:
    """The scale, or ValueError saying what is wrong (for the CLI to turn into a message with its flag)."""
    if not math.isfinite(value) or not 1 <= value <= MAX_SCALE:
        raise ValueError(f"time scale {value:g} is not between 1 (real time) and {MAX_SCALE}")
    return value


def time_scale(env: Mapping[str, str] | None = None) -> float:
    """The scale in force. A DAG file must parse whatever the environment holds, so a bad value is logged and the
    clock runs in real time (the launcher refuses bad values before Airflow starts, so this is a hand-edited env)."""
    raw = (os.environ if env is None else env).get(TIME_SCALE_ENV)
    if not raw:
        return 1.0
    try:
        return check_scale(float(raw))
    except ValueError as exc:
        log.warning("%s=%r ignored (%s); the demo runs in real time", TIME_SCALE_ENV, raw, exc)
        return 1.0


def story(duration: timedelta, scale: float | None = None) -> timedelta:
    """The real duration that plays ``duration`` of story time."""
    return duration / (time_scale() if scale is None else scale)


def story_text(duration: timedelta, scale: float | None = None) -> str:
    """``story(duration)`` as an SLA duration string in its largest whole unit ("45m" in real time, "45s" at 1 s =
    1 min), rounded to whole seconds and at least one."""
    seconds = max(1, round(story(duration, scale).total_seconds()))
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe_scale(scale: float) -> str:
    """How the terminal states the scale: "1 s = 1 min"."""
    if scale == 1:
        return "real time"
    minutes = scale / 60
    story_unit = f"{minutes:g} min" if minutes >= 1 else f"{scale:g} s"
    return f"1 s = {story_unit}"
