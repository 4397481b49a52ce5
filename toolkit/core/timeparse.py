"""Turning what operators type into exact UTC instants and partition selections (pure; "now" is a parameter).

Accepted instants: ``YYYY-MM-DD`` (midnight UTC), ISO datetimes *with* a zone (``2026-11-01T06:00:00-08:00``,
``…Z``), ``now``, ``today``, ``yesterday``, and relative forms ``-30d``, ``-12h``, ``-90m``, ``-2w`` (and ``+2h``
ahead of now, for a start that is still to come).
A datetime without a zone is refused: guessing the zone is how backfills end up an offset off.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from toolkit.errors import BadInput

RELATIVE = re.compile(r"^([-+])(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# The instants afkit accepts. Airflow stores any datetime, but nothing outside these years is a backfill anyone
# means, and arithmetic near datetime's own limits (year 1 and 9999) overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(3000, 1, 1, tzinfo=timezone.utc)
LOOKS_LIKE_A_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def _shown(text: object, limit: int = 60) -> str:
    """An input quoted for a message, shortened: a message names the input, it does not repeat 5,000 characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "…" + shown[-3:]


def parse_instant(text: str, now: datetime, *, option: str = "date") -> datetime:
    """Parse one instant; ``option`` names the input in error messages (e.g. ``--from``, or ``from`` in the TUI).

    Every way an input can overflow (``-800000d``, a zone offset at year 9999 …) ends here as :class:`BadInput`.
    """
    try:
        parsed = _parse_instant(text, now, option)
    except OverflowError:
        parsed = None
    if parsed is None or not EARLIEST <= parsed < LATEST:
        raise BadInput(f"{option} {_shown(text)} is out of range: afkit accepts instants from {EARLIEST:%Y-%m-%d} "
                       f"to before {LATEST:%Y-%m-%d}")
    return parsed


def _parse_instant(text: str, now: datetime, option: str) -> datetime | None:
    if not isinstance(text, str):
        raise BadInput(f"{option} {_shown(text)} is not a date")
    value = text.strip()
    if not value:
        raise BadInput(f"{option} is empty: give a date such as 2026-11-01, or -30d")
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
        sign, amount, unit = match.groups()
        if len(amount) > 9:  # nothing that long is in range (and int() refuses 4300 digits)
            return None
        offset = timedelta(**{UNITS[unit]: int(amount)})
        return now.astimezone(timezone.utc) + (offset if sign == "+" else -offset)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=timezone.utc)
        except ValueError as exc:
            raise BadInput(f"{option} {_shown(text)} is not a valid date ({exc})") from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{option} {_shown(text)} is not a date: use YYYY-MM-DD, an ISO datetime with zone "
            "(2026-11-01T06:00:00Z), now, today, yesterday, or -30d / -12h / -90m / -2w / +2h"
        ) from None
    if parsed.tzinfo is None:
        raise BadInput(f"{option} {_shown(text)} has no time zone: add Z or an offset such as +02:00")
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


def parse_partitions(text: str, option: str = "partitions") -> PartitionSelection:
    """``KEY[,KEY…]`` or ``FIRST..LAST``; ``option`` names the input in messages. Each message says what is wrong:
    an empty list, a range missing an end, a range mixed with a list, a date-like key that is no date, a reversed
    range, or dates mixed with other keys."""
    value = text.strip()
    if not value:
        raise BadInput(f"{option} is empty: give KEY[,KEY…] or FIRST..LAST")
    if ".." in value:
        first, _, last = value.partition("..")
        first, last = first.strip(), last.strip()
        if ".." in last:
            raise BadInput(f"{option} {_shown(text)}: a range has one '..' (FIRST..LAST)")
        if "," in first or "," in last:
            raise BadInput(f"{option} {_shown(text)}: give either a list KEY,KEY… or one range FIRST..LAST, not both")
        if not first or not last:
            raise BadInput(f"{option} {_shown(text)}: a range needs both ends, e.g. 2026-11-01..2026-11-07")
        _check_keys((first, last), text, option)
        first_at, last_at = key_instant(first), key_instant(last)
        reversed_ = first_at > last_at if first_at is not None and last_at is not None else first > last
        if reversed_:
            raise BadInput(f"{option} {_shown(text)}: the first key {first!r} comes after the last {last!r}; "
                           f"write {last}..{first}")
        return PartitionSelection(first=first, last=last)
    raw = [k.strip() for k in value.split(",")]
    if any(not k for k in raw):
        if not any(raw):
            raise BadInput(f"{option} {_shown(text)} names no key: give KEY[,KEY…] or FIRST..LAST")
        raise BadInput(f"{option} {_shown(text)} has an empty key between commas")
    keys = tuple(dict.fromkeys(raw))
    _check_keys(keys, text, option)
    return PartitionSelection(keys=keys)


def _check_keys(keys: tuple[str, ...], text: str, option: str) -> None:
    dates = 0
    for key in keys:
        instant = key_instant(key)
        if instant is not None:
            if not EARLIEST <= instant < LATEST:
                raise BadInput(f"{option} {_shown(text)}: key {_shown(key)} is out of range (years {EARLIEST.year} to "
                               f"{LATEST.year - 1})")
            dates += 1
        elif LOOKS_LIKE_A_DATE.match(key):
            raise BadInput(f"{option} {_shown(text)}: key {_shown(key)} looks like a date but is not a valid one")
    if 0 < dates < len(keys):
        raise BadInput(f"{option} {_shown(text)} mixes dates and other keys: give keys of one kind")


def key_instant(key: str) -> datetime | None:
    """The UTC instant a date-like partition key names (``2026-11-01``, ``2026-11-01T06:00:00``), else None."""
    try:
        parsed = datetime.fromisoformat(key.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def selection_bounds(selection: PartitionSelection) -> tuple[datetime, datetime] | None:
    """The instants spanning the selected keys, when the keys are date-like (used when --from/--to are omitted)."""
    keys = (selection.first, selection.last) if selection.is_range else selection.keys
    instants = [key_instant(k) for k in keys]
    if any(i is None for i in instants):
        return None
    return min(instants), max(instants)
