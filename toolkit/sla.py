"""Freshness SLAs declared next to the assets, in DAG code, inside the asset's ``extra`` (pure, no Airflow import).

Example, in a DAG file::

    from toolkit.sla import deadline, max_lag, with_slas

    MART = Asset("mart.daily_revenue", extra=with_slas(
        {"owner": "analytics-eng"},
        deadline("0 6 * * *", "America/Los_Angeles", owners=["#analytics-oncall"], runbook="https://…", min_rows=1),
    ))

The helpers never raise. A DAG file must keep importing even with a typo in its SLA, so mistakes are caught by
:func:`parse_slas`: that one SLA becomes an :class:`InvalidSLA` with a reason, and every other SLA is still
evaluated. SLAs are versioned with the pipeline and visible through ``GET /api/v2/assets`` (the asset's ``extra``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SLA_KEY = "afkit_sla"
KINDS = ("deadline", "max_lag")
SEVERITIES = ("info", "warning", "critical")
EXPECTATIONS = ("previous_day", "previous_hour")
COMMON_FIELDS = {"kind", "name", "owners", "severity", "runbook", "min_rows"}
FIELDS = {
    "deadline": COMMON_FIELDS | {"cron", "timezone", "expect", "max_age"},
    "max_lag": COMMON_FIELDS | {"warn_after", "fail_after"},
}
DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _common(owners: list[str] | str, severity: str, runbook: str | None, min_rows: int | None,
            name: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"owners": [owners] if isinstance(owners, str) else list(owners), "severity": severity}
    if runbook is not None:
        spec["runbook"] = runbook
    if min_rows is not None:
        spec["min_rows"] = min_rows
    if name is not None:
        spec["name"] = name
    return spec


def deadline(cron: str, timezone: str, *, owners: list[str] | str, expect: str = "previous_day",
             max_age: str | None = None, severity: str = "critical", runbook: str | None = None,
             min_rows: int | None = None, name: str | None = None) -> dict[str, Any]:
    """At every ``cron`` tick (in ``timezone``), the asset must be fresh.

    What counts as fresh: with ``expect="previous_day"``, the partition of the previous local day (its key, for a
    partitioned asset) or an update since that day ended; ``previous_hour`` works the same way by hour. With
    ``max_age="6h"``, an update no older than that at the deadline.
    """
    spec = {"kind": "deadline", "cron": cron, "timezone": timezone}
    if max_age is not None:
        spec["max_age"] = max_age
    else:
        spec["expect"] = expect
    return {**spec, **_common(owners, severity, runbook, min_rows, name)}


def max_lag(*, warn_after: str, fail_after: str, owners: list[str] | str, severity: str = "warning",
            runbook: str | None = None, min_rows: int | None = None, name: str | None = None) -> dict[str, Any]:
    """The asset must have been updated within ``fail_after`` (at risk after ``warn_after``), e.g. "45m", "2h"."""
    return {"kind": "max_lag", "warn_after": warn_after, "fail_after": fail_after,
            **_common(owners, severity, runbook, min_rows, name)}


def with_slas(extra: dict[str, Any], *slas: dict[str, Any]) -> dict[str, Any]:
    """The asset ``extra`` with these SLAs added (kept under one key so they never clash with other metadata)."""
    return {**extra, SLA_KEY: [*extra.get(SLA_KEY, []), *slas]}


# -- reading them back -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SLA:
    asset: str
    name: str
    kind: str
    owners: tuple[str, ...]
    severity: str = "critical"
    runbook: str | None = None
    min_rows: int | None = None
    cron: str | None = None
    timezone: str | None = None
    expect: str | None = None
    max_age: timedelta | None = None
    warn_after: timedelta | None = None
    fail_after: timedelta | None = None

    @property
    def key(self) -> str:
        return f"{self.asset}#{self.name}"


@dataclass(frozen=True)
class InvalidSLA:
    asset: str
    name: str
    reason: str

    @property
    def key(self) -> str:
        return f"{self.asset}#{self.name}"


class _Invalid(ValueError):
    pass


MAX_DURATION_SECONDS = 3660 * 86400  # ten years: longer is a typo, and timedelta overflows far beyond


def parse_duration(value: object, field: str) -> timedelta:
    if isinstance(value, bool):
        raise _Invalid(f"{field} {value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds) or seconds > MAX_DURATION_SECONDS:
            raise _Invalid(f"{field} {value!r} is not a finite duration of at most {MAX_DURATION_SECONDS // 86400} days")
    else:
        match = DURATION.match(str(value))
        if not match:
            raise _Invalid(f"{field} {value!r} is not a duration such as 90m, 6h or 1d")
        digits = match.group(1)
        seconds = int(digits) * UNIT_SECONDS[match.group(2)] if len(digits) <= 12 else MAX_DURATION_SECONDS + 1
        if seconds > MAX_DURATION_SECONDS:
            raise _Invalid(f"{field} {value!r} is longer than {MAX_DURATION_SECONDS // 86400} days")
    if seconds <= 0:
        raise _Invalid(f"{field} {value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def _valid_cron(cron: object) -> str:
    if not isinstance(cron, str) or not _cron_ok(cron):
        raise _Invalid(f"cron {cron!r} is not a valid cron expression")
    return cron


@lru_cache(maxsize=1024)
def _cron_ok(cron: str) -> bool:
    """Cached: validating a cron costs ~20 µs, and thousands of SLAs share a few expressions."""
    from croniter import croniter

    return croniter.is_valid(cron)


@lru_cache(maxsize=1024)
def _zone_ok(tz: str) -> bool:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _parse_one(asset: str, raw: Any, index: int) -> SLA:
    if not isinstance(raw, dict):
        raise _Invalid("must be an object made by toolkit.sla.deadline() or max_lag()")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _Invalid(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    unknown = sorted(set(raw) - FIELDS[kind])
    if unknown:
        raise _Invalid(f"unknown field(s) {', '.join(unknown)} for a {kind} SLA")
    owners = raw.get("owners")
    if not isinstance(owners, list) or not owners or not all(isinstance(o, str) and o.strip() for o in owners):
        raise _Invalid("owners must be a non-empty list of Slack handles or channels")
    severity = raw.get("severity", "critical")
    if severity not in SEVERITIES:
        raise _Invalid(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    runbook = raw.get("runbook")
    if runbook is not None and not (isinstance(runbook, str) and runbook.startswith(("http://", "https://"))):
        raise _Invalid(f"runbook {runbook!r} must be an http(s) URL")
    min_rows = raw.get("min_rows")
    if min_rows is not None and (isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0):
        raise _Invalid(f"min_rows {min_rows!r} must be a whole number, 0 or more")
    common = {"asset": asset, "kind": kind, "owners": tuple(owners), "severity": severity, "runbook": runbook,
              "min_rows": min_rows}
    if kind == "deadline":
        cron = _valid_cron(raw.get("cron"))
        tz = raw.get("timezone")
        if not _zone_ok(str(tz)):
            raise _Invalid(f"timezone {tz!r} is not an IANA time zone such as America/Los_Angeles")
        max_age = parse_duration(raw["max_age"], "max_age") if "max_age" in raw else None
        expect = raw.get("expect")
        if max_age is None and expect not in EXPECTATIONS:
            raise _Invalid(f"expect {expect!r} is not one of {', '.join(EXPECTATIONS)} (or give max_age)")
        if max_age is not None and expect is not None:
            raise _Invalid("give either expect or max_age, not both")
        name = raw.get("name") or f"deadline {cron} {tz}"
        return SLA(name=str(name), cron=cron, timezone=str(tz), expect=expect, max_age=max_age, **common)
    warn = parse_duration(raw.get("warn_after"), "warn_after")
    fail = parse_duration(raw.get("fail_after"), "fail_after")
    if warn >= fail:
        raise _Invalid(f"warn_after ({raw.get('warn_after')}) must be shorter than fail_after ({raw.get('fail_after')})")
    name = raw.get("name") or f"max lag {raw.get('fail_after')}"
    return SLA(name=str(name), warn_after=warn, fail_after=fail, **common)


def parse_slas(asset: str, extra: dict[str, Any] | None) -> list[SLA | InvalidSLA]:
    """Every SLA declared on an asset; broken ones come back as :class:`InvalidSLA`, never as an exception."""
    declared = (extra or {}).get(SLA_KEY)
    if declared is None:
        return []
    if not isinstance(declared, list):
        return [InvalidSLA(asset, "sla", f"extra[{SLA_KEY!r}] must be a list of SLAs")]
    found: list[SLA | InvalidSLA] = []
    for index, raw in enumerate(declared):
        fallback = raw.get("name") if isinstance(raw, dict) and raw.get("name") else f"sla[{index}]"
        try:
            found.append(_parse_one(asset, raw, index))
        except _Invalid as exc:
            found.append(InvalidSLA(asset, str(fallback), str(exc)))
    return found
