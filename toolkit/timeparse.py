"""Turning what operators type into exact UTC instants and partition selections (pure; "now" is a parameter).

Accepted instants: ``YYYY-MM-DD`` (midnight UTC), ISO datetimes *with* a zone (``2026-11-01T06:00:00-08:00``,
``…Z``), ``now``, ``today``, ``yesterday``, and relative forms ``-30d``, ``-12h``, ``-90m``, ``-2w``.
A datetime without a zone is refused: guessing the zone is how backfills end up an offset off.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from toolkit.errors import BadInput

RELATIVE = re.compile(r"^-(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_instant(text: str, now: datetime, *, option: str = "date") -> datetime:
    """Parse one instant; ``option`` names the flag in error messages (e.g. ``--from``)."""
    value = text.strip()
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    lowered = value.lower()
    if lowered == "now":
        return now.astimezone(timezone.utc)
    if lowered == "today":
        return midnight
    if lowered == "yesterday":
        return midnight - timedelta(days=1)
    match = RELATIVE.match(lowered)
    if match:
        return now.astimezone(timezone.utc) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=timezone.utc)
        except ValueError as exc:
            raise BadInput(f"{option} {text!r} is not a valid date ({exc})") from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{option} {text!r} is not a date: use YYYY-MM-DD, an ISO datetime with zone "
            "(2026-11-01T06:00:00Z), now, today, yesterday, or -30d / -12h / -90m / -2w"
        ) from None
    if parsed.tzinfo is None:
        raise BadInput(f"{option} {text!r} has no time zone: add Z or an offset such as +02:00")
    return parsed.astimezone(timezone.utc)


@dataclass(frozen=True)
class PartitionSelection:
    """``--partitions``: an explicit list of keys, or an inclusive key range ``FIRST..LAST``."""

    keys: tuple[str, ...] = ()
    first: str | None = None
    last: str | None = None

    @property
    def is_range(self) -> bool:
        return self.first is not None

    def selects(self, key: str | None) -> bool:
        if key is None:
            return False
        if self.is_range:
            return self.first <= key <= self.last  # keys of one timetable share a format: string order is time order
        return key in self.keys

    def selects_instant(self, moment: datetime | None) -> bool:
        """For a DAG without partition keys: the keys are dates (``2026-11-01``, or a logical date in ISO form as the
        terminal app's grid sends them), compared as instants."""
        if moment is None:
            return False
        if self.is_range:
            first, last = key_instant(self.first), key_instant(self.last)
            return first is not None and last is not None and first <= moment <= last
        return moment in self._instants

    @functools.cached_property
    def _instants(self) -> frozenset[datetime]:
        return frozenset(i for i in map(key_instant, self.keys) if i is not None)

    def to_dict(self) -> dict:
        return {"keys": list(self.keys), "first": self.first, "last": self.last}


def parse_partitions(text: str) -> PartitionSelection:
    value = text.strip()
    if ".." in value:
        first, _, last = value.partition("..")
        first, last = first.strip(), last.strip()
        if not first or not last:
            raise BadInput(f"--partitions {text!r}: a range needs both ends, e.g. 2026-11-01..2026-11-07")
        if first > last:
            raise BadInput(f"--partitions {text!r}: the first key {first!r} comes after the last {last!r}")
        return PartitionSelection(first=first, last=last)
    keys = tuple(dict.fromkeys(k.strip() for k in value.split(",") if k.strip()))
    if not keys:
        raise BadInput("--partitions is empty: give KEY[,KEY…] or FIRST..LAST")
    return PartitionSelection(keys=keys)


def key_instant(key: str) -> datetime | None:
    """The UTC instant a date-like partition key names (``2026-11-01``, ``2026-11-01T06:00:00``), else None."""
    try:
        parsed = datetime.fromisoformat(key.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def selection_bounds(selection: PartitionSelection) -> tuple[datetime, datetime] | None:
    """The instants spanning the selected keys, when the keys are date-like (used when --from/--to are omitted)."""
    keys = (selection.first, selection.last) if selection.is_range else selection.keys
    instants = [key_instant(k) for k in keys]
    if any(i is None for i in instants):
        return None
    return min(instants), max(instants)
