"""Backfill plan options from what a person typed: the CLI's flags and the terminal app's inputs share this."""

from __future__ import annotations

from datetime import datetime

from toolkit.errors import BadInput
from toolkit.planning import PlanOptions
from toolkit.service_config import load_service_config
from toolkit.throttle import ThrottlePolicy, parse_amount, parse_assignments
from toolkit.timeparse import parse_instant, parse_partitions, selection_bounds


def throttle_policy(reserve: tuple[str, ...], backfill_cap: tuple[str, ...]) -> ThrottlePolicy:
    """afkit.toml's [pools] policy with this command's --reserve/--backfill-cap on top."""
    configured = load_service_config().require_valid().throttle
    reserves = {pool: parse_amount(value, f"--reserve {pool}")
                for pool, value in parse_assignments(reserve, "--reserve").items()}
    caps = {}
    for pool, value in parse_assignments(backfill_cap, "--backfill-cap").items():
        amount = parse_amount(value, f"--backfill-cap {pool}")
        if amount.percent:
            raise BadInput(f"--backfill-cap {pool}={value}: give a number of slots")
        caps[pool] = int(amount.value)
    return configured.overridden(reserves, caps)


def build_options(from_: str | None, to: str | None, partitions: str | None, downstream: bool, reprocess: str,
                  order: str, max_active_runs: int, now: datetime, reserve: tuple[str, ...] = (),
                  backfill_cap: tuple[str, ...] = ()) -> PlanOptions:
    policy = throttle_policy(reserve, backfill_cap)
    selection = parse_partitions(partitions) if partitions else None
    if from_ is None:
        bounds = selection_bounds(selection) if selection else None
        if bounds is None:
            raise BadInput("--from is required (or --partitions with date-like keys)")
        start, end = bounds
        return PlanOptions(start, parse_instant(to, now, option="--to") if to else end, reprocess, order,
                           max_active_runs, downstream, selection, policy)
    start = parse_instant(from_, now, option="--from")
    end = parse_instant(to, now, option="--to") if to else now
    return PlanOptions(start, end, reprocess, order, max_active_runs, downstream, selection, policy)
