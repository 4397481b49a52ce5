"""How the CLI says what to do about an error: the core names the remedy, the CLI names its flag."""

from __future__ import annotations

from toolkit.errors import Remedy

HINTS = {
    Remedy.DOWNSTREAM: "plan them with --downstream",
    Remedy.OLDEST_FIRST: "drop --order newest",
    Remedy.REPROCESS: "pass --reprocess failed or --reprocess completed",
    Remedy.NO_BUDGET: "lower the reserve (--reserve POOL=N), or pass --force to run one backfill run at a time",
    Remedy.CANCEL_ACTIVE: "afkit backfill cancel {backfill_id}",
    Remedy.UNPAUSE: "use --unpause",
    Remedy.SMALLER_BUDGET: "--backfill-cap {pool}={slots}, or --reserve {pool}={reserve}",
    Remedy.START_LATER: "--start-after {at}",
}

