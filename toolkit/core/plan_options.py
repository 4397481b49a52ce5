"""Backfill plan options from what a person typed: the CLI's flags and the terminal app's inputs share this.

Messages name each input by the word the caller uses for it (``NAMES``: neutral words; the CLI passes its flags).
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from toolkit.errors import BadInput
from toolkit.core.planning import PlanOptions
from toolkit.core.throttle import ThrottlePolicy, parse_amount, parse_assignments
from toolkit.core.timeparse import key_instant, parse_instant, parse_partitions, selection_bounds

NAMES = {"from_": "from", "to": "to", "partitions": "partitions", "reserve": "reserve", "backfill_cap": "backfill cap",
         "start_after": "start after"}


def throttle_policy(configured: ThrottlePolicy, reserve: tuple[str, ...], backfill_cap: tuple[str, ...],
                    names: Mapping[str, str] = NAMES) -> ThrottlePolicy:
    """The configured policy (afkit.toml's [pools], read by the caller) with this request's reserves and caps on top."""
    reserve_name, cap_name = names.get("reserve", "reserve"), names.get("backfill_cap", "backfill cap")
    reserves = {pool: parse_amount(value, f"{reserve_name} {pool}")
                for pool, value in parse_assignments(reserve, reserve_name).items()}
    caps = {}
    for pool, value in parse_assignments(backfill_cap, cap_name).items():
        amount = parse_amount(value, f"{cap_name} {pool}")
        if amount.percent:
            raise BadInput(f"{cap_name} {pool}={value}: give a number of slots")
        caps[pool] = int(amount.value)
    return configured.overridden(reserves, caps)


def build_options(from_: str | None, to: str | None, partitions: str | None, downstream: bool, reprocess: str,
                  order: str, max_active_runs: int, now: datetime, reserve: tuple[str, ...] = (),
                  backfill_cap: tuple[str, ...] = (), names: Mapping[str, str] = NAMES,
                  configured: ThrottlePolicy = ThrottlePolicy(), start_after: str | None = None) -> PlanOptions:
    """Validated options; ``None`` means "not given" (an empty string was given, and is refused as empty).

    The dates come from ``from_``/``to``, or from date-like partition keys; keys that are not dates (``eu,us``) need
    ``from_`` to say which runs they are looked for in.
    """
    name = {key: names.get(key, default) for key, default in NAMES.items()}
    policy = throttle_policy(configured, reserve, backfill_cap, names)
    selection = parse_partitions(partitions, name["partitions"]) if partitions is not None else None
    keys_are_dates = selection is not None and selection_bounds(selection) is not None
    if keys_are_dates and (from_ is not None or to is not None):
        given = name["from_"] if from_ is not None else name["to"]
        raise BadInput(f"{name['partitions']} {partitions!r} already names the dates; {given} cannot be combined "
                       "with date keys (give one or the other)")
    if keys_are_dates:
        start, end = selection_bounds(selection)
    elif from_ is None:
        if selection is not None:
            sample = next(k for k in (selection.keys or (selection.first,)) if key_instant(k) is None)
            raise BadInput(f"{name['partitions']} {partitions!r}: key {sample!r} is not a date, so the keys do not "
                           f"say which dates to look in; give {name['from_']} (and {name['to']}) as well")
        raise BadInput(f"no range: give {name['from_']} (and {name['to']}), or {name['partitions']} with dates")
    else:
        start = parse_instant(from_, now, option=name["from_"])
        end = parse_instant(to, now, option=name["to"]) if to is not None else now
        if start > end:  # said here, where the inputs' own names are known
            raise BadInput(f"{name['from_']} {start.isoformat()} is after {name['to']} {end.isoformat()}: swap them")
    later = None
    if start_after is not None:
        later = parse_instant(start_after, now, option=name["start_after"])
        if later < now:
            raise BadInput(f"{name['start_after']} {later.isoformat(timespec='minutes')} is in the past (now is "
                           f"{now.isoformat(timespec='minutes')}): give a later time, or leave it out to start now")
    options = PlanOptions(start, end, reprocess, order, max_active_runs, downstream, selection, policy, later)
    options.validate(now)
    return options
